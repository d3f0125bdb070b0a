package audit

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/datahub-oss/datahub/internal/secret"
	"github.com/datahub-oss/datahub/internal/store"
)

func init() {
	store.Register(store.Migration{Component: "audit", Version: 1,
		SQL:      schemaSQL("INTEGER PRIMARY KEY"),
		Postgres: schemaSQL("BIGINT PRIMARY KEY")})
	// The head records which scheme, and which master key's chain key, the chain uses. Rows
	// from before are plain SHA-256 chains.
	store.Register(store.Migration{Component: "audit", Version: 2,
		SQL: `ALTER TABLE audit_head ADD COLUMN scheme TEXT NOT NULL DEFAULT '` + SchemePlain + `';
ALTER TABLE audit_head ADD COLUMN key_id TEXT NOT NULL DEFAULT ''`})
}

func schemaSQL(seqType string) string {
	return `CREATE TABLE audit_entries (
	seq           ` + seqType + `,
	at            TEXT NOT NULL,
	actor         TEXT NOT NULL,
	action        TEXT NOT NULL,
	target_kind   TEXT NOT NULL DEFAULT '',
	target_name   TEXT NOT NULL DEFAULT '',
	remote        TEXT NOT NULL DEFAULT '',
	details       TEXT NOT NULL DEFAULT '{}',
	before_digest TEXT NOT NULL DEFAULT '',
	after_digest  TEXT NOT NULL DEFAULT '',
	prev_hash     TEXT NOT NULL,
	hash          TEXT NOT NULL
);
CREATE INDEX audit_entries_at ON audit_entries (at);
CREATE INDEX audit_entries_actor ON audit_entries (actor, seq);
CREATE INDEX audit_entries_action ON audit_entries (action, seq);
CREATE INDEX audit_entries_target ON audit_entries (target_kind, target_name, seq);
CREATE TABLE audit_head (
	id   INTEGER PRIMARY KEY CHECK (id = 1),
	seq  BIGINT NOT NULL,
	hash TEXT NOT NULL
);
INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, '` + ZeroHash + `')`
}

// MaxDetails bounds an entry's details: they are context, not payload.
const MaxDetails = 64 << 10

var actionRE = regexp.MustCompile(`^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$`)

// ErrNoHead means the audit_head row is gone: the log refuses to append, because continuing
// from the last remaining entry would hide a truncation.
var ErrNoHead = errors.New("the audit log's head row (audit_head) is missing; run `datahub audit verify`")

const columns = `seq, at, actor, action, target_kind, target_name, remote, details, before_digest, after_digest, prev_hash, hash`

// Log is the audit log in the metadata store.
type Log struct {
	db  *store.DB
	now func() time.Time

	// mu guards key, which a rotation replaces.
	mu  sync.RWMutex
	key ChainKey
}

// New returns the audit log kept in db with the plain, keyless chain: for stores not yet
// keyed and for tests. A hub uses NewKeyed.
func New(db *store.DB) *Log { return &Log{db: db, now: time.Now} }

// NewKeyed returns the audit log kept in db, chained under key. Call EnsureKeyed before the
// first append, to re-key a plain chain left by an earlier version.
func NewKeyed(db *store.DB, key ChainKey) *Log { return &Log{db: db, now: time.Now, key: key} }

// Key is the key this log chains under.
func (l *Log) Key() ChainKey {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.key
}

func (l *Log) setKey(k ChainKey) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.key = k
}

// head is the audit_head row.
type head struct {
	seq    int64
	hash   string
	scheme string
	keyID  string
}

func (h head) describe() string { return describe(h.scheme, h.keyID) }

// matches reports whether the chain is chained under k.
func (h head) matches(k ChainKey) bool {
	return h.scheme == k.Scheme() && (k.IsZero() || h.keyID == k.ID())
}

// keyMismatch explains why a process with k cannot append to or verify the chain h.
func (h head) keyMismatch(k ChainKey) error {
	switch {
	case h.scheme == SchemePlain:
		return fmt.Errorf("%w: the store holds a plain SHA-256 chain and this process keys its chain (%s); a hub re-keys it at start", ErrChainKey, k)
	case k.IsZero():
		return fmt.Errorf("%w: the chain is %s and this process has no key", ErrChainKey, h.describe())
	}
	return fmt.Errorf("%w: the chain is %s, but this process has master key %s: every process sharing a store needs the same master key: set %s, or copy master.key from the first server's data folder (mode 0600)",
		ErrChainKey, h.describe(), k.ID(), secret.EnvMasterKey)
}

// querier is what both *store.DB and *store.Tx offer ('?' placeholders).
type querier interface {
	QueryRow(ctx context.Context, q string, args ...any) *sql.Row
	Query(ctx context.Context, q string, args ...any) (*sql.Rows, error)
}

func readHead(ctx context.Context, q querier) (head, error) {
	var h head
	err := q.QueryRow(ctx, `SELECT seq, hash, scheme, key_id FROM audit_head WHERE id = 1`).Scan(&h.seq, &h.hash, &h.scheme, &h.keyID)
	if errors.Is(err, sql.ErrNoRows) {
		return head{}, ErrNoHead
	}
	return h, err
}

// Append adds an entry in its own transaction and returns it as stored (Seq, At, PrevHash and
// Hash filled in). Appenders in any number of processes are serialised, so the chain stays
// gapless.
func (l *Log) Append(ctx context.Context, e Entry) (Entry, error) {
	var out Entry
	err := l.db.InTx(ctx, func(tx *store.Tx) error {
		var err error
		out, err = l.AppendTx(ctx, tx, e)
		return err
	})
	if err != nil {
		return Entry{}, err
	}
	return out, nil
}

// AppendTx adds an entry inside the caller's transaction, so a change and its audit entry
// commit or roll back together. It serialises appenders until tx ends (on PostgreSQL an
// advisory lock; SQLite's write transaction already does), so call it last in the transaction
// to hold that lock briefly. On PostgreSQL tx must be READ COMMITTED (the store's default) or
// have read nothing before: a snapshot older than the lock sees a stale head and fails.
func (l *Log) AppendTx(ctx context.Context, tx *store.Tx, e Entry) (Entry, error) {
	if err := normalise(&e); err != nil {
		return Entry{}, fmt.Errorf("audit %s: %w", e.Action, err)
	}
	if err := tx.Lock(ctx, store.LockAudit); err != nil {
		return Entry{}, fmt.Errorf("audit %s: lock the log: %w", e.Action, err)
	}
	// The next entry follows the head, not the last row: after a truncation the new entry
	// then leaves a visible gap instead of quietly continuing the shortened chain.
	h, err := readHead(ctx, tx)
	if errors.Is(err, ErrNoHead) {
		return Entry{}, fmt.Errorf("audit %s: %w", e.Action, ErrNoHead)
	}
	if err != nil {
		return Entry{}, fmt.Errorf("audit %s: read the head: %w", e.Action, err)
	}
	key := l.Key()
	if !h.matches(key) {
		return Entry{}, fmt.Errorf("audit %s: %w", e.Action, h.keyMismatch(key))
	}
	return l.insert(ctx, tx, e, h, key)
}

// insert appends e after head h under key; the caller holds the lock.
func (l *Log) insert(ctx context.Context, tx *store.Tx, e Entry, h head, key ChainKey) (Entry, error) {
	var err error
	at := store.Time(l.now())
	e.At, err = store.ParseTime(at)
	if err != nil {
		return Entry{}, fmt.Errorf("audit %s: %w", e.Action, err)
	}
	e.Seq = h.seq + 1
	e.PrevHash = h.hash
	e.Hash = key.Hash(e)
	if _, err := tx.Exec(ctx, `INSERT INTO audit_entries (`+columns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		e.Seq, at, e.Actor, e.Action, e.TargetKind, e.TargetName, e.Remote, e.Details, e.BeforeDigest, e.AfterDigest, e.PrevHash, e.Hash); err != nil {
		return Entry{}, fmt.Errorf("audit %s: insert entry %d: %w", e.Action, e.Seq, err)
	}
	if _, err := tx.Exec(ctx, `UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1`, e.Seq, e.Hash); err != nil {
		return Entry{}, fmt.Errorf("audit %s: update the head: %w", e.Action, err)
	}
	return e, nil
}

func normalise(e *Entry) error {
	if strings.TrimSpace(e.Actor) == "" {
		return errors.New("no actor")
	}
	if !actionRE.MatchString(e.Action) {
		return fmt.Errorf("invalid action %q: use dotted lower case words, e.g. resource.apply", e.Action)
	}
	d := strings.TrimSpace(e.Details)
	if d == "" {
		d = "{}"
	}
	if len(d) > MaxDetails {
		return fmt.Errorf("details are %d bytes, more than the %d allowed", len(d), MaxDetails)
	}
	if !strings.HasPrefix(d, "{") || !json.Valid([]byte(d)) {
		return errors.New("details must be a JSON object")
	}
	var b bytes.Buffer
	if err := json.Compact(&b, []byte(d)); err != nil {
		return fmt.Errorf("details: %w", err)
	}
	e.Details = b.String()
	return nil
}

// Head returns the last appended seq and hash as the head row records them; anchoring them
// outside the database makes later rewrites of the whole chain detectable.
func (l *Log) Head(ctx context.Context) (seq int64, hash string, err error) {
	h, err := l.head(ctx)
	return h.seq, h.hash, err
}

func (l *Log) head(ctx context.Context) (head, error) {
	h, err := readHead(ctx, l.db)
	if err != nil && !errors.Is(err, ErrNoHead) {
		return head{}, fmt.Errorf("read audit head from %s: %w", l.db.Where, err)
	}
	return h, err
}

// Filter selects entries for List. Empty fields match everything.
type Filter struct {
	Actor string
	// Action matches exactly, or by prefix when it ends in '*' ("resource.*").
	Action     string
	TargetKind string
	TargetName string
	// Since and Until bound At: Since <= At < Until.
	Since, Until time.Time
	// AfterSeq is the cursor: only entries older than it (seq < AfterSeq), i.e. those after
	// it in List's newest-first order. Pass the previous Page's Next.
	AfterSeq int64
	// Limit is the page size: DefaultLimit when 0, at most MaxLimit.
	Limit int
}

// Page sizes for List.
const (
	DefaultLimit = 100
	MaxLimit     = 1000
)

// Page is one page of List.
type Page struct {
	Entries []Entry `json:"entries"`
	// Next is the cursor for the following page (Filter.AfterSeq), 0 when this is the last.
	Next int64 `json:"next,omitempty"`
}

// List returns entries matching f, newest first, one page at a time.
func (l *Log) List(ctx context.Context, f Filter) (Page, error) {
	limit := f.Limit
	switch {
	case limit <= 0:
		limit = DefaultLimit
	case limit > MaxLimit:
		limit = MaxLimit
	}
	var where []string
	var args []any
	add := func(cond string, arg any) {
		where = append(where, cond)
		args = append(args, arg)
	}
	if f.Actor != "" {
		add("actor = ?", f.Actor)
	}
	if prefix, ok := strings.CutSuffix(f.Action, "*"); ok {
		if prefix != "" {
			add(`action LIKE ? ESCAPE '\'`, likeEscape(prefix)+"%")
		}
	} else if f.Action != "" {
		add("action = ?", f.Action)
	}
	if f.TargetKind != "" {
		add("target_kind = ?", f.TargetKind)
	}
	if f.TargetName != "" {
		add("target_name = ?", f.TargetName)
	}
	if !f.Since.IsZero() {
		add("at >= ?", store.Time(f.Since))
	}
	if !f.Until.IsZero() {
		add("at < ?", store.Time(f.Until))
	}
	if f.AfterSeq > 0 {
		add("seq < ?", f.AfterSeq)
	}
	q := `SELECT ` + columns + ` FROM audit_entries`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, " AND ")
	}
	q += ` ORDER BY seq DESC LIMIT ?`
	args = append(args, limit+1)
	rows, err := l.db.Query(ctx, q, args...)
	if err != nil {
		return Page{}, fmt.Errorf("list audit entries in %s: %w", l.db.Where, err)
	}
	defer func() { _ = rows.Close() }()
	var p Page
	for rows.Next() {
		e, _, err := scanEntry(rows)
		if err != nil {
			return Page{}, fmt.Errorf("list audit entries in %s: %w", l.db.Where, err)
		}
		p.Entries = append(p.Entries, e)
	}
	if err := rows.Err(); err != nil {
		return Page{}, fmt.Errorf("list audit entries in %s: %w", l.db.Where, err)
	}
	if len(p.Entries) > limit {
		p.Entries = p.Entries[:limit]
		p.Next = p.Entries[limit-1].Seq
	}
	return p, nil
}

func likeEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// scanEntry reads a row of columns; it also returns at as stored, which Verify hashes.
func scanEntry(rows *sql.Rows) (Entry, string, error) {
	var e Entry
	var at string
	if err := rows.Scan(&e.Seq, &at, &e.Actor, &e.Action, &e.TargetKind, &e.TargetName, &e.Remote,
		&e.Details, &e.BeforeDigest, &e.AfterDigest, &e.PrevHash, &e.Hash); err != nil {
		return Entry{}, "", err
	}
	// A malformed time is left zero here; Verify reports it through the hash.
	e.At, _ = store.ParseTime(at)
	return e, at, nil
}
