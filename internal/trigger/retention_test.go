package trigger

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/datahub-oss/datahub/internal/store"
	"github.com/datahub-oss/datahub/internal/store/storetest"
)

func liveSet(names ...string) func(string) bool {
	return func(n string) bool { return slices.Contains(names, n) }
}

// column reads one column of one query.
func column(t *testing.T, db *store.DB, q string, args ...any) []string {
	t.Helper()
	rows, err := db.Query(context.Background(), q, args...)
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
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestPruneTicks(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
		old, recent := now.Add(-40*24*time.Hour), now.Add(-time.Hour)
		claim := func(name string, at, firedAt time.Time) {
			t.Helper()
			if _, err := claimTicks(ctx, db, "s1", []tick{{integration: name, at: at}}, firedAt); err != nil {
				t.Fatal(err)
			}
		}
		// hourly: two old ticks and a recent one; monthly: only old ticks, the latest of which
		// a restart catches up from; gone: an old tick of an integration deleted since.
		claim("hourly", old, old)
		claim("hourly", old.Add(time.Hour), old.Add(time.Hour))
		claim("hourly", recent, recent)
		claim("monthly", old.Add(-24*time.Hour), old.Add(-24*time.Hour))
		claim("monthly", old, old)
		claim("gone", old, old)
		claim("gone-recent", recent, recent)
		n, err := PruneTicks(ctx, db, now.Add(-30*24*time.Hour), liveSet("hourly", "monthly"))
		if err != nil {
			t.Fatal(err)
		}
		got := column(t, db, `SELECT integration || ' ' || tick_time FROM trigger_ticks ORDER BY integration, tick_time`)
		want := []string{"gone-recent " + store.Time(recent), "hourly " + store.Time(recent), "monthly " + store.Time(old)}
		if n != 4 || !slices.Equal(got, want) {
			t.Fatalf("deleted %d, kept %q; want 4, %q", n, got, want)
		}
		last, err := lastTicks(ctx, db)
		if err != nil || !last["monthly"].Equal(old) {
			t.Fatalf("latest monthly tick %v, %v; want %v", last["monthly"], err, old)
		}
		// Idempotent: a second pass (another server) finds nothing.
		if n, err := PruneTicks(ctx, db, now.Add(-30*24*time.Hour), liveSet("hourly", "monthly")); err != nil || n != 0 {
			t.Fatalf("second pass deleted %d, %v", n, err)
		}
	})
}

func TestPruneFiles(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
		old, recent := now.Add(-40*24*time.Hour), now.Add(-time.Hour)
		claim := func(name, path, sum string, at time.Time) {
			t.Helper()
			ok, err := claimFile(ctx, db, name, fileVersion{path: path, size: 1, mtime: at, sha256: sum}, at)
			if err != nil || !ok {
				t.Fatalf("claim %s %s %s: %v, %v", name, path, sum, ok, err)
			}
		}
		claim("in", "a.csv", "A1", old)                      // replaced long ago by A2: goes
		claim("in", "a.csv", "A2", old.Add(time.Hour))       // latest of a.csv, however old: kept
		claim("in", "b.csv", "B1", recent.Add(-time.Minute)) // replaced recently: kept
		claim("in", "b.csv", "B2", recent)
		claim("gone", "c.csv", "C1", old)                             // integration deleted, version old: goes
		claim("gone-recent", "c.csv", "C2", recent.Add(-2*time.Hour)) // deleted, version recent: kept
		claim("new", "d.csv", "D1", recent)                           // created after the catalog was read: kept
		n, err := PruneFiles(ctx, db, now.Add(-30*24*time.Hour), liveSet("in"))
		if err != nil {
			t.Fatal(err)
		}
		got := column(t, db, `SELECT integration || ' ' || sha256 FROM trigger_files ORDER BY integration, sha256`)
		want := []string{"gone-recent C2", "in A2", "in B1", "in B2", "new D1"}
		if n != 2 || !slices.Equal(got, want) {
			t.Fatalf("deleted %d, kept %q; want 2, %q", n, got, want)
		}
		if n, err := PruneFiles(ctx, db, now.Add(-30*24*time.Hour), liveSet("in", "new")); err != nil || n != 0 {
			t.Fatalf("second pass deleted %d, %v", n, err)
		}
		// An integration deleted and applied again within the retention does not transfer
		// its files again.
		if ok, err := claimFile(ctx, db, "gone-recent", fileVersion{path: "c.csv", size: 1, mtime: now, sha256: "C2"}, now); err != nil || ok {
			t.Fatalf("file of a re-applied integration fired again: %v, %v", ok, err)
		}
		// The kept latest version still stops the same content from firing again; the
		// deleted superseded one fires again, as it would have with its row kept.
		if ok, err := claimFile(ctx, db, "in", fileVersion{path: "a.csv", size: 1, mtime: now, sha256: "A2"}, now); err != nil || ok {
			t.Fatalf("latest version fired again: %v, %v", ok, err)
		}
		if ok, err := claimFile(ctx, db, "in", fileVersion{path: "a.csv", size: 1, mtime: now, sha256: "A1"}, now.Add(time.Second)); err != nil || !ok {
			t.Fatalf("content seen before A2 did not fire again: %v, %v", ok, err)
		}
	})
}

func TestPruneHooks(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
		h := NewHooks(db)
		for _, k := range []struct {
			name, key string
			at        time.Time
		}{
			// Newest first: Claim itself forgets the keys older than the window.
			{"a", "in-window", now.Add(-time.Hour)},
			{"b", "past-window", now.Add(-HookDedupeWindow - time.Hour)},
			{"a", "old", now.Add(-HookRetention - time.Minute)},
			{"b", "old", now.Add(-HookRetention - time.Hour)},
		} {
			h.now = func() time.Time { return k.at }
			if ok, _, err := h.Claim(ctx, k.name, k.key); err != nil || !ok {
				t.Fatalf("claim %s %s: %v, %v", k.name, k.key, ok, err)
			}
			if err := h.SetRun(ctx, k.name, k.key, "run-"+k.key); err != nil {
				t.Fatal(err)
			}
		}
		n, err := PruneHooks(ctx, db, now.Add(-HookRetention))
		if err != nil {
			t.Fatal(err)
		}
		got := column(t, db, `SELECT integration || ' ' || hook_key FROM trigger_hooks ORDER BY integration, hook_key`)
		want := []string{"a in-window", "b past-window"}
		if n != 2 || !slices.Equal(got, want) {
			t.Fatalf("deleted %d, kept %q; want 2, %q", n, got, want)
		}
		// A batch delivered again within the window still maps to its run.
		h.now = func() time.Time { return now }
		if ok, run, err := h.Claim(ctx, "a", "in-window"); err != nil || ok || run != "run-in-window" {
			t.Fatalf("redelivered batch: claimed %v, run %q, %v", ok, run, err)
		}
	})
}
