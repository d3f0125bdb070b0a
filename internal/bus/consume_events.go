package bus

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/datahub-oss/datahub/internal/errcode"
)

// EventConsumerConfig sets up a durable pull consumer on the events stream.
type EventConsumerConfig struct {
	// Durable names the consumer (required). Every process using the same name shares its
	// events, each going to exactly one of them: a service that must act once per event (the
	// notifier, say) uses one name everywhere.
	Durable string
	// Filter is a subject pattern without the datahub.events. prefix ("run.>"; "" for all).
	// It is part of the consumer: every process sharing it must give the same.
	Filter string
	// AckWait is how long a delivered event may go unsettled before it is delivered again
	// (default 30s); the handler is kept alive with InProgress meanwhile.
	AckWait time.Duration
	// MaxDeliver caps deliveries of one event (default 5).
	MaxDeliver int
	// Backoff is the Nak delay after the 1st, 2nd, ... failed delivery (the last repeats;
	// default 1s, 5s, 30s, 2m).
	Backoff []time.Duration
	// Concurrency is how many handlers this process runs at once (default 1, which keeps
	// this process's events in order).
	Concurrency int
}

func (c *EventConsumerConfig) defaults() {
	if c.AckWait <= 0 {
		c.AckWait = 30 * time.Second
	}
	if c.MaxDeliver == 0 {
		c.MaxDeliver = 5
	}
	if len(c.Backoff) == 0 {
		c.Backoff = []time.Duration{time.Second, 5 * time.Second, 30 * time.Second, 2 * time.Minute}
	}
	if c.Concurrency <= 0 {
		c.Concurrency = 1
	}
	if c.Filter == "" {
		c.Filter = ">"
	}
}

// EventHandler processes one event. nil acks it; an error naks it with the Backoff delay
// (unless the consumer is stopping: the event is then left for redelivery after AckWait).
// Delivered is how many times the event has been delivered, this one included.
type EventHandler func(ctx context.Context, e Event, delivered uint64) error

// ConsumeEvents runs handler on the events of a durable consumer until ctx is cancelled or the
// Bus is closed; then it waits for the running handlers and returns ctx's cause or ErrClosed.
// A consumer created now starts with the events published from now on: the stream keeps a
// week of history, which a new notifier must not replay.
func (b *Bus) ConsumeEvents(ctx context.Context, cfg EventConsumerConfig, handler EventHandler) error {
	if cfg.Durable == "" {
		return errors.New("consume events: no durable name given")
	}
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return ErrClosed
	}
	b.active.Add(1)
	b.mu.Unlock()
	defer b.active.Done()

	cfg.defaults()
	cons, err := b.js.CreateOrUpdateConsumer(ctx, b.names.events, jetstream.ConsumerConfig{
		Durable:       cfg.Durable,
		Description:   "Data Hub event consumer " + cfg.Durable,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       cfg.AckWait,
		MaxDeliver:    cfg.MaxDeliver,
		DeliverPolicy: jetstream.DeliverNewPolicy,
		// One FilterSubject (not FilterSubjects) works with servers before 2.10 too.
		FilterSubject: b.names.eventSubj + "." + cfg.Filter,
	})
	if err != nil {
		return errcode.Errorf(errcode.Unavailable, b.where, "", fmt.Errorf("create consumer %s on %s: %w", cfg.Durable, b.names.events, err))
	}
	return b.pullLoop(ctx, cons, cfg.Concurrency, "pull event", func(ctx context.Context, msg jetstream.Msg) {
		b.handleEvent(ctx, msg, cfg, handler)
	})
}

// handleEvent gives one event to the handler and settles it: ack on nil, nak with back-off
// on an error, nothing while stopping (redelivered after AckWait).
func (b *Bus) handleEvent(ctx context.Context, msg jetstream.Msg, cfg EventConsumerConfig, handler EventHandler) {
	e := Event{Subject: strings.TrimPrefix(msg.Subject(), b.names.eventSubj+"."), Data: msg.Data()}
	var delivered uint64 = 1
	if md, err := msg.Metadata(); err == nil {
		e.Seq, delivered = md.Sequence.Stream, md.NumDelivered
	}
	if ctx.Err() != nil {
		_ = msg.NakWithDelay(time.Second)
		return
	}
	stop := keepAlive(ctx, msg, cfg.AckWait)
	err := callEventHandler(ctx, handler, e, delivered)
	stop()
	switch {
	case err == nil:
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		if aerr := msg.DoubleAck(actx); aerr != nil {
			b.log.Warn("ack event", "consumer", cfg.Durable, "seq", e.Seq, "err", aerr)
		}
		cancel()
	case ctx.Err() != nil:
		// Stopping: left for redelivery after AckWait, as if this process had died.
	default:
		b.log.Warn("event handler failed", "consumer", cfg.Durable, "subject", e.Subject, "seq", e.Seq, "delivery", delivered, "err", err)
		if nerr := msg.NakWithDelay(retryDelay(cfg.Backoff, delivered)); nerr != nil {
			b.log.Warn("nak event", "consumer", cfg.Durable, "seq", e.Seq, "err", nerr)
		}
	}
}

// keepAlive sends InProgress every ackWait/3 until stop is called.
func keepAlive(ctx context.Context, msg jetstream.Msg, ackWait time.Duration) (stop func()) {
	done := make(chan struct{})
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		t := time.NewTicker(max(ackWait/3, 10*time.Millisecond))
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				_ = msg.InProgress()
			}
		}
	}()
	return func() { close(done); <-exited }
}

func callEventHandler(ctx context.Context, h EventHandler, e Event, delivered uint64) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("event handler panicked: %v\n%s", p, debug.Stack())
		}
	}()
	return h(ctx, e, delivered)
}
