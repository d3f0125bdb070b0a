package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRejectNumbersAfterAReadReject: a record rejected while reading (a wrong field count)
// does not shift the numbers of later rejects: each names its own record and line.
func TestRejectNumbersAfterAReadReject(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in.csv")
	if err := os.WriteFile(in, []byte("id,name\n1,a\n2,b\n3,c,extra\n4,d\n5,e\nx6,f\n7,g\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := run(t, "copy", "--json", "--data", filepath.Join(dir, "data"), "--map", "id::int64", in, filepath.Join(dir, "out.ndjson"))
	if code != ExitRejected {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var s summary
	if err := json.Unmarshal([]byte(stdout), &s); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(s.RejectsPath, "rejects.ndjson"))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var r struct {
			Stage        string
			Record, Line int64
		}
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatal(err)
		}
		got = append(got, fmt.Sprintf("%s %d %d", r.Stage, r.Record, r.Line))
	}
	if want := []string{"read 3 4", "convert 6 7"}; strings.Join(got, ", ") != strings.Join(want, ", ") {
		t.Fatalf("rejects (stage record line) %v, want %v", got, want)
	}
}
