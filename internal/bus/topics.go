package bus

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"regexp"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/datahub-oss/datahub/connector"
	"github.com/datahub-oss/datahub/internal/errcode"
)

// Topic stream and subject names; Config.Prefix namespaces them like the others.
const (
	TopicStreamPrefix = "DATAHUB_TOPIC_"
	DLQStreamPrefix   = "DATAHUB_DLQ_"
	TopicsSubject     = "datahub.topics"
	DLQSubject        = "datahub.dlq"
)

// Headers the bus sets on topic messages. User headers are stored under their own names,
// which must not start with "Nats-" or "X-DataHub-".
const (
	HeaderMessageID = "X-DataHub-Message-Id"
	HeaderKey       = "X-DataHub-Key"
	// HeaderReplayFor marks a message replayed from a subscription's dead-letter queue: only
	// that subscription delivers it, every other one skips it (see Skip).
	HeaderReplayFor = "X-DataHub-Replay-For"

	// Dead-letter headers, added to the copy of an exhausted message.
	HeaderDLQTopic      = "X-DataHub-DLQ-Topic"
	HeaderDLQSubject    = "X-DataHub-DLQ-Subject"
	HeaderDLQSeq        = "X-DataHub-DLQ-Seq"
	HeaderDLQDeliveries = "X-DataHub-DLQ-Deliveries"
	HeaderDLQError      = "X-DataHub-DLQ-Error"
	HeaderDLQTime       = "X-DataHub-DLQ-Time"
)

// DefaultSubject is the subject suffix of a message published without one.
const DefaultSubject = "default"

// DefaultDLQMaxAge is how long a dead-letter queue keeps a message.
const DefaultDLQMaxAge = 30 * 24 * time.Hour

// topicNameRE is a Topic or Subscription resource name (the catalog's rule).
var topicNameRE = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$`)

// TopicConfig is a topic's stream: its name (a catalog name) and retention. Zero limits mean
// none (MaxAge zero: kept until other limits remove them).
type TopicConfig struct {
	Name        string
	Description string
	MaxAge      time.Duration
	MaxBytes    int64
	MaxMessages int64
}

// TopicStream is the stream name of a topic.
func (b *Bus) TopicStream(topic string) string {
	return b.prefixed(TopicStreamPrefix + strings.ToUpper(topic))
}

// DLQStream is the stream name of a subscription's dead-letter queue.
func (b *Bus) DLQStream(sub string) string {
	return b.prefixed(DLQStreamPrefix + strings.ToUpper(sub))
}

// TopicSubject is the full subject of a message on topic with the given suffix.
func (b *Bus) TopicSubject(topic, suffix string) string {
	return b.subjectPrefixed(TopicsSubject + "." + topic + "." + suffix)
}

func (b *Bus) dlqSubject(sub string) string { return b.subjectPrefixed(DLQSubject + "." + sub) }

func (b *Bus) prefixed(name string) string {
	if b.cfg.Prefix == "" {
		return name
	}
	return b.cfg.Prefix + "_" + name
}

func (b *Bus) subjectPrefixed(subj string) string {
	if b.cfg.Prefix == "" {
		return subj
	}
	return b.cfg.Prefix + "." + subj
}

func checkName(what, name string) error {
	if !topicNameRE.MatchString(name) {
		return connector.Errorf(connector.CodeUsage, "", "", fmt.Errorf("%s name %q: use 1-63 lower-case letters, digits and '-'", what, name))
	}
	return nil
}

// EnsureTopic creates the topic's stream, or updates its limits. It is idempotent, and cheap
// when nothing changed: a configuration this Bus already ensured is not sent again (the API
// ensures the topic before every publish; a stream update is a write and an fsync on the
// server). A publish that finds the stream gone forgets it, so the next call creates it again.
func (b *Bus) EnsureTopic(ctx context.Context, t TopicConfig) error {
	if b.isClosed() {
		return ErrClosed
	}
	if err := checkName("topic", t.Name); err != nil {
		return err
	}
	b.mu.Lock()
	done, ok := b.topics[t.Name]
	b.mu.Unlock()
	if ok && done == t {
		return nil
	}
	sc := jetstream.StreamConfig{
		Name:        b.TopicStream(t.Name),
		Description: "Data Hub topic " + t.Name,
		Subjects:    []string{b.TopicSubject(t.Name, ">")},
		Retention:   jetstream.LimitsPolicy,
		Storage:     jetstream.FileStorage,
		MaxAge:      t.MaxAge,
		MaxBytes:    orUnlimited(t.MaxBytes),
		MaxMsgs:     orUnlimited(t.MaxMessages),
		Duplicates:  DefaultDupWindow,
		Replicas:    b.cfg.Replicas,
	}
	if t.Description != "" {
		sc.Description += ": " + t.Description
	}
	if _, err := b.js.CreateOrUpdateStream(ctx, sc); err != nil {
		return errcode.Errorf(errcode.Unavailable, b.where, "", fmt.Errorf("create stream %s: %w", sc.Name, err))
	}
	b.mu.Lock()
	b.topics[t.Name] = t
	b.mu.Unlock()
	return nil
}

// forgetTopic drops a topic from the streams ensured.
func (b *Bus) forgetTopic(topic string) {
	b.mu.Lock()
	delete(b.topics, topic)
	b.mu.Unlock()
}

func orUnlimited(n int64) int64 {
	if n <= 0 {
		return -1
	}
	return n
}

// DeleteTopic removes a topic's stream and its messages (nothing when it does not exist).
func (b *Bus) DeleteTopic(ctx context.Context, topic string) error {
	b.forgetTopic(topic)
	if err := b.js.DeleteStream(ctx, b.TopicStream(topic)); err != nil && !errors.Is(err, jetstream.ErrStreamNotFound) {
		return fmt.Errorf("delete topic %s: %w", topic, err)
	}
	return nil
}

// ErrNoTopic is returned when a topic's stream does not exist (yet).
var ErrNoTopic = errors.New("bus: no such topic")

// PublishResult is where a published message was stored.
type PublishResult struct {
	Seq uint64 `json:"seq"`
	// Duplicate is true when a message with the same id was stored within the duplicate
	// window (2 minutes): nothing new was stored and Seq is the earlier message's.
	Duplicate bool   `json:"duplicate"`
	MessageID string `json:"message_id"`
}

// PublishTopic stores a message on topic under subject suffix (default "default"). msgID
// (an idempotency key; a random one when empty) dedupes within the duplicate window and is
// the X-DataHub-Message-Id delivered. headers are the user's (not Nats-*, not X-DataHub-*,
// except X-DataHub-Key).
func (b *Bus) PublishTopic(ctx context.Context, topic, suffix string, data []byte, headers map[string]string, msgID string) (PublishResult, error) {
	if b.isClosed() {
		return PublishResult{}, ErrClosed
	}
	if err := checkName("topic", topic); err != nil {
		return PublishResult{}, err
	}
	if suffix == "" {
		suffix = DefaultSubject
	}
	if !validSuffix(suffix) {
		return PublishResult{}, connector.Errorf(connector.CodeUsage, "", "", fmt.Errorf("subject %q: use dot-separated tokens without spaces or wildcards", suffix))
	}
	msg := &nats.Msg{Subject: b.TopicSubject(topic, suffix), Data: data, Header: nats.Header{}}
	for k, v := range headers {
		if reservedHeader(k) && !strings.EqualFold(k, HeaderKey) {
			return PublishResult{}, connector.Errorf(connector.CodeUsage, "", "", fmt.Errorf("header %q is reserved", k))
		}
		msg.Header.Set(k, v)
	}
	if msgID == "" {
		msgID = uuid.NewString()
	}
	msg.Header.Set(HeaderMessageID, msgID)
	return b.publishMsg(ctx, topic, msg, msgID)
}

func (b *Bus) publishMsg(ctx context.Context, topic string, msg *nats.Msg, msgID string) (PublishResult, error) {
	ack, err := b.js.PublishMsg(ctx, msg, jetstream.WithMsgID(msgID), jetstream.WithExpectStream(b.TopicStream(topic)))
	if err != nil {
		if errors.Is(err, jetstream.ErrNoStreamResponse) || errors.Is(err, jetstream.ErrStreamNotFound) {
			b.forgetTopic(topic)
			return PublishResult{}, fmt.Errorf("publish to topic %s: %w", topic, ErrNoTopic)
		}
		return PublishResult{}, errcode.Errorf(errcode.Unavailable, b.where, "", fmt.Errorf("publish to topic %s: %w", topic, err))
	}
	return PublishResult{Seq: ack.Sequence, Duplicate: ack.Duplicate, MessageID: msgID}, nil
}

func reservedHeader(k string) bool {
	l := strings.ToLower(k)
	return strings.HasPrefix(l, "nats-") || strings.HasPrefix(l, "x-datahub-")
}

func validSuffix(s string) bool {
	return s != "" && !strings.ContainsAny(s, " \t\r\n*>") && !strings.HasPrefix(s, ".") &&
		!strings.HasSuffix(s, ".") && !strings.Contains(s, "..")
}

// TopicMessage is a message read from a topic.
type TopicMessage struct {
	Topic string `json:"topic"`
	// Subject is the suffix the message was published with.
	Subject   string            `json:"subject"`
	Seq       uint64            `json:"seq"`
	Time      time.Time         `json:"time"`
	MessageID string            `json:"message_id,omitempty"`
	Headers   map[string]string `json:"headers,omitempty"`
	Data      []byte            `json:"data"`
	// Delivered is how many times a subscription delivered it, this time included.
	Delivered uint64 `json:"delivered,omitempty"`
}

func (b *Bus) topicMessage(topic string, m jetstream.Msg) TopicMessage {
	tm := TopicMessage{Topic: topic, Subject: strings.TrimPrefix(m.Subject(), b.TopicSubject(topic, "")), Data: m.Data(),
		Headers: flatHeaders(m.Headers())}
	tm.MessageID = tm.Headers[HeaderMessageID]
	if tm.MessageID == "" {
		// Published by a NATS client straight on the subject: its own dedupe id.
		tm.MessageID = m.Headers().Get(jetstream.MsgIDHeader)
	}
	if md, err := m.Metadata(); err == nil {
		tm.Seq, tm.Time, tm.Delivered = md.Sequence.Stream, md.Timestamp, md.NumDelivered
	}
	return tm
}

func flatHeaders(h nats.Header) map[string]string {
	if len(h) == 0 {
		return nil
	}
	out := make(map[string]string, len(h))
	for k, v := range h {
		if len(v) > 0 && !strings.HasPrefix(k, "Nats-") {
			out[k] = v[0]
		}
	}
	return out
}

// ReadTopic returns up to limit messages of topic with stream sequence > after, oldest first,
// waiting at most wait for the first to arrive (a long poll, for `datahub subscribe`).
func (b *Bus) ReadTopic(ctx context.Context, topic string, after uint64, limit int, wait time.Duration) ([]TopicMessage, error) {
	if b.isClosed() {
		return nil, ErrClosed
	}
	if err := checkName("topic", topic); err != nil {
		return nil, err
	}
	cfg := jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverByStartSequencePolicy, OptStartSeq: after + 1}
	cons, err := b.js.OrderedConsumer(ctx, b.TopicStream(topic), cfg)
	if err != nil {
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			return nil, fmt.Errorf("read topic %s: %w", topic, ErrNoTopic)
		}
		return nil, fmt.Errorf("read topic %s: %w", topic, err)
	}
	limit = max(limit, 1)
	var out []TopicMessage
	if wait > 0 {
		// A long poll answers as soon as there is a first message, with whatever else is there
		// then: a Fetch of limit would wait for limit messages or the whole wait.
		m, err := cons.Next(jetstream.FetchMaxWait(wait))
		if errors.Is(err, jetstream.ErrNoMessages) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout) {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("read topic %s: %w", topic, err)
		}
		out = append(out, b.topicMessage(topic, m))
		if limit--; limit == 0 {
			return out, nil
		}
	}
	batch, err := cons.FetchNoWait(limit)
	if err != nil {
		return out, fmt.Errorf("read topic %s: %w", topic, err)
	}
	for m := range batch.Messages() {
		out = append(out, b.topicMessage(topic, m))
	}
	if err := batch.Error(); err != nil && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, nats.ErrTimeout) && !errors.Is(err, jetstream.ErrNoMessages) {
		return out, fmt.Errorf("read topic %s: %w", topic, err)
	}
	return out, nil
}

// SubscriptionConfig is a subscription's durable consumer.
type SubscriptionConfig struct {
	// Name is the Subscription's name: the durable consumer's name and its DLQ's.
	Name  string
	Topic string
	// Filter is a subject pattern on the suffix ("orders.>"; "" for all).
	Filter string
	// AckWait is how long a delivery may go unsettled before redelivery (default 30s); the
	// handler is kept alive with progress acks meanwhile.
	AckWait time.Duration
	// MaxDeliver is how many deliveries a message gets before it is dead-lettered (default 10).
	MaxDeliver int
	// BackoffInitial and BackoffMax bound the exponential back-off between deliveries
	// (default 1s and 5m); a random jitter of up to 20% is added.
	BackoffInitial, BackoffMax time.Duration
	// MaxAckPending caps the messages in flight across every process (1 keeps the order of
	// the topic: each message is settled before the next is delivered).
	MaxAckPending int
	// Concurrency is how many handlers this process runs at once (default 1); for an Ordered
	// subscription, its number of lanes.
	Concurrency int
	// Ordered delivers every key's messages in the topic's order (see consumeOrdered): one
	// process at a time, Concurrency lanes by key, retries in place.
	Ordered bool
	// Owner names this process in the lease of an ordered subscription (a random id if empty).
	Owner string
	// StartTime is when a new consumer starts: it gets the messages stored from then on, so
	// that a Subscription applied with its Topic misses nothing published before the hub got
	// round to creating its consumer (zero: from the consumer's creation). An existing
	// consumer keeps where it started.
	StartTime time.Time
	// OnDeadLetter, when set, is called after a message was copied to the dead-letter queue,
	// with the last delivery's error.
	OnDeadLetter func(ctx context.Context, m TopicMessage, err error)
}

func (c *SubscriptionConfig) defaults() {
	if c.AckWait <= 0 {
		c.AckWait = 30 * time.Second
	}
	if c.MaxDeliver <= 0 {
		c.MaxDeliver = 10
	}
	if c.BackoffInitial <= 0 {
		c.BackoffInitial = time.Second
	}
	if c.BackoffMax < c.BackoffInitial {
		c.BackoffMax = max(c.BackoffInitial, 5*time.Minute)
	}
	if c.Concurrency <= 0 {
		c.Concurrency = 1
	}
	if c.MaxAckPending == 1 {
		c.Concurrency = 1
	}
	if c.Ordered && c.MaxAckPending <= 0 {
		c.MaxAckPending = DefaultOrderedPending
	}
	if c.Filter == "" {
		c.Filter = ">"
	}
}

// Backoff is the delay before the delivery after the n-th failed one: BackoffInitial
// doubled n-1 times, capped at BackoffMax, plus up to 20% jitter so that a receiver coming
// back is not hit by every retry at once.
func (c SubscriptionConfig) Backoff(n uint64) time.Duration {
	d := c.BackoffInitial
	for i := uint64(1); i < n && d < c.BackoffMax; i++ {
		d *= 2
	}
	d = min(d, c.BackoffMax)
	return d + time.Duration(rand.Int64N(int64(d)/5+1)) //nolint:gosec // jitter, not a secret
}

// RetryAfterError asks for the next delivery after a given delay (a receiver's Retry-After).
type RetryAfterError struct {
	Err   error
	After time.Duration
}

func (e *RetryAfterError) Error() string { return e.Err.Error() }
func (e *RetryAfterError) Unwrap() error { return e.Err }

// ErrPermanent marks a delivery error that retrying cannot fix (a receiver's 400, say): the
// message is dead-lettered at once. Wrap it: fmt.Errorf("...: %w", bus.ErrPermanent).
var ErrPermanent = errors.New("permanent failure")

// ErrUnavailable marks a delivery error that says the receiver is down or overloaded (it could
// not be reached, timed out, or answered 429, 502, 503 or 504) rather than that it failed on
// this message. An ordered subscription retries such a failure without counting it against
// MaxDeliver, so a receiver down for hours gets every message when it returns instead of a
// dead-letter queue full of them. Wrap it: fmt.Errorf("...: %w", bus.ErrUnavailable).
var ErrUnavailable = errors.New("receiver unavailable")

// TopicHandler delivers one message. nil acks it; an error naks it with back-off (a
// *RetryAfterError's delay if longer) until MaxDeliver deliveries failed (or at once for an
// ErrPermanent); then the message is copied to the subscription's dead-letter queue with the error and terminated.
type TopicHandler func(ctx context.Context, m TopicMessage) error

// EnsureSubscription creates or updates a subscription's durable consumer and DLQ stream.
// A consumer created now starts with the messages published from now on.
func (b *Bus) EnsureSubscription(ctx context.Context, cfg SubscriptionConfig) (jetstream.Consumer, error) {
	if err := checkName("subscription", cfg.Name); err != nil {
		return nil, err
	}
	if err := checkName("topic", cfg.Topic); err != nil {
		return nil, err
	}
	cfg.defaults()
	if _, err := b.js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        b.DLQStream(cfg.Name),
		Description: "Data Hub dead-letter queue of subscription " + cfg.Name,
		Subjects:    []string{b.dlqSubject(cfg.Name)},
		Retention:   jetstream.LimitsPolicy,
		Storage:     jetstream.FileStorage,
		MaxAge:      DefaultDLQMaxAge,
		Duplicates:  DefaultDupWindow,
		Replicas:    b.cfg.Replicas,
	}); err != nil {
		return nil, errcode.Errorf(errcode.Unavailable, b.where, "", fmt.Errorf("create dead-letter stream of %s: %w", cfg.Name, err))
	}
	// The hub counts deliveries itself and dead-letters the last one; the server's cap is a
	// backstop one above it, for a handler that dies on the last delivery. An ordered
	// subscription retries in place, and the server only counts the redeliveries after a
	// crash or a hand-off: a cap there could drop a message silently, so it has none, and the
	// lanes dead-letter one redelivered too often (see orderedRedeliveryCap).
	maxDeliver := cfg.MaxDeliver + 1
	if cfg.Ordered {
		maxDeliver = -1
	}
	cc := jetstream.ConsumerConfig{
		Durable:       cfg.Name,
		Description:   "Data Hub subscription " + cfg.Name,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       cfg.AckWait,
		MaxDeliver:    maxDeliver,
		MaxAckPending: cfg.MaxAckPending,
		DeliverPolicy: jetstream.DeliverNewPolicy,
		FilterSubject: b.TopicSubject(cfg.Topic, cfg.Filter),
	}
	if !cfg.StartTime.IsZero() {
		start := cfg.StartTime.UTC()
		cc.DeliverPolicy, cc.OptStartTime = jetstream.DeliverByStartTimePolicy, &start
	}
	// Where a consumer starts cannot change: an existing one keeps its own.
	if old, err := b.js.Consumer(ctx, b.TopicStream(cfg.Topic), cfg.Name); err == nil {
		cc.DeliverPolicy, cc.OptStartTime = old.CachedInfo().Config.DeliverPolicy, old.CachedInfo().Config.OptStartTime
	}
	cons, err := b.js.CreateOrUpdateConsumer(ctx, b.TopicStream(cfg.Topic), cc)
	if err != nil {
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			return nil, fmt.Errorf("subscription %s: %w %s", cfg.Name, ErrNoTopic, cfg.Topic)
		}
		return nil, errcode.Errorf(errcode.Unavailable, b.where, "", fmt.Errorf("create consumer %s on %s: %w", cfg.Name, b.TopicStream(cfg.Topic), err))
	}
	return cons, nil
}

// DeleteSubscription removes a subscription's consumer; its DLQ is kept unless dlq is true.
func (b *Bus) DeleteSubscription(ctx context.Context, topic, sub string, dlq bool) error {
	if err := b.js.DeleteConsumer(ctx, b.TopicStream(topic), sub); err != nil &&
		!errors.Is(err, jetstream.ErrConsumerNotFound) && !errors.Is(err, jetstream.ErrStreamNotFound) {
		return fmt.Errorf("delete subscription %s: %w", sub, err)
	}
	if dlq {
		if err := b.js.DeleteStream(ctx, b.DLQStream(sub)); err != nil && !errors.Is(err, jetstream.ErrStreamNotFound) {
			return fmt.Errorf("delete dead-letter queue of %s: %w", sub, err)
		}
	}
	return nil
}

// ConsumeSubscription delivers a subscription's messages to handler until ctx is cancelled
// or the Bus is closed; then it waits for the running handlers and returns ctx's cause or
// ErrClosed. Messages replayed for another subscription are acked without a delivery.
func (b *Bus) ConsumeSubscription(ctx context.Context, cfg SubscriptionConfig, handler TopicHandler) error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return ErrClosed
	}
	b.active.Add(1)
	b.mu.Unlock()
	defer b.active.Done()

	cfg.defaults()
	cons, err := b.EnsureSubscription(ctx, cfg)
	if err != nil {
		return err
	}
	if cfg.Ordered {
		return b.consumeOrdered(ctx, cons, cfg, handler)
	}
	return b.pullLoop(ctx, cons, cfg.Concurrency, "pull message of "+cfg.Name, func(ctx context.Context, msg jetstream.Msg) {
		b.handleTopicMsg(ctx, msg, cfg, handler)
	})
}

// handleTopicMsg delivers one message of a subscription and settles it: ack, nak with
// back-off, or after the last delivery a copy to the dead-letter queue and a term.
func (b *Bus) handleTopicMsg(ctx context.Context, msg jetstream.Msg, cfg SubscriptionConfig, handler TopicHandler) {
	m := b.topicMessage(cfg.Topic, msg)
	if r := m.Headers[HeaderReplayFor]; r != "" && r != cfg.Name {
		_ = msg.Ack() // a replay for another subscription
		return
	}
	if ctx.Err() != nil {
		_ = msg.NakWithDelay(time.Second)
		return
	}
	stop := keepAlive(ctx, msg, cfg.AckWait)
	err := callTopicHandler(ctx, handler, m)
	stop()
	switch {
	case err == nil:
		b.ackMsg(ctx, msg, cfg, m)
	case ctx.Err() != nil:
		// Stopping: left for redelivery after AckWait, as if this process had died.
	case m.Delivered >= uint64(max(cfg.MaxDeliver, 1)) || errors.Is(err, ErrPermanent): //nolint:gosec // positive after defaults
		if !b.deadLetterAndTerm(ctx, msg, cfg, m, err) {
			_ = msg.NakWithDelay(cfg.BackoffMax) // not copied: try again later rather than lose it
		}
	default:
		delay := subscriptionDelay(cfg, m.Delivered, err)
		b.log.Debug("delivery failed", "subscription", cfg.Name, "seq", m.Seq, "delivery", m.Delivered, "retry_in", delay, "err", err)
		if nerr := msg.NakWithDelay(delay); nerr != nil {
			b.log.Warn("nak message", "subscription", cfg.Name, "seq", m.Seq, "err", nerr)
		}
	}
}

func settleCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
}

// ackMsg acks a delivered message and waits for the server to confirm it.
func (b *Bus) ackMsg(ctx context.Context, msg jetstream.Msg, cfg SubscriptionConfig, m TopicMessage) {
	actx, cancel := settleCtx(ctx)
	defer cancel()
	if err := msg.DoubleAck(actx); err != nil {
		b.log.Warn("ack message", "subscription", cfg.Name, "seq", m.Seq, "err", err)
	}
}

// deadLetterAndTerm copies an exhausted message to the dead-letter queue and terminates it; it
// reports false when the copy failed (the message is then still pending).
func (b *Bus) deadLetterAndTerm(ctx context.Context, msg jetstream.Msg, cfg SubscriptionConfig, m TopicMessage, cause error) bool {
	b.log.Warn("message dead-lettered", "subscription", cfg.Name, "seq", m.Seq, "delivery", m.Delivered, "err", cause)
	actx, cancel := settleCtx(ctx)
	defer cancel()
	if err := b.deadLetter(actx, cfg.Name, msg, m, cause); err != nil {
		b.log.Error("copy to the dead-letter queue", "subscription", cfg.Name, "seq", m.Seq, "err", err)
		return false
	}
	if err := msg.TermWithReason("dead-lettered"); err != nil {
		b.log.Warn("terminate message", "subscription", cfg.Name, "seq", m.Seq, "err", err)
	}
	if cfg.OnDeadLetter != nil {
		cfg.OnDeadLetter(actx, m, cause)
	}
	return true
}

// subscriptionDelay is the back-off after the n-th failed delivery, or the receiver's Retry-After
// when longer (capped at an hour, or BackoffMax if that is longer).
func subscriptionDelay(cfg SubscriptionConfig, n uint64, err error) time.Duration {
	delay := cfg.Backoff(n)
	var ra *RetryAfterError
	if errors.As(err, &ra) && ra.After > delay {
		delay = min(ra.After, max(cfg.BackoffMax, time.Hour))
	}
	return delay
}

func callTopicHandler(ctx context.Context, h TopicHandler, m TopicMessage) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("delivery panicked: %v\n%s", p, debug.Stack())
		}
	}()
	return h(ctx, m)
}

// maxErrorLen bounds the error text kept with a dead letter.
const maxErrorLen = 1000

// deadLetter copies an exhausted message to the subscription's DLQ with its headers, the
// delivery count and the last error. The copy's id is the subscription and topic sequence, so
// a copy repeated after a crash is stored once.
func (b *Bus) deadLetter(ctx context.Context, sub string, msg jetstream.Msg, m TopicMessage, cause error) error {
	h := nats.Header{}
	for k, v := range msg.Headers() {
		if !strings.HasPrefix(k, "Nats-") {
			h[k] = v
		}
	}
	errText := cause.Error()
	if len(errText) > maxErrorLen {
		errText = errText[:maxErrorLen]
	}
	h.Set(HeaderDLQTopic, m.Topic)
	h.Set(HeaderDLQSubject, m.Subject)
	h.Set(HeaderDLQSeq, strconv.FormatUint(m.Seq, 10))
	h.Set(HeaderDLQDeliveries, strconv.FormatUint(m.Delivered, 10))
	h.Set(HeaderDLQError, strings.ToValidUTF8(strings.ReplaceAll(strings.ReplaceAll(errText, "\r", " "), "\n", " "), "?"))
	h.Set(HeaderDLQTime, time.Now().UTC().Format(time.RFC3339Nano))
	dm := &nats.Msg{Subject: b.dlqSubject(sub), Data: msg.Data(), Header: h}
	_, err := b.js.PublishMsg(ctx, dm, jetstream.WithMsgID(sub+"-"+strconv.FormatUint(m.Seq, 10)), jetstream.WithExpectStream(b.DLQStream(sub)))
	if err != nil {
		return fmt.Errorf("dead-letter %s seq %d: %w", sub, m.Seq, err)
	}
	return nil
}
