package bus

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/datahub-oss/datahub/internal/testutil"
)

// TestTopicStreamAndDedupe: EnsureTopic creates the stream with the topic's limits (and
// updates them); a message id stores a message once; an unknown topic is ErrNoTopic.
func TestTopicStreamAndDedupe(t *testing.T) {
	eachServer(t, func(t *testing.T, open opener) {
		b := open(t)
		ctx := t.Context()
		tc := TopicConfig{Name: "orders", MaxAge: time.Hour, MaxBytes: 1 << 20, MaxMessages: 1000}
		if err := b.EnsureTopic(ctx, tc); err != nil {
			t.Fatal(err)
		}
		tc.MaxMessages = 2000
		if err := b.EnsureTopic(ctx, tc); err != nil {
			t.Fatal(err)
		}
		s, err := b.js.Stream(ctx, b.TopicStream("orders"))
		if err != nil {
			t.Fatal(err)
		}
		cfg := s.CachedInfo().Config
		if cfg.MaxAge != time.Hour || cfg.MaxBytes != 1<<20 || cfg.MaxMsgs != 2000 || cfg.Duplicates != DefaultDupWindow ||
			!strings.HasSuffix(cfg.Name, "DATAHUB_TOPIC_ORDERS") || !strings.HasSuffix(cfg.Subjects[0], "datahub.topics.orders.>") {
			t.Fatalf("stream config %+v", cfg)
		}
		r1, err := b.PublishTopic(ctx, "orders", "eu.created", []byte(`{"id":1}`), map[string]string{"Region": "eu"}, "order-1")
		if err != nil {
			t.Fatal(err)
		}
		r2, err := b.PublishTopic(ctx, "orders", "eu.created", []byte(`{"id":1}`), nil, "order-1")
		if err != nil {
			t.Fatal(err)
		}
		if r1.Duplicate || !r2.Duplicate || r1.Seq != r2.Seq {
			t.Fatalf("dedupe: %+v %+v", r1, r2)
		}
		r3, err := b.PublishTopic(ctx, "orders", "", []byte("x"), nil, "")
		if err != nil || r3.Duplicate || r3.MessageID == "" {
			t.Fatalf("no id: %+v %v", r3, err)
		}
		msgs, err := b.ReadTopic(ctx, "orders", 0, 10, time.Second)
		if err != nil || len(msgs) != 2 {
			t.Fatalf("read: %d %v", len(msgs), err)
		}
		if m := msgs[0]; m.Subject != "eu.created" || m.MessageID != "order-1" || m.Headers["Region"] != "eu" {
			t.Errorf("message %+v", m)
		}
		if msgs[1].Subject != DefaultSubject {
			t.Errorf("default subject %q", msgs[1].Subject)
		}
		if _, err := b.PublishTopic(ctx, "nope", "", []byte("x"), nil, ""); !errors.Is(err, ErrNoTopic) {
			t.Errorf("unknown topic: %v", err)
		}
		if _, err := b.PublishTopic(ctx, "orders", "", []byte("x"), map[string]string{"Nats-Msg-Id": "x"}, ""); err == nil {
			t.Error("reserved header accepted")
		}
	})
}

// TestReadTopicLongPoll: a long poll answers with the first message as soon as it is
// published, and with what is kept at once, not after its wait or once limit messages came.
func TestReadTopicLongPoll(t *testing.T) {
	eachServer(t, func(t *testing.T, open opener) {
		b := open(t)
		ctx := t.Context()
		if err := b.EnsureTopic(ctx, TopicConfig{Name: "orders"}); err != nil {
			t.Fatal(err)
		}
		type answer struct {
			msgs []TopicMessage
			err  error
		}
		read := func(after uint64) chan answer {
			c := make(chan answer, 1)
			go func() {
				m, err := b.ReadTopic(ctx, "orders", after, 100, time.Hour)
				c <- answer{m, err}
			}()
			return c
		}
		got := func(c chan answer, want int) []TopicMessage {
			t.Helper()
			select {
			case a := <-c:
				if a.err != nil || len(a.msgs) != want {
					t.Fatalf("read %d messages, %v; want %d", len(a.msgs), a.err, want)
				}
				return a.msgs
			case <-time.After(20 * time.Second):
				t.Fatal("the long poll did not answer when a message was there")
			}
			return nil
		}
		waiting := read(0)
		testutil.Never(t, 200*time.Millisecond, 20*time.Millisecond, func() error {
			return testutil.Checkf(len(waiting) == 0, "answered with no message")
		})
		if _, err := b.PublishTopic(ctx, "orders", "", []byte("1"), nil, ""); err != nil {
			t.Fatal(err)
		}
		first := got(waiting, 1)
		for i := range 2 {
			if _, err := b.PublishTopic(ctx, "orders", "", []byte{'2' + byte(i)}, nil, ""); err != nil {
				t.Fatal(err)
			}
		}
		got(read(first[0].Seq), 2)
		got(read(0), 3)
	})
}

// TestSubscriptionRetryDLQReplay: a failing delivery is retried with back-off, dead-lettered
// after MaxDeliver with its headers, delivery count and error; a replay reaches only the
// subscription it is for.
func TestSubscriptionRetryDLQReplay(t *testing.T) {
	eachServer(t, func(t *testing.T, open opener) {
		b := open(t)
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		if err := b.EnsureTopic(ctx, TopicConfig{Name: "orders"}); err != nil {
			t.Fatal(err)
		}
		var mu sync.Mutex
		fail := true
		got := map[string][]string{}
		attempts := 0
		handler := func(name string) TopicHandler {
			return func(_ context.Context, m TopicMessage) error {
				mu.Lock()
				defer mu.Unlock()
				if name == "failing" && fail {
					attempts++
					return fmt.Errorf("receiver said 500 (attempt %d)", m.Delivered)
				}
				got[name] = append(got[name], string(m.Data))
				return nil
			}
		}
		var wg sync.WaitGroup
		for _, name := range []string{"failing", "other"} {
			cfg := SubscriptionConfig{Name: name, Topic: "orders", MaxDeliver: 3, BackoffInitial: 10 * time.Millisecond, BackoffMax: 50 * time.Millisecond}
			if _, err := b.EnsureSubscription(ctx, cfg); err != nil {
				t.Fatal(err)
			}
			wg.Go(func() {
				if err := b.ConsumeSubscription(ctx, cfg, handler(name)); err != nil && !errors.Is(err, context.Canceled) {
					t.Errorf("consume %s: %v", name, err)
				}
			})
		}
		if _, err := b.PublishTopic(ctx, "orders", "eu", []byte("m1"), map[string]string{"Region": "eu"}, "id-1"); err != nil {
			t.Fatal(err)
		}
		var dl []DeadLetter
		testutil.WaitFor(t, 10*time.Second, "the dead letter", func() bool {
			var err error
			dl, err = b.ListDeadLetters(ctx, "failing", 0, 10)
			return err == nil && len(dl) == 1
		})
		d, err := b.GetDeadLetter(ctx, "failing", dl[0].Seq)
		if err != nil {
			t.Fatal(err)
		}
		if string(d.Data) != "m1" || d.Deliveries != 3 || d.Topic != "orders" || d.Subject != "eu" || d.MessageID != "id-1" ||
			d.Headers["Region"] != "eu" || !strings.Contains(d.Error, "attempt 3") || d.TopicSeq != 1 {
			t.Fatalf("dead letter %+v", d)
		}
		mu.Lock()
		if attempts != 3 {
			t.Errorf("%d attempts, want 3", attempts)
		}
		fail = false
		mu.Unlock()
		if n, err := b.ReplayAll(ctx, "failing"); err != nil || n != 1 {
			t.Fatalf("replay: %d %v", n, err)
		}
		testutil.WaitFor(t, 10*time.Second, "the replayed delivery", func() bool {
			mu.Lock()
			defer mu.Unlock()
			return len(got["failing"]) == 1
		})
		// The replay publishes to the failing subscription only; nothing follows it that could
		// show a stray copy in the other one sooner. A short watch.
		testutil.Never(t, 200*time.Millisecond, 20*time.Millisecond, func() error {
			mu.Lock()
			defer mu.Unlock()
			return testutil.Checkf(strings.Join(got["other"], ",") == "m1", "the other subscription got %v (the replay must not reach it)", got["other"])
		})
		if left, _ := b.ListDeadLetters(ctx, "failing", 0, 10); len(left) != 0 {
			t.Errorf("replayed dead letter still listed: %+v", left)
		}
		if _, err := b.GetDeadLetter(ctx, "failing", 999); !errors.Is(err, ErrNoDeadLetter) {
			t.Errorf("missing dead letter: %v", err)
		}
		cancel()
		wg.Wait()
	})
}

func TestSubscriptionBackoff(t *testing.T) {
	c := SubscriptionConfig{BackoffInitial: time.Second, BackoffMax: 10 * time.Second}
	for n, want := range map[uint64]time.Duration{1: time.Second, 2: 2 * time.Second, 3: 4 * time.Second, 4: 8 * time.Second, 5: 10 * time.Second, 50: 10 * time.Second} {
		got := c.Backoff(n)
		if got < want || got > want+want/5 {
			t.Errorf("Backoff(%d) = %s, want %s..+20%%", n, got, want)
		}
	}
}
