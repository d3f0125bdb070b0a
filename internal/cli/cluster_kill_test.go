package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/datahub-oss/datahub/internal/bus"
	"github.com/datahub-oss/datahub/internal/bus/bustest"
	"github.com/datahub-oss/datahub/internal/runstatus"
	"github.com/datahub-oss/datahub/internal/testutil"
)

// clusterHubs is issue 9's scale-out setting: a three-node NATS JetStream cluster (nats-server
// processes on loopback) and two `datahub serve` processes on one PostgreSQL store, with
// every stream and bucket at three replicas.
type clusterHubs struct {
	nats  *bustest.Cluster
	hubs  []*hubProc
	token string
}

func startClusterHubs(t *testing.T, store string) *clusterHubs {
	t.Helper()
	c := &clusterHubs{nats: bustest.StartCluster(t, 3)}
	env := []string{"DATAHUB_NATS_REPLICAS=3", "DATAHUB_WORKER_ACK_WAIT=3s", "DATAHUB_LEASE_TTL=3s",
		"DATAHUB_OUTBOUND_ALLOW=127.0.0.0/8,::1/128"}
	// The first server creates the admin; the second finds it and writes no token.
	c.hubs = append(c.hubs, startServe(t, "hub A", store, c.nats.URL(), env...))
	c.hubs = append(c.hubs, startServe(t, "hub B", store, c.nats.URL(), env...))
	raw, err := os.ReadFile(filepath.Join(c.hubs[0].data, "admin.token"))
	if err != nil {
		t.Fatal(err)
	}
	c.token = strings.TrimSpace(string(raw))
	return c
}

var connectedRE = regexp.MustCompile(`msg="connected to NATS".* server=(\S+)`)

// server is the node a hub connected to at start, as its log says.
func (p *hubProc) server(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(p.log)
	if err != nil {
		t.Fatal(err)
	}
	m := connectedRE.FindSubmatch(b)
	if m == nil {
		t.Fatalf("%s did not log which NATS server it connected to", p.name)
	}
	return string(m[1])
}

// killLeader kills, with SIGKILL, the node leading stream, having first moved the leadership
// (by step-downs) to a node one of the hubs is connected to, so that the kill both fails the
// stream over and cuts a hub's connection. It returns the hubs that were connected to it.
func (c *clusterHubs) killLeader(t *testing.T, stream string) []*hubProc {
	t.Helper()
	ctx := t.Context()
	onNode := map[string][]*hubProc{}
	for _, h := range c.hubs {
		s := h.server(t)
		onNode[s] = append(onNode[s], h)
	}
	var leader string
	// Polled at the election's own pace: each miss asks for another election.
	testutil.Eventually(t, 30*time.Second, 200*time.Millisecond, func() error {
		l, err := c.nats.StreamLeader(ctx, stream)
		if err != nil || l == "" {
			return fmt.Errorf("no leader of %s: %v", stream, err)
		}
		if len(onNode[l]) > 0 {
			leader = l
			return nil
		}
		_ = c.nats.StepDown(ctx, stream)
		return fmt.Errorf("the leader of %s is %s, which no hub is connected to", stream, l)
	})
	c.nats.Node(leader).Kill()
	t.Logf("killed nats-server %s (leader of %s), the server of %s", leader, stream, names(onNode[leader]))
	return onNode[leader]
}

func names(hs []*hubProc) string {
	var s []string
	for _, h := range hs {
		s = append(s, h.name)
	}
	return strings.Join(s, ", ")
}

// waitReconnected waits until each hub logged its reconnection to another node.
func waitReconnected(t *testing.T, hubs []*hubProc) {
	t.Helper()
	for _, h := range hubs {
		testutil.WaitFor(t, 30*time.Second, h.name+" to log its reconnection to NATS", func() bool {
			b, _ := os.ReadFile(h.log)
			return strings.Contains(string(b), `msg="reconnected to NATS"`)
		})
	}
}

// TestClusterNodeKilledMidRuns: 20 runs are queued through both hubs; once some have
// finished, the node leading the runs stream is killed with SIGKILL. Every run still ends
// succeeded, and executed exactly once: the target holds each source row 20 times, no more.
// DATAHUB_TEST_BIG=1 queues 100 runs of a larger table.
func TestClusterNodeKilledMidRuns(t *testing.T) {
	if testing.Short() {
		t.Skip("needs PostgreSQL and nats-server; skipped with -short")
	}
	runsN, rows := 20, 5000
	if os.Getenv("DATAHUB_TEST_BIG") == "1" {
		runsN, rows = 100, 50000
	}
	src := pgURL(t, "dh_test_cli_cluster_runs_src")
	dst := pgURL(t, "dh_test_cli_cluster_runs_dst")
	pgExec(t, src, `CREATE TABLE src (id bigint primary key, name text)`,
		fmt.Sprintf(`INSERT INTO src SELECT g, 'name '||g FROM generate_series(1,%d) g`, rows))
	pgExec(t, dst, `CREATE TABLE dst (id bigint, name text)`)
	c := startClusterHubs(t, pgURL(t, "dh_test_cli_cluster_runs_store"))
	a := c.hubs[0]
	resources := fmt.Sprintf(`apiVersion: datahub/v1
kind: System
metadata: {name: sys}
spec: {owner: team}
---
apiVersion: datahub/v1
kind: Endpoint
metadata: {name: a}
spec: {system: sys, type: postgres, environments: {DEV: {url: %q}}}
---
apiVersion: datahub/v1
kind: Endpoint
metadata: {name: b}
spec: {system: sys, type: postgres, environments: {DEV: {url: %q}}}
---
apiVersion: datahub/v1
kind: Integration
metadata: {name: copy}
spec:
  source: {endpoint: a, table: public.src}
  destination: {endpoint: b, table: public.dst, mode: append}
  concurrency: %d
`, src, dst, runsN)
	if code, body := api(t, a.base, c.token, "POST", "/api/v1/apply", "application/yaml", resources); code != 200 {
		t.Fatalf("apply: %d %s", code, body)
	}
	ids := make([]string, runsN)
	for i := range ids {
		h := c.hubs[i%2]
		code, body := api(t, h.base, c.token, "POST", "/api/v1/integrations/copy/runs", "application/json", `{"env":"DEV"}`)
		if code != 202 && code != 200 {
			t.Fatalf("run %d through %s: %d %s", i, h.name, code, body)
		}
		var r runView
		_ = json.Unmarshal(body, &r)
		ids[i] = r.ID
	}
	statuses := func() map[string]int {
		m := map[string]int{}
		for _, id := range ids {
			r, _ := getRun(t, a.base, c.token, id)
			m[r.Status]++
		}
		return m
	}
	var before map[string]int
	testutil.WaitFor(t, 60*time.Second, "the first run to finish", func() bool {
		before = statuses()
		return before["succeeded"] > 0
	})
	if before["succeeded"] == runsN {
		t.Fatalf("all %d runs finished before the kill; copy more rows", runsN)
	}
	cut := c.killLeader(t, bus.RunsStream)
	t.Logf("runs at the kill: %v", before)
	testutil.WaitFor(t, 90*time.Second, "every run to finish", func() bool {
		s := statuses()
		n := 0
		for st, k := range s {
			if runstatus.Status(st).Final() {
				n += k
			}
		}
		return n == runsN
	})
	for _, id := range ids {
		if r, raw := getRun(t, a.base, c.token, id); r.Status != "succeeded" || r.RowsWritten != int64(rows) {
			t.Errorf("run %s: %s", id, raw)
		}
	}
	want := fmt.Sprintf("%d/%d/0", runsN*rows, rows)
	if got := pgQuery(t, dst, `SELECT count(*)||'/'||count(DISTINCT id)||'/'||(SELECT count(*) FROM (SELECT id FROM dst GROUP BY id HAVING count(*) <> `+strconv.Itoa(runsN)+`) x) FROM dst`); got != want {
		t.Fatalf("target rows (count/distinct ids/ids not written exactly %d times) %s, want %s", runsN, got, want)
	}
	waitReconnected(t, cut)
}

// TestClusterNodeKilledMidTopic: a few thousand messages are published through both hubs'
// APIs to a topic with a table subscription; part-way, the node leading the topic's stream is
// killed with SIGKILL. A publish that fails is retried with its idempotency key until it is
// accepted; the table ends with every message exactly once. DATAHUB_TEST_BIG=1 publishes
// 30,000.
func TestClusterNodeKilledMidTopic(t *testing.T) {
	if testing.Short() {
		t.Skip("needs PostgreSQL and nats-server; skipped with -short")
	}
	n := 3000
	if os.Getenv("DATAHUB_TEST_BIG") == "1" {
		n = 30000
	}
	dst := pgURL(t, "dh_test_cli_cluster_topic_dst")
	c := startClusterHubs(t, pgURL(t, "dh_test_cli_cluster_topic_store"))
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
metadata: {name: orders-table}
spec:
  topic: orders
  delivery: {type: table, endpoint: warehouse, env: dev, table: public.orders_log}
  retry: {maxDeliver: 1000, initial: 100ms, max: 1s}
`, dst)
	if code, body := api(t, c.hubs[0].base, c.token, "POST", "/api/v1/apply", "application/yaml", resources); code != 200 {
		t.Fatalf("apply: %d %s", code, body)
	}
	// A publish that hangs counts as failed and is tried again, like a client with a timeout.
	hc := &http.Client{Timeout: 15 * time.Second}
	var lastFailure atomic.Value
	publish := func(h *hubProc, id string) bool {
		req, _ := http.NewRequest(http.MethodPost, h.base+"/api/v1/topics/orders/messages", //nolint:noctx // a test client
			strings.NewReader(fmt.Sprintf(`{"id":%q}`, id)))
		req.Header.Set("Authorization", "Bearer "+c.token)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Idempotency-Key", id)
		res, err := hc.Do(req)
		if err != nil {
			lastFailure.Store(fmt.Sprintf("%s %s: %v", h.name, id, err))
			return false
		}
		b, _ := io.ReadAll(io.LimitReader(res.Body, 512))
		_ = res.Body.Close()
		if res.StatusCode != http.StatusAccepted {
			lastFailure.Store(fmt.Sprintf("%s %s: %d %s", h.name, id, res.StatusCode, b))
		}
		return res.StatusCode == http.StatusAccepted
	}
	tableRows := func(where string) string {
		return pgQueryMaybe(dst, "SELECT count(*)||'/'||count(DISTINCT message_id) FROM public.orders_log WHERE "+where)
	}
	// The subscription's consumer takes the messages published after it: probe until it delivers.
	probes := 0
	testutil.WaitFor(t, 30*time.Second, "the subscription to deliver a probe", func() bool {
		probes++
		publish(c.hubs[probes%2], fmt.Sprintf("probe-%d", probes))
		r := tableRows("message_id LIKE 'probe-%'")
		return r != "" && !strings.HasPrefix(r, "0/")
	})

	start := time.Now()
	var wg sync.WaitGroup
	var next, retries atomic.Int64
	for w := range 16 {
		wg.Go(func() {
			h := c.hubs[w%2]
			for {
				i := next.Add(1) - 1
				if i >= int64(n) {
					return
				}
				id := "m-" + strconv.FormatInt(i, 10)
				deadline := time.Now().Add(90 * time.Second)
				for !publish(h, id) {
					retries.Add(1)
					if time.Now().After(deadline) {
						t.Errorf("publish %s kept failing for 90 s; last failure: %v", id, lastFailure.Load())
						return
					}
					time.Sleep(50 * time.Millisecond)
				}
			}
		})
	}
	var before string
	testutil.WaitFor(t, 60*time.Second, "the first rows in the table", func() bool {
		before = tableRows("message_id LIKE 'm-%'")
		return before != "" && !strings.HasPrefix(before, "0/")
	})
	cut := c.killLeader(t, bus.TopicStreamPrefix+"ORDERS")
	if cnt, _, _ := strings.Cut(before, "/"); cnt == strconv.Itoa(n) {
		t.Fatalf("all %d rows were written before the kill; publish more", n)
	}
	t.Logf("killed %s after the first publish, with %s rows in the table", time.Since(start).Round(time.Millisecond), before)
	wg.Wait()
	t.Logf("published %d messages in %s (%d publishes retried)", n, time.Since(start).Round(time.Millisecond), retries.Load())
	want := fmt.Sprintf("%d/%d", n, n)
	testutil.WaitFor(t, 90*time.Second, "every message in the table", func() bool {
		return tableRows("message_id LIKE 'm-%'") == want
	})
	t.Logf("all in the table %s after the first publish", time.Since(start).Round(time.Millisecond))
	if r := pgQuery(t, dst, "SELECT count(*)||'/'||count(DISTINCT message_id)||'/'||count(*) FILTER (WHERE body_json->>'id' = message_id) FROM public.orders_log WHERE message_id NOT LIKE 'probe-%'"); r != want+"/"+strconv.Itoa(n) {
		t.Fatalf("table rows (count/distinct ids/body matches id) %s, want %s/%d", r, want, n)
	}
	waitReconnected(t, cut)
}
