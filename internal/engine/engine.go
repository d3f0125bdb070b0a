// Package engine runs one transfer: it reads batches from a source, maps and converts them to
// the sink's types, writes them, quarantines what cannot be written, checkpoints, retries
// retryable failures from the last checkpoint, and keeps the statistics.
package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync/atomic"
	"time"

	"github.com/datahub-oss/datahub/connector"
	"github.com/datahub-oss/datahub/internal/redact"
	"github.com/datahub-oss/datahub/internal/runstatus"
	"github.com/datahub-oss/datahub/internal/transform"
)

// Stats are a run's counters.
type Stats struct {
	RowsRead     int64 `json:"rows_read"`
	RowsWritten  int64 `json:"rows_written"`
	RowsRejected int64 `json:"rows_rejected"`
	BytesRead    int64 `json:"bytes_read"`
	BytesWritten int64 `json:"bytes_written"`
}

// Options describe one transfer.
type Options struct {
	RunID  string
	Source connector.Endpoint
	Dest   connector.Endpoint
	Mode   connector.WriteMode
	// Key overrides the source's key for upsert and for creating the target's primary key.
	Key     []string
	Mapping *transform.Mapping

	// Resume continues an earlier attempt of the same run: reading starts after Position (or
	// after the position the sink saved, which wins), and counting starts from the counters
	// recorded with that position (Initial when the position carries none). A replace always
	// starts afresh: its earlier attempts committed nothing.
	Resume   bool
	Position connector.Position
	Initial  Stats

	// CheckpointRows and CheckpointInterval bound the work between two commits of a
	// resumable run (defaults 500,000 rows, 10 s).
	CheckpointRows     int64
	CheckpointInterval time.Duration
	// OnCheckpoint records a committed checkpoint (the transaction log): pos is what Position
	// takes to resume there, s the counters committed up to it.
	OnCheckpoint func(ctx context.Context, pos connector.Position, s Stats) error

	// Retries is how many times a retryable failure is retried from the last checkpoint
	// (default 3; negative: none), with exponential back-off from RetryBase (default 1 s).
	Retries   int
	RetryBase time.Duration

	// Rejects receives every record that could not be read, converted or written.
	Rejects Rejecter
	// MaxRejects fails the run once more records than this were rejected. nil takes the mode's
	// default: none for replace (a replace never swaps in a partial data set unasked), no
	// limit for append and upsert.
	MaxRejects *int64

	// NoInfer keeps the text columns of a text source text in a table the run creates;
	// otherwise their types are inferred from the first InferRows records (default
	// infer.DefaultRows). See package infer.
	NoInfer   bool
	InferRows int

	// NoFastPath forces the generic path even where source and sink share a native format.
	NoFastPath bool
	Logger     *slog.Logger
	// Secrets are values (resolved passwords, tokens) to scrub from every error and reject
	// reason, beyond those the endpoint URLs carry.
	Secrets []string
}

// Rejecter stores rejected records. A reject counts once Reject returned nil.
type Rejecter interface {
	Reject(ctx context.Context, stage string, r connector.Reject) error
}

// RejectRewinder is a Rejecter that can drop what it stored after the first n rejects, so that
// the records a retry or a resumed run reads again are not quarantined (and counted) twice.
type RejectRewinder interface {
	// Rewind keeps the first n rejects and returns how many it kept (fewer when fewer are
	// stored).
	Rewind(ctx context.Context, n int64) (int64, error)
}

// Limit returns a pointer to n, for Options.MaxRejects.
func Limit(n int64) *int64 { return &n }

// Result is what a run did. Stats are the run's totals, across the attempts and resumes of
// the same run: rows written are the rows the destination committed (a failed run reports what
// its last commit made durable), rows rejected the rejects stored.
type Result struct {
	Stats
	// Part is this invocation's share of Stats: all of it unless the run was resumed.
	Part    Stats
	Resumed bool
	// Status is final: succeeded, partial, failed or canceled.
	Status   runstatus.Status
	Started  time.Time
	Finished time.Time
	// FastPath is true when rows went through a native stream without decoding.
	FastPath bool
	Attempts int
	// Position is the last committed source position.
	Position connector.Position
	// Err is the failure, with secrets scrubbed from its text.
	Err error
	// Schema is the columns of the table the run created from a text source, with the types
	// inferred for them (text where nothing narrower fits); nil when inference did not apply
	// (turned off, a typed source, no table created).
	Schema []SchemaColumn
	// SHA256 is the hex digest of the bytes an object copy moved (computed while streaming);
	// empty for record transfers.
	SHA256 string
}

// Duration is how long the run took.
func (r Result) Duration() time.Duration { return r.Finished.Sub(r.Started) }

// Engine runs one transfer; Stats may be called from other goroutines while Run runs.
type Engine struct {
	opts    Options
	log     *slog.Logger
	secrets []string

	rowsRead, rowsWritten, rowsRejected, bytesRead, bytesWritten atomic.Int64
	fast                                                         atomic.Bool
	// size is what a Sizer source said it holds (rows, bytes), for progress; sized is set
	// once it was asked.
	sizeRows, sizeBytes atomic.Int64
	sized               atomic.Bool

	// checkpoint is the last committed source position and the counters at that moment.
	checkpoint      connector.Position
	checkpointStats Stats
	// start is the counters this invocation started from.
	start Stats
	// committed is set once this invocation has flushed (or tried to: a failed flush may have
	// committed): a position the destination saved after that is its own, not where it
	// started.
	committed bool
	// schema is the table an attempt created with inferred types (Result.Schema).
	schema []SchemaColumn
	// sha256 is the digest of the object an object copy moved (Result.SHA256).
	sha256 string
}

// New prepares a transfer.
func New(opts Options) *Engine {
	if opts.Mode == "" {
		opts.Mode = connector.ModeAppend
	}
	if opts.CheckpointRows <= 0 {
		opts.CheckpointRows = 500_000
	}
	if opts.CheckpointInterval <= 0 {
		opts.CheckpointInterval = 10 * time.Second
	}
	if opts.Retries == 0 {
		opts.Retries = 3
	}
	if opts.RetryBase <= 0 {
		opts.RetryBase = time.Second
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	e := &Engine{opts: opts, log: log.With("run_id", opts.RunID)}
	e.secrets = append(redact.Secrets(opts.Source.URL), redact.Secrets(opts.Dest.URL)...)
	e.secrets = append(e.secrets, opts.Secrets...)
	initial := opts.Initial
	pos, st, ok := decodeCheckpoint(opts.Position)
	if ok {
		initial = st
	}
	if !opts.Resume || opts.Mode == connector.ModeReplace {
		pos, initial = nil, Stats{}
	}
	e.setStats(initial)
	e.checkpoint, e.checkpointStats, e.start = pos, initial, initial
	return e
}

// maxRejects is the limit in force, -1 for none.
func (e *Engine) maxRejects() int64 {
	switch {
	case e.opts.MaxRejects != nil:
		return *e.opts.MaxRejects
	case e.opts.Mode == connector.ModeReplace:
		return 0
	}
	return -1
}

// rewind goes back to the last checkpoint: the counters, and the rejects stored after it.
func (e *Engine) rewind(ctx context.Context) error {
	s := e.checkpointStats
	if rw, ok := e.opts.Rejects.(RejectRewinder); ok {
		kept, err := rw.Rewind(ctx, s.RowsRejected)
		if err != nil {
			return fmt.Errorf("rewind rejects to the checkpoint: %w", err)
		}
		s.RowsRejected = kept
	} else if e.opts.Rejects != nil {
		// What was stored stays stored: count it.
		s.RowsRejected = e.rowsRejected.Load()
	}
	e.setStats(s)
	return nil
}

// Stats returns the counters so far.
func (e *Engine) Stats() Stats {
	return Stats{
		RowsRead:     e.rowsRead.Load(),
		RowsWritten:  e.rowsWritten.Load(),
		RowsRejected: e.rowsRejected.Load(),
		BytesRead:    e.bytesRead.Load(),
		BytesWritten: e.bytesWritten.Load(),
	}
}

// Size is what the source said it holds before reading (see connector.Sizer): zero while
// not known. Like Stats, it may be called while Run runs.
func (e *Engine) Size() connector.Size {
	return connector.Size{Rows: e.sizeRows.Load(), Bytes: e.sizeBytes.Load()}
}

// measure asks a source that knows its size for it, once per run.
func (e *Engine) measure(ctx context.Context, src connector.Source) {
	sz, ok := src.(connector.Sizer)
	if !ok || e.sized.Swap(true) {
		return
	}
	if s, ok := sz.Size(ctx); ok {
		e.sizeRows.Store(s.Rows)
		e.sizeBytes.Store(s.Bytes)
	}
}

func (e *Engine) setStats(s Stats) {
	e.rowsRead.Store(s.RowsRead)
	e.rowsWritten.Store(s.RowsWritten)
	e.rowsRejected.Store(s.RowsRejected)
	e.bytesRead.Store(s.BytesRead)
	e.bytesWritten.Store(s.BytesWritten)
}

// errFallback asks the run loop to repeat an attempt through the generic path.
var errFallback = errors.New("fast path refused the data")

// Run performs the transfer. It never panics on bad input; every failure is in Result.Err.
func (e *Engine) Run(ctx context.Context) Result {
	res := Result{Started: time.Now()}
	e.log.Info("run started", "source", e.opts.Source.Redacted(), "dest", e.opts.Dest.Redacted(), "mode", e.opts.Mode)
	var err error
	res.Attempts, err = e.attempts(ctx)
	res.Finished = time.Now()
	res.Stats = e.Stats()
	if err != nil {
		// Only what the destination committed counts as read and written; the rejects are
		// those stored, which may include some of the uncommitted part (a resume drops them).
		rejected := res.RowsRejected
		res.Stats = e.checkpointStats
		res.RowsRejected = rejected
	}
	res.Part = res.minus(e.start)
	res.Resumed = e.opts.Resume && e.opts.Mode != connector.ModeReplace
	res.FastPath = e.fast.Load()
	res.Schema = e.schema
	res.SHA256 = e.sha256
	res.Position = encodeCheckpoint(e.checkpoint, e.checkpointStats)
	switch {
	case err == nil && res.RowsRejected > 0:
		res.Status = runstatus.Partial
	case err == nil:
		res.Status = runstatus.Succeeded
	case ctx.Err() != nil && errors.Is(err, ctx.Err()):
		res.Status = runstatus.Canceled
		res.Err = &scrubbed{msg: connector.CapText("canceled: "+e.scrub(err.Error()), connector.MaxErrorText), err: err}
	default:
		res.Status = runstatus.Failed
		res.Err = &scrubbed{msg: connector.CapText(e.scrub(err.Error()), connector.MaxErrorText), err: err}
	}
	e.log.Info("run finished", "status", res.Status, "rows_read", res.RowsRead, "rows_written", res.RowsWritten,
		"rows_rejected", res.RowsRejected, "duration", res.Duration(), "fast_path", res.FastPath)
	return res
}

// attempts runs attempt after attempt until one succeeds, fails for good or the retries are
// spent, and returns how many ran and the last one's error.
func (e *Engine) attempts(ctx context.Context) (int, error) {
	noFast := e.opts.NoFastPath
	resume := e.opts.Resume && e.opts.Mode != connector.ModeReplace
	if resume {
		if err := e.rewind(ctx); err != nil {
			return 0, err
		}
	}
	n, last := 0, ""
	for retry := 0; ; retry++ {
		n++
		err := e.attempt(ctx, resume, noFast)
		if errors.Is(err, errFallback) {
			e.log.Info("native stream refused a value; repeating through the generic path to isolate the bad records")
			noFast = true
			if err := e.rewind(ctx); err != nil {
				return n, err
			}
			retry--
			continue
		}
		if err == nil || ctx.Err() != nil || !connector.Retryable(err) || retry >= e.opts.Retries {
			return n, err
		}
		wait := e.backoff(retry)
		e.logRetry(retry, wait, err, &last)
		select {
		case <-ctx.Done():
			return n, ctx.Err()
		case <-time.After(wait):
		}
		// Restart from what is committed: the counters and the rejects go back to the
		// checkpoint too.
		if err := e.rewind(ctx); err != nil {
			return n, err
		}
		// Resume even without a checkpoint of ours: the destination may have committed a flush
		// whose acknowledgement was lost, and the position it saved says where that left off.
		resume = e.opts.Mode != connector.ModeReplace
	}
}

// logRetry says that a retryable failure is retried, and from where; an error that repeats
// the previous attempt's is not printed again (last holds its text).
func (e *Engine) logRetry(retry int, wait time.Duration, err error, last *string) {
	from := "retrying from the start"
	if e.checkpoint != nil {
		from = "retrying from the last checkpoint"
	}
	text := e.scrub(err.Error())
	shown := text
	if text == *last {
		shown = "the same error again"
	}
	*last = text
	e.log.Warn("retryable failure; "+from, "attempt", retry+1, "of", e.opts.Retries, "wait", wait, "err", shown)
}

func (s Stats) minus(o Stats) Stats {
	return Stats{RowsRead: s.RowsRead - o.RowsRead, RowsWritten: s.RowsWritten - o.RowsWritten,
		RowsRejected: s.RowsRejected - o.RowsRejected, BytesRead: s.BytesRead - o.BytesRead, BytesWritten: s.BytesWritten - o.BytesWritten}
}

func (e *Engine) backoff(attempt int) time.Duration {
	d := e.opts.RetryBase << min(attempt, 5)
	d = min(d, 30*time.Second)
	return d/2 + rand.N(d/2+1) //nolint:gosec // jitter, not security
}

func (e *Engine) scrub(s string) string { return redact.Scrub(s, e.secrets) }

// scrubbed carries an error whose text had secrets removed, keeping the chain for codes.
type scrubbed struct {
	msg string
	err error
}

func (s *scrubbed) Error() string { return s.msg }
func (s *scrubbed) Unwrap() error { return s.err }

// attempt runs the transfer once, from the last checkpoint when resume is set.
func (e *Engine) attempt(ctx context.Context, resume, noFast bool) (err error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if objectCopy(e.opts) {
		return e.copyObject(ctx)
	}

	src, err := connector.NewSource(ctx, e.opts.Source)
	if err != nil {
		return fmt.Errorf("source: %w", err)
	}
	defer func() { _ = src.Close(context.WithoutCancel(ctx)) }()
	// Replace restarts from scratch: the staging table of an earlier attempt is gone.
	if e.opts.Mode == connector.ModeReplace {
		resume = false
	}
	from := connector.Position(nil)
	if resume {
		from = e.checkpoint
	}
	if err := src.Open(ctx, from); err != nil {
		return fmt.Errorf("open source: %w", err)
	}
	e.measure(ctx, src)
	schema, err := src.Schema(ctx)
	if err != nil {
		return fmt.Errorf("source schema: %w", err)
	}
	plan, err := e.opts.Mapping.Apply(schema)
	if err != nil {
		return connector.Errorf(connector.CodeSchema, e.opts.Source.Redacted(), "fix the --map rules", err)
	}
	dstSchema := plan.Schema()
	if len(e.opts.Key) > 0 {
		for _, k := range e.opts.Key {
			if dstSchema.Index(k) < 0 {
				return connector.Errorf(connector.CodeUsage, e.opts.Dest.Redacted(), "",
					fmt.Errorf("key column %q is not among the destination columns (%s)", k, joinNames(dstSchema.Names())))
			}
		}
		dstSchema.Key = slices.Clone(e.opts.Key)
	}

	sink, err := connector.NewSink(ctx, e.opts.Dest)
	if err != nil {
		return fmt.Errorf("destination: %w", err)
	}
	defer func() { _ = sink.Close(context.WithoutCancel(ctx)) }()
	src, inf, err := e.inferTypes(ctx, src, sink, plan, &dstSchema, from)
	if err != nil {
		return err
	}
	target, err := sink.Open(ctx, dstSchema, connector.SinkOptions{Mode: e.opts.Mode, Key: dstSchema.Key, RunID: e.opts.RunID})
	if err != nil {
		return fmt.Errorf("open destination: %w", err)
	}
	if inf != nil && !sink.(connector.TableCreator).Created() {
		inf = nil // the table existed: its own types rule, as without inference
	}
	if inf != nil {
		e.schema = inferredSchema(target)
		e.log.Info("created the destination table with column types inferred from the source", "records", inf.sample, "columns", describeColumns(e.schema))
	}

	// A sink that keeps positions with its rows knows best where a resumed run stands.
	if ps, ok := sink.(connector.PositionStore); ok && resume {
		saved, err := ps.SavedPosition(ctx)
		if err != nil {
			return fmt.Errorf("read saved position: %w", err)
		}
		savedPos, savedStats, withStats := decodeCheckpoint(saved)
		if saved != nil && !bytes.Equal(savedPos, from) {
			e.log.Info("resuming from the position saved in the destination")
			_ = src.Close(ctx)
			if src, err = connector.NewSource(ctx, e.opts.Source); err != nil {
				return fmt.Errorf("source: %w", err)
			}
			if err := src.Open(ctx, savedPos); err != nil {
				return fmt.Errorf("reopen source at saved position: %w", err)
			}
			e.checkpoint, from = savedPos, savedPos
			if withStats {
				// The destination committed more than the transaction log heard of.
				e.checkpointStats = savedStats
				if !e.committed {
					// This invocation starts from there: its part is what it adds to that.
					e.start = savedStats
				}
			}
			if err := e.rewind(ctx); err != nil {
				return err
			}
		}
	}
	if !noFast && from == nil && plan.Identity() {
		if done, err := e.tryFast(ctx, src, sink, plan, target); done || err != nil {
			return err
		}
	}
	nr, _ := sink.(connector.NULRefuser)
	conv, err := newConverter(plan, target, nr != nil && nr.RefusesNUL())
	if err != nil {
		return err
	}
	conv.inferred(inf)
	return e.generic(ctx, src, sink, conv)
}

// tryFast streams the source's native format into the sink when both speak it and no value
// needs converting. done is false when the fast path does not apply.
func (e *Engine) tryFast(ctx context.Context, src connector.Source, sink connector.Sink, plan *transform.Plan, target connector.Schema) (done bool, err error) {
	rs, ok := src.(connector.RawSource)
	if !ok {
		return false, nil
	}
	rk, ok := sink.(connector.RawSink)
	if !ok {
		return false, nil
	}
	for i, c := range plan.Columns {
		if !plan.Source.Columns[c.Src].SameType(target.Columns[i]) {
			return false, nil
		}
	}
	cols := plan.SourceNames()
	format := rs.RawFormat(cols)
	if format == "" || !rk.AcceptsRaw(format) {
		return false, nil
	}
	e.fast.Store(true)
	e.log.Info("streaming natively", "format", format)

	parent := ctx
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	pr, pw := io.Pipe()
	readErr := make(chan error, 1)
	var readRows int64
	go func() {
		n, err := rs.ReadRaw(ctx, cols, &countingWriter{w: pw, n: &e.bytesRead})
		readRows = n
		_ = pw.CloseWithError(err)
		readErr <- err
	}()
	written, werr := rk.WriteRaw(ctx, format, pr)
	if werr != nil {
		cancel()
	}
	_ = pr.CloseWithError(errors.Join(werr, io.ErrClosedPipe))
	rerr := <-readErr
	if werr != nil {
		if connector.CodeOf(werr) == connector.CodeData && parent.Err() == nil {
			e.fast.Store(false)
			return true, errFallback
		}
		return true, fmt.Errorf("write destination: %w", werr)
	}
	if rerr != nil {
		return true, fmt.Errorf("read source: %w", rerr)
	}
	if readRows != written {
		return true, connector.Errorf(connector.CodeInternal, e.opts.Dest.Redacted(), "",
			fmt.Errorf("native stream read %d rows but wrote %d", readRows, written))
	}
	e.rowsRead.Add(readRows)
	e.rowsWritten.Add(written)
	e.bytesWritten.Store(e.bytesRead.Load())
	if err := sink.Flush(ctx, nil); err != nil {
		return true, fmt.Errorf("flush destination: %w", err)
	}
	if err := sink.Commit(ctx); err != nil {
		return true, fmt.Errorf("commit destination: %w", err)
	}
	return true, nil
}

type countingWriter struct {
	w io.Writer
	n *atomic.Int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n.Add(int64(n))
	return n, err
}

// prepared is a converted batch on its way from the reader goroutine to the writer.
type prepared struct {
	batch *connector.Batch
	// records holds the source record number of each row of batch.
	records []int64
	rejects []stagedReject
	read    int64
	ack     connector.AckFunc
	err     error
}

type stagedReject struct {
	stage string
	r     connector.Reject
}

// generic reads, converts and writes batch by batch. Reading and converting run in their own
// goroutine so that parsing overlaps the sink's work.
//
// A batch is acknowledged to its source only once the flush (append, upsert) or the commit
// (replace) that covers it has returned; when the attempt ends otherwise, every batch read and
// not yet acknowledged is nacked with the error.
func (e *Engine) generic(ctx context.Context, src connector.Source, sink connector.Sink, conv *converter) (err error) {
	parent := ctx
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ch := make(chan prepared, 2)
	stop := make(chan struct{})
	go e.readBatches(ctx, src, conv, ch, stop)

	var acks pendingAcks
	defer func() {
		if err == nil {
			return
		}
		// Stop the reader and collect what it read ahead: those batches were never written.
		// Only a source that acknowledges is worth waiting for (a Read that ignores its
		// context, such as one on standard input, must not hold up the run's end), and then
		// only for so long: what is never nacked is delivered again all the same.
		cancel()
		acks.collect(ch, stop)
		cause := err
		if parent.Err() != nil {
			cause = parent.Err()
		}
		acks.nack(parent, cause, e.log.Warn)
	}()

	w := &batchWriter{e: e, sink: sink, conv: conv, baseBytes: e.bytesWritten.Load()}
	w.meter, _ = sink.(connector.Meter)
	maxRows, every := e.pace(src)
	canFlush := e.opts.Mode != connector.ModeReplace
	var (
		sinceFlush int64
		lastPos    connector.Position
		timer      = time.NewTimer(every)
	)
	defer timer.Stop()
	flush := func() error {
		if err := e.flush(ctx, sink, lastPos); err != nil {
			return err
		}
		sinceFlush = 0
		timer.Reset(every)
		return acks.ack(ctx)
	}
	for {
		// A source that stops sending (a quiet topic) still gets its last batches acked once
		// the checkpoint interval has passed.
		var due <-chan time.Time
		if canFlush && sinceFlush > 0 {
			due = timer.C
		}
		var p prepared
		select {
		case <-due:
			if err := flush(); err != nil {
				return err
			}
			continue
		case q, ok := <-ch:
			if !ok {
				return e.finish(ctx, sink, lastPos, &acks)
			}
			p = q
		}
		if p.err != nil {
			return p.err
		}
		// From here the batch is ours to settle, whatever happens to the write.
		acks.add(p.ack)
		if err := w.write(ctx, p); err != nil {
			return err
		}
		if p.batch.Pos != nil {
			lastPos = p.batch.Pos
		}
		// Only batches a resume can skip count towards a flush: with a position, or with an
		// acknowledgement that tells the source not to send them again. A source with neither
		// starts again from the beginning, so committing part of it would duplicate rows.
		if p.batch.Pos != nil || needsAck(p.ack) {
			sinceFlush += p.read
		}
		if canFlush && sinceFlush > 0 && (sinceFlush >= maxRows || timerFired(timer)) {
			if err := flush(); err != nil {
				return err
			}
		}
	}
}

// timerFired reports whether the flush interval has passed, without waiting.
func timerFired(t *time.Timer) bool {
	select {
	case <-t.C:
		return true
	default:
		return false
	}
}

// rowRecords numbers the good rows of b, whose records start at first: the records the
// source rejected (numbered by the source) keep their numbers, so a row after a read reject
// is not given the reject's number.
func rowRecords(first int64, b *connector.Batch) []int64 {
	last := first + int64(len(b.Rows)+len(b.Rejects)) - 1
	var taken map[int64]bool
	for _, r := range b.Rejects {
		if r.Record >= first && r.Record <= last {
			if taken == nil {
				taken = make(map[int64]bool, len(b.Rejects))
			}
			taken[r.Record] = true
		}
	}
	out := make([]int64, len(b.Rows))
	next := first
	for i := range out {
		for taken[next] {
			next++
		}
		out[i] = next
		next++
	}
	return out
}

// readBatches reads and converts batches until the end of the input, an error or ctx's end,
// and closes ch. Every batch read is sent, even after cancellation, so that the writer can
// settle its acknowledgement, unless the writer closed stop: it no longer listens.
func (e *Engine) readBatches(ctx context.Context, src connector.Source, conv *converter, ch chan<- prepared, stop <-chan struct{}) {
	defer close(ch)
	record := e.rowsRead.Load() + 1
	for {
		b, ack, err := src.Read(ctx)
		if errors.Is(err, connector.ErrEndOfInput) {
			return
		}
		if err != nil {
			select {
			case ch <- prepared{err: fmt.Errorf("read source: %w", err)}:
			case <-stop:
			}
			return
		}
		p := prepared{ack: ack, read: int64(len(b.Rows) + len(b.Rejects))}
		for _, r := range b.Rejects {
			p.rejects = append(p.rejects, stagedReject{"read", r})
		}
		var convRejects []connector.Reject
		p.batch, p.records, convRejects = conv.convertBatch(b, rowRecords(record, b))
		for _, r := range convRejects {
			p.rejects = append(p.rejects, stagedReject{"convert", r})
		}
		record += p.read
		select {
		case ch <- p:
		case <-stop:
			return
		}
		if ctx.Err() != nil {
			return
		}
	}
}

// batchWriter writes converted batches to the sink, quarantining the rows it refuses, and
// keeps the written counters.
type batchWriter struct {
	e         *Engine
	sink      connector.Sink
	conv      *converter
	meter     connector.Meter
	baseBytes int64
}

func (w *batchWriter) write(ctx context.Context, p prepared) error {
	e := w.e
	e.rowsRead.Add(p.read)
	e.bytesRead.Add(p.batch.Bytes)
	for _, sr := range p.rejects {
		if err := e.reject(ctx, sr.stage, sr.r); err != nil {
			return err
		}
	}
	written := int64(len(p.batch.Rows))
	if written > 0 {
		if err := w.sink.Write(ctx, p.batch); err != nil {
			var rerrs connector.RecordErrors
			if !errors.As(err, &rerrs) {
				return fmt.Errorf("write destination: %w", err)
			}
			for _, re := range rerrs {
				r := connector.Reject{Record: p.records[re.Index], Column: re.Column, Reason: re.Err.Error(), Data: w.conv.targetData(p.batch.Rows[re.Index])}
				if p.batch.Lines != nil {
					r.Line = p.batch.Lines[re.Index]
				}
				if err := e.reject(ctx, "write", r); err != nil {
					return err
				}
			}
			written -= int64(len(rerrs))
		}
	}
	e.rowsWritten.Add(written)
	if w.meter != nil {
		e.bytesWritten.Store(w.baseBytes + w.meter.BytesWritten())
	} else if r := e.rowsRead.Load(); r > 0 {
		e.bytesWritten.Store(e.bytesRead.Load() * e.rowsWritten.Load() / r)
	}
	return nil
}

// finish makes the end of the input durable: the last flush, then the commit. The pending
// batches are acknowledged after whichever of the two makes them durable in the mode.
func (e *Engine) finish(ctx context.Context, sink connector.Sink, lastPos connector.Position, acks *pendingAcks) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	e.committed = true
	if err := sink.Flush(ctx, encodeCheckpoint(lastPos, e.Stats())); err != nil {
		return fmt.Errorf("flush destination: %w", err)
	}
	if e.opts.Mode != connector.ModeReplace {
		if lastPos != nil {
			e.checkpoint, e.checkpointStats = lastPos, e.Stats()
		}
		if err := acks.ack(ctx); err != nil {
			return err
		}
	}
	if err := sink.Commit(ctx); err != nil {
		return fmt.Errorf("commit destination: %w", err)
	}
	if lastPos != nil {
		e.checkpoint, e.checkpointStats = lastPos, e.Stats()
	}
	return acks.ack(ctx)
}

// flush commits the sink and records the checkpoint.
func (e *Engine) flush(ctx context.Context, sink connector.Sink, pos connector.Position) error {
	s := e.Stats()
	e.committed = true // even a flush that fails may have committed
	if err := sink.Flush(ctx, encodeCheckpoint(pos, s)); err != nil {
		return fmt.Errorf("flush destination: %w", err)
	}
	// What is committed counts even without a position (a source that resumes through its
	// acknowledgements alone): a failed run reports it, a retry starts counting after it.
	e.checkpointStats = s
	if pos == nil {
		return nil
	}
	e.checkpoint = pos
	if e.opts.OnCheckpoint != nil {
		if err := e.opts.OnCheckpoint(ctx, encodeCheckpoint(pos, s), s); err != nil {
			return fmt.Errorf("record checkpoint: %w", err)
		}
	}
	return nil
}

func (e *Engine) reject(ctx context.Context, stage string, r connector.Reject) error {
	r.Reason = connector.CapText(e.scrub(r.Reason), connector.MaxErrorText)
	if e.opts.Rejects != nil {
		if err := e.opts.Rejects.Reject(ctx, stage, r); err != nil {
			return fmt.Errorf("store reject: %w", err)
		}
	}
	n := e.rowsRejected.Add(1)
	if limit := e.maxRejects(); limit >= 0 && n > limit {
		return e.tooManyRejects(limit, r)
	}
	return nil
}

// tooManyRejects is the failure of a run whose rejects passed the limit, quoting the reject
// that did.
func (e *Engine) tooManyRejects(limit int64, r connector.Reject) error {
	at := fmt.Sprintf("record %d", r.Record)
	if r.Line > 0 {
		at += fmt.Sprintf(" (line %d)", r.Line)
	}
	if r.Column != "" {
		at += ", column " + r.Column
	}
	if e.opts.Mode == connector.ModeReplace && e.opts.MaxRejects == nil {
		return connector.Errorf(connector.CodeData, e.opts.Dest.Redacted(),
			"a replace allows no rejects unless told how many: fix the data, or give --max-rejects N (spec.maxRejects) to swap in what is left",
			fmt.Errorf("replace kept the old content: %s was rejected: %s", at, r.Reason))
	}
	kept := ""
	if e.opts.Mode == connector.ModeReplace {
		kept = "replace kept the old content: "
	}
	return connector.Errorf(connector.CodeData, e.opts.Dest.Redacted(),
		"see the rejects for the reasons; raise --max-rejects (spec.maxRejects) to accept more",
		fmt.Errorf("%smore than %d records rejected; the last, %s: %s", kept, limit, at, r.Reason))
}

func joinNames(names []string) string {
	var b bytes.Buffer
	for i, n := range names {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(n)
	}
	return b.String()
}
