package worker_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	_ "modernc.org/sqlite"

	"github.com/datahub-oss/datahub/internal/audit"
	"github.com/datahub-oss/datahub/internal/bus"
	"github.com/datahub-oss/datahub/internal/catalog"
	"github.com/datahub-oss/datahub/internal/runs"
	"github.com/datahub-oss/datahub/internal/runstatus"
	"github.com/datahub-oss/datahub/internal/store"
	"github.com/datahub-oss/datahub/internal/store/storetest"
	"github.com/datahub-oss/datahub/internal/testutil"
	"github.com/datahub-oss/datahub/internal/txlog"
	"github.com/datahub-oss/datahub/internal/worker"
)

// appendResources is a CSV file appended to a SQLite table, n cast to an integer: a row whose
// n is not a number is rejected, and no reject is allowed, so it fails the run.
func appendResources(csv, db string) string {
	return copyResources(csv, "sqlite", "sqlite:"+db)
}

const (
	resumeRows = 50_000
	badRow     = 35_000
)

// writeNumbers writes the CSV, with row badRow's n not a number when bad (same length, so the
// byte positions of the rows do not move when it is fixed).
func writeNumbers(t *testing.T, path string, bad bool) {
	t.Helper()
	var b strings.Builder
	b.WriteString("id,n\n")
	for i := 1; i <= resumeRows; i++ {
		n := fmt.Sprintf("%05d", i%100000)
		if bad && i == badRow {
			n = "oops!"
		}
		fmt.Fprintf(&b, "%d,%s\n", i, n)
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
}

func tableRows(t *testing.T, db string) (rows, distinct int) {
	t.Helper()
	conn, err := sql.Open("sqlite", db)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.Close() }()
	if err := conn.QueryRow("SELECT count(*), count(DISTINCT id) FROM numbers").Scan(&rows, &distinct); err != nil {
		t.Fatal(err)
	}
	return rows, distinct
}

// failedAtCheckpoint runs the integration over the bad CSV: it fails at badRow with 30,000
// rows committed (checkpoints every 10,000).
func failedAtCheckpoint(t *testing.T, ctx context.Context) (*env, txlog.Run, string, string) {
	t.Helper()
	dir := t.TempDir()
	csv, db := filepath.Join(dir, "numbers.csv"), filepath.Join(dir, "numbers.db")
	writeNumbers(t, csv, true)
	e := newEnvWith(t, appendResources(csv, db), func(w *worker.Worker) { w.CheckpointRows = 10_000 })
	run, err := e.runs.Request(ctx, runs.Request{Integration: "numbers", Env: "dev", Actor: "tester"})
	if err != nil {
		t.Fatal(err)
	}
	failed, err := e.runs.Wait(ctx, run.ID)
	if err != nil {
		t.Fatal(err)
	}
	if failed.Status != "failed" || !failed.HasCheckpoint || failed.RowsWritten != 30_000 {
		t.Fatalf("first run: %s, checkpoint %v, written %d: %s", failed.Status, failed.HasCheckpoint, failed.RowsWritten, failed.Error)
	}
	if n, _ := tableRows(t, db); n != 30_000 {
		t.Fatalf("the table holds %d rows after the failure, want 30000", n)
	}
	return e, failed, csv, db
}

// Fault 7: a failed run is resumed from its checkpoint on request, with the resumer's rights,
// audited, and the table ends with every row once.
func TestResumeFailedRun(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	e, failed, csv, db := failedAtCheckpoint(t, ctx)
	writeNumbers(t, csv, false)
	queued, err := e.runs.Resume(ctx, failed.ID[:13], "resumer", "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	if queued.Status != runstatus.Queued || queued.FinishedAt != nil || queued.Error != "" {
		t.Fatalf("resumed run is %+v", queued)
	}
	final, err := e.runs.Wait(ctx, failed.ID)
	if err != nil {
		t.Fatal(err)
	}
	rows, distinct := tableRows(t, db)
	if final.Status != "succeeded" || rows != resumeRows || distinct != resumeRows {
		t.Fatalf("resumed run %s, table %d rows (%d distinct): %s", final.Status, rows, distinct, final.Error)
	}
	if final.RowsWritten != resumeRows || final.Part.RowsWritten != resumeRows-30_000 || final.Resumes != 1 {
		t.Fatalf("resumed run written %d, part %d, resumes %d", final.RowsWritten, final.Part.RowsWritten, final.Resumes)
	}
	es, err := e.runs.Audit.List(ctx, audit.Filter{Action: "run.resume"})
	if err != nil || len(es.Entries) != 1 || es.Entries[0].Actor != "resumer" {
		t.Fatalf("audit of the resume: %+v %v", es, err)
	}
	// A finished run is not resumed again.
	if _, err := e.runs.Resume(ctx, failed.ID, "resumer", ""); !errors.Is(err, runs.ErrInvalid) || !strings.Contains(err.Error(), "only a failed or cancelled run") {
		t.Fatalf("resume of a succeeded run: %v", err)
	}
}

// Fault 7: what cannot be resumed is refused, saying why and what to do.
func TestResumeRefused(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	e, failed, csv, db := failedAtCheckpoint(t, ctx)
	// The mapping changes: the checkpoint may not fit.
	docs := strings.Replace(appendResources(csv, db), "{from: n, type: int64}", "{from: n, to: m, type: int64}", 1)
	parsed, err := catalog.Parse([]byte(docs), "changed.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.cat.Apply(ctx, parsed, catalog.ApplyOptions{Actor: "test"}); err != nil {
		t.Fatal(err)
	}
	_, err = e.runs.Resume(ctx, failed.ID, "resumer", "")
	if !errors.Is(err, runs.ErrInvalid) || !strings.Contains(err.Error(), "changed since run") || !strings.Contains(err.Error(), "key or mapping") {
		t.Fatalf("resume after the mapping changed: %v", err)
	}
	if r, _ := e.runs.Log.Get(ctx, failed.ID); r.Status != "failed" {
		t.Fatalf("a refused resume left the run %s", r.Status)
	}
	noCheckpoint := txlog.Run{ID: txlog.NewID(), Kind: "integration", Integration: "numbers", Env: "DEV", Source: failed.Source,
		Destination: failed.Destination, Mode: "append", Status: "queued", StartedAt: time.Now()}
	if err := e.runs.Log.Start(ctx, &noCheckpoint); err != nil {
		t.Fatal(err)
	}
	noCheckpoint.Status = "failed"
	if err := e.runs.Log.Finish(ctx, &noCheckpoint); err != nil {
		t.Fatal(err)
	}
	if _, err := e.runs.Resume(ctx, noCheckpoint.ID, "resumer", ""); !errors.Is(err, runs.ErrInvalid) || !strings.Contains(err.Error(), "no checkpoint") {
		t.Fatalf("resume without a checkpoint: %v", err)
	}
}

// Fault 5: a run whose record says it was running with a checkpoint resumes from it even when
// its request arrives as a first delivery (the broker's count starts again when a NATS server
// restarts): the table gets every row once, not the first 30,000 twice.
func TestResumeDecidedByTheRunRecord(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	e, failed, csv, db := failedAtCheckpoint(t, ctx)
	writeNumbers(t, csv, false)
	// As if the worker had been cut mid-run: the record says running, with its checkpoint.
	if ok, err := e.runs.Log.SetStatus(ctx, failed.ID, runstatus.Running); err != nil || !ok {
		t.Fatal(ok, err)
	}
	if err := e.bus.EnqueueRun(ctx, bus.RunRequest{RunID: failed.ID, Integration: "numbers", Env: "DEV", Requester: "tester",
		RequestID: "fresh-delivery"}); err != nil {
		t.Fatal(err)
	}
	var final txlog.Run
	testutil.WaitFor(t, 30*time.Second, "the run to finish again", func() bool {
		r, err := e.runs.Log.Get(ctx, failed.ID)
		final = r
		return err == nil && r.Status.Final()
	})
	rows, distinct := tableRows(t, db)
	if final.Status != "succeeded" || rows != resumeRows || distinct != resumeRows || final.Resumes != 1 {
		t.Fatalf("run %s (resumes %d), table %d rows (%d distinct): %s", final.Status, final.Resumes, rows, distinct, final.Error)
	}
}

// Fault 2: a store failure inside a run request (its audit entry cannot be written) leaves no
// run behind, and a cancellation that cannot be audited changes nothing.
func TestRequestLeavesNothingOnStoreFailure(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	dir := t.TempDir()
	csv := filepath.Join(dir, "numbers.csv")
	writeNumbers(t, csv, false)
	// No worker takes the runs: the cancellation below finds its run queued.
	e := newEnvWith(t, appendResources(csv, filepath.Join(dir, "numbers.db")), func(w *worker.Worker) { w.Bus = nil })
	queuedRun, err := e.runs.Request(ctx, runs.Request{Integration: "numbers", Env: "dev", Actor: "tester"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.db.Exec(ctx, `CREATE TRIGGER audit_down BEFORE INSERT ON audit_entries BEGIN SELECT RAISE(ABORT, 'disk I/O error'); END`); err != nil {
		t.Fatal(err)
	}
	if _, err := e.runs.Request(ctx, runs.Request{Integration: "numbers", Env: "dev", Actor: "tester"}); err == nil {
		t.Fatal("a run request succeeded although its audit entry could not be written")
	}
	page, err := e.runs.Log.List(ctx, txlog.Filter{})
	if err != nil || len(page.Runs) != 1 || page.Runs[0].ID != queuedRun.ID {
		t.Fatalf("runs after a failed request: %+v %v", page.Runs, err)
	}
	if _, err := e.runs.Cancel(ctx, queuedRun.ID, "tester", ""); err == nil {
		t.Fatal("a cancellation succeeded although it could not be audited")
	}
	if r, _ := e.runs.Log.Get(ctx, queuedRun.ID); r.Status != runstatus.Queued {
		t.Fatalf("an unaudited cancellation left the run %s", r.Status)
	}
}

// Fault 2: the reconciler settles the runs no process owns (no request on the queue), after
// two passes, and leaves alone those whose request is queued.
func TestReconcilerSettlesOrphans(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	dir := t.TempDir()
	csv := filepath.Join(dir, "numbers.csv")
	writeNumbers(t, csv, false)
	e := newEnvWith(t, appendResources(csv, filepath.Join(dir, "numbers.db")), func(w *worker.Worker) { w.Bus = nil })
	owned, err := e.runs.Request(ctx, runs.Request{Integration: "numbers", Env: "dev", Actor: "tester"})
	if err != nil {
		t.Fatal(err)
	}
	orphan := func(status runstatus.Status) string {
		r := txlog.Run{ID: txlog.NewID(), Kind: "integration", Integration: "numbers", Env: "DEV", Source: "s", Destination: "d",
			Mode: "append", Status: status, StartedAt: time.Now().Add(-time.Hour)}
		if err := e.runs.Log.Start(ctx, &r); err != nil {
			t.Fatal(err)
		}
		return r.ID
	}
	queued, cancelling := orphan(runstatus.Queued), orphan(runstatus.CancelRequested)
	rec := &runs.Reconciler{Service: e.runs, Grace: time.Nanosecond}
	if n, err := rec.Once(ctx); err != nil || n != 0 {
		t.Fatalf("first pass settled %d (%v): it only notes suspects", n, err)
	}
	if n, err := rec.Once(ctx); err != nil || n != 2 {
		t.Fatalf("second pass settled %d (%v), want 2", n, err)
	}
	for id, want := range map[string]runstatus.Status{queued: "failed", cancelling: "canceled", owned.ID: runstatus.Queued} {
		r, err := e.runs.Log.Get(ctx, id)
		if err != nil || r.Status != want || r.FinishedAt == nil && want != runstatus.Queued {
			t.Errorf("run %s: %s (want %s) %v", id, r.Status, want, err)
		}
		if want == "failed" && !strings.Contains(r.Error, "runs resume "+id) {
			t.Errorf("orphaned run's error: %s", r.Error)
		}
	}
}

// Fault 1: a run request on the queue while the store is down (a private PostgreSQL, stopped)
// is offered again with back-off, not in a tight loop, and runs once the store is back.
func TestStoreCutUnderQueuedRun(t *testing.T) {
	pg := storetest.StartPrivatePostgres(t)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	db, err := store.Open(ctx, pg.URL, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	csv, out := filepath.Join(dir, "numbers.csv"), filepath.Join(dir, "numbers.db")
	writeNumbers(t, csv, false)
	var w *worker.Worker
	e := newEnvOn(t, db, appendResources(csv, out), func(wk *worker.Worker) {
		wk.RetryBase = 100 * time.Millisecond
		w, wk.Bus = wk, nil // started below, once the store is down
	})
	run, err := e.runs.Request(ctx, runs.Request{Integration: "numbers", Env: "dev", Actor: "tester"})
	if err != nil {
		t.Fatal(err)
	}
	pg.Stop()
	w.Bus = e.bus
	wctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = w.Run(wctx) }()
	defer func() { stop(); <-done }()

	began := time.Now()
	testutil.WaitFor(t, 20*time.Second, "four deliveries of the request", func() bool { return deliveries(t, e.bus) >= 4 })
	// 100, 200 and 400 ms of back-off (plus jitter) separate the first four deliveries; a
	// tight loop makes thousands a second.
	if took := time.Since(began); took < 600*time.Millisecond {
		t.Fatalf("four deliveries within %s while the store was down: no back-off", took)
	}
	pg.Start()
	var final txlog.Run
	testutil.WaitFor(t, 60*time.Second, "the run to finish once the store is back", func() bool {
		r, err := e.runs.Log.Get(ctx, run.ID)
		final = r
		return err == nil && r.Status.Final()
	})
	if rows, distinct := tableRows(t, out); final.Status != "succeeded" || rows != resumeRows || distinct != resumeRows {
		t.Fatalf("run %s, table %d rows (%d distinct): %s", final.Status, rows, distinct, final.Error)
	}
}

// deliveries is how many times the workers' consumer has delivered run requests.
func deliveries(t *testing.T, b *bus.Bus) uint64 {
	t.Helper()
	if b.ClientURL() == "" {
		t.Fatal("the bus listens on no port") // never fall back on the machine's own NATS
	}
	nc, err := nats.Connect(b.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	c, err := js.Consumer(t.Context(), bus.RunsStream, "datahub-workers")
	if err != nil {
		return 0 // not created yet
	}
	info, err := c.Info(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return info.Delivered.Consumer
}
