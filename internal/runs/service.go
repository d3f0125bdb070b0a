package runs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/datahub-oss/datahub/internal/audit"
	"github.com/datahub-oss/datahub/internal/bus"
	"github.com/datahub-oss/datahub/internal/catalog"
	"github.com/datahub-oss/datahub/internal/event"
	"github.com/datahub-oss/datahub/internal/runstatus"
	"github.com/datahub-oss/datahub/internal/txlog"
)

// Service queues and manages runs of integrations.
type Service struct {
	Catalog *catalog.Service
	Log     *txlog.Log
	Bus     *bus.Bus
	// Audit, when set, records every run request and cancellation.
	Audit *audit.Log
	// Logger reports what goes wrong on the side (an event that could not be published).
	Logger *slog.Logger
}

// Request is a run request by someone.
type Request struct {
	Integration string
	Env         string
	// Actor is who asks: a user name, or a trigger's actor (trigger:schedule...), as the
	// audit log records it.
	Actor string
	// Trigger is set for runs a trigger starts (TriggerSchedule...): they carry the rights of
	// whoever last applied the integration, not of Actor.
	Trigger string
	Remote  string
	Params  map[string]string
}

// The triggers that request runs.
const (
	TriggerSchedule = "schedule"
	TriggerFile     = "file"
	TriggerWebhook  = "webhook"
	TriggerEvent    = "event"
)

// RequestedBy is how a run's requester is shown: the user, or the trigger and the author
// whose rights its runs carry, e.g. "schedule (by ivan)".
func RequestedBy(actor, trig, author string) string {
	if trig == "" {
		return actor
	}
	if author == "" {
		return trig
	}
	return trig + " (by " + author + ")"
}

// Request records a queued run and puts it on the work queue. Secrets are not resolved here:
// the worker resolves them when it runs, so a queued run holds none.
//
// The writes are ordered so that a failure leaves no run that nothing will execute: the audit
// entry first (an attempt is audited even if it goes no further), then the run record, then
// the request on the queue; a run whose request could not be queued is recorded as failed, and
// if even that cannot be written (the store went down meanwhile) the reconciler settles it.
func (s *Service) Request(ctx context.Context, r Request) (txlog.Run, error) {
	p, err := Resolve(ctx, s.Catalog, nil, r.Integration, r.Env)
	if err != nil {
		return txlog.Run{}, err
	}
	src, dst := p.Redacted()
	opts, _ := json.Marshal(map[string]any{"key": p.Key, "map": p.Mapping, "params": r.Params})
	by := RequestedBy(r.Actor, r.Trigger, p.Author)
	run := txlog.Run{ID: txlog.NewID(), Kind: "integration", Integration: p.Integration, Env: p.Env, RequestedBy: by,
		Source: src, Destination: dst, Mode: string(p.Mode), Options: string(opts), Status: runstatus.Queued, StartedAt: time.Now()}
	if err := s.audit(ctx, r.Actor, "run.request", p.Integration, r.Remote, map[string]string{"run_id": run.ID, "env": p.Env}); err != nil {
		return txlog.Run{}, fmt.Errorf("audit run request: %w", err)
	}
	if err := s.Log.Start(ctx, &run); err != nil {
		return txlog.Run{}, err
	}
	req := bus.RunRequest{RunID: run.ID, Integration: p.Integration, Env: p.Env,
		RequestedBy: by, Trigger: r.Trigger, RequestedAt: run.StartedAt, Params: r.Params}
	if r.Trigger == "" {
		req.Requester = r.Actor
	}
	if err := s.enqueue(ctx, &run, req); err != nil {
		return txlog.Run{}, err
	}
	_ = s.events().Publish(ctx, RunEvent(ctx, s.Catalog, event.RunQueued, run))
	return run, nil
}

// events is where the service announces runs: the bus, failures logged.
func (s *Service) events() event.Publisher { return bus.Events{Bus: s.Bus, Logger: s.Logger} }

// enqueue puts a recorded run's request on the work queue; when it cannot, the run is recorded
// as failed rather than left queued with nothing to run it.
func (s *Service) enqueue(ctx context.Context, run *txlog.Run, req bus.RunRequest) error {
	err := s.Bus.EnqueueRun(ctx, req)
	if err == nil {
		return nil
	}
	fin := time.Now()
	run.Status, run.Error, run.FinishedAt = runstatus.Failed, "could not queue the run: "+err.Error(), &fin
	if ferr := s.Log.Finish(context.WithoutCancel(ctx), run); ferr != nil && s.Logger != nil {
		s.Logger.Warn("a run that could not be queued could not be recorded as failed either; the reconciler will", "run_id", run.ID, "err", ferr)
	}
	return err
}

// audit appends an entry about an integration's run when the service audits.
func (s *Service) audit(ctx context.Context, actor, action, integration, remote string, details map[string]string) error {
	if s.Audit == nil {
		return nil
	}
	d, _ := json.Marshal(details)
	_, err := s.Audit.Append(ctx, audit.Entry{Actor: actor, Action: action, TargetKind: string(catalog.KindIntegration),
		TargetName: integration, Remote: remote, Details: string(d)})
	return err
}

// Cancel asks for a run to stop: a queued run is cancelled when a worker picks it up, a
// running one at its next check (within seconds), keeping its last checkpoint.
func (s *Service) Cancel(ctx context.Context, id, actor, remote string) (txlog.Run, error) {
	run, err := s.Log.Get(ctx, id)
	if err != nil {
		return txlog.Run{}, err
	}
	if run.Status.Final() {
		return run, fmt.Errorf("%w: run %s already finished (%s)", ErrInvalid, run.ID, run.Status)
	}
	// Audited first: a cancellation that cannot be audited changes nothing.
	if err := s.audit(ctx, actor, "run.cancel", run.Integration, remote, map[string]string{"run_id": run.ID}); err != nil {
		return txlog.Run{}, fmt.Errorf("audit run cancel: %w", err)
	}
	if _, err := s.Log.SetStatus(ctx, run.ID, runstatus.CancelRequested, runstatus.Queued, runstatus.Running); err != nil {
		return txlog.Run{}, err
	}
	return s.Log.Get(ctx, run.ID)
}

// Wait polls a run until it reaches a final status or ctx ends.
func (s *Service) Wait(ctx context.Context, id string) (txlog.Run, error) {
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	for {
		run, err := s.Log.Get(ctx, id)
		if err != nil {
			return run, err
		}
		if run.Status.Final() {
			return run, nil
		}
		select {
		case <-ctx.Done():
			return run, ctx.Err()
		case <-t.C:
		}
	}
}

// IsNotFound reports whether err is an unknown integration, endpoint or run.
func IsNotFound(err error) bool {
	return errors.Is(err, catalog.ErrNotFound) || errors.Is(err, txlog.ErrNotFound)
}
