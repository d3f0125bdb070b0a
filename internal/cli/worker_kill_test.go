package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/datahub-oss/datahub/internal/runstatus"
	"github.com/datahub-oss/datahub/internal/secret"
	"github.com/datahub-oss/datahub/internal/testutil"
)

// hubProc is a `datahub serve` running as a separate process (the test binary re-executed).
type hubProc struct {
	name string
	cmd  *exec.Cmd
	base string // http://127.0.0.1:port
	data string
	log  string // its stderr
	done chan struct{}
}

// testNATS is the external NATS server of the tests (DATAHUB_TEST_NATS, default
// 127.0.0.1:4222); the test fails when it does not answer.
func testNATS(t *testing.T) string {
	t.Helper()
	natsURL := os.Getenv("DATAHUB_TEST_NATS")
	if natsURL == "" {
		natsURL = "nats://127.0.0.1:4222"
	}
	c, err := net.DialTimeout("tcp", strings.TrimPrefix(natsURL, "nats://"), 2*time.Second)
	if err != nil {
		t.Fatalf("NATS for tests is not reachable at %s (set DATAHUB_TEST_NATS or run scripts/test.sh): %v", natsURL, err)
	}
	_ = c.Close()
	return natsURL
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}

// startServe starts `datahub serve` on a free port with its own data folder, and stops it
// (SIGTERM, then SIGKILL) when the test ends.
func startServe(t *testing.T, name, store, natsURL string, env ...string) *hubProc {
	t.Helper()
	// Servers sharing a store share the master key (it keys the audit chain); a key the
	// caller gives comes later in env and wins.
	env = append([]string{secret.EnvMasterKey + "=" + storeKey(t, store)}, env...)
	dir := t.TempDir()
	addr := freePort(t)
	p := &hubProc{name: name, base: "http://" + addr, data: filepath.Join(dir, "data"), log: filepath.Join(dir, "serve.log"), done: make(chan struct{})}
	return launch(t, p, env, "--addr", addr, "--data", p.data, "--store", store, "--nats", natsURL, "--log-level", "debug")
}

var storeKeys sync.Map // store URL -> master key, for the servers of one store

func storeKey(t *testing.T, store string) string {
	t.Helper()
	k, err := secret.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	v, _ := storeKeys.LoadOrStore(store, k.Encode())
	return v.(string)
}

// launch runs the test binary as `datahub serve ARGS...`, logging to p.log, waits for it to
// answer /healthz, and stops it when the test ends (printing its log tail if the test failed).
func launch(t *testing.T, p *hubProc, env []string, args ...string) *hubProc {
	t.Helper()
	runProc(t, p, env, append([]string{"serve"}, args...)...)
	testutil.WaitFor(t, 30*time.Second, p.name+" to serve", func() bool {
		select {
		case <-p.done:
			b, _ := os.ReadFile(p.log)
			t.Fatalf("%s exited at start:\n%s", p.name, b)
		default:
		}
		res, err := http.Get(p.base + "/healthz") //nolint:noctx // a test probe
		if err != nil {
			return false
		}
		_ = res.Body.Close()
		return res.StatusCode == 200
	})
	return p
}

// runProc starts the test binary as `datahub ARGS...`, logging to p.log, and stops it when the
// test ends (printing its log tail if the test failed).
func runProc(t *testing.T, p *hubProc, env []string, args ...string) {
	t.Helper()
	logf, err := os.Create(p.log)
	if err != nil {
		t.Fatal(err)
	}
	p.cmd = exec.Command(os.Args[0], args...) //nolint:gosec // the test binary itself
	// The tests' files are in temporary folders: those are the hub's file roots.
	p.cmd.Env = append(append(os.Environ(), "DATAHUB_CLI_MAIN=1", "DATAHUB_FILE_ROOTS="+os.TempDir()), env...)
	p.cmd.Stdout, p.cmd.Stderr = logf, logf
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		_ = p.cmd.Wait()
		_ = logf.Close()
		close(p.done)
	}()
	t.Cleanup(func() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(15 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			b, _ := os.ReadFile(p.log)
			if len(b) > 6000 {
				b = b[len(b)-6000:]
			}
			t.Logf("%s (pid %d) log tail:\n%s", p.name, p.cmd.Process.Pid, b)
		}
	})
}

func (p *hubProc) kill(t *testing.T) {
	t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// api calls the hub's REST API with a bearer token and returns the status and body.
func api(t *testing.T, base, token, method, path, ctype, body string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, base+path, strings.NewReader(body)) //nolint:noctx // a test client
	if err != nil {
		t.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer func() { _ = res.Body.Close() }()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, b
}

type runView struct {
	ID           string `json:"run_id"`
	Status       string `json:"status"`
	Host         string `json:"host"`
	PID          int    `json:"pid"`
	RowsWritten  int64  `json:"rows_written"`
	HasCkpt      bool   `json:"has_checkpoint"`
	Error        string `json:"error"`
	ErrorCode    string `json:"error_code"`
	FastPath     bool   `json:"fast_path"`
	RowsRejected int64  `json:"rows_rejected"`
}

func getRun(t *testing.T, base, token, id string) (runView, []byte) {
	t.Helper()
	code, b := api(t, base, token, "GET", "/api/v1/runs/"+id, "", "")
	var r runView
	if code == 200 {
		_ = json.Unmarshal(b, &r)
	}
	return r, b
}

// TestWorkerKilledMidRunIsTakenOver is issue 4's check: two `datahub serve` processes share one
// PostgreSQL store and one NATS server; the process executing a large run is killed with
// SIGKILL after some rows are committed; the other takes the run over (after the worker's ack
// wait and the dead worker's integration lease), resumes from the checkpoint, and the target
// ends with exactly the source's rows. DATAHUB_TEST_BIG=1 copies the 2,000,000 rows.
func TestWorkerKilledMidRunIsTakenOver(t *testing.T) {
	if testing.Short() {
		t.Skip("needs PostgreSQL and NATS; skipped with -short")
	}
	natsURL := testNATS(t)
	n, ckpt := 300000, 20000
	if os.Getenv("DATAHUB_TEST_BIG") == "1" {
		n, ckpt = 2000000, 100000
	}
	src := pgURL(t, "dh_test_cli_wkill_src")
	pgExec(t, src, `CREATE TABLE src (id bigint primary key, name text, amount numeric(12,2), note text)`,
		fmt.Sprintf(`INSERT INTO src SELECT g, 'name '||g, (g %% 1000)/100.0, md5(g::text) FROM generate_series(1,%d) g`, n))
	const sums = "count(*)||'/'||count(DISTINCT id)||'/'||sum(amount)||'/'||sum(length(note))"
	want := pgQuery(t, src, "SELECT "+sums+" FROM src")

	for _, mode := range []string{"upsert", "append"} {
		t.Run(mode, func(t *testing.T) {
			store := pgURL(t, "dh_test_cli_wkill_store_"+mode)
			dst := pgURL(t, "dh_test_cli_wkill_dst_"+mode)
			env := []string{
				fmt.Sprintf("DATAHUB_NATS_PREFIX=wk%s%d", mode, time.Now().UnixNano()%1e9),
				"DATAHUB_WORKER_ACK_WAIT=3s", "DATAHUB_LEASE_TTL=3s", "DATAHUB_CHECKPOINT_ROWS=" + strconv.Itoa(ckpt),
			}
			// The first server creates the admin; the second finds it and writes no token.
			a := startServe(t, "server A", store, natsURL, env...)
			b := startServe(t, "server B", store, natsURL, env...)
			raw, err := os.ReadFile(filepath.Join(a.data, "admin.token"))
			if err != nil {
				t.Fatal(err)
			}
			token := strings.TrimSpace(string(raw))
			keys := ""
			if mode == "upsert" {
				keys = ", keys: [id]"
			}
			// The cast keeps the run off the native fast path: rows go through the generic
			// path, which commits (with the run's position) every checkpoint.
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
  destination: {endpoint: b, table: public.dst, mode: %s%s}
  mapping: {columns: [{from: id, type: decimal}]}
`, src, dst, mode, keys)
			if code, body := api(t, a.base, token, "POST", "/api/v1/apply", "application/yaml", resources); code != 200 {
				t.Fatalf("apply: %d %s", code, body)
			}
			code, body := api(t, a.base, token, "POST", "/api/v1/integrations/big/runs", "application/json", `{"env":"DEV"}`)
			if code != 202 && code != 200 {
				t.Fatalf("run: %d %s", code, body)
			}
			var queued runView
			_ = json.Unmarshal(body, &queued)
			id := queued.ID
			procs := map[int]*hubProc{a.cmd.Process.Pid: a, b.cmd.Process.Pid: b}

			// Find the process executing the run, and kill it once some rows are committed.
			var victim *hubProc
			var committed string
			testutil.WaitFor(t, 60*time.Second, "the run to commit its first rows", func() bool {
				r, raw := getRun(t, a.base, token, id)
				if runstatus.Status(r.Status).Final() {
					t.Fatalf("the run finished (%s) before it could be killed; make the source bigger: %s", r.Status, raw)
				}
				victim = procs[r.PID]
				if r.Status != "running" || victim == nil {
					return false
				}
				committed = pgQueryMaybe(dst, "SELECT count(*)::text FROM public.dst")
				return committed != "" && committed != "0"
			})
			if committed == strconv.Itoa(n) {
				t.Fatalf("all %d rows were committed before the kill; make the source bigger", n)
			}
			survivor := a
			if victim == a {
				survivor = b
			}
			victim.kill(t)
			killed := time.Now()
			t.Logf("killed %s (pid %d) with %s rows committed", victim.name, victim.cmd.Process.Pid, committed)

			var r runView
			testutil.Eventually(t, 2*time.Minute, 100*time.Millisecond, func() error {
				var raw []byte
				r, raw = getRun(t, survivor.base, token, id)
				if r.Status == "succeeded" {
					t.Logf("%s finished the run %s after the kill: %s", survivor.name, time.Since(killed).Round(time.Millisecond), raw)
					return nil
				}
				if runstatus.Status(r.Status).Final() {
					t.Fatalf("after the kill the run ended %s: %s", r.Status, raw)
				}
				return fmt.Errorf("the run was not taken over after the kill: %s", raw)
			})
			// The takeover as the survivor saw it: lease waits, then the resumed start.
			if lg, err := os.ReadFile(survivor.log); err == nil {
				for _, l := range strings.Split(string(lg), "\n") {
					if strings.Contains(l, id) && (strings.Contains(l, "run started") || strings.Contains(l, "busy")) {
						t.Log(l)
					}
				}
			}
			if r.PID != survivor.cmd.Process.Pid {
				t.Errorf("the run names pid %d as its worker, want the survivor %d", r.PID, survivor.cmd.Process.Pid)
			}
			have := pgQuery(t, dst, "SELECT "+sums+" FROM public.dst")
			if have != want {
				t.Fatalf("after kill -9 at %s rows and takeover, target (count/distinct/sum/len) %s, source %s", committed, have, want)
			}
		})
	}
}
