package runs

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/datahub-oss/datahub/internal/bus"
	"github.com/datahub-oss/datahub/internal/errcode"
	"github.com/datahub-oss/datahub/internal/runstatus"
)

// Reconciler settles the runs whose state no process owns any more: a run queued, running or
// cancel_requested whose request is not on the work queue will never be picked up (the request
// failed between recording the run and queueing it, the store went down before a worker could
// record the outcome, the queue was lost). A request stays on the queue until its run has
// finished, so a run with one is left alone, however long it waits or runs.
//
// It runs in the scheduler role: several processes may run it at once, since every change is
// conditional on the status it read.
type Reconciler struct {
	Service *Service
	// Every is how often it looks (default 1 minute).
	Every time.Duration
	// Grace is how old a run must be to be looked at (default 2 minutes): a run is recorded
	// just before its request is queued.
	Grace  time.Duration
	Logger *slog.Logger

	// suspects are the runs found without a request on the last pass, with their status: a
	// run is settled only when two passes in a row find it so, which leaves a run being
	// resumed (queued again just before its request is) the time to get its request queued.
	suspects map[string]runstatus.Status
}

// Orphaned is the error recorded on a run that lost its request.
const Orphaned = "no process owns this run any more: its request is not on the work queue (it could not be queued, or the queue lost it); resume it with datahub runs resume %s if it has a checkpoint, or request a new run"

// Run reconciles every Every until ctx ends.
func (r *Reconciler) Run(ctx context.Context) error {
	every := r.Every
	if every <= 0 {
		every = time.Minute
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if _, err := r.Once(ctx); err != nil && ctx.Err() == nil {
			r.logger().Warn("reconcile runs", "err", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

func (r *Reconciler) logger() *slog.Logger {
	if r.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return r.Logger
}

// Once looks for orphaned runs once, settles those the previous pass found orphaned in the
// same status too, and returns how many it settled. It is not safe for concurrent use.
func (r *Reconciler) Once(ctx context.Context) (int, error) {
	grace := r.Grace
	if grace <= 0 {
		grace = 2 * time.Minute
	}
	s := r.Service
	candidates, err := s.Log.Unsettled(ctx, time.Now().Add(-grace), 1000)
	if err != nil || len(candidates) == 0 {
		return 0, err
	}
	queued, err := s.Bus.QueuedRunIDs(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	seen := r.suspects
	r.suspects = map[string]runstatus.Status{}
	for _, run := range candidates {
		if queued[run.ID] {
			continue
		}
		if seen[run.ID] != run.Status {
			r.suspects[run.ID] = run.Status
			continue
		}
		to, msg, code := runstatus.Failed, Orphaned, string(errcode.Interrupted)
		if run.Status == runstatus.CancelRequested {
			to, msg, code = runstatus.Canceled, "canceled: nothing was running it when the cancellation was asked for", ""
		}
		// Conditional on the status read: a worker that took the run meanwhile wins.
		ok, err := s.Log.Settle(ctx, run.ID, run.Status, to, replaceID(msg, run.ID), code)
		if err != nil {
			return n, err
		}
		if !ok {
			continue
		}
		n++
		r.logger().Warn("run settled: no process owned it any more", "run_id", run.ID, "was", run.Status, "now", to)
		run.Status = to
		if t := FinalEventType(to); t != "" {
			_ = bus.Events{Bus: s.Bus, Logger: r.logger()}.Publish(ctx, RunEvent(ctx, s.Catalog, t, run))
		}
	}
	return n, nil
}

func replaceID(format, id string) string {
	if format == Orphaned {
		return fmt.Sprintf(format, id)
	}
	return format
}
