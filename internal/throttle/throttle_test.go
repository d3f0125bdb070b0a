package throttle

import (
	"fmt"
	"testing"
	"time"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time      { return c.t }
func (c *clock) add(d time.Duration) { c.t = c.t.Add(d) }
func newClock() *clock               { return &clock{t: time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)} }
func fail(l *Limiter, key string) time.Duration {
	if w := l.Allow(key); w > 0 {
		return w
	}
	l.Done(key, true)
	return 0
}

// TestBackoff: free failures, then lock-outs doubling to the cap; attempts during a lock-out
// are refused without counting; after the lock-out one attempt goes through.
func TestBackoff(t *testing.T) {
	c := newClock()
	l := New(Config{Free: 3, Base: time.Second, Max: 8 * time.Second, Now: c.now})
	for i := range 3 {
		if w := fail(l, "u"); w != 0 {
			t.Fatalf("free failure %d refused (%s)", i+1, w)
		}
	}
	if got := l.Locked("u"); got != 0 {
		t.Fatalf("locked after the free failures: %s", got)
	}
	for i, want := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 8 * time.Second} {
		if w := fail(l, "u"); w != 0 {
			t.Fatalf("attempt after lock-out %d refused (%s)", i, w)
		}
		if got := l.Locked("u"); got != want {
			t.Fatalf("lock-out %d: %s, want %s", i+1, got, want)
		}
		// A hundred attempts during the lock-out: all refused, none counted.
		for range 100 {
			if w := l.Allow("u"); w <= 0 || w > want {
				t.Fatalf("attempt during lock-out %d: wait %s", i+1, w)
			}
		}
		c.add(want)
	}
	// Other keys are not affected.
	if w := l.Allow("v"); w != 0 {
		t.Errorf("another key refused: %s", w)
	}
}

func TestResetAndForget(t *testing.T) {
	c := newClock()
	l := New(Config{Free: 2, Base: time.Second, Max: time.Minute, Forget: time.Hour, Now: c.now})
	for range 3 {
		fail(l, "u")
	}
	if l.Locked("u") == 0 {
		t.Fatal("not locked")
	}
	l.Reset("u")
	if w := l.Allow("u"); w != 0 {
		t.Fatalf("after reset: %s", w)
	}
	l.Done("u", false)

	for range 3 {
		c.add(time.Minute)
		fail(l, "w")
	}
	c.add(time.Hour + time.Second)
	// An hour after its last failure, unlocked: the key starts over with its free failures.
	for i := range 2 {
		if w := fail(l, "w"); w != 0 {
			t.Fatalf("free failure %d after forgetting: %s", i+1, w)
		}
	}
	if l.Locked("w") != 0 {
		t.Error("locked within the free failures after forgetting")
	}
}

// TestConcurrentAttempts: attempts in flight count, so a burst cannot all be tried before
// the first failure is recorded; past the free ones, one at a time.
func TestConcurrentAttempts(t *testing.T) {
	c := newClock()
	l := New(Config{Free: 3, Now: c.now})
	let := 0
	for range 50 {
		if l.Allow("u") == 0 {
			let++
		}
	}
	if let != 3 {
		t.Fatalf("%d concurrent attempts let through, want 3", let)
	}
	for range let {
		l.Done("u", true)
	}
	c.add(time.Second)
	if l.Allow("u") != 0 {
		t.Fatal("attempt after the lock-out refused")
	}
	if l.Allow("u") == 0 {
		t.Error("a second attempt in flight past the free failures was let through")
	}
}

// TestBoundedSize: spraying fresh keys never grows the limiter past its size, and never
// pushes out a key that is locked out.
func TestBoundedSize(t *testing.T) {
	c := newClock()
	l := New(Config{Size: 100, Now: c.now})
	fail(l, "target")
	c.add(time.Second)
	for i := range 10000 {
		fail(l, fmt.Sprintf("spray-%d", i))
		c.add(time.Millisecond)
		if i%99 == 0 {
			fail(l, "target") // locked out after its free failures
		}
	}
	if n := l.Len(); n > 100 {
		t.Fatalf("%d keys kept, size 100", n)
	}
	if l.Locked("target") == 0 {
		t.Error("the busy key was pushed out")
	}
}
