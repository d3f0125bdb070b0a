package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/datahub-oss/datahub/connector"
	"github.com/datahub-oss/datahub/connector/conntest"
	"github.com/datahub-oss/datahub/service"
)

// datahub runs this binary's command line in-process and returns its exit status and output.
func datahub(t *testing.T, args ...string) (int, string) {
	t.Helper()
	var out bytes.Buffer
	code := service.Execute(context.Background(), args, &out, &out)
	return code, out.String()
}

// TestConnectorsListsGenAndBuiltIns: the binary has the hub's connectors and this module's.
func TestConnectorsListsGenAndBuiltIns(t *testing.T) {
	code, out := datahub(t, "connectors")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, out)
	}
	for _, name := range []string{"gen", "file", "postgres", "sqlite"} {
		if !strings.Contains(out, "\n"+name+"  (") && !strings.HasPrefix(out, name+"  (") {
			t.Errorf("datahub connectors does not list %s:\n%s", name, out)
		}
	}
}

// TestCopyThousandRecords is the README's promise: gen:?rows=1000 copied to NDJSON writes
// 1,000 records.
func TestCopyThousandRecords(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out.ndjson")
	if code, log := datahub(t, "copy", "--data", filepath.Join(dir, "data"), "gen:?rows=1000", out); code != 0 {
		t.Fatalf("exit %d: %s", code, log)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if n := bytes.Count(b, []byte("\n")); n != 1000 {
		t.Fatalf("wrote %d records", n)
	}
}

// TestEveryTypeThroughTheEngine copies gen rows with NULLs into a new SQLite table with the
// engine of `datahub copy` and reads them back: every value of every type arrives.
func TestEveryTypeThroughTheEngine(t *testing.T) {
	dir := t.TempDir()
	src := connector.Endpoint{URL: "gen:?rows=300&seed=9&nulls=10"}
	dst := connector.Endpoint{URL: "sqlite:" + filepath.Join(dir, "t.db") + "?table=gen"}
	if code, log := datahub(t, "copy", "--data", filepath.Join(dir, "data"), "--mode", "replace", src.URL, dst.URL); code != 0 {
		t.Fatalf("exit %d: %s", code, log)
	}
	want, wantRows, _ := conntest.Read(t, src, nil)
	got, gotRows, _ := conntest.Read(t, dst, nil)
	conntest.Check(t, want, wantRows, got, gotRows)
}
