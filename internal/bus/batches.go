package bus

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/datahub-oss/datahub/connector"
	"github.com/datahub-oss/datahub/internal/errcode"
)

// BatchConfig is a durable consumer on a topic that hands its messages over in batches (the
// event trigger's: one run per batch).
type BatchConfig struct {
	// Name is the durable consumer's name (a catalog-style name).
	Name  string
	Topic string
	// Filter is a subject pattern on the suffix ("orders.>"; "" for all).
	Filter string
	// Since is where a newly created consumer starts: the messages stored from then on
	// (zero: from now). An existing consumer keeps its position.
	Since time.Time
	// Max is the most messages in one batch (default 1); Wait the longest one pull waits to
	// fill it (default 5s).
	Max  int
	Wait time.Duration
	// AckWait is how long a batch may go unsettled before redelivery (default 2m).
	AckWait time.Duration
}

func (c *BatchConfig) defaults() {
	if c.Max <= 0 {
		c.Max = 1
	}
	if c.Wait <= 0 {
		c.Wait = 5 * time.Second
	}
	if c.AckWait <= 0 {
		c.AckWait = 2 * time.Minute
	}
	if c.Filter == "" {
		c.Filter = ">"
	}
}

// BatchHandler handles a batch. nil acks every message; an error naks them all (redelivered
// after a delay).
type BatchHandler func(ctx context.Context, msgs []TopicMessage) error

// EnsureBatchConsumer creates the durable consumer of cfg (starting at cfg.Since), or updates
// an existing one's filter and limits keeping its position.
func (b *Bus) EnsureBatchConsumer(ctx context.Context, cfg BatchConfig) (jetstream.Consumer, error) {
	if b.isClosed() {
		return nil, ErrClosed
	}
	if cfg.Name == "" || len(cfg.Name) > 200 || strings.ContainsAny(cfg.Name, ".*> \t\r\n") {
		return nil, connector.Errorf(connector.CodeUsage, "", "", fmt.Errorf("consumer name %q: use up to 200 characters without '.', '*', '>' or spaces", cfg.Name))
	}
	if err := checkName("topic", cfg.Topic); err != nil {
		return nil, err
	}
	cfg.defaults()
	stream := b.TopicStream(cfg.Topic)
	cons, err := b.js.Consumer(ctx, stream, cfg.Name)
	switch {
	case err == nil:
		cc := cons.CachedInfo().Config
		filter := b.TopicSubject(cfg.Topic, cfg.Filter)
		if cc.FilterSubject == filter && cc.MaxAckPending == cfg.Max && cc.AckWait == cfg.AckWait {
			return cons, nil
		}
		cc.FilterSubject, cc.MaxAckPending, cc.AckWait = filter, cfg.Max, cfg.AckWait
		cons, err = b.js.UpdateConsumer(ctx, stream, cc)
	case errors.Is(err, jetstream.ErrConsumerNotFound):
		cc := jetstream.ConsumerConfig{
			Durable:     cfg.Name,
			Description: "Data Hub batch consumer " + cfg.Name,
			AckPolicy:   jetstream.AckExplicitPolicy,
			AckWait:     cfg.AckWait,
			// One batch in flight: batches, and so runs, follow the topic's order.
			MaxAckPending: cfg.Max,
			DeliverPolicy: jetstream.DeliverNewPolicy,
			FilterSubject: b.TopicSubject(cfg.Topic, cfg.Filter),
		}
		if !cfg.Since.IsZero() {
			since := cfg.Since
			cc.DeliverPolicy, cc.OptStartTime = jetstream.DeliverByStartTimePolicy, &since
		}
		cons, err = b.js.CreateConsumer(ctx, stream, cc)
	}
	if err != nil {
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			return nil, fmt.Errorf("consumer %s: %w %s", cfg.Name, ErrNoTopic, cfg.Topic)
		}
		return nil, errcode.Errorf(errcode.Unavailable, b.where, "", fmt.Errorf("create consumer %s on %s: %w", cfg.Name, stream, err))
	}
	return cons, nil
}

// DeleteBatchConsumer removes a batch consumer (nothing when it does not exist).
func (b *Bus) DeleteBatchConsumer(ctx context.Context, topic, name string) error {
	if err := b.js.DeleteConsumer(ctx, b.TopicStream(topic), name); err != nil &&
		!errors.Is(err, jetstream.ErrConsumerNotFound) && !errors.Is(err, jetstream.ErrStreamNotFound) {
		return fmt.Errorf("delete consumer %s: %w", name, err)
	}
	return nil
}

// ConsumeBatches hands the messages of cfg's consumer to handler in batches of up to cfg.Max
// gathered for at most cfg.Wait, one batch at a time, until ctx is cancelled or the Bus is
// closed. A consumer shared by several processes gives each message to one of them.
func (b *Bus) ConsumeBatches(ctx context.Context, cfg BatchConfig, handler BatchHandler) error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return ErrClosed
	}
	b.active.Add(1)
	b.mu.Unlock()
	defer b.active.Done()

	cfg.defaults()
	cons, err := b.EnsureBatchConsumer(ctx, cfg)
	if err != nil {
		return err
	}
	ctx, cancel := b.untilClosed(ctx)
	defer cancel()
	for ctx.Err() == nil {
		b.consumeBatch(ctx, cons, cfg, handler)
	}
	select {
	case <-b.closing:
		return ErrClosed
	default:
		return context.Cause(ctx)
	}
}

func (b *Bus) consumeBatch(ctx context.Context, cons jetstream.Consumer, cfg BatchConfig, handler BatchHandler) {
	fctx, fcancel := context.WithTimeout(ctx, cfg.Wait)
	batch, err := cons.Fetch(cfg.Max, jetstream.FetchContext(fctx))
	if err != nil {
		fcancel()
		b.pause(ctx, "pull messages of "+cfg.Name, err)
		return
	}
	var raw []jetstream.Msg
	var msgs []TopicMessage
	for m := range batch.Messages() {
		raw = append(raw, m)
		msgs = append(msgs, b.topicMessage(cfg.Topic, m))
	}
	fcancel()
	if len(raw) == 0 {
		if err := batch.Error(); err != nil && ctx.Err() == nil && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, jetstream.ErrNoMessages) {
			b.pause(ctx, "pull messages of "+cfg.Name, err)
		}
		return
	}
	if ctx.Err() != nil {
		for _, m := range raw {
			_ = m.NakWithDelay(time.Second)
		}
		return
	}
	stops := make([]func(), 0, len(raw))
	for _, m := range raw {
		stops = append(stops, keepAlive(ctx, m, cfg.AckWait))
	}
	err = callBatchHandler(ctx, handler, msgs)
	for _, stop := range stops {
		stop()
	}
	switch {
	case err == nil:
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		for i, m := range raw {
			if aerr := m.DoubleAck(actx); aerr != nil {
				b.log.Warn("ack message", "consumer", cfg.Name, "seq", msgs[i].Seq, "err", aerr)
			}
		}
	case ctx.Err() != nil:
		// Stopping: left for redelivery after AckWait.
	default:
		b.log.Warn("batch not handled, redelivered later", "consumer", cfg.Name, "messages", len(raw), "err", err)
		for _, m := range raw {
			_ = m.NakWithDelay(5 * time.Second)
		}
	}
}

func callBatchHandler(ctx context.Context, h BatchHandler, msgs []TopicMessage) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("batch handler panicked: %v", p)
		}
	}()
	return h(ctx, msgs)
}
