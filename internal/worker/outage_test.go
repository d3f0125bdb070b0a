package worker_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/datahub-oss/datahub/internal/bus/bustest"
	"github.com/datahub-oss/datahub/internal/runs"
	"github.com/datahub-oss/datahub/internal/runstatus"
	"github.com/datahub-oss/datahub/internal/store"
	"github.com/datahub-oss/datahub/internal/store/storetest"
	"github.com/datahub-oss/datahub/internal/testutil"
	"github.com/datahub-oss/datahub/internal/txlog"
	"github.com/datahub-oss/datahub/internal/worker"
)

// These tests cut a real service of their own under a running hub: a private nats-server
// process (bustest) or a private PostgreSQL store (storetest), never the machine's own.

// copyResources is a CSV file of id,n appended to the table numbers of a destination of type
// dstType at dstURL, with no reject allowed.
func copyResources(csv, dstType, dstURL string) string {
	return fmt.Sprintf(`apiVersion: datahub/v1
kind: System
metadata: {name: numbers}
spec: {owner: test}
---
apiVersion: datahub/v1
kind: Endpoint
metadata: {name: numbers-csv}
spec:
  system: numbers
  type: file
  environments: {DEV: {url: %s}}
  options: {header: "true"}
---
apiVersion: datahub/v1
kind: Endpoint
metadata: {name: numbers-db}
spec:
  system: numbers
  type: %s
  environments: {DEV: {url: "%s"}}
---
apiVersion: datahub/v1
kind: Integration
metadata: {name: numbers}
spec:
  source: {endpoint: numbers-csv}
  destination: {endpoint: numbers-db, table: numbers, mode: append}
  maxRejects: 0
  mapping:
    columns:
      - {from: id, type: int64}
      - {from: n, type: int64}
  trigger: {type: manual}
  environments: [DEV]
`, csv, dstType, dstURL)
}

// writeRows writes a CSV of n rows id,n.
func writeRows(t *testing.T, path string, n int) {
	t.Helper()
	var b strings.Builder
	b.WriteString("id,n\n")
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "%d,%d\n", i, i%1000)
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
}

// pgRows counts the rows of numbers in a PostgreSQL database, and the distinct ids.
func pgRows(t *testing.T, ctx context.Context, conn *pgx.Conn) (rows, distinct int) {
	t.Helper()
	if err := conn.QueryRow(ctx, `SELECT count(*), count(DISTINCT id) FROM numbers`).Scan(&rows, &distinct); err != nil {
		t.Fatal(err)
	}
	return rows, distinct
}

// Fault 5: a run cut by a restart of the bus (a private nats-server, killed and started
// again on its store) resumes from its checkpoint, not from row 1: the run's own record says
// it was running with a checkpoint, whatever the restarted server's delivery count says.
//
// The outage must land mid-run and last until it cuts the run: the worker holds the
// integration's lease on the bus, and a lease that cannot be renewed for its TTL is lost,
// which stops the run. To have the run still going when the bus goes, the test locks the
// destination table after the first checkpoint, so the sink waits on the lock; it knows the
// run was cut when the sink's sessions are gone (the database checks every 100 ms whether
// a waiting session's client is still there), and only then lets go of the lock and starts
// the server again.
func TestBusRestartMidRunResumesFromCheckpoint(t *testing.T) {
	const total = 300_000
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	nats := bustest.StartCluster(t, 1).Nodes[0]
	pgURL := storetest.PostgresURL(t)
	conn, err := pgx.Connect(ctx, pgURL)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.Close(context.WithoutCancel(ctx)) }()
	var dbName string
	if err := conn.QueryRow(ctx, `SELECT current_database()`).Scan(&dbName); err != nil {
		t.Fatal(err)
	}
	// For the sessions opened from now on (the sink's): a session waiting on a lock notices
	// within 100 ms that its client has gone.
	if _, err := conn.Exec(ctx, `ALTER DATABASE `+pgx.Identifier{dbName}.Sanitize()+` SET client_connection_check_interval = 100`); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `CREATE TABLE numbers (id bigint, n bigint)`); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	csv := filepath.Join(dir, "numbers.csv")
	writeRows(t, csv, total)
	e := newEnvOnBus(t, storetest.SQLite(t), nats.URL, copyResources(csv, "postgres", pgURL), func(w *worker.Worker) {
		w.CheckpointRows = 10_000
		w.LeaseTTL = time.Second // the outage below outlasts it
		w.AckWait = 2 * time.Second
		w.RetryBase = 100 * time.Millisecond
	})
	run, err := e.runs.Request(ctx, runs.Request{Integration: "numbers", Env: "dev", Actor: "tester"})
	if err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 30*time.Second, "the run's first checkpoint", func() bool {
		r, err := e.runs.Log.Get(ctx, run.ID)
		if err == nil && r.Status.Final() {
			t.Fatalf("the run finished (%s) before the bus was cut: %s", r.Status, r.Error)
		}
		return err == nil && r.HasCheckpoint
	})
	// SHARE conflicts with the sink's writes: granted once its open transaction commits (at
	// its next checkpoint), it holds the next batch.
	lock, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lock.Exec(ctx, `LOCK TABLE numbers IN SHARE MODE`); err != nil {
		t.Fatal(err)
	}
	if r, err := e.runs.Log.Get(ctx, run.ID); err != nil || r.Status != runstatus.Running {
		t.Fatalf("run %s (%v) once the table was locked: it should be running", r.Status, err)
	}

	nats.Kill()
	// Watched from outside the lock's transaction, whose view of the sessions stays as it
	// was when it first looked.
	watch, err := pgx.Connect(ctx, pgURL)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = watch.Close(context.WithoutCancel(ctx)) }()
	testutil.WaitFor(t, 30*time.Second, "the lost lease to stop the run (the sink's sessions gone)", func() bool {
		var n int
		err := watch.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND backend_type = 'client backend' AND pid NOT IN (pg_backend_pid(), $2)`, dbName, conn.PgConn().PID()).Scan(&n)
		return err == nil && n == 0
	})
	if err := lock.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	cut, err := e.runs.Log.Get(ctx, run.ID)
	if err != nil || cut.Status != runstatus.Running || !cut.HasCheckpoint {
		t.Fatalf("run %s (checkpoint %v, %v) after the cut: it should be running with a checkpoint", cut.Status, cut.HasCheckpoint, err)
	}
	before, _ := pgRows(t, ctx, conn)
	nats.Restart(t)

	var final txlog.Run
	testutil.WaitFor(t, 60*time.Second, "the run to finish once the bus is back", func() bool {
		r, err := e.runs.Log.Get(ctx, run.ID)
		final = r
		return err == nil && r.Status.Final()
	})
	rows, distinct := pgRows(t, ctx, conn)
	if final.Status != "succeeded" || rows != total || distinct != total {
		t.Fatalf("run %s, table %d rows (%d distinct), want %d once each: %s", final.Status, rows, distinct, total, final.Error)
	}
	// Resumed from where the destination stood when the bus went, not from row 1.
	if final.Resumes != 1 || final.RowsWritten != total || final.Part.RowsWritten != int64(total-before) || before == 0 {
		t.Fatalf("run written %d, part %d, resumes %d; the table held %d rows at the cut", final.RowsWritten, final.Part.RowsWritten, final.Resumes, before)
	}
}

// privateStore is a migrated metadata store on a private PostgreSQL that the test may stop.
func privateStore(t *testing.T, ctx context.Context) (*storetest.PrivatePostgres, *store.DB) {
	t.Helper()
	pg := storetest.StartPrivatePostgres(t)
	db, err := store.Open(ctx, pg.URL, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	return pg, db
}

// destination is a fresh PostgreSQL database on the test server with an empty numbers table,
// and a connection to it.
func destination(t *testing.T, ctx context.Context) (string, *pgx.Conn) {
	t.Helper()
	u := storetest.PostgresURL(t)
	conn, err := pgx.Connect(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	if _, err := conn.Exec(ctx, `CREATE TABLE numbers (id bigint, n bigint)`); err != nil {
		t.Fatal(err)
	}
	return u, conn
}

// startWorker runs w until the returned stop is called (or the test ends).
func startWorker(t *testing.T, w *worker.Worker) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = w.Run(ctx) }()
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(stop)
	return stop
}

// Fault 6: the private store is cut between the destination's commit and the hub's own
// checkpoint, so the destination's saved position is ahead of the run record's. The run
// resumed from the destination's position reports rows_written equal to what the table holds,
// and its own part is what it added after that position, not after the record's older one.
func TestStoreCutBetweenCommitAndCheckpoint(t *testing.T) {
	const total = 100_000
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	pg, db := privateStore(t, ctx)
	dstURL, conn := destination(t, ctx)
	dir := t.TempDir()
	csv := filepath.Join(dir, "numbers.csv")
	writeRows(t, csv, total)
	var w *worker.Worker
	e := newEnvOn(t, db, copyResources(csv, "postgres", dstURL), func(wk *worker.Worker) {
		wk.CheckpointRows = 5_000
		wk.RetryBase = 100 * time.Millisecond
		w, wk.Bus = wk, nil // started below, and stopped while the store is down
	})
	w.Bus = e.bus
	run, err := e.runs.Request(ctx, runs.Request{Integration: "numbers", Env: "dev", Actor: "tester"})
	if err != nil {
		t.Fatal(err)
	}
	stop := startWorker(t, w)
	testutil.WaitFor(t, 30*time.Second, "the run's first checkpoint", func() bool {
		r, err := e.runs.Log.Get(ctx, run.ID)
		if err == nil && r.Status.Final() {
			t.Fatalf("the run finished (%s) before the store was cut: %s", r.Status, r.Error)
		}
		return err == nil && r.HasCheckpoint
	})
	// The sink waits on the table while the store goes down.
	lock, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lock.Exec(ctx, `LOCK TABLE numbers IN SHARE MODE`); err != nil {
		t.Fatal(err)
	}
	pg.Stop()
	if err := lock.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	atCut, _ := pgRows(t, ctx, conn)
	// The sink commits more rows, whose checkpoint the hub cannot record (or the checkpoint
	// of its last commit was under way when the store went: then the run fails, its outcome
	// cannot be recorded either, and its request is offered again). Then the hub stops; its
	// run stays as the store last heard of it.
	testutil.WaitFor(t, 30*time.Second, "the destination to commit while the store is down", func() bool {
		n, _ := pgRows(t, ctx, conn)
		return n > atCut || deliveries(t, e.bus) >= 2
	})
	stop()
	committed, _ := pgRows(t, ctx, conn)
	pg.Start()
	cut, err := e.runs.Log.Get(ctx, run.ID)
	if err != nil || cut.Status != runstatus.Running || !cut.HasCheckpoint {
		t.Fatalf("run %s (checkpoint %v, %v) after the cut: it should be running with a checkpoint", cut.Status, cut.HasCheckpoint, err)
	}
	if cut.RowsWritten >= int64(committed) || committed >= total {
		t.Fatalf("the run record's checkpoint counts %d rows, the destination holds %d of %d: the store was not cut between the two", cut.RowsWritten, committed, total)
	}

	startWorker(t, w)
	var final txlog.Run
	testutil.WaitFor(t, 60*time.Second, "the resumed run to finish", func() bool {
		r, err := e.runs.Log.Get(ctx, run.ID)
		final = r
		return err == nil && r.Status.Final()
	})
	rows, distinct := pgRows(t, ctx, conn)
	if final.Status != "succeeded" || rows != total || distinct != total {
		t.Fatalf("run %s, table %d rows (%d distinct), want %d once each: %s", final.Status, rows, distinct, total, final.Error)
	}
	if final.RowsWritten != int64(rows) || final.RowsRead != total || final.Part.RowsWritten != int64(total-committed) || final.Resumes != 1 {
		t.Fatalf("resumed run: read %d, written %d, part %d, resumes %d; the table holds %d, %d of them before the resume (the record's checkpoint: %d)",
			final.RowsRead, final.RowsWritten, final.Part.RowsWritten, final.Resumes, rows, committed, cut.RowsWritten)
	}
}

// requests makes run requests from a few goroutines at once until stopped, and keeps the ids
// of those answered and a count of those refused.
type requests struct {
	mu      sync.Mutex
	ok      map[string]bool
	refused int
	stop    func()
}

func (q *requests) counts() (ok, refused int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.ok), q.refused
}

// makeRequests starts the requests. Stopping lets those under way finish: a request cut short
// by the test rather than by the store would say nothing.
func makeRequests(ctx context.Context, svc *runs.Service, workers int) *requests {
	q := &requests{ok: map[string]bool{}}
	var stopped atomic.Bool
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for !stopped.Load() && ctx.Err() == nil {
				run, err := svc.Request(ctx, runs.Request{Integration: "numbers", Env: "dev", Actor: "tester"})
				q.mu.Lock()
				if err == nil {
					q.ok[run.ID] = true
				} else {
					q.refused++
				}
				q.mu.Unlock()
			}
		})
	}
	q.stop = func() { stopped.Store(true); wg.Wait() }
	return q
}

// allRuns lists every run of the integration numbers.
func allRuns(t *testing.T, ctx context.Context, log *txlog.Log) []txlog.Run {
	t.Helper()
	var all []txlog.Run
	f := txlog.Filter{Integration: "numbers", Limit: 1000}
	for {
		page, err := log.List(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, page.Runs...)
		if page.Next == "" {
			return all
		}
		f.Cursor = page.Next
	}
}

// Fault 2: the private store is stopped while run requests are being made. Each request
// either completes (its run is queued, and runs once the store is back) or leaves no run that
// anything will execute; a run recorded by a request that was answered with an error (the
// commit went through, its answer did not) is settled by the reconciler once the store is
// back, so no run stays queued for ever.
func TestStoreCutUnderRunRequests(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	pg, db := privateStore(t, ctx)
	dir := t.TempDir()
	csv := filepath.Join(dir, "numbers.csv")
	writeRows(t, csv, 10)
	e := newEnvOn(t, db, appendResources(csv, filepath.Join(dir, "numbers.db")), func(w *worker.Worker) {
		w.RetryBase = 100 * time.Millisecond
	})
	q := makeRequests(ctx, e.runs, 4)
	defer q.stop()
	testutil.WaitFor(t, 30*time.Second, "requests answered before the cut", func() bool { ok, _ := q.counts(); return ok >= 5 })
	pg.Stop()
	okAtCut, _ := q.counts()
	testutil.WaitFor(t, 30*time.Second, "requests refused while the store is down", func() bool { _, refused := q.counts(); return refused >= 20 })
	pg.Start()
	testutil.WaitFor(t, 30*time.Second, "requests answered once the store is back", func() bool { ok, _ := q.counts(); return ok >= okAtCut+5 })
	q.stop()

	// Every answered request's run executes; the runs no request answered for are settled.
	rec := &runs.Reconciler{Service: e.runs, Grace: time.Nanosecond}
	testutil.WaitFor(t, 60*time.Second, "every run to be settled", func() bool {
		if _, err := rec.Once(ctx); err != nil {
			t.Fatal(err)
		}
		for _, r := range allRuns(t, ctx, e.runs.Log) {
			if !r.Status.Final() {
				return false
			}
		}
		return true
	})
	ok, refused := q.counts()
	orphans := 0
	for _, r := range allRuns(t, ctx, e.runs.Log) {
		switch {
		case q.ok[r.ID]:
			if r.Status != "succeeded" || r.RowsWritten != 10 {
				t.Errorf("answered request's run %s: %s, %d rows: %s", r.ID, r.Status, r.RowsWritten, r.Error)
			}
			delete(q.ok, r.ID)
		case r.Status == "failed" && strings.Contains(r.Error, "runs resume "+r.ID):
			orphans++ // recorded, but its request was refused: settled, never executed
		default:
			t.Errorf("run %s of a refused request: %s, %d rows written: %s", r.ID, r.Status, r.RowsWritten, r.Error)
		}
	}
	if len(q.ok) > 0 {
		t.Errorf("%d answered requests have no run", len(q.ok))
	}
	t.Logf("%d requests answered, %d refused, %d runs of refused requests settled by the reconciler", ok, refused, orphans)
}
