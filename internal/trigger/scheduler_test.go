package trigger

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/datahub-oss/datahub/internal/bus"
	"github.com/datahub-oss/datahub/internal/catalog"
	_ "github.com/datahub-oss/datahub/internal/connectors/all" // the connectors Endpoint types name
	"github.com/datahub-oss/datahub/internal/runs"
	"github.com/datahub-oss/datahub/internal/store"
	"github.com/datahub-oss/datahub/internal/store/storetest"
	"github.com/datahub-oss/datahub/internal/txlog"
)

// fakeRequester counts run requests.
type fakeRequester struct {
	mu   sync.Mutex
	reqs []runs.Request
	at   []time.Time
}

func (f *fakeRequester) Request(_ context.Context, r runs.Request) (txlog.Run, error) {
	now := time.Now()
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reqs = append(f.reqs, r)
	f.at = append(f.at, now)
	return txlog.Run{ID: txlog.NewID(), Integration: r.Integration, Env: r.Env}, nil
}

func (f *fakeRequester) requests() []runs.Request {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.reqs)
}

// fakePublisher counts events.
type fakePublisher struct {
	mu     sync.Mutex
	events []string
}

func (f *fakePublisher) Publish(_ context.Context, subject string, data []byte, _ map[string]string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.events = append(f.events, subject+" "+string(data))
	return nil
}

// testBuses starts an embedded NATS and returns n connections to it, as n processes have.
func testBuses(t *testing.T, n int) []*bus.Bus {
	t.Helper()
	ctx := context.Background()
	first, err := bus.Open(ctx, bus.Config{DataDir: t.TempDir(), Listen: "127.0.0.1:0", Name: "p0", LeaseTTL: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	out := []*bus.Bus{first}
	for i := 1; i < n; i++ {
		b, err := bus.Open(ctx, bus.Config{URL: first.ClientURL(), Name: fmt.Sprintf("p%d", i), LeaseTTL: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	t.Cleanup(func() {
		for i := len(out) - 1; i >= 0; i-- {
			_ = out[i].Close(context.Background())
		}
	})
	return out
}

// resources is a catalog with a file folder endpoint and a SQLite one, plus integrations.
func resources(folder, dbFile string, integrations ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, `apiVersion: datahub/v1
kind: System
metadata: {name: sys}
spec: {owner: team, classification: internal}
---
apiVersion: datahub/v1
kind: Endpoint
metadata: {name: folder}
spec:
  system: sys
  type: file
  environments: {DEV: {url: %q}}
  classificationClearance: internal
---
apiVersion: datahub/v1
kind: Endpoint
metadata: {name: db}
spec:
  system: sys
  type: sqlite
  environments: {DEV: {url: %q}}
  classificationClearance: internal
`, folder, "sqlite:"+dbFile)
	for _, in := range integrations {
		b.WriteString("---\n" + in)
	}
	return b.String()
}

// integration is an Integration document with a trigger (one line of YAML flow mapping).
func integration(name, trigger string) string {
	return fmt.Sprintf(`apiVersion: datahub/v1
kind: Integration
metadata: {name: %s}
spec:
  source: {endpoint: folder}
  destination: {endpoint: db, table: t, mode: append}
  classification: internal
  trigger: %s
`, name, trigger)
}

func applyAll(t testing.TB, cat *catalog.Service, text string) {
	t.Helper()
	rs, err := catalog.Parse([]byte(text), "test.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cat.Apply(context.Background(), rs, catalog.ApplyOptions{Actor: "tester"}); err != nil {
		t.Fatal(err)
	}
}

// started runs a scheduler until the returned stop is called (or the test ends).
func started(t testing.TB, cfg Config) (*Scheduler, func()) {
	t.Helper()
	if cfg.RetryEvery == 0 {
		cfg.RetryEvery = 100 * time.Millisecond
	}
	s := New(cfg)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("scheduler %s: %v", cfg.Owner, err)
			}
		})
	}
	t.Cleanup(stop)
	return s, stop
}

func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// recordedTicks returns the tick table of an integration.
func recordedTicks(t *testing.T, db *store.DB, name string) []string {
	t.Helper()
	rows, err := db.Query(context.Background(), `SELECT tick_time FROM trigger_ticks WHERE integration = ? ORDER BY tick_time`, name)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = rows.Close() }()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	return out
}

// checkTicks checks that no tick was requested twice, that the requests match the tick table,
// and returns the requested ticks in order.
func checkTicks(t *testing.T, db *store.DB, name string, fakes ...*fakeRequester) []time.Time {
	t.Helper()
	seen := map[string]bool{}
	var ticks []time.Time
	for _, f := range fakes {
		for _, r := range f.requests() {
			if r.Integration != name {
				continue
			}
			tk := r.Params["tick"]
			if seen[tk] {
				t.Errorf("tick %s fired twice", tk)
			}
			seen[tk] = true
			at, err := time.Parse(time.RFC3339, tk)
			if err != nil {
				t.Fatal(err)
			}
			ticks = append(ticks, at)
			if r.Env != "DEV" || r.Actor != ActorSchedule {
				t.Errorf("request %+v", r)
			}
		}
	}
	sort.Slice(ticks, func(i, j int) bool { return ticks[i].Before(ticks[j]) })
	if rec := recordedTicks(t, db, name); len(rec) != len(ticks) {
		t.Errorf("tick table has %d ticks, requests %d", len(rec), len(ticks))
	}
	return ticks
}

func TestScheduleTwoSchedulers(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		buses := testBuses(t, 2)
		cat := catalog.New(db, catalog.Options{})
		dir := t.TempDir()
		applyAll(t, cat, resources(dir, filepath.Join(dir, "x.db"), integration("every", `{type: schedule, cron: "@every 1s", env: DEV}`)))
		fa, fb := &fakeRequester{}, &fakeRequester{}
		_, stopA := started(t, Config{DB: db, Catalog: cat, Leases: buses[0], Requester: fa, Owner: "a"})
		_, stopB := started(t, Config{DB: db, Catalog: cat, Leases: buses[1], Requester: fb, Owner: "b"})
		time.Sleep(5200 * time.Millisecond)
		stopA()
		stopB()
		ticks := checkTicks(t, db, "every", fa, fb)
		t.Logf("%d fires (a %d, b %d)", len(ticks), len(fa.requests()), len(fb.requests()))
		if len(ticks) < 4 || len(ticks) > 7 {
			t.Errorf("%d fires in ~5 s, want about 5", len(ticks))
		}
		if len(fa.requests()) > 0 && len(fb.requests()) > 0 {
			t.Errorf("both schedulers fired without a leader change")
		}
		for i := 1; i < len(ticks); i++ {
			if d := ticks[i].Sub(ticks[i-1]); d != time.Second {
				t.Errorf("ticks %s and %s are %s apart", ticks[i-1], ticks[i], d)
			}
		}
	})
}

func TestLeaderTakeover(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		buses := testBuses(t, 2)
		cat := catalog.New(db, catalog.Options{})
		dir := t.TempDir()
		applyAll(t, cat, resources(dir, filepath.Join(dir, "x.db"), integration("every", `{type: schedule, cron: "@every 1s", env: DEV}`)))
		fa, fb := &fakeRequester{}, &fakeRequester{}
		a, stopA := started(t, Config{DB: db, Catalog: cat, Leases: buses[0], Requester: fa, Owner: "a"})
		waitFor(t, 5*time.Second, "a to lead", a.IsLeader)
		b, _ := started(t, Config{DB: db, Catalog: cat, Leases: buses[1], Requester: fb, Owner: "b"})
		time.Sleep(2200 * time.Millisecond)
		if b.IsLeader() {
			t.Fatal("b leads while a does")
		}
		stopA()
		killed := time.Now()
		waitFor(t, 3*time.Second, "b to take over", b.IsLeader)
		t.Logf("b took over %s after a stopped", time.Since(killed).Round(time.Millisecond))
		time.Sleep(2200 * time.Millisecond)
		ticks := checkTicks(t, db, "every", fa, fb)
		if len(fa.requests()) < 2 || len(fb.requests()) < 2 {
			t.Errorf("a fired %d, b %d: want both to have fired", len(fa.requests()), len(fb.requests()))
		}
		t.Logf("%d fires over ~4.5 s", len(ticks))
	})
}

// TestLeaseLostOverlap takes the lease away from the leader behind its back: for a moment
// both schedulers believe they lead, and only the tick table keeps a tick from firing twice.
func TestLeaseLostOverlap(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		buses := testBuses(t, 2)
		cat := catalog.New(db, catalog.Options{})
		dir := t.TempDir()
		var docs []string
		for i := range 20 {
			docs = append(docs, integration(fmt.Sprintf("every-%02d", i), `{type: schedule, cron: "@every 1s", env: DEV}`))
		}
		applyAll(t, cat, resources(dir, filepath.Join(dir, "x.db"), docs...))
		fa, fb := &fakeRequester{}, &fakeRequester{}
		a, _ := started(t, Config{DB: db, Catalog: cat, Leases: buses[0], Requester: fa, Owner: "a"})
		waitFor(t, 5*time.Second, "a to lead", a.IsLeader)
		b, _ := started(t, Config{DB: db, Catalog: cat, Leases: buses[1], Requester: fb, Owner: "b", RetryEvery: 10 * time.Millisecond})
		time.Sleep(1500 * time.Millisecond)

		nc, err := nats.Connect(buses[0].ClientURL())
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		js, err := jetstream.New(nc)
		if err != nil {
			t.Fatal(err)
		}
		kv, err := js.KeyValue(t.Context(), bus.LocksBucket)
		if err != nil {
			t.Fatal(err)
		}
		if err := kv.Delete(t.Context(), LeaderKey); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 3*time.Second, "b to lead", b.IsLeader)
		waitFor(t, 3*time.Second, "a to notice", func() bool { return !a.IsLeader() })
		time.Sleep(1500 * time.Millisecond)
		for i := range 20 {
			checkTicks(t, db, fmt.Sprintf("every-%02d", i), fa, fb)
		}
		t.Logf("a fired %d, b %d", len(fa.requests()), len(fb.requests()))
	})
}

func TestCatchUp(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		buses := testBuses(t, 1)
		past := time.Now().Add(-72 * time.Hour)
		cat := catalog.New(db, catalog.Options{Now: func() time.Time { return past }})
		dir := t.TempDir()
		applyAll(t, cat, resources(dir, filepath.Join(dir, "x.db"),
			integration("nightly", `{type: schedule, cron: "0 2 * * *", timezone: Europe/Zurich, env: DEV}`),
			integration("no-catch-up", `{type: schedule, cron: "0 2 * * *", env: DEV, catchUp: false}`)))
		for round := range 2 {
			f := &fakeRequester{}
			s, stop := started(t, Config{DB: db, Catalog: cat, Leases: buses[0], Requester: f, Owner: "a"})
			waitFor(t, 5*time.Second, "leader", s.IsLeader)
			time.Sleep(500 * time.Millisecond)
			stop()
			reqs := f.requests()
			if round == 1 {
				if len(reqs) != 0 {
					t.Errorf("restart fired again: %+v", reqs)
				}
				continue
			}
			if len(reqs) != 1 || reqs[0].Integration != "nightly" || reqs[0].Params["catchUp"] != "true" {
				t.Fatalf("want one catch-up run of nightly, got %+v", reqs)
			}
			sch, _ := ParseCron("0 2 * * *", "Europe/Zurich")
			want := sch.Last(time.Now().Add(-25*time.Hour), time.Now())
			if got := reqs[0].Params["tick"]; got != want.Format(time.RFC3339) {
				t.Errorf("catch-up tick %s, want the last one %s", got, want)
			}
		}
	})
}

func TestFileTrigger(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		buses := testBuses(t, 1)
		cat := catalog.New(db, catalog.Options{})
		dir := t.TempDir()
		inbox := filepath.Join(dir, "inbox")
		if err := os.MkdirAll(inbox, 0o750); err != nil {
			t.Fatal(err)
		}
		applyAll(t, cat, resources(dir, filepath.Join(t.TempDir(), "x.db"),
			integration("files", `{type: file, env: DEV, path: "inbox/*.csv", stableFor: 300ms, pollEvery: 100ms}`)))
		f, pub := &fakeRequester{}, &fakePublisher{}
		cfg := Config{DB: db, Catalog: cat, Leases: buses[0], Requester: f, Publisher: pub, Owner: "a"}
		s, stop := started(t, cfg)
		waitFor(t, 5*time.Second, "leader", s.IsLeader)
		write := func(name, content string) {
			t.Helper()
			if err := os.WriteFile(filepath.Join(inbox, name), []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		count := func(path string) int {
			n := 0
			for _, r := range f.requests() {
				if r.Params["path"] == path {
					n++
				}
			}
			return n
		}

		write("a.csv", "id\n1\n")
		write("ignored.txt", "x")
		waitFor(t, 5*time.Second, "a.csv to fire", func() bool { return count("inbox/a.csv") == 1 })
		r := f.requests()[0]
		if r.Integration != "files" || r.Env != "DEV" || r.Actor != ActorFile {
			t.Errorf("request %+v", r)
		}
		waitFor(t, time.Second, "the event", func() bool { pub.mu.Lock(); defer pub.mu.Unlock(); return len(pub.events) > 0 })
		pub.mu.Lock()
		if len(pub.events) != 1 || !strings.HasPrefix(pub.events[0], "object.received ") || !strings.Contains(pub.events[0], `"object":"inbox/a.csv"`) {
			t.Errorf("events %q", pub.events)
		}
		pub.mu.Unlock()

		// The same bytes again, with a new time: not a new version.
		write("a.csv", "id\n1\n")
		later := time.Now().Add(time.Minute)
		if err := os.Chtimes(filepath.Join(inbox, "a.csv"), later, later); err != nil {
			t.Fatal(err)
		}
		time.Sleep(800 * time.Millisecond)
		if n := count("inbox/a.csv"); n != 1 {
			t.Fatalf("unchanged a.csv fired again (%d)", n)
		}

		// Changed content fires again.
		write("a.csv", "id\n1\n2\n")
		waitFor(t, 5*time.Second, "changed a.csv to fire", func() bool { return count("inbox/a.csv") == 2 })

		// A growing file waits until it is stable.
		growing, err := os.Create(filepath.Join(inbox, "b.csv"))
		if err != nil {
			t.Fatal(err)
		}
		for i := range 10 {
			if _, err := fmt.Fprintf(growing, "%d\n", i); err != nil {
				t.Fatal(err)
			}
			time.Sleep(100 * time.Millisecond)
			if count("inbox/b.csv") != 0 {
				t.Fatal("b.csv fired while still growing")
			}
		}
		if err := growing.Close(); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 5*time.Second, "b.csv to fire", func() bool { return count("inbox/b.csv") == 1 })

		// A restarted scheduler (nothing in memory) knows the versions from the store.
		stop()
		f2 := &fakeRequester{}
		cfg.Requester = f2
		s2, _ := started(t, cfg)
		waitFor(t, 5*time.Second, "leader", s2.IsLeader)
		time.Sleep(800 * time.Millisecond)
		if reqs := f2.requests(); len(reqs) != 0 {
			t.Errorf("restart fired known files again: %+v", reqs)
		}
		if n := count("inbox/ignored.txt"); n != 0 {
			t.Error("a file outside the glob fired")
		}
	})
}
