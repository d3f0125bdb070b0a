package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/datahub-oss/datahub/connector"
	"github.com/datahub-oss/datahub/internal/txlog"
)

var update = flag.Bool("update", false, "rewrite golden files")

// TestMain lets the test binary act as the datahub command when DATAHUB_CLI_MAIN is set, so
// that tests can run it as a separate process (and kill it) without building it first.
func TestMain(m *testing.M) {
	if os.Getenv("DATAHUB_CLI_MAIN") == "1" {
		os.Exit(Execute(context.Background(), os.Args[1:], os.Stdout, os.Stderr, false))
	}
	os.Exit(m.Run())
}

// run executes the command line in-process and returns exit status, stdout and stderr.
func run(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := Execute(context.Background(), args, &out, &errb, false)
	return code, out.String(), errb.String()
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if string(want) != got {
		t.Errorf("%s differs from the golden file (run with -update if intended):\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

func TestSummaryGolden(t *testing.T) {
	s := summary{
		RunID: "0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b", Status: "partial", Source: "/data/in.csv",
		Destination: "postgres://app:xxxxx@db:5432/crm?table=public.people", Mode: "append",
		RowsRead: 1000, RowsWritten: 996, RowsRejected: 4, BytesRead: 45678, BytesWritten: 45000,
		Part:       txlog.Stats{RowsRead: 1000, RowsWritten: 996, RowsRejected: 4, BytesRead: 45678, BytesWritten: 45000},
		DurationMS: 1234, RowsPerSecond: 807.1, RejectsPath: "datahub-data/rejects/0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b",
		Attempts: 1, StartedAt: "2026-11-26T10:00:00Z", FinishedAt: "2026-11-26T10:00:01.234Z",
	}
	var human bytes.Buffer
	printSummary(&human, s)
	golden(t, "summary.golden", human.String())
	js, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "summary.json.golden", string(js)+"\n")
}

// TestSummaryResumedGolden: a resumed copy shows the run's totals and its own part.
func TestSummaryResumedGolden(t *testing.T) {
	s := summary{
		RunID: "0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b", Status: "succeeded", Source: "/data/in.csv",
		Destination: "postgres://app:xxxxx@db:5432/crm?table=public.people", Mode: "append",
		RowsRead: 2000000, RowsWritten: 2000000, BytesRead: 91000000, BytesWritten: 91000000,
		Part:    txlog.Stats{RowsRead: 1200000, RowsWritten: 1200000, BytesRead: 54600000, BytesWritten: 54600000},
		Resumed: true, DurationMS: 4000, RowsPerSecond: 300000, Attempts: 1,
		StartedAt: "2026-11-26T10:00:00Z", FinishedAt: "2026-11-26T10:05:04Z",
	}
	var human bytes.Buffer
	printSummary(&human, s)
	golden(t, "summary-resumed.golden", human.String())
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"copy", "only-one.csv"},
		{"copy", "--mode", "sideways", "a.csv", "b.csv"},
		{"copy", "--map", "a:b:notatype", "a.csv", "b.csv"},
		{"copy", "nosuchscheme://x", "b.csv"},
		{"copy", "--no-such-flag", "a.csv", "b.csv"},
		{"nosuchcommand"},
	} {
		code, _, stderr := run(t, args...)
		if code != ExitUsage {
			t.Errorf("%v: exit %d, want %d (stderr %s)", args, code, ExitUsage, stderr)
		}
		if !strings.Contains(stderr, "Error:") {
			t.Errorf("%v: no error message on stderr", args)
		}
	}
}

func TestCopyCSVToNDJSONWithRejects(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in.csv")
	csv := "id,name,amount\n1,a,1.5\n2,\"b, with comma\",2\n3,c\n4,d,4\n"
	if err := os.WriteFile(in, []byte(csv), 0o600); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out.ndjson")
	data := filepath.Join(dir, "data")
	code, stdout, stderr := run(t, "copy", "--json", "--data", data, "--map", "id::int64,amount::decimal", in, out)
	if code != ExitRejected {
		t.Fatalf("exit %d, want %d; stderr: %s", code, ExitRejected, stderr)
	}
	var s summary
	if err := json.Unmarshal([]byte(stdout), &s); err != nil {
		t.Fatalf("summary is not JSON: %v\n%s", err, stdout)
	}
	if s.Status != "partial" || s.RowsRead != 4 || s.RowsWritten != 3 || s.RowsRejected != 1 || s.RejectsPath == "" {
		t.Fatalf("summary %+v", s)
	}
	rej, err := os.ReadFile(filepath.Join(s.RejectsPath, "rejects.ndjson"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(rej), `"line":4`) {
		t.Errorf("reject does not name line 4: %s", rej)
	}
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"id":1,"name":"a","amount":1.5}` + "\n" + `{"id":2,"name":"b, with comma","amount":2}` + "\n" + `{"id":4,"name":"d","amount":4}` + "\n"
	if string(got) != want {
		t.Errorf("output:\n%s\nwant:\n%s", got, want)
	}

	// The run is in the transaction log.
	code, stdout, _ = run(t, "runs", "show", "--data", data, "--json", s.RunID[:13])
	if code != 0 || !strings.Contains(stdout, `"status": "partial"`) {
		t.Errorf("runs show: exit %d\n%s", code, stdout)
	}
	code, stdout, _ = run(t, "runs", "list", "--data", data)
	if code != 0 || !strings.Contains(stdout, s.RunID) {
		t.Errorf("runs list: exit %d\n%s", code, stdout)
	}
}

func TestConnectorsListsEverySpec(t *testing.T) {
	code, out, _ := run(t, "connectors")
	if code != 0 {
		t.Fatal(code)
	}
	golden(t, "connectors.golden", out)
	code, out, _ = run(t, "connectors", "--json")
	if code != 0 {
		t.Fatal(code)
	}
	var infos list[connector.Info]
	if err := json.Unmarshal([]byte(out), &infos); err != nil || len(infos.Items) == 0 {
		t.Fatalf("connectors --json: %v\n%s", err, out)
	}
	golden(t, "connectors.json.golden", out)
}

func TestQuickstartCopy(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "q.db")
	code, stdout, stderr := run(t, "copy", "--json", "--data", filepath.Join(dir, "data"),
		"--map-file", "../../examples/quickstart/people.map", "../../examples/quickstart/people.csv", "sqlite:"+db+"?table=people")
	if code != 0 {
		t.Fatalf("exit %d: %s %s", code, stdout, stderr)
	}
	var s summary
	if err := json.Unmarshal([]byte(stdout), &s); err != nil {
		t.Fatal(err)
	}
	if s.RowsWritten != 300 || s.RowsRead != 300 {
		t.Fatalf("%+v", s)
	}
	// Copy it back out, to check the types survived.
	out := filepath.Join(dir, "back.ndjson")
	if code, _, stderr := run(t, "copy", "--data", filepath.Join(dir, "data"), "sqlite:"+db+"?table=people", out); code != 0 {
		t.Fatal(stderr)
	}
	b, _ := os.ReadFile(out)
	first := strings.SplitN(string(b), "\n", 2)[0]
	for _, want := range []string{`"id":1,`, `"balance":6.31`, `"joined":"2016-09-04T11:37:00Z"`, `"active":true`} {
		if !strings.Contains(first, want) {
			t.Errorf("first row %s lacks %s", first, want)
		}
	}
}

func mustJSON(t *testing.T, s string) map[string]any {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(s), "\n")
	var m map[string]any
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &m); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, s)
	}
	return m
}
