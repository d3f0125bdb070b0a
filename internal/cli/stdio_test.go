package cli

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// lastJSON decodes the last line of s as a copy summary.
func lastJSON(t *testing.T, s string) summary {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(s), "\n")
	var sum summary
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &sum); err != nil {
		t.Fatalf("no JSON summary in %q: %v", s, err)
	}
	return sum
}

// TestCopyStdio: CSV from standard input into SQLite and back out of standard output as
// NDJSON; standard output holds the records only, the summary (--json too) is on standard
// error.
func TestCopyStdio(t *testing.T) {
	dir := t.TempDir()
	data, db := filepath.Join(dir, "data"), "sqlite:"+filepath.Join(dir, "p.db")+"?table=people"
	csv := "id,name\n1,Ada\n2,\"Grace, H.\"\n3,Édith\n"
	code, out, errb := runIn(context.Background(), t, csv, "copy", "--json", "--data", data, "--from-format", "csv", "-", db)
	if code != ExitOK {
		t.Fatalf("stdin copy: exit %d: %s", code, errb)
	}
	if out != "" {
		t.Errorf("stdin copy printed %q on stdout; the summary belongs on stderr with -", out)
	}
	if s := lastJSON(t, errb); s.RowsWritten != 3 || s.Source != "-" {
		t.Errorf("summary %+v, want 3 rows from -", s)
	}
	code, out, errb = runIn(context.Background(), t, "", "copy", "--json", "--data", data, "--to-format", "ndjson", db, "-")
	if code != ExitOK {
		t.Fatalf("stdout copy: exit %d: %s", code, errb)
	}
	// The table was created from the CSV with its id typed (inferred): it comes out a number.
	want := `{"id":1,"name":"Ada"}` + "\n" + `{"id":2,"name":"Grace, H."}` + "\n" + `{"id":3,"name":"Édith"}` + "\n"
	if out != want {
		t.Errorf("stdout holds %q, want only the records %q", out, want)
	}
	if s := lastJSON(t, errb); s.RowsWritten != 3 || s.Destination != "-" {
		t.Errorf("summary %+v, want 3 rows to -", s)
	}
	// Without --json the human summary goes to stderr as well.
	code, out, errb = runIn(context.Background(), t, csv, "copy", "--data", data, "--from-format", "csv", "--to-format", "csv", "-", "-")
	if code != ExitOK || out != csv || !strings.Contains(errb, "SUCCEEDED") {
		t.Errorf("stdin to stdout: exit %d, stdout %q, stderr %q", code, out, errb)
	}
}

// TestCopyStdioRejects: a bad record read from standard input goes to the rejects file, the
// good ones through, exit 3, and standard output still holds only records.
func TestCopyStdioRejects(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	code, out, errb := runIn(context.Background(), t, "id,name\n1,Ada\n2,too,many\n3,Linus\n",
		"copy", "--json", "--data", data, "--from-format", "csv", "--to-format", "ndjson", "-", "-")
	if code != ExitRejected {
		t.Fatalf("exit %d, want %d: %s", code, ExitRejected, errb)
	}
	if n := strings.Count(out, "\n"); n != 2 || strings.Contains(out, "run_id") {
		t.Errorf("stdout %q, want the two good records only", out)
	}
	s := lastJSON(t, errb)
	files, _ := filepath.Glob(filepath.Join(s.RejectsPath, "*"))
	var raw []byte
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		raw = append(raw, b...)
	}
	if !strings.Contains(string(raw), `"line":3`) {
		t.Errorf("rejects in %s: %q, want the record of line 3", s.RejectsPath, raw)
	}
}

// TestCopyStdioUsage: "-" without its format, with --resume or as an upsert target is a
// usage error found before anything is created.
func TestCopyStdioUsage(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	dst := filepath.Join(dir, "out.ndjson")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-", dst}, "needs --from-format"},
		{[]string{dst, "-"}, "needs --to-format"},
		{[]string{"--from-format", "csv", "--resume", "0193a1b2", "-", dst}, "--resume cannot be used with -"},
		{[]string{"--to-format", "csv", "--mode", "upsert", "--key", "id", dst, "-"}, "has no keys"},
	} {
		args := append([]string{"copy", "--data", data}, tc.args...)
		code, out, errb := runIn(context.Background(), t, "id\n1\n", args...)
		if code != ExitUsage || !strings.Contains(errb, tc.want) || out != "" {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want usage error %q", tc.args, code, out, errb, tc.want)
		}
	}
	if _, err := os.Stat(data); !os.IsNotExist(err) {
		t.Errorf("a refused copy created %s (%v)", data, err)
	}
}
