//go:build bench

// Benchmarks of the service bus's performance section; run them with bench/bus.sh (they are
// behind the bench build tag so that `go test` never runs them).
package bus_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/datahub-oss/datahub/internal/bus"
	"github.com/datahub-oss/datahub/internal/bus/bustest"
	"github.com/datahub-oss/datahub/internal/catalog"
	"github.com/datahub-oss/datahub/internal/delivery"
	"github.com/datahub-oss/datahub/internal/outbound"
)

// benchN is the messages of a throughput measurement (BENCH_N, default 5000).
func benchN() int {
	if n, err := strconv.Atoi(os.Getenv("BENCH_N")); err == nil && n > 0 {
		return n
	}
	return 5000
}

const externalURL = "nats://127.0.0.1:4222"

// servers opens the embedded server (sync_interval: always) and the external NATS, each
// with a fresh prefix; the external one is skipped when nothing listens there.
func servers(b *testing.B, fn func(b *testing.B, hub *bus.Bus)) {
	for _, name := range []string{"embedded", "external"} {
		b.Run(name, func(b *testing.B) {
			ctx := context.Background()
			cfg := bus.Config{DataDir: b.TempDir(), Listen: "127.0.0.1:0", Name: "bench", Prefix: "b" + uuid.NewString()[:8]}
			if name == "external" {
				if os.Getenv("BENCH_NO_EXTERNAL") != "" {
					b.Skip("BENCH_NO_EXTERNAL set")
				}
				cfg = bus.Config{URL: externalURL, Name: "bench", Prefix: cfg.Prefix}
			}
			hub, err := bus.Open(ctx, cfg)
			if err != nil {
				if name == "external" {
					b.Skipf("no external NATS at %s: %v", externalURL, err)
				}
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = hub.Close(context.Background()) })
			fn(b, hub)
		})
	}
}

var payload = bustest.Payload

func plainLoop(b *testing.B, url string, n int) float64 {
	rate, err := bustest.PlainLoop(context.Background(), url, n)
	if err != nil {
		b.Fatal(err)
	}
	return rate
}

// plainHTTPLoop is the plain loop whose consumer POSTs every message to rcv (one at a time, in
// order, keep-alive) before acking it: a hand-written JetStream-to-HTTP bridge, the like-for-like
// reference for the hub's delivery, which pays for the same HTTP round trip and receiver.
func plainHTTPLoop(b *testing.B, url string, n int, rcv *receiver) float64 {
	ctx := context.Background()
	client := &http.Client{Transport: &http.Transport{}}
	defer client.CloseIdleConnections()
	rate, err := bustest.PlainLoopWith(ctx, url, n, func(data []byte) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, rcv.srv.URL, bytes.NewReader(data))
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			return fmt.Errorf("receiver answered %d", resp.StatusCode)
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	return rate
}

// receiver is an http subscription's endpoint that counts deliveries and records latencies
// from the X-Bench-Sent header.
type receiver struct {
	srv  *httptest.Server
	got  atomic.Int64
	mu   sync.Mutex
	lats []time.Duration
}

func newReceiver(b *testing.B) *receiver {
	r := &receiver{}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		_, _ = io.Copy(io.Discard, req.Body)
		if s := req.Header.Get(delivery.HeaderPrefix + "X-Bench-Sent"); s != "" {
			if ns, err := strconv.ParseInt(s, 10, 64); err == nil {
				d := time.Since(time.Unix(0, ns))
				r.mu.Lock()
				r.lats = append(r.lats, d)
				r.mu.Unlock()
			}
		}
		r.got.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}))
	b.Cleanup(r.srv.Close)
	return r
}

// subscribe runs the delivery engine's http delivery of a fresh topic to rcv.
func subscribe(b *testing.B, hub *bus.Bus, rcv *receiver) (topic string) {
	ctx, cancel := context.WithCancel(context.Background())
	topic = "t" + uuid.NewString()[:8]
	if err := hub.EnsureTopic(ctx, bus.TopicConfig{Name: topic, MaxAge: time.Hour}); err != nil {
		b.Fatal(err)
	}
	spec := &catalog.SubscriptionSpec{Topic: topic, Delivery: catalog.SubscriptionDelivery{Type: "http", URL: rcv.srv.URL}}
	name := topic + "-sub"
	cfg := delivery.Config(name, spec)
	if _, err := hub.EnsureSubscription(ctx, cfg); err != nil {
		b.Fatal(err)
	}
	g, err := outbound.New([]string{"127.0.0.0/8"}) // the receiver listens on loopback
	if err != nil {
		b.Fatal(err)
	}
	eng := &delivery.Engine{Bus: hub, Guard: g}
	done := make(chan struct{})
	go func() { defer close(done); _ = hub.ConsumeSubscription(ctx, cfg, eng.Handler(name, spec)) }()
	b.Cleanup(func() {
		cancel()
		<-done
		_ = hub.DeleteSubscription(context.Background(), topic, name, true)
		_ = hub.DeleteTopic(context.Background(), topic)
	})
	return topic
}

// BenchmarkThroughput: the plain JetStream loop against the hub's delivery of the same n
// 1 KiB messages to an http subscription, published through bus.PublishTopic (hub-%-of-plain).
// The plain loop has no HTTP hop; plainhttp-msgs/s is the plain loop POSTing each message to
// the same kind of receiver before its ack, and hub-%-of-plainhttp the hub against that.
func BenchmarkThroughput(b *testing.B) {
	servers(b, func(b *testing.B, hub *bus.Bus) {
		n := benchN()
		for b.Loop() {
			plain := plainLoop(b, hub.ClientURL(), n)
			plainHTTP := plainHTTPLoop(b, hub.ClientURL(), n, newReceiver(b))
			rcv := newReceiver(b)
			topic := subscribe(b, hub, rcv)
			ctx := context.Background()
			start := time.Now()
			for range n {
				if _, err := hub.PublishTopic(ctx, topic, "x", payload, nil, ""); err != nil {
					b.Fatal(err)
				}
			}
			deadline := time.Now().Add(5 * time.Minute)
			for rcv.got.Load() < int64(n) {
				if time.Now().After(deadline) {
					b.Fatalf("hub: %d of %d delivered", rcv.got.Load(), n)
				}
				time.Sleep(time.Millisecond)
			}
			hubRate := float64(n) / time.Since(start).Seconds()
			b.ReportMetric(plain, "plain-msgs/s")
			b.ReportMetric(hubRate, "hub-msgs/s")
			b.ReportMetric(100*hubRate/plain, "hub-%-of-plain")
			b.ReportMetric(plainHTTP, "plainhttp-msgs/s")
			b.ReportMetric(100*hubRate/plainHTTP, "hub-%-of-plainhttp")
		}
	})
}

// BenchmarkLatency publishes 1 KiB messages at 1,000 msg/s for BENCH_SECONDS (default 5)
// and reports the end-to-end latency (publish call to the receiver's handler) of the
// delivery to an http subscription.
func BenchmarkLatency(b *testing.B) {
	secs := 5
	if s, err := strconv.Atoi(os.Getenv("BENCH_SECONDS")); err == nil && s > 0 {
		secs = s
	}
	servers(b, func(b *testing.B, hub *bus.Bus) {
		for b.Loop() {
			rcv := newReceiver(b)
			topic := subscribe(b, hub, rcv)
			ctx := context.Background()
			total := secs * 1000
			tick := time.NewTicker(time.Millisecond)
			var late int
			for range total {
				<-tick.C
				h := map[string]string{"X-Bench-Sent": strconv.FormatInt(time.Now().UnixNano(), 10)}
				if _, err := hub.PublishTopic(ctx, topic, "x", payload, h, ""); err != nil {
					b.Fatal(err)
				}
				if len(tick.C) > 0 {
					late++
				}
			}
			tick.Stop()
			deadline := time.Now().Add(time.Minute)
			for rcv.got.Load() < int64(total) {
				if time.Now().After(deadline) {
					b.Fatalf("%d of %d delivered", rcv.got.Load(), total)
				}
				time.Sleep(time.Millisecond)
			}
			rcv.mu.Lock()
			lats := slices.Clone(rcv.lats)
			rcv.mu.Unlock()
			slices.Sort(lats)
			q := func(p float64) float64 {
				return float64(lats[min(len(lats)-1, int(p*float64(len(lats))))].Microseconds()) / 1000
			}
			b.ReportMetric(q(0.50), "p50-ms")
			b.ReportMetric(q(0.99), "p99-ms")
			b.ReportMetric(float64(lats[len(lats)-1].Microseconds())/1000, "max-ms")
			b.ReportMetric(float64(total)/float64(secs), "rate-msgs/s")
			if late > 0 {
				b.Logf("publisher fell behind the 1 ms tick %d times", late)
			}
		}
	})
}
