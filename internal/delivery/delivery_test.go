package delivery_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/datahub-oss/datahub/internal/bus"
	"github.com/datahub-oss/datahub/internal/catalog"
	"github.com/datahub-oss/datahub/internal/delivery"
	"github.com/datahub-oss/datahub/internal/notify"
	"github.com/datahub-oss/datahub/internal/outbound"
	"github.com/datahub-oss/datahub/internal/testutil"
)

// loopback is a guard that allows the test receivers, which listen on 127.0.0.1.
func loopback(t *testing.T) *outbound.Guard {
	t.Helper()
	g, err := outbound.New([]string{"127.0.0.0/8", "::1/128"})
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// fakeCatalog serves parsed resources.
type fakeCatalog struct {
	mu sync.Mutex
	rs []catalog.Resource
}

func (c *fakeCatalog) set(t *testing.T, yaml string) {
	t.Helper()
	rs, err := catalog.Parse([]byte(yaml), "test.yaml")
	if err != nil {
		t.Fatal(err)
	}
	c.mu.Lock()
	c.rs = rs
	c.mu.Unlock()
}

func (c *fakeCatalog) List(_ context.Context, kind catalog.Kind, _ catalog.ListOptions) ([]catalog.Entry, string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []catalog.Entry
	for _, r := range c.rs {
		if r.Kind == kind {
			d, err := r.Digest()
			if err != nil {
				return nil, "", err
			}
			out = append(out, catalog.Entry{Resource: r, Digest: d})
		}
	}
	return out, "", nil
}

type fakeSecrets map[string]string

func (f fakeSecrets) Resolve(_ context.Context, ref string) (string, error) {
	v, ok := f[ref]
	if !ok {
		return "", fmt.Errorf("no secret %s", ref)
	}
	return v, nil
}

// receiver answers 500 to the first failFirst requests (and all while down), checks the
// signature and keeps the bodies by message id.
type receiver struct {
	t         *testing.T
	mu        sync.Mutex
	failFirst int
	down      atomic.Bool
	downCode  int // the status while down (default 500)
	requests  int
	got       map[string]string // message id → body
	order     []string          // message ids in the order they were accepted
	dup       int
	badSig    int
	conns     atomic.Int64 // connections accepted
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.requests++
	if err := notify.VerifySignature("k3y", req.Header.Get(notify.HeaderTimestamp), body, req.Header.Get(notify.HeaderSignature)); err != nil {
		r.badSig++
	}
	if r.requests <= r.failFirst || r.down.Load() {
		code := http.StatusInternalServerError
		if r.downCode != 0 && r.down.Load() {
			code = r.downCode
		}
		w.WriteHeader(code)
		return
	}
	if req.Header.Get(delivery.HeaderTopic) != "orders" || req.Header.Get(delivery.HeaderPrefix+"Region") != "eu" || req.Header.Get(delivery.HeaderDelivery) == "" {
		r.t.Errorf("headers %v", req.Header)
	}
	id := req.Header.Get(delivery.HeaderMessageID)
	if _, seen := r.got[id]; seen {
		r.dup++
	}
	r.got[id] = string(body)
	r.order = append(r.order, id)
	w.WriteHeader(http.StatusNoContent)
}

func (r *receiver) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.got)
}

const docs = `apiVersion: datahub/v1
kind: Topic
metadata: {name: orders}
spec: {}
---
apiVersion: datahub/v1
kind: Topic
metadata: {name: orders-copy}
spec: {}
---
apiVersion: datahub/v1
kind: Subscription
metadata: {name: erp}
spec:
  topic: orders
  filter: {headers: {Region: eu}}
  delivery: {type: http, url: URL, secret: secret:erp-key, timeout: 5s}
  retry: {maxDeliver: MAXDELIVER, initial: 10ms, max: 50ms}
  ordering: ORDERING
---
apiVersion: datahub/v1
kind: Subscription
metadata: {name: copy}
spec:
  topic: orders
  delivery: {type: topic, topic: orders-copy}
`

type fixture struct {
	b   *bus.Bus
	cat *fakeCatalog
	rcv *receiver
	eng *delivery.Engine
}

func setup(t *testing.T, failFirst, maxDeliver int, ordering string) *fixture {
	t.Helper()
	b, err := bus.Open(t.Context(), bus.Config{DataDir: t.TempDir(), Name: t.Name()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = b.Close(ctx)
	})
	rcv := &receiver{t: t, failFirst: failFirst, got: map[string]string{}}
	srv := httptest.NewUnstartedServer(rcv)
	srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			rcv.conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	f := &fixture{b: b, cat: &fakeCatalog{}, rcv: rcv}
	d := strings.NewReplacer("URL", srv.URL, "MAXDELIVER", fmt.Sprint(maxDeliver), "ORDERING", ordering).Replace(docs)
	if ordering == "" {
		d = strings.Replace(d, "  ordering: \n", "", 1)
	}
	f.cat.set(t, d)
	f.eng = &delivery.Engine{Bus: b, Catalog: f.cat, Secrets: fakeSecrets{"secret:erp-key": "k3y"}, Interval: 50 * time.Millisecond,
		Guard: loopback(t)}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); _ = f.eng.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	// The consumers start with the messages published after them.
	if err := f.eng.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fixture) publish(t *testing.T, n int, headers map[string]string) {
	t.Helper()
	for i := range n {
		if _, err := f.b.PublishTopic(t.Context(), "orders", "created", fmt.Appendf(nil, `{"n":%d}`, i), headers, fmt.Sprintf("m-%d", i)); err != nil {
			t.Fatal(err)
		}
	}
}

// TestRetriedUntilDelivered: a receiver failing the first deliveries gets every message (at
// least once; deduped by message id, exactly the published set), signed; messages without
// the filter's header are not delivered; the topic delivery copies everything. Unless ordering
// is none, the messages (one subject, no key) arrive once each, in the order published.
func TestRetriedUntilDelivered(t *testing.T) {
	for _, ordering := range []string{"", "key", "topic", "none"} {
		t.Run("ordering="+ordering, func(t *testing.T) {
			t.Parallel()
			f := setup(t, 7, 10, ordering)
			const n = 50
			f.publish(t, n, map[string]string{"Region": "eu"})
			if _, err := f.b.PublishTopic(t.Context(), "orders", "created", []byte("us"), map[string]string{"Region": "us"}, "us-1"); err != nil {
				t.Fatal(err)
			}
			testutil.WaitFor(t, 20*time.Second, "every message", func() bool { return f.rcv.count() >= n })
			// A duplicate, or the us message the filter drops, has no later message to show
			// it: a short watch.
			testutil.Never(t, 100*time.Millisecond, 20*time.Millisecond, func() error {
				return testutil.Checkf(f.rcv.count() == n, "%d messages, want %d", f.rcv.count(), n)
			})
			f.rcv.mu.Lock()
			defer f.rcv.mu.Unlock()
			if len(f.rcv.got) != n || f.rcv.badSig != 0 {
				t.Fatalf("got %d messages (want %d), %d bad signatures", len(f.rcv.got), n, f.rcv.badSig)
			}
			if ordering != "none" {
				if f.rcv.dup != 0 {
					t.Errorf("%d duplicates", f.rcv.dup)
				}
				for i, id := range f.rcv.order {
					if id != fmt.Sprintf("m-%d", i) {
						t.Errorf("delivery %d is %s: out of order: %v", i, id, f.rcv.order)
						break
					}
				}
			}
			for i := range n {
				if f.rcv.got[fmt.Sprintf("m-%d", i)] != fmt.Sprintf(`{"n":%d}`, i) {
					t.Errorf("message m-%d: %q", i, f.rcv.got[fmt.Sprintf("m-%d", i)])
				}
			}
			copied, err := f.b.ReadTopic(t.Context(), "orders-copy", 0, 100, time.Second)
			if err != nil || len(copied) < n+1 {
				t.Errorf("forwarded %d, %v", len(copied), err)
			}
			if dl, _ := f.b.ListDeadLetters(t.Context(), "erp", 0, 10); len(dl) != 0 {
				t.Errorf("dead letters: %+v", dl)
			}
		})
	}
}

// TestConnectionsReused: the parallel deliveries of a subscription (ordering none, or ordering
// key with several keys) keep their connections to the receiver open between messages, rather
// than dialling one for most deliveries.
func TestConnectionsReused(t *testing.T) {
	for _, ordering := range []string{"key", "none"} {
		t.Run("ordering="+ordering, func(t *testing.T) {
			t.Parallel()
			f := setup(t, 0, 10, ordering)
			const n = 400
			for i := range n {
				h := map[string]string{"Region": "eu", bus.HeaderKey: fmt.Sprintf("k%d", i%16)}
				if _, err := f.b.PublishTopic(t.Context(), "orders", "created", fmt.Appendf(nil, `{"n":%d}`, i), h, fmt.Sprintf("m-%d", i)); err != nil {
					t.Fatal(err)
				}
			}
			testutil.WaitFor(t, 30*time.Second, "every message", func() bool { return f.rcv.count() >= n })
			// About one connection a lane (8 run at once); a few more when a lane asks for a
			// connection before its last one went back to the pool, and the transport dials.
			// Without the reuse, it was 150 to 230.
			if c := f.rcv.conns.Load(); c > 16 {
				t.Errorf("%d connections for %d deliveries by at most 8 at a time", c, n)
			}
		})
	}
}

// TestDeadLetterAndReplay: a receiver that always fails gets MaxDeliver attempts, then the
// message is in the DLQ; replayed once the receiver is fixed, it is delivered to it (and not
// again to the topic subscription).
func TestDeadLetterAndReplay(t *testing.T) {
	t.Parallel()
	f := setup(t, 0, 3, "")
	f.rcv.down.Store(true)
	f.publish(t, 2, map[string]string{"Region": "eu"})
	var dl []bus.DeadLetter
	testutil.WaitFor(t, 20*time.Second, "two dead letters", func() bool {
		dl, _ = f.b.ListDeadLetters(t.Context(), "erp", 0, 10)
		return len(dl) == 2
	})
	if dl[0].Deliveries != 3 || !strings.Contains(dl[0].Error, "500") {
		t.Errorf("dead letter %+v", dl[0])
	}
	f.rcv.mu.Lock()
	if f.rcv.requests != 6 {
		t.Errorf("%d requests, want 2 x 3", f.rcv.requests)
	}
	f.rcv.mu.Unlock()
	f.rcv.down.Store(false)
	if n, err := f.b.ReplayAll(t.Context(), "erp"); err != nil || n != 2 {
		t.Fatalf("replay: %d, %v", n, err)
	}
	testutil.WaitFor(t, 10*time.Second, "the replayed messages", func() bool { return f.rcv.count() == 2 })
	copiedIs := func(ok func(int) bool) func() error {
		return func() error {
			copied, err := f.b.ReadTopic(t.Context(), "orders-copy", 0, 100, time.Second)
			if err != nil {
				return err
			}
			return testutil.Checkf(ok(len(copied)), "the copy subscription forwarded %d messages (want 2: replays are for erp only)", len(copied))
		}
	}
	testutil.Eventually(t, 10*time.Second, 20*time.Millisecond, copiedIs(func(n int) bool { return n >= 2 }))
	// A replay that reached the copy subscription has no later message to show it: a short watch.
	testutil.Never(t, 200*time.Millisecond, 50*time.Millisecond, copiedIs(func(n int) bool { return n == 2 }))
}

// TestPermanentAndRetryAfter: a 400 dead-letters at once; Retry-After delays the retry.
func TestPermanentAndRetryAfter(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	var first, second atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Header.Get(delivery.HeaderMessageID) {
		case "bad":
			w.WriteHeader(http.StatusBadRequest)
		default:
			switch calls.Add(1) {
			case 1:
				first.Store(time.Now().UnixMilli())
				w.Header().Set("Retry-After", "1")
				w.WriteHeader(http.StatusTooManyRequests)
			default:
				second.Store(time.Now().UnixMilli())
			}
		}
	}))
	defer srv.Close()
	b, err := bus.Open(t.Context(), bus.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = b.Close(context.Background()) }()
	cat := &fakeCatalog{}
	cat.set(t, `apiVersion: datahub/v1
kind: Topic
metadata: {name: t1}
spec: {}
---
apiVersion: datahub/v1
kind: Subscription
metadata: {name: s1}
spec:
  topic: t1
  delivery: {type: http, url: `+srv.URL+`}
  retry: {initial: 10ms}
`)
	eng := &delivery.Engine{Bus: b, Catalog: cat, Interval: time.Hour, Guard: loopback(t)}
	if err := eng.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); _ = eng.Run(ctx) }()
	defer func() { cancel(); <-done }()
	if _, err := b.PublishTopic(t.Context(), "t1", "", []byte("probe"), nil, "bad"); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 5*time.Second, "the dead letter", func() bool {
		dl, _ := b.ListDeadLetters(t.Context(), "s1", 0, 10)
		return len(dl) == 1 && dl[0].Deliveries == 1 && strings.Contains(dl[0].Error, "400")
	})
	if _, err := b.PublishTopic(t.Context(), "t1", "", []byte("x"), nil, "ok"); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 5*time.Second, "the retry", func() bool { return second.Load() != 0 })
	if gap := second.Load() - first.Load(); gap < 900 {
		t.Errorf("retried after %dms despite Retry-After: 1", gap)
	}
}

// TestOutageIsNotCounted: a receiver answering 503 (down) for many more attempts than
// retry.maxDeliver gets every message, in order, once it is back; nothing is dead-lettered.
func TestOutageIsNotCounted(t *testing.T) {
	t.Parallel()
	f := setup(t, 0, 2, "")
	f.rcv.mu.Lock()
	f.rcv.downCode = http.StatusServiceUnavailable
	f.rcv.mu.Unlock()
	f.rcv.down.Store(true)
	const n = 10
	f.publish(t, n, map[string]string{"Region": "eu"})
	testutil.WaitFor(t, 20*time.Second, "attempts beyond maxDeliver", func() bool {
		f.rcv.mu.Lock()
		defer f.rcv.mu.Unlock()
		return f.rcv.requests >= 6
	})
	f.rcv.down.Store(false)
	testutil.WaitFor(t, 20*time.Second, "every message", func() bool { return f.rcv.count() >= n })
	f.rcv.mu.Lock()
	for i, id := range f.rcv.order {
		if id != fmt.Sprintf("m-%d", i) {
			t.Errorf("delivery %d is %s: %v", i, id, f.rcv.order)
			break
		}
	}
	f.rcv.mu.Unlock()
	if dl, _ := f.b.ListDeadLetters(t.Context(), "erp", 0, 10); len(dl) != 0 {
		t.Errorf("dead letters: %+v", dl)
	}
}
