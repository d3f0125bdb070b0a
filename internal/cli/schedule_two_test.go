package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/datahub-oss/datahub/internal/testutil"
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
	startServe(t, "server B", store, natsURL, env...)
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
	ticksWithRun := func() int {
		n, _ := strconv.Atoi(strings.TrimSpace(pgQuery(t, store, `SELECT count(*) FROM trigger_ticks WHERE integration = 'every2s' AND run_id <> ''`)))
		return n
	}
	testutil.Eventually(t, time.Minute, 250*time.Millisecond, func() error {
		return testutil.Checkf(ticksWithRun() >= 5, "%d ticks with a run so far", ticksWithRun())
	})
	// Stop firing, so that the ticks and the runs can be compared at rest. A tick claimed
	// after the delete has no run ("not found").
	if code, body := api(t, a.base, token, "DELETE", "/api/v1/resources/Integration/every2s", "", ""); code != 200 && code != 204 {
		t.Logf("delete the integration: %d %s (the ticks are compared anyway)", code, body)
	}
	// At rest: no tick for longer than the schedule's 2 s.
	testutil.Eventually(t, 30*time.Second, 250*time.Millisecond, func() error {
		last := strings.TrimSpace(pgQuery(t, store, `SELECT coalesce(max(tick_time), '') FROM trigger_ticks WHERE integration = 'every2s'`))
		at, err := time.Parse(time.RFC3339Nano, last)
		if err != nil {
			return fmt.Errorf("last tick %q: %w", last, err)
		}
		return testutil.Checkf(time.Since(at) > 3*time.Second, "the last tick %s is %s old", last, time.Since(at).Round(time.Millisecond))
	})

	rows := strings.Fields(pgQuery(t, store, `SELECT coalesce(string_agg(tick_time||'|'||run_id, ' ' ORDER BY tick_time), '') FROM trigger_ticks WHERE integration = 'every2s'`))
	tickOf := map[string]string{} // run id → tick
	var ticks []time.Time
	for i, row := range rows {
		tick, runID, _ := strings.Cut(row, "|")
		at, err := time.Parse(time.RFC3339Nano, tick)
		if err != nil {
			t.Fatalf("tick %q: %v", row, err)
		}
		if i > 0 {
			// On the schedule's grid; a tick may be skipped (once, as a catch-up) only if the
			// leader changed under a heavy load, which is logged, not failed.
			if d := at.Sub(ticks[i-1]); d <= 0 || d%(2*time.Second) != 0 {
				t.Errorf("ticks %s and %s are not on the 2 s grid", ticks[i-1], at)
			} else if d != 2*time.Second {
				t.Logf("ticks %s and %s are %s apart", ticks[i-1], at, d)
			}
		}
		ticks = append(ticks, at)
		if runID != "" {
			tickOf[runID] = tick
		}
	}
	if len(tickOf) < 3 {
		t.Fatalf("%d ticks with a run of an @every 2s schedule: %v", len(tickOf), rows)
	}
	// Every run belongs to its own tick: no tick fired twice, by either process.
	code, body := api(t, a.base, token, "GET", "/api/v1/runs?integration=every2s&limit=100", "", "")
	if code != 200 {
		t.Fatalf("list runs: %d %s", code, body)
	}
	var page struct {
		Items []struct {
			ID      string `json:"run_id"`
			Options string `json:"options"`
		} `json:"items"`
	}
	if err := json.Unmarshal(body, &page); err != nil {
		t.Fatal(err)
	}
	seen := map[string]string{} // tick → run
	for _, r := range page.Items {
		var opts struct {
			Params map[string]string `json:"params"`
		}
		_ = json.Unmarshal([]byte(r.Options), &opts)
		tick := opts.Params["tick"]
		if other, dup := seen[tick]; dup {
			t.Errorf("tick %s fired twice: runs %s and %s", tick, other, r.ID)
		}
		seen[tick] = r.ID
		if at, err := time.Parse(time.RFC3339, tick); err != nil || tickOf[r.ID] == "" || !at.Equal(mustTime(t, tickOf[r.ID])) {
			t.Errorf("run %s (tick %q) is not the run recorded for its tick (%q)", r.ID, tick, tickOf[r.ID])
		}
	}
	if len(page.Items) != len(tickOf) {
		t.Errorf("%d runs for %d ticks with a run: %s", len(page.Items), len(tickOf), body)
	}
	t.Logf("%d ticks, %d runs: %v", len(ticks), len(page.Items), rows)
}

func mustTime(t *testing.T, s string) time.Time {
	t.Helper()
	at, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatal(err)
	}
	return at
}
