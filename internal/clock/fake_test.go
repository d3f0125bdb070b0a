package clock

import (
	"testing"
	"time"
)

func TestFakeTimer(t *testing.T) {
	start := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	f := NewFake(start)
	tm := f.NewTimer(time.Second)
	if f.Waiters() != 1 {
		t.Fatalf("%d waiters, want 1", f.Waiters())
	}
	f.Advance(999 * time.Millisecond)
	select {
	case <-tm.C():
		t.Fatal("fired early")
	default:
	}
	f.Advance(time.Millisecond)
	if got := <-tm.C(); !got.Equal(start.Add(time.Second)) {
		t.Fatalf("fired with %s", got)
	}
	if f.Waiters() != 0 || tm.Stop() {
		t.Fatal("a fired timer is still armed")
	}
	if tm.Reset(time.Second) {
		t.Fatal("Reset of a fired timer says it was armed")
	}
	f.Advance(time.Second)
	// Reset drops the value not received, like a time.Timer since Go 1.23.
	if tm.Reset(0) {
		t.Fatal("Reset of a fired timer says it was armed")
	}
	if got := <-tm.C(); !got.Equal(f.Now()) {
		t.Fatalf("got the stale value %s, want %s", got, f.Now())
	}
	select {
	case <-tm.C():
		t.Fatal("a stale value stayed in C")
	default:
	}
	if !f.Now().Equal(start.Add(2 * time.Second)) {
		t.Fatalf("now %s", f.Now())
	}
}

func TestFakeTicker(t *testing.T) {
	start := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	f := NewFake(start)
	tk := f.NewTicker(100 * time.Millisecond)
	tm := f.NewTimer(250 * time.Millisecond)
	f.Advance(time.Second)
	if got := <-tk.C(); !got.Equal(start.Add(100 * time.Millisecond)) {
		t.Fatalf("first tick %s: a full channel keeps the first, as a time.Ticker does", got)
	}
	if got := <-tm.C(); !got.Equal(start.Add(250 * time.Millisecond)) {
		t.Fatalf("timer fired at %s", got)
	}
	f.Advance(100 * time.Millisecond)
	if got := <-tk.C(); !got.Equal(start.Add(1100 * time.Millisecond)) {
		t.Fatalf("tick %s", got)
	}
	if f.Waiters() != 1 {
		t.Fatalf("%d waiters, want the ticker", f.Waiters())
	}
	tk.Stop()
	if f.Waiters() != 0 {
		t.Fatal("a stopped ticker is armed")
	}
}

func TestReal(t *testing.T) {
	tm := Real.NewTimer(time.Millisecond)
	<-tm.C()
	tk := Real.NewTicker(time.Millisecond)
	<-tk.C()
	tk.Stop()
	if time.Since(Real.Now()) > time.Second {
		t.Fatal("Real.Now is not now")
	}
}
