package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/datahub-oss/datahub/internal/app"
	"github.com/datahub-oss/datahub/internal/config"
	"github.com/datahub-oss/datahub/internal/testutil"
)

// syncBuffer is a log destination the hub's goroutines write while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// firstHourHub is a real hub in-process (SQLite and embedded NATS in a temporary data
// folder), logging at level into the returned buffer, with the quickstart's files and a
// second, two-environment integration applied by the test itself.
type firstHourHub struct {
	url, token, data string
	log              *syncBuffer
}

func startFirstHourHub(t *testing.T, level slog.Level) firstHourHub {
	t.Helper()
	cfg := config.Default()
	cfg.Data, cfg.Addr = t.TempDir(), "127.0.0.1:0"
	cfg.FileRoots = []string{os.TempDir()}
	ctx, cancel := context.WithCancel(context.Background())
	buf := &syncBuffer{}
	h, err := app.Start(ctx, cfg, slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: level})))
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- h.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	token, err := os.ReadFile(filepath.Join(cfg.Data, "admin.token"))
	if err != nil {
		t.Fatal(err)
	}
	return firstHourHub{url: "http://" + h.Addr, token: strings.TrimSpace(string(token)), data: cfg.Data, log: buf}
}

// quickstartFiles writes the quickstart's resources with absolute paths in a temporary
// folder, plus an integration whose endpoints share two environments.
func quickstartFiles(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	csv, err := os.ReadFile("../../examples/quickstart/people.csv")
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "people.csv"), string(csv))
	y, err := os.ReadFile("../../examples/quickstart/resources.yaml")
	if err != nil {
		t.Fatal(err)
	}
	s := strings.ReplaceAll(string(y), "url: examples/quickstart/people.csv", "url: "+filepath.Join(dir, "people.csv"))
	s = strings.ReplaceAll(s, "url: sqlite:datahub-data/files/quickstart.db", "url: sqlite:"+filepath.Join(dir, "q.db"))
	s += `
---
apiVersion: datahub/v1
kind: Endpoint
metadata: {name: two-src}
spec: {system: people-directory, type: file, environments: {DEV: {url: ` + filepath.Join(dir, "people.csv") + `}, SIT: {url: ` + filepath.Join(dir, "people.csv") + `}}, options: {header: "true"}}
---
apiVersion: datahub/v1
kind: Endpoint
metadata: {name: two-dst}
spec: {system: people-directory, type: sqlite, environments: {DEV: {url: "sqlite:` + filepath.Join(dir, "d.db") + `"}, SIT: {url: "sqlite:` + filepath.Join(dir, "s.db") + `"}}}
---
apiVersion: datahub/v1
kind: Integration
metadata: {name: two-envs}
spec:
  source: {endpoint: two-src}
  destination: {endpoint: two-dst, table: people, mode: replace}
`
	writeFile(t, filepath.Join(dir, "resources.yaml"), s)
	return filepath.Join(dir, "resources.yaml")
}

// noServerInEnv clears what would name a server, so that a test sees the rule's default.
func noServerInEnv(t *testing.T) {
	t.Setenv("DATAHUB_SERVER", "")
	t.Setenv("DATAHUB_TOKEN", "")
	t.Setenv("DATAHUB_DATA", "")
}

// TestServerPathOfTheREADME follows the README's server block against a real hub: wait until
// it is ready, apply, run without --env (its only environment) and without --wait (the id
// alone on standard output), then 'runs show last' and by id with the token alone naming the
// server. Requests are not logged at info.
func TestServerPathOfTheREADME(t *testing.T) {
	noServerInEnv(t)
	hub := startFirstHourHub(t, slog.LevelInfo)
	if _, errOut := remoteRun(t, 0, "wait", "--server", hub.url); !strings.Contains(errOut, "ready at "+hub.url) {
		t.Errorf("wait: %q", errOut)
	}
	t.Setenv("DATAHUB_SERVER", hub.url)
	t.Setenv("DATAHUB_TOKEN", hub.token)
	remoteRun(t, 0, "apply", "-f", quickstartFiles(t))

	out, errOut := remoteRun(t, 0, "run", "quickstart")
	id := strings.TrimSpace(out)
	if strings.Contains(id, " ") || id == "" {
		t.Fatalf("run without --wait: stdout %q, want the id alone", out)
	}
	for _, want := range []string{"running quickstart in DEV, its only environment", "Follow it with: datahub runs show " + id} {
		if !strings.Contains(errOut, want) {
			t.Errorf("run without --wait: stderr %q lacks %q", errOut, want)
		}
	}
	testutil.Eventually(t, time.Minute, 100*time.Millisecond, func() error {
		_, out, _ := run(t, "runs", "show", "last", "--json")
		var r struct {
			ID     string `json:"run_id"`
			Status string `json:"status"`
		}
		_ = json.Unmarshal([]byte(out), &r)
		return testutil.Checkf(r.ID == id && r.Status == "succeeded", "runs show last: %s", out)
	})
	// The token alone names the server: the default address is not where this one listens,
	// so DATAHUB_SERVER stays; without DATAHUB_TOKEN and DATAHUB_SERVER it is the local log.
	if out, _ := remoteRun(t, 0, "runs", "show", id[:13]); !strings.Contains(out, "SUCCEEDED") || !strings.Contains(out, "integration  quickstart in DEV") {
		t.Errorf("runs show by prefix:\n%s", out)
	}

	_, errOut = remoteRun(t, ExitUsage, "run", "two-envs")
	if !strings.Contains(errOut, "run needs --env: two-envs runs in DEV, SIT") {
		t.Errorf("two environments: %q", errOut)
	}
	if strings.Contains(hub.log.String(), "msg=request") {
		t.Errorf("requests logged at info:\n%s", hub.log.String())
	}
	if !strings.Contains(hub.log.String(), `msg="serving the API"`) {
		t.Errorf("no start line at info:\n%s", hub.log.String())
	}
}

func TestRequestsLogAtDebug(t *testing.T) {
	noServerInEnv(t)
	hub := startFirstHourHub(t, slog.LevelDebug)
	remoteRun(t, 0, "wait", "--server", hub.url)
	if !strings.Contains(hub.log.String(), "msg=request") || !strings.Contains(hub.log.String(), "path=/readyz") {
		t.Errorf("no request line at debug:\n%s", hub.log.String())
	}
}

func TestWaitGivesUp(t *testing.T) {
	noServerInEnv(t)
	_, errOut := remoteRun(t, ExitFailed, "wait", "--server", "http://127.0.0.1:1", "--timeout", "300ms")
	if !strings.Contains(errOut, "the hub server at http://127.0.0.1:1 was not ready within 300ms") {
		t.Errorf("wait: %q", errOut)
	}
	remoteRun(t, ExitUsage, "wait", "--timeout", "0s")
}

// TestRunsOneRule: a 'datahub copy' run is found in the local log where no server is named
// (its rejects too, without a token); where one is, the server is asked, and a run it does
// not have is reported with the server's address and the way to the local one.
func TestRunsOneRule(t *testing.T) {
	noServerInEnv(t)
	dir := t.TempDir()
	data := filepath.Join(dir, "datahub-data")
	t.Setenv("DATAHUB_DATA", data)
	writeFile(t, filepath.Join(dir, "in.csv"), "id,n\n1,5\n2,x\n3,7\n")
	code, out, errOut := run(t, "copy", "--json", "--map", "n::int64", filepath.Join(dir, "in.csv"), "sqlite:"+filepath.Join(dir, "o.db")+"?table=t")
	if code != ExitRejected {
		t.Fatalf("copy: exit %d\n%s%s", code, out, errOut)
	}
	id := mustJSON(t, out)["run_id"].(string)

	out, _ = remoteRun(t, 0, "runs", "show", "last")
	if !strings.Contains(out, "run "+id+" PARTIAL") {
		t.Errorf("local runs show last:\n%s", out)
	}
	out, errOut = remoteRun(t, 0, "runs", "rejects", id)
	if !strings.Contains(out, `"value":"x"`) || strings.Contains(errOut, "token") {
		t.Errorf("local rejects without a token: %q %q", out, errOut)
	}
	_, errOut = remoteRun(t, ExitFailed, "runs", "show", "0000")
	if !strings.Contains(errOut, "no run 0000 in the local transaction log in "+data) || !strings.Contains(errOut, "--server") {
		t.Errorf("local not found: %q", errOut)
	}

	hub := startFirstHourHub(t, slog.LevelWarn)
	t.Setenv("DATAHUB_SERVER", hub.url)
	t.Setenv("DATAHUB_TOKEN", hub.token)
	_, errOut = remoteRun(t, ExitFailed, "runs", "show", id)
	if !strings.Contains(errOut, "no run "+id+" on the hub server "+hub.url) || !strings.Contains(errOut, "is in the local transaction log in "+data) ||
		!strings.Contains(errOut, "--local") {
		t.Errorf("server not found: %q", errOut)
	}
	if out, _ := remoteRun(t, 0, "runs", "show", "--local", id); !strings.Contains(out, "run "+id+" PARTIAL") {
		t.Errorf("--local:\n%s", out)
	}
	if out, _ := remoteRun(t, 0, "runs", "rejects", "--local", "last"); !strings.Contains(out, `"value":"x"`) {
		t.Errorf("--local rejects last: %q", out)
	}
	remoteRun(t, ExitUsage, "runs", "list", "--local", "--server", hub.url)
	remoteRun(t, ExitUsage, "runs", "cancel", "--local", id)
}

// TestReadOnlyRunsCommandsCreateNothing: in a folder without a data folder, the runs
// commands that read the local log answer and leave the folder as it was.
func TestReadOnlyRunsCommandsCreateNothing(t *testing.T) {
	noServerInEnv(t)
	dir := t.TempDir()
	data := filepath.Join(dir, "datahub-data")
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"runs", "list"}, 0, "no runs yet"},
		{[]string{"runs", "list", "--json"}, 0, `"items": []`},
		{[]string{"runs", "list", "--local"}, 0, "no runs yet"},
		{[]string{"runs", "show", "last"}, ExitFailed, "no local transaction log in " + data},
		{[]string{"runs", "show", "0193"}, ExitFailed, "no local transaction log in " + data},
		{[]string{"runs", "rejects", "0193"}, ExitFailed, "no local transaction log in " + data},
	} {
		for _, how := range []string{"flag", "env"} {
			args := tc.args
			if how == "flag" {
				args = append(append([]string{}, args...), "--data", data)
				t.Setenv("DATAHUB_DATA", "")
			} else {
				t.Setenv("DATAHUB_DATA", data)
			}
			code, out, errOut := run(t, args...)
			if code != tc.code || !strings.Contains(out+errOut, tc.want) {
				t.Errorf("%v (%s): exit %d\nstdout %q\nstderr %q\nwant exit %d and %q", tc.args, how, code, out, errOut, tc.code, tc.want)
			}
			if entries, _ := os.ReadDir(dir); len(entries) > 0 {
				t.Fatalf("%v (%s) created %s", tc.args, how, entries[0].Name())
			}
		}
	}
}

// TestApplyDryRunDiff: a dry run against a real hub names each resource's fate and, for an
// update, exactly the fields that change, and changes nothing.
func TestApplyDryRunDiff(t *testing.T) {
	noServerInEnv(t)
	hub := startFirstHourHub(t, slog.LevelWarn)
	t.Setenv("DATAHUB_SERVER", hub.url)
	t.Setenv("DATAHUB_TOKEN", hub.token)
	file := quickstartFiles(t)
	remoteRun(t, 0, "apply", "-f", file)
	y, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	s := strings.Replace(string(y), "  description: Load the sample people.csv into the people table.\n",
		"  description: Load people.csv.\n", 1)
	s = strings.Replace(s, "      - {from: active, type: bool}\n", "", 1)
	s = strings.Replace(s, "  name: people-db\n  labels:\n    domain: hr\n", "  name: people-db\n  labels:\n    domain: hr\n    tier: gold\n", 1)
	writeFile(t, file, s)
	out, _ := remoteRun(t, 0, "apply", "-f", file, "--dry-run")
	want := `System/people-directory unchanged (v1) (dry run)
Endpoint/people-csv unchanged (v1) (dry run)
Endpoint/people-db updated (v2) (dry run)
  + metadata.labels.tier: "gold"
Integration/quickstart updated (v2) (dry run)
  ~ metadata.description: "Load the sample people.csv into the people table." -> "Load people.csv."
  - spec.mapping.columns[6].from: "active"
  - spec.mapping.columns[6].type: "bool"
`
	if !strings.HasPrefix(out, want) {
		t.Errorf("dry run:\n%s\nwant it to start with:\n%s", out, want)
	}
	if out, _ := remoteRun(t, 0, "apply", "-f", file, "--dry-run"); !strings.Contains(out, "Integration/quickstart updated (v2) (dry run)") {
		t.Errorf("the dry run changed something:\n%s", out)
	}
}

// TestRunsServerDownPointsToLocal: with a token set and the server gone, the error says so
// and where the local runs are.
func TestRunsServerDownPointsToLocal(t *testing.T) {
	noServerInEnv(t)
	dir := t.TempDir()
	data := filepath.Join(dir, "datahub-data")
	t.Setenv("DATAHUB_DATA", data)
	writeFile(t, filepath.Join(dir, "in.csv"), "id\n1\n")
	if code, out, errOut := run(t, "copy", filepath.Join(dir, "in.csv"), "sqlite:"+filepath.Join(dir, "o.db")+"?table=t"); code != 0 {
		t.Fatalf("copy: exit %d\n%s%s", code, out, errOut)
	}
	t.Setenv("DATAHUB_SERVER", "http://127.0.0.1:1")
	t.Setenv("DATAHUB_TOKEN", "dht_whatever")
	_, errOut := remoteRun(t, ExitFailed, "runs", "list")
	if !strings.Contains(errOut, "cannot reach the Data Hub server at http://127.0.0.1:1") || !strings.Contains(errOut, "local runs of 'datahub copy' are in "+data+": add --local") {
		t.Errorf("server down: %q", errOut)
	}
	if out, _ := remoteRun(t, 0, "runs", "list", "--local"); !strings.Contains(out, "SUCCEEDED") && !strings.Contains(out, "succeeded") {
		t.Errorf("--local:\n%s", out)
	}
}
