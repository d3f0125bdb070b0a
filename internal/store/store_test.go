package store_test

import (
	"context"
	"testing"

	"github.com/datahub-oss/datahub/internal/store"
	"github.com/datahub-oss/datahub/internal/store/storetest"
)

func init() {
	store.Register(store.Migration{Component: "storetest", Version: 1, SQL: `
CREATE TABLE storetest_items (id TEXT PRIMARY KEY, body BLOB, n INTEGER NOT NULL DEFAULT 0);
CREATE INDEX storetest_items_n ON storetest_items (n)`, Postgres: `
CREATE TABLE storetest_items (id TEXT PRIMARY KEY, body BYTEA, n BIGINT NOT NULL DEFAULT 0);
CREATE INDEX storetest_items_n ON storetest_items (n)`})
}

func TestRebind(t *testing.T) {
	for in, want := range map[string]string{
		"SELECT ? , ?":             "SELECT $1 , $2",
		"SELECT '?' , ?":           "SELECT '?' , $1",
		"UPDATE t SET a = ? WHERE": "UPDATE t SET a = $1 WHERE",
	} {
		if got := store.Rebind(store.Postgres, in); got != want {
			t.Errorf("Rebind(%q) = %q, want %q", in, got, want)
		}
		if got := store.Rebind(store.SQLite, in); got != in {
			t.Errorf("SQLite Rebind changed %q", in)
		}
	}
}

func TestMigrateAndTx(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		// Migrating twice is harmless.
		if err := db.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		err := db.InTx(ctx, func(tx *store.Tx) error {
			_, err := tx.Exec(ctx, `INSERT INTO storetest_items (id, body, n) VALUES (?, ?, ?)`, "a", []byte{0, 1, 2}, 7)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		var body []byte
		var n int64
		if err := db.QueryRow(ctx, `SELECT body, n FROM storetest_items WHERE id = ?`, "a").Scan(&body, &n); err != nil {
			t.Fatal(err)
		}
		if len(body) != 3 || n != 7 {
			t.Fatalf("got %v %d", body, n)
		}
		// A failing transaction leaves nothing.
		_ = db.InTx(ctx, func(tx *store.Tx) error {
			if _, err := tx.Exec(ctx, `INSERT INTO storetest_items (id) VALUES (?)`, "b"); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `INSERT INTO storetest_items (id) VALUES (?)`, "a")
			return err
		})
		var c int
		if err := db.QueryRow(ctx, `SELECT count(*) FROM storetest_items`).Scan(&c); err != nil || c != 1 {
			t.Fatalf("count %d, %v", c, err)
		}
	})
}
