package testutil

import (
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

func TestPoll(t *testing.T) {
	var n atomic.Int32
	err := Poll(time.Second, time.Millisecond, func() error { return Checkf(n.Add(1) >= 3, "n is %d", n.Load()) })
	if err != nil || n.Load() != 3 {
		t.Fatalf("err %v after %d calls, want nil after 3", err, n.Load())
	}
	start := time.Now()
	err = Poll(30*time.Millisecond, 5*time.Millisecond, func() error { return errors.New("not yet") })
	if err == nil || err.Error() != "not yet" {
		t.Fatalf("err %v, want the last one", err)
	}
	if d := time.Since(start); d < 30*time.Millisecond || d > time.Second {
		t.Fatalf("gave up after %s, want about 30ms", d)
	}
}

func TestNever(t *testing.T) {
	var n atomic.Int32
	start := time.Now()
	Never(t, 30*time.Millisecond, 5*time.Millisecond, func() error { n.Add(1); return nil })
	if d := time.Since(start); d < 30*time.Millisecond {
		t.Fatalf("returned after %s, want 30ms", d)
	}
	if n.Load() < 2 {
		t.Fatalf("checked %d times", n.Load())
	}
}

func TestCheckf(t *testing.T) {
	if Checkf(true, "x") != nil {
		t.Fatal("ok gave an error")
	}
	if err := Checkf(false, "%d fires", 2); err == nil || err.Error() != "2 fires" {
		t.Fatalf("err %v", err)
	}
}
