// Package postgres is the PostgreSQL connector: a table or query source and a table sink that
// move rows with COPY (text format on the generic path, binary format on the raw fast path).
//
// Source: COPY (SELECT ... ORDER BY primary key) TO STDOUT streams through a pipe into a text
// COPY parser. A batch's position is the text form of its last row's key values (a
// sqlkit.Keyset), and opening at it resumes with WHERE (k1, k2) > ('v1', 'v2'). Tables without
// a primary key and queries have no positions.
//
// Sink: one transaction per flush interval; every Write is one COPY under a savepoint, so
// refused rows can be isolated and the rest written (see Sink.writeRows). Upsert copies into a
// temporary table and merges with INSERT ... ON CONFLICT; replace fills a staging table and
// swaps it in at Commit (see Sink.swap).
//
// Raw fast path: binary COPY straight from the source's server to the sink's. The format names
// the columns' binary kinds ("postgres-binary:int8,text,...") because binary data only fits
// columns of the same PostgreSQL type, which the logical types do not capture (int4 and int8
// are both int64).
package postgres

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/datahub-oss/datahub/connector"
	"github.com/datahub-oss/datahub/internal/connectors/sqlkit"
	"github.com/datahub-oss/datahub/internal/redact"
)

// RawFormat is the name of the raw stream format: PostgreSQL's binary COPY.
const RawFormat = "postgres-binary"

// Our own URL options; everything else in the query is handed to pgx.
const (
	optTable = "table"
	optQuery = "query"
)

// spec declares the connector; its options are parsed by the registry (connector.Options).
// Other parameters of the URL's query are pgx's (application_name, connect_timeout, ...).
var spec = connector.Spec{
	Name:         "postgres",
	DriverParams: true,
	Schemes:      []string{"postgres", "postgresql"},
	Summary:      "PostgreSQL table or query, read and written with COPY",
	Example:      "postgres://user@host:5432/db?table=public.orders",
	Options: []connector.Option{
		{Name: optTable, Type: connector.OptString, Help: "table to read or write, as schema.name (schema defaults to public; quote with \"\" to keep case or dots)"},
		{Name: optQuery, Type: connector.OptString, Help: "SELECT statement to read (sources only; instead of table)"},
		{Name: "sslmode", Type: connector.OptEnum, Help: "TLS mode, passed to the driver", Default: "prefer",
			Enum: []string{"disable", "allow", "prefer", "require", "verify-ca", "verify-full"}},
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

// tableName is a schema-qualified table name.
type tableName struct {
	Schema, Name string
	// quoted is true when the name part was written in double quotes (exact case).
	quoted bool
}

// String renders the name for messages.
func (t tableName) String() string { return t.Schema + "." + t.Name }

// SQL renders the quoted, qualified identifier.
func (t tableName) SQL() string { return quoteIdent(t.Schema) + "." + quoteIdent(t.Name) }

// parseTableName reads "name", "schema.name", or either part in double quotes ("My.Table").
func parseTableName(s string) (tableName, error) {
	parts, err := dialect.ParseName(s)
	if err != nil {
		return tableName{}, err
	}
	if len(parts) == 1 {
		return tableName{Schema: "public", Name: parts[0].Text, quoted: parts[0].Quoted}, nil
	}
	return tableName{Schema: parts[0].Text, Name: parts[1].Text, quoted: parts[1].Quoted}, nil
}

// dialect is PostgreSQL's spelling of what sqlkit writes.
var dialect = sqlkit.Postgres

var (
	quoteIdent  = dialect.QuoteIdent
	quoteIdents = dialect.QuoteIdents
)

// quoteLiteral quotes a string literal (standard_conforming_strings is on for our sessions).
func quoteLiteral(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

// pgConn lets sqlkit run statements on a pgx connection; statements without arguments go
// through the simple protocol, which takes several at once.
type pgConn struct{ c *pgx.Conn }

func (p pgConn) Exec(ctx context.Context, sql string, args ...any) error {
	if len(args) == 0 {
		return exec(ctx, p.c, sql)
	}
	_, err := p.c.Exec(ctx, sql, args...)
	return err
}

func (p pgConn) QueryRow(ctx context.Context, sql string, args ...any) sqlkit.Row {
	return p.c.QueryRow(ctx, sql, args...)
}

// endpoint is what both directions share: the parsed URL, the driver config and the connection.
type endpoint struct {
	ep    connector.Endpoint
	cfg   *pgx.ConnConfig
	table *tableName
	query string
}

// hostPort names the server for messages.
func (p *endpoint) hostPort() string {
	if p.cfg == nil {
		return "?"
	}
	return net.JoinHostPort(p.cfg.Host, strconv.Itoa(int(p.cfg.Port)))
}

// parse reads the endpoint's URL and options into a pgx config.
func (p *endpoint) parse() error {
	red := p.ep.Redacted()
	// Our options first: a bad one is named by the registry, not by the driver.
	opts, err := spec.ParseOptions(p.ep)
	if err != nil {
		return err
	}
	u, err := url.Parse(p.ep.URL)
	if err != nil {
		// url.Error repeats the URL, password included: say only what kind of problem it is.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return connector.Errorf(connector.CodeUsage, red, "write postgres://user:password@host:5432/database?table=schema.name",
			fmt.Errorf("invalid PostgreSQL URL: %s", redact.Scrub(err.Error(), redact.Secrets(p.ep.URL))))
	}
	q := u.Query()
	q.Del(optTable)
	q.Del(optQuery)
	u.RawQuery = q.Encode()
	cfg, err := pgx.ParseConfig(u.String())
	if err != nil {
		return connector.Errorf(connector.CodeUsage, red, "check the URL's host, port and options",
			errors.New(redact.Scrub(err.Error(), redact.Secrets(p.ep.URL))))
	}
	// Fixed session settings make the text forms we parse and write unambiguous.
	rp := cfg.RuntimeParams
	rp["DateStyle"] = "ISO, YMD"
	rp["TimeZone"] = "UTC"
	rp["extra_float_digits"] = "3"
	rp["IntervalStyle"] = "iso_8601"
	rp["client_encoding"] = "UTF8"
	rp["standard_conforming_strings"] = "on"
	rp["bytea_output"] = "hex"
	if rp["application_name"] == "" {
		rp["application_name"] = "datahub"
	}
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = defaultConnectTimeout
	}
	p.cfg = cfg

	if t := opts.String(optTable); t != "" {
		tn, err := parseTableName(t)
		if err != nil {
			return connector.Errorf(connector.CodeUsage, red, "write table=schema.name", err)
		}
		p.table = &tn
	}
	p.query = strings.TrimSpace(opts.String(optQuery))
	return nil
}

// connect opens one connection.
func (p *endpoint) connect(ctx context.Context) (*pgx.Conn, error) {
	conn, err := pgx.ConnectConfig(ctx, p.cfg)
	if err != nil {
		return nil, p.wrap(ctx, err, "")
	}
	return conn, nil
}

// wrap classifies err into a connector.Error naming the endpoint and, when known, the table.
func (p *endpoint) wrap(ctx context.Context, err error, table string) error {
	if err == nil {
		return nil
	}
	var ce *connector.Error
	if errors.As(err, &ce) {
		return err
	}
	if ctx != nil && ctx.Err() != nil {
		return ctx.Err()
	}
	red := p.ep.Redacted()
	secrets := redact.Secrets(p.ep.URL)
	if p.cfg != nil && p.cfg.Password != "" {
		secrets = append(secrets, p.cfg.Password)
	}
	scrub := func(s string) string { return redact.Scrub(s, secrets) }
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return classifyPgError(pe, red, p.hostPort(), p.databaseName(), table, scrub)
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		if pgconn.Timeout(err) && errors.Is(err, context.DeadlineExceeded) {
			return connector.Errorf(connector.CodeUnreachable, red,
				"check that PostgreSQL is running there and that nothing in between drops the connection; raise connect_timeout (seconds, in the URL) if it is only slow",
				fmt.Errorf("timed out after %s connecting to %s", p.connectTimeout(), p.hostPort()))
		}
		return err
	}
	var dns *net.DNSError
	if hint := connector.UnknownHostHint(err); hint != "" && errors.As(err, &dns) {
		// The resolver's error is kept in the chain: it is what makes the failure final.
		return connector.Errorf(connector.CodeUnreachable, red, hint,
			fmt.Errorf("cannot reach PostgreSQL at %s: %w", p.hostPort(), dns))
	}
	if isNetErr(err) {
		return connector.Errorf(connector.CodeUnreachable, red,
			"check that PostgreSQL is running there and reachable from this machine",
			fmt.Errorf("cannot reach PostgreSQL at %s: %s", p.hostPort(), scrub(netCause(err).Error())))
	}
	return connector.Errorf(connector.CodeInternal, red, "", errors.New(scrub(err.Error())))
}

// defaultConnectTimeout bounds a connection when the URL sets no connect_timeout.
const defaultConnectTimeout = 10 * time.Second

func (p *endpoint) connectTimeout() time.Duration {
	if p.cfg == nil {
		return defaultConnectTimeout
	}
	return p.cfg.ConnectTimeout
}

func (p *endpoint) databaseName() string {
	if p.cfg == nil {
		return ""
	}
	return p.cfg.Database
}

// classifyPgError maps a server error to our codes, with a message saying what to check.
func classifyPgError(pe *pgconn.PgError, red, hostPort, database, table string, scrub func(string) string) error {
	msg := scrub(pe.Message)
	base := fmt.Errorf("%s (SQLSTATE %s)", msg, pe.Code)
	if pe.Detail != "" {
		base = fmt.Errorf("%s: %s (SQLSTATE %s)", msg, scrub(pe.Detail), pe.Code)
	}
	base = wrapPg{base, pe}
	switch {
	case pe.Code == "28P01" || pe.Code == "28000":
		return connector.Errorf(connector.CodeAuth, red, "check the user and password",
			wrapPg{fmt.Errorf("%s refused the login: %s", hostPort, msg), pe})
	case pe.Code == "3D000":
		return connector.Errorf(connector.CodeNotFound, red, "check the URL's database name",
			wrapPg{fmt.Errorf("database %q does not exist on %s", database, hostPort), pe})
	case pe.Code == "42P01":
		what := "a table in the query does not exist"
		if table != "" {
			what = fmt.Sprintf("table %s does not exist in database %q", table, database)
		}
		return connector.Errorf(connector.CodeNotFound, red, "check the table name (table=schema.name) and the search path",
			wrapPg{fmt.Errorf("%s: %s", what, msg), pe})
	case pe.Code == "3F000":
		return connector.Errorf(connector.CodeNotFound, red, "create the schema or fix the table's schema name", base)
	case pe.Code == "40001" || pe.Code == "40P01" || pe.Code == "55P03":
		return connector.Errorf(connector.CodeTransient, red, "retry the run", base)
	case strings.HasPrefix(pe.Code, "22") || strings.HasPrefix(pe.Code, "23"):
		return connector.Errorf(connector.CodeData, red, "check the values written to "+orDefault(table, "the table"), base)
	case pe.Code == "42501":
		return connector.Errorf(connector.CodePermission, red, "grant the user the rights it needs on "+orDefault(table, "the object"), base)
	case pe.Code == "42703":
		return connector.Errorf(connector.CodeSchema, red, "check the column names", base)
	case pe.Code == "42P10":
		return connector.Errorf(connector.CodeSchema, red, "upsert needs a primary key or unique index on exactly the key columns", base)
	case pe.Code == "57014":
		return connector.Errorf(connector.CodeCanceled, red, "", base)
	case pe.Code == "53100":
		return connector.DiskFull(red, "database "+strconv.Quote(database)+" on "+hostPort, base)
	case strings.HasPrefix(pe.Code, "08") || strings.HasPrefix(pe.Code, "53") || strings.HasPrefix(pe.Code, "57P"):
		return connector.Errorf(connector.CodeTransient, red, "the server is overloaded, restarting or shutting down; retry later", base)
	case strings.HasPrefix(pe.Code, "42"):
		return connector.Errorf(connector.CodeUsage, red, "check the query or table definition", base)
	}
	return connector.Errorf(connector.CodeInternal, red, "", base)
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// wrapPg keeps the *pgconn.PgError reachable with errors.As under our scrubbed text.
type wrapPg struct {
	err error
	pg  *pgconn.PgError
}

func (w wrapPg) Error() string { return w.err.Error() }
func (w wrapPg) Unwrap() error { return w.pg }

func isNetErr(err error) bool {
	var ne net.Error
	var oe *net.OpError
	return errors.As(err, &ne) || errors.As(err, &oe) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) || errors.Is(err, net.ErrClosed) ||
		errors.Is(err, syscall.EHOSTUNREACH) || errors.Is(err, syscall.ENETUNREACH)
}

// netCause is the dial error without pgconn's prefixes.
func netCause(err error) error {
	var oe *net.OpError
	if errors.As(err, &oe) {
		return oe
	}
	return err
}

// pgErrCode returns the SQLSTATE of err, or "".
func pgErrCode(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

// isDataError reports whether err is a row's fault (SQLSTATE class 22 data exception or 23
// integrity constraint violation), so that the other rows can still be written.
func isDataError(err error) bool {
	c := pgErrCode(err)
	return strings.HasPrefix(c, "22") || strings.HasPrefix(c, "23")
}

// exec runs one or more statements with the simple protocol.
func exec(ctx context.Context, conn *pgx.Conn, sql string) error {
	_, err := conn.PgConn().Exec(ctx, sql).ReadAll()
	return err
}
