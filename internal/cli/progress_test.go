package cli

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/datahub-oss/datahub/connector"
	"github.com/datahub-oss/datahub/internal/engine"
)

func TestProgressDone(t *testing.T) {
	for _, tc := range []struct {
		name      string
		size      connector.Size
		from, now engine.Stats
		el        time.Duration
		final     bool
		want      string
	}{
		{"unknown size", connector.Size{}, engine.Stats{}, engine.Stats{RowsRead: 5}, time.Second, false, ""},
		{"file bytes", connector.Size{Bytes: 1000}, engine.Stats{}, engine.Stats{BytesRead: 250, RowsRead: 9}, 10 * time.Second, false, "25% 30s left  "},
		{"table rows", connector.Size{Rows: 200}, engine.Stats{}, engine.Stats{RowsRead: 100}, 4 * time.Second, false, "50% 4s left  "},
		// A resumed run's rate counts from where this invocation started.
		{"resumed", connector.Size{Rows: 200}, engine.Stats{RowsRead: 100}, engine.Stats{RowsRead: 150}, 5 * time.Second, false, "75% 5s left  "},
		{"nothing read yet", connector.Size{Rows: 200}, engine.Stats{}, engine.Stats{}, time.Second, false, "0%  "},
		// An estimate short of the truth: 99% and no guess until the end, then 100%.
		{"estimate passed", connector.Size{Rows: 100}, engine.Stats{}, engine.Stats{RowsRead: 130}, time.Second, false, "99%  "},
		{"estimate passed, end", connector.Size{Rows: 100}, engine.Stats{}, engine.Stats{RowsRead: 130}, time.Second, true, "100%  "},
		{"estimate above, end", connector.Size{Rows: 100}, engine.Stats{}, engine.Stats{RowsRead: 90}, time.Second, true, "90%  "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := progressDone(tc.size, tc.from, tc.now, tc.el, tc.final); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

// TestCopyProgressOfAFile: a file source tells its size, so the bar ends at 100%.
func TestCopyProgressOfAFile(t *testing.T) {
	dir := t.TempDir()
	code, out, errOut := run(t, "copy", "--progress", "always", "--data", filepath.Join(dir, "data"),
		"../../examples/quickstart/people.csv", "sqlite:"+filepath.Join(dir, "q.db")+"?table=people")
	if code != 0 {
		t.Fatalf("copy: exit %d\n%s%s", code, out, errOut)
	}
	if !strings.Contains(errOut, "100%  rows 300") {
		t.Errorf("no 100%% on the bar's last line:\n%q", errOut)
	}
}
