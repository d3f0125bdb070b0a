// Package throttle backs off repeated failures per key (a user name, a client address): after
// a few free failures each further one locks the key for a time that doubles up to a cap.
// It is in memory, per process, and bounded in size, for login attempts: a guesser gets a
// handful of tries, then one per lock-out, however fast it sends them.
package throttle

import (
	"sync"
	"time"
)

// Config sets a Limiter's policy.
type Config struct {
	// Free is how many failures in a row a key has before the first lock-out.
	Free int
	// Base is the first lock-out; each further failure doubles it, up to Max.
	Base, Max time.Duration
	// Forget is how long after its last failure an unlocked key starts over.
	Forget time.Duration
	// Size bounds the keys kept; when full, forgotten keys go first, then the least recently
	// failed.
	Size int
	// Now is the clock (default time.Now); tests set it.
	Now func() time.Time
}

// Limiter counts failures per key. It is safe for concurrent use.
type Limiter struct {
	cfg  Config
	mu   sync.Mutex
	keys map[string]*state
}

type state struct {
	failures int       // in a row, settled
	pending  int       // attempts let through and not yet done
	until    time.Time // locked until
	last     time.Time // last failure or attempt
}

// New returns a limiter; zero fields of cfg get defaults (5 free, 1 s doubling to 15 min,
// forgotten after an hour, 10,000 keys).
func New(cfg Config) *Limiter {
	if cfg.Free <= 0 {
		cfg.Free = 5
	}
	if cfg.Base <= 0 {
		cfg.Base = time.Second
	}
	if cfg.Max < cfg.Base {
		cfg.Max = max(15*time.Minute, cfg.Base)
	}
	if cfg.Forget <= 0 {
		cfg.Forget = time.Hour
	}
	if cfg.Size <= 0 {
		cfg.Size = 10000
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Limiter{cfg: cfg, keys: map[string]*state{}}
}

// Allow asks whether an attempt for key may go ahead. Zero: yes, and the caller must report
// its outcome with Done. Otherwise the attempt is refused, not counted, and may be made again
// after the returned time. Once the free failures are used up, attempts of one key are also
// let through one at a time, so that a burst of concurrent guesses cannot all be tried before
// the first failure counts.
func (l *Limiter) Allow(key string) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.cfg.Now()
	s := l.keys[key]
	if s != nil && s.pending == 0 && !now.Before(s.until) && now.Sub(s.last) > l.cfg.Forget {
		delete(l.keys, key)
		s = nil
	}
	if s == nil {
		l.makeRoom(now)
		s = &state{}
		l.keys[key] = s
	}
	if wait := s.until.Sub(now); wait > 0 {
		return wait
	}
	if s.pending > 0 && s.failures+s.pending >= l.cfg.Free {
		return l.cfg.Base
	}
	s.pending++
	s.last = now
	return 0
}

// Done reports the outcome of an attempt Allow let through. A failure past the free ones
// locks the key; a success does not clear earlier failures (Reset does).
func (l *Limiter) Done(key string, failed bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.cfg.Now()
	s := l.keys[key]
	if s == nil {
		// Reset (or eviction) ran while the attempt was in flight.
		if !failed {
			return
		}
		l.makeRoom(now)
		s = &state{}
		l.keys[key] = s
	}
	if s.pending > 0 {
		s.pending--
	}
	if !failed {
		return
	}
	s.failures++
	s.last = now
	if over := s.failures - l.cfg.Free; over > 0 {
		s.until = now.Add(l.backoff(over))
	}
}

// Reset forgets key's failures (a user who signed in).
func (l *Limiter) Reset(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.keys, key)
}

// Locked reports how long key stays locked (0: not locked).
func (l *Limiter) Locked(key string) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	if s := l.keys[key]; s != nil {
		return max(0, s.until.Sub(l.cfg.Now()))
	}
	return 0
}

// Len is the number of keys kept.
func (l *Limiter) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.keys)
}

// backoff is the lock-out after the n-th failure past the free ones: Base·2^(n-1), at most Max.
func (l *Limiter) backoff(n int) time.Duration {
	d := l.cfg.Base
	for i := 1; i < n && d < l.cfg.Max; i++ {
		d *= 2
	}
	return min(d, l.cfg.Max)
}

// makeRoom keeps the map under its size before a key is added: forgotten keys are dropped
// first; if none is, an unlocked key with the oldest activity, and only when every key is
// locked, the one whose lock ends first. So spraying fresh names (one failure each) pushes
// out only other unlocked keys, never a lock-out. It scans the map, but only when full.
func (l *Limiter) makeRoom(now time.Time) {
	if len(l.keys) < l.cfg.Size {
		return
	}
	var victim string
	var vs *state
	worse := func(s *state) bool { // s is a better victim than vs
		sl, vl := now.Before(s.until), now.Before(vs.until)
		if sl != vl {
			return !sl
		}
		if sl {
			return s.until.Before(vs.until)
		}
		return s.last.Before(vs.last)
	}
	for k, s := range l.keys {
		if s.pending > 0 {
			continue
		}
		if !now.Before(s.until) && now.Sub(s.last) > l.cfg.Forget {
			delete(l.keys, k)
			continue
		}
		if vs == nil || worse(s) {
			victim, vs = k, s
		}
	}
	if len(l.keys) >= l.cfg.Size && vs != nil {
		delete(l.keys, victim)
	}
}
