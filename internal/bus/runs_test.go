package bus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/datahub-oss/datahub/internal/testutil"
)

func TestEnqueueConsumeExactlyOnce(t *testing.T) {
	eachServer(t, func(t *testing.T, open opener) {
		b1, b2 := open(t), open(t)
		const n = 20
		for i := range n {
			// Enqueue through both: they share the stream.
			b := []*Bus{b1, b2}[i%2]
			if err := b.EnqueueRun(t.Context(), run(fmt.Sprintf("run-%d", i), "orders")); err != nil {
				t.Fatal(err)
			}
		}
		var mu sync.Mutex
		seen := map[string]int{}
		byBus := map[*Bus]int{}
		handler := func(b *Bus) RunHandler {
			return func(_ context.Context, m *RunMessage) error {
				if m.Request.Integration != "orders" || m.Request.Env != "DEV" || m.Request.Params["k"] != "v" || m.Request.RequestedAt.IsZero() {
					t.Errorf("request came back as %+v", m.Request)
				}
				mu.Lock()
				seen[m.Request.RunID]++
				byBus[b]++
				mu.Unlock()
				time.Sleep(5 * time.Millisecond)
				return nil // ConsumeRuns acks
			}
		}
		cfg := ConsumerConfig{AckWait: 2 * time.Second, Concurrency: 2, Heartbeat: true}
		stop1 := consume(t, b1, cfg, handler(b1))
		stop2 := consume(t, b2, cfg, handler(b2))
		testutil.WaitFor(t, 10*time.Second, "all runs handled", func() bool {
			mu.Lock()
			defer mu.Unlock()
			return len(seen) == n
		})
		testutil.WaitFor(t, 5*time.Second, "queue empty", func() bool { return queued(t, b1) == 0 })
		if err := stop1(); !errors.Is(err, context.Canceled) {
			t.Errorf("ConsumeRuns returned %v, want context.Canceled", err)
		}
		_ = stop2()
		for id, c := range seen {
			if c != 1 {
				t.Errorf("%s handled %d times", id, c)
			}
		}
		t.Logf("bus 1 handled %d, bus 2 handled %d", byBus[b1], byBus[b2])
	})
}

func TestEnqueueDeduplicatesByRunID(t *testing.T) {
	eachServer(t, func(t *testing.T, open opener) {
		b := open(t)
		for range 3 {
			if err := b.EnqueueRun(t.Context(), run("same-run", "orders")); err != nil {
				t.Fatal(err)
			}
		}
		if err := b.EnqueueRun(t.Context(), run("other-run", "orders")); err != nil {
			t.Fatal(err)
		}
		if got := queued(t, b); got != 2 {
			t.Fatalf("queued %d messages, want 2", got)
		}
	})
}

func TestEnqueueRejectsBadRequests(t *testing.T) {
	b := openBus(t, Config{DataDir: t.TempDir()})
	for _, r := range []RunRequest{
		{Integration: "orders"},
		{RunID: "r", Integration: ""},
		{RunID: "r", Integration: "a.b"},
		{RunID: "r", Integration: "a*"},
		{RunID: "r", Integration: "a b"},
		{RunID: "r", Integration: "ok", Env: "P>"},
	} {
		if err := b.EnqueueRun(t.Context(), r); err == nil {
			t.Errorf("EnqueueRun(%+v) succeeded", r)
		}
	}
}

func TestRedeliveryAfterWorkerDies(t *testing.T) {
	eachServer(t, func(t *testing.T, open opener) {
		b1, b2 := open(t), open(t)
		if err := b1.EnqueueRun(t.Context(), run("r1", "orders")); err != nil {
			t.Fatal(err)
		}
		cfg := ConsumerConfig{AckWait: time.Second}
		got := make(chan time.Time, 1)
		stop1 := consume(t, b1, cfg, func(ctx context.Context, m *RunMessage) error {
			if m.Delivered() != 1 || m.Redelivered() {
				t.Errorf("first delivery has count %d", m.Delivered())
			}
			got <- time.Now()
			<-ctx.Done() // the worker "dies" mid-run: no ack
			return ctx.Err()
		})
		first := <-got
		if err := stop1(); !errors.Is(err, context.Canceled) {
			t.Errorf("ConsumeRuns returned %v", err)
		}
		again := make(chan *RunMessage, 1)
		stop2 := consume(t, b2, cfg, func(_ context.Context, m *RunMessage) error {
			again <- m
			return nil
		})
		defer stop2()
		select {
		case m := <-again:
			if m.Request.RunID != "r1" || m.Delivered() != 2 || !m.Redelivered() {
				t.Errorf("redelivered %s with count %d", m.Request.RunID, m.Delivered())
			}
			if d := time.Since(first); d < 900*time.Millisecond {
				t.Errorf("redelivered after %s, before AckWait", d)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("run request was not redelivered")
		}
		testutil.WaitFor(t, 5*time.Second, "queue empty", func() bool { return queued(t, b1) == 0 })
	})
}

func TestKeepAlivePreventsRedelivery(t *testing.T) {
	eachServer(t, func(t *testing.T, open opener) {
		b1, b2 := open(t), open(t)
		if err := b1.EnqueueRun(t.Context(), run("long", "orders")); err != nil {
			t.Fatal(err)
		}
		cfg := ConsumerConfig{AckWait: time.Second}
		var calls atomic.Int32
		done := make(chan struct{})
		h := func(ctx context.Context, m *RunMessage) error {
			if calls.Add(1) > 1 {
				t.Errorf("long run delivered again (count %d) while its worker was alive", m.Delivered())
				return nil
			}
			stop := m.KeepAlive(ctx)
			time.Sleep(2500 * time.Millisecond) // 2.5 × AckWait
			stop()
			err := m.Ack(ctx)
			close(done)
			return err
		}
		consume(t, b1, cfg, h)
		consume(t, b2, cfg, h)
		select {
		case <-done:
		case <-time.After(6 * time.Second):
			t.Fatal("long run did not finish")
		}
		// Acked and gone from the work queue: nothing is left to redeliver.
		testutil.WaitFor(t, 5*time.Second, "queue empty", func() bool { return queued(t, b1) == 0 })
		if c := calls.Load(); c != 1 {
			t.Errorf("handler called %d times", c)
		}
	})
}

func TestHandlerFailureIsRetried(t *testing.T) {
	eachServer(t, func(t *testing.T, open opener) {
		b := open(t)
		if err := b.EnqueueRun(t.Context(), run("flaky", "orders")); err != nil {
			t.Fatal(err)
		}
		// Not JSON: dropped (terminated), never handed to the handler.
		if _, err := b.js.Publish(t.Context(), b.names.runSubj+".orders", []byte("{oops")); err != nil {
			t.Fatal(err)
		}
		var mu sync.Mutex
		var counts []uint64
		ok := make(chan struct{})
		consume(t, b, ConsumerConfig{Backoff: []time.Duration{50 * time.Millisecond, 100 * time.Millisecond}}, func(_ context.Context, m *RunMessage) error {
			mu.Lock()
			counts = append(counts, m.Delivered())
			mu.Unlock()
			switch m.Delivered() {
			case 1:
				panic("boom")
			case 2:
				return errors.New("target down")
			}
			close(ok)
			return nil
		})
		select {
		case <-ok:
		case <-time.After(5 * time.Second):
			t.Fatal("run was not retried to success")
		}
		testutil.WaitFor(t, 5*time.Second, "queue empty", func() bool { return queued(t, b) == 0 })
		mu.Lock()
		defer mu.Unlock()
		if fmt.Sprint(counts) != "[1 2 3]" {
			t.Errorf("deliveries %v, want [1 2 3]", counts)
		}
	})
}

func TestConcurrencyLimitWithRunLease(t *testing.T) {
	eachServer(t, func(t *testing.T, open opener) {
		b1, b2 := open(t), open(t)
		for _, id := range []string{"a", "b", "c"} {
			if err := b1.EnqueueRun(t.Context(), run(id, "orders")); err != nil {
				t.Fatal(err)
			}
		}
		var running, maxRunning, finished, deferred atomic.Int32
		handler := func(b *Bus, owner string) RunHandler {
			return func(ctx context.Context, m *RunMessage) error {
				lease, err := b.AcquireRunLease(ctx, m, RunLeaseOptions{Owner: owner, TTL: 2 * time.Second, RetryDelay: 100 * time.Millisecond})
				if errors.Is(err, ErrLeaseHeld) {
					deferred.Add(1)
					return nil
				} else if err != nil {
					return err
				}
				defer lease.Release(ctx)
				r := running.Add(1)
				for {
					old := maxRunning.Load()
					if r <= old || maxRunning.CompareAndSwap(old, r) {
						break
					}
				}
				time.Sleep(150 * time.Millisecond)
				running.Add(-1)
				finished.Add(1)
				return nil
			}
		}
		cfg := ConsumerConfig{AckWait: 5 * time.Second, MaxDeliver: -1, Concurrency: 2}
		consume(t, b1, cfg, handler(b1, "w1"))
		consume(t, b2, cfg, handler(b2, "w2"))
		testutil.WaitFor(t, 10*time.Second, "three runs", func() bool { return finished.Load() == 3 })
		if m := maxRunning.Load(); m != 1 {
			t.Errorf("%d runs of one integration at once, want 1", m)
		}
		if deferred.Load() == 0 {
			t.Error("no run request waited for the lease")
		}
		testutil.WaitFor(t, 5*time.Second, "queue empty", func() bool { return queued(t, b1) == 0 })
	})
}

func TestEmbeddedRestartKeepsQueue(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ctx := t.Context()
	b, err := Open(ctx, Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if !b.srv.JetStreamConfig().SyncAlways {
		t.Error("embedded JetStream does not sync every write")
	}
	if b.ClientURL() != "" {
		t.Errorf("embedded bus without Listen has client URL %q", b.ClientURL())
	}
	for _, id := range []string{"r1", "r2"} {
		if err := b.EnqueueRun(ctx, run(id, "orders")); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Close(ctx); err != nil {
		t.Fatal(err)
	}

	b = openBus(t, Config{DataDir: dir})
	if q := queued(t, b); q != 2 {
		t.Fatalf("%d run requests after restart, want 2", q)
	}
	got := make(chan string, 2)
	consume(t, b, ConsumerConfig{}, func(_ context.Context, m *RunMessage) error {
		got <- m.Request.RunID
		return nil
	})
	for range 2 {
		select {
		case id := <-got:
			t.Logf("got %s after restart", id)
		case <-time.After(5 * time.Second):
			t.Fatal("queued run not delivered after restart")
		}
	}
}

func TestPublishEvent(t *testing.T) {
	eachServer(t, func(t *testing.T, open opener) {
		b := open(t)
		if err := b.Publish(t.Context(), "run.started", []byte(`{"run":"r1"}`), map[string]string{"Datahub-Run": "r1"}); err != nil {
			t.Fatal(err)
		}
		s, err := b.js.Stream(t.Context(), b.names.events)
		if err != nil {
			t.Fatal(err)
		}
		if s.CachedInfo().Config.MaxAge != DefaultEventMaxAge {
			t.Errorf("events max age %s", s.CachedInfo().Config.MaxAge)
		}
		m, err := s.GetLastMsgForSubject(t.Context(), b.names.eventSubj+".run.started")
		if err != nil {
			t.Fatal(err)
		}
		if string(m.Data) != `{"run":"r1"}` || m.Header.Get("Datahub-Run") != "r1" {
			t.Errorf("event came back as %q %v", m.Data, m.Header)
		}
		for _, bad := range []string{"", "run.*", "run.>", "a..b", ".a", "a b"} {
			if err := b.Publish(t.Context(), bad, nil, nil); err == nil {
				t.Errorf("Publish(%q) succeeded", bad)
			}
		}
	})
}

func TestReadyAndClose(t *testing.T) {
	eachServer(t, func(t *testing.T, open opener) {
		b := open(t)
		if err := b.Ready(t.Context()); err != nil {
			t.Fatalf("Ready: %v", err)
		}
		errc := make(chan error, 1)
		go func() {
			errc <- b.ConsumeRuns(t.Context(), ConsumerConfig{}, func(context.Context, *RunMessage) error { return nil })
		}()
		// Close while it consumes: once its consumer is on the server.
		testutil.Eventually(t, 5*time.Second, 10*time.Millisecond, func() error {
			s, err := b.js.Stream(t.Context(), b.names.runs)
			if err != nil {
				return err
			}
			info, err := s.Info(t.Context())
			if err != nil {
				return err
			}
			return testutil.Checkf(info.State.Consumers > 0, "no consumer on the runs stream")
		})
		if err := b.Close(t.Context()); err != nil {
			t.Fatalf("Close: %v", err)
		}
		select {
		case err := <-errc:
			if !errors.Is(err, ErrClosed) {
				t.Errorf("ConsumeRuns after Close returned %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("ConsumeRuns did not stop on Close")
		}
		if err := b.Close(t.Context()); err != nil {
			t.Errorf("second Close: %v", err)
		}
		if err := b.Ready(t.Context()); !errors.Is(err, ErrClosed) {
			t.Errorf("Ready after Close: %v", err)
		}
		if err := b.EnqueueRun(t.Context(), run("x", "orders")); !errors.Is(err, ErrClosed) {
			t.Errorf("EnqueueRun after Close: %v", err)
		}
	})
}

func TestExternalWithoutJetStream(t *testing.T) {
	t.Parallel()
	// A plain embedded server with a port and no JetStream stands in for a misconfigured cluster.
	plain := openPlainServer(t)
	_, err := Open(t.Context(), Config{URL: plain})
	if err == nil || !contains(err.Error(), "JetStream is not enabled") {
		t.Fatalf("Open on a server without JetStream: %v", err)
	}
}

func TestOpenUnreachableHidesSecrets(t *testing.T) {
	t.Parallel()
	_, err := Open(t.Context(), Config{URL: "nats://hub:s3cret@127.0.0.1:1,nats://t0ken@127.0.0.1:2", Password: "other-s3cret"})
	if err == nil {
		t.Fatal("Open on a closed port succeeded")
	}
	for _, secret := range []string{"s3cret", "t0ken"} {
		if contains(err.Error(), secret) {
			t.Errorf("error shows a secret: %v", err)
		}
	}
}

func TestEmbeddedAuth(t *testing.T) {
	t.Parallel()
	b := openBus(t, Config{DataDir: t.TempDir(), Listen: "127.0.0.1:0", User: "hub", Password: "pw", Name: "datahub test hub"})
	if _, err := nats.Connect(b.ClientURL()); err == nil {
		t.Error("anonymous connection to a password-protected embedded server succeeded")
	}
	other := openBus(t, Config{URL: b.ClientURL(), User: "hub", Password: "pw"})
	if err := other.Ready(t.Context()); err != nil {
		t.Fatal(err)
	}
}

func TestRedactURLs(t *testing.T) {
	for in, want := range map[string]string{
		"nats://127.0.0.1:4222":                       "nats://127.0.0.1:4222",
		"nats://u:p@a:1, nats://b:2":                  "nats://u:xxxxx@a:1,nats://b:2",
		"nats://tok@a:1":                              "nats://xxxxx@a:1",
		"tls://user:pa%20ss@host:4443,nats://x:y@z:1": "tls://user:xxxxx@host:4443,nats://x:xxxxx@z:1",
	} {
		if got := redactURLs(in); got != want {
			t.Errorf("redactURLs(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestRetryDelay(t *testing.T) {
	bo := []time.Duration{time.Second, 2 * time.Second}
	for _, c := range []struct {
		backoff   []time.Duration
		delivered uint64
		want      time.Duration
	}{
		{nil, 1, 0}, {bo, 1, time.Second}, {bo, 2, 2 * time.Second}, {bo, 9, 2 * time.Second}, {bo, 0, 0},
	} {
		if got := retryDelay(c.backoff, c.delivered); got != c.want {
			t.Errorf("retryDelay(%v, %d) = %s, want %s", c.backoff, c.delivered, got, c.want)
		}
	}
}

func TestConfigLogValueHidesSecrets(t *testing.T) {
	var buf strings.Builder
	log := slog.New(slog.NewTextHandler(&buf, nil))
	log.Info("bus", "config", Config{URL: "nats://u:s3cret@h:1", Password: "pw-s3cret", Token: "tok-s3cret", User: "hub"})
	if strings.Contains(buf.String(), "s3cret") || !strings.Contains(buf.String(), "user=hub") {
		t.Errorf("logged config: %s", buf.String())
	}
}
