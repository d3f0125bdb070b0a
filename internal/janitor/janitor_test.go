package janitor

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/datahub-oss/datahub/internal/catalog"
	"github.com/datahub-oss/datahub/internal/config"
	"github.com/datahub-oss/datahub/internal/store"
	"github.com/datahub-oss/datahub/internal/store/storetest"
)

// write creates a file under dir with a modification time age ago.
func write(t *testing.T, dir, name string, age time.Duration) string {
	t.Helper()
	p := filepath.Join(dir, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	backdate(t, p, age)
	return p
}

// backdate sets a path's times age ago.
func backdate(t *testing.T, p string, age time.Duration) {
	t.Helper()
	at := time.Now().Add(-age)
	if err := os.Chtimes(p, at, at); err != nil {
		t.Fatal(err)
	}
}

func exists(p string) bool { _, err := os.Lstat(p); return err == nil }

const day = 24 * time.Hour

func TestPruneHookBodies(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	hooks := filepath.Join(data, "hooks")
	outside := write(t, data, "outside/secret.csv", 30*day)
	oldBody := write(t, hooks, "orders/old.json", 8*day)
	newBody := write(t, hooks, "orders/new.json", time.Hour)
	gone := write(t, hooks, "gone/event-t-1.ndjson", 10*day)
	// Emptied from the bottom up: the file and its three folders go.
	deep := write(t, hooks, "deep/a/b/old.json", 10*day)
	busy := filepath.Join(hooks, "busy") // empty, but just created: a body may be on its way
	if err := os.MkdirAll(busy, 0o700); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(hooks, "orders", "link.csv")
	if err := os.Symlink(outside, link); err != nil {
		t.Fatal(err)
	}
	dirLink := filepath.Join(hooks, "elsewhere")
	if err := os.Symlink(filepath.Dir(outside), dirLink); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{filepath.Join(hooks, "gone"), filepath.Join(hooks, "orders"),
		filepath.Join(hooks, "deep"), filepath.Join(hooks, "deep", "a"), filepath.Join(hooks, "deep", "a", "b")} {
		backdate(t, p, 10*day)
	}

	files, folders, err := pruneFiles(hooks, time.Now().Add(-7*day))
	if err != nil {
		t.Fatal(err)
	}
	if files != 3 || folders != 4 {
		t.Errorf("removed %d files and %d folders, want 3 and 4", files, folders)
	}
	for p, want := range map[string]bool{oldBody: false, gone: false, filepath.Dir(gone): false,
		deep: false, filepath.Join(hooks, "deep"): false,
		newBody: true, busy: true, link: true, dirLink: true, outside: true, hooks: true} {
		if exists(p) != want {
			t.Errorf("%s exists: %v, want %v", p, !want, want)
		}
	}
	if files, folders, err := pruneFiles(hooks, time.Now().Add(-7*day)); err != nil || files != 0 || folders != 0 {
		t.Errorf("second pass removed %d, %d, %v", files, folders, err)
	}
	if files, folders, err := pruneFiles(filepath.Join(data, "none"), time.Now()); err != nil || files+folders != 0 {
		t.Errorf("missing folder: %d, %d, %v", files, folders, err)
	}
}

func TestPruneRejects(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	rejects := filepath.Join(data, "rejects")
	outside := write(t, data, "outside/keep.ndjson", 60*day)
	old := write(t, rejects, "run-old/rejects.ndjson", 31*day)
	backdate(t, filepath.Dir(old), 31*day)
	// A run that started long ago and rejected a row yesterday: its folder is recent.
	active := write(t, rejects, "run-long/rejects.ndjson", day)
	backdate(t, filepath.Dir(active), 40*day)
	recent := write(t, rejects, "run-new/rejects.ndjson", time.Hour)
	link := filepath.Join(rejects, "run-link")
	if err := os.Symlink(filepath.Dir(outside), link); err != nil {
		t.Fatal(err)
	}
	loose := write(t, rejects, "stray.txt", 60*day)

	n, err := pruneFolders(rejects, time.Now().Add(-30*day))
	if err != nil || n != 1 {
		t.Fatalf("removed %d folders, %v; want 1", n, err)
	}
	for p, want := range map[string]bool{filepath.Dir(old): false, active: true, recent: true, link: true, outside: true, loose: true} {
		if exists(p) != want {
			t.Errorf("%s exists: %v, want %v", p, !want, want)
		}
	}
}

func TestSweep(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		now := time.Now()
		old := store.Time(now.Add(-100 * day))
		for _, q := range []struct {
			sql  string
			args []any
		}{
			{`INSERT INTO trigger_ticks (integration, tick_time, fired_at) VALUES (?, ?, ?)`, []any{"gone", old, old}},
			{`INSERT INTO trigger_files (integration, path, size, mtime, sha256, seen_at) VALUES (?, ?, 1, ?, ?, ?)`, []any{"gone", "a.csv", old, "A", old}},
			{`INSERT INTO trigger_hooks (integration, hook_key, run_id, at) VALUES (?, ?, ?, ?)`, []any{"gone", "k", "r", old}},
		} {
			if _, err := db.Exec(ctx, q.sql, q.args...); err != nil {
				t.Fatal(err)
			}
		}
		data := t.TempDir()
		write(t, data, "rejects/run-1/rejects.ndjson", 100*day)
		backdate(t, filepath.Join(data, "rejects", "run-1"), 100*day)
		body := write(t, data, "hooks/gone/1.json", 100*day)
		j := &Janitor{DB: db, Catalog: catalog.New(db, catalog.Options{}), DataDir: data, Retention: config.DefaultRetention()}
		j.Retention.HookBodies = 0 // off: kept however old
		c, err := j.Sweep(ctx)
		if err != nil {
			t.Fatal(err)
		}
		want := Counts{HookKeys: 1, Ticks: 1, FileVersions: 1, Rejects: 1}
		if c != want {
			t.Fatalf("swept %+v, want %+v", c, want)
		}
		if !exists(body) {
			t.Error("a hook body went while its rule is off")
		}
		if c, err := j.Sweep(ctx); err != nil || c != (Counts{}) {
			t.Fatalf("second sweep %+v, %v", c, err)
		}
	})
}

func TestRunStopsWithContext(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	j := &Janitor{Delay: time.Hour}
	if err := j.Run(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Run returned %v, want context.Canceled", err)
	}
}
