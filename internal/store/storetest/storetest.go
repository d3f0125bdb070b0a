// Package storetest runs a test against every store driver: SQLite in a temporary folder and
// PostgreSQL in a fresh database on the test server (DATAHUB_TEST_PG, default
// postgres://postgres@127.0.0.1:5432/postgres). A missing PostgreSQL fails the test unless
// -short is given, which runs SQLite only.
package storetest

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/datahub-oss/datahub/internal/store"
)

var seq atomic.Int64

// Each runs fn as subtests "sqlite" and "postgres", each with a fresh, migrated store.
func Each(t *testing.T, fn func(t *testing.T, db *store.DB)) {
	t.Helper()
	t.Run("sqlite", func(t *testing.T) { fn(t, SQLite(t)) })
	t.Run("postgres", func(t *testing.T) {
		if testing.Short() {
			t.Skip("PostgreSQL store skipped with -short")
		}
		fn(t, Postgres(t))
	})
}

// SQLite returns a fresh, migrated SQLite store in a temporary folder.
func SQLite(t testing.TB) *store.DB {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, "", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	return db
}

// PostgresURL creates a fresh database on the test server and returns its URL.
func PostgresURL(t testing.TB) string {
	t.Helper()
	admin := os.Getenv("DATAHUB_TEST_PG")
	if admin == "" {
		admin = "postgres://postgres@127.0.0.1:5432/postgres"
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatalf("PostgreSQL for store tests is not reachable at %s (set DATAHUB_TEST_PG or run scripts/test.sh): %v", admin, err)
	}
	defer func() { _ = conn.Close(ctx) }()
	name := fmt.Sprintf("dh_test_store_%d_%d", os.Getpid(), seq.Add(1))
	if _, err := conn.Exec(ctx, `DROP DATABASE IF EXISTS `+name+` WITH (FORCE)`); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `CREATE DATABASE `+name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if c, err := pgx.Connect(ctx, admin); err == nil {
			_, _ = c.Exec(ctx, `DROP DATABASE IF EXISTS `+name+` WITH (FORCE)`)
			_ = c.Close(ctx)
		}
	})
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	if !strings.Contains(u.RawQuery, "sslmode") {
		u.RawQuery = "sslmode=disable"
	}
	return u.String()
}

// Postgres returns a fresh, migrated PostgreSQL store.
func Postgres(t testing.TB) *store.DB {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, PostgresURL(t), "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	return db
}
