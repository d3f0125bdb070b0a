// Package store is the hub's metadata database: SQLite in the data folder by default (pure Go,
// no cgo), PostgreSQL for scale-out. Domain packages (catalog, audit, auth, runs) own their
// tables: they register migrations here and write portable SQL through DB, whose Rebind turns
// '?' placeholders into the dialect's. storetest runs a package's tests against both drivers.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // "pgx" database/sql driver
	"modernc.org/sqlite"               // "sqlite" database/sql driver
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/datahub-oss/datahub/connector"
	"github.com/datahub-oss/datahub/internal/errcode"
)

// Dialect is the SQL flavour of a DB.
type Dialect int

// The supported dialects.
const (
	SQLite Dialect = iota
	Postgres
)

func (d Dialect) String() string {
	if d == Postgres {
		return "postgres"
	}
	return "sqlite"
}

// FileName is the SQLite database's name inside the data folder.
const FileName = "datahub.db"

// DB is a metadata database.
type DB struct {
	*sql.DB
	Dialect Dialect
	// Where is the redacted location, for messages.
	Where string
}

// Open connects to the store: a postgres:// URL, or else a SQLite database in dataDir (the
// file is created). Migrations are not run; call Migrate.
func Open(ctx context.Context, url, dataDir string) (*DB, error) {
	if strings.HasPrefix(url, "postgres://") || strings.HasPrefix(url, "postgresql://") {
		db, err := sql.Open("pgx", url)
		if err != nil {
			return nil, fmt.Errorf("open store %s: %w", connector.Redact(url), err)
		}
		db.SetMaxOpenConns(20)
		db.SetConnMaxIdleTime(5 * time.Minute)
		s := &DB{DB: db, Dialect: Postgres, Where: connector.Redact(url)}
		if err := db.PingContext(ctx); err != nil {
			_ = db.Close()
			return nil, connector.Errorf(connector.CodeUnreachable, s.Where, "check that PostgreSQL is running and the URL's user, password and database", err)
		}
		return s, nil
	}
	if url != "" && !strings.HasPrefix(url, "sqlite:") {
		return nil, errcode.Errorf(errcode.Config, connector.Redact(url), "", errors.New("the store must be a postgres:// URL or sqlite:PATH (default: SQLite in the data folder)"))
	}
	path := strings.TrimPrefix(url, "sqlite:")
	if path == "" {
		if err := os.MkdirAll(dataDir, 0o750); err != nil {
			return nil, fmt.Errorf("create data folder %s: %w", dataDir, err)
		}
		path = filepath.Join(dataDir, FileName)
	}
	// One writer at a time is SQLite's nature; WAL lets readers go on meanwhile, and
	// busy_timeout makes a second process wait rather than fail.
	dsn := "file:" + path + "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=foreign_keys(1)&_txlock=immediate"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	db.SetMaxOpenConns(1)
	s := &DB{DB: db, Dialect: SQLite, Where: path}
	if err := db.PingContext(ctx); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	return s, nil
}

// Rebind turns '?' placeholders into $1, $2 ... for PostgreSQL. A '?' inside a quoted string
// literal is left alone.
func (db *DB) Rebind(q string) string { return Rebind(db.Dialect, q) }

// Rebind is DB.Rebind for a dialect.
func Rebind(d Dialect, q string) string {
	if d != Postgres || !strings.Contains(q, "?") {
		return q
	}
	var b strings.Builder
	b.Grow(len(q) + 8)
	n := 0
	inQuote := false
	for i := 0; i < len(q); i++ {
		c := q[i]
		switch {
		case c == '\'':
			inQuote = !inQuote
			b.WriteByte(c)
		case c == '?' && !inQuote:
			n++
			fmt.Fprintf(&b, "$%d", n)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// Querier is what both *sql.DB and *sql.Tx offer.
type Querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// Tx is a transaction with the DB's dialect.
type Tx struct {
	*sql.Tx
	Dialect Dialect
}

// Exec runs a statement written with '?' placeholders.
func (tx *Tx) Exec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	res, err := tx.ExecContext(ctx, Rebind(tx.Dialect, q), args...)
	return res, tx.full(err)
}

// Query runs a query written with '?' placeholders.
func (tx *Tx) Query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	return tx.QueryContext(ctx, Rebind(tx.Dialect, q), args...)
}

// QueryRow runs a one-row query written with '?' placeholders.
func (tx *Tx) QueryRow(ctx context.Context, q string, args ...any) *sql.Row {
	return tx.QueryRowContext(ctx, Rebind(tx.Dialect, q), args...)
}

// Exec runs a statement written with '?' placeholders.
func (db *DB) Exec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	res, err := db.ExecContext(ctx, db.Rebind(q), args...)
	return res, db.full(err)
}

// full names a store that ran out of room (SQLite's "database or disk is full", ENOSPC,
// PostgreSQL's disk_full) as a connector.CodeDiskFull error saying where; other errors are
// returned as they are.
func (db *DB) full(err error) error {
	if err == nil || !isFull(err) {
		return err
	}
	return connector.DiskFull("", "the hub's metadata store "+db.Where, err)
}

func (tx *Tx) full(err error) error {
	if err == nil || !isFull(err) {
		return err
	}
	return connector.DiskFull("", "the hub's metadata store", err)
}

func isFull(err error) bool {
	var se *sqlite.Error
	if errors.As(err, &se) && se.Code()&0xff == sqlite3.SQLITE_FULL {
		return true
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "53100" {
		return true
	}
	return connector.IsDiskFull(err)
}

// Query runs a query written with '?' placeholders.
func (db *DB) Query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	return db.QueryContext(ctx, db.Rebind(q), args...)
}

// QueryRow runs a one-row query written with '?' placeholders.
func (db *DB) QueryRow(ctx context.Context, q string, args ...any) *sql.Row {
	return db.QueryRowContext(ctx, db.Rebind(q), args...)
}

// InTx runs fn in a transaction, committing when it returns nil. Serialization failures and
// deadlocks (PostgreSQL) are retried a few times.
func (db *DB) InTx(ctx context.Context, fn func(tx *Tx) error) error {
	var err error
	for attempt := 0; attempt < 5; attempt++ {
		err = db.inTx(ctx, fn)
		if err == nil || !retryable(err) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Duration(attempt+1) * 20 * time.Millisecond):
		}
	}
	return err
}

func (db *DB) inTx(ctx context.Context, fn func(tx *Tx) error) error {
	stx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	tx := &Tx{Tx: stx, Dialect: db.Dialect}
	if err := fn(tx); err != nil {
		_ = stx.Rollback()
		return err
	}
	if err := stx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", db.full(err))
	}
	return nil
}

func retryable(err error) bool {
	s := err.Error()
	return strings.Contains(s, "SQLSTATE 40001") || strings.Contains(s, "SQLSTATE 40P01") || strings.Contains(s, "SQLITE_BUSY")
}

// Migration is one schema change of one component. SQL is run as is on both dialects unless
// Postgres is set, which then replaces it there (for the few types that differ: BLOB/BYTEA,
// INTEGER PRIMARY KEY AUTOINCREMENT/BIGSERIAL). Statements are separated by ";\n".
type Migration struct {
	Component string
	Version   int
	SQL       string
	Postgres  string
}

var (
	migMu      sync.Mutex
	migrations []Migration
)

// Register adds migrations; domain packages call it from init. A duplicate panics.
func Register(ms ...Migration) {
	migMu.Lock()
	defer migMu.Unlock()
	for _, m := range ms {
		for _, o := range migrations {
			if o.Component == m.Component && o.Version == m.Version {
				panic(fmt.Sprintf("store: duplicate migration %s/%d", m.Component, m.Version))
			}
		}
		migrations = append(migrations, m)
	}
}

// Migrate applies every registered migration not yet applied, each in its own transaction.
// On PostgreSQL an advisory lock keeps two starting servers from migrating at once.
func (db *DB) Migrate(ctx context.Context) error {
	migMu.Lock()
	ms := append([]Migration(nil), migrations...)
	migMu.Unlock()
	sort.SliceStable(ms, func(i, j int) bool {
		if ms[i].Component != ms[j].Component {
			return ms[i].Component < ms[j].Component
		}
		return ms[i].Version < ms[j].Version
	})
	if _, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
	component TEXT NOT NULL, version INTEGER NOT NULL, applied_at TEXT NOT NULL, PRIMARY KEY (component, version))`); err != nil {
		return fmt.Errorf("migrate store %s: %w", db.Where, err)
	}
	for _, m := range ms {
		err := db.InTx(ctx, func(tx *Tx) error {
			if err := tx.Lock(ctx, LockMigrate); err != nil {
				return err
			}
			var n int
			if err := tx.QueryRow(ctx, `SELECT count(*) FROM schema_migrations WHERE component = ? AND version = ?`, m.Component, m.Version).Scan(&n); err != nil {
				return err
			}
			if n > 0 {
				return nil
			}
			body := m.SQL
			if db.Dialect == Postgres && m.Postgres != "" {
				body = m.Postgres
			}
			for _, stmt := range strings.Split(body, ";\n") {
				if strings.TrimSpace(stmt) == "" {
					continue
				}
				if _, err := tx.ExecContext(ctx, stmt); err != nil {
					return fmt.Errorf("%s: %w", strings.TrimSpace(firstLine(stmt)), err)
				}
			}
			_, err := tx.Exec(ctx, `INSERT INTO schema_migrations (component, version, applied_at) VALUES (?, ?, ?)`,
				m.Component, m.Version, time.Now().UTC().Format(time.RFC3339Nano))
			return err
		})
		if err != nil {
			return fmt.Errorf("migrate store %s: %s/%d: %w", db.Where, m.Component, m.Version, err)
		}
	}
	return nil
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// Time renders a time as stored: RFC 3339 in UTC with nanoseconds, so text order is time order.
func Time(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000000000Z07:00") }

// ParseTime reads a stored time.
func ParseTime(s string) (time.Time, error) { return time.Parse(time.RFC3339Nano, s) }

// Lock is a named advisory lock that serialises one kind of change across every process
// sharing a PostgreSQL store. The ids live here, in one list, so that no two packages pick
// the same number by accident.
type Lock int64

// The advisory locks.
const (
	LockMigrate   Lock = 7243001
	LockCatalog   Lock = 7243002
	LockBootstrap Lock = 7243003
	LockAudit     Lock = 7243004
)

// Lock takes the advisory lock until the transaction ends. On SQLite it does nothing: the
// store opens SQLite write transactions as IMMEDIATE, which already excludes other writers.
func (tx *Tx) Lock(ctx context.Context, l Lock) error {
	if tx.Dialect != Postgres {
		return nil
	}
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(l)); err != nil {
		return fmt.Errorf("take advisory lock %d: %w", l, err)
	}
	return nil
}
