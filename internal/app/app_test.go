package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/datahub-oss/datahub/internal/app"
	"github.com/datahub-oss/datahub/internal/config"
	_ "github.com/datahub-oss/datahub/internal/connectors/all"
	"github.com/datahub-oss/datahub/internal/secret"
	"github.com/datahub-oss/datahub/internal/store/storetest"
	"github.com/datahub-oss/datahub/internal/testutil"
)

func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	return root
}

func start(t *testing.T, cfg config.Config) (*app.Hub, func()) {
	t.Helper()
	if cfg.FileRoots == nil {
		// The tests' files are in temporary folders and the repository.
		cfg.FileRoots = []string{os.TempDir(), repoRoot(t)}
	}
	ctx, cancel := context.WithCancel(context.Background())
	out := io.Discard
	if os.Getenv("DATAHUB_TEST_LOG") != "" {
		out = os.Stderr
	}
	h, err := app.Start(ctx, cfg, slog.New(slog.NewTextHandler(out, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- h.Serve(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("serve: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return h, stop
}

type client struct {
	t     *testing.T
	base  string
	token string
}

func (c client) do(method, path, ctype string, body []byte) (int, []byte) {
	c.t.Helper()
	req, err := http.NewRequest(method, c.base+path, bytes.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer func() { _ = res.Body.Close() }()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, b
}

func quickstartYAML(t *testing.T, db string) []byte {
	root := repoRoot(t)
	y, err := os.ReadFile(filepath.Join(root, "examples/quickstart/resources.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	s := strings.ReplaceAll(string(y), "url: examples/quickstart/people.csv", "url: "+filepath.Join(root, "examples/quickstart/people.csv"))
	return []byte(strings.ReplaceAll(s, "url: sqlite:datahub-data/files/quickstart.db", "url: sqlite:"+db))
}

// TestServeApplyRunRestart is the newcomer's path: serve on an empty folder, apply the
// quickstart, run it and wait, restart, and find the run again.
func TestServeApplyRunRestart(t *testing.T) {
	data := t.TempDir()
	cfg := config.Default()
	cfg.Data, cfg.Addr = data, "127.0.0.1:0"
	h, stop := start(t, cfg)
	token, err := os.ReadFile(filepath.Join(data, "admin.token"))
	if err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(filepath.Join(data, "admin.token")); fi.Mode().Perm() != 0o600 {
		t.Errorf("admin.token has mode %v", fi.Mode().Perm())
	}
	c := client{t: t, base: "http://" + h.Addr, token: strings.TrimSpace(string(token))}
	if code, _ := c.do("GET", "/healthz", "", nil); code != 200 {
		t.Fatalf("healthz %d", code)
	}
	if code, b := c.do("POST", "/api/v1/apply", "application/yaml", quickstartYAML(t, filepath.Join(t.TempDir(), "q.db"))); code != 200 {
		t.Fatalf("apply: %d %s", code, b)
	}
	code, b := c.do("POST", "/api/v1/integrations/quickstart/runs?wait=true", "application/json", []byte(`{"env":"dev"}`))
	if code != 200 {
		t.Fatalf("run: %d %s", code, b)
	}
	var run map[string]any
	if err := json.Unmarshal(b, &run); err != nil {
		t.Fatal(err)
	}
	if run["status"] != "succeeded" || run["rows_written"].(float64) != 300 {
		t.Fatalf("run %s", b)
	}
	id := run["run_id"].(string)
	stop()

	h, _ = start(t, cfg)
	c.base = "http://" + h.Addr
	code, b = c.do("GET", "/api/v1/runs/"+id, "", nil)
	if code != 200 || !strings.Contains(string(b), `"succeeded"`) {
		t.Fatalf("after restart: %d %s", code, b)
	}
	// The first admin is made once: a restart keeps the same token working.
	if code, _ := c.do("GET", "/api/v1/me", "", nil); code != 200 {
		t.Fatalf("me after restart: %d", code)
	}
}

// TestTwoServersShareOneStoreAndNATS: two hubs on one PostgreSQL store and the external NATS
// server execute a batch of queued runs, each exactly once.
func TestTwoServersShareOneStoreAndNATS(t *testing.T) {
	if testing.Short() {
		t.Skip("needs PostgreSQL and NATS; skipped with -short")
	}
	natsURL := os.Getenv("DATAHUB_TEST_NATS")
	if natsURL == "" {
		natsURL = "nats://127.0.0.1:4222"
	}
	storeURL := storetest.PostgresURL(t)
	target := storetest.PostgresURL(t)
	csv := filepath.Join(t.TempDir(), "ten.csv")
	var b strings.Builder
	b.WriteString("id,name\n")
	for i := 1; i <= 10; i++ {
		fmt.Fprintf(&b, "%d,n%d\n", i, i)
	}
	if err := os.WriteFile(csv, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	prefix := fmt.Sprintf("t%d", time.Now().UnixNano()%1e9)
	// Servers sharing a store share the master key (secrets and the audit chain's key).
	mk, err := secret.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv(secret.EnvMasterKey, mk.Encode())
	cfg := func() config.Config {
		c := config.Default()
		c.Data, c.Addr, c.Store, c.NATS, c.NATSPrefix, c.Workers = t.TempDir(), "127.0.0.1:0", storeURL, natsURL, prefix, 2
		return c
	}
	cfgA := cfg()
	a, _ := start(t, cfgA)
	start(t, cfg())
	token, err := os.ReadFile(filepath.Join(cfgA.Data, "admin.token"))
	if err != nil {
		t.Fatal(err)
	}
	c := client{t: t, base: "http://" + a.Addr, token: strings.TrimSpace(string(token))}
	resources := fmt.Sprintf(`apiVersion: datahub/v1
kind: System
metadata: {name: sys}
spec: {owner: team}
---
apiVersion: datahub/v1
kind: Endpoint
metadata: {name: src}
spec: {system: sys, type: file, environments: {DEV: {url: %q}}}
---
apiVersion: datahub/v1
kind: Endpoint
metadata: {name: dst}
spec: {system: sys, type: postgres, environments: {DEV: {url: %q}}}
---
apiVersion: datahub/v1
kind: Integration
metadata: {name: load}
spec:
  source: {endpoint: src}
  destination: {endpoint: dst, table: public.loaded, mode: append}
  concurrency: 4
`, csv, target)
	if code, body := c.do("POST", "/api/v1/apply", "application/yaml", []byte(resources)); code != 200 {
		t.Fatalf("apply: %d %s", code, body)
	}
	const runs = 20
	var ids []string
	for range runs {
		code, body := c.do("POST", "/api/v1/integrations/load/runs", "application/json", []byte(`{"env":"DEV"}`))
		if code != 202 && code != 200 {
			t.Fatalf("run request: %d %s", code, body)
		}
		var r map[string]any
		_ = json.Unmarshal(body, &r)
		ids = append(ids, r["run_id"].(string))
	}
	for _, id := range ids {
		testutil.Eventually(t, 2*time.Minute, 100*time.Millisecond, func() error {
			_, body := c.do("GET", "/api/v1/runs/"+id, "", nil)
			var r map[string]any
			_ = json.Unmarshal(body, &r)
			if s, _ := r["status"].(string); s == "failed" || s == "canceled" || s == "partial" {
				t.Fatalf("run %s: %s", id, body)
			}
			return testutil.Checkf(r["status"] == "succeeded", "run %s not done: %s", id, body)
		})
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, target)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.Close(ctx) }()
	var n int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM public.loaded`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != runs*10 {
		t.Fatalf("target holds %d rows after %d runs of 10 rows: some run was executed %s", n, runs, map[bool]string{true: "twice", false: "not at all"}[n > runs*10])
	}
}

// TestStopMidRunResumesWithoutLoss stops the server while a run is copying and starts it
// again: the run is picked up again and the target ends with exactly the source's rows.
func TestStopMidRunResumesWithoutLoss(t *testing.T) {
	if testing.Short() {
		t.Skip("needs PostgreSQL; skipped with -short")
	}
	src, dst := storetest.PostgresURL(t), storetest.PostgresURL(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, src)
	if err != nil {
		t.Fatal(err)
	}
	const rows = 400000
	_, err = conn.Exec(ctx, fmt.Sprintf(`CREATE TABLE src AS SELECT g AS id, md5(g::text) AS note FROM generate_series(1, %d) g;
ALTER TABLE src ADD PRIMARY KEY (id)`, rows))
	_ = conn.Close(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.Data, cfg.Addr = t.TempDir(), "127.0.0.1:0"
	h, stop := start(t, cfg)
	token, _ := os.ReadFile(filepath.Join(cfg.Data, "admin.token"))
	c := client{t: t, base: "http://" + h.Addr, token: strings.TrimSpace(string(token))}
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
metadata: {name: big}
spec:
  source: {endpoint: a, table: public.src}
  destination: {endpoint: b, table: public.dst, mode: upsert, keys: [id]}
  mapping: {columns: [{from: note, to: note, type: string}, {from: id, type: decimal}]}
`, src, dst)
	if code, body := c.do("POST", "/api/v1/apply", "application/yaml", []byte(resources)); code != 200 {
		t.Fatalf("apply: %d %s", code, body)
	}
	code, body := c.do("POST", "/api/v1/integrations/big/runs", "application/json", []byte(`{"env":"DEV"}`))
	if code != 202 {
		t.Fatalf("run: %d %s", code, body)
	}
	var run map[string]any
	_ = json.Unmarshal(body, &run)
	id := run["run_id"].(string)
	testutil.Eventually(t, time.Minute, 20*time.Millisecond, func() error {
		_, body := c.do("GET", "/api/v1/runs/"+id, "", nil)
		return testutil.Checkf(strings.Contains(string(body), `"status":"running"`), "run never started: %s", body)
	})
	time.Sleep(300 * time.Millisecond) // the scenario, not a wait: stop it some way into the copy
	stop()
	restarted := time.Now()

	h, _ = start(t, cfg)
	c.base = "http://" + h.Addr
	testutil.Eventually(t, 2*time.Minute, 50*time.Millisecond, func() error {
		_, body := c.do("GET", "/api/v1/runs/"+id, "", nil)
		if strings.Contains(string(body), `"status":"failed"`) {
			t.Fatalf("after restart: %s", body)
		}
		if !strings.Contains(string(body), `"status":"succeeded"`) {
			return fmt.Errorf("after restart: %s", body)
		}
		t.Logf("finished %s after the restart: %s", time.Since(restarted), body)
		return nil
	})
	conn, err = pgx.Connect(ctx, dst)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.Close(ctx) }()
	var n, distinct int
	if err := conn.QueryRow(ctx, `SELECT count(*), count(DISTINCT id) FROM dst`).Scan(&n, &distinct); err != nil {
		t.Fatal(err)
	}
	if n != rows || distinct != rows {
		t.Fatalf("after a stop mid-run and a restart the target holds %d rows (%d distinct), want %d", n, distinct, rows)
	}
}

// TestFileTriggerThroughTheServer: a file dropped into a watched folder is transferred once;
// dropped again unchanged, not again; changed, again.
func TestFileTriggerThroughTheServer(t *testing.T) {
	cfg := config.Default()
	cfg.Data, cfg.Addr = t.TempDir(), "127.0.0.1:0"
	h, _ := start(t, cfg)
	token, _ := os.ReadFile(filepath.Join(cfg.Data, "admin.token"))
	c := client{t: t, base: "http://" + h.Addr, token: strings.TrimSpace(string(token))}
	folder := t.TempDir()
	if err := os.MkdirAll(filepath.Join(folder, "inbox"), 0o750); err != nil {
		t.Fatal(err)
	}
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
kind: Integration
metadata: {name: inbox}
spec:
  source: {endpoint: drop}
  destination: {endpoint: out, table: received, mode: append}
  trigger: {type: file, env: DEV, path: "inbox/*.csv", stableFor: 200ms, pollEvery: 100ms}
`, folder, "sqlite:"+db)
	if code, body := c.do("POST", "/api/v1/apply", "application/yaml", []byte(resources)); code != 200 {
		t.Fatalf("apply: %d %s", code, body)
	}
	file := filepath.Join(folder, "inbox", "a.csv")
	succeeded := func() int {
		_, body := c.do("GET", "/api/v1/runs?integration=inbox&status=succeeded", "", nil)
		return strings.Count(string(body), `"run_id"`)
	}
	waitRuns := func(want int, what string) {
		t.Helper()
		testutil.Eventually(t, 20*time.Second, 100*time.Millisecond, func() error {
			if n := succeeded(); n < want {
				_, body := c.do("GET", "/api/v1/runs?integration=inbox", "", nil)
				return fmt.Errorf("%s: %d succeeded runs, want %d: %s", what, n, want, body)
			}
			return nil
		})
	}
	// A file seen again unchanged leaves no trace the API shows (no run, no event), so
	// "not again" is a watch for longer than the trigger's stableFor and pollEvery.
	runsStay := func(d time.Duration, want int, what string) {
		t.Helper()
		testutil.Never(t, d, 100*time.Millisecond, func() error {
			return testutil.Checkf(succeeded() == want, "%s: %d runs, want %d", what, succeeded(), want)
		})
	}
	if err := os.WriteFile(file, []byte("id,name\n1,a\n2,b\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	waitRuns(1, "first drop")
	// The same content again (a new mtime): no second run.
	if err := os.WriteFile(file, []byte("id,name\n1,a\n2,b\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	runsStay(1500*time.Millisecond, 1, "unchanged file ran again")
	if err := os.WriteFile(file, []byte("id,name\n3,c\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	waitRuns(2, "changed file")
	runsStay(500*time.Millisecond, 2, "after the change")
}
