package cli

import (
	"strings"
	"testing"

	"github.com/datahub-oss/datahub/internal/runstatus"
)

// TestRunsListStatus: 'runs list --status' takes the statuses a run can have, and names them
// when given another.
func TestRunsListStatus(t *testing.T) {
	data := t.TempDir()
	for _, s := range runstatus.All() {
		if code, _, errOut := run(t, "runs", "list", "--data", data, "--status", string(s)); code != 0 {
			t.Errorf("--status %s: exit %d: %s", s, code, errOut)
		}
	}
	code, _, errOut := run(t, "runs", "list", "--data", data, "--status", "done")
	if code != ExitUsage || !strings.Contains(errOut, "cancel_requested") {
		t.Errorf("--status done: exit %d: %s", code, errOut)
	}
}
