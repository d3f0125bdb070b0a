package trigger

import (
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/datahub-oss/datahub/internal/catalog"
	"github.com/datahub-oss/datahub/internal/store"
	"github.com/datahub-oss/datahub/internal/store/storetest"
)

// scheduleDelays runs n "@every 1s" schedules for about d and returns the firing delays
// (request time minus tick time) of the regular ticks, sorted.
func scheduleDelays(tb testing.TB, db *store.DB, n int, d time.Duration) []time.Duration {
	buses := testBuses(tb.(*testing.T), 1)
	cat := catalog.New(db, catalog.Options{})
	dir := tb.TempDir()
	docs := make([]string, n)
	for i := range docs {
		docs[i] = integration(fmt.Sprintf("every-%04d", i), `{type: schedule, cron: "@every 1s", env: DEV}`)
	}
	applyAll(tb, cat, resources(dir, filepath.Join(dir, "x.db"), docs...))
	f := &fakeRequester{}
	s, stop := started(tb, Config{DB: db, Catalog: cat, Leases: buses[0], Requester: f, Owner: "a"})
	leads(tb, s, "a")
	time.Sleep(d) // the measurement: real firing delays over d of wall-clock time

	stop()
	f.mu.Lock()
	defer f.mu.Unlock()
	var delays []time.Duration
	for i, r := range f.reqs {
		if r.Params["catchUp"] != "" {
			continue
		}
		tick, err := time.Parse(time.RFC3339, r.Params["tick"])
		if err != nil {
			tb.Fatal(err)
		}
		delays = append(delays, f.at[i].Sub(tick))
	}
	slices.Sort(delays)
	return delays
}

func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	return ds[min(len(ds)-1, int(float64(len(ds))*p))]
}

// TestScheduleDelay1000 is the performance check: firing delay p99 under 1 s with 1,000
// scheduled integrations.
func TestScheduleDelay1000(t *testing.T) {
	if testing.Short() {
		t.Skip("performance check skipped with -short")
	}
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ds := scheduleDelays(t, db, 1000, 3500*time.Millisecond)
		p50, p99, worst := percentile(ds, 0.50), percentile(ds, 0.99), percentile(ds, 1)
		t.Logf("%d fires: delay p50 %s, p99 %s, max %s", len(ds), p50, p99, worst)
		if len(ds) < 2500 {
			t.Errorf("only %d fires of 1,000 schedules in 3.5 s", len(ds))
		}
		if p99 >= time.Second {
			t.Errorf("firing delay p99 %s, want under 1 s", p99)
		}
	})
}
