package app_test

import (
	"database/sql"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/datahub-oss/datahub/internal/config"
	"github.com/datahub-oss/datahub/internal/testutil"
)

// TestEventTriggerThroughTheServer: three JSON messages published through the API to a topic
// an integration is event-triggered on become runs that write exactly three rows.
func TestEventTriggerThroughTheServer(t *testing.T) {
	cfg := config.Default()
	cfg.Data, cfg.Addr = t.TempDir(), "127.0.0.1:0"
	h, _ := start(t, cfg)
	token, _ := os.ReadFile(filepath.Join(cfg.Data, "admin.token"))
	c := client{t: t, base: "http://" + h.Addr, token: strings.TrimSpace(string(token))}
	db := filepath.Join(t.TempDir(), "out.db")
	resources := fmt.Sprintf(`apiVersion: datahub/v1
kind: System
metadata: {name: sys}
spec: {owner: team}
---
apiVersion: datahub/v1
kind: Endpoint
metadata: {name: drop}
spec: {system: sys, type: file, environments: {DEV: {url: %q}}}
---
apiVersion: datahub/v1
kind: Endpoint
metadata: {name: out}
spec: {system: sys, type: sqlite, environments: {DEV: {url: %q}}}
---
apiVersion: datahub/v1
kind: Topic
metadata: {name: orders}
spec: {retention: {maxAge: 1d}}
---
apiVersion: datahub/v1
kind: Integration
metadata: {name: on-orders}
spec:
  source: {endpoint: drop}
  destination: {endpoint: out, table: orders, mode: append}
  trigger: {type: event, env: DEV, topic: orders, batch: {max: 10, wait: 1s}}
`, t.TempDir(), "sqlite:"+db)
	if code, body := c.do("POST", "/api/v1/apply", "application/yaml", []byte(resources)); code != 200 {
		t.Fatalf("apply: %d %s", code, body)
	}
	publish := func(i int) {
		t.Helper()
		// The topic's stream is created by the next sync: publish until it is accepted.
		testutil.Eventually(t, 15*time.Second, 100*time.Millisecond, func() error {
			req, _ := http.NewRequest(http.MethodPost, c.base+"/api/v1/topics/orders/messages?subject=created", strings.NewReader(fmt.Sprintf(`{"id":%d,"name":"n%d"}`, i, i)))
			req.Header.Set("Authorization", "Bearer "+c.token)
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Idempotency-Key", fmt.Sprintf("order-%d", i))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			_ = resp.Body.Close()
			return testutil.Checkf(resp.StatusCode == http.StatusAccepted, "publish %d: %d", i, resp.StatusCode)
		})
	}
	for i := range 3 {
		publish(i)
	}
	rows := func() int {
		d, err := sql.Open("sqlite", db)
		if err != nil {
			return -1
		}
		defer func() { _ = d.Close() }()
		var n int
		if err := d.QueryRow(`SELECT count(*) FROM orders`).Scan(&n); err != nil {
			return -1
		}
		return n
	}
	testutil.WaitFor(t, 30*time.Second, "three rows", func() bool { return rows() >= 3 })
	// A later message makes a later batch: the trigger's consumer is ordered, so a duplicate
	// row of the first three would be in the table before the fourth.
	publish(3)
	testutil.WaitFor(t, 30*time.Second, "the fourth row", func() bool { return rows() >= 4 })
	if n := rows(); n != 4 {
		t.Fatalf("%d rows, want 4", n)
	}
	_, body := c.do("GET", "/api/v1/runs?integration=on-orders", "", nil)
	if runs := strings.Count(string(body), `"run_id"`); runs < 2 || runs > 4 || strings.Contains(string(body), `"failed"`) {
		t.Fatalf("runs: %s", body)
	}
}
