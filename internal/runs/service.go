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
	"github.com/datahub-oss/datahub/internal/txlog"
)

// Run statuses beyond the engine's final ones.
const (
	StatusQueued          = "queued"
	StatusRunning         = "running"
	StatusCancelRequested = "cancel_requested"
	StatusCanceled        = "canceled"
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
func (s *Service) Request(ctx context.Context, r Request) (txlog.Run, error) {
	p, err := Resolve(ctx, s.Catalog, nil, r.Integration, r.Env)
	if err != nil {
		return txlog.Run{}, err
	}
	src, dst := p.Redacted()
	opts, _ := json.Marshal(map[string]any{"key": p.Key, "map": p.Mapping, "params": r.Params})
	by := RequestedBy(r.Actor, r.Trigger, p.Author)
	run := txlog.Run{ID: txlog.NewID(), Kind: "integration", Integration: p.Integration, Env: p.Env, RequestedBy: by,
		Source: src, Destination: dst, Mode: string(p.Mode), Options: string(opts), Status: StatusQueued, StartedAt: time.Now()}
	if err := s.Log.Start(ctx, &run); err != nil {
		return txlog.Run{}, err
	}
	if s.Audit != nil {
		details, _ := json.Marshal(map[string]string{"run_id": run.ID, "env": p.Env})
		if _, err := s.Audit.Append(ctx, audit.Entry{Actor: r.Actor, Action: "run.request", TargetKind: string(catalog.KindIntegration),
			TargetName: p.Integration, Remote: r.Remote, Details: string(details)}); err != nil {
			return txlog.Run{}, fmt.Errorf("audit run request: %w", err)
		}
	}
	req := bus.RunRequest{RunID: run.ID, Integration: p.Integration, Env: p.Env,
		RequestedBy: by, Trigger: r.Trigger, RequestedAt: run.StartedAt, Params: r.Params}
	if r.Trigger == "" {
		req.Requester = r.Actor
	}
	err = s.Bus.EnqueueRun(ctx, req)
	if err != nil {
		// Nothing will run it: say so in the log rather than leave it queued forever.
		fin := time.Now()
		run.Status, run.Error, run.FinishedAt = "failed", "could not queue the run: "+err.Error(), &fin
		_ = s.Log.Finish(context.WithoutCancel(ctx), &run)
		return txlog.Run{}, err
	}
	Publish(ctx, s.Bus, s.Logger, RunEvent(ctx, s.Catalog, event.RunQueued, run))
	return run, nil
}

// Cancel asks for a run to stop: a queued run is cancelled when a worker picks it up, a
// running one at its next check (within seconds), keeping its last checkpoint.
func (s *Service) Cancel(ctx context.Context, id, actor, remote string) (txlog.Run, error) {
	run, err := s.Log.Get(ctx, id)
	if err != nil {
		return txlog.Run{}, err
	}
	if txlog.Final(run.Status) {
		return run, fmt.Errorf("%w: run %s already finished (%s)", ErrInvalid, run.ID, run.Status)
	}
	if _, err := s.Log.SetStatus(ctx, run.ID, StatusCancelRequested, StatusQueued, StatusRunning); err != nil {
		return txlog.Run{}, err
	}
	if s.Audit != nil {
		details, _ := json.Marshal(map[string]string{"run_id": run.ID})
		if _, err := s.Audit.Append(ctx, audit.Entry{Actor: actor, Action: "run.cancel", TargetKind: string(catalog.KindIntegration),
			TargetName: run.Integration, Remote: remote, Details: string(details)}); err != nil {
			return txlog.Run{}, fmt.Errorf("audit run cancel: %w", err)
		}
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
		if txlog.Final(run.Status) {
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
