package bus

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/nats-io/nats.go"

	"github.com/datahub-oss/datahub/internal/event"
)

// Events publishes the hub's events on a bus: the one event.Publisher every part of the hub
// uses, so that every event carries its id as Nats-Msg-Id and a redelivered publish is stored
// once. A nil Bus publishes nothing (a hub without a bus, tests of other parts).
type Events struct {
	Bus *Bus
	// Logger, when set, logs every event that could not be published; callers that log the
	// failure themselves leave it nil.
	Logger *slog.Logger
}

var _ event.Publisher = Events{}

// Publish stores e on the event stream and returns once JetStream has it.
func (p Events) Publish(ctx context.Context, e event.Event) error {
	if p.Bus == nil {
		return nil
	}
	data, err := e.Marshal()
	if err != nil {
		err = fmt.Errorf("encode event %s: %w", e.Type, err)
	} else {
		err = p.Bus.Publish(ctx, e.Subject(), data, map[string]string{nats.MsgIdHdr: e.ID})
	}
	if err != nil && p.Logger != nil {
		p.Logger.Warn("publish event", "type", e.Type, "run_id", e.RunID, "err", err)
	}
	return err
}
