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

	"github.com/datahub-oss/datahub/connector"
	"github.com/datahub-oss/datahub/internal/errcode"
	"github.com/datahub-oss/datahub/internal/runstatus"
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

// Run is one transfer as recorded. Its Stats are the run's totals across attempts and
// resumes: rows written are the rows the destination committed, rows rejected the rejects
// stored; Part is the share of the run's latest start in them.
type Run struct {
	ID          string           `json:"run_id"`
	Kind        string           `json:"kind"`
	Integration string           `json:"integration,omitempty"`
	Env         string           `json:"env,omitempty"`
	RequestedBy string           `json:"requested_by,omitempty"`
	Source      string           `json:"source"`
	Destination string           `json:"destination"`
	Mode        string           `json:"mode"`
	Options     string           `json:"options,omitempty"`
	Status      runstatus.Status `json:"status"`
	Stats
	// Part is what the latest start of the run (the first, or the last resume or takeover) did
	// on its own; it equals Stats unless the run was resumed.
	Part Stats `json:"part"`
	// Resumes counts how often the run was resumed from a checkpoint (Finish adds this
	// invocation's 0 or 1, as it adds Attempts).
	Resumes     int        `json:"resumes"`
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
	// SHA256 is the hex digest of the object a byte-for-byte copy moved, computed while
	// streaming.
	SHA256 string `json:"sha256,omitempty"`
}

// Log is the transaction log.
type Log struct {
	db *store.DB
	// own is set when Open opened the store, so Close closes it.
	own bool
}

func init() {
	store.Register(store.Migration{Component: "txlog", Version: 1, SQL: schemaSQL("BLOB"), Postgres: schemaSQL("BYTEA")})
	store.Register(store.Migration{Component: "txlog", Version: 2, SQL: partSQL})
	store.Register(store.Migration{Component: "txlog", Version: 3, SQL: `ALTER TABLE runs ADD COLUMN sha256 TEXT NOT NULL DEFAULT ''`})
}

// partSQL adds the counters a run's latest start began from (its totals minus its part) and
// the count of resumes.
const partSQL = `ALTER TABLE runs ADD COLUMN start_rows_read BIGINT NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN start_rows_written BIGINT NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN start_rows_rejected BIGINT NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN start_bytes_read BIGINT NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN start_bytes_written BIGINT NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN resumes INTEGER NOT NULL DEFAULT 0`

// MaxError bounds the error text kept with a run.
const MaxError = 4 << 10

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

// Start records a run that begins (or, resumed, begins again from r.Stats, the counters of the
// checkpoint it resumes from).
func (l *Log) Start(ctx context.Context, r *Run) error {
	host, _ := os.Hostname()
	r.Host, r.PID = host, os.Getpid()
	_, err := l.db.Exec(ctx, `
INSERT INTO runs (id, kind, integration, env, requested_by, source, destination, mode, options, status, started_at, host, pid,
	rows_read, rows_written, rows_rejected, bytes_read, bytes_written, rejects_path,
	start_rows_read, start_rows_written, start_rows_rejected, start_bytes_read, start_bytes_written)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (id) DO UPDATE SET status = excluded.status, host = excluded.host, pid = excluded.pid,
	finished_at = NULL, error = '', error_code = '',
	rows_read = excluded.rows_read, rows_written = excluded.rows_written, rows_rejected = excluded.rows_rejected,
	bytes_read = excluded.bytes_read, bytes_written = excluded.bytes_written,
	start_rows_read = excluded.start_rows_read, start_rows_written = excluded.start_rows_written,
	start_rows_rejected = excluded.start_rows_rejected, start_bytes_read = excluded.start_bytes_read,
	start_bytes_written = excluded.start_bytes_written`,
		r.ID, r.Kind, r.Integration, r.Env, r.RequestedBy, r.Source, r.Destination, r.Mode, r.Options, string(r.Status), ts(r.StartedAt), r.Host, r.PID,
		r.RowsRead, r.RowsWritten, r.RowsRejected, r.BytesRead, r.BytesWritten, r.RejectsPath,
		r.RowsRead, r.RowsWritten, r.RowsRejected, r.BytesRead, r.BytesWritten)
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

// Finish records the outcome: the totals in r.Stats, this start's share in r.Part, and adds
// r.Attempts and r.Resumes to the run's. The error text is capped at MaxError.
func (l *Log) Finish(ctx context.Context, r *Run) error {
	fin := time.Now()
	if r.FinishedAt != nil {
		fin = *r.FinishedAt
	}
	r.Error = connector.CapText(r.Error, MaxError)
	_, err := l.db.Exec(ctx, `UPDATE runs SET status = ?, finished_at = ?, duration_ms = ?, error = ?, error_code = ?,
	rows_read = ?, rows_written = ?, rows_rejected = ?, bytes_read = ?, bytes_written = ?, rejects_path = ?,
	start_rows_read = ?, start_rows_written = ?, start_rows_rejected = ?, start_bytes_read = ?, start_bytes_written = ?,
	fast_path = ?, attempts = attempts + ?, resumes = resumes + ?, position = COALESCE(?, position), sha256 = ? WHERE id = ?`,
		string(r.Status), ts(fin), r.DurationMS, r.Error, r.ErrorCode, r.RowsRead, r.RowsWritten, r.RowsRejected,
		r.BytesRead, r.BytesWritten, r.RejectsPath,
		r.RowsRead-r.Part.RowsRead, r.RowsWritten-r.Part.RowsWritten, r.RowsRejected-r.Part.RowsRejected,
		r.BytesRead-r.Part.BytesRead, r.BytesWritten-r.Part.BytesWritten,
		r.FastPath, r.Attempts, r.Resumes, nullBytes(r.Position), r.SHA256, r.ID)
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
	fast_path, attempts, host, pid, position,
	start_rows_read, start_rows_written, start_rows_rejected, start_bytes_read, start_bytes_written, resumes, sha256`

func scan(sc interface{ Scan(...any) error }) (Run, error) {
	var r Run
	var started string
	var finished sql.NullString
	var st Stats
	var status string
	err := sc.Scan(&r.ID, &r.Kind, &r.Integration, &r.Env, &r.RequestedBy, &r.Source, &r.Destination, &r.Mode, &r.Options, &status, &r.RowsRead,
		&r.RowsWritten, &r.RowsRejected, &r.BytesRead, &r.BytesWritten, &started, &finished, &r.DurationMS,
		&r.Error, &r.ErrorCode, &r.RejectsPath, &r.FastPath, &r.Attempts, &r.Host, &r.PID, &r.Position,
		&st.RowsRead, &st.RowsWritten, &st.RowsRejected, &st.BytesRead, &st.BytesWritten, &r.Resumes, &r.SHA256)
	if err != nil {
		return r, err
	}
	r.Status = runstatus.Status(status)
	r.Part = Stats{RowsRead: r.RowsRead - st.RowsRead, RowsWritten: r.RowsWritten - st.RowsWritten,
		RowsRejected: r.RowsRejected - st.RowsRejected, BytesRead: r.BytesRead - st.BytesRead, BytesWritten: r.BytesWritten - st.BytesWritten}
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
	Status      runstatus.Status
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
		args = append(args, string(f.Status))
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
func (l *Log) SetStatus(ctx context.Context, id string, to runstatus.Status, from ...runstatus.Status) (bool, error) {
	q := `UPDATE runs SET status = ? WHERE id = ?`
	args := []any{string(to), id}
	if len(from) > 0 {
		in, inArgs := statusIn(from)
		q += ` AND status IN ` + in
		args = append(args, inArgs...)
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

// statusIn renders statuses as an SQL list of placeholders, "(?, ?)", and its arguments.
func statusIn(statuses []runstatus.Status) (string, []any) {
	args := make([]any, len(statuses))
	for i, s := range statuses {
		args[i] = string(s)
	}
	return `(?` + strings.Repeat(`, ?`, len(statuses)-1) + `)`, args
}

// statusesWhere is every status for which keep holds.
func statusesWhere(keep func(runstatus.Status) bool) []runstatus.Status {
	var out []runstatus.Status
	for _, s := range runstatus.All() {
		if keep(s) {
			out = append(out, s)
		}
	}
	return out
}

// Abandoned is the error recorded on a run whose process ended without recording an outcome.
const Abandoned = "the process that ran it (host %s, pid %d) ended without recording an outcome: it was killed, or could not write the data folder (full disk?); resume it with --resume %s"

// FailAbandoned records as failed the runs of kind that this host was running in processes
// that are gone (alive says whether a pid lives): a `datahub copy` killed, or unable to write
// its outcome, would otherwise stay running forever. It returns how many it changed. Runs of a
// hub server are not touched: their requests are redelivered to a worker, which resumes them.
func (l *Log) FailAbandoned(ctx context.Context, kind, host string, alive func(pid int) bool) (int, error) {
	rows, err := l.db.Query(ctx, `SELECT id, pid FROM runs WHERE status = ? AND kind = ? AND host = ?`, string(runstatus.Running), kind, host)
	if err != nil {
		return 0, fmt.Errorf("look for abandoned runs: %w", err)
	}
	type dead struct {
		id  string
		pid int
	}
	var gone []dead
	for rows.Next() {
		var d dead
		if err := rows.Scan(&d.id, &d.pid); err != nil {
			_ = rows.Close()
			return 0, fmt.Errorf("look for abandoned runs: %w", err)
		}
		if !alive(d.pid) {
			gone = append(gone, d)
		}
	}
	err = rows.Err()
	_ = rows.Close()
	if err != nil {
		return 0, fmt.Errorf("look for abandoned runs: %w", err)
	}
	n := 0
	for _, d := range gone {
		res, err := l.db.Exec(ctx, `UPDATE runs SET status = ?, finished_at = ?, error = ?, error_code = ?
	WHERE id = ? AND status = ? AND pid = ?`, string(runstatus.Failed),
			ts(time.Now()), fmt.Sprintf(Abandoned, host, d.pid, d.id), string(errcode.Interrupted), d.id, string(runstatus.Running), d.pid)
		if err != nil {
			return n, fmt.Errorf("record abandoned run %s as failed: %w", d.id, err)
		}
		if k, _ := res.RowsAffected(); k > 0 {
			n++
		}
	}
	return n, nil
}

// Requeue puts a failed or cancelled run back in the queue for a resume: it is queued again,
// with no outcome, keeping its counters and checkpoint. It reports whether the run was in one
// of those states.
func (l *Log) Requeue(ctx context.Context, id string) (bool, error) {
	in, args := statusIn(statusesWhere(runstatus.Status.Resumable))
	res, err := l.db.Exec(ctx, `UPDATE runs SET status = ?, finished_at = NULL, error = '', error_code = ''
	WHERE id = ? AND status IN `+in, append([]any{string(runstatus.Queued), id}, args...)...)
	if err != nil {
		return false, fmt.Errorf("queue run %s again: %w", id, err)
	}
	n, err := res.RowsAffected()
	return n > 0, err
}

// Unsettled returns the integration runs not in a final state (queued, running,
// cancel_requested) that started before before: those the reconciler checks for an owner.
func (l *Log) Unsettled(ctx context.Context, before time.Time, limit int) ([]Run, error) {
	in, args := statusIn(statusesWhere(func(s runstatus.Status) bool { return !s.Final() }))
	rows, err := l.db.Query(ctx, `SELECT `+cols+` FROM runs WHERE status IN `+in+`
	AND kind = 'integration' AND started_at < ? ORDER BY started_at LIMIT ?`, append(args, ts(before), limit)...)
	if err != nil {
		return nil, fmt.Errorf("list unsettled runs: %w", err)
	}
	defer func() { _ = rows.Close() }()
	var out []Run
	for rows.Next() {
		r, err := scan(rows)
		if err != nil {
			return nil, fmt.Errorf("list unsettled runs: %w", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list unsettled runs: %w", err)
	}
	return out, nil
}

// Settle records the outcome of a run that no process owns any more (its request is gone from
// the queue), only while it is still in status from: canceled for a cancellation nobody
// carried out, failed with msg otherwise. It reports whether it did.
func (l *Log) Settle(ctx context.Context, id string, from, to runstatus.Status, msg, code string) (bool, error) {
	res, err := l.db.Exec(ctx, `UPDATE runs SET status = ?, finished_at = ?, error = ?, error_code = ? WHERE id = ? AND status = ?`,
		string(to), ts(time.Now()), connector.CapText(msg, MaxError), code, id, string(from))
	if err != nil {
		return false, fmt.Errorf("settle run %s: %w", id, err)
	}
	n, err := res.RowsAffected()
	return n > 0, err
}
