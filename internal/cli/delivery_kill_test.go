package cli

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/datahub-oss/datahub/internal/testutil"
)

// serveAt starts `datahub serve` on addr with data folder data (SQLite store, embedded NATS),
// so that a killed server can be restarted on the same state.
func serveAt(t *testing.T, name, addr, data string) *hubProc {
	t.Helper()
	p := &hubProc{name: name, base: "http://" + addr, data: data, log: data + "-" + strings.ReplaceAll(name, " ", "-") + ".log", done: make(chan struct{})}
	// The test receivers listen on loopback, which the outbound guard refuses unless allowed.
	return launch(t, p, []string{"DATAHUB_OUTBOUND_ALLOW=127.0.0.0/8,::1/128"}, "--addr", addr, "--data", data, "--log-level", "info")
}

// TestDeliveryKilledMidwayLosesNothing is issue 4's check of the service bus: one `datahub
// serve` with a Topic and two Subscriptions (http to a receiver that fails for its first 2
// seconds; table into PostgreSQL), N messages published through the API, the server killed
// with SIGKILL while delivering and restarted on the same data folder. The receiver ends with
// every message id (at least once) and the table with exactly N rows, one per message id.
// DATAHUB_TEST_BIG=1 publishes the 100,000 messages.
func TestDeliveryKilledMidwayLosesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("needs PostgreSQL; skipped with -short")
	}
	n := 5000
	if os.Getenv("DATAHUB_TEST_BIG") == "1" {
		n = 100000
	}
	dst := pgURL(t, "dh_test_cli_delivery_kill")

	var mu sync.Mutex
	got := map[string]int{}
	var first atomic.Int64 // unix nanos of the first request
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		now := time.Now().UnixNano()
		first.CompareAndSwap(0, now)
		if now-first.Load() < int64(2*time.Second) {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		mu.Lock()
		got[r.Header.Get("X-DataHub-Message-Id")]++
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(rcv.Close)
	received := func() int {
		mu.Lock()
		defer mu.Unlock()
		c := 0
		for id := range got {
			if strings.HasPrefix(id, "m-") {
				c++
			}
		}
		return c
	}

	data := filepath.Join(t.TempDir(), "data")
	addr := freePort(t)
	hub := serveAt(t, "server", addr, data)
	raw, err := os.ReadFile(filepath.Join(data, "admin.token"))
	if err != nil {
		t.Fatal(err)
	}
	token := strings.TrimSpace(string(raw))
	resources := fmt.Sprintf(`apiVersion: datahub/v1
kind: System
metadata: {name: sys}
spec: {owner: team}
---
apiVersion: datahub/v1
kind: Endpoint
metadata: {name: warehouse}
spec: {system: sys, type: postgres, environments: {DEV: {url: %q}}}
---
apiVersion: datahub/v1
kind: Topic
metadata: {name: orders}
spec: {retention: {maxAge: 1d}}
---
apiVersion: datahub/v1
kind: Subscription
metadata: {name: orders-http}
spec:
  topic: orders
  delivery: {type: http, url: %q}
  retry: {maxDeliver: 1000, initial: 100ms, max: 1s}
---
apiVersion: datahub/v1
kind: Subscription
metadata: {name: orders-table}
spec:
  topic: orders
  delivery: {type: table, endpoint: warehouse, env: dev, table: public.orders_log}
  retry: {maxDeliver: 1000, initial: 100ms, max: 1s}
`, dst, rcv.URL)
	if code, body := api(t, hub.base, token, "POST", "/api/v1/apply", "application/yaml", resources); code != 200 {
		t.Fatalf("apply: %d %s", code, body)
	}
	base := hub.base // the restarted server listens on the same address
	publish := func(id string) bool {
		req, _ := http.NewRequest(http.MethodPost, base+"/api/v1/topics/orders/messages?subject=created", //nolint:noctx // a test client
			strings.NewReader(fmt.Sprintf(`{"id":%q}`, id)))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Idempotency-Key", id)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			return false
		}
		_, _ = io.Copy(io.Discard, res.Body)
		_ = res.Body.Close()
		return res.StatusCode == http.StatusAccepted
	}
	// Consumers start with the messages published after them: probe until both deliver.
	tableRows := func(where string) string {
		return pgQueryMaybe(dst, "SELECT count(*)||'/'||count(DISTINCT message_id) FROM public.orders_log WHERE "+where)
	}
	probes := 0
	testutil.Eventually(t, 30*time.Second, 300*time.Millisecond, func() error {
		probes++
		publish(fmt.Sprintf("probe-%d", probes))
		mu.Lock()
		posted := len(got) > 0
		mu.Unlock()
		r := tableRows("message_id LIKE 'probe-%'")
		return testutil.Checkf(posted && r != "" && !strings.HasPrefix(r, "0/"), "after %d probes: posted %t, table %q", probes, posted, r)
	})

	// Publish in parallel; a publish that fails (the server is down) is retried with the same
	// idempotency key until it is accepted.
	start := time.Now()
	var wg sync.WaitGroup
	next := atomic.Int64{}
	for range 32 {
		wg.Go(func() {
			for {
				i := next.Add(1) - 1
				if i >= int64(n) {
					return
				}
				id := "m-" + strconv.FormatInt(i, 10)
				for !publish(id) {
					time.Sleep(50 * time.Millisecond)
				}
			}
		})
	}
	// Kill once some rows are in the table, restart on the same data folder.
	var before string
	testutil.WaitFor(t, 60*time.Second, "the first rows in the table", func() bool {
		before = tableRows("message_id LIKE 'm-%'")
		return before != "" && !strings.HasPrefix(before, "0/")
	})
	hub.kill(t)
	if c, _, _ := strings.Cut(before, "/"); c == strconv.Itoa(n) {
		t.Fatalf("all %d rows were written before the kill; publish more", n)
	}
	t.Logf("killed the server %s after the first publish, with %s rows in the table and %d messages received", time.Since(start).Round(time.Millisecond), before, received())
	serveAt(t, "server (restarted)", addr, data)
	wg.Wait()
	t.Logf("published %d messages in %s", n, time.Since(start).Round(time.Millisecond))

	want := fmt.Sprintf("%d/%d", n, n)
	timeout := 60 * time.Second
	if n > 10000 {
		timeout = 10 * time.Minute
	}
	testutil.WaitFor(t, timeout, "every message received and in the table", func() bool {
		return received() == n && tableRows("message_id LIKE 'm-%'") == want
	})
	t.Logf("all delivered %s after the first publish", time.Since(start).Round(time.Millisecond))
	// Exactly N rows besides the probes, each with its JSON body.
	if r := pgQuery(t, dst, "SELECT count(*)||'/'||count(body_json)||'/'||count(*) FILTER (WHERE body_json->>'id' = message_id) FROM public.orders_log WHERE message_id NOT LIKE 'probe-%'"); r != want+"/"+strconv.Itoa(n) {
		t.Fatalf("table rows (count/with JSON body/body matches id) %s, want %s/%d", r, want, n)
	}
	mu.Lock()
	dups := 0
	for id, c := range got {
		if strings.HasPrefix(id, "m-") && c > 1 {
			dups++
		}
	}
	mu.Unlock()
	t.Logf("%d message ids were received more than once (at least once delivery)", dups)
}
