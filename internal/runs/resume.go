package runs

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/datahub-oss/datahub/connector"
	"github.com/datahub-oss/datahub/internal/bus"
	"github.com/datahub-oss/datahub/internal/event"
	"github.com/datahub-oss/datahub/internal/txlog"
)

// Resume queues a failed or cancelled run again, to continue from its checkpoint: the worker
// sees a queued run with a checkpoint and resumes it, after the same policy step as any run,
// with actor's rights. The caller checks that actor may run in the run's environment.
//
// Refused (ErrInvalid): a run that is not failed or cancelled, one without a checkpoint (it
// committed nothing: request a new run), a replace (it starts afresh by design), and a run
// whose integration changed since in what the checkpoint depends on (source, destination,
// mode, key, mapping): the position of the old source may mean nothing to the new one.
func (s *Service) Resume(ctx context.Context, id, actor, remote string) (txlog.Run, error) {
	run, err := s.Log.Get(ctx, id)
	if err != nil {
		return txlog.Run{}, err
	}
	if err := s.resumable(ctx, run); err != nil {
		return run, err
	}
	var opts struct {
		Params map[string]string `json:"params"`
	}
	_ = json.Unmarshal([]byte(run.Options), &opts)
	// Audited first: a resume that cannot be audited changes nothing.
	if err := s.audit(ctx, actor, "run.resume", run.Integration, remote, map[string]string{"run_id": run.ID, "env": run.Env}); err != nil {
		return txlog.Run{}, fmt.Errorf("audit run resume: %w", err)
	}
	ok, err := s.Log.Requeue(ctx, run.ID)
	if err != nil {
		return txlog.Run{}, err
	}
	if !ok {
		return run, fmt.Errorf("%w: run %s changed meanwhile; look at it again", ErrInvalid, run.ID)
	}
	// The run as queued, read before the request goes out: once it is on the queue a worker
	// may start it at once, and what is returned and announced is the queued run.
	queued, err := s.Log.Get(ctx, run.ID)
	if err != nil {
		return txlog.Run{}, err
	}
	req := bus.RunRequest{RunID: run.ID, Integration: run.Integration, Env: run.Env, RequestedBy: run.RequestedBy,
		Requester: actor, RequestedAt: run.StartedAt, Params: opts.Params, RequestID: run.ID + "/resume/" + txlog.NewID()}
	// Should the request not reach the queue, enqueue records the run as failed again: it adds
	// nothing to the counts of attempts and resumes.
	run.Attempts, run.Resumes = 0, 0
	if err := s.enqueue(ctx, &run, req); err != nil {
		return txlog.Run{}, err
	}
	_ = s.events().Publish(ctx, RunEvent(ctx, s.Catalog, event.RunQueued, queued))
	return queued, nil
}

// resumable says why a run cannot be resumed, nil when it can.
func (s *Service) resumable(ctx context.Context, run txlog.Run) error {
	if run.Kind != "integration" || run.Integration == "" {
		return fmt.Errorf("%w: run %s is a `datahub copy` run: resume it with datahub copy --resume %s", ErrInvalid, run.ID, run.ID)
	}
	if !run.Status.Resumable() {
		return fmt.Errorf("%w: run %s is %s: only a failed or cancelled run can be resumed", ErrInvalid, run.ID, run.Status)
	}
	if run.Mode == string(connector.ModeReplace) {
		return fmt.Errorf("%w: run %s is a replace, which starts afresh and has nothing to resume: request a new run (datahub run %s --env %s)",
			ErrInvalid, run.ID, run.Integration, run.Env)
	}
	if !run.HasCheckpoint {
		return fmt.Errorf("%w: run %s has no checkpoint to resume from (it committed nothing): request a new run (datahub run %s --env %s)",
			ErrInvalid, run.ID, run.Integration, run.Env)
	}
	p, err := Resolve(ctx, s.Catalog, nil, run.Integration, run.Env)
	if err != nil {
		return err
	}
	src, dst := p.Redacted()
	var was, now struct {
		Key any `json:"key"`
		Map any `json:"map"`
	}
	_ = json.Unmarshal([]byte(run.Options), &was)
	cur, _ := json.Marshal(map[string]any{"key": p.Key, "map": p.Mapping})
	_ = json.Unmarshal(cur, &now)
	wasKM, _ := json.Marshal(was)
	nowKM, _ := json.Marshal(now)
	var changed []string
	if src != run.Source {
		changed = append(changed, "source")
	}
	if dst != run.Destination {
		changed = append(changed, "destination")
	}
	if string(p.Mode) != run.Mode {
		changed = append(changed, "mode")
	}
	if string(wasKM) != string(nowKM) {
		changed = append(changed, "key or mapping")
	}
	if len(changed) > 0 {
		return fmt.Errorf("%w: integration %s changed since run %s (%s): its checkpoint may not fit the integration as it is now; request a new run (datahub run %s --env %s)",
			ErrInvalid, run.Integration, run.ID, strings.Join(changed, ", "), run.Integration, run.Env)
	}
	return nil
}
