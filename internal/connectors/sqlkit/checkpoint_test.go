package sqlkit

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"

	_ "modernc.org/sqlite"
)

// openSQLite is a database file of the test's own, on one connection (so a transaction and
// the statements after it see each other).
func openSQLite(t *testing.T) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(t.TempDir(), "kit.db"))
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// TestCheckpoints runs the checkpoint table's life on SQLite: read before it exists, create,
// save in a transaction that rolls back (nothing saved) and in one that commits, update.
func TestCheckpoints(t *testing.T) {
	ctx := t.Context()
	db := openSQLite(t)
	c := DB(db)
	cp := SQLite.Checkpoints("")
	if pos, err := cp.Load(ctx, c, "run1"); err != nil || pos != nil {
		t.Fatalf("Load before the table exists = %q, %v", pos, err)
	}
	if err := cp.Ensure(ctx, c); err != nil {
		t.Fatal(err)
	}
	if err := cp.Ensure(ctx, c); err != nil {
		t.Fatalf("Ensure twice: %v", err)
	}
	if pos, err := cp.Load(ctx, c, "run1"); err != nil || pos != nil {
		t.Fatalf("Load of an unknown run = %q, %v", pos, err)
	}

	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := cp.Save(ctx, DB(tx), "run1", []byte("lost")); err != nil {
		t.Fatal(err)
	}
	_ = tx.Rollback()
	if pos, err := cp.Load(ctx, c, "run1"); err != nil || pos != nil {
		t.Fatalf("a rolled back save was kept: %q, %v", pos, err)
	}

	for _, want := range []string{"first", "second"} {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := cp.Save(ctx, DB(tx), "run1", []byte(want)); err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		if pos, err := cp.Load(ctx, c, "run1"); err != nil || string(pos) != want {
			t.Fatalf("Load = %q, %v; want %q", pos, err, want)
		}
	}
	if pos, err := cp.Load(ctx, c, "run2"); err != nil || pos != nil {
		t.Fatalf("another run's position: %q, %v", pos, err)
	}
	var updated string
	if err := db.QueryRowContext(ctx, "SELECT updated_at FROM "+CheckpointTable).Scan(&updated); err != nil || len(updated) < len("2006-01-02T15:04:05Z") {
		t.Errorf("updated_at = %q, %v", updated, err)
	}
}

// TestReplace runs the staging table's life on SQLite: a stale staging table is replaced,
// Discard drops an unswapped one, and a swapped one is left alone.
func TestReplace(t *testing.T) {
	ctx := t.Context()
	db := openSQLite(t)
	c := DB(db)
	staging := SQLite.SideName("t", StagingSuffix)
	exists := func() bool {
		ok, err := SQLite.Exists(ctx, c, "", staging)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	if err := c.Exec(ctx, "CREATE TABLE "+SQLite.QuoteIdent(staging)+" (stale INTEGER)"); err != nil {
		t.Fatal(err)
	}
	r := Replace{Staging: SQLite.QuoteIdent(staging)}
	if err := r.Create(ctx, c, "CREATE TABLE "+r.Staging+" (v TEXT)"); err != nil {
		t.Fatalf("Create over a stale staging table: %v", err)
	}
	if err := c.Exec(ctx, "INSERT INTO "+r.Staging+" (v) VALUES ('x')"); err != nil {
		t.Fatalf("the new staging table: %v", err)
	}
	r.Discard(ctx, c)
	if exists() {
		t.Fatal("Discard left the staging table")
	}

	if err := r.Create(ctx, c, "CREATE TABLE "+r.Staging+" (v TEXT)"); err != nil {
		t.Fatal(err)
	}
	err := r.Swap(ctx, func(ctx2 context.Context) error { return c.Exec(ctx2, "ALTER TABLE "+r.Staging+" RENAME TO t") })
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Exec(ctx, "CREATE TABLE "+r.Staging+" (other TEXT)"); err != nil {
		t.Fatal(err)
	}
	r.Discard(ctx, c) // swapped: what now has the staging name is not ours
	if !exists() {
		t.Error("Discard after Swap dropped a table")
	}
}
