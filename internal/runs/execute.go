package runs

import (
	"context"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/datahub-oss/datahub/connector"
	"github.com/datahub-oss/datahub/internal/catalog"
	"github.com/datahub-oss/datahub/internal/engine"
	"github.com/datahub-oss/datahub/internal/event"
	"github.com/datahub-oss/datahub/internal/runstatus"
	"github.com/datahub-oss/datahub/internal/txlog"
)

// Recorder records how runs end in the transaction log and announces it: the one place a
// run's outcome is written, for `datahub copy` and the hub's workers alike.
type Recorder struct {
	Log *txlog.Log
	// Catalog gives the events the integration's labels and system (nil: none).
	Catalog *catalog.Service
	// Events receives the run's lifecycle events; nil announces nothing (`datahub copy`,
	// which runs without a hub).
	Events event.Publisher
	Logger *slog.Logger
}

// Finish records a run's outcome from the engine's result (status, totals and this start's
// share, error and its code, attempts, last checkpoint), with its rejects at rejectsPath. Once
// recorded, it announces the final event and, when an endpoint could not be reached or
// refused the credentials, connection.failed: the people who own the connection are not
// always those who own the run. Nothing is announced when the record could not be written.
func (r Recorder) Finish(ctx context.Context, run *txlog.Run, res engine.Result, rejectsPath string) error {
	setOutcome(run, res, rejectsPath)
	if err := r.Log.Finish(ctx, run); err != nil {
		return err
	}
	if t := FinalEventType(run.Status); t != "" {
		r.publish(ctx, t, *run)
	}
	if code := connector.Code(run.ErrorCode); code == connector.CodeUnreachable || code == connector.CodeAuth {
		r.publish(ctx, event.ConnectionFailed, *run)
	}
	// The engine logged how the run ended; this says it is on record.
	r.logger().Debug("run recorded", "run_id", run.ID, "status", run.Status, "rows_written", run.RowsWritten, "rows_rejected", run.RowsRejected)
	return nil
}

// setOutcome puts an engine's result on the run record as Finish stores it.
func setOutcome(run *txlog.Run, res engine.Result, rejectsPath string) {
	fin := res.Finished
	run.Status = res.Status
	run.Stats = txlog.Stats(res.Stats)
	run.FinishedAt = &fin
	run.DurationMS = res.Duration().Milliseconds()
	run.RejectsPath = rejectsPath
	run.FastPath = res.FastPath
	run.SHA256 = res.SHA256
	run.Attempts = res.Attempts
	run.Part = txlog.Stats(res.Part)
	run.Resumes = 0
	if res.Resumed {
		run.Resumes = 1
	}
	run.Position = res.Position
	run.Error, run.ErrorCode = "", ""
	if res.Err != nil {
		run.Error = res.Err.Error()
		run.ErrorCode = string(connector.CodeOf(res.Err))
	}
}

// Ended is the result of a run that ends before its engine starts: cancelled while queued, or
// refused by the plan or policy step (err).
func Ended(status runstatus.Status, err error) engine.Result {
	now := time.Now()
	return engine.Result{Status: status, Started: now, Finished: now, Err: err}
}

// publish announces an event about a run, best effort: the publisher logs what fails.
func (r Recorder) publish(ctx context.Context, t event.Type, run txlog.Run) {
	if r.Events != nil {
		_ = r.Events.Publish(ctx, RunEvent(ctx, r.Catalog, t, run))
	}
}

func (r Recorder) logger() *slog.Logger {
	if r.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return r.Logger
}

// Exec is one run to execute, from its started record to its recorded outcome. Whoever starts
// the run has done the steps before: planned it and, on the hub, passed it through the policy
// step (the worker's plan step, policy.CheckRun) before any secret was read.
type Exec struct {
	Recorder
	// Run is the run as started in the transaction log (status running).
	Run txlog.Run
	// Engine is the transfer (Plan.EngineOptions, or the copy's flags), with Resume, Position
	// and Initial set for a run that continues from a checkpoint. Execute sets RunID, Rejects
	// and OnCheckpoint.
	Engine engine.Options
	// DataDir is the data folder: a run's rejects go to <DataDir>/rejects/<run id>.
	DataDir string
	// Watch, when set, is started with the engine (its live counters and the source's size)
	// just before it runs, and the func it returns is called once the engine returned (the
	// CLI's progress bar).
	Watch func(eng *engine.Engine) (stop func())
	// Interrupted, when set, is asked once the engine returned whether the run was cut off
	// rather than ended (the worker's shutdown, a lost lease): an error leaves the run
	// unrecorded, to be resumed from its checkpoint, and Execute returns it.
	Interrupted func() error
}

// Execute announces run.started, runs the engine with its rejects in the data folder and its
// checkpoints in the transaction log, and records and announces the outcome (Recorder.Finish).
// The outcome is recorded even when ctx was cancelled. It returns the run as recorded and the
// engine's result; its error says the outcome was not recorded (Interrupted, or the
// transaction log failed), not that the run failed: that is in the result.
func Execute(ctx context.Context, x Exec) (txlog.Run, engine.Result, error) {
	run := x.Run
	x.publish(ctx, event.RunStarted, run)
	rejects := &engine.FileRejects{Dir: filepath.Join(x.DataDir, "rejects", run.ID), RunID: run.ID}
	opts := x.Engine
	opts.RunID, opts.Rejects = run.ID, rejects
	opts.OnCheckpoint = func(ctx context.Context, pos connector.Position, s engine.Stats) error {
		return x.Log.Checkpoint(ctx, run.ID, pos, txlog.Stats(s))
	}
	eng := engine.New(opts)
	stop := func() {}
	if x.Watch != nil {
		stop = x.Watch(eng)
	}
	res := eng.Run(ctx)
	stop()
	// A rejects file that cannot be completed loses rejected records: the run did not do
	// what its statistics say.
	if err := rejects.Close(); err != nil && res.Err == nil {
		res.Err, res.Status = err, runstatus.Failed
	}
	if x.Interrupted != nil {
		if err := x.Interrupted(); err != nil {
			return run, res, err
		}
	}
	err := x.Finish(context.WithoutCancel(ctx), &run, res, rejects.Path())
	return run, res, err
}

// EngineOptions is the transfer a plan describes, for Exec.Engine.
func (p *Plan) EngineOptions() engine.Options {
	return engine.Options{Source: p.Source, Dest: p.Dest, Mode: p.Mode, Key: p.Key, Mapping: p.Mapping,
		Retries: p.Retries, MaxRejects: p.MaxRejects, Secrets: p.Secrets, NoInfer: p.NoInfer, InferRows: p.InferRows}
}
