package bus

import (
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/datahub-oss/datahub/internal/bus/bustest"
	"github.com/datahub-oss/datahub/internal/errcode"
)

// On a three-node cluster with Replicas 3, every stream and KV bucket the hub creates (runs,
// events, a topic, a subscription's dead-letter queue, the lease buckets) keeps 3 copies, and
// so do the consumers, which inherit their stream's.
func TestReplicasOnCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("needs nats-server; skipped with -short")
	}
	u := bustest.ClusterURL(t)
	prefix := uniquePrefix(t)
	t.Cleanup(func() { dropPrefixAt(t, u, prefix) })
	b := openBus(t, Config{URL: u, Prefix: prefix, Name: t.Name(), Replicas: 3})
	ctx := t.Context()
	if err := b.EnsureTopic(ctx, TopicConfig{Name: "orders"}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.EnsureSubscription(ctx, SubscriptionConfig{Name: "to-table", Topic: "orders"}); err != nil {
		t.Fatal(err)
	}
	l, err := b.AcquireLease(ctx, "k", "me", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = l.Release(ctx) }()
	l2, err := b.AcquireLease(ctx, "k2", "me", 5*time.Second) // a bucket of another TTL
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = l2.Release(ctx) }()

	var names []string
	for n := range b.js.StreamNames(ctx).Name() {
		if strings.HasPrefix(n, prefix+"_") || strings.HasPrefix(n, "KV_"+prefix+"_") {
			names = append(names, n)
		}
	}
	if len(names) < 6 {
		t.Fatalf("streams %v: want runs, events, topic, DLQ and two lease buckets", names)
	}
	for _, n := range names {
		s, err := b.js.Stream(ctx, n)
		if err != nil {
			t.Fatal(err)
		}
		info := s.CachedInfo()
		if info.Config.Replicas != 3 || info.Cluster == nil || len(info.Cluster.Replicas) != 2 {
			t.Errorf("stream %s: replicas %d, cluster %+v; want 3 copies", n, info.Config.Replicas, info.Cluster)
		}
		for c := range s.ListConsumers(ctx).Info() {
			if c.Cluster == nil || len(c.Cluster.Replicas) != 2 {
				t.Errorf("consumer %s of %s: cluster %+v; want 3 copies", c.Name, n, c.Cluster)
			}
		}
	}
	t.Logf("%d streams at R3: %v", len(names), names)
}

// Replicas are refused above 5, and above 1 on the embedded server, which is one node.
func TestReplicasRefused(t *testing.T) {
	for _, cfg := range []Config{
		{DataDir: t.TempDir(), Replicas: 3},
		{URL: "nats://127.0.0.1:1", Replicas: 6},
	} {
		_, err := Open(t.Context(), cfg)
		if err == nil || errcode.Of(err) != errcode.Config || !strings.Contains(err.Error(), "replicas") {
			t.Errorf("%+v: %v, want a configuration error naming the replicas", cfg, err)
		}
	}
}

// dropPrefixAt deletes the prefix's streams on the server at u.
func dropPrefixAt(t *testing.T, u, prefix string) {
	nc, err := nats.Connect(u)
	if err != nil {
		t.Errorf("cleanup: %v", err)
		return
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx := t.Context()
	var names []string
	for n := range js.StreamNames(ctx).Name() {
		if strings.HasPrefix(n, prefix+"_") || strings.HasPrefix(n, "KV_"+prefix+"_") {
			names = append(names, n)
		}
	}
	for _, n := range names {
		_ = js.DeleteStream(ctx, n)
	}
}
