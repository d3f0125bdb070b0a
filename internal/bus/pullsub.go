package bus

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/datahub-oss/datahub/connector"
	"github.com/datahub-oss/datahub/internal/errcode"
)

// MaxFetch is the most messages one FetchSubscription returns.
const MaxFetch = 1000

// settleTimeout bounds a settle given a context without a deadline.
const settleTimeout = 10 * time.Second

// Settle actions of SettleSubscription.
const (
	SettleAck      = "ack"
	SettleNak      = "nak"
	SettleProgress = "progress"
	SettleTerm     = "term"
)

// PulledMessage is a message of a pull subscription handed to a client, with the token the
// client settles it with.
type PulledMessage struct {
	TopicMessage
	// AckToken identifies this delivery to SettleSubscription. It is opaque to clients.
	AckToken string `json:"ack_token"`
}

// errNotAcked is the dead-letter error of a pulled message the client never settled.
type errNotAcked int

func (e errNotAcked) Error() string {
	return fmt.Sprintf("the client did not ack it within max_deliver (%d) deliveries", int(e))
}

// FetchSubscription pulls up to limit (1..MaxFetch) messages of a pull subscription for a
// client, waiting at most wait for the first; it returns at once when some are there. The
// client settles them with SettleSubscription before cfg.AckWait, or they are delivered
// again. A message replayed for another subscription is acked and skipped; one delivered
// more than cfg.MaxDeliver times is copied to the dead-letter queue and terminated instead of
// being returned.
func (b *Bus) FetchSubscription(ctx context.Context, cfg SubscriptionConfig, limit int, wait time.Duration) ([]PulledMessage, error) {
	if b.isClosed() {
		return nil, ErrClosed
	}
	if limit < 1 || limit > MaxFetch {
		return nil, connector.Errorf(connector.CodeUsage, "", "", fmt.Errorf("fetch %d messages: ask for 1 to %d", limit, MaxFetch))
	}
	cfg.defaults()
	cons, err := b.subscriptionConsumer(ctx, cfg)
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(wait)
	var out []PulledMessage
	for len(out) == 0 {
		// What is there now, without waiting.
		got, err := b.pullBatch(ctx, cons, limit, 0)
		if err != nil {
			return out, fmt.Errorf("fetch subscription %s: %w", cfg.Name, err)
		}
		out = append(out, b.pulled(ctx, cfg, got)...)
		if len(out) > 0 {
			break
		}
		if len(got) > 0 {
			continue // all skipped or dead-lettered: look again
		}
		remaining := time.Until(deadline)
		if remaining < 10*time.Millisecond {
			break
		}
		// Nothing yet: wait for one, then take what came with it on the next turn.
		got, err = b.pullBatch(ctx, cons, 1, remaining)
		if err != nil {
			return out, fmt.Errorf("fetch subscription %s: %w", cfg.Name, err)
		}
		if len(got) == 0 {
			break
		}
		out = append(out, b.pulled(ctx, cfg, got)...)
		if len(out) > 0 && limit > 1 {
			more, err := b.pullBatch(ctx, cons, limit-1, 0)
			if err != nil {
				return out, fmt.Errorf("fetch subscription %s: %w", cfg.Name, err)
			}
			out = append(out, b.pulled(ctx, cfg, more)...)
		}
	}
	return out, nil
}

// subscriptionConsumer is the subscription's durable consumer, created if it is missing (a
// fetch right after apply, before the delivery engine's next pass).
func (b *Bus) subscriptionConsumer(ctx context.Context, cfg SubscriptionConfig) (jetstream.Consumer, error) {
	if err := checkName("subscription", cfg.Name); err != nil {
		return nil, err
	}
	if err := checkName("topic", cfg.Topic); err != nil {
		return nil, err
	}
	cons, err := b.js.Consumer(ctx, b.TopicStream(cfg.Topic), cfg.Name)
	switch {
	case err == nil:
		return cons, nil
	case errors.Is(err, jetstream.ErrStreamNotFound):
		return nil, fmt.Errorf("subscription %s: %w %s", cfg.Name, ErrNoTopic, cfg.Topic)
	case errors.Is(err, jetstream.ErrConsumerNotFound):
		return b.EnsureSubscription(ctx, cfg)
	default:
		return nil, errcode.Errorf(errcode.Unavailable, b.where, "", fmt.Errorf("consumer %s: %w", cfg.Name, err))
	}
}

// pullBatch fetches up to n messages, waiting up to wait (0: only those already there).
func (b *Bus) pullBatch(ctx context.Context, cons jetstream.Consumer, n int, wait time.Duration) ([]jetstream.Msg, error) {
	var batch jetstream.MessageBatch
	var err error
	if wait <= 0 {
		batch, err = cons.FetchNoWait(n)
	} else {
		fctx, cancel := context.WithTimeout(ctx, wait)
		defer cancel()
		batch, err = cons.Fetch(n, jetstream.FetchContext(fctx))
	}
	if err != nil {
		return nil, err
	}
	var out []jetstream.Msg
	for m := range batch.Messages() {
		out = append(out, m)
	}
	if err := batch.Error(); err != nil && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, nats.ErrTimeout) &&
		!errors.Is(err, jetstream.ErrNoMessages) {
		if ctx.Err() != nil {
			return out, context.Cause(ctx)
		}
		return out, err
	}
	return out, nil
}

// pulled turns fetched messages into the client's, skipping replays for other
// subscriptions and dead-lettering those past MaxDeliver.
func (b *Bus) pulled(ctx context.Context, cfg SubscriptionConfig, msgs []jetstream.Msg) []PulledMessage {
	var out []PulledMessage
	for _, msg := range msgs {
		m := b.topicMessage(cfg.Topic, msg)
		if r := m.Headers[HeaderReplayFor]; r != "" && r != cfg.Name {
			_ = msg.Ack() // a replay for another subscription
			continue
		}
		if m.Delivered > uint64(cfg.MaxDeliver) { //nolint:gosec // positive after defaults
			b.deadLetterPulled(ctx, cfg, msg, m)
			continue
		}
		out = append(out, PulledMessage{TopicMessage: m, AckToken: base64.RawURLEncoding.EncodeToString([]byte(msg.Reply()))})
	}
	return out
}

func (b *Bus) deadLetterPulled(ctx context.Context, cfg SubscriptionConfig, msg jetstream.Msg, m TopicMessage) {
	cause := errNotAcked(cfg.MaxDeliver)
	b.log.Warn("message dead-lettered", "subscription", cfg.Name, "seq", m.Seq, "delivery", m.Delivered, "err", cause)
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := b.deadLetter(dctx, cfg.Name, msg, m, cause); err != nil {
		// Not copied: try again later rather than lose it.
		b.log.Error("copy to the dead-letter queue", "subscription", cfg.Name, "seq", m.Seq, "err", err)
		_ = msg.NakWithDelay(cfg.BackoffMax)
		return
	}
	if err := msg.TermWithReason("dead-lettered"); err != nil {
		b.log.Warn("terminate message", "subscription", cfg.Name, "seq", m.Seq, "err", err)
	}
	if cfg.OnDeadLetter != nil {
		cfg.OnDeadLetter(dctx, m, cause)
	}
}

// SettleSubscription settles pulled messages of subscription sub on topic by their ack
// tokens: ack, nak (redelivered after delay, at once when 0), progress (the client is still
// working on them: their AckWait starts again) or term (never delivered again, not
// dead-lettered). Every token is checked first: one that is not a delivery of this
// subscription refuses the whole batch. It returns how many were settled.
func (b *Bus) SettleSubscription(ctx context.Context, topic, sub string, tokens []string, action string, delay time.Duration) (int, error) {
	if b.isClosed() {
		return 0, ErrClosed
	}
	if err := checkName("subscription", sub); err != nil {
		return 0, err
	}
	if err := checkName("topic", topic); err != nil {
		return 0, err
	}
	var body []byte
	switch action {
	case SettleAck:
		body = []byte("+ACK")
	case SettleNak:
		body = []byte("-NAK")
		if delay > 0 {
			body = fmt.Appendf(nil, `-NAK {"delay": %d}`, delay.Nanoseconds())
		}
	case SettleProgress:
		body = []byte("+WPI")
	case SettleTerm:
		body = []byte("+TERM")
	default:
		return 0, connector.Errorf(connector.CodeUsage, "", "", fmt.Errorf("action %q: use ack, nak, progress or term", action))
	}
	if delay < 0 || (delay > 0 && action != SettleNak) {
		return 0, connector.Errorf(connector.CodeUsage, "", "", errors.New("a delay goes only with nak, and is not negative"))
	}
	subjects := make([]string, len(tokens))
	for i, tok := range tokens {
		subj, err := b.ackSubject(topic, sub, tok)
		if err != nil {
			return 0, connector.Errorf(connector.CodeUsage, "", "", fmt.Errorf("ack token %d: %w", i+1, err))
		}
		subjects[i] = subj
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, settleTimeout)
		defer cancel()
	}
	for i, subj := range subjects {
		var err error
		if action == SettleAck {
			// A request, so that the server confirms the ack was stored (like DoubleAck).
			_, err = b.nc.RequestWithContext(ctx, subj, body)
		} else {
			err = b.nc.Publish(subj, body)
		}
		if err != nil {
			return i, errcode.Errorf(errcode.Unavailable, b.where, "", fmt.Errorf("%s message of %s: %w", action, sub, err))
		}
	}
	if action != SettleAck {
		if err := b.nc.FlushWithContext(ctx); err != nil {
			return len(subjects), errcode.Errorf(errcode.Unavailable, b.where, "", fmt.Errorf("%s messages of %s: %w", action, sub, err))
		}
	}
	return len(subjects), nil
}

// ackSubject decodes an ack token and checks that it is a JetStream ack subject of the
// subscription's consumer: $JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<time>.<pending>,
// or with <domain>.<account hash> before the stream and a random token after.
func (b *Bus) ackSubject(topic, sub, token string) (string, error) {
	raw, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || len(raw) == 0 || len(raw) > 512 {
		return "", errors.New("not an ack token of this server")
	}
	subj := string(raw)
	rest, ok := strings.CutPrefix(subj, "$JS.ACK.")
	if !ok || strings.ContainsAny(subj, " \t\r\n*>") {
		return "", errors.New("not an ack token of this server")
	}
	toks := strings.Split(rest, ".")
	var stream, consumer string
	var nums []string
	switch {
	case len(toks) == 7:
		stream, consumer, nums = toks[0], toks[1], toks[2:7]
	case len(toks) >= 9:
		stream, consumer, nums = toks[2], toks[3], toks[4:9]
	default:
		return "", errors.New("not an ack token of this server")
	}
	for _, n := range nums {
		if _, err := strconv.ParseUint(n, 10, 64); err != nil {
			return "", errors.New("not an ack token of this server")
		}
	}
	if stream != b.TopicStream(topic) || consumer != sub {
		return "", fmt.Errorf("not a message of subscription %s", sub)
	}
	return subj, nil
}
