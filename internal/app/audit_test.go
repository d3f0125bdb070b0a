package app_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/datahub-oss/datahub/internal/audit"
	"github.com/datahub-oss/datahub/internal/config"
	"github.com/datahub-oss/datahub/internal/event"
	"github.com/datahub-oss/datahub/internal/store"
	"github.com/datahub-oss/datahub/internal/testutil"
)

// A hub started on a store with a plain audit chain re-keys it, anchors the head in its anchor
// file and on the bus, and its verify route checks the chain against the anchor: a rollback
// of the tail is caught.
func TestAuditChainKeyedAndAnchored(t *testing.T) {
	ctx := context.Background()
	data := t.TempDir()
	db, err := store.Open(ctx, "", data)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	for _, a := range []string{"resource.apply", "run.request"} {
		if _, err := audit.New(db).Append(ctx, audit.Entry{Actor: "alice", Action: a}); err != nil {
			t.Fatal(err)
		}
	}
	cfg := config.Default()
	cfg.Data, cfg.Addr = data, "127.0.0.1:0"
	cfg.Audit.AnchorInterval = time.Hour // only the anchor at start
	h, _ := start(t, cfg)

	file := filepath.Join(data, audit.AnchorFileName)
	var anchor audit.Anchor
	testutil.WaitFor(t, 10*time.Second, "the anchor file", func() bool {
		af, err := audit.ReadAnchorFile(file)
		var ok bool
		anchor, ok = af.Latest("")
		return err == nil && ok
	})
	rep, err := h.Audit.Verify(ctx)
	if err != nil || !rep.OK || rep.Scheme != audit.SchemeKeyed || anchor.KeyID != rep.KeyID || anchor.Seq < 3 {
		t.Fatalf("Verify = %+v, %v; anchor %+v", rep, err, anchor)
	}
	p, err := h.Audit.List(ctx, audit.Filter{Action: "audit.rekey"})
	if err != nil || len(p.Entries) != 1 || p.Entries[0].Seq != 3 {
		t.Fatalf("re-key entries %+v, %v", p.Entries, err)
	}
	evs, err := h.Bus.ReadEvents(ctx, string(event.AuditAnchor), 10, 2*time.Second)
	if err != nil || len(evs) == 0 {
		t.Fatalf("audit.anchor events: %d, %v", len(evs), err)
	}
	e, err := event.Unmarshal(evs[len(evs)-1].Data)
	if err != nil || e.Anchor == nil || e.Anchor.Seq != anchor.Seq || e.Anchor.Hash != anchor.Hash || e.Anchor.KeyID != anchor.KeyID {
		t.Fatalf("audit.anchor event %+v, %v; want %+v", e, err, anchor)
	}

	token, err := os.ReadFile(filepath.Join(data, "admin.token"))
	if err != nil {
		t.Fatal(err)
	}
	c := client{t: t, base: "http://" + h.Addr, token: strings.TrimSpace(string(token))}
	verify := func(query string) map[string]any {
		t.Helper()
		code, b := c.do("GET", "/api/v1/audit/verify"+query, "", nil)
		var out map[string]any
		if err := json.Unmarshal(b, &out); err != nil || code != 200 {
			t.Fatalf("verify%s: %d %s", query, code, b)
		}
		return out
	}
	if v := verify(""); v["ok"] != true || v["anchor"] != anchor.String() || v["anchor_from"] != "file" {
		t.Fatalf("verify = %v", v)
	}
	if code, b := c.do("POST", "/api/v1/apply", "application/yaml", quickstartYAML(t, filepath.Join(t.TempDir(), "q.db"))); code != 200 {
		t.Fatalf("apply: %d %s", code, b)
	}
	headSeq, headHash, err := h.Audit.Head(ctx)
	if err != nil || headSeq <= anchor.Seq {
		t.Fatalf("head %d, %v", headSeq, err)
	}
	held := audit.Anchor{Seq: headSeq, Hash: headHash}.String()
	if v := verify("?anchor=" + held); v["ok"] != true || v["anchor_from"] != "request" {
		t.Fatalf("verify with the head as anchor = %v", v)
	}
	if code, b := c.do("GET", "/api/v1/audit/verify?anchor=12:nothex", "", nil); code != 422 || !strings.Contains(string(b), "SEQ:HASH") {
		t.Fatalf("a malformed anchor: %d %s", code, b)
	}

	// Someone with the store rolls the tail back to entry 2 and moves the head to match:
	// the chain verifies alone, not against either anchor.
	var hash2 string
	if err := db.QueryRow(ctx, `SELECT hash FROM audit_entries WHERE seq = 2`).Scan(&hash2); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(ctx, `DELETE FROM audit_entries WHERE seq > 2`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(ctx, `UPDATE audit_head SET seq = 2, hash = ?`, hash2); err != nil {
		t.Fatal(err)
	}
	if rep, err := h.Audit.Verify(ctx); err != nil || !rep.OK {
		t.Fatalf("the rolled back chain alone: %+v, %v", rep, err)
	}
	for _, q := range []string{"", "?anchor=" + held} {
		v := verify(q)
		if v["ok"] != false || v["first_bad_seq"] != float64(3) || !strings.HasPrefix(v["reason"].(string), "rollback: ") {
			t.Fatalf("verify%s after a rollback = %v", q, v)
		}
	}
	_ = db.Close()
}
