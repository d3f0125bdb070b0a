package runs

import (
	"context"

	"github.com/datahub-oss/datahub/internal/catalog"
	"github.com/datahub-oss/datahub/internal/event"
	"github.com/datahub-oss/datahub/internal/runstatus"
	"github.com/datahub-oss/datahub/internal/txlog"
)

// RunEvent describes a run as an event of type t: the integration, its labels, the system
// of its source endpoint, the environment, the statistics and the (already scrubbed) error.
func RunEvent(ctx context.Context, cat *catalog.Service, t event.Type, run txlog.Run) event.Event {
	e := event.New(t)
	e.Integration, e.Env, e.RunID, e.Actor = run.Integration, run.Env, run.ID, run.RequestedBy
	e.Error = run.Error
	if t != event.RunQueued && t != event.RunStarted {
		e.Stats = &event.Stats{RowsRead: run.RowsRead, RowsWritten: run.RowsWritten, RowsRejected: run.RowsRejected,
			BytesRead: run.BytesRead, BytesWritten: run.BytesWritten, DurationMS: run.DurationMS}
	}
	if cat == nil || run.Integration == "" {
		return e
	}
	if ie, err := cat.Get(ctx, catalog.KindIntegration, run.Integration); err == nil {
		e.Labels = ie.Resource.Metadata.Labels
		if spec := ie.Resource.Integration(); spec != nil {
			if ee, err := cat.Get(ctx, catalog.KindEndpoint, spec.Source.Endpoint); err == nil && ee.Resource.Endpoint() != nil {
				e.System = ee.Resource.Endpoint().System
			}
		}
	}
	return e
}

// FinalEventType is the event type of a run's final status ("" for none: a cancelled run is
// announced by no event).
func FinalEventType(status runstatus.Status) event.Type {
	switch status {
	case runstatus.Succeeded:
		return event.RunSucceeded
	case runstatus.Failed:
		return event.RunFailed
	case runstatus.Partial:
		return event.RunPartial
	}
	return ""
}
