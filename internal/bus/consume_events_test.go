package bus

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/datahub-oss/datahub/internal/testutil"
)

// TestConsumeEventsSharedDurable: two processes sharing a durable consumer handle each event
// once between them; a handler error is retried; events outside the filter are not delivered.
func TestConsumeEventsSharedDurable(t *testing.T) {
	eachServer(t, func(t *testing.T, open opener) {
		b1, b2 := open(t), open(t)
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		var mu sync.Mutex
		seen := map[string]int{}
		failed := false
		handler := func(_ context.Context, e Event, delivered uint64) error {
			mu.Lock()
			defer mu.Unlock()
			if string(e.Data) == "e3" && !failed {
				failed = true
				return errors.New("first delivery fails")
			}
			if string(e.Data) == "e3" && delivered < 2 {
				t.Errorf("retried event delivered %d times", delivered)
			}
			seen[string(e.Data)]++
			return nil
		}
		cfg := EventConsumerConfig{Durable: "test-notify", Filter: "run.>", Backoff: []time.Duration{50 * time.Millisecond}}
		var wg sync.WaitGroup
		for _, b := range []*Bus{b1, b2} {
			wg.Go(func() {
				if err := b.ConsumeEvents(ctx, cfg, handler); err != nil && !errors.Is(err, context.Canceled) {
					t.Errorf("consume: %v", err)
				}
			})
		}
		// Wait for the consumer to exist: it starts with the events published after it.
		testutil.Eventually(t, 5*time.Second, 20*time.Millisecond, func() error {
			_, err := b1.js.Consumer(ctx, b1.names.events, "test-notify")
			return err
		})
		const n = 10
		for i := range n {
			if err := b1.Publish(ctx, "run.failed", fmt.Appendf(nil, "e%d", i), nil); err != nil {
				t.Fatal(err)
			}
		}
		if err := b1.Publish(ctx, "resource.changed", []byte("other"), nil); err != nil {
			t.Fatal(err)
		}
		handled := func() (int, int) {
			mu.Lock()
			defer mu.Unlock()
			all := 0
			for _, c := range seen {
				all += c
			}
			return len(seen), all
		}
		testutil.Eventually(t, 10*time.Second, 20*time.Millisecond, func() error {
			got, _ := handled()
			return testutil.Checkf(got >= n, "handled %d of %d events", got, n)
		})
		// The second process's consumer shares the durable: a duplicate would be a
		// redelivery, with no later event to show it. A short watch.
		testutil.Never(t, 200*time.Millisecond, 20*time.Millisecond, func() error {
			_, all := handled()
			return testutil.Checkf(all == n, "%d handlings of %d events", all, n)
		})
		cancel()
		wg.Wait()
		mu.Lock()
		defer mu.Unlock()
		for k, c := range seen {
			if c != 1 {
				t.Errorf("event %s handled %d times", k, c)
			}
		}
		if seen["other"] != 0 {
			t.Error("an event outside the filter was delivered")
		}
		if !failed {
			t.Error("the failing handler never ran")
		}
	})
}
