package txlog_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/datahub-oss/datahub/internal/store"
	"github.com/datahub-oss/datahub/internal/store/storetest"
	"github.com/datahub-oss/datahub/internal/txlog"
)

// TestResumedRunPart: a resumed run keeps its totals in the counters and shows what its
// latest start did in Part; the resume count adds up.
func TestResumedRunPart(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		l := txlog.New(db)
		r := &txlog.Run{ID: txlog.NewID(), Kind: "copy", Source: "a.csv", Destination: "d", Mode: "append", Status: "running", StartedAt: time.Now()}
		if err := l.Start(ctx, r); err != nil {
			t.Fatal(err)
		}
		r.Status, r.Stats, r.Part, r.Attempts = "failed", txlog.Stats{RowsRead: 800, RowsWritten: 800}, txlog.Stats{RowsRead: 800, RowsWritten: 800}, 4
		if err := l.Finish(ctx, r); err != nil {
			t.Fatal(err)
		}
		// The resume starts from the checkpoint's counters.
		r2 := &txlog.Run{ID: r.ID, Kind: "copy", Source: "a.csv", Destination: "d", Mode: "append", Status: "running", StartedAt: r.StartedAt,
			Stats: txlog.Stats{RowsRead: 800, RowsWritten: 800}}
		if err := l.Start(ctx, r2); err != nil {
			t.Fatal(err)
		}
		if got, err := l.Get(ctx, r.ID); err != nil || got.Part.RowsWritten != 0 || got.RowsWritten != 800 {
			t.Fatalf("resumed, before its first checkpoint: %+v %v", got, err)
		}
		if err := l.Checkpoint(ctx, r.ID, []byte("p"), txlog.Stats{RowsRead: 1000, RowsWritten: 1000}); err != nil {
			t.Fatal(err)
		}
		if got, err := l.Get(ctx, r.ID); err != nil || got.Part.RowsWritten != 200 || got.RowsWritten != 1000 {
			t.Fatalf("resumed, after a checkpoint: %+v %v", got, err)
		}
		r2.Status, r2.Stats, r2.Part, r2.Attempts, r2.Resumes = "succeeded", txlog.Stats{RowsRead: 2000, RowsWritten: 2000},
			txlog.Stats{RowsRead: 1200, RowsWritten: 1200}, 1, 1
		if err := l.Finish(ctx, r2); err != nil {
			t.Fatal(err)
		}
		got, err := l.Get(ctx, r.ID)
		if err != nil || got.RowsWritten != 2000 || got.Part.RowsWritten != 1200 || got.Part.RowsRead != 1200 || got.Resumes != 1 || got.Attempts != 5 {
			t.Fatalf("finished: %+v %v", got, err)
		}
	})
}

// TestFailAbandoned: a copy whose process is gone is recorded as failed with a reason; one
// whose process lives, another host's, and a server's run are left alone. Error texts are
// capped.
func TestFailAbandoned(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		l := txlog.New(db)
		mk := func(kind string) string {
			r := &txlog.Run{ID: txlog.NewID(), Kind: kind, Source: "a", Destination: "b", Mode: "append", Status: "running", StartedAt: time.Now()}
			if err := l.Start(ctx, r); err != nil {
				t.Fatal(err)
			}
			return r.ID
		}
		dead, alive, other, server := mk("copy"), mk("copy"), mk("copy"), mk("integration")
		for id, pid := range map[string]int{dead: 101, alive: 102, server: 101} {
			if err := l.SetWorker(ctx, id, "here", pid); err != nil {
				t.Fatal(err)
			}
		}
		if err := l.SetWorker(ctx, other, "elsewhere", 101); err != nil {
			t.Fatal(err)
		}
		n, err := l.FailAbandoned(ctx, "copy", "here", func(pid int) bool { return pid == 102 })
		if err != nil || n != 1 {
			t.Fatalf("FailAbandoned = %d, %v", n, err)
		}
		want := map[string]string{dead: "failed", alive: "running", other: "running", server: "running"}
		for id, status := range want {
			got, err := l.Get(ctx, id)
			if err != nil || string(got.Status) != status {
				t.Fatalf("run %s: %s, want %s (%v)", id, got.Status, status, err)
			}
			if id == dead && (!strings.Contains(got.Error, "pid 101") || got.ErrorCode != "interrupted" || got.FinishedAt == nil) {
				t.Fatalf("abandoned run: %+v", got)
			}
		}

		r := &txlog.Run{ID: alive, Status: "failed", Error: strings.Repeat("e", 1<<20)}
		if err := l.Finish(ctx, r); err != nil {
			t.Fatal(err)
		}
		if got, _ := l.Get(ctx, alive); len(got.Error) > txlog.MaxError+64 || !strings.Contains(got.Error, "(cut, 1020 KiB more)") {
			t.Fatalf("stored error of %d bytes ending %q", len(got.Error), got.Error[max(0, len(got.Error)-40):])
		}
	})
}
