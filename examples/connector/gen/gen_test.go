package gen

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/datahub-oss/datahub/connector"
	"github.com/datahub-oss/datahub/connector/conntest"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// TestConformance runs every case of the SDK's suite that applies to a source.
func TestConformance(t *testing.T) {
	for _, url := range []string{"gen:?rows=500&seed=7", "gen:?rows=300&seed=-3&nulls=20"} {
		t.Run(url, func(t *testing.T) {
			conntest.Run(t, conntest.Harness{
				NoSink:      true,
				NewEndpoint: func(*testing.T, string) connector.Endpoint { return connector.Endpoint{URL: url} },
			})
		})
	}
}

// TestEveryLogicalType: the schema has a column of every type the SDK has, so a type added to
// the SDK fails here until gen generates it.
func TestEveryLogicalType(t *testing.T) {
	for _, ty := range connector.AllTypes {
		if !slices.ContainsFunc(columns, func(c connector.Column) bool { return c.Type == ty }) {
			t.Errorf("no column of type %s", ty)
		}
	}
}

// TestGolden: the same seed gives the same records on every run, machine and Go release.
func TestGolden(t *testing.T) {
	s, rows, _ := conntest.Read(t, connector.Endpoint{URL: "gen:?rows=5&seed=42&nulls=25"}, nil)
	var b strings.Builder
	b.WriteString(strings.Join(s.Names(), "\t") + "\n")
	for _, r := range rows {
		for i, v := range r {
			if i > 0 {
				b.WriteString("\t")
			}
			if v == nil {
				b.WriteString("NULL")
				continue
			}
			b.WriteString(connector.FormatTyped(v, s.Columns[i].Type))
		}
		b.WriteString("\n")
	}
	golden := filepath.Join("testdata", "seed42.golden")
	if *update {
		if err := os.WriteFile(golden, []byte(b.String()), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if b.String() != string(want) {
		t.Fatalf("seed 42 generated\n%s\nwant (testdata/seed42.golden; -update rewrites it)\n%s", b.String(), want)
	}
}

func TestSeedAndNulls(t *testing.T) {
	read := func(url string) (connector.Schema, [][]any) {
		s, rows, _ := conntest.Read(t, connector.Endpoint{URL: url}, nil)
		return s, rows
	}
	_, a := read("gen:?rows=50&seed=1")
	_, b := read("gen:?rows=50&seed=2")
	differ := 0
	for i := range a {
		if a[i][0] != b[i][0] {
			t.Fatalf("ids differ between seeds: %v, %v", a[i][0], b[i][0])
		}
		if a[i][1] != b[i][1] {
			differ++
		}
	}
	if differ < 45 {
		t.Errorf("seeds 1 and 2 gave the same quantity in %d of 50 records", 50-differ)
	}
	s, rows := read("gen:?rows=2000&nulls=30")
	nulls := 0
	for _, r := range rows {
		for _, v := range r[1:] {
			if v == nil {
				nulls++
			}
		}
	}
	if share := float64(nulls) / float64(len(rows)*(len(s.Columns)-1)); share < 0.27 || share > 0.33 {
		t.Errorf("nulls=30 gave %.1f %% NULLs", 100*share)
	}
	if !s.Columns[1].Nullable || s.Columns[0].Nullable {
		t.Errorf("with nulls, every column but id is nullable: %+v", s.Columns[:2])
	}
	if s, _ := read("gen:?rows=1"); s.Columns[1].Nullable {
		t.Error("without nulls, the columns are NOT NULL")
	}
	if _, rows := read("gen:?rows=0"); len(rows) != 0 {
		t.Errorf("rows=0 gave %d records", len(rows))
	}
}

// TestRefused: a bad URL, option or position is a usage error that names it.
func TestRefused(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct{ url, pos, want string }{
		{"gen:?rows=-1", "", `option rows: "-1" is not a whole number, 0 or more`},
		{"gen:?rows=many", "", `option rows: "many" is not a whole number, 0 or more`},
		{"gen:?seed=1.5", "", `option seed: "1.5" is not a whole number`},
		{"gen:?nulls=101", "", `option nulls: "101" is not a whole number from 0 to 100`},
		{"gen:?rows=10&colour=red", "", `connector gen has no option "colour" (options: rows, seed, nulls)`},
		{"gen:people?rows=10", "", `nothing between gen: and its options, got "gen:people"`},
		{"gen:?rows=10", "11", `position "11" is not a record count from 0 to 10`},
		{"gen:?rows=10", "x", `position "x"`},
	} {
		t.Run(c.url+"@"+c.pos, func(t *testing.T) {
			src, err := connector.NewSource(ctx, connector.Endpoint{URL: c.url})
			if err == nil {
				err = src.Open(ctx, connector.Position(c.pos))
				_ = src.Close(ctx)
			}
			if err == nil || connector.CodeOf(err) != connector.CodeUsage || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v (code %q), want a usage error containing %q", err, connector.CodeOf(err), c.want)
			}
		})
	}
}
