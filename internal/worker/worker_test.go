package worker_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/datahub-oss/datahub/internal/audit"
	"github.com/datahub-oss/datahub/internal/bus"
	"github.com/datahub-oss/datahub/internal/catalog"
	_ "github.com/datahub-oss/datahub/internal/connectors/all"
	"github.com/datahub-oss/datahub/internal/event"
	"github.com/datahub-oss/datahub/internal/policy"
	"github.com/datahub-oss/datahub/internal/runs"
	"github.com/datahub-oss/datahub/internal/runstatus"
	"github.com/datahub-oss/datahub/internal/secret"
	"github.com/datahub-oss/datahub/internal/store"
	"github.com/datahub-oss/datahub/internal/store/storetest"
	"github.com/datahub-oss/datahub/internal/txlog"
	"github.com/datahub-oss/datahub/internal/worker"
)

// env is a hub in miniature: store, catalog, embedded bus, runs service and one worker.
type env struct {
	runs *runs.Service
	bus  *bus.Bus
	dir  string
	db   *store.DB
	cat  *catalog.Service
}

func newEnv(t *testing.T, resources string) *env {
	t.Helper()
	return newEnvWith(t, resources, nil)
}

// newEnvWith is newEnv with the worker set up by mod before it starts (nil: as is; a mod
// that sets its Bus to nil starts no worker).
func newEnvWith(t *testing.T, resources string, mod func(*worker.Worker)) *env {
	t.Helper()
	return newEnvOn(t, storetest.SQLite(t), resources, mod)
}

// newEnvOn is newEnvWith on a given, migrated store.
func newEnvOn(t *testing.T, db *store.DB, resources string, mod func(*worker.Worker)) *env {
	t.Helper()
	return newEnvOnBus(t, db, "", resources, mod)
}

// newEnvOnBus is newEnvOn on the NATS server at natsURL ("": an embedded one of its own).
func newEnvOnBus(t *testing.T, db *store.DB, natsURL, resources string, mod func(*worker.Worker)) *env {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	cat := catalog.New(db, catalog.Options{})
	docs, err := catalog.Parse([]byte(resources), "test.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cat.Apply(ctx, docs, catalog.ApplyOptions{Actor: "test"}); err != nil {
		t.Fatal(err)
	}
	cfg := bus.Config{DataDir: filepath.Join(dir, "nats"), Listen: "127.0.0.1:0"}
	if natsURL != "" {
		cfg = bus.Config{URL: natsURL, Name: t.Name()}
	}
	b, err := bus.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close(context.Background()) })
	key, _, err := secret.LoadMasterKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	ring, err := secret.NewKeyring(key)
	if err != nil {
		t.Fatal(err)
	}
	log := txlog.New(db)
	// The test's files are in temporary folders and the repository: those are its file roots.
	root, _ := filepath.Abs("../..")
	pol, err := policy.New(policy.Settings{DataDir: dir, FileRoots: []string{os.TempDir(), root}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	w := &worker.Worker{Bus: b, Catalog: cat, Secrets: secret.New(db, ring), Log: log, DataDir: dir, CancelPoll: 50 * time.Millisecond, Policy: pol}
	if mod != nil {
		mod(w)
	}
	if w.Bus != nil { // a mod that takes the bus away wants no worker
		wctx, stop := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { defer close(done); _ = w.Run(wctx) }()
		t.Cleanup(func() { stop(); <-done })
	}
	return &env{runs: &runs.Service{Catalog: cat, Log: log, Bus: b, Audit: audit.New(db)}, bus: b, dir: dir, db: db, cat: cat}
}

func TestQuickstartRunThroughTheQueue(t *testing.T) {
	e := newEnv(t, quickstartResources(t))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	run, err := e.runs.Request(ctx, runs.Request{Integration: "quickstart", Env: "dev", Actor: "tester"})
	if err != nil {
		t.Fatal(err)
	}
	if run.Status != runstatus.Queued {
		t.Fatalf("new run is %s", run.Status)
	}
	final, err := e.runs.Wait(ctx, run.ID)
	if err != nil {
		t.Fatal(err)
	}
	if final.Status != "succeeded" || final.RowsRead != 300 || final.RowsWritten != 300 || final.Env != "DEV" || final.RequestedBy != "tester" {
		t.Fatalf("final run: %+v", final)
	}
	// The run's lifecycle is on the bus as events, with the integration, system and counters.
	evs, err := e.bus.ReadEvents(ctx, "run.>", 10, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, m := range evs {
		ev, err := event.Unmarshal(m.Data)
		if err != nil {
			t.Fatal(err)
		}
		if ev.RunID != run.ID || ev.Integration != "quickstart" || ev.System != "people-directory" || ev.Env != "DEV" {
			t.Errorf("event %+v", ev)
		}
		if ev.Type == event.RunSucceeded && (ev.Stats == nil || ev.Stats.RowsWritten != 300) {
			t.Errorf("succeeded event without the counters: %+v", ev)
		}
		types = append(types, string(ev.Type))
	}
	if strings.Join(types, ",") != "run.queued,run.started,run.succeeded" {
		t.Errorf("events %v", types)
	}
	// Unknown environment and integration are refused before anything is queued.
	if _, err := e.runs.Request(ctx, runs.Request{Integration: "quickstart", Env: "prod"}); err == nil {
		t.Fatal("a run in an environment the integration is not deployed to was queued")
	}
	if _, err := e.runs.Request(ctx, runs.Request{Integration: "nope", Env: "dev"}); !runs.IsNotFound(err) {
		t.Fatalf("unknown integration: %v", err)
	}
}

// TestConnectionFailedEvent: a run whose endpoint refuses the credentials fails and is also
// announced as connection.failed.
func TestConnectionFailedEvent(t *testing.T) {
	if testing.Short() {
		t.Skip("needs MariaDB; skipped with -short")
	}
	t.Setenv("DH_TEST_BAD_PASSWORD", "certainly-not-the-password")
	out := filepath.Join(t.TempDir(), "out.ndjson")
	res := `apiVersion: datahub/v1
kind: System
metadata: {name: shop}
spec: {owner: team}
---
apiVersion: datahub/v1
kind: Endpoint
metadata: {name: shop-db}
spec:
  system: shop
  type: mysql
  environments: {DEV: {url: "mysql://root@127.0.0.1:3306/test"}}
  secrets: {password: "env:DH_TEST_BAD_PASSWORD"}
---
apiVersion: datahub/v1
kind: Endpoint
metadata: {name: out}
spec: {system: shop, type: file, environments: {DEV: {url: "` + out + `"}}}
---
apiVersion: datahub/v1
kind: Integration
metadata: {name: orders}
spec:
  source: {endpoint: shop-db, table: orders}
  destination: {endpoint: out, mode: replace}
`
	e := newEnv(t, res)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	run, err := e.runs.Request(ctx, runs.Request{Integration: "orders", Env: "DEV", Actor: "tester"})
	if err != nil {
		t.Fatal(err)
	}
	final, err := e.runs.Wait(ctx, run.ID)
	if err != nil {
		t.Fatal(err)
	}
	if final.Status != "failed" || final.ErrorCode != "auth" || strings.Contains(final.Error, "certainly-not") {
		t.Fatalf("run %+v", final)
	}
	evs, err := e.bus.ReadEvents(ctx, "connection.>", 5, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 1 {
		t.Fatalf("%d connection.failed events", len(evs))
	}
	ev, err := event.Unmarshal(evs[0].Data)
	if err != nil || ev.Type != event.ConnectionFailed || ev.RunID != run.ID || ev.System != "shop" || ev.Severity != event.SeverityError {
		t.Fatalf("event %+v %v", ev, err)
	}
}

// TestParkedRunReported: a run request whose handling fails on every delivery (here the
// worker's store is closed) is parked and reported as a run.parked event, not only logged.
func TestParkedRunReported(t *testing.T) {
	broken := storetest.SQLite(t)
	_ = broken.Close()
	e := newEnvWith(t, quickstartResources(t), func(w *worker.Worker) {
		w.Log, w.RetryBase, w.ParkAfter, w.ParkDelay = txlog.New(broken), 5*time.Millisecond, 3, time.Hour
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	run, err := e.runs.Request(ctx, runs.Request{Integration: "quickstart", Env: "dev", Actor: "tester"})
	if err != nil {
		t.Fatal(err)
	}
	evs, err := e.bus.ReadEvents(ctx, "run.parked", 1, 20*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 1 {
		t.Fatalf("%d run.parked events", len(evs))
	}
	ev, err := event.Unmarshal(evs[0].Data)
	if err != nil || ev.Type != event.RunParked || ev.RunID != run.ID || ev.Integration != "quickstart" || ev.Severity != event.SeverityError || ev.Error == "" {
		t.Fatalf("event %+v %v", ev, err)
	}
	if got, err := e.runs.Log.Get(ctx, run.ID); err != nil || got.Status != runstatus.Queued {
		t.Fatalf("a parked run is %+v, %v; want it queued", got.Status, err)
	}
}

// quickstartResources are the quickstart's resources with its files in the repository and a
// temporary folder.
func quickstartResources(t *testing.T) string {
	t.Helper()
	root, _ := filepath.Abs("../..")
	y, err := os.ReadFile(filepath.Join(root, "examples/quickstart/resources.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(t.TempDir(), "q.db")
	res := strings.ReplaceAll(string(y), "url: examples/quickstart/people.csv", "url: "+filepath.Join(root, "examples/quickstart/people.csv"))
	return strings.ReplaceAll(res, "url: sqlite:datahub-data/files/quickstart.db", "url: sqlite:"+db)
}
