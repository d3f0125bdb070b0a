package bus

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// OrderedLeaseTTL bounds the lease time of an ordered subscription (Config.LeaseTTL when
// shorter): when its holder dies, another process takes over within it.
const OrderedLeaseTTL = 10 * time.Second

// OrderedAckWait is the AckWait the delivery engine gives ordered subscriptions. The lanes keep
// what they hold alive with progress acks, so a short one costs only acks, and bounds how long
// the messages of a holder that died stay pending before they come back.
const OrderedAckWait = 10 * time.Second

// DefaultOrderedPending is how many messages an ordered subscription holds at once (fetched and
// not yet settled) when SubscriptionConfig.MaxAckPending is not set.
const DefaultOrderedPending = 256

// Ordered delivery
//
// JetStream keeps a topic's order, but a consumer that several processes pull from, with
// failed deliveries nak'ed for a later redelivery, does not: a retried message arrives after
// the ones behind it, and two processes deliver one key's messages at the same time. An
// ordered subscription therefore:
//
//   - is delivered by one process at a time, the holder of the lease "subscription.<name>" in
//     NATS KV; the others wait to take it over when the holder stops or dies;
//   - has one fetcher that pulls messages in stream order into lanes, by a hash of the message's
//     key (X-DataHub-Key, else its subject), so every key's messages go through one lane, one at
//     a time, while other keys go on in the other lanes;
//   - retries a failed delivery in its lane, with back-off, instead of nak'ing it, so the messages
//     of that lane wait behind it; after MaxDeliver attempts the message is dead-lettered and the
//     lane goes on;
//   - keeps every message it holds alive with progress acks, however long its lane is stuck, so
//     the server redelivers nothing behind its back;
//   - on a clean stop, naks what it still holds, in sequence order, and leaves a hand-off mark
//     next to the lease: the server redelivers nak'ed messages before new ones, so the next
//     holder goes on at once, in order;
//   - on taking the lease over from a holder that died holding messages, waits for them to come
//     back (see waitPending) before fetching, because the server redelivers expired messages,
//     in sequence order, before new ones.
//
// A subscriber that is down for an hour therefore receives, when it returns, every message
// published meanwhile in order (per key; with one lane, in the topic's order).

// consumeOrdered runs an ordered subscription until ctx ends or the bus closes.
func (b *Bus) consumeOrdered(ctx context.Context, cons jetstream.Consumer, cfg SubscriptionConfig, handler TopicHandler) error {
	ctx, cancel := b.untilClosed(ctx)
	defer cancel()
	owner := cfg.Owner
	if owner == "" {
		owner = "consumer-" + uuid.NewString()
	}
	key := "subscription." + cfg.Name
	ttl := min(b.cfg.LeaseTTL, OrderedLeaseTTL)
	for ctx.Err() == nil {
		lease, err := b.AcquireLease(ctx, key, owner, ttl)
		if err != nil {
			if !errors.Is(err, ErrLeaseHeld) {
				b.pause(ctx, "take the lease of subscription "+cfg.Name, err)
				continue
			}
			// Someone else delivers it: look again after a third of the lease time.
			sleepCtx(ctx, max(ttl/3, minLeaseTTL))
			continue
		}
		b.log.Debug("delivering ordered subscription", "subscription", cfg.Name, "owner", owner)
		if !b.takeHandoff(ctx, key, ttl) {
			b.waitPending(ctx, cons, cfg, ttl)
		}
		lctx, stop := context.WithCancel(ctx)
		var lost atomic.Bool
		go func() {
			select {
			case <-lease.Lost():
				lost.Store(true)
				b.log.Warn("lost the lease of an ordered subscription; stopping its deliveries", "subscription", cfg.Name)
				stop()
			case <-lctx.Done():
			}
		}()
		left := b.deliverOrdered(lctx, cons, cfg, handler)
		stop()
		sctx, scancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		if !lost.Load() {
			// A clean stop: hand what is left back in order, and tell the next holder.
			if b.nakInOrder(left) && b.nc.FlushWithContext(sctx) == nil {
				b.putHandoff(sctx, key, ttl)
			}
		}
		_ = lease.Release(sctx)
		scancel()
	}
	select {
	case <-b.closing:
		return ErrClosed
	default:
		return context.Cause(ctx)
	}
}

// waitPending waits until the consumer has no message pending, or until the messages a dead
// holder fetched have come back for redelivery (they must be delivered before the ones after
// them). A holder renews its lease every TTL/3, so it died at most 2/3 TTL before the lease
// could be taken, and kept its messages alive until then: they expire at most AckWait - 2/3 TTL
// after the lease was taken (plus a second's margin).
func (b *Bus) waitPending(ctx context.Context, cons jetstream.Consumer, cfg SubscriptionConfig, ttl time.Duration) {
	deadline := time.Now().Add(max(cfg.AckWait-2*ttl/3, 0) + time.Second)
	for ctx.Err() == nil && time.Now().Before(deadline) {
		ictx, cancel := context.WithTimeout(ctx, 5*time.Second)
		info, err := cons.Info(ictx)
		cancel()
		if err == nil && info.NumAckPending == 0 {
			return
		}
		sleepCtx(ctx, min(time.Second, time.Until(deadline)))
	}
}

// handoffKey is the lock-bucket key a holder that stopped cleanly leaves for the next one.
func handoffKey(lease string) string { return lease + ".handoff" }

// putHandoff records that the last holder of lease stopped cleanly: it nak'ed what it held, in
// order, so the next holder need not wait for the messages to expire. The key expires with
// the lease bucket's TTL.
func (b *Bus) putHandoff(ctx context.Context, lease string, ttl time.Duration) {
	kv, err := b.lockBucket(ctx, ttl)
	if err == nil {
		_, err = kv.Put(ctx, handoffKey(lease), []byte("clean"))
	}
	if err != nil {
		b.log.Debug("record a clean hand-off", "lease", lease, "err", err)
	}
}

// takeHandoff reports (and clears) a clean hand-off by the last holder of lease.
func (b *Bus) takeHandoff(ctx context.Context, lease string, ttl time.Duration) bool {
	kv, err := b.lockBucket(ctx, ttl)
	if err != nil {
		return false
	}
	if _, err := kv.Get(ctx, handoffKey(lease)); err != nil {
		return false
	}
	_ = kv.Delete(ctx, handoffKey(lease))
	return true
}

// nakInOrder naks msgs in stream order, so the server redelivers them, in that order, before
// any newer message; it reports whether every nak was sent.
func (b *Bus) nakInOrder(msgs []jetstream.Msg) bool {
	type seqMsg struct {
		seq uint64
		msg jetstream.Msg
	}
	sorted := make([]seqMsg, 0, len(msgs))
	for _, m := range msgs {
		var seq uint64
		if md, err := m.Metadata(); err == nil {
			seq = md.Sequence.Stream
		}
		sorted = append(sorted, seqMsg{seq, m})
	}
	slices.SortFunc(sorted, func(a, b seqMsg) int { return cmp.Compare(a.seq, b.seq) })
	ok := true
	for _, m := range sorted {
		if err := m.msg.Nak(); err != nil {
			ok = false
		}
	}
	return ok
}

func sleepCtx(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// held is the set of messages fetched and not settled yet, kept alive with progress acks.
type held struct {
	mu   sync.Mutex
	msgs map[jetstream.Msg]struct{}
}

func (h *held) add(m jetstream.Msg) {
	h.mu.Lock()
	h.msgs[m] = struct{}{}
	h.mu.Unlock()
}

func (h *held) remove(m jetstream.Msg) {
	h.mu.Lock()
	delete(h.msgs, m)
	h.mu.Unlock()
}

func (h *held) progress() {
	h.mu.Lock()
	ms := make([]jetstream.Msg, 0, len(h.msgs))
	for m := range h.msgs {
		ms = append(ms, m)
	}
	h.mu.Unlock()
	for _, m := range ms {
		_ = m.InProgress()
	}
}

// LaneKey is what orders a message: its key header, else its subject.
func LaneKey(m TopicMessage) string {
	if k := m.Headers[HeaderKey]; k != "" {
		return k
	}
	return m.Subject
}

// deliverOrdered fetches into lanes and delivers until ctx ends; once every lane has stopped,
// it returns the messages fetched and not settled (still pending).
func (b *Bus) deliverOrdered(ctx context.Context, cons jetstream.Consumer, cfg SubscriptionConfig, handler TopicHandler) []jetstream.Msg {
	capacity := cfg.MaxAckPending
	if capacity <= 0 {
		capacity = DefaultOrderedPending
	}
	nlanes := max(cfg.Concurrency, 1)
	slots := make(chan struct{}, capacity)
	hs := &held{msgs: map[jetstream.Msg]struct{}{}}
	lanes := make([]chan jetstream.Msg, nlanes)
	var wg sync.WaitGroup
	for i := range lanes {
		lanes[i] = make(chan jetstream.Msg, capacity)
		wg.Go(func() {
			for {
				select {
				case <-ctx.Done():
					return
				case msg := <-lanes[i]:
					if b.deliverInLane(ctx, msg, cfg, handler) {
						hs.remove(msg)
						<-slots
					}
				}
			}
		})
	}
	// Progress acks go on until the lanes and the fetcher have stopped, so that nothing held
	// expires (and comes back out of order) before the caller hands it back.
	pctx, stopProgress := context.WithCancel(context.WithoutCancel(ctx))
	progressed := make(chan struct{})
	go func() {
		defer close(progressed)
		t := time.NewTicker(max(cfg.AckWait/3, 10*time.Millisecond))
		defer t.Stop()
		for {
			select {
			case <-pctx.Done():
				return
			case <-t.C:
				hs.progress()
			}
		}
	}()
	defer func() { stopProgress(); <-progressed }()
	what := "pull message of " + cfg.Name
	for ctx.Err() == nil {
		select { // wait for a free slot
		case slots <- struct{}{}:
		case <-ctx.Done():
			continue
		}
		free := capacity - len(slots) + 1
		got := 0
		b.pullStream(ctx, cons, free, what, func(msg jetstream.Msg) {
			if got > 0 {
				slots <- struct{}{} // never blocks: at most free are pulled, and only lanes free slots meanwhile
			}
			got++
			m := b.topicMessage(cfg.Topic, msg)
			if r := m.Headers[HeaderReplayFor]; r != "" && r != cfg.Name {
				_ = msg.Ack() // a replay for another subscription
				<-slots
				return
			}
			hs.add(msg)
			h := fnv.New32a()
			_, _ = h.Write([]byte(LaneKey(m)))
			lanes[h.Sum32()%uint32(nlanes)] <- msg //nolint:gosec // nlanes >= 1, small
		})
		if got == 0 {
			<-slots
		}
	}
	wg.Wait()
	hs.mu.Lock()
	defer hs.mu.Unlock()
	return slices.Collect(maps.Keys(hs.msgs))
}

// orderedFetchWait is how long one pull of an ordered subscription stays open on the server.
// The pull is not cancelled when the subscription stops (a message the server sent to a
// cancelled pull would stay pending, and come back after newer ones): stopping waits for it to
// end instead.
const orderedFetchWait = time.Second

// pullStream sends one pull request for up to n messages that stays open for orderedFetchWait,
// and hands each message to take as it arrives, in stream order. One request for a whole batch,
// rather than one (or two: a no-wait pull, then a waiting one) per message, is what keeps the
// server's and the connection's work per message close to a plain consumer's: every pull is an
// inbox subscribed, a request, a status and an unsubscribe. Whatever the server sent is handed
// over, even if ctx ended meanwhile.
func (b *Bus) pullStream(ctx context.Context, cons jetstream.Consumer, n int, what string, take func(jetstream.Msg)) {
	batch, err := cons.Fetch(n, jetstream.FetchMaxWait(orderedFetchWait))
	if err != nil {
		b.pause(ctx, what, err)
		return
	}
	got := 0
	for m := range batch.Messages() {
		take(m)
		got++
	}
	if err := batch.Error(); got == 0 && err != nil && ctx.Err() == nil && !errors.Is(err, nats.ErrTimeout) && !errors.Is(err, context.DeadlineExceeded) {
		b.pause(ctx, what, err)
	}
}

// orderedRedeliveryCap is how many times the server may deliver a message of an ordered
// subscription (its first delivery, then one per crash or hand-off while the message was
// held) before the lane dead-letters it unseen: a message that makes the hub crash each time
// it is delivered must not stop the subscription for ever.
func orderedRedeliveryCap(cfg SubscriptionConfig) uint64 {
	return 2*uint64(max(cfg.MaxDeliver, 1)) + 10 //nolint:gosec // positive
}

// deliverInLane delivers one message, retrying it in place with back-off until it is
// delivered or dead-lettered (true), or ctx ends (false: it is left pending). Failures that
// wrap ErrUnavailable are retried without counting against MaxDeliver.
func (b *Bus) deliverInLane(ctx context.Context, msg jetstream.Msg, cfg SubscriptionConfig, handler TopicHandler) bool {
	m := b.topicMessage(cfg.Topic, msg)
	attempt := max(m.Delivered, 1) // every attempt: the back-off and the delivery header
	counted := attempt             // the attempts that count against MaxDeliver
	if m.Delivered > orderedRedeliveryCap(cfg) {
		err := fmt.Errorf("delivered %d times without being settled (the hub may have stopped while delivering it each time): %w",
			m.Delivered, ErrPermanent)
		return b.deadLetterInLane(ctx, msg, cfg, m, err)
	}
	for ctx.Err() == nil {
		m.Delivered = attempt
		err := callTopicHandler(ctx, handler, m)
		switch {
		case err == nil:
			// Not waiting for the server's confirmation: a lane delivers one message at a
			// time, and a round trip per message would halve its rate. The acks go out in
			// order on the connection; one lost with the connection means a redelivery,
			// which at-least-once allows (and which comes before any newer message).
			if aerr := msg.Ack(); aerr != nil {
				b.log.Warn("ack message", "subscription", cfg.Name, "seq", m.Seq, "err", aerr)
			}
			return true
		case ctx.Err() != nil:
			return false
		case errors.Is(err, ErrPermanent) || (counted >= uint64(max(cfg.MaxDeliver, 1)) && !errors.Is(err, ErrUnavailable)): //nolint:gosec // positive after defaults
			return b.deadLetterInLane(ctx, msg, cfg, m, err)
		default:
			delay := subscriptionDelay(cfg, attempt, err)
			level := slog.LevelDebug
			if attempt == 1 || attempt%10 == 0 { // an outage shows in the log, without flooding it
				level = slog.LevelWarn
			}
			b.log.Log(ctx, level, "delivery failed", "subscription", cfg.Name, "seq", m.Seq, "delivery", attempt, "retry_in", delay, "err", err)
			sleepCtx(ctx, delay)
			attempt++
			if !errors.Is(err, ErrUnavailable) {
				counted++
			}
		}
	}
	return false
}

// deadLetterInLane dead-letters a message of a lane, trying again (the lane waits) until the
// copy is stored or ctx ends.
func (b *Bus) deadLetterInLane(ctx context.Context, msg jetstream.Msg, cfg SubscriptionConfig, m TopicMessage, err error) bool {
	for ctx.Err() == nil {
		if b.deadLetterAndTerm(ctx, msg, cfg, m, err) {
			return true
		}
		sleepCtx(ctx, cfg.Backoff(1))
	}
	return false
}
