// Package txlog is the transaction log: every run with its endpoints (passwords redacted),
// times, status, statistics, error and last checkpoint. It lives in the metadata store: SQLite
// in the data folder for `datahub copy` and a default `datahub serve`, PostgreSQL when the
// server is given one.
package txlog

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/datahub-oss/datahub/internal/store"
)

// Stats are a run's counters.
type Stats struct {
	RowsRead     int64 `json:"rows_read"`
	RowsWritten  int64 `json:"rows_written"`
	RowsRejected int64 `json:"rows_rejected"`
	BytesRead    int64 `json:"bytes_read"`
	BytesWritten int64 `json:"bytes_written"`
}

// Run is one transfer as recorded.
type Run struct {
	ID          string `json:"run_id"`
	Kind        string `json:"kind"`
	Integration string `json:"integration,omitempty"`
	Env         string `json:"env,omitempty"`
	RequestedBy string `json:"requested_by,omitempty"`
	Source      string `json:"source"`
	Destination string `json:"destination"`
	Mode        string `json:"mode"`
	Options     string `json:"options,omitempty"`
	Status      string `json:"status"`
	Stats
	StartedAt   time.Time  `json:"started_at"`
	FinishedAt  *time.Time `json:"finished_at,omitempty"`
	DurationMS  int64      `json:"duration_ms"`
	Error       string     `json:"error,omitempty"`
	ErrorCode   string     `json:"error_code,omitempty"`
	RejectsPath string     `json:"rejects_path"`
	FastPath    bool       `json:"fast_path"`
	Attempts    int        `json:"attempts"`
	Host        string     `json:"host,omitempty"`
	PID         int        `json:"pid,omitempty"`
	// Position is the last committed source position, for --resume.
	Position []byte `json:"-"`
	// HasCheckpoint tells whether a position was recorded.
	HasCheckpoint bool `json:"has_checkpoint"`
}

// Log is the transaction log.
type Log struct {
	db *store.DB
	// own is set when Open opened the store, so Close closes it.
	own bool
}

func init() {
	store.Register(store.Migration{Component: "txlog", Version: 1, SQL: schemaSQL("BLOB"), Postgres: schemaSQL("BYTEA")})
}

func schemaSQL(blob string) string {
	return `CREATE TABLE runs (
	id            TEXT PRIMARY KEY,
	kind          TEXT NOT NULL,
	integration   TEXT NOT NULL DEFAULT '',
	env           TEXT NOT NULL DEFAULT '',
	requested_by  TEXT NOT NULL DEFAULT '',
	source        TEXT NOT NULL,
	destination   TEXT NOT NULL,
	mode          TEXT NOT NULL,
	options       TEXT NOT NULL DEFAULT '',
	status        TEXT NOT NULL,
	rows_read     BIGINT NOT NULL DEFAULT 0,
	rows_written  BIGINT NOT NULL DEFAULT 0,
	rows_rejected BIGINT NOT NULL DEFAULT 0,
	bytes_read    BIGINT NOT NULL DEFAULT 0,
	bytes_written BIGINT NOT NULL DEFAULT 0,
	started_at    TEXT NOT NULL,
	finished_at   TEXT,
	duration_ms   BIGINT NOT NULL DEFAULT 0,
	error         TEXT NOT NULL DEFAULT '',
	error_code    TEXT NOT NULL DEFAULT '',
	rejects_path  TEXT NOT NULL DEFAULT '',
	fast_path     BOOLEAN NOT NULL DEFAULT FALSE,
	attempts      INTEGER NOT NULL DEFAULT 0,
	host          TEXT NOT NULL DEFAULT '',
	pid           INTEGER NOT NULL DEFAULT 0,
	position      ` + blob + `,
	checkpoint_at TEXT
);
CREATE INDEX runs_started ON runs (started_at, id);
CREATE INDEX runs_status_started ON runs (status, started_at, id);
CREATE INDEX runs_integration_started ON runs (integration, started_at, id)`
}

// Open opens (creating when needed) the store in dir and the log in it.
func Open(ctx context.Context, dir string) (*Log, error) {
	db, err := store.Open(ctx, "", dir)
	if err != nil {
		return nil, fmt.Errorf("open transaction log: %w", err)
	}
	if err := db.Migrate(ctx); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("open transaction log: %w", err)
	}
	return &Log{db: db, own: true}, nil
}

// New uses an open, migrated store.
func New(db *store.DB) *Log { return &Log{db: db} }

// Close closes the store if Open opened it.
func (l *Log) Close() error {
	if l.own {
		return l.db.Close()
	}
	return nil
}

// NewID returns a new run id: a UUIDv7, so ids sort by start time.
func NewID() string { return uuid.Must(uuid.NewV7()).String() }

func ts(t time.Time) string { return store.Time(t) }

// Start records a run that begins (or, resumed, begins again).
func (l *Log) Start(ctx context.Context, r *Run) error {
	host, _ := os.Hostname()
	r.Host, r.PID = host, os.Getpid()
	_, err := l.db.Exec(ctx, `
INSERT INTO runs (id, kind, integration, env, requested_by, source, destination, mode, options, status, started_at, host, pid,
	rows_read, rows_written, rows_rejected, bytes_read, bytes_written, rejects_path)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (id) DO UPDATE SET status = excluded.status, host = excluded.host, pid = excluded.pid,
	finished_at = NULL, error = '', error_code = ''`,
		r.ID, r.Kind, r.Integration, r.Env, r.RequestedBy, r.Source, r.Destination, r.Mode, r.Options, r.Status, ts(r.StartedAt), r.Host, r.PID,
		r.RowsRead, r.RowsWritten, r.RowsRejected, r.BytesRead, r.BytesWritten, r.RejectsPath)
	if err != nil {
		return fmt.Errorf("record run %s: %w", r.ID, err)
	}
	return nil
}

// Checkpoint records a committed position and the counters at that moment.
func (l *Log) Checkpoint(ctx context.Context, id string, pos []byte, s Stats) error {
	_, err := l.db.Exec(ctx, `UPDATE runs SET position = ?, checkpoint_at = ?, rows_read = ?, rows_written = ?,
	rows_rejected = ?, bytes_read = ?, bytes_written = ? WHERE id = ?`,
		pos, ts(time.Now()), s.RowsRead, s.RowsWritten, s.RowsRejected, s.BytesRead, s.BytesWritten, id)
	if err != nil {
		return fmt.Errorf("record checkpoint of run %s: %w", id, err)
	}
	return nil
}

// Finish records the outcome.
func (l *Log) Finish(ctx context.Context, r *Run) error {
	fin := time.Now()
	if r.FinishedAt != nil {
		fin = *r.FinishedAt
	}
	_, err := l.db.Exec(ctx, `UPDATE runs SET status = ?, finished_at = ?, duration_ms = ?, error = ?, error_code = ?,
	rows_read = ?, rows_written = ?, rows_rejected = ?, bytes_read = ?, bytes_written = ?, rejects_path = ?,
	fast_path = ?, attempts = attempts + ?, position = COALESCE(?, position) WHERE id = ?`,
		r.Status, ts(fin), r.DurationMS, r.Error, r.ErrorCode, r.RowsRead, r.RowsWritten, r.RowsRejected,
		r.BytesRead, r.BytesWritten, r.RejectsPath, r.FastPath, r.Attempts, nullBytes(r.Position), r.ID)
	if err != nil {
		return fmt.Errorf("record end of run %s: %w", r.ID, err)
	}
	return nil
}

func nullBytes(b []byte) any {
	if b == nil {
		return nil
	}
	return b
}

const cols = `id, kind, integration, env, requested_by, source, destination, mode, options, status, rows_read, rows_written, rows_rejected,
	bytes_read, bytes_written, started_at, finished_at, duration_ms, error, error_code, rejects_path,
	fast_path, attempts, host, pid, position`

func scan(sc interface{ Scan(...any) error }) (Run, error) {
	var r Run
	var started string
	var finished sql.NullString
	err := sc.Scan(&r.ID, &r.Kind, &r.Integration, &r.Env, &r.RequestedBy, &r.Source, &r.Destination, &r.Mode, &r.Options, &r.Status, &r.RowsRead,
		&r.RowsWritten, &r.RowsRejected, &r.BytesRead, &r.BytesWritten, &started, &finished, &r.DurationMS,
		&r.Error, &r.ErrorCode, &r.RejectsPath, &r.FastPath, &r.Attempts, &r.Host, &r.PID, &r.Position)
	if err != nil {
		return r, err
	}
	r.StartedAt, _ = store.ParseTime(started)
	if finished.Valid {
		t, _ := store.ParseTime(finished.String)
		r.FinishedAt = &t
	}
	r.HasCheckpoint = r.Position != nil
	return r, nil
}

// ErrNotFound is returned by Get for an unknown run id.
var ErrNotFound = errors.New("no such run")

// Get returns a run by id or by a unique prefix of it.
func (l *Log) Get(ctx context.Context, id string) (Run, error) {
	id = strings.TrimSpace(id)
	if id == "" {
		return Run{}, fmt.Errorf("run id is empty")
	}
	rows, err := l.db.Query(ctx, `SELECT `+cols+` FROM runs WHERE id = ? OR id LIKE ? ESCAPE '\' ORDER BY id LIMIT 2`,
		id, escapeLike(id)+"%")
	if err != nil {
		return Run{}, fmt.Errorf("look up run %s: %w", id, err)
	}
	defer func() { _ = rows.Close() }()
	var found []Run
	for rows.Next() {
		r, err := scan(rows)
		if err != nil {
			return Run{}, fmt.Errorf("read run %s: %w", id, err)
		}
		if r.ID == id {
			return r, nil
		}
		found = append(found, r)
	}
	if err := rows.Err(); err != nil {
		return Run{}, fmt.Errorf("look up run %s: %w", id, err)
	}
	switch len(found) {
	case 0:
		return Run{}, fmt.Errorf("%w %q (see `datahub runs list`)", ErrNotFound, id)
	case 1:
		return found[0], nil
	}
	return Run{}, fmt.Errorf("run id prefix %q matches several runs; give more of it", id)
}

func escapeLike(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return r.Replace(s)
}

// Filter selects runs for List.
type Filter struct {
	Status      string
	Integration string
	Limit       int
	// Cursor continues a listing after the last run of the previous page (Page.Next).
	Cursor string
}

// Page is one page of runs, newest first.
type Page struct {
	Runs []Run `json:"runs"`
	// Next is the cursor of the following page, "" on the last one.
	Next string `json:"next,omitempty"`
}

// List returns runs, newest first, a page at a time (keyset pagination on start time and id,
// so a page costs the same at any depth).
func (l *Log) List(ctx context.Context, f Filter) (Page, error) {
	if f.Limit <= 0 {
		f.Limit = 50
	}
	f.Limit = min(f.Limit, 1000)
	q := `SELECT ` + cols + ` FROM runs`
	var where []string
	var args []any
	if f.Status != "" {
		where = append(where, `status = ?`)
		args = append(args, f.Status)
	}
	if f.Integration != "" {
		where = append(where, `integration = ?`)
		args = append(args, f.Integration)
	}
	if f.Cursor != "" {
		at, id, ok := strings.Cut(f.Cursor, "|")
		if !ok {
			return Page{}, fmt.Errorf("invalid cursor %q", f.Cursor)
		}
		where = append(where, `(started_at < ? OR (started_at = ? AND id < ?))`)
		args = append(args, at, at, id)
	}
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, ` AND `)
	}
	q += ` ORDER BY started_at DESC, id DESC LIMIT ?`
	args = append(args, f.Limit+1)
	rows, err := l.db.Query(ctx, q, args...)
	if err != nil {
		return Page{}, fmt.Errorf("list runs: %w", err)
	}
	defer func() { _ = rows.Close() }()
	p := Page{Runs: []Run{}}
	for rows.Next() {
		r, err := scan(rows)
		if err != nil {
			return Page{}, fmt.Errorf("list runs: %w", err)
		}
		p.Runs = append(p.Runs, r)
	}
	if err := rows.Err(); err != nil {
		return Page{}, fmt.Errorf("list runs: %w", err)
	}
	if len(p.Runs) > f.Limit {
		p.Runs = p.Runs[:f.Limit]
		last := p.Runs[len(p.Runs)-1]
		p.Next = ts(last.StartedAt) + "|" + last.ID
	}
	return p, nil
}

// MarshalOptions renders run options (mapping, keys) for the options column.
func MarshalOptions(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return ""
	}
	return string(b)
}

// SetStatus moves a run to status to, only when its current status is one of from (any when
// from is empty), and reports whether it did.
func (l *Log) SetStatus(ctx context.Context, id, to string, from ...string) (bool, error) {
	q := `UPDATE runs SET status = ? WHERE id = ?`
	args := []any{to, id}
	if len(from) > 0 {
		q += ` AND status IN (?` + strings.Repeat(`, ?`, len(from)-1) + `)`
		for _, f := range from {
			args = append(args, f)
		}
	}
	res, err := l.db.Exec(ctx, q, args...)
	if err != nil {
		return false, fmt.Errorf("set status of run %s: %w", id, err)
	}
	n, err := res.RowsAffected()
	return n > 0, err
}

// SetWorker records which process (host, pid) executes a run: the API process that queued it
// is recorded at Start; a worker taking it (or taking it over from a dead worker) replaces it.
func (l *Log) SetWorker(ctx context.Context, id, host string, pid int) error {
	if _, err := l.db.Exec(ctx, `UPDATE runs SET host = ?, pid = ? WHERE id = ?`, host, pid, id); err != nil {
		return fmt.Errorf("record the worker of run %s: %w", id, err)
	}
	return nil
}

// Final reports whether a status is an end state.
func Final(status string) bool {
	switch status {
	case "succeeded", "failed", "partial", "canceled":
		return true
	}
	return false
}
