package api

import (
	"bytes"
	"context"
	"database/sql"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/datahub-oss/datahub/internal/notify"
	"github.com/datahub-oss/datahub/internal/runs"
	"github.com/datahub-oss/datahub/internal/runstatus"
	"github.com/datahub-oss/datahub/internal/trigger"
)

const hookSecret = "s3cr3t-hook-key-for-tests"

// withHook returns the quickstart catalog with the integration triggered by a webhook with
// the given settings (YAML lines under trigger:, after type).
func withHook(t *testing.T, settings string) string {
	t.Helper()
	qs := quickstart(t)
	old := "  trigger:\n    type: manual\n"
	if !strings.Contains(qs, old) {
		t.Fatal("quickstart has no manual trigger to replace")
	}
	return strings.Replace(qs, old, "  trigger:\n    type: webhook\n"+settings, 1)
}

// hookHub is a hub with a stored hook secret and the catalog applied.
func hookHub(t *testing.T, withWorker bool, catalogYAML string) *hub {
	t.Helper()
	h := newHub(t, withWorker)
	if err := h.secrets.Put(context.Background(), "hook-key", []byte(hookSecret), "test"); err != nil {
		t.Fatal(err)
	}
	h.must(http.StatusOK, h.do(http.MethodPost, BasePath+"/apply", h.admin(), catalogYAML), "apply")
	return h
}

// post sends a webhook delivery with the headers given.
func (h *hub) post(path string, body []byte, headers map[string]string) response {
	h.t.Helper()
	req, err := http.NewRequest(http.MethodPost, h.url+path, bytes.NewReader(body))
	if err != nil {
		h.t.Fatal(err)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, _ := io.ReadAll(resp.Body)
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

// signed returns the HMAC headers of body at time at.
func signed(key string, body []byte, at time.Time, more ...string) map[string]string {
	ts := strconv.FormatInt(at.Unix(), 10)
	m := map[string]string{notify.HeaderTimestamp: ts, notify.HeaderSignature: notify.Sign(key, ts, body), "Content-Type": "application/json"}
	for i := 0; i+1 < len(more); i += 2 {
		m[more[i]] = more[i+1]
	}
	return m
}

func (h *hub) runCount(integration string) int {
	h.t.Helper()
	var n int
	if err := h.db.QueryRow(context.Background(), `SELECT count(*) FROM runs WHERE integration = ?`, integration).Scan(&n); err != nil {
		h.t.Fatal(err)
	}
	return n
}

func TestWebhookHMAC(t *testing.T) {
	t.Parallel()
	h := hookHub(t, true, withHook(t, "    env: DEV\n    secret: secret:hook-key\n    maxBody: 1KiB\n"))
	path := BasePath + "/hooks/quickstart"
	body := []byte(`{"event":"orders.ready"}`)

	r := h.must(http.StatusAccepted, h.post(path, body, signed(hookSecret, body, time.Now())), "signed delivery")
	var out struct {
		RunID  string `json:"run_id"`
		Status string `json:"status"`
	}
	r.json(t, &out)
	if out.RunID == "" || out.Status != string(runstatus.Queued) {
		t.Fatalf("answer %s", r)
	}
	wctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rs := &runs.Service{Log: h.txlog}
	run, err := rs.Wait(wctx, out.RunID)
	if err != nil {
		t.Fatal(err)
	}
	// The run names its trigger and the author whose rights it carries.
	if run.Status != "succeeded" || run.RequestedBy != "webhook (by u-admin)" || run.RowsWritten == 0 {
		t.Fatalf("run %s by %s: %d rows, %s", run.Status, run.RequestedBy, run.RowsWritten, run.Error)
	}
	// Audited by the runs service, with the caller's address.
	var actor, remote string
	if err := h.db.QueryRow(context.Background(), `SELECT actor, remote FROM audit_entries WHERE action = 'run.request'`).Scan(&actor, &remote); err != nil {
		t.Fatal(err)
	}
	if actor != trigger.ActorWebhook || remote == "" {
		t.Errorf("audit entry by %q from %q", actor, remote)
	}

	// The same signed delivery again (same timestamp and signature) is the same run.
	hdr := signed(hookSecret, body, time.Now())
	first := h.must(http.StatusAccepted, h.post(path, body, hdr), "fixed timestamp")
	again := h.must(http.StatusAccepted, h.post(path, body, hdr), "exact replay")
	var a, b struct {
		RunID string `json:"run_id"`
	}
	first.json(t, &a)
	again.json(t, &b)
	if a.RunID != b.RunID {
		t.Errorf("an exact replay requested another run: %s then %s", a.RunID, b.RunID)
	}

	deny := func(name string, r response) {
		t.Helper()
		if r.status != http.StatusUnauthorized || r.errorCode() != CodeUnauthenticated {
			t.Errorf("%s: %d %s", name, r.status, r)
		}
	}
	before := h.runCount("quickstart")
	deny("no signature", h.post(path, body, map[string]string{"Content-Type": "application/json"}))
	deny("wrong key", h.post(path, body, signed("other-key", body, time.Now())))
	deny("body changed", h.post(path, []byte(`{"event":"x"}`), signed(hookSecret, body, time.Now())))
	deny("stale timestamp", h.post(path, body, signed(hookSecret, body, time.Now().Add(-6*time.Minute))))
	deny("future timestamp", h.post(path, body, signed(hookSecret, body, time.Now().Add(6*time.Minute))))
	deny("bearer token instead", h.post(path, body, map[string]string{"Authorization": "Bearer " + hookSecret}))
	deny("api token instead", h.post(path, body, map[string]string{"Authorization": "Bearer " + h.admin()}))
	unknown := h.post(BasePath+"/hooks/nope", body, signed(hookSecret, body, time.Now()))
	deny("unknown integration", unknown)
	noSig := h.post(path, body, nil)
	if unknown.String() != noSig.String() {
		t.Errorf("unknown integration and bad signature answer differently: %s vs %s", unknown, noSig)
	}
	big := bytes.Repeat([]byte("x"), 2048)
	if r := h.post(path, big, signed(hookSecret, big, time.Now())); r.status != http.StatusRequestEntityTooLarge {
		t.Errorf("body over maxBody: %d %s", r.status, r)
	}
	if n := h.runCount("quickstart"); n != before {
		t.Errorf("refused deliveries requested runs: %d → %d", before, n)
	}
	if strings.Contains(h.logs.String(), hookSecret) {
		t.Error("the hook secret is in the log")
	}
}

func TestWebhookNotAWebhook(t *testing.T) {
	t.Parallel()
	h := newHub(t, false)
	if err := h.secrets.Put(context.Background(), "hook-key", []byte(hookSecret), "test"); err != nil {
		t.Fatal(err)
	}
	h.must(http.StatusOK, h.do(http.MethodPost, BasePath+"/apply", h.admin(), quickstart(t)), "apply")
	body := []byte(`{}`)
	if r := h.post(BasePath+"/hooks/quickstart", body, signed(hookSecret, body, time.Now())); r.status != http.StatusUnauthorized || r.errorCode() != CodeUnauthenticated {
		t.Errorf("manual integration: %d %s", r.status, r)
	}
	if n := h.runCount("quickstart"); n != 0 {
		t.Errorf("%d runs", n)
	}
}

func TestWebhookTokenIdempotency(t *testing.T) {
	t.Parallel()
	h := hookHub(t, false, withHook(t, "    env: DEV\n    secret: secret:hook-key\n    auth: token\n"))
	path := BasePath + "/hooks/quickstart"
	idem := map[string]string{"Authorization": "Bearer " + hookSecret, "Idempotency-Key": "order-42"}
	r1 := h.must(http.StatusAccepted, h.post(path, nil, idem), "token delivery")
	r2 := h.must(http.StatusAccepted, h.post(path, nil, idem), "same key again")
	if r1.String() != r2.String() {
		t.Errorf("same Idempotency-Key, different answers: %s vs %s", r1, r2)
	}
	if n := h.runCount("quickstart"); n != 1 {
		t.Errorf("%d runs for one key", n)
	}
	h.must(http.StatusAccepted, h.post(path, nil, map[string]string{headerHookToken: hookSecret, "Idempotency-Key": "order-43"}), "X-DataHub-Token")
	if n := h.runCount("quickstart"); n != 2 {
		t.Errorf("%d runs for two keys", n)
	}
	for name, hdr := range map[string]map[string]string{
		"wrong token":  {"Authorization": "Bearer nope"},
		"token prefix": {headerHookToken: hookSecret[:5]},
		"signature":    signed(hookSecret, nil, time.Now()),
		"none":         nil,
	} {
		if r := h.post(path, nil, hdr); r.status != http.StatusUnauthorized {
			t.Errorf("%s: %d %s", name, r.status, r)
		}
	}
}

func TestWebhookInvalidSettings(t *testing.T) {
	t.Parallel()
	h := hookHub(t, false, withHook(t, "    env: DEV\n    secret: secret:hook-key\n    auth: token\n    body: sometimes\n"))
	path := BasePath + "/hooks/quickstart"
	// Unauthenticated callers learn nothing; authenticated ones are told what is wrong.
	if r := h.post(path, nil, nil); r.status != http.StatusUnauthorized {
		t.Errorf("unauthenticated: %d %s", r.status, r)
	}
	r := h.post(path, nil, map[string]string{"Authorization": "Bearer " + hookSecret})
	if r.status != http.StatusBadRequest || !strings.Contains(r.String(), "body") {
		t.Errorf("authenticated: %d %s", r.status, r)
	}
}

func TestWebhookBodyIsData(t *testing.T) {
	t.Parallel()
	h := hookHub(t, true, withHook(t, "    env: DEV\n    secret: secret:hook-key\n    body: data\n"))
	path := BasePath + "/hooks/quickstart"
	csv := []byte("id,name,email,city,balance,joined_at,active\n" +
		"901,Ada Hook,ada@example.org,Basel,1.50,2024-01-02T03:04:05Z,true\n" +
		"902,Bob Hook,bob@example.org,Bern,2.25,2024-02-03T04:05:06Z,false\n")
	hdr := signed(hookSecret, csv, time.Now(), "Content-Type", "text/csv", "Idempotency-Key", "batch-1")
	r := h.must(http.StatusAccepted, h.post(path, csv, hdr), "csv delivery")
	var out struct {
		RunID string `json:"run_id"`
	}
	r.json(t, &out)
	wctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	run, err := (&runs.Service{Log: h.txlog}).Wait(wctx, out.RunID)
	if err != nil {
		t.Fatal(err)
	}
	if run.Status != "succeeded" || run.RowsWritten != 2 {
		t.Fatalf("run %s, %d rows written: %s", run.Status, run.RowsWritten, run.Error)
	}
	stored, _ := filepath.Glob(filepath.Join(h.dir, "hooks", "quickstart", "*.csv"))
	if len(stored) != 1 {
		t.Fatalf("stored bodies %v", stored)
	}
	if fi, err := os.Stat(stored[0]); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("stored body: %v %v", fi, err)
	}
	// The destination holds the posted rows (mode replace).
	dbPath := strings.TrimPrefix(strings.SplitN(run.Destination, "?", 2)[0], "sqlite:")
	db, err := sql.Open("sqlite", dbPath)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = db.Close() }()
	var names string
	if err := db.QueryRow(`SELECT group_concat(name, ',') FROM (SELECT name FROM people ORDER BY id)`).Scan(&names); err != nil {
		t.Fatalf("read %s: %v", dbPath, err)
	}
	if names != "Ada Hook,Bob Hook" {
		t.Errorf("destination rows: %q", names)
	}
	// Same key again: no second run, no second stored body.
	h.must(http.StatusAccepted, h.post(path, csv, hdr), "replay")
	if n := h.runCount("quickstart"); n != 1 {
		t.Errorf("%d runs", n)
	}
	// Unsupported content type.
	hdr = signed(hookSecret, csv, time.Now(), "Content-Type", "application/xml")
	if r := h.post(path, csv, hdr); r.status != http.StatusUnsupportedMediaType {
		t.Errorf("xml body: %d %s", r.status, r)
	}
}

// TestRunFileParamConfined: a user requesting a run cannot point "file" anywhere but at a
// stored body of a body: data webhook.
func TestRunFileParamConfined(t *testing.T) {
	t.Parallel()
	h := hookHub(t, true, withHook(t, "    env: DEV\n    secret: secret:hook-key\n    body: data\n"))
	outside := filepath.Join(t.TempDir(), "x.csv")
	if err := os.WriteFile(outside, []byte("id\n1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{outside, filepath.Join(h.dir, "hooks", "quickstart", "..", "..", "master.key"), "relative.csv"} {
		r := h.must(http.StatusAccepted, h.do(http.MethodPost, BasePath+"/integrations/quickstart/runs", h.admin(),
			map[string]any{"env": "DEV", "params": map[string]string{"file": f}}), "request run")
		var out struct {
			RunID string `json:"run_id"`
		}
		r.json(t, &out)
		wctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		run, err := (&runs.Service{Log: h.txlog}).Wait(wctx, out.RunID)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		if run.Status != "failed" || !strings.Contains(run.Error, "file parameter") {
			t.Errorf("file=%s: run %s: %s", f, run.Status, run.Error)
		}
	}
}

func TestHookPathShape(t *testing.T) {
	t.Parallel()
	h := newHub(t, false)
	for _, c := range []struct{ method, path string }{
		{http.MethodGet, "/api/v1/hooks/x"},
		{http.MethodPut, "/api/v1/hooks/x"},
		{http.MethodDelete, "/api/v1/hooks/x"},
		{http.MethodPost, "/api/v1/hooks/"},
		{http.MethodPost, "/api/v1/hooks"},
		{http.MethodPost, "/api/v1/hooks/x/y"},
		{http.MethodPost, "/api/v1/hooks/X"},
		{http.MethodPost, "/api/v1/hooks/-x"},
		{http.MethodPost, "/api/v1/hooks/a.b"},
		{http.MethodPost, "/api/v1/hooks/%61"},
		{http.MethodPost, "/api/v1/hooks/x%2fy"},
		{http.MethodPost, "/api/v1/hooks/x/"},
		{http.MethodPost, "/api/v1/hooks/.."},
		{http.MethodPost, "/api/v1/hooks/x;y"},
		{http.MethodPost, "/api/v1/Hooks/x"},
		{http.MethodPost, "/api/v1/hooks/" + strings.Repeat("a", 64)},
	} {
		if r := h.do(c.method, c.path, "", nil); r.status != http.StatusUnauthorized || r.errorCode() != CodeUnauthenticated {
			t.Errorf("%s %s without token: %d %s", c.method, c.path, r.status, r)
		}
	}
	if r := h.do(http.MethodGet, "/api/v1/hooks/x", h.admin(), nil); r.status != http.StatusMethodNotAllowed {
		t.Errorf("GET hook as admin: %d %s", r.status, r)
	}
	for p, want := range map[string]bool{"/api/v1/hooks/x": true, "/api/v1/hooks/a-1": true, "/api/v1/hooks/x/y": false, "/api/v1/hooks/": false} {
		if got := publicHook(http.MethodPost, p); got != want {
			t.Errorf("publicHook(POST %s) = %v", p, got)
		}
		if publicHook(http.MethodGet, p) || publicHook(http.MethodHead, p) {
			t.Errorf("publicHook(GET/HEAD %s) is true", p)
		}
	}
}
