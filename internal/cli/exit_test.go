package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/datahub-oss/datahub/connector"
	"github.com/datahub-oss/datahub/internal/client"
	"github.com/datahub-oss/datahub/internal/errcode"
)

// TestExitStatusFromCatalogue: a failure's exit status is its code's in the catalogue, for
// errors a command returns as they are, for remote failures and for a failed run.
func TestExitStatusFromCatalogue(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want int
	}{
		{"plain", errors.New("boom"), ExitFailed},
		{"usage code", fmt.Errorf("open: %w", connector.Errorf(connector.CodeUsage, "", "", errors.New("bad option"))), ExitUsage},
		{"hub code", errcode.Errorf(errcode.Unavailable, "", "", errors.New("bus down")), ExitFailed},
		{"API invalid", &client.APIError{Status: 422, Code: client.CodeInvalid, Message: "no"}, ExitFailed},
		{"explicit", &exitError{code: ExitRejected}, ExitRejected},
	}
	for _, tc := range tests {
		if got := exitStatus(tc.err, io.Discard); got != tc.want {
			t.Errorf("%s: exit %d, want %d", tc.name, got, tc.want)
		}
		if tc.name != "explicit" {
			var ee *exitError
			if !errors.As(failure(tc.err), &ee) || ee.code != tc.want {
				t.Errorf("%s: failure() exits %v, want %d", tc.name, ee, tc.want)
			}
		}
	}
	if err := runExit(client.Run{ID: "r1", Status: "failed", Error: "bad option", ErrorCode: "usage"}); exitStatus(err, io.Discard) != ExitUsage {
		t.Errorf("a run failed with code usage: %v", err)
	}
	if err := runExit(client.Run{ID: "r1", Status: "cancelled"}); exitStatus(err, io.Discard) != ExitFailed {
		t.Errorf("a cancelled run: %v", err)
	}
}

// TestCopyBadOptionExitsUsage: a copy whose run finds an unknown option exits 2, as a bad flag.
func TestCopyBadOptionExitsUsage(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in.csv")
	if err := os.WriteFile(in, []byte("id,name\n1,a\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := run(t, "copy", "--data", filepath.Join(dir, "data"), in, "sqlite:"+filepath.Join(dir, "x.db")+"?table=t&bogus=1")
	if code != ExitUsage {
		t.Fatalf("exit %d, want %d: %s", code, ExitUsage, stderr)
	}
}
