package bus

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// throttledLog logs a repeated warning once per interval with the count of those it held back,
// so that a failure hit on every delivery (the store down under a full queue) costs a line a
// minute, not megabytes a second.
type throttledLog struct {
	every time.Duration
	now   func() time.Time

	mu   sync.Mutex
	seen map[string]*throttled
}

type throttled struct {
	last       time.Time
	suppressed int
}

func newThrottledLog(every time.Duration) *throttledLog {
	return &throttledLog{every: every, now: time.Now, seen: map[string]*throttled{}}
}

// Warn logs msg at warning level (see Log).
func (t *throttledLog) Warn(ctx context.Context, log *slog.Logger, msg string, args ...any) {
	t.Log(ctx, log, slog.LevelWarn, msg, args...)
}

// Log logs msg with args unless the same msg was logged less than the interval ago; then it
// is only counted, and the next line logged says how many were held back ("repeated").
func (t *throttledLog) Log(ctx context.Context, log *slog.Logger, level slog.Level, msg string, args ...any) {
	t.mu.Lock()
	now := t.now()
	s := t.seen[msg]
	if s == nil {
		s = &throttled{}
		t.seen[msg] = s
	}
	if !s.last.IsZero() && now.Sub(s.last) < t.every {
		s.suppressed++
		t.mu.Unlock()
		return
	}
	n := s.suppressed
	s.last, s.suppressed = now, 0
	t.mu.Unlock()
	if n > 0 {
		args = append(args, "repeated", n, "over", t.every.String())
	}
	log.Log(ctx, level, msg, args...)
}
