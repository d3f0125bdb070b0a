package engine

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/datahub-oss/datahub/connector"
	"github.com/datahub-oss/datahub/internal/runstatus"
)

// ackSource is a test source that records what the engine tells it about each batch and
// checks, at each ack, that the batch's rows are committed in the mem table the run writes to.
type ackSource struct {
	mu sync.Mutex
	t  *testing.T
	// rows is how many rows the source holds (ids 0..rows-1), sent in batches of batch.
	rows, batch int
	dest        *memTable
	// failAt makes Read fail (not retryable) once this many batches were read; cancelAt
	// calls cancel instead.
	failAt, cancelAt int
	cancel           context.CancelFunc
	// pace is what AckPace returns; blockAfter makes Read wait, after that many batches, until
	// every batch read was settled (as a broker does at its limit of unacknowledged messages).
	pace       time.Duration
	blockAfter int
	// noPos makes the source resume through acks alone, as a broker queue does.
	noPos bool

	next     int
	read     int           // batches read by this source instance
	settled  map[int]error // by first id: what the batch was told (nil: acked)
	acks     map[int]int   // by first id: how many times it was settled
	maxOpen  int           // the most batches read and not yet settled at once
	failures []string      // contract breaches seen, reported by the test
	acked    map[int]bool  // ids acked, across instances (resume tests)
}

var (
	ackSourcesMu sync.Mutex
	ackSources   = map[string]*ackSource{}
)

func init() {
	connector.Register(connector.Spec{
		Name: "ackrec", Schemes: []string{"ackrec"}, Summary: "test: a source that records acks and nacks",
		NewSource: func(_ context.Context, e connector.Endpoint) (connector.Source, error) {
			ackSourcesMu.Lock()
			defer ackSourcesMu.Unlock()
			return &ackInstance{s: ackSources[e.URL]}, nil
		},
	})
}

// ackInstance is one opening of an ackSource (every attempt of a run opens its own).
type ackInstance struct{ s *ackSource }

func newAckSource(t *testing.T, name string, rows, batch int) *ackSource {
	s := &ackSource{t: t, rows: rows, batch: batch, settled: map[int]error{}, acks: map[int]int{}, acked: map[int]bool{}}
	ackSourcesMu.Lock()
	ackSources["ackrec:"+name] = s
	ackSourcesMu.Unlock()
	return s
}

func (a *ackInstance) Open(_ context.Context, from connector.Position) error {
	s := a.s
	s.mu.Lock()
	defer s.mu.Unlock()
	s.next, s.read = 0, 0
	if s.noPos {
		// A queue hands out what was never acked.
		for s.next < s.rows && s.acked[s.next] {
			s.next++
		}
	}
	if from != nil {
		n, err := strconv.Atoi(string(from))
		if err != nil {
			return err
		}
		s.next = n
	}
	return nil
}

func (a *ackInstance) Schema(context.Context) (connector.Schema, error) {
	return connector.Schema{Columns: []connector.Column{{Name: "id", Type: connector.TypeInt64}}}, nil
}

func (a *ackInstance) AckPace() (time.Duration, int64) { return a.s.pace, 0 }

func (a *ackInstance) Read(ctx context.Context) (*connector.Batch, connector.AckFunc, error) {
	s := a.s
	s.mu.Lock()
	if s.blockAfter > 0 && s.read >= s.blockAfter {
		s.mu.Unlock()
		for {
			s.mu.Lock()
			if s.open() == 0 {
				break
			}
			s.mu.Unlock()
			select {
			case <-ctx.Done():
				return nil, nil, ctx.Err()
			case <-time.After(time.Millisecond):
			}
		}
	}
	defer s.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	switch {
	case s.failAt > 0 && s.read == s.failAt:
		return nil, nil, errors.New("source broke")
	case s.cancelAt > 0 && s.read == s.cancelAt:
		s.cancel()
		return nil, nil, context.Canceled
	case s.next >= s.rows || (s.blockAfter > 0 && s.read >= s.blockAfter):
		return nil, nil, connector.ErrEndOfInput
	}
	first, end := s.next, min(s.next+s.batch, s.rows)
	b := &connector.Batch{Bytes: int64(end - first)}
	for i := first; i < end; i++ {
		b.Rows = append(b.Rows, []any{int64(i)})
	}
	if !s.noPos {
		b.Pos = connector.Position(strconv.Itoa(end))
	}
	s.next = end
	s.read++
	s.settled[first] = errPending
	s.maxOpen = max(s.maxOpen, s.open())
	return b, func(_ context.Context, err error) error { return s.settle(first, end-first, err) }, nil
}

var errPending = errors.New("pending")

// open counts the batches read and not settled.
func (s *ackSource) open() int {
	n := 0
	for _, e := range s.settled {
		if errors.Is(e, errPending) {
			n++
		}
	}
	return n
}

func (s *ackSource) settle(first, n int, err error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.acks[first]++
	if s.acks[first] > 1 {
		s.failures = append(s.failures, fmt.Sprintf("batch at %d settled %d times", first, s.acks[first]))
	}
	s.settled[first] = err
	if err != nil {
		return nil
	}
	for i := first; i < first+n; i++ {
		s.acked[i] = true
	}
	if s.dest != nil {
		committed := map[int64]bool{}
		s.dest.mu.Lock()
		for _, r := range s.dest.committed {
			committed[r[0].(int64)] = true
		}
		s.dest.mu.Unlock()
		for i := first; i < first+n; i++ {
			if !committed[int64(i)] {
				s.failures = append(s.failures, fmt.Sprintf("batch at %d acked before row %d was committed", first, i))
				break
			}
		}
	}
	return nil
}

func (a *ackInstance) Close(context.Context) error { return nil }

func (s *ackSource) check(t *testing.T) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, f := range s.failures {
		t.Error(f)
	}
	s.failures = nil
}

// outcome returns how many batches were acked, nacked and left pending, and the nack errors.
func (s *ackSource) outcome() (acked, nacked, pending int, errs []error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range s.settled {
		switch {
		case e == nil:
			acked++
		case errors.Is(e, errPending):
			pending++
		default:
			nacked++
			errs = append(errs, e)
		}
	}
	return
}

func committedSet(tb *memTable) map[int64]int {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	out := map[int64]int{}
	for _, r := range tb.committed {
		out[r[0].(int64)]++
	}
	return out
}

func TestAcksOnlyAfterDurable(t *testing.T) {
	for _, mode := range []connector.WriteMode{connector.ModeAppend, connector.ModeUpsert, connector.ModeReplace} {
		t.Run(string(mode), func(t *testing.T) {
			name := "durable-" + string(mode)
			src := newAckSource(t, name, 200, 10)
			src.dest = table("mem:" + name)
			res := New(Options{RunID: name, Source: connector.Endpoint{URL: "ackrec:" + name}, Dest: connector.Endpoint{URL: "mem:" + name},
				Mode: mode, CheckpointRows: 40}).Run(context.Background())
			if res.Err != nil {
				t.Fatal(res.Err)
			}
			src.check(t)
			acked, nacked, pending, _ := src.outcome()
			if acked != 20 || nacked != 0 || pending != 0 {
				t.Fatalf("acked %d, nacked %d, pending %d of 20 batches", acked, nacked, pending)
			}
			// Memory stays bounded: one checkpoint's worth (4 batches) plus those read ahead
			// (2 in the channel, 1 being sent), except in replace where all wait for Commit.
			if mode != connector.ModeReplace && src.maxOpen > 4+3 {
				t.Errorf("up to %d batches waited for their ack; want at most 7", src.maxOpen)
			}
			if mode == connector.ModeReplace && src.maxOpen != 20 {
				t.Errorf("replace: up to %d batches waited; a replace acks nothing before Commit, want 20", src.maxOpen)
			}
		})
	}
}

func TestNackOnFailure(t *testing.T) {
	cases := []struct {
		name  string
		setup func(s *ackSource, dst *memTable, cancel context.CancelFunc)
		want  func(err error) bool
	}{
		{"source error", func(s *ackSource, _ *memTable, _ context.CancelFunc) { s.failAt = 7 },
			func(err error) bool { return err != nil && err.Error() == "read source: source broke" }},
		{"sink error", func(_ *ackSource, dst *memTable, _ context.CancelFunc) { dst.failAt = 65 },
			func(err error) bool { return errors.Is(err, syscall.ECONNRESET) }},
		{"cancel", func(s *ackSource, _ *memTable, cancel context.CancelFunc) { s.cancelAt, s.cancel = 7, cancel },
			func(err error) bool { return errors.Is(err, context.Canceled) }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			name := "nack-" + c.name
			src := newAckSource(t, name, 200, 10)
			dst := table("mem:" + name)
			src.dest = dst
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			c.setup(src, dst, cancel)
			res := New(Options{RunID: name, Source: connector.Endpoint{URL: "ackrec:" + name}, Dest: connector.Endpoint{URL: "mem:" + name},
				CheckpointRows: 30, Retries: -1}).Run(ctx)
			if res.Err == nil {
				t.Fatal("run succeeded")
			}
			src.check(t)
			acked, nacked, pending, errs := src.outcome()
			if pending != 0 {
				t.Errorf("%d batches neither acked nor nacked", pending)
			}
			if acked != 3 && acked != 6 {
				t.Errorf("%d batches acked, want the 3 or 6 that the flushes every 3 covered", acked)
			}
			if nacked == 0 {
				t.Error("nothing nacked")
			}
			for _, err := range errs {
				if !c.want(err) {
					t.Errorf("nacked with %v", err)
				}
			}
			if got := len(committedSet(dst)); got != 10*acked {
				t.Errorf("table holds %d rows, %d batches acked", got, acked)
			}
		})
	}
}

// TestNoAckLostAcrossCrash: a run that dies between a write and the flush that would cover
// it acks nothing of it, and the resumed run reads it again, so every row arrives once.
func TestNoAckLostAcrossCrash(t *testing.T) {
	for _, noPos := range []bool{false, true} {
		t.Run(fmt.Sprintf("positions=%v", !noPos), func(t *testing.T) {
			name := fmt.Sprintf("crash-%v", noPos)
			src := newAckSource(t, name, 100, 10)
			src.noPos = noPos
			dst := table("mem:" + name)
			src.dest = dst
			src.failAt = 5
			opts := Options{RunID: name, Source: connector.Endpoint{URL: "ackrec:" + name}, Dest: connector.Endpoint{URL: "mem:" + name},
				CheckpointRows: 30, Retries: -1}
			res := New(opts).Run(context.Background())
			if res.Status != runstatus.Failed {
				t.Fatalf("first run: %s %v", res.Status, res.Err)
			}
			if res.RowsWritten != 30 {
				t.Errorf("first run: rows_written %d, want the 30 flushed", res.RowsWritten)
			}
			src.mu.Lock()
			src.failAt = 0
			// A crash sends no nacks: forget them, the resume must not depend on them.
			for k, e := range src.settled {
				if e != nil {
					delete(src.settled, k)
					delete(src.acks, k)
				}
			}
			src.mu.Unlock()
			// Without positions the run's record carries the counters (the worker's Initial).
			opts.Resume, opts.Position, opts.Initial = true, res.Position, res.Stats
			res = New(opts).Run(context.Background())
			if res.Err != nil {
				t.Fatal(res.Err)
			}
			src.check(t)
			got := committedSet(dst)
			for i := range int64(100) {
				if got[i] != 1 {
					t.Errorf("row %d in the table %d times", i, got[i])
				}
			}
			for i := range 100 {
				if !src.acked[i] {
					t.Errorf("row %d never acked", i)
				}
			}
			if res.RowsWritten != 100 {
				t.Errorf("rows_written %d, want 100", res.RowsWritten)
			}
		})
	}
}

// TestAckPacerQuietSource: a source that delivers nothing more until its batches are acked
// (a broker at its limit of unacknowledged messages) gets them acked by the flush interval it
// asked for, not at the end of a checkpoint that would never fill.
func TestAckPacerQuietSource(t *testing.T) {
	src := newAckSource(t, "pacer", 1000, 10)
	src.dest = table("mem:pacer")
	src.pace = 40 * time.Millisecond
	src.blockAfter = 3
	done := make(chan Result, 1)
	go func() {
		done <- New(Options{RunID: "pacer", Source: connector.Endpoint{URL: "ackrec:pacer"}, Dest: connector.Endpoint{URL: "mem:pacer"},
			CheckpointInterval: time.Hour}).Run(context.Background())
	}()
	select {
	case res := <-done:
		if res.Err != nil {
			t.Fatal(res.Err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the run waited for acks that only a flush could send")
	}
	src.check(t)
	if acked, _, _, _ := src.outcome(); acked != 3 {
		t.Fatalf("%d batches acked, want 3", acked)
	}
}

// TestRetryNacksThenAcks: the batches of a failed attempt are nacked, and acked when the retry
// makes them durable.
func TestRetryNacksThenAcks(t *testing.T) {
	src := newAckSource(t, "retry", 100, 10)
	dst := table("mem:retry")
	src.dest = dst
	dst.failAt = 45
	res := New(Options{RunID: "retry", Source: connector.Endpoint{URL: "ackrec:retry"}, Dest: connector.Endpoint{URL: "mem:retry"},
		CheckpointRows: 20, RetryBase: 1}).Run(context.Background())
	if res.Err != nil || res.Attempts != 2 {
		t.Fatalf("attempts %d: %v", res.Attempts, res.Err)
	}
	src.mu.Lock()
	defer src.mu.Unlock()
	for i := range 100 {
		if !src.acked[i] {
			t.Errorf("row %d never acked", i)
		}
	}
	// The batch at 40 was read in the first attempt, nacked, read again and acked.
	if src.acks[40] != 2 || src.settled[40] != nil {
		t.Errorf("batch at 40: settled %d times, last with %v; want a nack then an ack", src.acks[40], src.settled[40])
	}
}

// stuckSource returns one batch, then blocks in Read whatever its context says, as a read of
// standard input does.
type stuckSource struct{ release chan struct{} }

var stuckRelease = make(chan struct{})

func init() {
	connector.Register(connector.Spec{
		Name: "stuck", Schemes: []string{"stuck"}, Summary: "test: a source whose second Read ignores cancellation",
		NewSource: func(context.Context, connector.Endpoint) (connector.Source, error) {
			return &stuckSource{release: stuckRelease}, nil
		},
	})
}

func (s *stuckSource) Open(context.Context, connector.Position) error { return nil }
func (s *stuckSource) Schema(context.Context) (connector.Schema, error) {
	return connector.Schema{Columns: []connector.Column{{Name: "id", Type: connector.TypeInt64}}}, nil
}
func (s *stuckSource) Close(context.Context) error { return nil }

func (s *stuckSource) Read(context.Context) (*connector.Batch, connector.AckFunc, error) {
	if s.release == nil {
		<-stuckRelease
		return nil, nil, connector.ErrEndOfInput
	}
	s.release = nil
	return &connector.Batch{Rows: [][]any{{int64(1)}, {int64(2)}}}, connector.NopAck, nil
}

// TestFailureDoesNotWaitForStuckRead: a source that needs no acks is not waited for when the
// run fails, even if its Read ignores the cancellation.
func TestFailureDoesNotWaitForStuckRead(t *testing.T) {
	defer close(stuckRelease)
	table("mem:stuck").failAt = 1
	done := make(chan Result, 1)
	go func() {
		done <- New(Options{RunID: "stuck", Source: connector.Endpoint{URL: "stuck:"}, Dest: connector.Endpoint{URL: "mem:stuck"}, Retries: -1}).Run(context.Background())
	}()
	select {
	case res := <-done:
		if res.Status != runstatus.Failed {
			t.Fatalf("status %s: %v", res.Status, res.Err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the failed run waited for a Read that ignores its context")
	}
}
