package worker_test

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/datahub-oss/datahub/internal/runs"
	"github.com/datahub-oss/datahub/internal/runstatus"
)

// TestServerReplaceKeepsOldData is finding 12 on the server: an integration's replace whose
// every row is rejected fails and keeps the table; spec.maxRejects allowing the rejects swaps
// in what survived. Counts are what the destination committed.
func TestServerReplaceKeepsOldData(t *testing.T) {
	root, _ := filepath.Abs("../..")
	y, err := os.ReadFile(filepath.Join(root, "examples/quickstart/resources.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(t.TempDir(), "q.db")
	base := strings.ReplaceAll(string(y), "url: examples/quickstart/people.csv", "url: "+filepath.Join(root, "examples/quickstart/people.csv"))
	base = strings.ReplaceAll(base, "url: sqlite:datahub-data/files/quickstart.db", "url: sqlite:"+db)
	badCast := strings.Replace(base, "- {from: city}", "- {from: city, type: int64}", 1)
	tests := []struct {
		name      string
		resources string
		status    runstatus.Status
		written   int64
		rejected  int64
		left      int
	}{
		{"load", base, "succeeded", 300, 0, 300},
		{"every row rejected", badCast, "failed", 0, 1, 300},
		{"rejects allowed", strings.Replace(badCast, "  trigger:\n", "  maxRejects: 300\n  trigger:\n", 1), "partial", 0, 300, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, tc.resources)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			run, err := e.runs.Request(ctx, runs.Request{Integration: "quickstart", Env: "dev", Actor: "tester"})
			if err != nil {
				t.Fatal(err)
			}
			final, err := e.runs.Wait(ctx, run.ID)
			if err != nil {
				t.Fatal(err)
			}
			if final.Status != tc.status || final.RowsWritten != tc.written || final.RowsRejected != tc.rejected {
				t.Fatalf("run %s, written %d, rejected %d: %s", final.Status, final.RowsWritten, final.RowsRejected, final.Error)
			}
			if tc.status == "failed" && (final.ErrorCode != "data" || !strings.Contains(final.Error, "replace kept the old content")) {
				t.Fatalf("error [%s] %s", final.ErrorCode, final.Error)
			}
			conn, err := sql.Open("sqlite", db)
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = conn.Close() }()
			var n int
			if err := conn.QueryRow("SELECT count(*) FROM people").Scan(&n); err != nil || n != tc.left {
				t.Fatalf("the table holds %d rows, want %d (%v)", n, tc.left, err)
			}
		})
	}
}
