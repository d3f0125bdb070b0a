// Package worker executes queued runs: it pulls run requests from the bus, takes the
// integration's concurrency lease, resolves the integration with its secrets, runs the engine
// (resuming from the run's checkpoint when a request is redelivered after a worker died),
// heartbeats while it runs, watches for cancellation and records everything in the
// transaction log.
package worker

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/datahub-oss/datahub/internal/bus"
	"github.com/datahub-oss/datahub/internal/catalog"
	"github.com/datahub-oss/datahub/internal/engine"
	"github.com/datahub-oss/datahub/internal/event"
	"github.com/datahub-oss/datahub/internal/policy"
	"github.com/datahub-oss/datahub/internal/runs"
	"github.com/datahub-oss/datahub/internal/runstatus"
	"github.com/datahub-oss/datahub/internal/txlog"
)

// Worker runs queued transfers.
type Worker struct {
	Bus      *bus.Bus
	Catalog  *catalog.Service
	Secrets  runs.Resolver
	Log      *txlog.Log
	DataDir  string
	Logger   *slog.Logger
	Parallel int
	// AckWait is how long a dead worker's run waits before another worker takes it over.
	AckWait time.Duration
	// CancelPoll is how often a running transfer checks whether it was cancelled.
	CancelPoll time.Duration
	// LeaseTTL bounds how long a dead worker keeps its integration blocked.
	LeaseTTL time.Duration
	// CheckpointRows is how many rows a run copies between two commits (0: the engine's
	// default); a run taken over from a dead worker restarts from its last commit.
	CheckpointRows int64
	// RetryBase is the first delay before a request whose handling failed is offered again
	// (default 1 s; it doubles per failure up to a minute); ParkDelay how often a parked one is
	// (default 5 minutes).
	RetryBase, ParkDelay time.Duration
	// ParkAfter is how many failed deliveries park a run request (default 15: with the default
	// back-off, about ten minutes of failures); parking is reported as a run.parked event.
	ParkAfter int
	// Owner names this worker in leases and logs.
	Owner string
	// Policy is the policy step every run passes before the engine opens anything: the
	// requester's rights, the endpoints' confinement, the secret references' privileges. The
	// hub always sets it; nil (tests of other parts) checks nothing.
	Policy *policy.Policy

	host string
	pid  int
}

// Run consumes run requests until ctx ends. A run interrupted by ctx keeps its checkpoint and
// its request is redelivered to a worker (here after restart, or another process).
func (w *Worker) Run(ctx context.Context) error {
	if w.Logger == nil {
		w.Logger = slog.New(slog.DiscardHandler)
	}
	if w.CancelPoll <= 0 {
		w.CancelPoll = time.Second
	}
	if w.AckWait <= 0 {
		w.AckWait = 30 * time.Second
	}
	w.host, _ = os.Hostname()
	w.pid = os.Getpid()
	if w.Owner == "" {
		w.Owner = fmt.Sprintf("%s:%d", w.host, w.pid)
	}
	return w.Bus.ConsumeRuns(ctx, bus.ConsumerConfig{
		AckWait: w.AckWait, MaxDeliver: -1, Concurrency: max(w.Parallel, 1), MaxAckPending: 1000, Heartbeat: true,
		// A request that cannot be handled (the store is down) backs off rather than spin,
		// and is parked, never dropped: it runs once the store is back.
		RetryBase: w.retryBase(), RetryMax: time.Minute, ParkAfter: cmp.Or(w.ParkAfter, parkAfter), ParkDelay: w.ParkDelay,
		OnPark: w.parked,
	}, w.handle)
}

// parked reports a run request that failed on every delivery as a run.parked event, for the
// notification rules of the people who run the hub: the log alone is easy to miss. The event
// is built from the request, since the store it failed on may be what is down.
func (w *Worker) parked(ctx context.Context, m *bus.RunMessage, err error) {
	req := m.Request
	run := txlog.Run{ID: req.RunID, Integration: req.Integration, Env: req.Env, RequestedBy: req.RequestedBy,
		Error: err.Error()}
	_ = w.recorder().Events.Publish(ctx, runs.RunEvent(ctx, w.Catalog, event.RunParked, run)) // best effort; logged
}

func (w *Worker) handle(ctx context.Context, m *bus.RunMessage) error {
	req := m.Request
	log := w.Logger.With("run_id", req.RunID, "integration", req.Integration, "env", req.Env, "delivery", m.Delivered())
	run, err := w.Log.Get(ctx, req.RunID)
	if errors.Is(err, txlog.ErrNotFound) {
		log.Error("run request without a run record; dropped")
		return m.Term("no run record")
	}
	if err != nil {
		return err
	}
	if run.Status.Final() {
		return nil // a duplicate delivery of a finished run
	}
	if run.Status == runstatus.CancelRequested {
		return w.recorder().Finish(ctx, &run, runs.Ended(runstatus.Canceled, nil), "")
	}
	plan, err := w.plan(ctx, req)
	if err != nil {
		// The integration changed or lost an endpoint since it was queued, or the policy
		// refuses it: nothing to retry.
		log.Warn("run cannot be planned", "err", err)
		return w.recorder().Finish(ctx, &run, runs.Ended(runstatus.Failed, err), "")
	}
	lease, err := w.Bus.AcquireRunLease(ctx, m, bus.RunLeaseOptions{Owner: w.Owner, Limit: plan.Concurrency, TTL: w.LeaseTTL, RetryDelay: 2 * time.Second})
	if errors.Is(err, bus.ErrLeaseHeld) {
		log.Debug("integration busy; run stays queued")
		return nil
	}
	if err != nil {
		return err
	}
	defer func() { _ = lease.Release(context.WithoutCancel(ctx)) }()

	resume := resumes(run)
	if ok, err := w.Log.SetStatus(ctx, run.ID, runstatus.Running, runstatus.Queued, runstatus.Running); err != nil {
		return err
	} else if !ok {
		return nil // cancelled or finished meanwhile
	}
	// Which process executes the run: on a takeover the dead worker is replaced by this one.
	if err := w.Log.SetWorker(ctx, run.ID, w.host, w.pid); err != nil {
		log.Warn("could not record this worker on the run", "err", err)
	}
	run.Host, run.PID = w.host, w.pid
	log.Info("run started", "resume", resume)
	return w.execute(ctx, m, log, run, plan, lease, resume)
}

// execute runs a leased run through the one run lifecycle (runs.Execute), watching for its
// cancellation and for the loss of the lease meanwhile.
func (w *Worker) execute(ctx context.Context, m *bus.RunMessage, log *slog.Logger, run txlog.Run, plan *runs.Plan, lease *bus.Lease, resume bool) error {
	runCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	go w.watch(runCtx, cancel, run.ID, lease)

	opts := plan.EngineOptions()
	opts.Logger, opts.CheckpointRows = log, w.CheckpointRows
	if resume {
		opts.Resume, opts.Position, opts.Initial = true, run.Position, engine.Stats(run.Stats)
	}
	_, _, err := runs.Execute(runCtx, runs.Exec{Recorder: w.recorder(), Run: run, Engine: opts, DataDir: w.DataDir,
		Interrupted: func() error { return w.interrupted(ctx, runCtx, m, log, run.ID) }})
	return err
}

// interrupted tells, once the engine returned, whether the run was cut off rather than ended,
// and hands it on: when this process is stopping, back to the queue to be resumed from its
// checkpoint; when the lease was lost, to the redelivery that the lease's new holder awaits.
func (w *Worker) interrupted(ctx, runCtx context.Context, m *bus.RunMessage, log *slog.Logger, id string) error {
	if ctx.Err() != nil && errors.Is(context.Cause(runCtx), ctx.Err()) {
		// This process is stopping: leave the run to be redelivered and resumed.
		log.Info("run interrupted by shutdown; it will resume from its checkpoint")
		_, _ = w.Log.SetStatus(context.WithoutCancel(ctx), id, runstatus.Running)
		// Hand the request back now rather than after AckWait: the engine has stopped and
		// discarded what it had not committed, so any worker may resume it. The short delay
		// keeps the server from handing it straight to this process's own pending pulls, which
		// are going away with it.
		_ = m.Nak(shutdownRedelivery)
		return ctx.Err()
	}
	if errors.Is(context.Cause(runCtx), errLeaseLost) {
		log.Warn("integration lease lost mid-run; the run will be redelivered")
		return errLeaseLost
	}
	return nil
}

// recorder records this worker's runs and announces them on the bus.
func (w *Worker) recorder() runs.Recorder {
	return runs.Recorder{Log: w.Log, Catalog: w.Catalog, Events: bus.Events{Bus: w.Bus, Logger: w.Logger}, Logger: w.Logger}
}

// resumes tells from the run's own record whether it continues an earlier start: it was
// running (a worker died or was stopped), or it has a checkpoint (it was resumed on request).
// The broker's delivery count says nothing about it: it starts again at 1 when a NATS server
// restarts, which would copy a cut run again from row 1.
func resumes(run txlog.Run) bool {
	return run.HasCheckpoint || run.Status == runstatus.Running
}

// plan resolves a run request into its plan, passes it through the policy step and only then
// resolves its secrets, so that a refused reference is never read.
func (w *Worker) plan(ctx context.Context, req bus.RunRequest) (*runs.Plan, error) {
	plan, err := runs.ResolveWith(ctx, w.Catalog, nil, req.Integration, req.Env, req.Params, w.resolveOptions())
	if err != nil {
		return nil, err
	}
	if w.Policy != nil {
		if err := w.Policy.CheckRun(ctx, plan, requesterOf(req)); err != nil {
			return nil, err
		}
	}
	if err := plan.InjectSecrets(ctx, w.Secrets); err != nil {
		return nil, err
	}
	return plan, nil
}

// requesterOf is whose rights a run request carries. Requests queued before requests named
// their requester and trigger carry them in RequestedBy (a user, or trigger:TYPE).
func requesterOf(req bus.RunRequest) policy.Requester {
	switch {
	case req.Trigger != "":
		return policy.Requester{Trigger: req.Trigger}
	case req.Requester != "":
		return policy.Requester{User: req.Requester}
	}
	if t, ok := strings.CutPrefix(req.RequestedBy, "trigger:"); ok {
		return policy.Requester{Trigger: t}
	}
	return policy.Requester{User: req.RequestedBy}
}

// parkAfter is the default of Worker.ParkAfter.
const parkAfter = 15

func (w *Worker) retryBase() time.Duration {
	if w.RetryBase > 0 {
		return w.RetryBase
	}
	return time.Second
}

// shutdownRedelivery is how soon a run interrupted by a shutdown is offered again.
const shutdownRedelivery = 2 * time.Second

var (
	errCanceled  = errors.New("run cancelled on request")
	errLeaseLost = errors.New("integration lease lost")
)

// watch cancels the run when someone asks for it or when the integration's lease is lost.
func (w *Worker) watch(ctx context.Context, cancel context.CancelCauseFunc, id string, lease *bus.Lease) {
	t := time.NewTicker(w.CancelPoll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-lease.Lost():
			cancel(errLeaseLost)
			return
		case <-t.C:
			if r, err := w.Log.Get(ctx, id); err == nil && r.Status == runstatus.CancelRequested {
				cancel(errCanceled)
				return
			}
		}
	}
}
