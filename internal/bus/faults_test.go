package bus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/datahub-oss/datahub/internal/store/storetest"
	"github.com/datahub-oss/datahub/internal/testutil"
)

// privateNATS is a JetStream server of the test's own, in process, that the test can stop and
// start again on the same port and store, to cut the bus under a client. Its port is outside
// the ephemeral range (storetest.SparePort), so the client's reconnects cannot take it.
type privateNATS struct {
	t    *testing.T
	opts server.Options
	srv  *server.Server
}

func startPrivateNATS(t *testing.T) *privateNATS {
	t.Helper()
	p := &privateNATS{t: t, opts: server.Options{Host: "127.0.0.1", Port: storetest.SparePort(t), JetStream: true,
		StoreDir: t.TempDir(), NoSigs: true, NoLog: true}}
	p.start()
	t.Cleanup(p.stop)
	return p
}

func (p *privateNATS) url() string { return fmt.Sprintf("nats://127.0.0.1:%d", p.opts.Port) }

func (p *privateNATS) start() {
	p.t.Helper()
	opts := p.opts
	s, err := server.NewServer(&opts)
	if err != nil {
		p.t.Fatal(err)
	}
	s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		p.t.Fatal("private NATS did not start")
	}
	p.srv = s
}

func (p *privateNATS) stop() {
	if p.srv != nil {
		p.srv.Shutdown()
		p.srv.WaitForShutdown()
		p.srv = nil
	}
}

// A handler that fails on every delivery (the store is down) must not be handed its request
// again at once: the Nak backs off exponentially, so deliveries stay few.
func TestRunHandlerFailureBacksOff(t *testing.T) {
	b := openBus(t, Config{DataDir: t.TempDir(), Listen: "127.0.0.1:0", Name: t.Name()})
	if err := b.EnqueueRun(t.Context(), run("failing-run", "orders")); err != nil {
		t.Fatal(err)
	}
	var deliveries atomic.Int64
	first := make(chan time.Time, 1)
	parked := make(chan string, 2)
	cfg := ConsumerConfig{AckWait: 5 * time.Second, MaxDeliver: -1, RetryBase: 200 * time.Millisecond, RetryMax: time.Second,
		ParkAfter: 4, ParkDelay: time.Hour,
		OnPark: func(_ context.Context, m *RunMessage, err error) { parked <- m.Request.RunID + ": " + err.Error() }}
	stop := consume(t, b, cfg, func(context.Context, *RunMessage) error {
		if deliveries.Add(1) == 1 {
			first <- time.Now()
		}
		return errors.New("store: connection refused")
	})
	began := <-first
	// 200 ms, 400 ms, 800 ms: the fourth delivery comes about 1.4 s after the first, and then the
	// request is parked for an hour. A tight loop would have made thousands by then.
	testutil.WaitFor(t, 10*time.Second, "four deliveries", func() bool { return deliveries.Load() >= 4 })
	if took := time.Since(began); took < time.Second {
		t.Errorf("four deliveries within %s: no back-off", took)
	}
	select {
	case got := <-parked:
		if got != "failing-run: store: connection refused" {
			t.Errorf("parked with %q", got)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the parked request was not reported")
	}
	// A fifth delivery would be due within a second without parking.
	testutil.Never(t, time.Second, 50*time.Millisecond, func() error {
		return testutil.Checkf(deliveries.Load() == 4, "%d deliveries, want 4 then parked", deliveries.Load())
	})
	_ = stop()
	if q := queued(t, b); q != 1 {
		t.Errorf("a parked request left the queue: %d queued", q)
	}
	if len(parked) != 0 {
		t.Errorf("a parked request was reported more than once: %s", <-parked)
	}
}

func TestFailureDelay(t *testing.T) {
	cfg := ConsumerConfig{RetryBase: time.Second, RetryMax: time.Minute, ParkAfter: 10, ParkDelay: 5 * time.Minute}
	for _, tc := range []struct {
		n        uint64
		min, max time.Duration
		parked   bool
	}{
		{1, time.Second, 1200 * time.Millisecond, false},
		{3, 4 * time.Second, 4800 * time.Millisecond, false},
		{9, time.Minute, 72 * time.Second, false},
		{10, 5 * time.Minute, 5 * time.Minute, true},
		{50, 5 * time.Minute, 5 * time.Minute, true},
	} {
		d, parked := cfg.failureDelay(tc.n)
		if d < tc.min || d > tc.max || parked != tc.parked {
			t.Errorf("delivery %d: %s parked %v, want %s-%s parked %v", tc.n, d, parked, tc.min, tc.max, tc.parked)
		}
	}
}

func TestThrottledLogCounts(t *testing.T) {
	var lines []string
	log := slogTo(func(s string) { lines = append(lines, s) })
	tl := newThrottledLog(time.Minute)
	now := time.Unix(0, 0)
	tl.now = func() time.Time { return now }
	for range 1000 {
		tl.Warn(t.Context(), log, "run handler failed")
	}
	now = now.Add(61 * time.Second)
	tl.Warn(t.Context(), log, "run handler failed")
	if len(lines) != 2 || !strings.Contains(lines[1], "repeated=999") {
		t.Fatalf("logged %q", lines)
	}
}

// A publish that timed out while the bus was cut may still be stored when the connection
// comes back (the client buffered it); retried with the same message id it is stored once.
func TestPublishRetriedWithSameIDAcrossOutage(t *testing.T) {
	p := startPrivateNATS(t)
	b := openBus(t, Config{URL: p.url(), Name: t.Name()})
	ctx := t.Context()
	if err := b.EnsureTopic(ctx, TopicConfig{Name: "orders"}); err != nil {
		t.Fatal(err)
	}
	p.stop()
	pctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	_, err := b.PublishTopic(pctx, "orders", "", []byte(`{"n":1}`), nil, "order-1")
	cancel()
	if err == nil {
		t.Fatal("publish succeeded with the bus down")
	}
	p.start()
	var res PublishResult
	testutil.WaitFor(t, 20*time.Second, "a publish after the outage", func() bool {
		res, err = b.PublishTopic(ctx, "orders", "", []byte(`{"n":1}`), nil, "order-1")
		return err == nil
	})
	msgs, err := b.ReadTopic(ctx, "orders", 0, 10, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 1 || msgs[0].MessageID != "order-1" {
		t.Fatalf("topic holds %d messages after a retried publish (want 1; result %+v)", len(msgs), res)
	}
}

type lineWriter func(string)

func (w lineWriter) Write(b []byte) (int, error) { w(string(b)); return len(b), nil }

func slogTo(fn func(string)) *slog.Logger { return slog.New(slog.NewTextHandler(lineWriter(fn), nil)) }
