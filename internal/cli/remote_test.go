package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/datahub-oss/datahub/internal/app/apptest"
	"github.com/datahub-oss/datahub/internal/auth"
	"github.com/datahub-oss/datahub/internal/catalog"
	"github.com/datahub-oss/datahub/internal/client"
	"github.com/datahub-oss/datahub/internal/config"
	"github.com/datahub-oss/datahub/internal/testutil"
	"github.com/datahub-oss/datahub/internal/txlog"
)

// runIn executes the command line in-process with stdin and the given context.
func runIn(ctx context.Context, t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	root := NewRoot(&out, &errb, false)
	root.SetIn(strings.NewReader(stdin))
	root.SetArgs(args)
	code := exitStatus(root.ExecuteContext(ctx), &errb)
	return code, out.String(), errb.String()
}

// hub starts a real hub in-process (SQLite, embedded NATS, the API on a free port) and points
// the commands at it through the environment, with the first admin's token.
func hub(t *testing.T, mods ...func(*config.Config)) *apptest.Hub {
	t.Helper()
	h := apptest.Start(t, mods...)
	t.Setenv("DATAHUB_SERVER", h.URL)
	t.Setenv("DATAHUB_TOKEN", h.AdminToken)
	return h
}

// remoteRun runs a command against the server and fails the test on an unexpected exit.
func remoteRun(t *testing.T, want int, args ...string) (string, string) {
	t.Helper()
	code, out, errOut := runIn(context.Background(), t, "", args...)
	if code != want {
		t.Fatalf("%v: exit %d, want %d\nstdout: %s\nstderr: %s", args, code, want, out, errOut)
	}
	return out, errOut
}

func writeFile(t *testing.T, path, text string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
}

const systemYAML = `apiVersion: datahub/v1
kind: System
metadata:
  name: crm
spec:
  owner: sales
  classification: internal
`

const endpointsYAML = `apiVersion: datahub/v1
kind: Endpoint
metadata:
  name: crm-db
spec:
  system: crm
  type: sqlite
  environments:
    DEV:
      url: sqlite:crm.db
---
apiVersion: datahub/v1
kind: Endpoint
metadata:
  name: dwh
spec:
  system: crm
  type: sqlite
  environments:
    DEV:
      url: sqlite:dwh.db
`

const integrationYAML = `apiVersion: datahub/v1
kind: Integration
metadata:
  name: crm-to-dwh
spec:
  source:
    endpoint: crm-db
    table: people
  destination:
    endpoint: dwh
    table: people
    mode: append
`

// catalogDir writes a small catalog in three files and returns its folder; its endpoints are
// SQLite databases in that folder.
func catalogDir(t *testing.T) string {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "1-system.yaml"), systemYAML)
	writeFile(t, filepath.Join(dir, "2-endpoints.yml"), endpointsIn(dir))
	writeFile(t, filepath.Join(dir, "sub", "3-integration.yaml"), integrationYAML)
	writeFile(t, filepath.Join(dir, "notes.txt"), "not a resource")
	return dir
}

// endpointsIn is endpointsYAML with its databases in dir: the server confines SQLite
// endpoints to its file roots, and runs need a source that exists.
func endpointsIn(dir string) string {
	return strings.NewReplacer("sqlite:crm.db", "sqlite:"+filepath.Join(dir, "crm.db"),
		"sqlite:dwh.db", "sqlite:"+filepath.Join(dir, "dwh.db")).Replace(endpointsYAML)
}

func TestApplyToServer(t *testing.T) {
	rec := hub(t).Record(t)
	dir := catalogDir(t)

	out, _ := remoteRun(t, 0, "apply", "-f", dir, "--dry-run", "--server", rec.URL)
	want := "System/crm created (v1) (dry run)\nEndpoint/crm-db created (v1) (dry run)\nEndpoint/dwh created (v1) (dry run)\nIntegration/crm-to-dwh created (v1) (dry run)\n"
	if out != want {
		t.Errorf("dry run:\n%s\nwant:\n%s", out, want)
	}
	if reqs := rec.Requests(); len(reqs) != 1 || reqs[0] != "POST /api/v1/apply?dry_run=true" {
		t.Errorf("requests %v", reqs)
	}
	out, _ = remoteRun(t, 0, "apply", "-f", dir)
	if !strings.Contains(out, "Integration/crm-to-dwh created (v1)\n") {
		t.Errorf("apply:\n%s", out)
	}
	out, _ = remoteRun(t, 0, "apply", "-f", filepath.Join(dir, "1-system.yaml"))
	if out != "System/crm unchanged (v1)\n" {
		t.Errorf("re-apply: %q", out)
	}
	// The quickstart as a newcomer applies it.
	out, _ = remoteRun(t, 0, "apply", "-f", "../../examples/quickstart")
	if !strings.Contains(out, "Integration/quickstart created (v1)") {
		t.Errorf("quickstart:\n%s", out)
	}
	// Standard input.
	code, out, errOut := runIn(context.Background(), t, strings.Replace(systemYAML, "sales", "marketing", 1), "apply", "-f", "-")
	if code != 0 || out != "System/crm updated (v2)\n" {
		t.Errorf("stdin: exit %d %q %s", code, out, errOut)
	}
}

func TestApplyReportsLocalProblemsWithFileAndLine(t *testing.T) {
	rec := hub(t).Record(t)
	t.Setenv("DATAHUB_SERVER", rec.URL)
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	writeFile(t, bad, systemYAML+"---\n"+strings.Replace(integrationYAML, "mode: append", "mode: sideways", 1))
	writeFile(t, filepath.Join(dir, "dup.yaml"), systemYAML)

	_, errOut := remoteRun(t, 1, "apply", "-f", bad, "-f", filepath.Join(dir, "dup.yaml"))
	lines := strings.Split(strings.TrimSpace(errOut), "\n")
	want := bad + `: document 2 (Integration "crm-to-dwh") line 20: spec.destination.mode: "sideways" is not one of append, replace, upsert`
	if len(lines) != 3 || lines[0] != want {
		t.Fatalf("stderr:\n%s\nwant first line:\n%s", errOut, want)
	}
	if !strings.Contains(lines[1], `dup.yaml: document 1 (System "crm") line 1: metadata.name: System "crm" is also defined in `+bad) {
		t.Errorf("duplicate: %s", lines[1])
	}
	if lines[2] != "Error: 2 problems; nothing was applied" {
		t.Errorf("last line %q", lines[2])
	}
	if reqs := rec.Requests(); len(reqs) != 0 {
		t.Errorf("invalid documents were sent: %v", reqs)
	}
}

func TestApplyPlacesServerProblemsInTheirFiles(t *testing.T) {
	hub(t)
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "a.yaml"), systemYAML)
	writeFile(t, filepath.Join(dir, "b.yaml"), "# an endpoint of a system that does not exist\n"+strings.Replace(endpointsIn(dir), "system: crm", "system: erp", 1))

	_, errOut := remoteRun(t, 1, "apply", "-f", dir)
	want := filepath.Join(dir, "b.yaml") + `: document 1 (Endpoint "crm-db") line 2: spec.system: no System "erp" (apply it first or in the same batch)` + "\n" +
		"Error: the resources are not valid: 1 problem; nothing was applied\n"
	if errOut != want {
		t.Errorf("stderr:\n%s\nwant:\n%s", errOut, want)
	}
}

func TestResourceCommands(t *testing.T) {
	hub(t)
	remoteRun(t, 0, "apply", "-f", catalogDir(t))

	out, _ := remoteRun(t, 0, "get", "endpoints")
	if !strings.HasPrefix(out, "KIND") || !strings.Contains(out, "crm-db") || !strings.Contains(out, "dwh") {
		t.Errorf("get endpoints:\n%s", out)
	}
	out, _ = remoteRun(t, 0, "get", "Endpoint", "crm-db")
	if !strings.HasPrefix(out, "# Endpoint/crm-db version 1, updated ") || strings.Contains(out, "status:") {
		t.Errorf("get one:\n%s", out)
	}
	// What get prints applies back.
	if _, err := catalog.Parse([]byte(out), "got.yaml"); err != nil {
		t.Errorf("get output does not parse: %v\n%s", err, out)
	}
	out, _ = remoteRun(t, 0, "get", "integration", "crm-to-dwh", "-o", "json")
	var doc map[string]any
	if err := json.Unmarshal([]byte(out), &doc); err != nil || doc["status"] == nil || doc["kind"] != "Integration" {
		t.Errorf("get -o json: %v\n%s", err, out)
	}
	out, _ = remoteRun(t, 0, "get", "systems", "-o", "yaml")
	if !strings.HasPrefix(out, "items:\n  - apiVersion: datahub/v1\n") || !strings.HasSuffix(out, "next: \"\"\n") {
		t.Errorf("get -o yaml of a list:\n%s", out)
	}

	writeFile(t, filepath.Join(t.TempDir(), "x"), "")
	code, _, _ := runIn(context.Background(), t, strings.Replace(systemYAML, "sales", "marketing", 1), "apply", "-f", "-")
	if code != 0 {
		t.Fatal(code)
	}
	out, _ = remoteRun(t, 0, "history", "system", "crm")
	if !strings.Contains(out, "1        created") || !strings.Contains(out, "2        updated") {
		t.Errorf("history:\n%s", out)
	}
	out, _ = remoteRun(t, 0, "history", "system", "crm", "--diff", "1", "2")
	if !strings.Contains(out, "-  owner: sales") || !strings.Contains(out, "+  owner: marketing") {
		t.Errorf("diff:\n%s", out)
	}
	out2, _ := remoteRun(t, 0, "history", "system", "crm", "--diff")
	if out2 != out {
		t.Errorf("diff without versions:\n%s", out2)
	}
	out, _ = remoteRun(t, 0, "get", "system", "crm", "--version", "1")
	if !strings.Contains(out, "owner: sales") {
		t.Errorf("version 1:\n%s", out)
	}

	exp := filepath.Join(t.TempDir(), "catalog.yaml")
	remoteRun(t, 0, "export", "-f", exp)
	b, err := os.ReadFile(exp)
	if err != nil || strings.Count(string(b), "---\n") != 4 {
		t.Errorf("export: %v\n%s", err, b)
	}
	out, _ = remoteRun(t, 0, "export")
	if out != string(b) {
		t.Errorf("export to stdout differs from the file")
	}

	out, _ = remoteRun(t, 0, "delete", "integration", "crm-to-dwh")
	if out != "Integration/crm-to-dwh deleted (v2)\n" {
		t.Errorf("delete: %q", out)
	}
	_, errOut := remoteRun(t, 1, "get", "integration", "crm-to-dwh")
	if !strings.Contains(errOut, `Integration "crm-to-dwh": not found`) {
		t.Errorf("get deleted: %s", errOut)
	}
}

// jsonKeys returns the sorted keys of the JSON object on the last line of s.
func jsonKeys(t *testing.T, s string) []string {
	t.Helper()
	var keys []string
	for k := range mustJSON(t, s) {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// runsYAML adds two integrations to catalogDir's: one whose casts reject the rows whose
// amount is not a number, one whose source table does not exist.
const runsYAML = `apiVersion: datahub/v1
kind: Integration
metadata:
  name: crm-partial
spec:
  source:
    endpoint: crm-db
    table: people
  destination:
    endpoint: dwh
    table: people_typed
    mode: append
  mapping:
    columns:
      - {from: id, type: int64}
      - {from: amount, type: int64}
---
apiVersion: datahub/v1
kind: Integration
metadata:
  name: crm-broken
spec:
  source:
    endpoint: crm-db
    table: nobody
  destination:
    endpoint: dwh
    table: people
    mode: append
`

// runCatalog writes catalogDir's catalog with runsYAML and the source table people (n rows,
// with the amounts of the rows numbered in bad not numbers), applies it and returns its folder.
func runCatalog(t *testing.T, n int, bad ...int) string {
	t.Helper()
	dir := catalogDir(t)
	writeFile(t, filepath.Join(dir, "4-runs.yaml"), runsYAML)
	var b strings.Builder
	b.WriteString("id,name,amount\n")
	for i := 1; i <= n; i++ {
		amount := strconv.Itoa(10 * i)
		if slices.Contains(bad, i) {
			amount = "lots"
		}
		fmt.Fprintf(&b, "%d,p%d,%s\n", i, i, amount)
	}
	csv := filepath.Join(t.TempDir(), "people.csv")
	writeFile(t, csv, b.String())
	if code, _, errOut := run(t, "copy", "--data", filepath.Join(t.TempDir(), "data"), csv, "sqlite:"+filepath.Join(dir, "crm.db")+"?table=people"); code != 0 {
		t.Fatalf("write the source table: exit %d\n%s", code, errOut)
	}
	remoteRun(t, 0, "apply", "-f", dir)
	return dir
}

// runID is the run id of a `run --json` or `runs show --json` output.
func runID(t *testing.T, out string) string {
	t.Helper()
	id, _ := mustJSON(t, strings.ReplaceAll(out, "\n", ""))["run_id"].(string)
	if id == "" {
		t.Fatalf("no run_id in %q", out)
	}
	return id
}

func TestRunJSONIsCopyJSON(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in.csv")
	writeFile(t, in, "id,name\n1,a\n2,b\n")
	code, copyOut, stderr := run(t, "copy", "--json", "--data", filepath.Join(dir, "data"), in, filepath.Join(dir, "out.ndjson"))
	if code != 0 {
		t.Fatalf("copy: %d %s", code, stderr)
	}
	if strings.Count(copyOut, "\n") != 1 {
		t.Fatalf("copy --json is not one line: %q", copyOut)
	}

	hub(t)
	runCatalog(t, 10)
	runOut, _ := remoteRun(t, 0, "run", "crm-to-dwh", "--env", "dev", "--wait", "--json")
	if strings.Count(runOut, "\n") != 1 {
		t.Fatalf("run --json is not one line: %q", runOut)
	}
	if got, want := jsonKeys(t, runOut), jsonKeys(t, copyOut); !slices.Equal(got, want) {
		t.Errorf("run --json keys %v\ncopy --json keys %v", got, want)
	}
	m := mustJSON(t, runOut)
	if m["status"] != "succeeded" || m["rows_written"] != 10.0 || m["finished_at"] == "" {
		t.Errorf("run --json: %v", m)
	}

	out, _ := remoteRun(t, 0, "run", "crm-to-dwh", "--env", "DEV", "--wait")
	if !strings.HasPrefix(out, "run ") || !strings.Contains(out, "SUCCEEDED\n  source       ") || !strings.Contains(out, "rows         read 10, written 10, rejected 0") {
		t.Errorf("run summary:\n%s", out)
	}
}

func TestRunExitStatus(t *testing.T) {
	hub(t)
	runCatalog(t, 10, 3, 7)
	for _, tc := range []struct {
		integration, errMsg string
		code                int
	}{
		{"crm-to-dwh", "", 0},
		{"crm-partial", "", ExitRejected},
		{"crm-broken", "nobody", ExitFailed},
	} {
		_, errOut := remoteRun(t, tc.code, "run", tc.integration, "--env", "dev", "--wait")
		if tc.errMsg != "" && !strings.Contains(errOut, tc.errMsg) {
			t.Errorf("%s: stderr %q", tc.integration, errOut)
		}
	}
	// Without --wait: queued, exit 0 whatever comes later.
	out, errOut := remoteRun(t, 0, "run", "crm-broken", "--env", "dev", "--json")
	if m := mustJSON(t, out); m["status"] != "queued" {
		t.Errorf("queued run: %v", m)
	}
	if !strings.Contains(errOut, "datahub runs show ") {
		t.Errorf("no hint to follow the run: %q", errOut)
	}

	remoteRun(t, 0, "run", "crm-to-dwh") // without --env: its only environment, DEV
	_, errOut = remoteRun(t, ExitFailed, "run", "nope", "--env", "dev")
	if !strings.Contains(errOut, `Integration "nope": not found`) {
		t.Errorf("unknown integration: %s", errOut)
	}
}

// TestRunCanceledWhileWaiting: a run cancelled while `run --wait` follows it exits as failed.
// The hub has no worker until the cancellation is asked for, so the run is still queued then;
// the worker that starts afterwards cancels it.
func TestRunCanceledWhileWaiting(t *testing.T) {
	h := hub(t, apptest.Roles(config.RoleAPI))
	runCatalog(t, 10)
	type result struct {
		code        int
		out, errOut string
	}
	done := make(chan result, 1)
	go func() {
		code, out, errOut := runIn(context.Background(), t, "", "run", "crm-to-dwh", "--env", "dev", "--wait")
		done <- result{code, out, errOut}
	}()
	ctx := context.Background()
	c, err := client.New(h.URL, h.AdminToken)
	if err != nil {
		t.Fatal(err)
	}
	var id string
	testutil.WaitFor(t, 10*time.Second, "the run to be queued", func() bool {
		p, err := c.ListRuns(ctx, client.RunFilter{})
		if err != nil || len(p.Items) == 0 {
			return false
		}
		id = p.Items[0].ID
		return true
	})
	if r, err := c.CancelRun(ctx, id); err != nil || r.Status != "cancel_requested" {
		t.Fatalf("cancel: %+v %v", r, err)
	}
	h.StartWorker(t)
	r := <-done
	if r.code != ExitFailed || !strings.Contains(r.errOut, "run "+id+" canceled") {
		t.Errorf("exit %d\nstdout: %s\nstderr: %s", r.code, r.out, r.errOut)
	}
}

func TestRunInterruptStopsWaitingOnly(t *testing.T) {
	// No worker: the run stays queued however long the command waits.
	h := hub(t, apptest.Roles(config.RoleAPI))
	runCatalog(t, 10)
	rec := h.Record(t)
	t.Setenv("DATAHUB_SERVER", rec.URL)
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
	defer cancel()
	code, out, errOut := runIn(ctx, t, "", "run", "crm-to-dwh", "--env", "dev", "--wait")
	if code != ExitFailed || out != "" {
		t.Fatalf("exit %d stdout %q", code, out)
	}
	for _, want := range []string{"stopped waiting; run ", "(queued when last seen)", "datahub runs show ", "datahub runs cancel "} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
	for _, r := range rec.Requests() {
		if strings.Contains(r, "/cancel") {
			t.Errorf("the run was cancelled: %s", r)
		}
	}
	out, _ = remoteRun(t, 0, "runs", "list", "--json")
	var page list[client.Run]
	if err := json.Unmarshal([]byte(out), &page); err != nil || len(page.Items) != 1 || page.Items[0].Status != "queued" {
		t.Errorf("the run after the interrupt: %v\n%s", err, out)
	}
}

// failedWithCheckpoint records a failed run that had committed a checkpoint, as a worker
// killed mid-run leaves one, made from the finished run like: the same integration, plan and
// position, so that the server agrees to resume it.
func failedWithCheckpoint(t *testing.T, h *apptest.Hub, like string) string {
	t.Helper()
	ctx := context.Background()
	r, err := h.Log.Get(ctx, like)
	if err != nil {
		t.Fatal(err)
	}
	r.ID, r.Status, r.FinishedAt, r.Error, r.Host, r.PID = txlog.NewID(), "running", nil, "", "", 0
	if err := h.Log.Start(ctx, &r); err != nil {
		t.Fatal(err)
	}
	if err := h.Log.Checkpoint(ctx, r.ID, r.Position, r.Stats); err != nil {
		t.Fatal(err)
	}
	r.Status, r.Error = "failed", "cut"
	if err := h.Log.Finish(ctx, &r); err != nil {
		t.Fatal(err)
	}
	return r.ID
}

func TestRunsCommandsAgainstServer(t *testing.T) {
	h := hub(t, apptest.Roles(config.RoleAPI))
	runCatalog(t, 5, 2, 4)
	stopWorker := h.StartWorker(t)
	t.Setenv("DATAHUB_TOKEN", h.User(t, "ann", "", auth.RoleOperator))
	out, _ := remoteRun(t, 0, "run", "crm-to-dwh", "--env", "dev", "--wait", "--json")
	runA := runID(t, out)
	t.Setenv("DATAHUB_TOKEN", h.AdminToken)
	out, _ = remoteRun(t, ExitRejected, "run", "crm-partial", "--env", "dev", "--wait", "--json")
	runB := runID(t, out)
	out, _ = remoteRun(t, ExitFailed, "run", "crm-broken", "--env", "dev", "--wait", "--json")
	runC := runID(t, out)
	stopWorker()
	out, _ = remoteRun(t, 0, "run", "crm-to-dwh", "--env", "dev", "--json")
	runQ := runID(t, out)

	out, errOut := remoteRun(t, 0, "runs", "list", "--limit", "1")
	_, cursor, _ := strings.Cut(errOut, "more: --cursor '")
	cursor, _, _ = strings.Cut(cursor, "'")
	if !strings.Contains(out, runQ) || strings.Contains(out, runA) || cursor == "" {
		t.Errorf("list page 1:\n%s%s", out, errOut)
	}
	out, _ = remoteRun(t, 0, "runs", "list", "--cursor", cursor, "--json")
	var page list[map[string]any]
	if err := json.Unmarshal([]byte(out), &page); err != nil || len(page.Items) != 3 || page.Items[0]["run_id"] != runC || page.Items[2]["run_id"] != runA {
		t.Errorf("list --json: %v\n%s", err, out)
	}
	out, _ = remoteRun(t, 0, "runs", "show", runA)
	if !strings.Contains(out, "run "+runA+" SUCCEEDED") || !strings.Contains(out, "integration  crm-to-dwh in DEV, requested by ann") || !strings.Contains(out, "  host ") {
		t.Errorf("show:\n%s", out)
	}
	out, _ = remoteRun(t, 0, "runs", "show", runA, "--json")
	if m := mustJSON(t, strings.ReplaceAll(out, "\n", "")); m["run_id"] != runA || m["rows_written"] != 5.0 {
		t.Errorf("show --json: %s", out)
	}
	out, _ = remoteRun(t, 0, "runs", "rejects", runB)
	if strings.Count(out, "\n") != 2 || !strings.Contains(out, "lots") {
		t.Errorf("rejects: %q", out)
	}
	out, _ = remoteRun(t, 0, "runs", "cancel", runQ)
	if out != "run "+runQ+" CANCEL REQUESTED\n" {
		t.Errorf("cancel: %q", out)
	}
	_, errOut = remoteRun(t, ExitFailed, "runs", "cancel", runA)
	if !strings.Contains(errOut, "already finished") {
		t.Errorf("cancel ended run: %s", errOut)
	}
	// resume: a run without a checkpoint is refused saying so; one with a checkpoint is
	// queued again and followed to its end with --wait.
	_, errOut = remoteRun(t, ExitFailed, "runs", "resume", runC)
	if !strings.Contains(errOut, "no checkpoint") {
		t.Errorf("resume without a checkpoint: %s", errOut)
	}
	runD := failedWithCheckpoint(t, h, runA)
	h.StartWorker(t)
	out, errOut = remoteRun(t, 0, "runs", "resume", runD, "--wait", "--json")
	if m := mustJSON(t, out); m["run_id"] != runD || m["status"] != "succeeded" || !strings.Contains(errOut, "run "+runD+" queued") {
		t.Errorf("resume --wait: %s\n%s", out, errOut)
	}
	remoteRun(t, ExitFailed, "runs", "show", "run-zzz")
	remoteRun(t, ExitUsage, "runs", "list", "--server", h.URL, "--data", t.TempDir())
	remoteRun(t, ExitUsage, "runs", "cancel", runQ, "--data", t.TempDir())

	// --data means the local log even with DATAHUB_SERVER set.
	out, _ = remoteRun(t, 0, "runs", "list", "--data", t.TempDir())
	if !strings.Contains(out, "no runs yet: try 'datahub copy") {
		t.Errorf("local list: %q", out)
	}
	// Without DATAHUB_SERVER, --server alone picks the server.
	t.Setenv("DATAHUB_SERVER", "")
	out, _ = remoteRun(t, 0, "runs", "list", "--server", h.URL)
	if !strings.Contains(out, runA) {
		t.Errorf("list --server:\n%s", out)
	}
}

func TestAccessCommands(t *testing.T) {
	h := hub(t)
	ctx := context.Background()
	secretValue := func(name string) string {
		t.Helper()
		v, err := h.Secrets.Get(ctx, name)
		if err != nil {
			t.Errorf("secret %s: %v", name, err)
		}
		return string(v)
	}

	code, out, errOut := runIn(ctx, t, "s3cr3t-value\n", "secret", "put", "crm.pg.password", "--from-stdin")
	if code != 0 || out != "secret crm.pg.password stored; refer to it as secret:crm.pg.password\n" {
		t.Fatalf("secret put: %d %q %s", code, out, errOut)
	}
	if v := secretValue("crm.pg.password"); v != "s3cr3t-value" {
		t.Errorf("stored %q", v)
	}
	f := filepath.Join(t.TempDir(), "key")
	writeFile(t, f, "from-a-file\n")
	remoteRun(t, 0, "secret", "put", "sftp.key", "--from-file", f)
	if v := secretValue("sftp.key"); v != "from-a-file" {
		t.Errorf("stored %q", v)
	}
	remoteRun(t, ExitUsage, "secret", "put", "x")
	remoteRun(t, ExitUsage, "secret", "put", "x", "--from-stdin", "--from-file", f)
	if code, _, _ := runIn(ctx, t, "", "secret", "put", "x", "--from-stdin"); code != ExitUsage {
		t.Errorf("empty secret: exit %d", code)
	}
	out, _ = remoteRun(t, 0, "secret", "list")
	if !strings.Contains(out, "crm.pg.password") || strings.Contains(out, "s3cr3t") {
		t.Errorf("secret list:\n%s", out)
	}
	remoteRun(t, 0, "secret", "delete", "sftp.key")
	remoteRun(t, ExitFailed, "secret", "delete", "sftp.key")

	code, out, errOut = runIn(ctx, t, "pw-of-ann-long\n", "user", "create", "ann", "--role", "integrator,viewer", "--password-stdin")
	if code != 0 || out != "user ann created with roles integrator, viewer\n" {
		t.Fatalf("user create: %d %q %s", code, out, errOut)
	}
	_, errOut = remoteRun(t, 0, "user", "create", "ci-bot", "--role", "operator")
	if !strings.Contains(errOut, "no password") {
		t.Errorf("service account hint: %q", errOut)
	}
	remoteRun(t, ExitUsage, "user", "create", "nobody")
	_, errOut = remoteRun(t, ExitFailed, "user", "create", "eve", "--role", "wizard")
	if !strings.Contains(errOut, `unknown role "wizard" (roles: admin, `) {
		t.Errorf("bad role: %s", errOut)
	}
	out, _ = remoteRun(t, 0, "user", "set-roles", "ann", "--role", "operator")
	if out != "user ann now has roles operator\n" {
		t.Errorf("set-roles: %q", out)
	}
	out, _ = remoteRun(t, 0, "user", "list", "--json")
	var users list[client.User]
	var names []string
	if err := json.Unmarshal([]byte(out), &users); err != nil {
		t.Errorf("user list --json: %v\n%s", err, out)
	}
	for _, u := range users.Items {
		names = append(names, u.Name)
	}
	if strings.Join(names, ",") != "admin,ann,ci-bot" {
		t.Errorf("user list --json: %v", names)
	}

	code, out, errOut = runIn(ctx, t, "pw-of-ann-long\n", "login", "--user", "ann", "--password-stdin")
	if code != 0 || !strings.HasPrefix(out, "dht_") || strings.Count(out, "\n") != 1 || !strings.Contains(errOut, "logged in as ann") {
		t.Fatalf("login: %d %q %s", code, out, errOut)
	}
	session := strings.TrimSpace(out)
	t.Setenv("DATAHUB_TOKEN", session)
	out, _ = remoteRun(t, 0, "token", "create", "laptop", "--expires", "30d")
	tok := strings.TrimSpace(out)
	if !strings.HasPrefix(tok, "dht_") || strings.Count(out, "\n") != 1 {
		t.Fatalf("token create stdout %q", out)
	}
	out, _ = remoteRun(t, 0, "token", "list")
	if !strings.Contains(out, "laptop") || !strings.Contains(out, tok[:8]) || strings.Contains(out, tok) {
		t.Errorf("token list:\n%s", out)
	}
	out, _ = remoteRun(t, 0, "token", "list", "-o", "json")
	// Ann's tokens: the new one and her login's session.
	var page list[client.Token]
	if err := json.Unmarshal([]byte(out), &page); err != nil || len(page.Items) != 2 {
		t.Fatalf("token list -o json: %v\n%s", err, out)
	}
	toks := page.Items
	i := slices.IndexFunc(toks, func(k client.Token) bool { return k.Name == "laptop" })
	if i < 0 {
		t.Fatalf("no laptop token in %+v", toks)
	}
	if e := toks[i].ExpiresAt; e == nil || e.Sub(toks[i].CreatedAt).Round(time.Hour) != 720*time.Hour {
		t.Errorf("--expires 30d: created %s, expires %v", toks[i].CreatedAt, e)
	}
	remoteRun(t, 0, "token", "revoke", toks[i].ID)
	if _, errOut := remoteRun(t, ExitFailed, "get", "systems", "--token", tok); !strings.Contains(errOut, "the server refused the token") {
		t.Errorf("revoked token: %s", errOut)
	}
	t.Setenv("DATAHUB_TOKEN", h.AdminToken)
	_, errOut = remoteRun(t, 0, "token", "create", "ci", "--user", "ci-bot", "--expires", "never")
	if !strings.Contains(errOut, "it never expires") {
		t.Errorf("never: %q", errOut)
	}
	remoteRun(t, ExitUsage, "token", "create", "x", "--expires", "soon")

	code, _, errOut = runIn(ctx, t, "wrong\n", "login", "--user", "ann", "--password-stdin")
	if code != ExitFailed || !strings.Contains(errOut, "invalid user name or password") {
		t.Errorf("bad login: %d %s", code, errOut)
	}
}

func TestAuditCommands(t *testing.T) {
	h := hub(t)
	remoteRun(t, 0, "apply", "-f", catalogDir(t))

	out, _ := remoteRun(t, 0, "audit", "list", "--since", "1h", "--kind", "Endpoint")
	if !strings.HasPrefix(out, "SEQ") || strings.Count(out, "resource.apply") != 2 || !strings.Contains(out, "Endpoint/dwh") {
		t.Errorf("audit list:\n%s", out)
	}
	out, _ = remoteRun(t, 0, "audit", "list", "-o", "json", "--action", "resource.*", "--name", "crm")
	var p client.AuditPage
	if err := json.Unmarshal([]byte(out), &p); err != nil || len(p.Items) != 1 || p.Items[0].Actor != "admin" {
		t.Errorf("audit list -o json: %v\n%s", err, out)
	}
	remoteRun(t, ExitUsage, "audit", "list", "--since", "yesterday-ish")

	out, _ = remoteRun(t, 0, "audit", "verify")
	if !strings.HasPrefix(out, "audit log intact: 4 entries verified") {
		t.Errorf("verify: %q", out)
	}
	// An entry edited in the store, behind the hub's back.
	if _, err := h.DB.ExecContext(context.Background(), `UPDATE audit_entries SET actor = 'mallory' WHERE seq = 3`); err != nil {
		t.Fatal(err)
	}
	out, _ = remoteRun(t, ExitFailed, "audit", "verify")
	if !strings.Contains(out, "BROKEN at seq 3: edited") {
		t.Errorf("verify broken: %q", out)
	}
	out, _ = remoteRun(t, ExitFailed, "audit", "verify", "--json")
	if m := mustJSON(t, strings.ReplaceAll(out, "\n", "")); m["first_bad_seq"] != 3.0 {
		t.Errorf("verify --json: %s", out)
	}
}

func TestAuthenticationMessages(t *testing.T) {
	h := hub(t)
	viewer := h.User(t, "viewer", "", auth.RoleViewer)
	t.Setenv("DATAHUB_TOKEN", "")
	_, errOut := remoteRun(t, ExitFailed, "get", "systems")
	if !strings.Contains(errOut, "the server wants a token: set DATAHUB_TOKEN or --token") || !strings.Contains(errOut, "admin.token") {
		t.Errorf("no token: %s", errOut)
	}
	_, errOut = remoteRun(t, ExitFailed, "get", "systems", "--token", "dht_wrongwrongwrong")
	if !strings.Contains(errOut, "the server refused the token") || strings.Contains(errOut, "wrongwrong") {
		t.Errorf("bad token: %s", errOut)
	}
	_, errOut = remoteRun(t, ExitFailed, "delete", "system", "crm", "--token", viewer, "--server", h.URL)
	if !strings.Contains(errOut, "not allowed") {
		t.Errorf("viewer: %s", errOut)
	}
}

// TestTokenIsNeverPrinted runs every command that talks to a server, with a token in the flag
// and in the environment, successes and failures, and looks for the token in all output.
// Only 'token create' and 'login' print a token: a new one, never the one used.
func TestTokenIsNeverPrinted(t *testing.T) {
	h := hub(t)
	dir := runCatalog(t, 10)
	out, _ := remoteRun(t, ExitFailed, "run", "crm-broken", "--env", "dev", "--wait", "--json")
	runX := runID(t, out)
	commands := [][]string{
		{"apply", "-f", dir}, {"apply", "-f", dir, "--dry-run"}, {"get", "systems"}, {"get", "system", "crm", "-o", "json"},
		{"history", "system", "crm"}, {"history", "system", "crm", "--diff", "1", "1"}, {"export"},
		{"run", "crm-to-dwh", "--env", "dev", "--wait", "--json"}, {"run", "crm-to-dwh", "--env", "moon"},
		{"runs", "list"}, {"runs", "show", runX, "--json"}, {"runs", "rejects", runX}, {"runs", "cancel", runX},
		{"audit", "list", "-o", "json"}, {"audit", "verify"}, {"token", "list", "-o", "yaml"}, {"user", "list"},
		{"secret", "list"}, {"secret", "delete", "nope"}, {"delete", "system", "nope"}, {"user", "set-roles", "nobody", "--role", "viewer"},
	}
	secrets := []string{h.AdminToken, "dht_bogusTokenThatTheServerRefuses"}
	for _, tok := range secrets {
		for _, viaFlag := range []bool{false, true} {
			for _, args := range commands {
				if viaFlag {
					t.Setenv("DATAHUB_TOKEN", "")
					args = append(slices.Clone(args), "--token", tok)
				} else {
					t.Setenv("DATAHUB_TOKEN", tok)
				}
				_, out, errOut := runIn(context.Background(), t, "", args...)
				if strings.Contains(out+errOut, tok) || strings.Contains(out+errOut, tok[4:20]) {
					t.Errorf("%v shows the token:\n%s%s", args, out, errOut)
				}
			}
		}
	}
	// Unreachable server, with the token in the URL's neighbourhood.
	_, out, errOut := runIn(context.Background(), t, "", "get", "systems", "--server", "http://127.0.0.1:1", "--token", secrets[0])
	if strings.Contains(out+errOut, secrets[0]) || !strings.Contains(errOut, "is `datahub serve` running?") {
		t.Errorf("unreachable: %s%s", out, errOut)
	}
}

func TestRemoteUsageErrors(t *testing.T) {
	hub(t)
	for _, args := range [][]string{
		{"get"}, {"get", "widgets"}, {"get", "systems", "-o", "xml"}, {"get", "systems", "--version", "2"},
		{"apply"}, {"apply", "-f", "/no/such/file.yaml"}, {"delete", "system"}, {"history", "system"},
		{"history", "system", "crm", "1"}, {"history", "system", "crm", "--diff", "one"},
		{"run"}, {"token", "create"}, {"user", "set-roles", "ann"}, {"login"},
		{"get", "systems", "--server", "ftp://hub"},
	} {
		code, _, errOut := runIn(context.Background(), t, "", args...)
		if code != ExitUsage || !strings.Contains(errOut, "Error:") {
			t.Errorf("%v: exit %d, want %d (stderr %s)", args, code, ExitUsage, errOut)
		}
	}
}

func FuzzParseTimeArg(f *testing.F) {
	for _, s := range []string{"", "24h", "7d", "2026-01-31", "2026-01-31T08:00:00Z", "0d", "-1h", "99999999999d", "1.5h"} {
		f.Add(s)
	}
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, s string) {
		got, err := parseTimeArg(s, now)
		if err != nil {
			return
		}
		if d, aerr := parseAge(s); aerr == nil && (d <= 0 || !got.Before(now)) {
			t.Fatalf("%q: age %s gives %s, not before now", s, d, got)
		}
	})
}
