// Package sqlite is the SQLite connector: a table or query source and a table sink on a
// database file, through modernc.org/sqlite (pure Go, no cgo).
//
// URLs: sqlite:PATH?table=NAME, sqlite://PATH?table=NAME (sqlite:///abs/path is /abs/path,
// sqlite://rel/path is relative; in the // form the path is percent-decoded, in the plain form
// it is taken literally), or ?query=SELECT... for a source. With Endpoint.Root set, relative
// paths are taken from the root and the path must resolve, symlinks followed, inside it.
//
// SQLite is dynamically typed, so the logical type travels in the declared column type; see
// types.go for the mapping both ways and the text forms values are stored in.
//
// Connections: busy_timeout 10000 ms and foreign_keys on for both directions. The sink also
// switches the file to WAL (readers never block it, nor it them) with synchronous=NORMAL: in
// WAL mode that loses no committed transaction on an application crash, and on a power loss
// it can only lose the last transactions whole — rows and the checkpoint position stored with
// them go together, so a resumed run stays exact. Option synchronous=full trades speed for
// durability of the last commit too. A source leaves the file's journal mode alone (it is a
// persistent property of someone else's file) and reads on a connection that only reads
// (query_only, and an authorizer that refuses writes, DDL, ATTACH and setting pragmas).
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/datahub-oss/datahub/connector"
	"github.com/datahub-oss/datahub/internal/connectors/sqlkit"
	"github.com/datahub-oss/datahub/internal/errcode"
)

// The URL options.
const (
	optTable       = "table"
	optQuery       = "query"
	optSynchronous = "synchronous"
)

// busyTimeoutMS is how long a statement waits for another writer's lock before SQLITE_BUSY.
const busyTimeoutMS = 10000

// spec declares the connector; its options are parsed by the registry (connector.Options).
var spec = connector.Spec{
	Name:    "sqlite",
	Schemes: []string{"sqlite"},
	Summary: "SQLite database file: read a table or query, write a table",
	Example: "sqlite:/data/app.db?table=orders",
	Options: []connector.Option{
		{Name: optTable, Type: connector.OptString, Help: "table to read or write (main.name is accepted; quote with \"\" a name containing a dot)"},
		{Name: optQuery, Type: connector.OptString, Help: "SELECT statement to read instead of a table (sources only; not resumable; encode + & ; as %2B %26 %3B)"},
		{Name: optSynchronous, Type: connector.OptEnum, Help: "sink durability: normal loses at most the last commits on power loss (never half of one), full none", Default: "normal",
			Enum: []string{"off", "normal", "full", "extra"}},
	},
	NewSource: func(_ context.Context, e connector.Endpoint) (connector.Source, error) {
		return &Source{ep: e}, nil
	},
	NewSink: func(_ context.Context, e connector.Endpoint) (connector.Sink, error) {
		return &Sink{ep: e}, nil
	},
}

func init() {
	spec.ListTables = listTables
	connector.Register(spec)
}

// endpoint is what both directions share: the parsed URL and the open database.
type endpoint struct {
	ep    connector.Endpoint
	red   string // the redacted URL, for messages
	path  string // the database file, absolute (resolved when Root is set)
	table string // unqualified table name, "" for a query
	query string
	sync  string
	db    *sql.DB
}

// parse reads the endpoint's URL and options.
func (p *endpoint) parse() error {
	p.red = p.ep.Redacted()
	raw := p.ep.URL
	if connector.Scheme(raw) != "sqlite" {
		return p.usage("write sqlite:/path/to/file.db?table=name", fmt.Errorf("not an sqlite: URL"))
	}
	opts, err := spec.ParseOptions(p.ep)
	if err != nil {
		return err
	}
	_, rawQuery, hasQuery := strings.Cut(raw[len("sqlite:"):], "?")
	if hasQuery {
		if _, err := url.ParseQuery(rawQuery); err != nil {
			return p.usage("percent-encode + & ; and % in option values (%2B %26 %3B %25)", fmt.Errorf("cannot read the URL's options: %v", err))
		}
	}
	rest, err := PathOf(raw)
	if err != nil {
		if errors.Is(err, errNoFile) {
			return p.usage("write sqlite:/path/to/file.db?table=name", err)
		}
		return p.usage("in the sqlite:// form the path is percent-encoded; or write sqlite:PATH", err)
	}
	path, err := resolvePath(rest, p.ep.Root)
	if err != nil {
		var ce *connector.Error
		if errors.As(err, &ce) {
			ce.Endpoint = p.red
			return ce
		}
		return p.usage("check the path", err)
	}
	p.path = path

	p.query = strings.TrimSpace(opts.String(optQuery))
	if t := opts.String(optTable); t != "" {
		name, err := parseTableName(t)
		if err != nil {
			return p.usage(`write ?table=name, main.name or "name.with.dots"`, err)
		}
		p.table = name
	}
	if p.table != "" && p.query != "" {
		return p.usage("give either ?table= or ?query=", errors.New("both a table and a query were given"))
	}
	p.sync = strings.ToUpper(opts.String(optSynchronous))
	return nil
}

var errNoFile = errors.New("the URL names no database file")

// PathOf returns the database file an sqlite: URL names, as written (relative paths are
// relative to the working directory, or to the endpoint's root when it has one):
// sqlite:PATH?options, or sqlite://PERCENT-ENCODED-PATH?options.
func PathOf(raw string) (string, error) {
	if connector.Scheme(raw) != "sqlite" {
		return "", errors.New("not an sqlite: URL")
	}
	rest, _, _ := strings.Cut(raw[len("sqlite:"):], "?")
	if strings.HasPrefix(rest, "//") {
		dec, err := url.PathUnescape(rest[2:])
		if err != nil {
			return "", fmt.Errorf("bad path: %v", err)
		}
		rest = dec
	}
	if rest == "" {
		return "", errNoFile
	}
	return rest, nil
}

func (p *endpoint) usage(hint string, err error) error {
	return connector.Errorf(connector.CodeUsage, p.red, hint, err)
}

// parseTableName reads name, main.name, or a double-quoted part ("a.b") that keeps dots.
func parseTableName(s string) (string, error) {
	parts, err := sqlkit.SQLite.ParseName(s)
	if err != nil {
		return "", err
	}
	if len(parts) == 2 && !strings.EqualFold(parts[0].Text, "main") {
		return "", fmt.Errorf("schema %q: a database file has only the schema main", parts[0].Text)
	}
	return parts[len(parts)-1].Text, nil
}

// resolvePath makes the database path absolute. With a root, a relative path is taken from
// the root, and the path with every symlink resolved must lie inside the resolved root; the
// resolved path is returned so that exactly the checked file is opened. A path whose file
// does not exist yet is checked through its directory; a dangling symlink is refused, since
// creating the database would write wherever it points. (A symlink swapped in between this
// check and the open is not caught: the root guards against mistakes and URLs from users,
// not against someone who can already write inside it.)
func resolvePath(p, root string) (string, error) {
	if root == "" {
		return filepath.Abs(p)
	}
	rootAbs, err := filepath.Abs(root)
	if err != nil {
		return "", err
	}
	rootReal, err := filepath.EvalSymlinks(rootAbs)
	if err != nil {
		return "", errcode.Errorf(errcode.Config, "", "check the hub's data root", fmt.Errorf("root %s: %w", root, err))
	}
	if !filepath.IsAbs(p) {
		p = filepath.Join(rootAbs, p)
	}
	p = filepath.Clean(p)
	real, err := filepath.EvalSymlinks(p)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			return "", err
		}
		if _, lerr := os.Lstat(p); lerr == nil {
			return "", connector.Errorf(connector.CodeUsage, "", "point the URL at the file itself",
				fmt.Errorf("%s is a symlink to a missing file", p))
		}
		dir, derr := filepath.EvalSymlinks(filepath.Dir(p))
		if derr != nil {
			// The directory is missing too; confine what can be checked lexically and let
			// the open report the missing file.
			dir = filepath.Dir(p)
		}
		real = filepath.Join(dir, filepath.Base(p))
	}
	rel, err := filepath.Rel(rootReal, real)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) || filepath.IsAbs(rel) {
		return "", connector.Errorf(connector.CodeUsage, "", "use a database file inside the root",
			fmt.Errorf("%s is outside the allowed root %s", p, root))
	}
	return real, nil
}

// dsn is the driver's data source name for the file: a file: URI, so that mode= applies.
func (p *endpoint) dsn(mode string, pragmas ...string) string {
	var b strings.Builder
	b.WriteString("file:")
	b.WriteString((&url.URL{Path: p.path}).EscapedPath())
	b.WriteString("?mode=")
	b.WriteString(mode)
	fmt.Fprintf(&b, "&_pragma=busy_timeout(%d)", busyTimeoutMS)
	for _, pr := range pragmas {
		b.WriteString("&_pragma=")
		b.WriteString(url.QueryEscape(pr))
	}
	return b.String()
}

// open opens the database file; forWrite creates it when missing and switches it to WAL.
func (p *endpoint) open(ctx context.Context, forWrite bool) error {
	var dsn string
	if forWrite {
		// A destination database is created with its folder, as a file destination's would
		// be (the path was already confined to Root, when one is set).
		if err := os.MkdirAll(filepath.Dir(p.path), 0o750); err != nil {
			return connector.Errorf(connector.CodePermission, p.red, "check the path and its permissions",
				fmt.Errorf("create the folder of database file %s: %w", p.path, err))
		}
		if st, err := os.Stat(filepath.Dir(p.path)); err != nil || !st.IsDir() {
			return connector.Errorf(connector.CodeNotFound, p.red, "create the directory first",
				fmt.Errorf("no such directory %s for database file %s", filepath.Dir(p.path), p.path))
		}
		dsn = p.dsn("rwc", "foreign_keys(1)", "journal_mode(WAL)", "synchronous("+p.sync+")")
	} else {
		st, err := os.Stat(p.path)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return connector.Errorf(connector.CodeNotFound, p.red, "check the path",
				fmt.Errorf("no such database file %s", p.path))
		case err != nil:
			return connector.Errorf(connector.CodePermission, p.red, "check the file's permissions", err)
		case st.IsDir():
			return connector.Errorf(connector.CodeUsage, p.red, "name the database file, not its directory",
				fmt.Errorf("%s is a directory", p.path))
		}
		// Not mode=ro: a read-only connection cannot remove the -wal and -shm files of a WAL
		// database when it closes, and would leave them behind; the authorizer and query_only
		// already refuse every write.
		dsn = p.dsn("rw", "foreign_keys(1)", "query_only(1)")
	}
	var db *sql.DB
	if forWrite {
		var err error
		if db, err = sql.Open("sqlite", dsn); err != nil {
			return p.fail(ctx, err, "open database file "+p.path)
		}
	} else {
		// A source only reads: see readOnlyAuthorizer.
		db = openRead(dsn)
	}
	// SQLite has one writer and our reads are one stream: one connection each way keeps every
	// statement, savepoint and pragma on the same connection.
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxLifetime(0)
	// Reading the schema proves the file is a database (a ping alone opens nothing).
	var n int
	if err := db.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_schema").Scan(&n); err != nil {
		_ = db.Close()
		return p.fail(ctx, err, "open database file "+p.path)
	}
	p.db = db
	return nil
}

// objectInfo is an object of the schema.
type objectInfo struct {
	name         string // as stored
	kind         string // table, view, virtual, shadow
	withoutRowid bool
	sql          string
}

// lookup finds a table or view by name (SQLite identifiers are case-insensitive); ok is false
// when there is none.
func lookup(ctx context.Context, q querier, name string) (objectInfo, bool, error) {
	var o objectInfo
	var wr int
	err := q.QueryRowContext(ctx,
		`SELECT l.name, l.type, l.wr, coalesce(m.sql, '') FROM pragma_table_list AS l
		 LEFT JOIN sqlite_schema AS m ON m.name = l.name AND m.type IN ('table', 'view')
		 WHERE l.schema = 'main' AND l.name = ? COLLATE NOCASE`, name).Scan(&o.name, &o.kind, &wr, &o.sql)
	if errors.Is(err, sql.ErrNoRows) {
		return o, false, nil
	}
	o.withoutRowid = wr != 0
	return o, err == nil, err
}

// querier is what *sql.DB and *sql.Conn have in common.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// notFoundTable is the error for a missing table: it lists the tables there are.
func (p *endpoint) notFoundTable(ctx context.Context, q querier) error {
	var names []string
	rows, err := q.QueryContext(ctx, `SELECT name FROM sqlite_schema WHERE type IN ('table', 'view')
		AND name NOT LIKE 'sqlite\_%' ESCAPE '\' AND name NOT LIKE '\_datahub\_%' ESCAPE '\' ORDER BY name`)
	if err == nil {
		for rows.Next() {
			var n string
			if rows.Scan(&n) == nil {
				names = append(names, n)
			}
		}
		_ = rows.Close()
	}
	have := "the database has no tables"
	if len(names) > 0 {
		more := ""
		if len(names) > 30 {
			names, more = names[:30], fmt.Sprintf(" and %d more", len(names)-30)
		}
		have = "tables: " + strings.Join(names, ", ") + more
	}
	return connector.Errorf(connector.CodeNotFound, p.red, "check the table name; "+have,
		fmt.Errorf("no table %q in %s", p.table, p.path))
}

// columnInfo is a row of PRAGMA table_xinfo.
type columnInfo struct {
	name       string
	decl       string
	notNull    bool
	hasDefault bool
	pk         int // 1-based position in the primary key, 0 when not part of it
	hidden     int // 0 normal, 1 hidden (virtual tables), 2 and 3 generated
}

func tableColumns(ctx context.Context, q querier, table string) ([]columnInfo, error) {
	rows, err := q.QueryContext(ctx, `SELECT name, type, "notnull", dflt_value IS NOT NULL, pk, hidden
		FROM pragma_table_xinfo(?) ORDER BY cid`, table)
	if err != nil {
		return nil, err
	}
	defer func() { _ = rows.Close() }()
	var out []columnInfo
	for rows.Next() {
		var c columnInfo
		var nn, dflt int
		if err := rows.Scan(&c.name, &c.decl, &nn, &dflt, &c.pk, &c.hidden); err != nil {
			return nil, err
		}
		c.notNull, c.hasDefault = nn != 0, dflt != 0
		out = append(out, c)
	}
	return out, rows.Err()
}

// sqliteCode returns the extended result code of a driver error, or -1.
func sqliteCode(err error) int {
	var e *sqlite.Error
	if errors.As(err, &e) {
		return e.Code()
	}
	return -1
}

// sqliteMessage is SQLite's own message of a driver error, without the driver's decoration
// ("constraint failed: NOT NULL constraint failed: t.a (1299)" → "NOT NULL constraint failed: t.a").
func sqliteMessage(err error) string {
	msg := err.Error()
	var e *sqlite.Error
	if !errors.As(err, &e) {
		return msg
	}
	msg = e.Error()
	msg = strings.TrimSuffix(msg, " (SQLITE_BUSY)")
	if i := strings.LastIndex(msg, " ("); i > 0 && strings.HasSuffix(msg, ")") {
		msg = msg[:i]
	}
	if i := strings.Index(msg, ": "); i > 0 {
		msg = msg[i+2:]
	}
	return msg
}

// fail turns a driver error into a coded error that names the endpoint, saying what was
// being done; a cancelled context wins.
func (p *endpoint) fail(ctx context.Context, err error, doing string) error {
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	var ce *connector.Error
	if errors.As(err, &ce) {
		return err
	}
	if isFull(err) {
		return p.full(err, doing)
	}
	code, hint := classify(err)
	return connector.Errorf(code, p.red, hint, fmt.Errorf("%s: %s", doing, sqliteMessage(err)))
}

// isFull reports whether SQLite ran out of room: SQLITE_FULL (the disk, or max_page_count) or
// the operating system's ENOSPC.
func isFull(err error) bool {
	return sqliteCode(err)&0xff == sqlite3.SQLITE_FULL || connector.IsDiskFull(err)
}

// full is the error of a database that ran out of room, naming its file.
func (p *endpoint) full(err error, doing string) error {
	return connector.DiskFull(p.red, "the SQLite database "+p.path+" ("+doing+")", errors.New(sqliteMessage(err)))
}

// classify maps an SQLite error to a code and a hint.
func classify(err error) (connector.Code, string) {
	rc := sqliteCode(err)
	if rc < 0 {
		return connector.CodeInternal, ""
	}
	switch rc & 0xff {
	case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED:
		return connector.CodeTransient, "another connection holds the database lock; retry later"
	case sqlite3.SQLITE_CANTOPEN:
		return connector.CodeNotFound, "check the path and that its directory is readable and writable"
	case sqlite3.SQLITE_PERM, sqlite3.SQLITE_AUTH, sqlite3.SQLITE_READONLY:
		return connector.CodePermission, "check the permissions of the file, its directory and its -wal and -shm files"
	case sqlite3.SQLITE_NOTADB, sqlite3.SQLITE_CORRUPT:
		return connector.CodeInvalidData, "check that the file is an SQLite database and not damaged"
	case sqlite3.SQLITE_TOOBIG:
		return connector.CodeTooLarge, "check the size of the values"
	case sqlite3.SQLITE_CONSTRAINT, sqlite3.SQLITE_MISMATCH, sqlite3.SQLITE_RANGE:
		return connector.CodeData, "check the values against the table's constraints"
	case sqlite3.SQLITE_INTERRUPT:
		return connector.CodeCanceled, ""
	case sqlite3.SQLITE_IOERR:
		return connector.CodeInternal, "check the disk"
	case sqlite3.SQLITE_ERROR:
		msg := sqliteMessage(err)
		switch {
		case strings.HasPrefix(msg, "no such table"), strings.HasPrefix(msg, "no such column"):
			return connector.CodeNotFound, "check the table and column names"
		case strings.Contains(msg, "syntax error"), strings.HasPrefix(msg, "incomplete input"):
			return connector.CodeUsage, "check the SQL"
		}
	}
	return connector.CodeInternal, ""
}

// isConstraint reports whether err refused a row for its values: the statement was rolled
// back and the rows can be retried one by one.
func isConstraint(err error) bool {
	switch sqliteCode(err) & 0xff {
	case sqlite3.SQLITE_CONSTRAINT, sqlite3.SQLITE_MISMATCH, sqlite3.SQLITE_TOOBIG, sqlite3.SQLITE_RANGE:
		return true
	}
	return false
}

var (
	quoteIdent  = sqlkit.SQLite.QuoteIdent
	quoteIdents = sqlkit.SQLite.QuoteIdents
)
