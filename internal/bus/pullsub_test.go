package bus

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/datahub-oss/datahub/connector"
	"github.com/datahub-oss/datahub/internal/testutil"
)

// pullSetup creates topic orders and a pull subscription on it.
func pullSetup(t *testing.T, b *Bus, cfg SubscriptionConfig) SubscriptionConfig {
	t.Helper()
	if err := b.EnsureTopic(t.Context(), TopicConfig{Name: cfg.Topic}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.EnsureSubscription(t.Context(), cfg); err != nil {
		t.Fatal(err)
	}
	return cfg
}

func publishN(t *testing.T, b *Bus, topic string, bodies ...string) {
	t.Helper()
	for _, s := range bodies {
		if _, err := b.PublishTopic(t.Context(), topic, "", []byte(s), nil, ""); err != nil {
			t.Fatal(err)
		}
	}
}

func fetch(t *testing.T, b *Bus, cfg SubscriptionConfig, n int, wait time.Duration) []PulledMessage {
	t.Helper()
	ms, err := b.FetchSubscription(t.Context(), cfg, n, wait)
	if err != nil {
		t.Fatalf("fetch: %v", err)
	}
	return ms
}

func settle(t *testing.T, b *Bus, cfg SubscriptionConfig, action string, delay time.Duration, ms ...PulledMessage) {
	t.Helper()
	toks := make([]string, len(ms))
	for i, m := range ms {
		toks[i] = m.AckToken
	}
	n, err := b.SettleSubscription(t.Context(), cfg.Topic, cfg.Name, toks, action, delay)
	if err != nil || n != len(ms) {
		t.Fatalf("%s: %d %v", action, n, err)
	}
}

func bodies(ms []PulledMessage) string {
	var s []string
	for _, m := range ms {
		s = append(s, string(m.Data))
	}
	return strings.Join(s, ",")
}

// fetchUntil fetches (one message, a short wait each time) until one arrives.
func fetchUntil(t *testing.T, b *Bus, cfg SubscriptionConfig, what string) PulledMessage {
	t.Helper()
	var got []PulledMessage
	testutil.WaitFor(t, 20*time.Second, what, func() bool {
		got = fetch(t, b, cfg, 1, 200*time.Millisecond)
		return len(got) == 1
	})
	return got[0]
}

// TestPullFetchAck: fetch returns the messages in order with tokens, waiting for the first;
// acked ones are not returned again.
func TestPullFetchAck(t *testing.T) {
	eachServer(t, func(t *testing.T, open opener) {
		b := open(t)
		cfg := pullSetup(t, b, SubscriptionConfig{Name: "orders-pull", Topic: "orders"})
		if got := fetch(t, b, cfg, 10, 0); len(got) != 0 {
			t.Fatalf("empty subscription gave %d", len(got))
		}
		publishN(t, b, "orders", "m1", "m2", "m3")
		got := fetch(t, b, cfg, 2, time.Second)
		if bodies(got) != "m1,m2" {
			t.Fatalf("first fetch %q", bodies(got))
		}
		for _, m := range got {
			if m.AckToken == "" || m.Delivered != 1 || m.Topic != "orders" || m.Seq == 0 {
				t.Errorf("message %+v", m)
			}
		}
		settle(t, b, cfg, SettleAck, 0, got...)
		rest := fetch(t, b, cfg, 10, time.Second)
		if bodies(rest) != "m3" {
			t.Fatalf("second fetch %q", bodies(rest))
		}
		settle(t, b, cfg, SettleAck, 0, rest...)
		if got := fetch(t, b, cfg, 10, 300*time.Millisecond); len(got) != 0 {
			t.Fatalf("acked messages came back: %q", bodies(got))
		}

		// A long poll answers as soon as a message is there.
		done := make(chan []PulledMessage, 1)
		go func() {
			ms, err := b.FetchSubscription(t.Context(), cfg, 10, 30*time.Second)
			if err != nil {
				t.Errorf("long poll: %v", err)
			}
			done <- ms
		}()
		publishN(t, b, "orders", "m4")
		if ms := <-done; bodies(ms) != "m4" {
			t.Fatalf("long poll %q", bodies(ms))
		}
		if _, err := b.FetchSubscription(t.Context(), cfg, 0, 0); connector.CodeOf(err) != connector.CodeUsage {
			t.Errorf("max 0: %v", err)
		}
		if _, err := b.FetchSubscription(t.Context(), SubscriptionConfig{Name: "x", Topic: "nope"}, 1, 0); !errors.Is(err, ErrNoTopic) {
			t.Errorf("unknown topic: %v", err)
		}
	})
}

// TestPullRedelivery: a nak'd message comes back (delivery 2); one not settled within AckWait
// comes back; progress keeps one from coming back; term drops it.
func TestPullRedelivery(t *testing.T) {
	eachServer(t, func(t *testing.T, open opener) {
		b := open(t)
		cfg := pullSetup(t, b, SubscriptionConfig{Name: "orders-pull", Topic: "orders", AckWait: time.Second})
		publishN(t, b, "orders", "m1")
		m := fetchUntil(t, b, cfg, "m1")
		settle(t, b, cfg, SettleNak, 0, m)
		m = fetchUntil(t, b, cfg, "m1 after nak")
		if string(m.Data) != "m1" || m.Delivered != 2 {
			t.Fatalf("after nak %+v", m)
		}
		settle(t, b, cfg, SettleNak, 100*time.Millisecond, m)
		m = fetchUntil(t, b, cfg, "m1 after nak with delay")
		if m.Delivered != 3 {
			t.Fatalf("after delayed nak %+v", m)
		}
		// Not settled: back after AckWait.
		m = fetchUntil(t, b, cfg, "m1 after AckWait")
		if m.Delivered != 4 {
			t.Fatalf("after AckWait %+v", m)
		}
		// Kept in progress for several AckWaits: it does not come back.
		until := time.Now().Add(3 * cfg.AckWait)
		for time.Now().Before(until) {
			settle(t, b, cfg, SettleProgress, 0, m)
			if got := fetch(t, b, cfg, 1, 200*time.Millisecond); len(got) != 0 {
				t.Fatalf("in-progress message came back: %+v", got[0])
			}
		}
		settle(t, b, cfg, SettleTerm, 0, m)
		if got := fetch(t, b, cfg, 1, 1500*time.Millisecond); len(got) != 0 {
			t.Fatalf("terminated message came back: %+v", got[0])
		}
	})
}

// TestPullTokens: a token of another subscription, a forged one and garbage are refused, and
// nothing of a batch holding one is settled.
func TestPullTokens(t *testing.T) {
	eachServer(t, func(t *testing.T, open opener) {
		b := open(t)
		cfg := pullSetup(t, b, SubscriptionConfig{Name: "orders-pull", Topic: "orders", AckWait: time.Second})
		other := pullSetup(t, b, SubscriptionConfig{Name: "other", Topic: "orders"})
		cfg2 := pullSetup(t, b, SubscriptionConfig{Name: "orders-pull", Topic: "invoices"})
		publishN(t, b, "orders", "m1")
		publishN(t, b, "invoices", "i1")
		m := fetchUntil(t, b, cfg, "m1")
		o := fetchUntil(t, b, other, "m1 of other")
		i := fetchUntil(t, b, cfg2, "i1")
		raw, _ := base64.RawURLEncoding.DecodeString(m.AckToken)
		forge := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
		for name, tok := range map[string]string{
			"other subscription": o.AckToken,
			"other topic":        i.AckToken,
			"garbage":            "not base64 !",
			"empty":              "",
			"not an ack subject": forge("datahub.topics.orders.default"),
			"wildcard":           forge(strings.Replace(string(raw), ".orders-pull.", ".*.", 1)),
			"short":              forge("$JS.ACK." + b.TopicStream("orders") + ".orders-pull.1"),
			"not numbers":        forge(fmt.Sprintf("$JS.ACK.%s.orders-pull.a.b.c.d.e", b.TopicStream("orders"))),
		} {
			n, err := b.SettleSubscription(t.Context(), "orders", "orders-pull", []string{m.AckToken, tok}, SettleAck, 0)
			if n != 0 || connector.CodeOf(err) != connector.CodeUsage {
				t.Errorf("%s: settled %d, %v", name, n, err)
			}
		}
		if _, err := b.SettleSubscription(t.Context(), "orders", "orders-pull", []string{m.AckToken}, "drop", 0); connector.CodeOf(err) != connector.CodeUsage {
			t.Errorf("unknown action: %v", err)
		}
		if _, err := b.SettleSubscription(t.Context(), "orders", "orders-pull", []string{m.AckToken}, SettleAck, time.Second); connector.CodeOf(err) != connector.CodeUsage {
			t.Errorf("ack with a delay: %v", err)
		}
		// Nothing was acked: m1 comes back after AckWait.
		if again := fetchUntil(t, b, cfg, "m1 again"); again.Seq != m.Seq || again.Delivered != 2 {
			t.Fatalf("refused batch: %+v", again)
		}
	})
}

// TestPullDeadLetter: after MaxDeliver deliveries without an ack the message goes to the DLQ
// (and OnDeadLetter is called); a replay for another subscription is skipped.
func TestPullDeadLetter(t *testing.T) {
	eachServer(t, func(t *testing.T, open opener) {
		b := open(t)
		var dead atomic.Int32
		cfg := pullSetup(t, b, SubscriptionConfig{Name: "orders-pull", Topic: "orders", MaxDeliver: 2})
		cfg.OnDeadLetter = func(_ context.Context, m TopicMessage, err error) {
			if string(m.Data) == "m1" && strings.Contains(err.Error(), "did not ack") {
				dead.Add(1)
			}
		}
		publishN(t, b, "orders", "m1")
		for i := range 2 {
			m := fetchUntil(t, b, cfg, "m1")
			if m.Delivered != uint64(i+1) { //nolint:gosec // small
				t.Fatalf("delivery %d: %+v", i+1, m)
			}
			settle(t, b, cfg, SettleNak, 0, m)
		}
		var dl []DeadLetter
		testutil.WaitFor(t, 10*time.Second, "the dead letter", func() bool {
			if got := fetch(t, b, cfg, 1, 100*time.Millisecond); len(got) != 0 {
				t.Fatalf("delivered past MaxDeliver: %+v", got[0])
			}
			var err error
			dl, err = b.ListDeadLetters(t.Context(), "orders-pull", 0, 10)
			return err == nil && len(dl) == 1
		})
		if dl[0].Deliveries != 3 || !strings.Contains(dl[0].Error, "did not ack it within max_deliver (2)") || dead.Load() != 1 {
			t.Errorf("dead letter %+v, OnDeadLetter called %d times", dl[0], dead.Load())
		}

		// A replay for another subscription is acked unseen; this one's reaches it.
		other := pullSetup(t, b, SubscriptionConfig{Name: "other", Topic: "orders"})
		if _, err := b.ReplayDeadLetter(t.Context(), "orders-pull", dl[0].Seq); err != nil {
			t.Fatal(err)
		}
		publishN(t, b, "orders", "m2")
		m := fetchUntil(t, b, cfg, "the replay")
		if string(m.Data) != "m1" || m.Headers[HeaderReplayFor] != "orders-pull" {
			t.Fatalf("replay %+v", m)
		}
		settle(t, b, cfg, SettleAck, 0, m)
		if got := fetch(t, b, other, 10, time.Second); bodies(got) != "m2" {
			t.Fatalf("other subscription got %q", bodies(got))
		}
	})
}
