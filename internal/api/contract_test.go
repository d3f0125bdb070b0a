package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/datahub-oss/datahub/internal/audit"
	"github.com/datahub-oss/datahub/internal/auth"
	"github.com/datahub-oss/datahub/internal/txlog"
)

type changeJSON struct {
	Kind, Name, Action string
	Version            int
	BeforeDigest       string `json:"before_digest"`
	AfterDigest        string `json:"after_digest"`
}

type applyJSONOut struct {
	DryRun  bool         `json:"dry_run"`
	Changes []changeJSON `json:"changes"`
}

type errJSON struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Details struct {
		Errors []FieldError `json:"errors"`
	} `json:"details"`
}

type itemsJSON[T any] struct {
	Items []T    `json:"items"`
	Next  string `json:"next"`
}

type docJSON struct {
	APIVersion string         `json:"apiVersion"`
	Kind       string         `json:"kind"`
	Metadata   map[string]any `json:"metadata"`
	Spec       map[string]any `json:"spec"`
	Status     resourceStatus `json:"status"`
}

func actions(cs []changeJSON) string {
	var out []string
	for _, c := range cs {
		out = append(out, c.Kind+"/"+c.Name+"="+c.Action)
	}
	return strings.Join(out, ",")
}

// auditEntries lists audit entries matching the query (e.g. "action=secret.put").
func (h *hub) auditEntries(query string) []audit.Entry {
	h.t.Helper()
	var page itemsJSON[audit.Entry]
	h.must(http.StatusOK, h.do(http.MethodGet, BasePath+"/audit?"+query, h.admin(), nil), "audit "+query).json(h.t, &page)
	return page.Items
}

func TestResourcesContract(t *testing.T) {
	t.Parallel()
	h := newHub(t, false)
	admin := h.admin()
	qs := quickstart(t)

	// Dry run: changes reported, nothing written.
	var out applyJSONOut
	h.must(http.StatusOK, h.do(http.MethodPost, BasePath+"/apply?dry_run=true", admin, qs), "dry run").json(t, &out)
	if !out.DryRun || actions(out.Changes) != "System/people-directory=created,Endpoint/people-csv=created,Endpoint/people-db=created,Integration/quickstart=created" {
		t.Fatalf("dry run: %+v", out)
	}
	h.must(http.StatusNotFound, h.do(http.MethodGet, BasePath+"/resources/integration/quickstart", admin, nil), "get after dry run")

	// YAML apply, then again: unchanged.
	h.must(http.StatusOK, h.do(http.MethodPost, BasePath+"/apply", admin, qs), "apply").json(t, &out)
	if out.DryRun || len(out.Changes) != 4 || out.Changes[3].Version != 1 || out.Changes[3].AfterDigest == "" || out.Changes[3].BeforeDigest != "" {
		t.Fatalf("apply: %+v", out)
	}
	h.must(http.StatusOK, h.do(http.MethodPost, BasePath+"/apply", admin, qs, "application/yaml; charset=utf-8"), "re-apply").json(t, &out)
	if actions(out.Changes) != "System/people-directory=unchanged,Endpoint/people-csv=unchanged,Endpoint/people-db=unchanged,Integration/quickstart=unchanged" {
		t.Fatalf("re-apply: %+v", out)
	}
	// Audited with actor and remote address, in the catalog's transaction.
	es := h.auditEntries("action=resource.apply")
	if len(es) != 4 || es[0].Actor != "u-admin" || es[0].Remote != "127.0.0.1" || es[0].AfterDigest == "" {
		t.Fatalf("audit after apply: %+v", es)
	}

	// JSON apply: the System changes.
	sys := map[string]any{"apiVersion": "datahub/v1", "kind": "System",
		"metadata": map[string]any{"name": "people-directory", "labels": map[string]string{"domain": "hr", "tier": "gold"}},
		"spec":     map[string]any{"owner": "data-platform", "classification": "confidential"}}
	h.must(http.StatusOK, h.do(http.MethodPost, BasePath+"/apply", admin, map[string]any{"documents": []any{sys}}), "json apply").json(t, &out)
	if actions(out.Changes) != "System/people-directory=updated" || out.Changes[0].Version != 2 || out.Changes[0].BeforeDigest == "" {
		t.Fatalf("json apply: %+v", out)
	}

	// Validation errors: 422 with the file, document, line and field; nothing written.
	bad := "apiVersion: datahub/v1\nkind: System\nmetadata: {name: ok-one}\nspec: {owner: x}\n---\napiVersion: datahub/v1\nkind: Integration\nmetadata:\n  name: broken\nspec:\n  source: {endpoint: people-csv}\n  destination: {endpoint: people-db, table: t, mode: sideways}\n"
	r := h.must(http.StatusUnprocessableEntity, h.do(http.MethodPost, BasePath+"/apply", admin, bad), "invalid apply")
	var e errJSON
	r.json(t, &e)
	if e.Code != CodeInvalid || len(e.Details.Errors) == 0 {
		t.Fatalf("invalid apply: %s", r)
	}
	fe := e.Details.Errors[0]
	if fe.File != "request" || fe.Document != 2 || fe.Line != 12 || fe.Field != "spec.destination.mode" || !strings.Contains(fe.Message, "sideways") {
		t.Errorf("field error: %+v (all: %s)", fe, r)
	}
	h.must(http.StatusNotFound, h.do(http.MethodGet, BasePath+"/resources/system/ok-one", admin, nil), "nothing written")
	// JSON errors name the document; lines are left out.
	r = h.must(http.StatusUnprocessableEntity, h.do(http.MethodPost, BasePath+"/apply", admin,
		map[string]any{"documents": []any{map[string]any{"apiVersion": "datahub/v1", "kind": "Nope", "metadata": map[string]any{"name": "x"}}}}), "invalid json apply")
	e = errJSON{}
	r.json(t, &e)
	if e.Details.Errors[0].Document != 1 || e.Details.Errors[0].Line != 0 {
		t.Errorf("json field error: %s", r)
	}
	for _, c := range []struct {
		body, ct string
		status   int
	}{
		{"", "application/yaml", http.StatusBadRequest},
		{"# nothing\n", "application/yaml", http.StatusUnprocessableEntity},
		{"kind: [", "application/yaml", http.StatusUnprocessableEntity},
		{`{"docs": []}`, "application/json", http.StatusBadRequest},
		{"x", "text/plain", http.StatusUnsupportedMediaType},
	} {
		if r := h.do(http.MethodPost, BasePath+"/apply", admin, c.body, c.ct); r.status != c.status || r.errorCode() != CodeInvalid {
			t.Errorf("apply %q (%s): %d %s", c.body, c.ct, r.status, r)
		}
	}

	// Get, list (label selector, pagination).
	var doc docJSON
	h.must(http.StatusOK, h.do(http.MethodGet, BasePath+"/resources/Integrations/quickstart", admin, nil), "get").json(t, &doc)
	if doc.Kind != "Integration" || doc.Metadata["name"] != "quickstart" || doc.Spec["source"] == nil || doc.Status.Version != 1 ||
		doc.Status.UpdatedBy != "u-admin" || doc.Status.Digest == "" || doc.Status.UpdatedAt.IsZero() {
		t.Fatalf("get: %+v", doc)
	}
	var list itemsJSON[docJSON]
	h.must(http.StatusOK, h.do(http.MethodGet, BasePath+"/resources/endpoint?limit=1", admin, nil), "list").json(t, &list)
	if len(list.Items) != 1 || list.Next == "" {
		t.Fatalf("list page 1: %+v", list)
	}
	first := list.Items[0].Metadata["name"]
	h.must(http.StatusOK, h.do(http.MethodGet, BasePath+"/resources/endpoint?limit=1&cursor="+list.Next, admin, nil), "list 2").json(t, &list)
	if len(list.Items) != 1 || list.Items[0].Metadata["name"] == first || list.Next != "" {
		t.Fatalf("list page 2: %+v", list)
	}
	h.must(http.StatusOK, h.do(http.MethodGet, BasePath+"/resources/system?label=tier=gold", admin, nil), "label").json(t, &list)
	if len(list.Items) != 1 {
		t.Fatalf("label selector: %+v", list)
	}
	h.must(http.StatusOK, h.do(http.MethodGet, BasePath+"/resources/system?label=tier=silver", admin, nil), "label").json(t, &list)
	if len(list.Items) != 0 {
		t.Fatalf("label selector: %+v", list)
	}
	h.must(http.StatusUnprocessableEntity, h.do(http.MethodGet, BasePath+"/resources/system?label=a%20b=c", admin, nil), "bad selector")
	h.must(http.StatusUnprocessableEntity, h.do(http.MethodGet, BasePath+"/resources/system?cursor=%25%25", admin, nil), "bad cursor")
	h.must(http.StatusUnprocessableEntity, h.do(http.MethodGet, BasePath+"/resources/system?limit=1001", admin, nil), "limit too big")
	h.must(http.StatusNotFound, h.do(http.MethodGet, BasePath+"/resources/widgets", admin, nil), "unknown kind")

	// History, versions, diff.
	var hist itemsJSON[revisionBody]
	h.must(http.StatusOK, h.do(http.MethodGet, BasePath+"/resources/system/people-directory/history", admin, nil), "history").json(t, &hist)
	if len(hist.Items) != 2 || hist.Items[0].Change != "created" || hist.Items[1].Change != "updated" || hist.Items[1].CreatedBy != "u-admin" {
		t.Fatalf("history: %+v", hist)
	}
	h.must(http.StatusOK, h.do(http.MethodGet, BasePath+"/resources/system/people-directory/versions/1", admin, nil), "version").json(t, &doc)
	if doc.Status.Version != 1 || doc.Status.Change != "created" || doc.Metadata["labels"].(map[string]any)["tier"] != nil {
		t.Fatalf("version 1: %+v", doc)
	}
	h.must(http.StatusNotFound, h.do(http.MethodGet, BasePath+"/resources/system/people-directory/versions/9", admin, nil), "no version 9")
	var diff diffOutput
	h.must(http.StatusOK, h.do(http.MethodGet, BasePath+"/resources/system/people-directory/diff", admin, nil), "diff").json(t, &diff.Body)
	if diff.Body.From != 1 || diff.Body.To != 2 || !strings.Contains(diff.Body.Diff, "+    tier: gold") {
		t.Fatalf("diff: %+v", diff.Body)
	}
	h.must(http.StatusOK, h.do(http.MethodGet, BasePath+"/resources/system/people-directory/diff?from=2&to=2", admin, nil), "diff").json(t, &diff.Body)
	if diff.Body.Diff != "" {
		t.Fatalf("diff of a version with itself: %q", diff.Body.Diff)
	}
	h.must(http.StatusUnprocessableEntity, h.do(http.MethodGet, BasePath+"/resources/integration/quickstart/diff", admin, nil), "diff of version 1")

	// Export is YAML that re-applies without change.
	r = h.must(http.StatusOK, h.do(http.MethodGet, BasePath+"/export", h.tokens[auth.RoleViewer], nil), "export")
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/yaml") {
		t.Errorf("export content type %q", ct)
	}
	h.must(http.StatusOK, h.do(http.MethodPost, BasePath+"/apply", admin, r.body), "apply export").json(t, &out)
	for _, c := range out.Changes {
		if c.Action != "unchanged" {
			t.Errorf("re-applying the export changed %+v", c)
		}
	}

	// Delete: refused while in use, then a free resource goes (history stays).
	r = h.must(http.StatusConflict, h.do(http.MethodDelete, BasePath+"/resources/endpoint/people-db", admin, nil), "delete in use")
	if r.errorCode() != CodeConflict || !strings.Contains(r.String(), "quickstart") {
		t.Errorf("delete in use: %s", r)
	}
	h.must(http.StatusOK, h.do(http.MethodPost, BasePath+"/apply", h.tokens[auth.RoleIntegrator], "apiVersion: datahub/v1\nkind: System\nmetadata: {name: scratch}\nspec: {owner: me}\n"), "apply scratch")
	var ch changeJSON
	h.must(http.StatusOK, h.do(http.MethodDelete, BasePath+"/resources/system/scratch", h.tokens[auth.RoleIntegrator], nil), "delete").json(t, &ch)
	if ch.Action != "deleted" || ch.Version != 2 || ch.BeforeDigest == "" {
		t.Fatalf("delete: %+v", ch)
	}
	h.must(http.StatusNotFound, h.do(http.MethodGet, BasePath+"/resources/system/scratch", admin, nil), "get deleted")
	h.must(http.StatusOK, h.do(http.MethodGet, BasePath+"/resources/system/scratch/history", admin, nil), "history of deleted").json(t, &hist)
	if len(hist.Items) != 2 || hist.Items[1].Change != "deleted" {
		t.Fatalf("history of deleted: %+v", hist)
	}
	h.must(http.StatusNotFound, h.do(http.MethodDelete, BasePath+"/resources/system/scratch", admin, nil), "delete twice")
	es = h.auditEntries("action=resource.delete&name=scratch&kind=system")
	if len(es) != 1 || es[0].Actor != "u-integrator" || es[0].BeforeDigest == "" || es[0].AfterDigest != "" {
		t.Fatalf("audit of delete: %+v", es)
	}
}

// runJSON decodes a run with its throughput.
type runJSON struct {
	txlog.Run
	RowsPerSecond float64 `json:"rows_per_second"`
}

func TestRunsContract(t *testing.T) {
	t.Parallel()
	h := newHub(t, true)
	admin := h.admin()
	h.must(http.StatusOK, h.do(http.MethodPost, BasePath+"/apply", admin, quickstart(t)), "apply")

	// Run and wait: the finished run with the statistics of datahub copy.
	var run runJSON
	r := h.must(http.StatusOK, h.do(http.MethodPost, BasePath+"/integrations/quickstart/runs?wait=true", h.tokens[auth.RoleIntegrator], map[string]any{"env": "dev"}), "run")
	r.json(t, &run)
	if run.Status != "succeeded" || run.RowsRead != 300 || run.RowsWritten != 300 || run.Env != "DEV" || run.RequestedBy != "u-integrator" || run.FinishedAt == nil {
		t.Fatalf("run: %s", r)
	}
	var raw map[string]any
	r.json(t, &raw)
	for _, k := range []string{"run_id", "integration", "env", "status", "requested_by", "source", "destination", "mode", "rows_read", "rows_written",
		"rows_rejected", "bytes_read", "bytes_written", "duration_ms", "rows_per_second", "rejects_path", "fast_path", "attempts", "started_at", "finished_at"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("run JSON has no %s: %s", k, r)
		}
	}
	if run.DurationMS > 0 && run.RowsPerSecond <= 0 {
		t.Errorf("rows_per_second %v for %d ms", run.RowsPerSecond, run.DurationMS)
	}
	es := h.auditEntries("action=run.request")
	if len(es) != 1 || es[0].Actor != "u-integrator" || es[0].Remote != "127.0.0.1" || es[0].TargetName != "quickstart" {
		t.Fatalf("audit of run request: %+v", es)
	}

	// Without wait: 202 with the queued run.
	r = h.must(http.StatusAccepted, h.do(http.MethodPost, BasePath+"/integrations/quickstart/runs", admin, map[string]any{"env": "DEV", "params": map[string]string{"k": "v"}}), "run no wait")
	var queued runJSON
	r.json(t, &queued)
	if queued.Status != "queued" || queued.ID == "" {
		t.Fatalf("queued run: %s", r)
	}
	h.must(http.StatusOK, h.do(http.MethodPost, BasePath+"/integrations/quickstart/runs?wait=true", admin, map[string]any{"env": "DEV"}), "third run")

	// Environment checks: integrators may not run in PROD (403 before anything else), an
	// operator may but the integration is not deployed there (422), unknown env 422, unknown
	// integration 404.
	h.must(http.StatusForbidden, h.do(http.MethodPost, BasePath+"/integrations/quickstart/runs", h.tokens[auth.RoleIntegrator], map[string]any{"env": "PROD"}), "integrator in PROD")
	r = h.must(http.StatusUnprocessableEntity, h.do(http.MethodPost, BasePath+"/integrations/quickstart/runs", h.tokens[auth.RoleOperator], map[string]any{"env": "PROD"}), "not deployed")
	if r.errorCode() != CodeInvalid {
		t.Errorf("not deployed: %s", r)
	}
	h.must(http.StatusUnprocessableEntity, h.do(http.MethodPost, BasePath+"/integrations/quickstart/runs", admin, map[string]any{"env": "MARS"}), "unknown env")
	h.must(http.StatusUnprocessableEntity, h.do(http.MethodPost, BasePath+"/integrations/quickstart/runs", admin, map[string]any{}), "no env")
	h.must(http.StatusUnprocessableEntity, h.do(http.MethodPost, BasePath+"/integrations/quickstart/runs", admin, map[string]any{"env": "DEV", "extra": 1}), "unknown field")
	h.must(http.StatusNotFound, h.do(http.MethodPost, BasePath+"/integrations/nope/runs", admin, map[string]any{"env": "DEV"}), "unknown integration")

	// Get by id and by prefix.
	var got runJSON
	h.must(http.StatusOK, h.do(http.MethodGet, BasePath+"/runs/"+run.ID, h.tokens[auth.RoleViewer], nil), "get run").json(t, &got)
	if got.ID != run.ID || got.Status != "succeeded" {
		t.Fatalf("get run: %+v", got)
	}

	// Pagination: three runs, one per page.
	var ids []string
	cursor := ""
	for i := 0; i < 5; i++ {
		var page itemsJSON[runJSON]
		h.must(http.StatusOK, h.do(http.MethodGet, BasePath+"/runs?integration=quickstart&limit=1&cursor="+cursor, admin, nil), "list runs").json(t, &page)
		for _, r := range page.Items {
			ids = append(ids, r.ID)
		}
		if cursor = page.Next; cursor == "" {
			break
		}
	}
	if len(ids) != 3 || ids[0] == ids[1] || ids[1] == ids[2] {
		t.Fatalf("paged runs: %v", ids)
	}
	var page itemsJSON[runJSON]
	h.must(http.StatusOK, h.do(http.MethodGet, BasePath+"/runs?status=succeeded", admin, nil), "list succeeded").json(t, &page)
	if len(page.Items) < 2 {
		t.Fatalf("succeeded runs: %+v", page)
	}
	h.must(http.StatusUnprocessableEntity, h.do(http.MethodGet, BasePath+"/runs?status=bogus", admin, nil), "bad status")
	h.must(http.StatusUnprocessableEntity, h.do(http.MethodGet, BasePath+"/runs?cursor=nope", admin, nil), "bad cursor")

	// A finished run cannot be cancelled; its (empty) rejects are an empty NDJSON body.
	h.must(http.StatusUnprocessableEntity, h.do(http.MethodPost, BasePath+"/runs/"+run.ID+"/cancel", admin, nil), "cancel finished")
	r = h.must(http.StatusOK, h.do(http.MethodGet, BasePath+"/runs/"+run.ID+"/rejects", admin, nil), "no rejects")
	if len(r.body) != 0 || r.header.Get("Content-Type") != "application/x-ndjson" {
		t.Errorf("rejects of a clean run: %q %s", r.body, r.header.Get("Content-Type"))
	}
}

func TestRunRejects(t *testing.T) {
	t.Parallel()
	h := newHub(t, true)
	dir := t.TempDir()
	csv := filepath.Join(dir, "in.csv")
	if err := os.WriteFile(csv, []byte("id,name\n1,one\nnot-a-number,two\n3,three\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	res := fmt.Sprintf(`apiVersion: datahub/v1
kind: System
metadata: {name: s}
spec: {owner: me}
---
apiVersion: datahub/v1
kind: Endpoint
metadata: {name: in}
spec:
  system: s
  type: file
  environments: {DEV: {url: %s}}
  options: {header: "true"}
---
apiVersion: datahub/v1
kind: Endpoint
metadata: {name: out}
spec:
  system: s
  type: sqlite
  environments: {DEV: {url: "sqlite:%s"}}
---
apiVersion: datahub/v1
kind: Integration
metadata: {name: typed}
spec:
  source: {endpoint: in}
  destination: {endpoint: out, table: t, mode: replace}
  mapping:
    columns:
      - {from: id, type: int64}
      - {from: name}
  trigger: {type: manual}
`, csv, filepath.Join(dir, "out.db"))
	h.must(http.StatusOK, h.do(http.MethodPost, BasePath+"/apply", h.admin(), res), "apply")
	var run runJSON
	h.must(http.StatusOK, h.do(http.MethodPost, BasePath+"/integrations/typed/runs?wait=true", h.admin(), map[string]any{"env": "DEV"}), "run").json(t, &run)
	if run.RowsRejected != 1 || run.RejectsPath == "" {
		t.Fatalf("run: %+v", run)
	}
	// Rejects are data: a viewer may see the run, not them (finding 2 of issue 8).
	if r := h.do(http.MethodGet, BasePath+"/runs/"+run.ID+"/rejects", h.tokens[auth.RoleViewer], nil); r.status != http.StatusForbidden ||
		!strings.Contains(r.String(), "data.read") {
		t.Fatalf("rejects for a viewer: %d %s", r.status, r)
	}
	r := h.must(http.StatusOK, h.do(http.MethodGet, BasePath+"/runs/"+run.ID+"/rejects", h.tokens[auth.RoleIntegrator], nil), "rejects")
	lines := strings.Split(strings.TrimSpace(r.String()), "\n")
	var line map[string]any
	if len(lines) != 1 || json.Unmarshal([]byte(lines[0]), &line) != nil || line["run_id"] != run.ID {
		t.Fatalf("rejects: %s", r)
	}

	// A rejects path outside <data>/rejects is never served.
	ctx := context.Background()
	outside := t.TempDir()
	if err := os.WriteFile(filepath.Join(outside, "rejects.ndjson"), []byte(`{"leak":true}`+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(h.dir, "rejects", "link")
	if err := os.Symlink(outside, link); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{outside, filepath.Join(h.dir, "rejects", "..", "..", filepath.Base(outside)), link} {
		fake := txlog.Run{ID: txlog.NewID(), Kind: "integration", Integration: "typed", Env: "DEV", Source: "x", Destination: "y",
			Mode: "append", Status: "queued", StartedAt: time.Now()}
		if err := h.txlog.Start(ctx, &fake); err != nil {
			t.Fatal(err)
		}
		fake.Status, fake.RejectsPath = "partial", p
		if err := h.txlog.Finish(ctx, &fake); err != nil {
			t.Fatal(err)
		}
		r := h.do(http.MethodGet, BasePath+"/runs/"+fake.ID+"/rejects", h.admin(), nil)
		if r.status != http.StatusNotFound || strings.Contains(r.String(), "leak") {
			t.Errorf("rejects at %s: %d %s", p, r.status, r)
		}
	}
}

func TestCancelContract(t *testing.T) {
	t.Parallel()
	h := newHub(t, false) // no worker: runs stay queued
	admin := h.admin()
	h.must(http.StatusOK, h.do(http.MethodPost, BasePath+"/apply", admin, quickstart(t)), "apply")
	var run runJSON
	h.must(http.StatusAccepted, h.do(http.MethodPost, BasePath+"/integrations/quickstart/runs", admin, map[string]any{"env": "DEV"}), "run").json(t, &run)
	h.must(http.StatusForbidden, h.do(http.MethodPost, BasePath+"/runs/"+run.ID+"/cancel", h.tokens[auth.RoleViewer], nil), "viewer cancels")
	h.must(http.StatusOK, h.do(http.MethodPost, BasePath+"/runs/"+run.ID[:13]+"/cancel", h.tokens[auth.RoleIntegrator], nil), "cancel by prefix").json(t, &run)
	if run.Status != "cancel_requested" {
		t.Fatalf("cancelled run: %+v", run)
	}
	es := h.auditEntries("action=run.cancel")
	if len(es) != 1 || es[0].Actor != "u-integrator" || es[0].Remote != "127.0.0.1" {
		t.Fatalf("audit of cancel: %+v", es)
	}

	// A PROD run: integrators may not cancel it, operators may.
	ctx := context.Background()
	prod := txlog.Run{ID: txlog.NewID(), Kind: "integration", Integration: "quickstart", Env: "PROD", Source: "x", Destination: "y",
		Mode: "replace", Status: "queued", StartedAt: time.Now()}
	if err := h.txlog.Start(ctx, &prod); err != nil {
		t.Fatal(err)
	}
	h.must(http.StatusForbidden, h.do(http.MethodPost, BasePath+"/runs/"+prod.ID+"/cancel", h.tokens[auth.RoleIntegrator], nil), "integrator cancels PROD")
	h.must(http.StatusOK, h.do(http.MethodPost, BasePath+"/runs/"+prod.ID+"/cancel", h.tokens[auth.RoleOperator], nil), "operator cancels PROD")
	// Two runs share the prefix of a UUIDv7's first characters: ambiguous.
	h.must(http.StatusUnprocessableEntity, h.do(http.MethodGet, BasePath+"/runs/"+run.ID[:4], admin, nil), "ambiguous prefix")
}

func TestSecretsContract(t *testing.T) {
	t.Parallel()
	h := newHub(t, false)
	admin := h.admin()
	const value = "s3cr3t-value-never-shown"
	var put putSecretBody
	r := h.must(http.StatusOK, h.do(http.MethodPut, BasePath+"/secrets/pg.password", h.tokens[auth.RoleIntegrator], map[string]any{"value": value}), "put")
	r.json(t, &put)
	if put.Name != "pg.password" || put.UpdatedAt.IsZero() || strings.Contains(r.String(), value) {
		t.Fatalf("put: %s", r)
	}
	h.must(http.StatusOK, h.do(http.MethodPut, BasePath+"/secrets/pg.password", admin, map[string]any{"value": value + "2"}), "replace")
	h.must(http.StatusForbidden, h.do(http.MethodPut, BasePath+"/secrets/x", h.tokens[auth.RoleOperator], map[string]any{"value": value}), "operator puts")
	r = h.must(http.StatusOK, h.do(http.MethodGet, BasePath+"/secrets", h.tokens[auth.RoleOperator], nil), "list")
	var list itemsJSON[map[string]any]
	r.json(t, &list)
	if len(list.Items) != 1 || list.Items[0]["name"] != "pg.password" || strings.Contains(r.String(), value) {
		t.Fatalf("list: %s", r)
	}
	for k := range list.Items[0] {
		if k != "name" && k != "created_at" && k != "updated_at" {
			t.Errorf("secret listing shows %s", k)
		}
	}
	h.must(http.StatusForbidden, h.do(http.MethodGet, BasePath+"/secrets", h.tokens[auth.RoleViewer], nil), "viewer lists")
	for _, c := range []struct {
		name string
		body any
	}{{"-bad", map[string]any{"value": "x"}}, {"ok", map[string]any{"value": ""}}, {"ok", map[string]any{"value": strings.Repeat("x", 64<<10+1)}},
		{"ok", map[string]any{"value": 12345}}, {"ok", map[string]any{"value": value, "extra": value}}} {
		r := h.do(http.MethodPut, BasePath+"/secrets/"+c.name, admin, c.body)
		if r.status != http.StatusUnprocessableEntity || r.errorCode() != CodeInvalid || strings.Contains(r.String(), value) || strings.Contains(r.String(), "12345") {
			t.Errorf("put %s: %d %.300s", c.name, r.status, r)
		}
	}
	// A body that is not JSON is refused without echoing it.
	r = h.do(http.MethodPut, BasePath+"/secrets/ok", admin, `{"value": "`+value+`"`, "application/json")
	if r.status != http.StatusBadRequest || strings.Contains(r.String(), value) {
		t.Errorf("malformed put: %d %s", r.status, r)
	}
	h.must(http.StatusNoContent, h.do(http.MethodDelete, BasePath+"/secrets/pg.password", admin, nil), "delete")
	h.must(http.StatusNotFound, h.do(http.MethodDelete, BasePath+"/secrets/pg.password", admin, nil), "delete twice")

	es := h.auditEntries("action=secret.*")
	if len(es) != 3 || es[0].Action != "secret.delete" || es[2].Actor != "u-integrator" || es[2].TargetName != "pg.password" {
		t.Fatalf("audit: %+v", es)
	}
	all := h.do(http.MethodGet, BasePath+"/audit?limit=1000", admin, nil)
	if strings.Contains(all.String(), value) || strings.Contains(h.logs.String(), value) {
		t.Fatal("a secret value is in the audit log or the server log")
	}
}

func TestIdentityContract(t *testing.T) {
	t.Parallel()
	h := newHub(t, false)
	admin := h.admin()

	// me.
	var me meBody
	h.must(http.StatusOK, h.do(http.MethodGet, BasePath+"/me", h.tokens[auth.RoleOperator], nil), "me").json(t, &me)
	if me.Name != "u-operator" || me.UserID != h.users[auth.RoleOperator].ID || len(me.Roles) != 1 || me.Roles[0] != auth.RoleOperator || me.Via != auth.ViaToken {
		t.Fatalf("me: %+v", me)
	}

	// Login: success and failure, both audited; the password nowhere.
	var login loginBody
	r := h.must(http.StatusOK, h.do(http.MethodPost, BasePath+"/auth/login", "", map[string]any{"username": "U-Viewer", "password": password}), "login")
	r.json(t, &login)
	if login.Token == "" || login.ExpiresAt == nil || login.User == nil || login.User.Name != "u-viewer" || strings.Contains(r.String(), "argon2") {
		t.Fatalf("login: %s", r)
	}
	h.must(http.StatusOK, h.do(http.MethodGet, BasePath+"/me", login.Token, nil), "me with session")
	const wrong = "wrong-password-123"
	r = h.must(http.StatusUnauthorized, h.do(http.MethodPost, BasePath+"/auth/login", "", map[string]any{"username": "u-viewer", "password": wrong}), "bad login")
	if r.errorCode() != CodeUnauthenticated {
		t.Errorf("bad login: %s", r)
	}
	h.must(http.StatusUnauthorized, h.do(http.MethodPost, BasePath+"/auth/login", "", map[string]any{"username": "nobody", "password": wrong}), "unknown user")
	if es := h.auditEntries("action=auth.login"); len(es) != 1 || es[0].Actor != "u-viewer" || es[0].Remote != "127.0.0.1" {
		t.Fatalf("audit of login: %+v", es)
	}
	es := h.auditEntries("action=auth.login_failed")
	if len(es) != 2 || es[0].TargetName != "nobody" || es[1].TargetName != "u-viewer" || es[0].Remote == "" {
		t.Fatalf("audit of failed logins: %+v", es)
	}
	if all := h.do(http.MethodGet, BasePath+"/audit?limit=1000", admin, nil); strings.Contains(all.String(), wrong) || strings.Contains(all.String(), password) {
		t.Fatal("a password is in the audit log")
	}
	if strings.Contains(h.logs.String(), wrong) || strings.Contains(h.logs.String(), password) {
		t.Fatal("a password is in the server log")
	}
	// OIDC is not configured here.
	h.must(http.StatusNotFound, h.do(http.MethodGet, BasePath+"/auth/oidc/login", "", nil), "oidc login")

	// Users.
	var u auth.User
	r = h.must(http.StatusCreated, h.do(http.MethodPost, BasePath+"/users", admin, map[string]any{"name": "Carol", "password": password,
		"roles": []string{"integrator"}, "email": "carol@example.org", "display_name": "Carol"}), "create user")
	r.json(t, &u)
	if u.Name != "carol" || !u.HasPassword || u.Email != "carol@example.org" || strings.Contains(r.String(), "argon2") {
		t.Fatalf("create user: %s", r)
	}
	h.must(http.StatusConflict, h.do(http.MethodPost, BasePath+"/users", admin, map[string]any{"name": "carol", "roles": []string{}}), "duplicate user")
	h.must(http.StatusUnprocessableEntity, h.do(http.MethodPost, BasePath+"/users", admin, map[string]any{"name": "dave", "password": "short", "roles": []string{}}), "weak password")
	h.must(http.StatusUnprocessableEntity, h.do(http.MethodPost, BasePath+"/users", admin, map[string]any{"name": "dave", "roles": []string{"emperor"}}), "unknown role")
	h.must(http.StatusForbidden, h.do(http.MethodPost, BasePath+"/users", h.tokens[auth.RoleIntegrator], map[string]any{"name": "dave", "roles": []string{}}), "integrator creates user")
	h.must(http.StatusOK, h.do(http.MethodPut, BasePath+"/users/carol/roles", admin, map[string]any{"roles": []string{"operator", "viewer"}}), "set roles").json(t, &u)
	if len(u.Roles) != 2 || u.Roles[0] != auth.RoleOperator {
		t.Fatalf("set roles: %+v", u)
	}
	h.must(http.StatusNotFound, h.do(http.MethodPut, BasePath+"/users/nobody/roles", admin, map[string]any{"roles": []string{"viewer"}}), "roles of nobody")
	h.must(http.StatusConflict, h.do(http.MethodPut, BasePath+"/users/u-admin/roles", admin, map[string]any{"roles": []string{"viewer"}}), "last admin")
	var users itemsJSON[map[string]any]
	r = h.must(http.StatusOK, h.do(http.MethodGet, BasePath+"/users", h.tokens[auth.RoleViewer], nil), "list users")
	r.json(t, &users)
	if len(users.Items) != len(auth.Roles())+1 || strings.Contains(r.String(), "argon2") || strings.Contains(r.String(), "password_hash") {
		t.Fatalf("users: %s", r)
	}
	if es := h.auditEntries("action=role.change"); len(es) != 1 || es[0].TargetName != "carol" || !strings.Contains(es[0].Details, "operator") {
		t.Fatalf("audit of role change: %+v", es)
	}
	if es := h.auditEntries("action=user.create"); len(es) != 1 || strings.Contains(es[0].Details, password) {
		t.Fatalf("audit of user create: %+v", es)
	}

	// Tokens: create (shown once), use, list, revoke.
	var nt newTokenBody
	h.must(http.StatusCreated, h.do(http.MethodPost, BasePath+"/tokens", h.tokens[auth.RoleViewer], map[string]any{"name": "ci", "expires_in": "30d"}), "create token").json(t, &nt)
	if !strings.HasPrefix(nt.Token, auth.TokenPrefix) || nt.ID == "" || nt.ExpiresAt == nil || time.Until(*nt.ExpiresAt) < 29*24*time.Hour {
		t.Fatalf("new token: %+v", nt)
	}
	h.must(http.StatusOK, h.do(http.MethodGet, BasePath+"/me", nt.Token, nil), "me with new token").json(t, &me)
	if me.Name != "u-viewer" {
		t.Fatalf("new token is %s's", me.Name)
	}
	var toks itemsJSON[auth.Token]
	r = h.must(http.StatusOK, h.do(http.MethodGet, BasePath+"/tokens", nt.Token, nil), "list tokens")
	r.json(t, &toks)
	if len(toks.Items) != 3 || strings.Contains(r.String(), nt.Token) { // test token, login session, ci
		t.Fatalf("tokens: %s", r)
	}
	h.must(http.StatusForbidden, h.do(http.MethodGet, BasePath+"/tokens?user=u-admin", nt.Token, nil), "viewer lists admin's tokens")
	h.must(http.StatusForbidden, h.do(http.MethodPost, BasePath+"/tokens", nt.Token, map[string]any{"name": "x", "user": "u-admin"}), "viewer creates admin's token")
	h.must(http.StatusOK, h.do(http.MethodGet, BasePath+"/tokens?user=u-viewer", admin, nil), "admin lists viewer's tokens").json(t, &toks)
	if len(toks.Items) != 3 {
		t.Fatalf("admin's view of the viewer's tokens: %+v", toks)
	}
	h.must(http.StatusOK, h.do(http.MethodGet, BasePath+"/tokens?user=*", admin, nil), "all tokens")
	h.must(http.StatusNotFound, h.do(http.MethodDelete, BasePath+"/tokens/"+h.users[auth.RoleAdmin].ID, nt.Token, nil), "revoke someone else's")
	h.must(http.StatusNoContent, h.do(http.MethodDelete, BasePath+"/tokens/"+nt.ID, nt.Token, nil), "revoke")
	h.must(http.StatusUnauthorized, h.do(http.MethodGet, BasePath+"/me", nt.Token, nil), "revoked token")
	// A service account's token that never expires, made by an admin.
	h.must(http.StatusCreated, h.do(http.MethodPost, BasePath+"/users", admin, map[string]any{"name": "robot", "roles": []string{"operator"}}), "service account")
	r = h.must(http.StatusCreated, h.do(http.MethodPost, BasePath+"/tokens", admin, map[string]any{"name": "forever", "user": "robot", "expires_in": "never"}), "never")
	var forever map[string]any
	r.json(t, &forever)
	if v, ok := forever["expires_at"]; !ok || v != nil {
		t.Fatalf("token that never expires: %s", r)
	}
	h.must(http.StatusForbidden, h.do(http.MethodPost, BasePath+"/tokens", h.tokens[auth.RoleViewer], map[string]any{"name": "x", "expires_in": "never"}), "viewer never")
	h.must(http.StatusUnprocessableEntity, h.do(http.MethodPost, BasePath+"/tokens", admin, map[string]any{"name": "x", "expires_in": "soon"}), "bad lifetime")
	h.must(http.StatusCreated, h.do(http.MethodPost, BasePath+"/tokens", admin, map[string]any{"name": "x", "expires_in": 3600}), "seconds")
	if es := h.auditEntries("action=token.*"); len(es) != 4 || es[1].Action != "token.create" || es[2].Action != "token.revoke" {
		t.Fatalf("audit of tokens: %+v", es)
	}
	if all := h.do(http.MethodGet, BasePath+"/audit?limit=1000", admin, nil); strings.Contains(all.String(), nt.Token) || strings.Contains(h.logs.String(), nt.Token) {
		t.Fatal("a token is in the audit log or the server log")
	}
}

func TestAuditContract(t *testing.T) {
	t.Parallel()
	h := newHub(t, false)
	admin := h.admin()
	for i := range 3 {
		h.must(http.StatusOK, h.do(http.MethodPost, BasePath+"/apply", admin, fmt.Sprintf("apiVersion: datahub/v1\nkind: System\nmetadata: {name: s%d}\nspec: {owner: me}\n", i)), "apply")
	}
	var page itemsJSON[audit.Entry]
	h.must(http.StatusOK, h.do(http.MethodGet, BasePath+"/audit?limit=2", h.tokens[auth.RoleViewer], nil), "page 1").json(t, &page)
	if len(page.Items) != 2 || page.Next == "" || page.Items[0].Seq != 3 {
		t.Fatalf("page 1: %+v", page)
	}
	h.must(http.StatusOK, h.do(http.MethodGet, BasePath+"/audit?limit=2&cursor="+page.Next, admin, nil), "page 2").json(t, &page)
	if len(page.Items) != 1 || page.Next != "" || page.Items[0].Seq != 1 {
		t.Fatalf("page 2: %+v", page)
	}
	if es := h.auditEntries("actor=u-admin&kind=System&name=s1"); len(es) != 1 || es[0].TargetName != "s1" {
		t.Fatalf("filtered: %+v", es)
	}
	if es := h.auditEntries("since=1h&until=" + time.Now().Add(time.Hour).UTC().Format(time.RFC3339)); len(es) != 3 {
		t.Fatalf("since/until: %+v", es)
	}
	if es := h.auditEntries("until=2000-01-01"); len(es) != 0 {
		t.Fatalf("until 2000: %+v", es)
	}
	h.must(http.StatusUnprocessableEntity, h.do(http.MethodGet, BasePath+"/audit?since=yesterday", admin, nil), "bad since")
	h.must(http.StatusUnprocessableEntity, h.do(http.MethodGet, BasePath+"/audit?cursor=x", admin, nil), "bad cursor")
	var v verifyBody
	h.must(http.StatusOK, h.do(http.MethodGet, BasePath+"/audit/verify", h.tokens[auth.RoleApprover], nil), "verify").json(t, &v)
	if !v.OK || v.Entries != 3 {
		t.Fatalf("verify: %+v", v)
	}
	h.must(http.StatusUnauthorized, h.do(http.MethodGet, BasePath+"/audit", "", nil), "no token")
	// An edited entry is found.
	if _, err := h.db.Exec(context.Background(), `UPDATE audit_entries SET actor = ? WHERE seq = 2`, "mallory"); err != nil {
		t.Fatal(err)
	}
	h.must(http.StatusOK, h.do(http.MethodGet, BasePath+"/audit/verify", admin, nil), "verify").json(t, &v)
	if v.OK || v.Entries != 1 || v.FirstBadSeq != 2 || !strings.HasPrefix(v.Reason, "edited") {
		t.Fatalf("verify after an edit: %+v", v)
	}
}
