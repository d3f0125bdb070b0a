package conntest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"testing"

	"github.com/datahub-oss/datahub/connector"
	"github.com/datahub-oss/datahub/internal/engine"
)

// The ack cases run the engine from a recording source (below) into the connector under test
// and check, at the moment each batch is acknowledged, that its rows can be read back from the
// target by a fresh reader: an ack means durable. The recording source is the only stand-in;
// the sink, and the reader that checks it, are the connector's own against its real server.

// ackScheme is the URL scheme of the recording source.
const ackScheme = "conntest-acks"

var (
	recMu   sync.Mutex
	recs    = map[string]*recorder{}
	regOnce sync.Once
)

// recorder is a source of the suite's rows that records every ack and nack, and can fail
// after a number of batches as a broken connection or a dying process would.
type recorder struct {
	mu     sync.Mutex
	schema connector.Schema
	rows   [][]any
	batch  int
	// failAfter makes Read fail once that many batches were read by one opening (0: never).
	failAfter int
	// onAck runs when a batch is acked, with the rows of the batch.
	onAck func(rows [][]any)

	next, read int
	// state is what each batch (by its first row index) was last told: nil acked, errOpen
	// not yet settled, another error nacked.
	state map[int]error
	// acked counts acks of each row index, across openings.
	acked    map[int]int
	problems []string
}

var errOpen = errors.New("not settled")

func newRecorder(t *testing.T, s connector.Schema, rows [][]any, batch int) (*recorder, connector.Endpoint) {
	regOnce.Do(func() {
		connector.Register(connector.Spec{
			Name: ackScheme, Schemes: []string{ackScheme}, Summary: "conntest: a source that records acknowledgements",
			NewSource: func(_ context.Context, e connector.Endpoint) (connector.Source, error) {
				recMu.Lock()
				defer recMu.Unlock()
				r, ok := recs[e.URL]
				if !ok {
					return nil, connector.Errorf(connector.CodeNotFound, e.URL, "", errors.New("no such recorder"))
				}
				return &recording{r: r}, nil
			},
		})
	})
	r := &recorder{schema: s, rows: rows, batch: batch, state: map[int]error{}, acked: map[int]int{}}
	url := ackScheme + ":" + t.Name()
	recMu.Lock()
	recs[url] = r
	recMu.Unlock()
	t.Cleanup(func() {
		recMu.Lock()
		delete(recs, url)
		recMu.Unlock()
	})
	return r, connector.Endpoint{URL: url}
}

// recording is one opening of a recorder: each attempt of a run opens its own.
type recording struct{ r *recorder }

func (s *recording) Open(_ context.Context, from connector.Position) error {
	r := s.r
	r.mu.Lock()
	defer r.mu.Unlock()
	r.next, r.read = 0, 0
	if from != nil {
		n, err := strconv.Atoi(string(from))
		if err != nil {
			return fmt.Errorf("conntest: position %q: %w", from, err)
		}
		r.next = n
	}
	return nil
}

func (s *recording) Schema(context.Context) (connector.Schema, error) { return s.r.schema, nil }

func (s *recording) Read(ctx context.Context) (*connector.Batch, connector.AckFunc, error) {
	r := s.r
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	if r.failAfter > 0 && r.read >= r.failAfter {
		return nil, nil, errors.New("conntest: the source's connection broke")
	}
	if r.next >= len(r.rows) {
		return nil, nil, connector.ErrEndOfInput
	}
	first, end := r.next, min(r.next+r.batch, len(r.rows))
	r.next, r.read = end, r.read+1
	r.state[first] = errOpen
	b := &connector.Batch{Rows: slices.Clone(r.rows[first:end]), Pos: connector.Position(strconv.Itoa(end))}
	settled := false
	return b, func(_ context.Context, err error) error {
		r.mu.Lock()
		if settled {
			r.problems = append(r.problems, fmt.Sprintf("the batch of rows %d..%d was settled twice", first, end-1))
		}
		settled = true
		r.state[first] = err
		if err == nil {
			for i := first; i < end; i++ {
				r.acked[i]++
			}
		}
		onAck := r.onAck
		r.mu.Unlock()
		if err == nil && onAck != nil {
			onAck(r.rows[first:end])
		}
		return nil
	}, nil
}

func (s *recording) Close(context.Context) error { return nil }

// outcome counts the batches acked, nacked and never settled, and returns the nacks' errors.
func (r *recorder) outcome() (acked, nacked, open int, nacks []error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, err := range r.state {
		switch {
		case err == nil:
			acked++
		case errors.Is(err, errOpen):
			open++
		default:
			nacked++
			nacks = append(nacks, err)
		}
	}
	return acked, nacked, open, nacks
}

func (r *recorder) report(t *testing.T) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, p := range r.problems {
		t.Error(p)
	}
}

// engineMode is the mode the ack cases run the engine in: append where the sink has it.
func (h Harness) engineMode() connector.WriteMode { return h.seedMode() }

// ids returns the set of ids among rows (column 0, read in schema s).
func ids(t *testing.T, s connector.Schema, rows [][]any) map[int64]int {
	t.Helper()
	out := map[int64]int{}
	for _, r := range rows {
		id, err := connector.Convert(r[0], s.Columns[0].Type, connector.Column{Name: "id", Type: connector.TypeInt64})
		if err != nil {
			t.Fatalf("id %v: %v", r[0], err)
		}
		out[id.(int64)]++
	}
	return out
}

// runEngine copies from the recorder's endpoint into e with the engine, flushing every two
// batches.
func runEngine(ctx context.Context, t *testing.T, src, e connector.Endpoint, mode connector.WriteMode, resume *engine.Result) engine.Result {
	opts := engine.Options{RunID: "conntest-" + t.Name(), Source: src, Dest: e, Mode: mode, CheckpointRows: 10, Retries: -1}
	if resume != nil {
		opts.Resume, opts.Position = true, resume.Position
	}
	return engine.New(opts).Run(ctx)
}

// testAcksAfterDurable: every batch is acked once, after its rows can be read back from the
// target; in replace mode the target holds the old rows until the commit, so no batch is acked
// before it.
func testAcksAfterDurable(t *testing.T, h Harness) {
	for _, mode := range h.Modes {
		t.Run(string(mode), func(t *testing.T) {
			e := h.NewEndpoint(t, "acks_"+string(mode))
			s := Schema([]connector.Type{connector.TypeString})
			if mode == connector.ModeReplace {
				h.write(t, e, s, connector.ModeReplace, Rows(s, 1000, 3), 3)
			}
			rows := Rows(s, 1, 40)
			rec, src := newRecorder(t, s, rows, 5)
			rec.onAck = func(batch [][]any) {
				got, gotRows := h.read(t, e)
				have := ids(t, got, gotRows)
				for id := range ids(t, s, batch) {
					if have[id] == 0 {
						t.Errorf("%s: the batch with id %d was acked before the target held it (a fresh reader sees %d rows)", mode, id, len(gotRows))
						return
					}
				}
			}
			res := runEngine(context.Background(), t, src, e, mode, nil)
			if res.Err != nil {
				t.Fatalf("run: %v", res.Err)
			}
			rec.report(t)
			if acked, nacked, open, _ := rec.outcome(); acked != 8 || nacked != 0 || open != 0 {
				t.Errorf("acked %d, nacked %d, unsettled %d of 8 batches", acked, nacked, open)
			}
			got, gotRows := h.read(t, e)
			Check(t, s, rows, got, gotRows)
		})
	}
}

// testNackOnFailure: a run that fails between two flushes nacks, with its error, every batch
// the last flush did not cover, and the target holds every batch it acked.
func testNackOnFailure(t *testing.T, h Harness) {
	mode := h.engineMode()
	e := h.NewEndpoint(t, "nack")
	s := Schema([]connector.Type{connector.TypeString})
	old := Rows(s, 1000, 3)
	if mode == connector.ModeReplace {
		h.write(t, e, s, connector.ModeReplace, old, 3)
	}
	rows := Rows(s, 1, 40)
	rec, src := newRecorder(t, s, rows, 5)
	rec.failAfter = 5 // flushes after batches 2 and 4; batch 5 is written, then the source breaks
	res := runEngine(context.Background(), t, src, e, mode, nil)
	if res.Err == nil {
		t.Fatal("a run whose source broke succeeded")
	}
	rec.report(t)
	acked, nacked, open, nacks := rec.outcome()
	if open != 0 {
		t.Errorf("%d batches neither acked nor nacked", open)
	}
	wantAcked := 4
	if mode == connector.ModeReplace {
		wantAcked = 0
	}
	if acked != wantAcked || nacked != 5-wantAcked {
		t.Errorf("acked %d and nacked %d of the 5 batches read, want %d and %d", acked, nacked, wantAcked, 5-wantAcked)
	}
	for _, err := range nacks {
		if !errors.Is(res.Err, err) {
			t.Errorf("nacked with %v, want the run's error", err)
		}
	}
	got, gotRows := h.read(t, e)
	have := ids(t, got, gotRows)
	rec.mu.Lock()
	defer rec.mu.Unlock()
	for i, r := range rows {
		if id := r[0].(int64); rec.acked[i] > 0 && have[id] == 0 {
			t.Errorf("id %d was acked but the target lacks it", id)
		}
	}
	if mode == connector.ModeReplace {
		Check(t, s, old, got, gotRows)
	}
}

// testCrashResume: a run that dies after a write and before the flush that would cover it has
// not acked the batch; the resumed run reads it again, so the target ends with every row once
// and every batch acked.
func testCrashResume(t *testing.T, h Harness) {
	mode := h.engineMode()
	e := h.NewEndpoint(t, "crash")
	s := Schema([]connector.Type{connector.TypeString})
	rows := Rows(s, 1, 40)
	rec, src := newRecorder(t, s, rows, 5)
	rec.failAfter = 5
	first := runEngine(context.Background(), t, src, e, mode, nil)
	if first.Err == nil {
		t.Fatal("a run whose source broke succeeded")
	}
	rec.mu.Lock()
	for i := 20; i < 25; i++ {
		if rec.acked[i] > 0 {
			t.Errorf("row %d, written after the last flush, was acked", i)
		}
	}
	rec.failAfter = 0
	rec.mu.Unlock()
	res := runEngine(context.Background(), t, src, e, mode, &first)
	if res.Err != nil {
		t.Fatalf("resumed run: %v", res.Err)
	}
	rec.report(t)
	got, gotRows := h.read(t, e)
	Check(t, s, rows, got, gotRows)
	rec.mu.Lock()
	defer rec.mu.Unlock()
	for i := range rows {
		// A replace starts again from the first row: its earlier attempt committed nothing.
		if n := rec.acked[i]; n == 0 || n > 1 && mode != connector.ModeReplace {
			t.Errorf("row index %d acked %d times across the crash, want once", i, n)
		}
	}
}
