package clock

import (
	"sync"
	"time"
)

// Fake is a Clock whose time moves only when Advance is called, for tests. Its timers and
// tickers fire during Advance; Waiters tells a test when the code under test is waiting on
// them again, so the test can advance without racing it.
type Fake struct {
	mu      sync.Mutex
	now     time.Time
	waiters map[*fakeWaiter]struct{}
}

// NewFake returns a fake clock that reads start until advanced.
func NewFake(start time.Time) *Fake {
	return &Fake{now: start, waiters: map[*fakeWaiter]struct{}{}}
}

// Now returns the fake time.
func (f *Fake) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

// Advance moves the time on by d and fires, in time order, every timer and ticker due by then.
// A ticker that is due several times sends once if its channel is full, like a time.Ticker.
func (f *Fake) Advance(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	end := f.now.Add(d)
	for {
		var next *fakeWaiter
		for w := range f.waiters {
			if !w.at.After(end) && (next == nil || w.at.Before(next.at)) {
				next = w
			}
		}
		if next == nil {
			break
		}
		f.now = next.at
		select {
		case next.c <- next.at:
		default:
		}
		if next.period > 0 {
			next.at = next.at.Add(next.period)
		} else {
			delete(f.waiters, next)
		}
	}
	f.now = end
}

// Waiters returns the number of timers and tickers that are armed.
func (f *Fake) Waiters() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.waiters)
}

// NewTimer returns a timer that fires once the fake time has moved on by d.
func (f *Fake) NewTimer(d time.Duration) Timer {
	w := &fakeWaiter{f: f, c: make(chan time.Time, 1)}
	w.arm(d, 0)
	return w
}

// NewTicker returns a ticker that fires every d of fake time.
func (f *Fake) NewTicker(d time.Duration) Ticker {
	if d <= 0 {
		panic("clock: non-positive interval for NewTicker")
	}
	w := &fakeWaiter{f: f, c: make(chan time.Time, 1)}
	w.arm(d, d)
	return fakeTicker{w}
}

// fakeWaiter is a timer (period 0) or a ticker of a Fake.
type fakeWaiter struct {
	f      *Fake
	c      chan time.Time
	at     time.Time
	period time.Duration
}

func (w *fakeWaiter) C() <-chan time.Time { return w.c }

// arm (re)starts the waiter d from now, dropping a value not received yet.
func (w *fakeWaiter) arm(d, period time.Duration) bool {
	w.f.mu.Lock()
	defer w.f.mu.Unlock()
	_, active := w.f.waiters[w]
	w.drain()
	w.at, w.period = w.f.now.Add(d), period
	if d <= 0 && period == 0 {
		w.c <- w.at
		delete(w.f.waiters, w)
		return active
	}
	w.f.waiters[w] = struct{}{}
	return active
}

func (w *fakeWaiter) drain() {
	select {
	case <-w.c:
	default:
	}
}

// Reset restarts the timer d from the fake now and reports whether it was armed.
func (w *fakeWaiter) Reset(d time.Duration) bool { return w.arm(d, 0) }

// Stop disarms the timer and reports whether it was armed.
func (w *fakeWaiter) Stop() bool {
	w.f.mu.Lock()
	defer w.f.mu.Unlock()
	_, active := w.f.waiters[w]
	delete(w.f.waiters, w)
	w.drain()
	return active
}

type fakeTicker struct{ w *fakeWaiter }

func (t fakeTicker) C() <-chan time.Time { return t.w.c }
func (t fakeTicker) Stop()               { t.w.Stop() }

var (
	_ Clock  = (*Fake)(nil)
	_ Timer  = (*fakeWaiter)(nil)
	_ Ticker = fakeTicker{}
)
