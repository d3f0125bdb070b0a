package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestSecondServeOnOneDataFolder is finding 6 of issue 8 with real processes: a second
// `datahub serve` on a data folder a running one holds exits at once, non-zero, naming the
// holder; local readers (runs list) still work; after the first is killed with SIGKILL a new
// serve starts on the folder with nothing to clean up.
func TestSecondServeOnOneDataFolder(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	first := serveAt(t, "first server", freePort(t), data)

	second := &hubProc{name: "second server", data: data, log: data + "-second.log", done: make(chan struct{})}
	runProc(t, second, nil, "serve", "--addr", freePort(t), "--data", data)
	select {
	case <-second.done:
	case <-time.After(10 * time.Second):
		t.Fatal("a second serve on a held data folder is still running after 10 s")
	}
	if code := second.cmd.ProcessState.ExitCode(); code == 0 {
		t.Error("the second serve exited 0")
	}
	b, _ := os.ReadFile(second.log)
	for _, want := range []string{"data folder " + data + " is in use by ", fmt.Sprintf("serve (pid %d on host ", first.cmd.Process.Pid),
		"stop it or use another --data"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("the refusal does not say %q:\n%s", want, b)
		}
	}

	// A worker is refused the same way, before it dials the store or NATS (none answers here).
	code, _, stderr := run(t, "worker", "--store", "postgres://127.0.0.1:1/none", "--nats", "nats://127.0.0.1:1", "--data", data)
	if code == 0 || !strings.Contains(stderr, fmt.Sprintf("is in use by %s serve (pid %d on host ", filepath.Base(os.Args[0]), first.cmd.Process.Pid)) {
		t.Errorf("worker on a held data folder: exit %d, %s", code, stderr)
	}

	if code, _, stderr := run(t, "runs", "list", "--data", data); code != 0 {
		t.Errorf("runs list on a held folder: exit %d, %s", code, stderr)
	}

	first.kill(t)
	serveAt(t, "server after kill -9", freePort(t), data)
}
