package sqlite

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/datahub-oss/datahub/connector"
)

// readFrom reads from pos in batches of size and returns the first column of each row as text
// and the position after the first batch.
func readFrom(t *testing.T, url string, pos connector.Position, size int) (firstCol []string, after connector.Position, key []string) {
	t.Helper()
	ctx := context.Background()
	src := &Source{ep: connector.Endpoint{URL: url, BatchSize: size}}
	defer func() { _ = src.Close(ctx) }()
	if err := src.Open(ctx, pos); err != nil {
		t.Fatalf("open at %s: %v", pos, err)
	}
	s, _ := src.Schema(ctx)
	key = s.Key
	for {
		b, _, err := src.Read(ctx)
		if errors.Is(err, connector.ErrEndOfInput) {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		if len(b.Rows) > size {
			t.Errorf("batch of %d rows with BatchSize %d", len(b.Rows), size)
		}
		if after == nil {
			after = b.Pos
		}
		for _, r := range b.Rows {
			firstCol = append(firstCol, fmt.Sprint(r[0]))
		}
	}
}

func TestResumeKeysets(t *testing.T) {
	path := dbPath(t)
	db := rawDB(t, path)
	mustExec(t, db, `CREATE TABLE composite (a TEXT NOT NULL COLLATE NOCASE, b INTEGER NOT NULL, v TEXT, PRIMARY KEY (a, b))`)
	mustExec(t, db, `INSERT INTO composite VALUES ('b', 2, 'b2'), ('A', 2, 'a2'), ('a', 1, 'a1'), ('c', 1, 'c1'), ('B', 1, 'b1')`)
	mustExec(t, db, `CREATE TABLE norowidkey (v TEXT)`)
	mustExec(t, db, `INSERT INTO norowidkey VALUES ('x'), ('y'), ('z'), ('w')`)
	mustExec(t, db, `CREATE TABLE nullablepk (k TEXT PRIMARY KEY, v TEXT)`) // a rowid table may hold NULL keys
	mustExec(t, db, `INSERT INTO nullablepk VALUES (NULL, 'n'), ('b', 'b'), ('a', 'a')`)
	mustExec(t, db, `CREATE TABLE wr (k BLOB PRIMARY KEY, v TEXT) WITHOUT ROWID`)
	mustExec(t, db, `INSERT INTO wr VALUES (x'02', 'two'), (x'01', 'one'), (x'0201', 'three')`)
	mustExec(t, db, `CREATE TABLE shadow (rowid TEXT, oid TEXT)`)
	mustExec(t, db, `INSERT INTO shadow VALUES ('r1', 'o1'), ('r2', 'o2')`)
	mustExec(t, db, `CREATE VIEW v AS SELECT v FROM norowidkey`)

	tests := []struct {
		table string
		all   []string
		key   []string
		pos   string // the position after the first batch of 2
	}{
		{"composite", []string{"a", "A", "B", "b", "c"}, []string{"a", "b"}, `{"key":["a","b"],"after":["t:A","i:2"]}`},
		{"norowidkey", []string{"x", "y", "z", "w"}, nil, `{"key":["rowid"],"after":["i:2"]}`},
		{"nullablepk", []string{"<nil>", "b", "a"}, []string{"k"}, `{"key":["rowid"],"after":["i:2"]}`},
		{"wr", []string{"[1]", "[2]", "[2 1]"}, []string{"k"}, `{"key":["k"],"after":["b:Ag=="]}`},
		{"shadow", []string{"r1", "r2"}, nil, `{"key":["_rowid_"],"after":["i:2"]}`},
	}
	for _, tt := range tests {
		t.Run(tt.table, func(t *testing.T) {
			url := "sqlite:" + path + "?table=" + tt.table
			all, pos, key := readFrom(t, url, nil, 2)
			if !slices.Equal(all, tt.all) || !slices.Equal(key, tt.key) {
				t.Errorf("read %q key %v, want %q key %v", all, key, tt.all, tt.key)
			}
			if string(pos) != tt.pos {
				t.Errorf("position %s, want %s", pos, tt.pos)
			}
			rest, _, _ := readFrom(t, url, pos, 1)
			if !slices.Equal(rest, tt.all[2:]) {
				t.Errorf("resumed: %q, want %q", rest, tt.all[2:])
			}
		})
	}

	ctx := context.Background()
	// A view reads but has no positions.
	src := &Source{ep: connector.Endpoint{URL: "sqlite:" + path + "?table=v"}}
	if err := src.Open(ctx, nil); err != nil {
		t.Fatal(err)
	}
	b, _, err := src.Read(ctx)
	if err != nil || len(b.Rows) != 4 || b.Pos != nil {
		t.Errorf("view: %v rows, pos %s, %v", len(b.Rows), b.Pos, err)
	}
	_ = src.Close(ctx)

	// A position of another table is refused.
	src = &Source{ep: connector.Endpoint{URL: "sqlite:" + path + "?table=composite"}}
	pos, _ := json.Marshal(position{Key: []string{"rowid"}, After: []string{"i:3"}})
	codeOf(t, src.Open(ctx, pos), connector.CodeUsage)
	_ = src.Close(ctx)
	src = &Source{ep: connector.Endpoint{URL: "sqlite:" + path + "?table=composite"}}
	codeOf(t, src.Open(ctx, connector.Position("garbage")), connector.CodeUsage)
	_ = src.Close(ctx)
}

// TestReadStreams reads a table much larger than a batch and checks batches stay bounded and
// the source can be cancelled mid-table.
func TestReadStreams(t *testing.T) {
	path := dbPath(t)
	db := rawDB(t, path)
	mustExec(t, db, `CREATE TABLE big (id INTEGER PRIMARY KEY, v TEXT)`)
	mustExec(t, db, `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 50000)
		INSERT INTO big SELECT i, printf('row %d', i) FROM n`)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	src := &Source{ep: connector.Endpoint{URL: "sqlite:" + path + "?table=big", BatchSize: 1000}}
	defer func() { _ = src.Close(ctx) }()
	if err := src.Open(ctx, nil); err != nil {
		t.Fatal(err)
	}
	var n int
	for i := 0; ; i++ {
		b, _, err := src.Read(ctx)
		if i == 10 {
			cancel()
			_, _, err = src.Read(ctx)
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("read after cancel: %v", err)
			}
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if len(b.Rows) != 1000 || b.Bytes == 0 {
			t.Fatalf("batch of %d rows, %d bytes", len(b.Rows), b.Bytes)
		}
		n += len(b.Rows)
	}
	if n != 10000 {
		t.Errorf("read %d rows before cancelling", n)
	}
}
