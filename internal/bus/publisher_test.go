package bus

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/datahub-oss/datahub/internal/event"
)

// TestEventsPublisher: an event published twice (a retried publish) is stored once, under its
// type's subject; a nil bus publishes nothing; a failed publish is returned and logged.
func TestEventsPublisher(t *testing.T) {
	eachServer(t, func(t *testing.T, open opener) {
		b := open(t)
		ctx := t.Context()
		e := event.New(event.RunStarted)
		e.RunID = "r1"
		pub := Events{Bus: b}
		for range 2 {
			if err := pub.Publish(ctx, e); err != nil {
				t.Fatal(err)
			}
		}
		got, err := b.ReadEvents(ctx, "run.>", 10, 2*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || got[0].Subject != "run.started" {
			t.Fatalf("stored %d events: %+v", len(got), got)
		}
		if back, err := event.Unmarshal(got[0].Data); err != nil || back.ID != e.ID || back.RunID != "r1" {
			t.Fatalf("stored event %+v (%v)", back, err)
		}
	})
}

func TestEventsPublisherFailures(t *testing.T) {
	ctx := t.Context()
	if err := (Events{}).Publish(ctx, event.New(event.RunStarted)); err != nil {
		t.Fatalf("nil bus: %v", err)
	}
	b := openBus(t, Config{DataDir: t.TempDir(), Listen: "127.0.0.1:0", Name: t.Name()})
	if err := b.Close(ctx); err != nil {
		t.Fatal(err)
	}
	var logged bytes.Buffer
	err := Events{Bus: b, Logger: slog.New(slog.NewTextHandler(&logged, nil))}.Publish(ctx, event.New(event.RunFailed))
	if err == nil || !strings.Contains(logged.String(), "publish event") || !strings.Contains(logged.String(), "run.failed") {
		t.Fatalf("closed bus: err %v, logged %q", err, logged.String())
	}
}
