package datadir

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// envHold makes the test binary a process that holds a data folder until it is killed.
const envHold = "DATADIR_TEST_HOLD"

func TestMain(m *testing.M) {
	if dir := os.Getenv(envHold); dir != "" {
		l, err := Acquire(dir, "holder test")
		if err != nil {
			fmt.Println("error:", err)
			os.Exit(1)
		}
		fmt.Println("held")
		_ = l
		select {} // until killed
	}
	os.Exit(m.Run())
}

func TestAcquireRefusesASecondHolder(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	first, err := Acquire(dir, "datahub serve")
	if err != nil {
		t.Fatal(err)
	}
	_, err = Acquire(dir, "datahub worker")
	var inUse *InUseError
	if !errors.As(err, &inUse) || !errors.Is(err, ErrInUse) {
		t.Fatalf("second acquire: %v, want an InUseError", err)
	}
	host, _ := os.Hostname()
	for _, want := range []string{"data folder " + dir + " is in use by datahub serve",
		fmt.Sprintf("pid %d on host %s", os.Getpid(), host), "since ", "stop it or use another --data"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("refusal %q does not say %q", err, want)
		}
	}
	if err := first.Release(); err != nil {
		t.Fatal(err)
	}
	if err := first.Release(); err != nil {
		t.Errorf("second release: %v", err)
	}
	again, err := Acquire(dir, "datahub worker")
	if err != nil {
		t.Fatalf("acquire after release: %v", err)
	}
	if h := readHolder(filepath.Join(dir, LockName)); h.Command != "datahub worker" || h.PID != os.Getpid() {
		t.Errorf("holder after re-acquire: %+v", h)
	}
	_ = again.Release()
}

// TestKilledHolderLeavesNoLock: a process holding the folder is killed with SIGKILL; the
// kernel drops its lock, and the next start gets the folder with nothing to clean up.
func TestKilledHolderLeavesNoLock(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	cmd := exec.Command(os.Args[0], "-test.run=^$") //nolint:gosec // the test binary itself
	cmd.Env = append(os.Environ(), envHold+"="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || strings.TrimSpace(line) != "held" {
		t.Fatalf("holder: %q %v", line, err)
	}
	_, err = Acquire(dir, "datahub serve")
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("holder test (pid %d on host", cmd.Process.Pid)) {
		t.Fatalf("while the holder runs: %v", err)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	l, err := Acquire(dir, "datahub serve")
	if err != nil {
		t.Fatalf("after the holder was killed: %v", err)
	}
	_ = l.Release()
}

func TestHolderString(t *testing.T) {
	tests := []struct {
		h    Holder
		want string
	}{
		{Holder{}, "another process (it is starting)"},
		{Holder{PID: 7, Host: "h"}, "another process (pid 7 on host h, since 0001-01-01T00:00:00Z)"},
	}
	for _, tc := range tests {
		if got := tc.h.String(); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.h, got, tc.want)
		}
	}
}
