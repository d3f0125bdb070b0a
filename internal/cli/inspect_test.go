package cli

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/datahub-oss/datahub/internal/engine"
	"github.com/datahub-oss/datahub/internal/txlog"
)

const inspectCSV = "id,code,amount,joined,active\n1,007,6.31,2016-09-04T11:37:00Z,true\n2,010,401.2,2021-07-03T07:05:00Z,false\n3,011,-8,2025-11-19T01:36:00Z,true\n"

// TestCopyShowsInferredSchema: a copy that creates a table from a CSV says which types it
// inferred, in text and JSON; --infer=false keeps text and shows none; a copy to a file keeps
// the values as they are.
func TestCopyShowsInferredSchema(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in.csv")
	if err := os.WriteFile(in, []byte(inspectCSV), 0o600); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "data")
	code, out, stderr := run(t, "copy", "--data", data, in, "sqlite:"+filepath.Join(dir, "a.db")+"?table=t")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	want := "columns      id int64, code string, amount decimal(5,2), joined timestamptz, active bool"
	if !strings.Contains(out, want) {
		t.Fatalf("summary lacks %q:\n%s", want, out)
	}
	code, out, stderr = run(t, "copy", "--json", "--data", data, "--infer=false", in, "sqlite:"+filepath.Join(dir, "b.db")+"?table=t")
	if code != 0 || strings.Contains(out, `"schema"`) {
		t.Fatalf("--infer=false: exit %d, %s %s", code, out, stderr)
	}
	code, out, stderr = run(t, "copy", "--json", "--data", data, in, filepath.Join(dir, "out.csv"))
	if code != 0 || strings.Contains(out, `"schema"`) {
		t.Fatalf("to a file: exit %d, %s %s", code, out, stderr)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "out.csv")); !strings.Contains(string(b), "1,007,6.31,") {
		t.Fatalf("the file copy changed the values:\n%s", b)
	}
}

func TestSummarySchemaGolden(t *testing.T) {
	s := summary{
		RunID: "0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b", Status: "succeeded", Source: "people.csv",
		Destination: "sqlite:people.db?table=people", Mode: "append", RowsRead: 300, RowsWritten: 300,
		Part: txlog.Stats{RowsRead: 300, RowsWritten: 300}, DurationMS: 20, Attempts: 1,
		StartedAt: "2026-11-26T10:00:00Z", FinishedAt: "2026-11-26T10:00:00.02Z",
		Schema: []engine.SchemaColumn{{Name: "id", Type: "int64"}, {Name: "name", Type: "string"}, {Name: "balance", Type: "decimal(6,2)"}},
	}
	var human bytes.Buffer
	printSummary(&human, s)
	golden(t, "summary-schema.golden", human.String())
	js, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "summary-schema.json.golden", string(js)+"\n")
}

// TestLsHeadSchema: ls lists a folder's files and a database's tables, head shows the first
// records under their inferred types (as JSON lines with -o json), schema the columns; none
// of them creates a data folder.
func TestLsHeadSchema(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in.csv")
	if err := os.WriteFile(in, []byte(inspectCSV), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, stderr := run(t, "ls", dir)
	if code != 0 || !strings.Contains(out, "in.csv") || !strings.Contains(out, "NAME") {
		t.Fatalf("ls folder: exit %d: %s %s", code, out, stderr)
	}
	code, out, _ = run(t, "ls", dir, "-o", "json")
	var listed struct{ Items []map[string]any }
	if err := json.Unmarshal([]byte(out), &listed); code != 0 || err != nil || len(listed.Items) != 1 || listed.Items[0]["size"] != float64(len(inspectCSV)) {
		t.Fatalf("ls -o json: exit %d, %v: %s", code, err, out)
	}

	code, out, stderr = run(t, "head", "-n", "2", in)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || len(lines) != 4 || strings.Join(strings.Fields(lines[1]), " ") != "int64 string decimal(5,2) timestamptz bool" ||
		!strings.HasPrefix(lines[2], "1 ") || !strings.Contains(lines[2], "007") {
		t.Fatalf("head: exit %d:\n%s%s", code, out, stderr)
	}
	code, out, _ = run(t, "head", "-o", "json", in)
	lines = strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || len(lines) != 3 || lines[0] != `{"id":1,"code":"007","amount":6.31,"joined":"2016-09-04T11:37:00Z","active":true}` {
		t.Fatalf("head -o json: exit %d:\n%s", code, out)
	}

	code, out, stderr = run(t, "schema", "-o", "json", in)
	var schema struct{ Items []schemaColumn }
	err := json.Unmarshal([]byte(out), &schema)
	cols := schema.Items
	if err != nil || code != 0 || len(cols) != 5 || cols[0].Type != "int64" || !cols[0].Inferred || cols[1].Type != "string" {
		t.Fatalf("schema: exit %d, %v: %s %s", code, err, out, stderr)
	}

	db := filepath.Join(dir, "a.db")
	if code, _, stderr := run(t, "copy", "--data", filepath.Join(dir, "data"), "--key", "id", in, "sqlite:"+db+"?table=people"); code != 0 {
		t.Fatal(stderr)
	}
	code, out, stderr = run(t, "ls", "sqlite:"+db)
	if code != 0 || !strings.Contains(out, "people") {
		t.Fatalf("ls sqlite: exit %d: %s %s", code, out, stderr)
	}
	code, out, stderr = run(t, "schema", "sqlite:"+db+"?table=people")
	if code != 0 || !regexpLine(out, `^id\s+int64\s+no\s+yes\s+INTEGER`) || !regexpLine(out, `^amount\s+decimal\(5,2\)\s+yes\s+no`) {
		t.Fatalf("schema sqlite: exit %d:\n%s%s", code, out, stderr)
	}
	if _, err := os.Stat("datahub-data"); err == nil {
		t.Fatal("a read-only command created datahub-data")
	}
}

// TestLsSchemaPostgres: ls lists schema.table with the planner's estimate; schema shows the
// key and the native types.
func TestLsSchemaPostgres(t *testing.T) {
	db := pgURL(t, "dh_test_cli_ls")
	pgExec(t, db, "CREATE TABLE public.people (id bigint PRIMARY KEY, name text NOT NULL, balance numeric(12,2))",
		"INSERT INTO public.people SELECT g, 'n'||g, g FROM generate_series(1, 500) g", "ANALYZE public.people",
		"CREATE VIEW public.rich AS SELECT * FROM public.people WHERE balance > 100")
	code, out, stderr := run(t, "ls", db)
	if code != 0 || !regexpLine(out, `^public\.people\s+table\s+500$`) || !regexpLine(out, `^public\.rich\s+view\s+-$`) {
		t.Fatalf("ls: exit %d:\n%s%s", code, out, stderr)
	}
	code, out, stderr = run(t, "schema", db+"?table=public.people")
	if code != 0 || !regexpLine(out, `^id\s+int64\s+no\s+yes\s+bigint`) || !regexpLine(out, `^balance\s+decimal\(12,2\)\s+yes\s+no\s+numeric\(12,2\)`) {
		t.Fatalf("schema: exit %d:\n%s%s", code, out, stderr)
	}
	code, out, stderr = run(t, "head", "-n", "2", db+"?table=public.people")
	if code != 0 || len(strings.Split(strings.TrimSpace(out), "\n")) != 4 {
		t.Fatalf("head: exit %d:\n%s%s", code, out, stderr)
	}
}

// regexpLine reports whether a line of out matches the pattern.
func regexpLine(out, pattern string) bool {
	return regexp.MustCompile(`(?m)` + pattern).MatchString(out)
}
