// Package testutil holds the polling helpers tests share, so that a test waits for a
// condition or a deadline, never for a guessed stretch of wall-clock time (nats-server's
// checkFor does the same).
package testutil

import (
	"fmt"
	"testing"
	"time"
)

// Poll calls cond every interval until it returns nil, and then returns nil; once timeout
// has passed it returns cond's last error. It suits goroutines, which must not fail a test.
func Poll(timeout, interval time.Duration, cond func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(interval)
	}
}

// Eventually fails the test unless cond returns nil within timeout, checking it every
// interval; the failure names cond's last error.
func Eventually(t testing.TB, timeout, interval time.Duration, cond func() error) {
	t.Helper()
	if err := Poll(timeout, interval, cond); err != nil {
		t.Fatalf("not so after %s: %v", timeout, err)
	}
}

// WaitFor is Eventually for a condition that has no error to tell: it fails the test,
// naming what it waited for, unless cond holds within timeout (checked every 20ms).
func WaitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	if err := Poll(timeout, 20*time.Millisecond, func() error { return Checkf(cond(), "%s", what) }); err != nil {
		t.Fatalf("timed out after %s waiting for %s", timeout, what)
	}
}

// Never fails the test as soon as cond returns an error during d, checking it every
// interval (and once at the end). cond returns an error when what must not happen did.
//
// It always costs d: use it only for "nothing more arrives" where there is no positive
// signal to wait for instead (a later message, a recorded event, a store row), and say why.
func Never(t testing.TB, d, interval time.Duration, cond func() error) {
	t.Helper()
	end := time.Now().Add(d)
	for {
		if err := cond(); err != nil {
			t.Fatalf("happened within %s: %v", d, err)
		}
		left := time.Until(end)
		if left <= 0 {
			return
		}
		time.Sleep(min(interval, left))
	}
}

// Checkf turns a condition into the error a cond func returns: nil when ok, else the
// formatted message, which says what was seen (it ends up in the failure).
func Checkf(ok bool, format string, args ...any) error {
	if ok {
		return nil
	}
	return fmt.Errorf(format, args...)
}
