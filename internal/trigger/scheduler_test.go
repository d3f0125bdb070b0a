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
	"github.com/datahub-oss/datahub/internal/clock"
	_ "github.com/datahub-oss/datahub/internal/connectors/all" // the connectors Endpoint types name
	"github.com/datahub-oss/datahub/internal/event"
	"github.com/datahub-oss/datahub/internal/runs"
	"github.com/datahub-oss/datahub/internal/store"
	"github.com/datahub-oss/datahub/internal/store/storetest"
	"github.com/datahub-oss/datahub/internal/testutil"
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

func (f *fakePublisher) Publish(_ context.Context, e event.Event) error {
	data, err := e.Marshal()
	if err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.events = append(f.events, e.Subject()+" "+string(data))
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

// fakeClock returns a fake clock at the start of the current second. It starts from the
// real time because the catalog stamps its entries with it, and catch-up compares the two.
func fakeClock() *clock.Fake { return clock.NewFake(time.Now().Truncate(time.Second)) }

// clocked fills in what a scheduler on a fake clock needs. Reloads are an hour apart, so
// that only a schedule (or poll) timer wakes the leader's loop: then the number of armed
// timers tells when every scheduler waits again (see idle).
func clocked(cfg Config, fc *clock.Fake) Config {
	cfg.Clock, cfg.ReloadEvery = fc, time.Hour
	return cfg
}

// Timers armed on the fake clock by a scheduler that leads (its next tick and its reload
// ticker) and by one that does not (its next try of the lease).
const (
	leaderTimers   = 2
	followerTimers = 1
)

// idle waits until n timers are armed on fc: every scheduler has done what the last
// Advance made due and waits on its clock again, so the next Advance cannot race it.
func idle(t testing.TB, fc *clock.Fake, n int) {
	t.Helper()
	idleWhen(t, fc, func() int { return n })
}

// idleWhen is idle for a number of timers that depends on the schedulers' state.
func idleWhen(t testing.TB, fc *clock.Fake, want func() int) {
	t.Helper()
	testutil.Eventually(t, 10*time.Second, time.Millisecond, func() error {
		n := want()
		return testutil.Checkf(fc.Waiters() == n, "%d timers armed, want %d", fc.Waiters(), n)
	})
}

// step moves fc on by d once the schedulers wait on it (n timers armed).
func step(t testing.TB, fc *clock.Fake, n int, d time.Duration) {
	t.Helper()
	idle(t, fc, n)
	fc.Advance(d)
}

// fires waits until the fakes hold n requests between them (the run requests of a tick are
// made after the leader's loop waits again).
func fires(t testing.TB, n int, fakes ...*fakeRequester) {
	t.Helper()
	testutil.Eventually(t, 10*time.Second, 5*time.Millisecond, func() error {
		got := 0
		for _, f := range fakes {
			got += len(f.requests())
		}
		return testutil.Checkf(got == n, "%d run requests, want %d", got, n)
	})
}

// leads waits until s is the leader.
func leads(t testing.TB, s *Scheduler, who string) {
	t.Helper()
	testutil.Eventually(t, 10*time.Second, 5*time.Millisecond, func() error {
		return testutil.Checkf(s.IsLeader(), "%s does not lead", who)
	})
}

// anyTimers tells takesOver to advance whatever is armed.
const anyTimers = -1

// takesOver moves fc on by the follower's RetryEvery each time it waits to try the lease
// again (n timers armed then, or anyTimers when the others are in flux), until s leads.
func takesOver(t testing.TB, fc *clock.Fake, n int, retry time.Duration, s *Scheduler, who string) {
	t.Helper()
	testutil.Eventually(t, 10*time.Second, 5*time.Millisecond, func() error {
		if s.IsLeader() {
			return nil
		}
		if n == anyTimers || fc.Waiters() == n {
			fc.Advance(retry)
		}
		return fmt.Errorf("%s does not lead (%d timers armed)", who, fc.Waiters())
	})
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

// TestScheduleTwoSchedulers: of two schedulers on one store and one bus, one leads and fires
// each tick of an "@every 1s" schedule once, as its clock reaches it.
func TestScheduleTwoSchedulers(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		buses := testBuses(t, 2)
		fc := fakeClock()
		start := fc.Now()
		cat := catalog.New(db, catalog.Options{Now: fc.Now})
		dir := t.TempDir()
		applyAll(t, cat, resources(dir, filepath.Join(dir, "x.db"), integration("every", `{type: schedule, cron: "@every 1s", env: DEV}`)))
		fa, fb := &fakeRequester{}, &fakeRequester{}
		_, stopA := started(t, clocked(Config{DB: db, Catalog: cat, Leases: buses[0], Requester: fa, Owner: "a"}, fc))
		_, stopB := started(t, clocked(Config{DB: db, Catalog: cat, Leases: buses[1], Requester: fb, Owner: "b"}, fc))
		for i := 1; i <= 5; i++ {
			step(t, fc, leaderTimers+followerTimers, time.Second)
			fires(t, i, fa, fb)
		}
		stopA()
		stopB()
		ticks := checkTicks(t, db, "every", fa, fb)
		if len(ticks) != 5 {
			t.Errorf("%d fires in 5 s, want 5", len(ticks))
		}
		if len(fa.requests()) > 0 && len(fb.requests()) > 0 {
			t.Errorf("both schedulers fired without a leader change")
		}
		for i, tk := range ticks {
			if want := start.Add(time.Duration(i+1) * time.Second); !tk.Equal(want) {
				t.Errorf("fire %d is tick %s, want %s", i+1, tk, want)
			}
		}
	})
}

func TestLeaderTakeover(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		buses := testBuses(t, 2)
		fc := fakeClock()
		cat := catalog.New(db, catalog.Options{Now: fc.Now})
		dir := t.TempDir()
		applyAll(t, cat, resources(dir, filepath.Join(dir, "x.db"), integration("every", `{type: schedule, cron: "@every 1s", env: DEV}`)))
		fa, fb := &fakeRequester{}, &fakeRequester{}
		a, stopA := started(t, clocked(Config{DB: db, Catalog: cat, Leases: buses[0], Requester: fa, Owner: "a"}, fc))
		leads(t, a, "a")
		b, _ := started(t, clocked(Config{DB: db, Catalog: cat, Leases: buses[1], Requester: fb, Owner: "b"}, fc))
		// b tries the lease at each step and finds it held.
		for i := 1; i <= 2; i++ {
			step(t, fc, leaderTimers+followerTimers, time.Second)
			fires(t, i, fa, fb)
		}
		if b.IsLeader() || len(fb.requests()) != 0 {
			t.Fatal("b leads while a does")
		}
		stopA()
		takesOver(t, fc, followerTimers, 100*time.Millisecond, b, "b")
		for i := 3; i <= 4; i++ {
			step(t, fc, leaderTimers, time.Second)
			fires(t, i, fa, fb)
		}
		ticks := checkTicks(t, db, "every", fa, fb)
		if len(fa.requests()) != 2 || len(fb.requests()) != 2 {
			t.Errorf("a fired %d, b %d: want 2 each", len(fa.requests()), len(fb.requests()))
		}
		t.Logf("ticks %v", ticks)
	})
}

// TestLeaseLostOverlap takes the lease away from the leader behind its back: for a moment
// both schedulers believe they lead, and only the tick table keeps a tick from firing twice.
func TestLeaseLostOverlap(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		buses := testBuses(t, 2)
		fc := fakeClock()
		cat := catalog.New(db, catalog.Options{Now: fc.Now})
		dir := t.TempDir()
		var docs []string
		for i := range 20 {
			docs = append(docs, integration(fmt.Sprintf("every-%02d", i), `{type: schedule, cron: "@every 1s", env: DEV}`))
		}
		applyAll(t, cat, resources(dir, filepath.Join(dir, "x.db"), docs...))
		fa, fb := &fakeRequester{}, &fakeRequester{}
		a, _ := started(t, clocked(Config{DB: db, Catalog: cat, Leases: buses[0], Requester: fa, Owner: "a"}, fc))
		leads(t, a, "a")
		b, _ := started(t, clocked(Config{DB: db, Catalog: cat, Leases: buses[1], Requester: fb, Owner: "b", RetryEvery: 10 * time.Millisecond}, fc))
		step(t, fc, leaderTimers+followerTimers, time.Second)
		fires(t, 20, fa, fb)

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
		// a notices at its next renewal, on the bus's time; until then both lead.
		takesOver(t, fc, anyTimers, 10*time.Millisecond, b, "b")
		// The next tick is due in both while a has not noticed: both fire it, one claims it.
		overlap := false
		idleWhen(t, fc, func() int {
			overlap = a.IsLeader()
			if overlap {
				return 2 * leaderTimers
			}
			return leaderTimers + followerTimers
		})
		fc.Advance(time.Second)
		fires(t, 40, fa, fb)
		testutil.Eventually(t, 10*time.Second, 5*time.Millisecond, func() error {
			return testutil.Checkf(!a.IsLeader(), "a has not noticed it lost the lease")
		})
		step(t, fc, leaderTimers+followerTimers, time.Second)
		fires(t, 60, fa, fb)
		for i := range 20 {
			if ticks := checkTicks(t, db, fmt.Sprintf("every-%02d", i), fa, fb); len(ticks) != 3 {
				t.Errorf("every-%02d fired %d ticks, want 3", i, len(ticks))
			}
		}
		t.Logf("a fired %d, b %d; both led at the second tick: %t", len(fa.requests()), len(fb.requests()), overlap)
	})
}

func TestCatchUp(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		buses := testBuses(t, 1)
		fc := fakeClock()
		past := fc.Now().Add(-72 * time.Hour)
		cat := catalog.New(db, catalog.Options{Now: func() time.Time { return past }})
		dir := t.TempDir()
		applyAll(t, cat, resources(dir, filepath.Join(dir, "x.db"),
			integration("nightly", `{type: schedule, cron: "0 2 * * *", timezone: Europe/Zurich, env: DEV}`),
			integration("no-catch-up", `{type: schedule, cron: "0 2 * * *", env: DEV, catchUp: false}`)))

		// The leader catches up on start: one run, of the last missed tick.
		f := &fakeRequester{}
		_, stop := started(t, clocked(Config{DB: db, Catalog: cat, Leases: buses[0], Requester: f, Owner: "a"}, fc))
		fires(t, 1, f)
		stop() // waits for the requests of the catch-up
		reqs := f.requests()
		if len(reqs) != 1 || reqs[0].Integration != "nightly" || reqs[0].Params["catchUp"] != "true" {
			t.Fatalf("want one catch-up run of nightly, got %+v", reqs)
		}
		sch, _ := ParseCron("0 2 * * *", "Europe/Zurich")
		want := sch.Last(fc.Now().Add(-25*time.Hour), fc.Now())
		if got := reqs[0].Params["tick"]; got != want.Format(time.RFC3339) {
			t.Errorf("catch-up tick %s, want the last one %s", got, want)
		}

		// A restarted leader (nothing in memory) reads the tick table and fires nothing. The
		// test makes its first read of the catalog itself and waits for what that fires.
		f2 := &fakeRequester{}
		tm := &term{s: New(clocked(Config{DB: db, Catalog: cat, Leases: buses[0], Requester: f2, Owner: "a"}, fc)), entries: map[string]*entry{}}
		tm.refresh(t.Context())
		tm.wg.Wait()
		if reqs := f2.requests(); len(reqs) != 0 {
			t.Errorf("restart fired again: %+v", reqs)
		}
	})
}

func TestFileTrigger(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		buses := testBuses(t, 1)
		fc := fakeClock()
		cat := catalog.New(db, catalog.Options{Now: fc.Now})
		dir := t.TempDir()
		inbox := filepath.Join(dir, "inbox")
		if err := os.MkdirAll(inbox, 0o750); err != nil {
			t.Fatal(err)
		}
		applyAll(t, cat, resources(dir, filepath.Join(t.TempDir(), "x.db"),
			integration("files", `{type: file, env: DEV, path: "inbox/*.csv", stableFor: 300ms, pollEvery: 100ms}`)))
		f, pub := &fakeRequester{}, &fakePublisher{}
		cfg := clocked(Config{DB: db, Catalog: cat, Leases: buses[0], Requester: f, Publisher: pub, Owner: "a"}, fc)
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

		// The leader polls every 100 ms of its clock; a.csv fires once stable for 300 ms.
		s, stop := started(t, cfg)
		leads(t, s, "a")
		write("a.csv", "id\n1\n")
		write("ignored.txt", "x")
		testutil.Eventually(t, 10*time.Second, 5*time.Millisecond, func() error {
			if n := count("inbox/a.csv"); n > 0 {
				return nil
			}
			if fc.Waiters() == leaderTimers {
				fc.Advance(100 * time.Millisecond)
			}
			return fmt.Errorf("a.csv has not fired by %s", fc.Now().Format(time.StampMilli))
		})
		stop() // waits for the poll that fired, and its event
		if n := count("inbox/a.csv"); n != 1 {
			t.Fatalf("a.csv fired %d times", n)
		}
		r := f.requests()[0]
		if r.Integration != "files" || r.Env != "DEV" || r.Actor != ActorFile {
			t.Errorf("request %+v", r)
		}
		pub.mu.Lock()
		if len(pub.events) != 1 || !strings.HasPrefix(pub.events[0], "object.received ") || !strings.Contains(pub.events[0], `"object":"inbox/a.csv"`) {
			t.Errorf("events %q", pub.events)
		}
		pub.mu.Unlock()

		// From here the test makes the polls itself, one at a time, as a restarted leader
		// (nothing in memory) would every 100 ms: each poll has finished when it returns.
		s2 := New(cfg)
		es, err := s2.load(ctx)
		if err != nil || es["files"] == nil {
			t.Fatalf("load: %v %v", es, err)
		}
		fs := es["files"].file
		w := &watch{files: map[string]*fileState{}}
		pollOnce := func() {
			s2.poll(ctx, "files", fs, w)
			fc.Advance(fs.PollEvery)
		}
		pollFor := func(d time.Duration) {
			for end := fc.Now().Add(d); fc.Now().Before(end); {
				pollOnce()
			}
		}

		// The same bytes again, with a new time: not a new version.
		write("a.csv", "id\n1\n")
		later := time.Now().Add(time.Minute)
		if err := os.Chtimes(filepath.Join(inbox, "a.csv"), later, later); err != nil {
			t.Fatal(err)
		}
		pollFor(time.Second)
		if n := count("inbox/a.csv"); n != 1 {
			t.Fatalf("unchanged a.csv fired again (%d)", n)
		}

		// Changed content fires again, once.
		write("a.csv", "id\n1\n2\n")
		pollFor(time.Second)
		if n := count("inbox/a.csv"); n != 2 {
			t.Fatalf("changed a.csv fired %d times in all, want 2", n)
		}

		// A growing file waits until it is stable: each poll sees it bigger.
		growing, err := os.Create(filepath.Join(inbox, "b.csv"))
		if err != nil {
			t.Fatal(err)
		}
		for i := range 10 {
			if _, err := fmt.Fprintf(growing, "%d\n", i); err != nil {
				t.Fatal(err)
			}
			pollOnce()
			if count("inbox/b.csv") != 0 {
				t.Fatal("b.csv fired while still growing")
			}
		}
		if err := growing.Close(); err != nil {
			t.Fatal(err)
		}
		pollFor(time.Second)
		if n := count("inbox/b.csv"); n != 1 {
			t.Fatalf("b.csv fired %d times, want 1", n)
		}

		// Another restart knows the versions from the store.
		f3 := &fakeRequester{}
		cfg.Requester = f3
		s3, w3 := New(cfg), &watch{files: map[string]*fileState{}}
		for range 10 {
			s3.poll(ctx, "files", fs, w3)
			fc.Advance(fs.PollEvery)
		}
		if reqs := f3.requests(); len(reqs) != 0 {
			t.Errorf("restart fired known files again: %+v", reqs)
		}
		if n := count("inbox/ignored.txt"); n != 0 {
			t.Error("a file outside the glob fired")
		}
	})
}
