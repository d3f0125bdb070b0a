package txlog_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/datahub-oss/datahub/internal/runstatus"
	"github.com/datahub-oss/datahub/internal/store"
	"github.com/datahub-oss/datahub/internal/store/storetest"
	"github.com/datahub-oss/datahub/internal/txlog"
)

func TestRunLifecycle(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		l := txlog.New(db)
		start := time.Date(2026, 11, 26, 10, 0, 0, 123456789, time.UTC)
		r := &txlog.Run{ID: txlog.NewID(), Kind: "copy", Source: "a.csv", Destination: "sqlite:x?table=t", Mode: "append",
			Status: "running", StartedAt: start, Integration: "orders", Env: "DEV"}
		if err := l.Start(ctx, r); err != nil {
			t.Fatal(err)
		}
		if err := l.Checkpoint(ctx, r.ID, []byte(`{"offset":10}`), txlog.Stats{RowsRead: 5, RowsWritten: 5}); err != nil {
			t.Fatal(err)
		}
		got, err := l.Get(ctx, r.ID[:12])
		if err != nil {
			t.Fatal(err)
		}
		if got.RowsWritten != 5 || string(got.Position) != `{"offset":10}` || !got.StartedAt.Equal(start) || got.Integration != "orders" {
			t.Fatalf("after checkpoint: %+v", got)
		}
		// A worker (here taking over from another) records itself as the run's executor.
		if err := l.SetWorker(ctx, r.ID, "worker-2", 4242); err != nil {
			t.Fatal(err)
		}
		if got, err = l.Get(ctx, r.ID); err != nil || got.Host != "worker-2" || got.PID != 4242 || got.RowsWritten != 5 {
			t.Fatalf("after SetWorker: %+v %v", got, err)
		}
		fin := start.Add(2 * time.Second)
		r.Status, r.FinishedAt, r.DurationMS, r.Stats = "partial", &fin, 2000, txlog.Stats{RowsRead: 10, RowsWritten: 9, RowsRejected: 1}
		r.Attempts, r.RejectsPath = 1, "/data/rejects/x"
		if err := l.Finish(ctx, r); err != nil {
			t.Fatal(err)
		}
		got, err = l.Get(ctx, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != "partial" || got.RowsRejected != 1 || got.FinishedAt == nil || !got.FinishedAt.Equal(fin) || !got.HasCheckpoint {
			t.Fatalf("after finish: %+v", got)
		}
		if _, err := l.Get(ctx, "nope"); err == nil {
			t.Fatal("unknown id found")
		}
	})
}

func TestListPages(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		l := txlog.New(db)
		base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		for i := range 25 {
			st := runstatus.Succeeded
			if i%5 == 0 {
				st = runstatus.Failed
			}
			r := &txlog.Run{ID: fmt.Sprintf("run-%03d", i), Kind: "copy", Source: "s", Destination: "d", Mode: "append",
				Status: st, StartedAt: base.Add(time.Duration(i/2) * time.Second)} // pairs share a start time
			if err := l.Start(ctx, r); err != nil {
				t.Fatal(err)
			}
		}
		var all []string
		cursor := ""
		for {
			p, err := l.List(ctx, txlog.Filter{Limit: 7, Cursor: cursor})
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range p.Runs {
				all = append(all, r.ID)
			}
			if p.Next == "" {
				break
			}
			cursor = p.Next
		}
		if len(all) != 25 || all[0] != "run-024" || all[24] != "run-000" {
			t.Fatalf("pages gave %d runs: %v", len(all), all)
		}
		seen := map[string]bool{}
		for _, id := range all {
			if seen[id] {
				t.Fatalf("%s listed twice", id)
			}
			seen[id] = true
		}
		p, err := l.List(ctx, txlog.Filter{Status: "failed"})
		if err != nil || len(p.Runs) != 5 {
			t.Fatalf("failed runs: %d, %v", len(p.Runs), err)
		}
	})
}

// BenchmarkList100k measures GET /runs?limit=50's query with 100,000 runs in the store:
//
//	go test ./internal/txlog -run '^$' -bench List100k -benchtime 200x
func BenchmarkList100k(b *testing.B) {
	for _, tc := range []struct {
		name string
		open func(t testing.TB) *store.DB
	}{{"sqlite", storetest.SQLite}, {"postgres", storetest.Postgres}} {
		b.Run(tc.name, func(b *testing.B) {
			db := tc.open(b)
			ctx := context.Background()
			base := time.Now().Add(-100 * time.Hour)
			err := db.InTx(ctx, func(tx *store.Tx) error {
				for i := range 100_000 {
					_, err := tx.Exec(ctx, `INSERT INTO runs (id, kind, source, destination, mode, status, started_at) VALUES (?, 'copy', 's', 'd', 'append', 'succeeded', ?)`,
						fmt.Sprintf("r%06d", i), store.Time(base.Add(time.Duration(i)*time.Second)))
					if err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				b.Fatal(err)
			}
			l := txlog.New(db)
			b.ResetTimer()
			for range b.N {
				p, err := l.List(ctx, txlog.Filter{Limit: 50})
				if err != nil || len(p.Runs) != 50 {
					b.Fatal(err)
				}
			}
		})
	}
}
