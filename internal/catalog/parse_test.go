package catalog_test

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/datahub-oss/datahub/internal/catalog"
	"github.com/datahub-oss/datahub/internal/store"
	"github.com/datahub-oss/datahub/internal/store/storetest"
	"github.com/datahub-oss/datahub/internal/transform"
)

var update = flag.Bool("update", false, "rewrite golden files")

// TestParseErrorsGolden parses every file under testdata/bad and compares the messages with
// testdata/bad.golden: the exact text people see is the interface here.
func TestParseErrorsGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/bad/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no test files: %v", err)
	}
	var got strings.Builder
	for _, f := range files {
		got.WriteString("== " + f + "\n")
		_, err := catalog.ParseFile(f)
		var es catalog.Errors
		if !errors.As(err, &es) {
			t.Errorf("%s: want catalog.Errors, got %v", f, err)
			continue
		}
		got.WriteString(err.Error() + "\n\n")
	}
	if strings.Contains(got.String(), "hunter2") {
		t.Errorf("a message repeats a secret:\n%s", got.String())
	}
	const golden = "testdata/bad.golden"
	if *update {
		if err := os.WriteFile(golden, []byte(got.String()), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got.String() != string(want) {
		t.Errorf("messages differ from %s (go test -update rewrites it):\n%s", golden, diffText(string(want), got.String()))
	}
}

// diffText shows two texts line by line where they differ.
func diffText(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	for i := 0; i < len(w) || i < len(g); i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			b.WriteString("- " + wl + "\n+ " + gl + "\n")
		}
	}
	return b.String()
}

func TestParseQuickstart(t *testing.T) {
	rs := parseFile(t, quickstart)
	var keys []string
	for _, r := range rs {
		keys = append(keys, r.Key().String())
	}
	want := `System "people-directory", Endpoint "people-csv", Endpoint "people-db", Integration "quickstart"`
	if got := strings.Join(keys, ", "); got != want {
		t.Fatalf("resources: %s, want %s", got, want)
	}
	in := rs[3].Integration()
	if in.Destination.Table != "people" || in.Destination.Mode != "replace" || !reflect.DeepEqual(in.Destination.Keys, []string{"id"}) {
		t.Errorf("destination: %+v", in.Destination)
	}
	// The mapping is people.map, column for column.
	m, err := transform.Load("../../examples/quickstart/people.map")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(in.Mapping, m) {
		t.Errorf("mapping %+v, want people.map's %+v", in.Mapping, m)
	}
	if got := rs[1].Endpoint().Environments["DEV"].URL; got != "examples/quickstart/people.csv" {
		t.Errorf("people-csv DEV url %q", got)
	}
	if got := rs[2].Endpoint().Environments["DEV"].URL; got != "sqlite:datahub-data/files/quickstart.db" {
		t.Errorf("people-db DEV url %q", got)
	}
}

func TestParseNormalizes(t *testing.T) {
	rs := parse(t, `
apiVersion: datahub/v1
kind: Endpoint
metadata: {name: shop-db}
spec:
  system: shop
  type: postgres
  environments:
    dev: {url: "postgres://shop@localhost/shop"}
    Prod: {url: "postgres://shop@prod/shop", options: {sslmode: require}}
  secrets: {password: "secret:shop-db"}
---
apiVersion: datahub/v1
kind: Integration
metadata: {name: orders}
spec:
  source: {endpoint: shop-db, table: orders}
  destination: {endpoint: shop-db, table: orders_copy}
  environments: [dev, prod]
`)
	ep := rs[0].Endpoint()
	if got := strings.Join(keysOf(ep.Environments), ","); got != "DEV,PROD" {
		t.Errorf("environments %s, want DEV,PROD", got)
	}
	if ep.ClassificationClearance != "internal" {
		t.Errorf("clearance %q, want the default internal", ep.ClassificationClearance)
	}
	in := rs[1].Integration()
	if in.Destination.Mode != "append" || in.Trigger.Type != "manual" || in.Concurrency != 1 || in.Classification != "internal" {
		t.Errorf("defaults not filled in: %+v", in)
	}
	if got := strings.Join(in.Environments, ","); got != "DEV,PROD" {
		t.Errorf("environments %s", got)
	}
}

func keysOf[V any](m map[string]V) []string {
	var out []string
	for _, e := range []string{"DEV", "SIT", "UAT", "MPE", "PROD"} {
		if _, ok := m[e]; ok {
			out = append(out, e)
		}
	}
	return out
}

func TestParseAnchorsAndMerge(t *testing.T) {
	rs := parse(t, `
apiVersion: datahub/v1
kind: Endpoint
metadata: {name: shop-db}
spec:
  system: shop
  type: postgres
  environments:
    DEV: &dev
      url: postgres://shop@localhost/shop
      options: {sslmode: disable}
    UAT:
      <<: *dev
      url: postgres://shop@uat/shop
`)
	uat := rs[0].Endpoint().Environments["UAT"]
	if uat.URL != "postgres://shop@uat/shop" || uat.Options["sslmode"] != "disable" {
		t.Errorf("UAT %+v", uat)
	}
}

func TestParseAliasBomb(t *testing.T) {
	text := "apiVersion: datahub/v1\nkind: Integration\nmetadata: {name: x}\nspec:\n  trigger:\n    type: manual\n    a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n"
	for i := 1; i < 9; i++ {
		text += "    a" + string(rune('0'+i)) + ": &a" + string(rune('0'+i)) + " [" + strings.Repeat("*a"+string(rune('0'+i-1))+", ", 9) + "*a" + string(rune('0'+i-1)) + "]\n"
	}
	_, err := catalog.Parse([]byte(text), "bomb.yaml")
	wantErrors(t, err, "expands to more than")
}

func TestParseDir(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o750); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("b/systems.yml", "apiVersion: datahub/v1\nkind: System\nmetadata: {name: b}\nspec: {owner: team-b}\n")
	write("a.yaml", "apiVersion: datahub/v1\nkind: System\nmetadata: {name: a}\nspec: {owner: team-a}\n")
	write("notes.txt", "not yaml: [")
	write(".hidden/x.yaml", "not yaml: [")
	write("c.yaml", "# nothing yet\n")
	rs, err := catalog.ParseDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 2 || rs[0].Metadata.Name != "a" || rs[1].Metadata.Name != "b" {
		t.Fatalf("got %d resources: %+v", len(rs), rs)
	}
	if !strings.HasSuffix(rs[1].Origin.File, filepath.Join("b", "systems.yml")) || rs[1].Origin.Doc != 1 {
		t.Errorf("origin %+v", rs[1].Origin)
	}
	write("d.yaml", "apiVersion: datahub/v1\nkind: System\nmetadata: {name: a}\nspec: {owner: team-a}\n")
	write("e.yaml", "apiVersion: datahub/v1\nkind: System\nmetadata: {name: e}\nspec: {owner: [x]}\n")
	_, err = catalog.ParseDir(dir)
	wantErrors(t, err, "d.yaml: document 1 (System \"a\") line 3: metadata.name: System \"a\" is also defined in "+filepath.Join(dir, "a.yaml")+" document 1",
		"e.yaml: document 1 (System \"e\") line 4: spec.owner: want a string, got a list")
}

func TestParseJSON(t *testing.T) {
	rs := parse(t, `{"apiVersion": "datahub/v1", "kind": "System", "metadata": {"name": "crm"}, "spec": {"owner": "crm@example.org"}}`)
	if rs[0].System().Owner != "crm@example.org" {
		t.Fatalf("%+v", rs[0])
	}
}

func TestParseKind(t *testing.T) {
	for in, want := range map[string]catalog.Kind{"endpoints": catalog.KindEndpoint, "System": catalog.KindSystem, "INTEGRATION": catalog.KindIntegration} {
		if got, err := catalog.ParseKind(in); err != nil || got != want {
			t.Errorf("ParseKind(%q) = %q, %v", in, got, err)
		}
	}
	if _, err := catalog.ParseKind("queue"); err == nil {
		t.Error("ParseKind(queue): no error")
	}
}

// The examples apply, together, on an empty catalog.
func TestExamplesApply(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		var all []catalog.Resource
		for _, f := range []string{quickstart, "../../examples/bus/resources.yaml"} {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			rs, err := catalog.Parse(b, f)
			if err != nil {
				t.Fatal(err)
			}
			all = append(all, rs...)
		}
		svc := catalog.New(db, catalog.Options{})
		changes, err := svc.Apply(t.Context(), all, catalog.ApplyOptions{Actor: "tester"})
		if err != nil {
			t.Fatal(err)
		}
		if len(changes) != len(all) {
			t.Errorf("%d changes for %d documents", len(changes), len(all))
		}
	})
}
