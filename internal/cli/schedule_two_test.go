package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestScheduleTwoServes is issue 4's check: an "@every 2s" schedule with two `datahub serve`
// processes sharing one PostgreSQL store and one NATS server fires once per tick, every 2 s:
// one run per tick, each tick fired by one process only.
func TestScheduleTwoServes(t *testing.T) {
	if testing.Short() {
		t.Skip("needs PostgreSQL and NATS; skipped with -short")
	}
	natsURL := testNATS(t)
	store := pgURL(t, "dh_test_cli_sched2_store")
	dst := pgURL(t, "dh_test_cli_sched2_dst")
	csv := filepath.Join(t.TempDir(), "rows.csv")
	if err := os.WriteFile(csv, []byte("id,name\n1,a\n2,b\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := []string{fmt.Sprintf("DATAHUB_NATS_PREFIX=sched%d", time.Now().UnixNano()%1e9), "DATAHUB_LEASE_TTL=3s"}
	a := startServe(t, "server A", store, natsURL, env...)
	b := startServe(t, "server B", store, natsURL, env...)
	raw, err := os.ReadFile(filepath.Join(a.data, "admin.token"))
	if err != nil {
		t.Fatal(err)
	}
	token := strings.TrimSpace(string(raw))
	resources := fmt.Sprintf(`apiVersion: datahub/v1
kind: System
metadata: {name: sys}
spec: {owner: team}
---
apiVersion: datahub/v1
kind: Endpoint
metadata: {name: rows}
spec: {system: sys, type: file, environments: {DEV: {url: %q}}, options: {header: "true"}}
---
apiVersion: datahub/v1
kind: Endpoint
metadata: {name: db}
spec: {system: sys, type: postgres, environments: {DEV: {url: %q}}}
---
apiVersion: datahub/v1
kind: Integration
metadata: {name: every2s}
spec:
  source: {endpoint: rows}
  destination: {endpoint: db, table: public.t, mode: replace}
  trigger: {type: schedule, cron: "@every 2s", env: DEV}
`, csv, dst)
	if code, body := api(t, a.base, token, "POST", "/api/v1/apply", "application/yaml", resources); code != 200 {
		t.Fatalf("apply: %d %s", code, body)
	}
	time.Sleep(11 * time.Second)
	// Stop firing, so that the ticks and the runs can be compared at rest. A tick claimed
	// after the delete has no run ("not found"): only the ticks before it are compared.
	deleted := time.Now()
	if code, body := api(t, a.base, token, "DELETE", "/api/v1/resources/Integration/every2s", "", ""); code != 200 && code != 204 {
		t.Logf("delete the integration: %d %s (the ticks are compared anyway)", code, body)
	}
	time.Sleep(2 * time.Second)

	ticks := strings.Fields(pgQuery(t, store, `SELECT coalesce(string_agg(tick_time||'|'||run_id||'|'||fired_by, ' ' ORDER BY tick_time), '') FROM trigger_ticks WHERE integration = 'every2s'`))
	if len(ticks) < 3 {
		t.Fatalf("%d ticks in 11 s of an @every 2s schedule: %v", len(ticks), ticks)
	}
	runIDs := map[string]bool{}
	var prev time.Time
	for i, tk := range ticks {
		parts := strings.Split(tk, "|")
		at, err := time.Parse(time.RFC3339Nano, parts[0])
		if err != nil {
			t.Fatalf("tick %q: %v", tk, err)
		}
		if at.After(deleted) {
			ticks = ticks[:i]
			break
		}
		if parts[1] == "" || runIDs[parts[1]] {
			t.Errorf("tick %s: run %q missing or shared with another tick", parts[0], parts[1])
		}
		runIDs[parts[1]] = true
		if i > 0 && at.Sub(prev) != 2*time.Second {
			t.Errorf("ticks %s and %s are not 2 s apart (a tick skipped while both servers ran?)", prev, at)
		}
		prev = at
	}
	// One run per tick: nothing was fired twice, by either process.
	code, body := api(t, a.base, token, "GET", "/api/v1/runs?integration=every2s&limit=100", "", "")
	if code != 200 {
		t.Fatalf("list runs: %d %s", code, body)
	}
	var page struct {
		Items []runView `json:"items"`
	}
	if err := json.Unmarshal(body, &page); err != nil {
		t.Fatal(err)
	}
	if len(page.Items) != len(ticks) {
		t.Errorf("%d runs for %d ticks: %s", len(page.Items), len(ticks), body)
	}
	for _, r := range page.Items {
		if !runIDs[r.ID] {
			t.Errorf("run %s belongs to no tick", r.ID)
		}
	}
	fired := 0
	for _, p := range []*hubProc{a, b} {
		lg, _ := os.ReadFile(p.log)
		fired += strings.Count(string(lg), `"schedule fired"`)
	}
	if fired != len(ticks) {
		t.Errorf("the two servers logged %d firings for %d ticks", fired, len(ticks))
	}
	t.Logf("%d ticks, %d runs: %v", len(ticks), len(page.Items), ticks)
}
