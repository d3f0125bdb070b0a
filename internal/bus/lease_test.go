package bus

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/datahub-oss/datahub/internal/testutil"
)

func TestLease(t *testing.T) {
	eachServer(t, func(t *testing.T, open opener) {
		b1, b2 := open(t), open(t)
		ctx := t.Context()

		t.Run("held until released", func(t *testing.T) {
			a, err := b1.AcquireLease(ctx, "trigger.nightly", "scheduler-1", 0)
			if err != nil {
				t.Fatal(err)
			}
			_, err = b2.AcquireLease(ctx, "trigger.nightly", "scheduler-2", 0)
			if !errors.Is(err, ErrLeaseHeld) || !contains(err.Error(), "scheduler-1") {
				t.Fatalf("second acquire: %v", err)
			}
			if err := a.Release(ctx); err != nil {
				t.Fatal(err)
			}
			if err := a.Release(ctx); err != nil {
				t.Errorf("second release: %v", err)
			}
			c, err := b2.AcquireLease(ctx, "trigger.nightly", "scheduler-2", 0)
			if err != nil {
				t.Fatalf("acquire after release: %v", err)
			}
			if err := c.Release(ctx); err != nil {
				t.Fatal(err)
			}
		})

		t.Run("renewed while alive, expires when holder dies", func(t *testing.T) {
			const ttl = time.Second
			a, err := b1.AcquireLease(ctx, "run.orders.0", "worker-1", ttl)
			if err != nil {
				t.Fatal(err)
			}
			time.Sleep(1500 * time.Millisecond) // past the TTL: only renewals keep it
			if _, err := b2.AcquireLease(ctx, "run.orders.0", "worker-2", ttl); !errors.Is(err, ErrLeaseHeld) {
				t.Fatalf("acquire of a renewed lease: %v", err)
			}
			a.stopRenewing() // the holder dies without releasing
			died := time.Now()
			var c *Lease
			testutil.WaitFor(t, 5*time.Second, "lease to expire", func() bool {
				c, err = b2.AcquireLease(ctx, "run.orders.0", "worker-2", ttl)
				return err == nil
			})
			t.Logf("taken over %s after the holder died", time.Since(died).Round(10*time.Millisecond))
			select {
			case <-c.Lost():
				t.Error("new lease lost")
			default:
			}
			if err := c.Release(ctx); err != nil {
				t.Fatal(err)
			}
		})

		t.Run("lost when taken over", func(t *testing.T) {
			a, err := b1.AcquireLease(ctx, "stolen", "worker-1", time.Second)
			if err != nil {
				t.Fatal(err)
			}
			kv, err := b1.lockBucket(ctx, time.Second)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := kv.Put(ctx, "stolen", []byte("intruder")); err != nil {
				t.Fatal(err)
			}
			select {
			case <-a.Lost():
			case <-time.After(3 * time.Second):
				t.Fatal("holder did not notice the takeover")
			}
			if err := a.Release(ctx); err != nil {
				t.Errorf("release of a lost lease: %v", err)
			}
			if e, err := kv.Get(ctx, "stolen"); err != nil || string(e.Value()) != "intruder" {
				t.Errorf("release of a lost lease touched the new holder's key: %v", err)
			}
		})

		t.Run("bucket", func(t *testing.T) {
			// b2, not b1: with the embedded server b1 runs it.
			if _, err := b2.AcquireLease(ctx, "k", "o", 0); err != nil {
				t.Fatal(err)
			}
			kv, err := b1.js.KeyValue(ctx, b1.names.locks)
			if err != nil {
				t.Fatal(err)
			}
			st, err := kv.Status(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if st.History() != 1 || st.TTL() != DefaultLeaseTTL {
				t.Errorf("locks bucket history %d ttl %s", st.History(), st.TTL())
			}
			// Close releases the leases still held.
			if err := b2.Close(ctx); err != nil {
				t.Fatal(err)
			}
			if _, err := kv.Get(ctx, "k"); err == nil {
				t.Error("lease still held after its bus closed")
			} else if !errors.Is(err, jetstream.ErrKeyNotFound) {
				t.Errorf("lease after Close: %v", err)
			}
		})

		t.Run("bad keys", func(t *testing.T) {
			for _, k := range []string{"", "a b", ".a", "a.", "a*"} {
				if _, err := b1.AcquireLease(ctx, k, "o", 0); err == nil {
					t.Errorf("AcquireLease(%q) succeeded", k)
				}
			}
			if _, err := b1.AcquireLease(ctx, "k2", "o", time.Millisecond); err == nil {
				t.Error("AcquireLease with a 1ms ttl succeeded")
			}
		})
	})
}

// TestCloseLeavesNoGoroutines opens a bus, uses every part of it and closes it: the goroutine
// count must come back to where it was. Not parallel: the count is process-wide.
func TestCloseLeavesNoGoroutines(t *testing.T) {
	check := func(t *testing.T, cfg Config) {
		before := runtime.NumGoroutine()
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		b, err := Open(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		if err := b.EnqueueRun(ctx, run("g1", "orders")); err != nil {
			t.Fatal(err)
		}
		got := make(chan struct{})
		go func() {
			_ = b.ConsumeRuns(ctx, ConsumerConfig{Heartbeat: true}, func(context.Context, *RunMessage) error {
				close(got)
				return nil
			})
		}()
		<-got
		if _, err := b.AcquireLease(ctx, "g", "me", time.Second); err != nil {
			t.Fatal(err)
		}
		if err := b.Publish(ctx, "test", nil, nil); err != nil {
			t.Fatal(err)
		}
		if err := b.Close(ctx); err != nil {
			t.Fatal(err)
		}
		const slack = 2
		testutil.Eventually(t, 5*time.Second, 20*time.Millisecond, func() error {
			if n := runtime.NumGoroutine(); n > before+slack {
				buf := make([]byte, 1<<20)
				return fmt.Errorf("%d goroutines before Open, %d after Close:\n%s", before, n, buf[:runtime.Stack(buf, true)])
			}
			return nil
		})
	}
	t.Run("embedded", func(t *testing.T) { check(t, Config{DataDir: t.TempDir()}) })
	t.Run("external", func(t *testing.T) {
		u := requireExternal(t)
		check(t, Config{URL: u, Prefix: uniquePrefix(t)})
	})
}

// openPlainServer starts a NATS server without JetStream on a free port and returns its URL.
func openPlainServer(t *testing.T) string {
	t.Helper()
	s, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, NoSigs: true, NoLog: true})
	if err != nil {
		t.Fatal(err)
	}
	s.Start()
	t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
	if !s.ReadyForConnections(5 * time.Second) {
		t.Fatal("plain server did not start")
	}
	return s.ClientURL()
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }
