package bus

import (
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// EnsureTopic does not resend an unchanged configuration, sends a changed one, and creates the
// stream again after a publish found it gone.
func TestEnsureTopicCached(t *testing.T) {
	eachServer(t, func(t *testing.T, open opener) {
		b := open(t)
		ctx := t.Context()
		cfg := TopicConfig{Name: "cached", MaxAge: time.Hour}
		if err := b.EnsureTopic(ctx, cfg); err != nil {
			t.Fatal(err)
		}
		// Removed behind the Bus's back: the cached EnsureTopic does not notice...
		if err := b.js.DeleteStream(ctx, b.TopicStream("cached")); err != nil {
			t.Fatal(err)
		}
		if err := b.EnsureTopic(ctx, cfg); err != nil {
			t.Fatal(err)
		}
		// ...but the publish that finds it gone makes the next one create it again.
		if _, err := b.PublishTopic(ctx, "cached", "", []byte("x"), nil, ""); !errors.Is(err, ErrNoTopic) {
			t.Fatalf("publish to a removed stream: %v", err)
		}
		if err := b.EnsureTopic(ctx, cfg); err != nil {
			t.Fatal(err)
		}
		if _, err := b.PublishTopic(ctx, "cached", "", []byte("x"), nil, ""); err != nil {
			t.Fatalf("publish after re-ensuring: %v", err)
		}
		// A changed configuration is sent.
		cfg.MaxMessages = 5
		if err := b.EnsureTopic(ctx, cfg); err != nil {
			t.Fatal(err)
		}
		info, err := b.js.Stream(ctx, b.TopicStream("cached"))
		if err != nil {
			t.Fatal(err)
		}
		if info.CachedInfo().Config.MaxMsgs != 5 {
			t.Errorf("max messages %d, want 5", info.CachedInfo().Config.MaxMsgs)
		}
	})
}

// A message published by a plain NATS client on the topic's subject carries its Nats-Msg-Id as
// its message id (deduplicated by JetStream within the window).
func TestNATSClientMessageID(t *testing.T) {
	eachServer(t, func(t *testing.T, open opener) {
		b := open(t)
		ctx := t.Context()
		if err := b.EnsureTopic(ctx, TopicConfig{Name: "raw"}); err != nil {
			t.Fatal(err)
		}
		for range 2 {
			m := nats.NewMsg(b.TopicSubject("raw", "created"))
			m.Data = []byte(`{"n":1}`)
			m.Header.Set(jetstream.MsgIDHeader, "order-42")
			if _, err := b.js.PublishMsg(ctx, m); err != nil {
				t.Fatal(err)
			}
		}
		got, err := b.ReadTopic(ctx, "raw", 0, 10, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || got[0].MessageID != "order-42" || got[0].Subject != "created" {
			t.Fatalf("read %+v", got)
		}
	})
}

// A subscription's consumer follows its configuration: ordered and back, other limits.
func TestEnsureSubscriptionUpdates(t *testing.T) {
	eachServer(t, func(t *testing.T, open opener) {
		b := open(t)
		ctx := t.Context()
		if err := b.EnsureTopic(ctx, TopicConfig{Name: "changing"}); err != nil {
			t.Fatal(err)
		}
		for _, cfg := range []SubscriptionConfig{
			{Name: "sub", Topic: "changing", MaxDeliver: 5, MaxAckPending: 1},
			{Name: "sub", Topic: "changing", MaxDeliver: 5, Ordered: true, AckWait: 10 * time.Second},
			{Name: "sub", Topic: "changing", MaxDeliver: 7, Filter: "eu.>"},
		} {
			cons, err := b.EnsureSubscription(ctx, cfg)
			if err != nil {
				t.Fatalf("ensure %+v: %v", cfg, err)
			}
			info := cons.CachedInfo()
			want := cfg.MaxDeliver + 1
			if cfg.Ordered {
				want = -1
			}
			if info.Config.MaxDeliver != want {
				t.Errorf("%+v: max deliver %d, want %d", cfg, info.Config.MaxDeliver, want)
			}
		}
	})
}

// A consumer created with a StartTime gets what was stored since then, even before it was
// created; ensuring it again, with another start or none, keeps where it started.
func TestSubscriptionStartTime(t *testing.T) {
	eachServer(t, func(t *testing.T, open opener) {
		b := open(t)
		ctx := t.Context()
		if err := b.EnsureTopic(ctx, TopicConfig{Name: "early"}); err != nil {
			t.Fatal(err)
		}
		applied := time.Now().Add(-2 * time.Second)
		if _, err := b.PublishTopic(ctx, "early", "", []byte("before the consumer"), nil, "m1"); err != nil {
			t.Fatal(err)
		}
		cfg := SubscriptionConfig{Name: "late", Topic: "early", StartTime: applied}
		for _, c := range []SubscriptionConfig{cfg, {Name: "late", Topic: "early", StartTime: time.Now()}, {Name: "late", Topic: "early"}} {
			if _, err := b.EnsureSubscription(ctx, c); err != nil {
				t.Fatalf("ensure %+v: %v", c, err)
			}
		}
		got, err := b.FetchSubscription(ctx, cfg, 10, time.Second)
		if err != nil || len(got) != 1 || got[0].MessageID != "m1" {
			t.Fatalf("fetched %+v, %v", got, err)
		}
		// Without a start, a new consumer starts with what comes next.
		if _, err := b.EnsureSubscription(ctx, SubscriptionConfig{Name: "now", Topic: "early"}); err != nil {
			t.Fatal(err)
		}
		if got, err := b.FetchSubscription(ctx, SubscriptionConfig{Name: "now", Topic: "early"}, 10, 200*time.Millisecond); err != nil || len(got) != 0 {
			t.Fatalf("a consumer without a start fetched %+v, %v", got, err)
		}
	})
}
