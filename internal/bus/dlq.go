package bus

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// DeadLetter is a message in a subscription's dead-letter queue.
type DeadLetter struct {
	// Seq is the message's sequence in the DLQ (what show and replay take).
	Seq uint64 `json:"seq"`
	// Topic, Subject and TopicSeq say where it came from.
	Topic      string    `json:"topic"`
	Subject    string    `json:"subject"`
	TopicSeq   uint64    `json:"topic_seq"`
	MessageID  string    `json:"message_id,omitempty"`
	Deliveries uint64    `json:"deliveries"`
	Error      string    `json:"error"`
	Time       time.Time `json:"time"`
	// Headers are the message's own (user) headers.
	Headers map[string]string `json:"headers,omitempty"`
	Data    []byte            `json:"data,omitempty"`
}

// ErrNoDeadLetter is returned for a DLQ sequence that holds no message.
var ErrNoDeadLetter = errors.New("bus: no such dead letter")

func deadLetterOf(seq uint64, h nats.Header, data []byte) DeadLetter {
	d := DeadLetter{Seq: seq, Topic: h.Get(HeaderDLQTopic), Subject: h.Get(HeaderDLQSubject), MessageID: h.Get(HeaderMessageID),
		Error: h.Get(HeaderDLQError), Data: data, Headers: map[string]string{}}
	d.TopicSeq, _ = strconv.ParseUint(h.Get(HeaderDLQSeq), 10, 64)
	d.Deliveries, _ = strconv.ParseUint(h.Get(HeaderDLQDeliveries), 10, 64)
	d.Time, _ = time.Parse(time.RFC3339Nano, h.Get(HeaderDLQTime))
	for k, v := range h {
		if len(v) > 0 && !strings.HasPrefix(k, "X-DataHub-DLQ-") && !strings.HasPrefix(k, "Nats-") {
			d.Headers[k] = v[0]
		}
	}
	if len(d.Headers) == 0 {
		d.Headers = nil
	}
	return d
}

func (b *Bus) dlqStream(ctx context.Context, sub string) (jetstream.Stream, error) {
	if err := checkName("subscription", sub); err != nil {
		return nil, err
	}
	s, err := b.js.Stream(ctx, b.DLQStream(sub))
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil, fmt.Errorf("dead-letter queue of %s: %w", sub, ErrNoDeadLetter)
	}
	if err != nil {
		return nil, fmt.Errorf("dead-letter queue of %s: %w", sub, err)
	}
	return s, nil
}

// ListDeadLetters returns up to limit dead letters of a subscription with DLQ sequence >
// after, oldest first, without their bodies. An unknown subscription has none.
func (b *Bus) ListDeadLetters(ctx context.Context, sub string, after uint64, limit int) ([]DeadLetter, error) {
	if b.isClosed() {
		return nil, ErrClosed
	}
	s, err := b.dlqStream(ctx, sub)
	if errors.Is(err, ErrNoDeadLetter) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	info, err := s.Info(ctx)
	if err != nil {
		return nil, fmt.Errorf("dead-letter queue of %s: %w", sub, err)
	}
	if info.State.Msgs == 0 || after >= info.State.LastSeq {
		return nil, nil
	}
	cons, err := b.js.OrderedConsumer(ctx, b.DLQStream(sub), jetstream.OrderedConsumerConfig{
		DeliverPolicy: jetstream.DeliverByStartSequencePolicy, OptStartSeq: after + 1})
	if err != nil {
		return nil, fmt.Errorf("dead-letter queue of %s: %w", sub, err)
	}
	var out []DeadLetter
	for len(out) < limit {
		batch, err := cons.Fetch(limit-len(out), jetstream.FetchMaxWait(time.Second))
		if err != nil {
			return nil, fmt.Errorf("dead-letter queue of %s: %w", sub, err)
		}
		n := 0
		last := uint64(0)
		for m := range batch.Messages() {
			n++
			md, _ := m.Metadata()
			if md != nil {
				last = md.Sequence.Stream
			}
			d := deadLetterOf(last, m.Headers(), nil)
			out = append(out, d)
		}
		if n == 0 || last >= info.State.LastSeq {
			break
		}
	}
	return out, nil
}

// GetDeadLetter returns one dead letter with its body.
func (b *Bus) GetDeadLetter(ctx context.Context, sub string, seq uint64) (DeadLetter, error) {
	if b.isClosed() {
		return DeadLetter{}, ErrClosed
	}
	s, err := b.dlqStream(ctx, sub)
	if err != nil {
		return DeadLetter{}, err
	}
	raw, err := s.GetMsg(ctx, seq)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return DeadLetter{}, fmt.Errorf("dead letter %d of %s: %w", seq, sub, ErrNoDeadLetter)
	}
	if err != nil {
		return DeadLetter{}, fmt.Errorf("dead letter %d of %s: %w", seq, sub, err)
	}
	return deadLetterOf(raw.Sequence, raw.Header, raw.Data), nil
}

// ReplayDeadLetter publishes a dead letter again on its topic and subject, with its headers
// and X-DataHub-Replay-For: sub, so that only that subscription delivers it (the others ack
// it unseen); then it removes it from the DLQ. The replay gets a fresh message id for the
// topic's duplicate window; X-DataHub-Message-Id stays the original's, so a receiver that
// dedupes by it sees the message once.
func (b *Bus) ReplayDeadLetter(ctx context.Context, sub string, seq uint64) (PublishResult, error) {
	d, err := b.GetDeadLetter(ctx, sub, seq)
	if err != nil {
		return PublishResult{}, err
	}
	if d.Topic == "" || d.Subject == "" {
		return PublishResult{}, fmt.Errorf("dead letter %d of %s names no topic", seq, sub)
	}
	h := nats.Header{}
	for k, v := range d.Headers {
		h.Set(k, v)
	}
	h.Set(HeaderReplayFor, sub)
	msg := &nats.Msg{Subject: b.TopicSubject(d.Topic, d.Subject), Data: d.Data, Header: h}
	res, err := b.publishMsg(ctx, d.Topic, msg, "replay-"+uuid.NewString())
	if err != nil {
		return PublishResult{}, err
	}
	res.MessageID = d.MessageID
	s, err := b.dlqStream(ctx, sub)
	if err != nil {
		return res, err
	}
	if err := s.DeleteMsg(ctx, seq); err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
		return res, fmt.Errorf("remove replayed dead letter %d of %s: %w", seq, sub, err)
	}
	return res, nil
}

// ReplayAll replays every dead letter of a subscription (those there when it starts) and
// returns how many it replayed.
func (b *Bus) ReplayAll(ctx context.Context, sub string) (int, error) {
	n := 0
	var after uint64
	s, err := b.dlqStream(ctx, sub)
	if errors.Is(err, ErrNoDeadLetter) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	info, err := s.Info(ctx)
	if err != nil {
		return 0, fmt.Errorf("dead-letter queue of %s: %w", sub, err)
	}
	// Only what is there now: a message that fails again comes back later, with a new sequence.
	last := info.State.LastSeq
	for {
		ds, err := b.ListDeadLetters(ctx, sub, after, 100)
		if err != nil || len(ds) == 0 {
			return n, err
		}
		for _, d := range ds {
			if d.Seq > last {
				return n, nil
			}
			if _, err := b.ReplayDeadLetter(ctx, sub, d.Seq); err != nil {
				return n, err
			}
			n++
			after = d.Seq
		}
	}
}
