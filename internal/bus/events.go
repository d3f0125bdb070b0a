package bus

import (
	"context"
	"fmt"
	"strings"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/datahub-oss/datahub/connector"
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
		return connector.Errorf(connector.CodeUnavailable, b.where, "", fmt.Errorf("publish event %s: %w", subject, err))
	}
	return nil
}
