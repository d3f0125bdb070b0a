package cli

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/datahub-oss/datahub/internal/testutil"
)

// TestWorkerCommand: a hub without workers (roles api and scheduler) and a `datahub worker`
// process on its store and NATS, sharing its master key: a run requested on the hub is
// executed by the worker, with the endpoint's password read from a secret. A worker started
// with another master key is refused at start, with what to do.
func TestWorkerCommand(t *testing.T) {
	if testing.Short() {
		t.Skip("needs PostgreSQL and NATS; skipped with -short")
	}
	natsURL := testNATS(t)
	store := pgURL(t, "dh_test_cli_worker_store")
	src := pgURL(t, "dh_test_cli_worker_src")
	dst := pgURL(t, "dh_test_cli_worker_dst")
	pgExec(t, src, `CREATE TABLE src (id bigint primary key, name text)`, `INSERT INTO src SELECT g, 'n'||g FROM generate_series(1,1000) g`)
	newKey := func() string {
		var k [32]byte
		_, _ = rand.Read(k[:])
		return base64.StdEncoding.EncodeToString(k[:])
	}
	key := newKey()
	prefix := fmt.Sprintf("DATAHUB_NATS_PREFIX=wcmd%d", time.Now().UnixNano()%1e9)
	hub := startServe(t, "hub", store, natsURL, prefix, "DATAHUB_MASTER_KEY="+key, "DATAHUB_ROLES=api,scheduler")
	raw, err := os.ReadFile(filepath.Join(hub.data, "admin.token"))
	if err != nil {
		t.Fatal(err)
	}
	token := strings.TrimSpace(string(raw))
	if code, body := api(t, hub.base, token, "PUT", "/api/v1/secrets/src-password", "application/json", `{"value":"not-needed-with-trust"}`); code != 200 && code != 201 {
		t.Fatalf("put secret: %d %s", code, body)
	}

	dir := t.TempDir()
	worker := &hubProc{name: "worker", data: filepath.Join(dir, "data"), log: filepath.Join(dir, "worker.log"), done: make(chan struct{})}
	runProc(t, worker, []string{prefix, "DATAHUB_MASTER_KEY=" + key}, "worker", "--store", store, "--nats", natsURL, "--data", worker.data, "--log-level", "info")

	resources := fmt.Sprintf(`apiVersion: datahub/v1
kind: System
metadata: {name: sys}
spec: {owner: team}
---
apiVersion: datahub/v1
kind: Endpoint
metadata: {name: a}
spec: {system: sys, type: postgres, environments: {DEV: {url: %q}}, secrets: {password: "secret:src-password"}}
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
  destination: {endpoint: b, table: public.dst, mode: replace}
`, src, dst)
	if code, body := api(t, hub.base, token, "POST", "/api/v1/apply", "application/yaml", resources); code != 200 {
		t.Fatalf("apply: %d %s", code, body)
	}
	code, body := api(t, hub.base, token, "POST", "/api/v1/integrations/copy/runs", "application/json", `{"env":"DEV"}`)
	if code != 202 && code != 200 {
		t.Fatalf("run: %d %s", code, body)
	}
	var queued runView
	_ = json.Unmarshal(body, &queued)
	var r runView
	testutil.WaitFor(t, 60*time.Second, "the worker to run it", func() bool {
		select {
		case <-worker.done:
			b, _ := os.ReadFile(worker.log)
			t.Fatalf("the worker exited:\n%s", b)
		default:
		}
		var raw []byte
		r, raw = getRun(t, hub.base, token, queued.ID)
		if r.Status == "failed" || r.Status == "partial" {
			t.Fatalf("run %s: %s", r.Status, raw)
		}
		return r.Status == "succeeded"
	})
	if r.PID != worker.cmd.Process.Pid || r.RowsWritten != 1000 {
		t.Errorf("run by pid %d (worker %d), %d rows written", r.PID, worker.cmd.Process.Pid, r.RowsWritten)
	}
	if n := pgQuery(t, dst, "SELECT count(*)::text FROM public.dst"); n != "1000" {
		t.Errorf("%s rows in the target", n)
	}

	// A worker with a master key of its own cannot read the secrets: refused at start.
	bad := &hubProc{name: "worker with another key", data: filepath.Join(dir, "bad"), log: filepath.Join(dir, "bad.log"), done: make(chan struct{})}
	runProc(t, bad, []string{prefix, "DATAHUB_MASTER_KEY=" + newKey()}, "worker", "--store", store, "--nats", natsURL, "--data", bad.data)
	select {
	case <-bad.done:
	case <-time.After(30 * time.Second):
		t.Fatal("a worker with another master key is still running")
	}
	if b, _ := os.ReadFile(bad.log); !strings.Contains(string(b), "sealed with master key") || !strings.Contains(string(b), "DATAHUB_MASTER_KEY") {
		t.Errorf("refusal: %s", b)
	}
	if bad.cmd.ProcessState.ExitCode() == 0 {
		t.Error("exit status 0")
	}

	// Without the hub's store and NATS, a worker is a usage error.
	if code, _, stderr := run(t, "worker"); code != ExitUsage || !strings.Contains(stderr, "--store") {
		t.Errorf("worker without store/nats: exit %d, %s", code, stderr)
	}
}
