package api

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/datahub-oss/datahub/internal/auth"
	"github.com/datahub-oss/datahub/internal/runstatus"
	"github.com/datahub-oss/datahub/internal/txlog"
)

// POST /runs/{id}/resume takes the rights of a new run in the run's environment, refuses what
// cannot be resumed with 422 saying why, and queues (202) and audits what can.
func TestResumeContract(t *testing.T) {
	t.Parallel()
	h := newHub(t, false) // no worker: a resumed run stays queued
	admin := h.admin()
	h.must(http.StatusOK, h.do(http.MethodPost, BasePath+"/apply", admin, quickstart(t)), "apply")
	ctx := context.Background()
	record := func(env, mode string, status runstatus.Status, pos []byte) txlog.Run {
		r := txlog.Run{ID: txlog.NewID(), Kind: "integration", Integration: "quickstart", Env: env, Source: "x", Destination: "y",
			Mode: mode, Status: "queued", StartedAt: time.Now()}
		if err := h.txlog.Start(ctx, &r); err != nil {
			t.Fatal(err)
		}
		if pos != nil {
			if err := h.txlog.Checkpoint(ctx, r.ID, pos, txlog.Stats{RowsWritten: 10}); err != nil {
				t.Fatal(err)
			}
		}
		r.Status = status
		if err := h.txlog.Finish(ctx, &r); err != nil {
			t.Fatal(err)
		}
		return r
	}
	path := func(r txlog.Run) string { return BasePath + "/runs/" + r.ID + "/resume" }
	prod := record("PROD", "append", "failed", []byte("pos"))
	h.must(http.StatusForbidden, h.do(http.MethodPost, path(prod), h.tokens[auth.RoleViewer], nil), "viewer resumes")
	h.must(http.StatusForbidden, h.do(http.MethodPost, path(prod), h.tokens[auth.RoleIntegrator], nil), "integrator resumes PROD")
	for _, tc := range []struct {
		name string
		run  txlog.Run
		want string
	}{
		{"no checkpoint", record("DEV", "append", "failed", nil), "no checkpoint"},
		{"replace", record("DEV", "replace", "failed", []byte("pos")), "replace"},
		{"succeeded", record("DEV", "append", "succeeded", []byte("pos")), "only a failed or cancelled run"},
		// The recorded source and destination are not the integration's any more.
		{"integration changed", record("DEV", "append", "failed", []byte("pos")), "changed since run"},
	} {
		r := h.do(http.MethodPost, path(tc.run), h.tokens[auth.RoleIntegrator], nil)
		if r.status != http.StatusUnprocessableEntity || !strings.Contains(r.String(), tc.want) {
			t.Errorf("%s: %d %s", tc.name, r.status, r)
		}
	}
	if es := h.auditEntries("action=run.resume"); len(es) != 0 {
		t.Fatalf("refused resumes audited: %+v", es)
	}
}
