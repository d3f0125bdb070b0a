package bus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"regexp"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/datahub-oss/datahub/connector"
	"github.com/datahub-oss/datahub/internal/errcode"
)

// RunRequest asks a worker to run an integration once. It is the JSON body of a message on
// datahub.runs.<integration>.
type RunRequest struct {
	RunID       string `json:"run_id"`
	Integration string `json:"integration"`
	Env         string `json:"env,omitempty"`
	RequestedBy string `json:"requested_by,omitempty"`
	// Requester is the user who asked for the run (API and CLI runs); Trigger is the trigger
	// that started it (schedule, file, webhook, event), whose runs carry the rights of the
	// integration's author. The worker checks those rights before it runs.
	Requester   string            `json:"requester,omitempty"`
	Trigger     string            `json:"trigger,omitempty"`
	RequestedAt time.Time         `json:"requested_at"`
	Attempt     int               `json:"attempt,omitempty"`
	Params      map[string]string `json:"params,omitempty"`
	// RequestID, when set, is the message id instead of RunID: a resume of a run is a new
	// request for the same run, which the duplicate window must not drop.
	RequestID string `json:"request_id,omitempty"`
}

// nameRE is what an integration or environment name may be: a single subject token and a valid
// KV key part, so it can name both the run subject and the lease.
var nameRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,128}$`)

func (r RunRequest) validate() error {
	if r.RunID == "" {
		return errors.New("run request has no run id")
	}
	if !nameRE.MatchString(r.Integration) {
		return fmt.Errorf("run request: integration name %q must be 1-128 letters, digits, '_' or '-'", r.Integration)
	}
	if r.Env != "" && !nameRE.MatchString(r.Env) {
		return fmt.Errorf("run request: environment %q must be 1-128 letters, digits, '_' or '-'", r.Env)
	}
	return nil
}

// EnqueueRun puts a run request on the work queue and returns once JetStream has stored it
// (and, on the embedded server, synced it to disk). The run id is the message id, so enqueuing
// the same run again within the duplicate window (2 minutes) stores nothing and is not an error.
func (b *Bus) EnqueueRun(ctx context.Context, r RunRequest) error {
	if b.isClosed() {
		return ErrClosed
	}
	if err := r.validate(); err != nil {
		return connector.Errorf(connector.CodeUsage, "", "", err)
	}
	if r.RequestedAt.IsZero() {
		r.RequestedAt = time.Now().UTC()
	}
	data, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("enqueue run %s: %w", r.RunID, err)
	}
	msg := &nats.Msg{Subject: b.names.runSubj + "." + r.Integration, Data: data, Header: nats.Header{}}
	id := r.RunID
	if r.RequestID != "" {
		id = r.RequestID
	}
	ack, err := b.js.PublishMsg(ctx, msg, jetstream.WithMsgID(id), jetstream.WithExpectStream(b.names.runs))
	if err != nil {
		return errcode.Errorf(errcode.Unavailable, b.where, "", fmt.Errorf("enqueue run %s of %s: %w", r.RunID, r.Integration, err))
	}
	if ack.Duplicate {
		b.log.Debug("run already enqueued", "run", r.RunID, "integration", r.Integration)
	}
	return nil
}

// maxQueuedScan bounds QueuedRunIDs: a queue longer than that is not scanned.
const maxQueuedScan = 100_000

// QueuedRunIDs returns the run ids of the requests on the work queue: those waiting and those
// a worker is executing (a request leaves the queue only when its run has finished). A run not
// in it is owned by no process. It reads the stream's messages one by one (the queue holds
// unfinished runs only) and gives up past maxQueuedScan.
func (b *Bus) QueuedRunIDs(ctx context.Context) (map[string]bool, error) {
	if b.isClosed() {
		return nil, ErrClosed
	}
	st, err := b.js.Stream(ctx, b.names.runs)
	if err != nil {
		return nil, errcode.Errorf(errcode.Unavailable, b.where, "", fmt.Errorf("runs stream: %w", err))
	}
	ids := map[string]bool{}
	for seq := uint64(1); len(ids) < maxQueuedScan; {
		m, err := st.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(b.names.runSubj+".>"))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return ids, nil
		}
		if err != nil {
			return nil, errcode.Errorf(errcode.Unavailable, b.where, "", fmt.Errorf("read the runs stream at %d: %w", seq, err))
		}
		var r RunRequest
		if json.Unmarshal(m.Data, &r) == nil && r.RunID != "" {
			ids[r.RunID] = true
		}
		seq = m.Sequence + 1
	}
	return nil, fmt.Errorf("the work queue holds more than %d requests: not scanned", maxQueuedScan)
}

// ConsumerConfig sets up the shared pull consumer that workers take run requests from.
type ConsumerConfig struct {
	// Durable names the consumer; every process using the same name shares its messages, each
	// going to exactly one of them. Default "datahub-workers".
	Durable string
	// AckWait is how long a delivered message may go without Ack, Nak or InProgress before it
	// is delivered again (default 60s). With Backoff set, the server uses Backoff instead.
	AckWait time.Duration
	// MaxDeliver caps deliveries of one message (default 5); after that it stays in the stream
	// but is not delivered again. Naks count, including the lease helper's.
	MaxDeliver int
	// Backoff, if set, is the redelivery delay after the 1st, 2nd, ... failed delivery (the
	// server then ignores AckWait); it is also the delay of the Nak that follows a handler
	// error. Without it (and without RetryBase) a failed message is redelivered at once.
	Backoff []time.Duration
	// RetryBase and RetryMax, when Backoff is not set, make the Nak after a handler error
	// exponential with jitter: RetryBase doubled per failed delivery, capped at RetryMax.
	RetryBase, RetryMax time.Duration
	// ParkAfter parks a request whose handler failed after that many deliveries (0: never): it
	// is reported (an error line, once per WarnEvery) and then offered again every ParkDelay
	// (default 5 minutes) rather than dropped, so it runs once what it waits for (the store)
	// is back. A parked run stays queued and visible in the transaction log meanwhile.
	ParkAfter int
	ParkDelay time.Duration
	// OnPark, if set, is told once when a request is parked (its ParkAfter-th failure), with
	// the handler's last error, so that the hub can report it beyond its log (an event that
	// notification rules see).
	OnPark func(ctx context.Context, m *RunMessage, err error)
	// WarnEvery bounds the "run handler failed" warnings: one line per interval with the
	// count of the others (default 1 minute).
	WarnEvery time.Duration
	// MaxAckPending caps the messages delivered and not yet settled across all processes
	// sharing the consumer (default: the server's, 1000). It is the consumer's, so the last
	// process to start sets it for everyone.
	MaxAckPending int
	// Concurrency is how many handlers this process runs at once (default MaxAckPending if
	// set, else 1). Each handler pulls one message when it is free, so nothing waits in a
	// client buffer while its AckWait runs out.
	Concurrency int
	// Heartbeat makes ConsumeRuns call KeepAlive around every handler, so a message is never
	// redelivered while its handler runs; a hung handler then holds its message until the
	// process dies, so the handler must bound its own run time.
	Heartbeat bool
}

func (c *ConsumerConfig) defaults() {
	if c.Durable == "" {
		c.Durable = "datahub-workers"
	}
	if c.AckWait <= 0 {
		c.AckWait = 60 * time.Second
	}
	if c.MaxDeliver == 0 {
		c.MaxDeliver = 5
	}
	if c.Concurrency <= 0 {
		c.Concurrency = max(c.MaxAckPending, 1)
	}
	if c.ParkDelay <= 0 {
		c.ParkDelay = 5 * time.Minute
	}
	if c.WarnEvery <= 0 {
		c.WarnEvery = time.Minute
	}
}

// failureDelay is how long after its n-th failed delivery a request is offered again, and
// whether that parks it (n reached ParkAfter).
func (c ConsumerConfig) failureDelay(n uint64) (time.Duration, bool) {
	if c.ParkAfter > 0 && n >= uint64(c.ParkAfter) { //nolint:gosec // positive
		return c.ParkDelay, true
	}
	if len(c.Backoff) > 0 || c.RetryBase <= 0 {
		return retryDelay(c.Backoff, n), false
	}
	d := c.RetryBase
	for i := uint64(1); i < n && (c.RetryMax <= 0 || d < c.RetryMax); i++ {
		d *= 2
	}
	if c.RetryMax > 0 {
		d = min(d, c.RetryMax)
	}
	// Up to 20 % jitter, so that the requests failing together do not come back together.
	return d + rand.N(d/5+1), false //nolint:gosec // jitter, not security
}

// RunHandler processes one run request. Returning nil without settling the message acks it;
// returning an error without settling naks it (with the Backoff delay), unless the consumer is
// stopping (ctx cancelled): the message is then left alone and redelivered after AckWait, to
// this or another worker, as if this process had died.
type RunHandler func(ctx context.Context, m *RunMessage) error

// fetchWait is how long one pull request waits for a message before the next is sent.
const fetchWait = 5 * time.Second

// ConsumeRuns takes run requests from the work queue and runs handler on each, with up to
// cfg.Concurrency at once, until ctx is cancelled or the Bus is closed; then it waits for the
// running handlers (whose contexts are cancelled too) and returns ctx.Err() or ErrClosed.
func (b *Bus) ConsumeRuns(ctx context.Context, cfg ConsumerConfig, handler RunHandler) error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return ErrClosed
	}
	b.active.Add(1)
	b.mu.Unlock()
	defer b.active.Done()

	cfg.defaults()
	cons, err := b.js.CreateOrUpdateConsumer(ctx, b.names.runs, jetstream.ConsumerConfig{
		Durable:       cfg.Durable,
		Description:   "Data Hub workers",
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       cfg.AckWait,
		MaxDeliver:    cfg.MaxDeliver,
		BackOff:       cfg.Backoff,
		MaxAckPending: cfg.MaxAckPending,
		DeliverPolicy: jetstream.DeliverAllPolicy,
	})
	if err != nil {
		return errcode.Errorf(errcode.Unavailable, b.where, "", fmt.Errorf("create consumer %s on %s: %w", cfg.Durable, b.names.runs, err))
	}
	// The server replaces AckWait with Backoff[0] when Backoff is set: heartbeat on that.
	ackWait := cons.CachedInfo().Config.AckWait

	warn := newThrottledLog(cfg.WarnEvery)
	return b.pullLoop(ctx, cons, cfg.Concurrency, "pull run request", func(ctx context.Context, msg jetstream.Msg) {
		b.handle(ctx, msg, cfg, ackWait, warn, handler)
	})
}

// pause logs a pull failure (the connection is down, the consumer was deleted...) and waits a
// little before the next try, so a broken server is not hammered.
func (b *Bus) pause(ctx context.Context, what string, err error) {
	if ctx.Err() != nil {
		return
	}
	b.pauseLog.Warn(ctx, b.log, what, "err", err)
	t := time.NewTimer(time.Second)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

func (b *Bus) handle(ctx context.Context, msg jetstream.Msg, cfg ConsumerConfig, ackWait time.Duration, warn *throttledLog, handler RunHandler) {
	m := &RunMessage{msg: msg, ackWait: ackWait, log: b.log}
	if md, err := msg.Metadata(); err == nil {
		m.meta = *md
	}
	if err := json.Unmarshal(msg.Data(), &m.Request); err != nil || m.Request.validate() != nil {
		// A message no worker can read would fail on every delivery: drop it now.
		b.log.Error("unreadable run request dropped", "subject", msg.Subject(), "seq", m.meta.Sequence.Stream)
		_ = m.Term("unreadable run request")
		return
	}
	if ctx.Err() != nil {
		// Fetched as the consumer stopped: hand it straight back rather than let it wait
		// out its AckWait.
		// A short delay: at once, the server could hand it to another of this process's
		// pending pulls, which are going away too.
		_ = m.Nak(time.Second)
		return
	}
	stop := func() {}
	if cfg.Heartbeat {
		stop = m.KeepAlive(ctx)
	}
	err := callHandler(ctx, handler, m)
	stop()
	if m.settled.Load() {
		return
	}
	switch {
	case err == nil:
		// Done, even if the consumer is stopping meanwhile: ack past the cancellation.
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		if aerr := m.Ack(actx); aerr != nil {
			b.log.Warn("ack run request", "run", m.Request.RunID, "err", aerr)
		}
		cancel()
	case ctx.Err() != nil:
		// Stopping: leave it for redelivery after AckWait, as if this process had died.
	default:
		delay, parked := cfg.failureDelay(m.Delivered())
		if parked && m.Delivered() == uint64(cfg.ParkAfter) && cfg.OnPark != nil { //nolint:gosec // ParkAfter is positive when parked
			cfg.OnPark(ctx, m, err)
		}
		if parked {
			warn.Log(ctx, b.log, slog.LevelError, "run request parked: it failed on every delivery; it is offered again every park delay until it runs",
				"run", m.Request.RunID, "integration", m.Request.Integration, "deliveries", m.Delivered(), "park_delay", delay, "err", err)
		} else {
			warn.Warn(ctx, b.log, "run handler failed; the request is offered again after a delay",
				"run", m.Request.RunID, "integration", m.Request.Integration, "delivery", m.Delivered(), "retry_in", delay, "err", err)
		}
		if nerr := m.Nak(delay); nerr != nil {
			b.log.Warn("nak run request", "run", m.Request.RunID, "err", nerr)
		}
	}
}

// callHandler turns a handler's panic into an error, so one bad run cannot kill the worker.
func callHandler(ctx context.Context, h RunHandler, m *RunMessage) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("run handler panicked: %v\n%s", p, debug.Stack())
		}
	}()
	return h(ctx, m)
}

// retryDelay is the back-off after the n-th delivery failed (the last entry repeats).
func retryDelay(backoff []time.Duration, delivered uint64) time.Duration {
	if len(backoff) == 0 || delivered < 1 {
		return 0
	}
	n := uint64(1)
	for _, d := range backoff {
		if n >= delivered {
			return d
		}
		n++
	}
	return backoff[len(backoff)-1]
}

// RunMessage is a delivered run request. Settle it once with Ack, Nak or Term (or let
// ConsumeRuns do it from the handler's result).
type RunMessage struct {
	Request RunRequest

	msg     jetstream.Msg
	meta    jetstream.MsgMetadata
	ackWait time.Duration
	log     *slog.Logger
	settled atomic.Bool
}

// Delivered is how many times this message has been delivered, this time included. It is
// the broker's count, which starts again when a NATS server restarts: whether a run resumes
// is for the run's own record to say, not for this.
func (m *RunMessage) Delivered() uint64 { return m.meta.NumDelivered }

// Redelivered reports whether an earlier delivery of this run request was not acked.
func (m *RunMessage) Redelivered() bool { return m.meta.NumDelivered > 1 }

// Sequence is the message's sequence in the runs stream.
func (m *RunMessage) Sequence() uint64 { return m.meta.Sequence.Stream }

// Enqueued is when JetStream stored the request.
func (m *RunMessage) Enqueued() time.Time { return m.meta.Timestamp }

// AckWait is the consumer's ack deadline: the message is redelivered if it is neither settled
// nor marked in progress within it.
func (m *RunMessage) AckWait() time.Duration { return m.ackWait }

// InProgress tells the server the run is still going: the ack deadline starts again.
func (m *RunMessage) InProgress() error {
	if err := m.msg.InProgress(); err != nil {
		return fmt.Errorf("run %s in progress: %w", m.Request.RunID, err)
	}
	return nil
}

// Ack removes the request from the queue: the run is done (succeeded, or failed for good and
// recorded). It waits for the server's confirmation, so a nil error means no redelivery.
func (m *RunMessage) Ack(ctx context.Context) error {
	m.settled.Store(true)
	if err := m.msg.DoubleAck(ctx); err != nil {
		return fmt.Errorf("ack run %s: %w", m.Request.RunID, err)
	}
	return nil
}

// Nak asks for redelivery after delay (0: at once). It counts as a delivery toward MaxDeliver.
func (m *RunMessage) Nak(delay time.Duration) error {
	m.settled.Store(true)
	var err error
	if delay > 0 {
		err = m.msg.NakWithDelay(delay)
	} else {
		err = m.msg.Nak()
	}
	if err != nil {
		return fmt.Errorf("nak run %s: %w", m.Request.RunID, err)
	}
	return nil
}

// Term drops the request for good: it will not be delivered again. reason is logged.
func (m *RunMessage) Term(reason string) error {
	m.settled.Store(true)
	m.log.Info("run request terminated", "run", m.Request.RunID, "reason", reason)
	if err := m.msg.Term(); err != nil {
		return fmt.Errorf("terminate run %s: %w", m.Request.RunID, err)
	}
	return nil
}

// KeepAlive calls InProgress every AckWait/3 until stop is called (or ctx is done), so a long
// transfer is not redelivered to another worker while this one is alive. Call stop before
// settling the message:
//
//	stop := m.KeepAlive(ctx)
//	err := engine.Run(ctx, ...)
//	stop()
func (m *RunMessage) KeepAlive(ctx context.Context) (stop func()) {
	interval := max(m.ackWait/3, 10*time.Millisecond)
	done := make(chan struct{})
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			// The first one at once: the message may have waited (in the client, or behind a
			// busy server) for part of its AckWait already.
			if m.settled.Load() {
				return
			}
			if err := m.InProgress(); err != nil {
				m.log.Debug("heartbeat", "run", m.Request.RunID, "err", err)
			}
			select {
			case <-ctx.Done():
				return
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() { close(done) })
		<-exited
	}
}
