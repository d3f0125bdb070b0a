package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestCopyWithFullDataFolder is finding 11 on a real full disk: the data folder is a 1 MiB
// tmpfs that the rejects fill. The copy fails naming the full disk, the rejects file holds
// whole lines only and as many as the summary counts, and a run that could not record its end
// is recorded as failed by the next copy. It mounts, so it runs only as root when
// DATAHUB_TEST_MOUNT=1; the same paths are covered without a mount by the engine's tests with
// a file that fails with ENOSPC.
func TestCopyWithFullDataFolder(t *testing.T) {
	if os.Getenv("DATAHUB_TEST_MOUNT") != "1" {
		t.Skip("mounts a 1 MiB tmpfs: run as root with DATAHUB_TEST_MOUNT=1")
	}
	data := t.TempDir()
	if err := syscall.Mount("tmpfs", data, "tmpfs", 0, "size=1m"); err != nil {
		t.Fatalf("mount a tmpfs on %s: %v", data, err)
	}
	t.Cleanup(func() { _ = syscall.Unmount(data, 0) })
	work := t.TempDir()
	var csv strings.Builder
	csv.WriteString("id,v\n")
	for i := 1; i <= 20000; i++ {
		fmt.Fprintf(&csv, "%d,not a number %d\n", i, i)
	}
	src := filepath.Join(work, "in.csv")
	if err := os.WriteFile(src, []byte(csv.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	dst := "sqlite:" + filepath.Join(work, "out.db") + "?table=t"
	code, out, errOut := run(t, "copy", "--data", data, "--json", "--map", "v::int64", src, dst)
	if code != ExitFailed {
		t.Fatalf("exit %d: %s %s", code, out, errOut)
	}
	var s summary
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		t.Fatalf("summary %q: %v", out, err)
	}
	if s.ErrorCode != "disk_full" || !strings.Contains(s.Error, "no space left") || !strings.Contains(s.Error, "rejects.ndjson") {
		t.Fatalf("error [%s] %s", s.ErrorCode, s.Error)
	}
	b, err := os.ReadFile(filepath.Join(data, "rejects", s.RunID, "rejects.ndjson"))
	if err != nil {
		t.Fatal(err)
	}
	if len(b) == 0 || b[len(b)-1] != '\n' {
		t.Fatalf("the rejects file (%d bytes) ends in a cut-off line: %q; %s", len(b), b[max(0, len(b)-60):], s.Error)
	}
	if lines := int64(bytes.Count(b, []byte("\n"))); lines != s.RowsRejected {
		t.Fatalf("summary counts %d rejects, the file has %d lines", s.RowsRejected, lines)
	}

	// Whether or not the full disk let it record its end, once there is room again the run is
	// not left running.
	if err := os.RemoveAll(filepath.Join(data, "rejects")); err != nil {
		t.Fatal(err)
	}
	if code, out, errOut := run(t, "runs", "show", "--data", data, "--json", s.RunID); code != 0 || strings.Contains(out, `"status": "running"`) {
		t.Log("the full disk kept the run from recording its end; the next copy records it")
		if code, _, _ := run(t, "copy", "--data", data, "--json", src, "sqlite:"+filepath.Join(work, "other.db")+"?table=t"); code != 0 {
			t.Fatalf("second copy exit %d", code)
		}
		if code, out, errOut = run(t, "runs", "show", "--data", data, "--json", s.RunID); code != 0 || !strings.Contains(out, `"status": "failed"`) {
			t.Fatalf("after the next copy: exit %d %s %s", code, out, errOut)
		}
	} else if !strings.Contains(out, `"status": "failed"`) {
		t.Fatalf("runs show: %s %s", out, errOut)
	}
}
