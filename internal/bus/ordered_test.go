package bus

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/datahub-oss/datahub/internal/testutil"
)

// received records the successful deliveries of ordered subscriptions.
type received struct {
	mu    sync.Mutex
	byKey map[string][]int
	all   []int
	by    map[string]int // deliverer → count
	trace []string       // who:key/n, in delivery order
}

func newReceived() *received { return &received{byKey: map[string][]int{}, by: map[string]int{}} }

func (r *received) add(who, key string, n int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.byKey[key] = append(r.byKey[key], n)
	r.all = append(r.all, n)
	r.by[who]++
	r.trace = append(r.trace, fmt.Sprintf("%s:%s/%d", who, key, n))
}

func (r *received) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.all)
}

// inOrder fails unless every key got 0..want-1 of its own messages exactly once, in order.
func (r *received) inOrder(t *testing.T, want map[string]int) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	for k, n := range want {
		got := r.byKey[k]
		if len(got) != n {
			t.Errorf("key %s: %d deliveries, want %d: %v", k, len(got), n, got)
			continue
		}
		for i, v := range got {
			if v != i {
				t.Errorf("key %s: delivery %d is message %d (want %d): %v\ntrace: %v", k, i, v, i, got, r.trace)
				break
			}
		}
	}
}

// publishKeyed publishes count messages for each key, interleaved, data "key/i".
func publishKeyed(ctx context.Context, t *testing.T, b *Bus, topic string, keys []string, from, count int) {
	t.Helper()
	for i := from; i < from+count; i++ {
		for _, k := range keys {
			data := fmt.Sprintf("%s/%d", k, i)
			if _, err := b.PublishTopic(ctx, topic, "", []byte(data), map[string]string{HeaderKey: k}, ""); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func parseKeyed(m TopicMessage) (string, int) {
	k, n, _ := strings.Cut(string(m.Data), "/")
	i, _ := strconv.Atoi(n)
	return k, i
}

func consumeInBackground(t *testing.T, ctx context.Context, b *Bus, cfg SubscriptionConfig, h TopicHandler) (wait func()) {
	t.Helper()
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := b.ConsumeSubscription(ctx, cfg, h); err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("consume %s: %v", cfg.Name, err)
		}
	})
	return wg.Wait
}

// Failed deliveries are retried in place: every key's messages still arrive in order, each once.
func TestOrderedSubscriptionKeepsKeyOrder(t *testing.T) {
	eachServer(t, func(t *testing.T, open opener) {
		b := open(t)
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		if err := b.EnsureTopic(ctx, TopicConfig{Name: "orders"}); err != nil {
			t.Fatal(err)
		}
		cfg := SubscriptionConfig{Name: "ordered", Topic: "orders", Ordered: true, Concurrency: 4, MaxDeliver: 50,
			BackoffInitial: 5 * time.Millisecond, BackoffMax: 20 * time.Millisecond, AckWait: 2 * time.Second}
		if _, err := b.EnsureSubscription(ctx, cfg); err != nil {
			t.Fatal(err)
		}
		keys := []string{"a", "b", "c", "d", "e", "f"}
		const per = 40
		publishKeyed(ctx, t, b, "orders", keys, 0, per)
		got := newReceived()
		var mu sync.Mutex
		failed := map[string]bool{}
		wait := consumeInBackground(t, ctx, b, cfg, func(_ context.Context, m TopicMessage) error {
			k, i := parseKeyed(m)
			mu.Lock()
			first := !failed[string(m.Data)]
			failed[string(m.Data)] = true
			mu.Unlock()
			if i%3 == 0 && first {
				return errors.New("receiver said 503")
			}
			got.add("", k, i)
			return nil
		})
		testutil.WaitFor(t, 30*time.Second, "every delivery", func() bool { return got.count() >= len(keys)*per })
		// A duplicate has no later message to wait for (every key is done): a short watch.
		testutil.Never(t, 100*time.Millisecond, 20*time.Millisecond, func() error {
			return testutil.Checkf(got.count() == len(keys)*per, "%d deliveries, want %d", got.count(), len(keys)*per)
		})
		want := map[string]int{}
		for _, k := range keys {
			want[k] = per
		}
		got.inOrder(t, want)
		if dl, err := b.ListDeadLetters(ctx, "ordered", 0, 10); err != nil || len(dl) != 0 {
			t.Errorf("dead letters: %v %v", dl, err)
		}
		cancel()
		wait()
	})
}

// A receiver down for longer than AckWait gets everything published meanwhile, in the topic's
// order, once, when it returns: held messages are kept alive, not redelivered behind its back.
func TestOrderedSubscriptionAfterOutage(t *testing.T) {
	eachServer(t, func(t *testing.T, open opener) {
		b := open(t)
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		if err := b.EnsureTopic(ctx, TopicConfig{Name: "ledger"}); err != nil {
			t.Fatal(err)
		}
		// MaxDeliver 3: the outage's failures (ErrUnavailable) do not count against it.
		cfg := SubscriptionConfig{Name: "books", Topic: "ledger", Ordered: true, Concurrency: 1, MaxDeliver: 3,
			BackoffInitial: 20 * time.Millisecond, BackoffMax: 100 * time.Millisecond, AckWait: time.Second}
		if _, err := b.EnsureSubscription(ctx, cfg); err != nil {
			t.Fatal(err)
		}
		var mu sync.Mutex
		down, attempts := true, 0
		got := newReceived()
		wait := consumeInBackground(t, ctx, b, cfg, func(_ context.Context, m TopicMessage) error {
			mu.Lock()
			defer mu.Unlock()
			if down {
				attempts++
				return fmt.Errorf("connection refused: %w", ErrUnavailable)
			}
			_, i := parseKeyed(m)
			got.add("", "all", i)
			return nil
		})
		// Messages of several keys and subjects: one lane keeps the topic's order.
		for i := range 100 {
			subj := []string{"eu", "us", "apac"}[i%3]
			if _, err := b.PublishTopic(ctx, "ledger", subj, fmt.Appendf(nil, "x/%d", i), map[string]string{HeaderKey: subj}, ""); err != nil {
				t.Fatal(err)
			}
		}
		// Down for a few attempts (more than twice AckWait): the lane waits, nothing skips ahead.
		testutil.WaitFor(t, 30*time.Second, "three attempts while down", func() bool {
			mu.Lock()
			defer mu.Unlock()
			return attempts >= 3
		})
		mu.Lock()
		down = false
		mu.Unlock()
		testutil.WaitFor(t, 30*time.Second, "every delivery", func() bool { return got.count() >= 100 })
		// A redelivered duplicate would come after AckWait (1 s) and no later message can
		// show it sooner: watch for longer than that.
		testutil.Never(t, 1500*time.Millisecond, 50*time.Millisecond, func() error {
			return testutil.Checkf(got.count() == 100, "%d deliveries, want 100", got.count())
		})
		got.inOrder(t, map[string]int{"all": 100})
		if dl, err := b.ListDeadLetters(ctx, "books", 0, 10); err != nil || len(dl) != 0 {
			t.Errorf("dead letters after an outage: %v %v", dl, err)
		}
		cancel()
		wait()
	})
}

// Two processes consume one ordered subscription: one delivers while the other waits; when it
// stops, the other takes over where it left off, in order.
func TestOrderedSubscriptionOneHolderAndTakeover(t *testing.T) {
	eachServer(t, func(t *testing.T, open opener) {
		short := func(c *Config) { c.LeaseTTL = time.Second }
		b1, b2 := open(t, short), open(t, short)
		ctx := t.Context()
		if err := b1.EnsureTopic(ctx, TopicConfig{Name: "events"}); err != nil {
			t.Fatal(err)
		}
		base := SubscriptionConfig{Name: "audit", Topic: "events", Ordered: true, Concurrency: 2, MaxDeliver: 100,
			BackoffInitial: 5 * time.Millisecond, BackoffMax: 20 * time.Millisecond, AckWait: time.Second}
		if _, err := b1.EnsureSubscription(ctx, base); err != nil {
			t.Fatal(err)
		}
		got := newReceived()
		handler := func(who string) TopicHandler {
			return func(_ context.Context, m TopicMessage) error {
				k, i := parseKeyed(m)
				got.add(who, k, i)
				time.Sleep(5 * time.Millisecond)
				return nil
			}
		}
		ctx1, stop1 := context.WithCancel(ctx)
		ctx2, stop2 := context.WithCancel(ctx)
		defer stop2()
		c1, c2 := base, base
		c1.Owner, c2.Owner = "one", "two"
		wait1 := consumeInBackground(t, ctx1, b1, c1, handler("one"))
		wait2 := consumeInBackground(t, ctx2, b2, c2, handler("two"))
		keys := []string{"k1", "k2", "k3"}
		publishKeyed(ctx, t, b1, "events", keys, 0, 60)
		// The holder stops in the middle: what it held goes to the other, before the rest.
		testutil.WaitFor(t, 30*time.Second, "the first deliveries", func() bool { return got.count() >= 90 })
		got.mu.Lock()
		first := maps.Clone(got.by)
		got.mu.Unlock()
		if len(first) != 1 {
			t.Fatalf("deliveries by %v: want one holder", first)
		}
		holder := "one"
		stopHolder, waitHolder := stop1, wait1
		if first["two"] > 0 {
			holder, stopHolder, waitHolder = "two", stop2, wait2
		}
		stopHolder()
		waitHolder()
		got.mu.Lock()
		got.by = map[string]int{}
		got.mu.Unlock()
		publishKeyed(ctx, t, b1, "events", keys, 60, 30)
		testutil.WaitFor(t, 30*time.Second, "the deliveries after the takeover", func() bool { return got.count() >= 270 })
		// Every key is done, so no later message can show a duplicate: a short watch.
		testutil.Never(t, 200*time.Millisecond, 20*time.Millisecond, func() error {
			return testutil.Checkf(got.count() == 270, "%d deliveries, want 270", got.count())
		})
		want := map[string]int{}
		for _, k := range keys {
			want[k] = 90
		}
		got.inOrder(t, want)
		got.mu.Lock()
		if got.by[holder] != 0 {
			t.Errorf("the stopped holder %s delivered %d after it stopped", holder, got.by[holder])
		}
		got.mu.Unlock()
		stop1()
		stop2()
		wait1()
		wait2()
	})
}

// A message the receiver fails on (not an outage) is dead-lettered after MaxDeliver attempts,
// and the lane goes on with the next ones, in order.
func TestOrderedSubscriptionDeadLettersAndGoesOn(t *testing.T) {
	eachServer(t, func(t *testing.T, open opener) {
		b := open(t)
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		if err := b.EnsureTopic(ctx, TopicConfig{Name: "jobs"}); err != nil {
			t.Fatal(err)
		}
		cfg := SubscriptionConfig{Name: "runner", Topic: "jobs", Ordered: true, Concurrency: 1, MaxDeliver: 3,
			BackoffInitial: 5 * time.Millisecond, BackoffMax: 20 * time.Millisecond, AckWait: 2 * time.Second}
		if _, err := b.EnsureSubscription(ctx, cfg); err != nil {
			t.Fatal(err)
		}
		publishKeyed(ctx, t, b, "jobs", []string{"k"}, 0, 10)
		got := newReceived()
		var mu sync.Mutex
		tries := map[int]int{}
		wait := consumeInBackground(t, ctx, b, cfg, func(_ context.Context, m TopicMessage) error {
			k, i := parseKeyed(m)
			mu.Lock()
			tries[i]++
			mu.Unlock()
			if i == 4 {
				return errors.New("receiver said 500: cannot process job 4")
			}
			got.add("", k, i)
			return nil
		})
		testutil.WaitFor(t, 30*time.Second, "the other nine", func() bool { return got.count() >= 9 })
		got.mu.Lock()
		if fmt.Sprint(got.byKey["k"]) != "[0 1 2 3 5 6 7 8 9]" {
			t.Errorf("delivered %v", got.byKey["k"])
		}
		got.mu.Unlock()
		dl, err := b.ListDeadLetters(ctx, "runner", 0, 10)
		if err != nil || len(dl) != 1 {
			t.Fatalf("dead letters %v %v", dl, err)
		}
		mu.Lock()
		if tries[4] != 3 {
			t.Errorf("job 4 tried %d times, want 3", tries[4])
		}
		mu.Unlock()
		cancel()
		wait()
	})
}
