package bus

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/datahub-oss/datahub/connector"
	"github.com/datahub-oss/datahub/internal/errcode"
)

// Publish stores an event on the DATAHUB_EVENTS stream (kept 7 days) under
// datahub.events.<subject>, e.g. subject "run.started". It returns once JetStream has stored
// it. A Nats-Msg-Id header makes the publish idempotent within the duplicate window.
func (b *Bus) Publish(ctx context.Context, subject string, data []byte, headers map[string]string) error {
	if b.isClosed() {
		return ErrClosed
	}
	if subject == "" || strings.ContainsAny(subject, " \t\r\n*>") || strings.HasPrefix(subject, ".") ||
		strings.HasSuffix(subject, ".") || strings.Contains(subject, "..") {
		return connector.Errorf(connector.CodeUsage, "", "", fmt.Errorf("event subject %q: use dot-separated tokens without spaces or wildcards", subject))
	}
	msg := &nats.Msg{Subject: b.names.eventSubj + "." + subject, Data: data, Header: nats.Header{}}
	for k, v := range headers {
		msg.Header.Set(k, v)
	}
	if _, err := b.js.PublishMsg(ctx, msg, jetstream.WithExpectStream(b.names.events)); err != nil {
		return errcode.Errorf(errcode.Unavailable, b.where, "", fmt.Errorf("publish event %s: %w", subject, err))
	}
	return nil
}

// Event is one stored event as read back.
type Event struct {
	Subject string
	Data    []byte
	Seq     uint64
}

// ReadEvents returns up to max stored events whose subject (without the datahub.events.
// prefix) matches filter (a NATS subject pattern such as "run.>"; "" for all), oldest first,
// waiting at most wait for them to arrive. For tests, tools and `datahub subscribe`.
func (b *Bus) ReadEvents(ctx context.Context, filter string, max int, wait time.Duration) ([]Event, error) {
	if b.isClosed() {
		return nil, ErrClosed
	}
	if filter == "" {
		filter = ">"
	}
	cons, err := b.js.OrderedConsumer(ctx, b.names.events, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{b.names.eventSubj + "." + filter},
	})
	if err != nil {
		return nil, fmt.Errorf("read events %s: %w", filter, err)
	}
	batch, err := cons.Fetch(max, jetstream.FetchMaxWait(wait))
	if err != nil {
		return nil, fmt.Errorf("read events %s: %w", filter, err)
	}
	var out []Event
	for m := range batch.Messages() {
		e := Event{Subject: strings.TrimPrefix(m.Subject(), b.names.eventSubj+"."), Data: m.Data()}
		if md, err := m.Metadata(); err == nil {
			e.Seq = md.Sequence.Stream
		}
		out = append(out, e)
	}
	return out, batch.Error()
}
