//go:build bench

// Benchmarks of the service bus through the HTTP API (issue 4, performance); run them with
// bench/bus.sh. They are behind the bench build tag so that `go test` never runs them.
package app_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/datahub-oss/datahub/internal/app"
	"github.com/datahub-oss/datahub/internal/bus/bustest"
	"github.com/datahub-oss/datahub/internal/config"
	"github.com/datahub-oss/datahub/internal/delivery"
	"github.com/datahub-oss/datahub/internal/testutil"
)

const (
	// benchExternalNATS is the external NATS the second half of each benchmark runs against.
	benchExternalNATS = "nats://127.0.0.1:4222"
	// benchPublishers is the concurrent publishers of the second throughput figure.
	benchPublishers = 8
	// benchLatencyWorkers bound the POSTs in flight while pacing 1,000 msg/s, so that one slow
	// answer does not hold back the messages after it.
	benchLatencyWorkers = 16
	// Message headers the receiver reads back (published as X-DataHub-Header-<name>,
	// delivered under delivery.HeaderPrefix).
	benchPhaseHeader = "X-Bench-Phase"
	benchSentHeader  = "X-Bench-Sent"
)

// benchBusPayload is a 1 KiB JSON document.
var benchBusPayload = bustest.Payload

// benchEnvInt reads a positive integer from the environment, def when unset or invalid.
func benchEnvInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}

// benchReceiver is the http subscription's endpoint. It counts deliveries per phase (the
// X-Bench-Phase header), so that probes and earlier phases never count towards a later one,
// and records the latency from the X-Bench-Sent header.
type benchReceiver struct {
	srv  *httptest.Server
	mu   sync.Mutex
	got  map[string]int
	want map[string]benchWait
	lats map[string][]time.Duration
}

type benchWait struct {
	n    int
	done chan struct{}
}

func newBenchReceiver(b *testing.B) *benchReceiver {
	r := &benchReceiver{got: map[string]int{}, want: map[string]benchWait{}, lats: map[string][]time.Duration{}}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		_, _ = io.Copy(io.Discard, req.Body)
		arrived := time.Now()
		phase := req.Header.Get(delivery.HeaderPrefix + benchPhaseHeader)
		r.mu.Lock()
		if ns, err := strconv.ParseInt(req.Header.Get(delivery.HeaderPrefix+benchSentHeader), 10, 64); err == nil {
			r.lats[phase] = append(r.lats[phase], arrived.Sub(time.Unix(0, ns)))
		}
		r.got[phase]++
		if wt, ok := r.want[phase]; ok && r.got[phase] == wt.n {
			close(wt.done)
		}
		r.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	b.Cleanup(r.srv.Close)
	return r
}

// expect returns a channel closed once n messages of phase have arrived; call it before
// publishing them.
func (r *benchReceiver) expect(phase string, n int) <-chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	wt := benchWait{n: n, done: make(chan struct{})}
	r.want[phase] = wt
	if r.got[phase] >= n {
		close(wt.done)
	}
	return wt.done
}

func (r *benchReceiver) count(phase string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.got[phase]
}

func (r *benchReceiver) latencies(phase string) []time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.lats[phase])
}

// benchHub is a whole hub (API, scheduler, delivery engine) with the topic "bench" and its
// http subscription applied, ready to deliver.
type benchHub struct {
	base    string
	token   string
	natsURL string // for the plain loop: the embedded server's port or the external URL
	hc      *http.Client
	rcv     *benchReceiver
}

// benchHubs runs fn against a hub on the embedded NATS (sync_interval: always, which the
// embedded server always sets) and one on the external NATS, which is skipped when nothing
// listens there or BENCH_NO_EXTERNAL is set.
func benchHubs(b *testing.B, fn func(b *testing.B, h *benchHub)) {
	for _, name := range []string{"embedded", "external"} {
		b.Run(name, func(b *testing.B) {
			cfg := config.Default()
			cfg.Data, cfg.Addr = b.TempDir(), "127.0.0.1:0"
			cfg.Outbound.Allow = []string{"127.0.0.0/8"} // the receiver listens on loopback
			prefix := "b" + uuid.NewString()[:8]
			if name == "external" {
				if os.Getenv("BENCH_NO_EXTERNAL") != "" {
					b.Skip("BENCH_NO_EXTERNAL set")
				}
				conn, err := net.DialTimeout("tcp", strings.TrimPrefix(benchExternalNATS, "nats://"), 2*time.Second)
				if err != nil {
					b.Skipf("no external NATS at %s: %v", benchExternalNATS, err)
				}
				_ = conn.Close()
				cfg.NATS, cfg.NATSPrefix = benchExternalNATS, prefix
				b.Cleanup(func() { benchDropPrefix(b, prefix) })
			} else {
				// A port, so that the plain loop reaches the same server over TCP.
				cfg.NATSListen = "127.0.0.1:0"
			}
			fn(b, startBenchHub(b, cfg))
		})
	}
}

// startBenchHub starts the server, applies the Topic and Subscription and probes until the
// subscription's consumer delivers (it starts with the messages published after it).
func startBenchHub(b *testing.B, cfg config.Config) *benchHub {
	ctx, cancel := context.WithCancel(context.Background())
	out := io.Discard
	if os.Getenv("DATAHUB_TEST_LOG") != "" {
		out = os.Stderr
	}
	hub, err := app.Start(ctx, cfg, slog.New(slog.NewTextHandler(out, nil)))
	if err != nil {
		cancel()
		b.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- hub.Serve(ctx) }()
	b.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			b.Errorf("serve: %v", err)
		}
	})
	token, err := os.ReadFile(filepath.Join(cfg.Data, "admin.token"))
	if err != nil {
		b.Fatal(err)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 2 * benchLatencyWorkers
	h := &benchHub{base: "http://" + hub.Addr, token: strings.TrimSpace(string(token)), natsURL: cfg.NATS,
		hc: &http.Client{Transport: tr, Timeout: time.Minute}, rcv: newBenchReceiver(b)}
	b.Cleanup(tr.CloseIdleConnections)
	if h.natsURL == "" {
		h.natsURL = hub.Bus.ClientURL()
	}
	doc := `apiVersion: datahub/v1
kind: Topic
metadata: {name: bench}
spec: {retention: {maxAge: 1d}}
---
apiVersion: datahub/v1
kind: Subscription
metadata: {name: bench-http}
spec:
  topic: bench
  delivery: {type: http, url: "` + h.rcv.srv.URL + `"}
`
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.base+"/api/v1/apply", strings.NewReader(doc))
	if err != nil {
		b.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+h.token)
	req.Header.Set("Content-Type", "application/yaml")
	res, err := h.hc.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	_ = res.Body.Close()
	if res.StatusCode != http.StatusOK {
		b.Fatalf("apply: %d %s", res.StatusCode, body)
	}
	testutil.Eventually(b, 30*time.Second, 200*time.Millisecond, func() error {
		if err := h.publish(ctx, "probe", false); err != nil {
			b.Fatal(err)
		}
		return testutil.Checkf(h.rcv.count("probe") > 0, "no probe message delivered")
	})
	return h
}

// publish POSTs one 1 KiB message to the topic, tagged with its phase and, when sent is set,
// the time just before the request.
func (h *benchHub) publish(ctx context.Context, phase string, sent bool) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.base+"/api/v1/topics/bench/messages", bytes.NewReader(benchBusPayload))
	if err != nil {
		return fmt.Errorf("publish: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+h.token)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-DataHub-Header-"+benchPhaseHeader, phase)
	if sent {
		req.Header.Set("X-DataHub-Header-"+benchSentHeader, strconv.FormatInt(time.Now().UnixNano(), 10))
	}
	res, err := h.hc.Do(req)
	if err != nil {
		return fmt.Errorf("publish: %w", err)
	}
	body, _ := io.ReadAll(res.Body)
	_ = res.Body.Close()
	if res.StatusCode != http.StatusAccepted {
		return fmt.Errorf("publish: %d %s", res.StatusCode, body)
	}
	return nil
}

// benchDropPrefix deletes the streams (topics, runs, events, lease buckets) a hub made on
// the external NATS under prefix.
func benchDropPrefix(b *testing.B, prefix string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	nc, err := nats.Connect(benchExternalNATS)
	if err != nil {
		b.Logf("clean up %s: %v", prefix, err)
		return
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		b.Logf("clean up %s: %v", prefix, err)
		return
	}
	var drop []string
	names := js.StreamNames(ctx)
	for name := range names.Name() {
		if strings.Contains(name, prefix) {
			drop = append(drop, name)
		}
	}
	if err := names.Err(); err != nil {
		b.Logf("clean up %s: %v", prefix, err)
	}
	for _, name := range drop {
		if err := js.DeleteStream(ctx, name); err != nil {
			b.Logf("clean up %s: %v", name, err)
		}
	}
}

func benchPlainLoop(b *testing.B, url string, n int) float64 {
	rate, err := bustest.PlainLoop(context.Background(), url, n)
	if err != nil {
		b.Fatal(err)
	}
	return rate
}

// throughput POSTs n messages of phase with the given concurrent publishers and returns
// msgs/s until the receiver had them all.
func (h *benchHub) throughput(b *testing.B, phase string, n, publishers int) float64 {
	ctx := context.Background()
	all := h.rcv.expect(phase, n)
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	start := time.Now()
	for p := range publishers {
		share := n / publishers
		if p < n%publishers {
			share++
		}
		wg.Go(func() {
			for range share {
				if err := h.publish(ctx, phase, false); err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
					return
				}
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		b.Fatal(err)
	}
	select {
	case <-all:
	case <-time.After(5 * time.Minute):
		b.Fatalf("%s: %d of %d delivered", phase, h.rcv.count(phase), n)
	}
	return float64(n) / time.Since(start).Seconds()
}

// BenchmarkAPIThroughput: the plain JetStream loop against the hub's delivery to an http
// subscription of the same BENCH_N (default 5000) 1 KiB messages POSTed to
// /api/v1/topics/bench/messages, by one keep-alive publisher (api-*) and by 8 concurrent
// ones (api8-*).
func BenchmarkAPIThroughput(b *testing.B) {
	benchHubs(b, func(b *testing.B, h *benchHub) {
		n := benchEnvInt("BENCH_N", 5000)
		round := 0
		for b.Loop() {
			round++
			plain := benchPlainLoop(b, h.natsURL, n)
			seq := h.throughput(b, fmt.Sprintf("seq-%d", round), n, 1)
			conc := h.throughput(b, fmt.Sprintf("conc-%d", round), n, benchPublishers)
			b.ReportMetric(plain, "plain-msgs/s")
			b.ReportMetric(seq, "api-msgs/s")
			b.ReportMetric(100*seq/plain, "api-%-of-plain")
			b.ReportMetric(conc, "api8-msgs/s")
			b.ReportMetric(100*conc/plain, "api8-%-of-plain")
		}
	})
}

// BenchmarkAPILatency POSTs 1 KiB messages at 1,000 msg/s for BENCH_SECONDS (default 5) and
// reports the end-to-end latency, from just before the POST to the receiver's handler. One
// message leaves every millisecond; up to 16 POSTs are in flight, so the offered rate holds
// even when one answer is slow (rate-msgs/s is the rate achieved).
func BenchmarkAPILatency(b *testing.B) {
	secs := benchEnvInt("BENCH_SECONDS", 5)
	benchHubs(b, func(b *testing.B, h *benchHub) {
		round := 0
		for b.Loop() {
			round++
			phase := fmt.Sprintf("lat-%d", round)
			total := secs * 1000
			all := h.rcv.expect(phase, total)
			ctx := context.Background()
			slots := make(chan struct{}, benchLatencyWorkers)
			var (
				wg   sync.WaitGroup
				mu   sync.Mutex
				errs []error
			)
			for range benchLatencyWorkers {
				wg.Go(func() {
					for range slots {
						if err := h.publish(ctx, phase, true); err != nil {
							mu.Lock()
							errs = append(errs, err)
							mu.Unlock()
						}
					}
				})
			}
			late := 0
			start := time.Now()
			for i := range total {
				// Paced by the schedule, not a ticker (which drops ticks on a busy
				// machine): a message that left late is followed at once by the next.
				if d := time.Until(start.Add(time.Duration(i) * time.Millisecond)); d > 0 {
					time.Sleep(d)
				}
				select {
				case slots <- struct{}{}:
				default:
					late++
					slots <- struct{}{}
				}
			}
			close(slots)
			wg.Wait()
			offered := float64(total) / time.Since(start).Seconds()
			if err := errors.Join(errs...); err != nil {
				b.Fatal(err)
			}
			select {
			case <-all:
			case <-time.After(time.Minute):
				b.Fatalf("%d of %d delivered", h.rcv.count(phase), total)
			}
			lats := h.rcv.latencies(phase)
			slices.Sort(lats)
			q := func(p float64) float64 {
				return float64(lats[min(len(lats)-1, int(p*float64(len(lats))))].Microseconds()) / 1000
			}
			b.ReportMetric(q(0.50), "p50-ms")
			b.ReportMetric(q(0.99), "p99-ms")
			b.ReportMetric(float64(lats[len(lats)-1].Microseconds())/1000, "max-ms")
			b.ReportMetric(offered, "rate-msgs/s")
			if late > 0 {
				b.Logf("all %d publishers were busy at %d of the %d sends", benchLatencyWorkers, late, total)
			}
		}
	})
}
