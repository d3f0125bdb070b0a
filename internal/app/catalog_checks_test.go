package app_test

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/datahub-oss/datahub/internal/config"
	"github.com/datahub-oss/datahub/internal/testutil"
)

// TestApplyChecksTriggerSettings: the server checks trigger settings when resources are
// applied (dry run or not): a bad cron is a 422 naming spec.trigger and nothing is stored; a
// good schedule is stored.
func TestApplyChecksTriggerSettings(t *testing.T) {
	cfg := config.Default()
	cfg.Data, cfg.Addr = t.TempDir(), "127.0.0.1:0"
	h, _ := start(t, cfg)
	token, _ := os.ReadFile(filepath.Join(cfg.Data, "admin.token"))
	c := client{t: t, base: "http://" + h.Addr, token: strings.TrimSpace(string(token))}
	withTrigger := func(trigger string) []byte {
		y := string(quickstartYAML(t, filepath.Join(t.TempDir(), "q.db")))
		if !strings.Contains(y, "  trigger:\n    type: manual\n") {
			t.Fatal("the quickstart's trigger moved")
		}
		return []byte(strings.Replace(y, "  trigger:\n    type: manual\n", "  trigger: "+trigger+"\n", 1))
	}
	for _, path := range []string{"/api/v1/apply?dry_run=true", "/api/v1/apply"} {
		code, body := c.do("POST", path, "application/yaml", withTrigger(`{type: schedule, cron: "not a cron", env: DEV}`))
		if code != http.StatusUnprocessableEntity || !strings.Contains(string(body), `"spec.trigger"`) || !strings.Contains(string(body), "schedule trigger") {
			t.Fatalf("%s with a bad cron: %d %s", path, code, body)
		}
	}
	for _, kind := range []string{"system", "endpoint", "integration"} {
		if code, body := c.do("GET", "/api/v1/resources/"+kind, "", nil); code != 200 || strings.Contains(string(body), `"name"`) {
			t.Fatalf("stored after a refused apply: %s: %d %s", kind, code, body)
		}
	}
	if code, body := c.do("POST", "/api/v1/apply", "application/yaml", withTrigger(`{type: schedule, cron: "0 2 * * *", timezone: Europe/Zurich, env: DEV}`)); code != 200 {
		t.Fatalf("apply a good schedule: %d %s", code, body)
	}
	if code, body := c.do("GET", "/api/v1/resources/integration/quickstart", "", nil); code != 200 || !strings.Contains(string(body), "0 2 * * *") {
		t.Fatalf("get: %d %s", code, body)
	}
}

// TestFileDeliveryThroughTheServer: a message published through the API to a topic with a
// file subscription arrives as a file in the endpoint's folder, resolved by the server.
func TestFileDeliveryThroughTheServer(t *testing.T) {
	cfg := config.Default()
	cfg.Data, cfg.Addr = t.TempDir(), "127.0.0.1:0"
	h, _ := start(t, cfg)
	token, _ := os.ReadFile(filepath.Join(cfg.Data, "admin.token"))
	c := client{t: t, base: "http://" + h.Addr, token: strings.TrimSpace(string(token))}
	outbox := t.TempDir()
	resources := fmt.Sprintf(`apiVersion: datahub/v1
kind: System
metadata: {name: sys}
spec: {owner: team}
---
apiVersion: datahub/v1
kind: Endpoint
metadata: {name: outbox}
spec: {system: sys, type: file, environments: {DEV: {url: %q}}}
---
apiVersion: datahub/v1
kind: Topic
metadata: {name: orders}
spec: {}
---
apiVersion: datahub/v1
kind: Subscription
metadata: {name: orders-files}
spec:
  topic: orders
  delivery: {type: file, endpoint: outbox, env: DEV, path: "{topic}/{message_id}.json"}
`, outbox)
	if code, body := c.do("POST", "/api/v1/apply", "application/yaml", []byte(resources)); code != 200 {
		t.Fatalf("apply: %d %s", code, body)
	}
	// The subscription's consumer starts with the messages published after it: publish until
	// one arrives.
	var got []os.DirEntry
	i := 0
	testutil.Eventually(t, 30*time.Second, 200*time.Millisecond, func() error {
		req, _ := http.NewRequest(http.MethodPost, c.base+"/api/v1/topics/orders/messages", strings.NewReader(fmt.Sprintf(`{"id":%d}`, i)))
		req.Header.Set("Authorization", "Bearer "+c.token)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Idempotency-Key", fmt.Sprintf("order-%d", i))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted {
			t.Fatalf("publish: %d", resp.StatusCode)
		}
		i++
		got = deliveredFiles(t, filepath.Join(outbox, "orders"))
		return testutil.Checkf(len(got) > 0, "none of %d messages delivered", i)
	})
	for _, e := range got {
		var i int
		if _, err := fmt.Sscanf(e.Name(), "order-%d.json", &i); err != nil {
			t.Fatalf("unexpected file %s", e.Name())
		}
		b, err := os.ReadFile(filepath.Join(outbox, "orders", e.Name())) // #nosec G304 -- the test's own folder
		if err != nil || string(b) != fmt.Sprintf(`{"id":%d}`, i) {
			t.Errorf("%s: %q, %v", e.Name(), b, err)
		}
	}
	// The endpoint and the topic are in use now.
	for _, p := range []string{"/api/v1/resources/endpoint/outbox", "/api/v1/resources/topic/orders"} {
		if code, body := c.do("DELETE", p, "", nil); code == 200 || !strings.Contains(string(body), `Subscription \"orders-files\"`) {
			t.Errorf("delete %s: %d %s", p, code, body)
		}
	}
}

// deliveredFiles are the files a file delivery finished in dir: a temporary file it is still
// writing (".name.datahub-tmp-...") is not one yet.
func deliveredFiles(t *testing.T, dir string) []os.DirEntry {
	t.Helper()
	entries, _ := os.ReadDir(dir)
	var out []os.DirEntry
	for _, e := range entries {
		if !strings.Contains(e.Name(), ".datahub-tmp-") {
			out = append(out, e)
		}
	}
	return out
}
