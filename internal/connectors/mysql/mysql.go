// Package mysql is the MySQL and MariaDB connector: a table or query source streamed with
// keyset positions, and a sink that bulk-loads with LOAD DATA LOCAL INFILE (falling back to
// multi-row INSERT), isolates refused rows, upserts, and replaces tables atomically.
package mysql

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/datahub-oss/datahub/connector"
	"github.com/datahub-oss/datahub/internal/connectors/sqlkit"
)

// spec declares the connector; its options are parsed by the registry (connector.Options).
var spec = connector.Spec{ //nolint:gosec // G101: the example URL documents the form, it is no credential
	Name:    "mysql",
	Schemes: []string{"mysql", "mariadb"},
	Summary: "MySQL and MariaDB tables and queries (bulk loads with LOAD DATA LOCAL INFILE)",
	Example: "mysql://user:password@localhost:3306/shop?table=orders",
	Options: []connector.Option{
		{Name: "table", Type: connector.OptString, Help: "table to read or write: name, or db.name when the URL has no database"},
		{Name: "query", Type: connector.OptString, Help: "SELECT to read instead of a table (source only; not resumable)"},
		{Name: "tls", Type: connector.OptEnum, Help: "TLS to the server", Default: "false", Enum: []string{"false", "true", "skip-verify", "preferred"},
			// The driver reads tls as a boolean too, so URLs written for it keep working.
			Aliases: map[string]string{"1": "true", "0": "false"}},
		{Name: "bulk", Type: connector.OptEnum, Help: "how the sink writes: load uses LOAD DATA LOCAL INFILE when the server allows it (else INSERT); insert always uses multi-row INSERT", Default: "load", Enum: []string{"load", "insert"}},
		{Name: "connect_timeout", Type: connector.OptDuration, Help: "how long to wait for the server to answer a connection", Default: "10s"},
	},
}

func init() {
	spec.NewSource = func(_ context.Context, e connector.Endpoint) (connector.Source, error) {
		c, err := parseEndpoint(e)
		if err != nil {
			return nil, err
		}
		if c.table.name == "" && c.query == "" {
			return nil, connector.Errorf(connector.CodeUsage, c.redacted, "add ?table=NAME or ?query=SELECT...", errors.New("no table or query to read"))
		}
		return &Source{c: c, batchSize: e.BatchSize}, nil
	}
	spec.NewSink = func(_ context.Context, e connector.Endpoint) (connector.Sink, error) {
		c, err := parseEndpoint(e)
		if err != nil {
			return nil, err
		}
		if c.query != "" {
			return nil, connector.Errorf(connector.CodeUsage, c.redacted, "use ?table=NAME for a destination", errors.New("a query cannot be written to"))
		}
		if c.table.name == "" {
			return nil, connector.Errorf(connector.CodeUsage, c.redacted, "add ?table=NAME", errors.New("no table to write"))
		}
		return &Sink{c: c}, nil
	}
	spec.ListTables = listTables
	connector.Register(spec)
}

// sessionSQLMode makes the server refuse bad values instead of adjusting them: strict for
// every engine, no zero dates, and 0 stored as 0 in AUTO_INCREMENT columns (an exact copy).
const sessionSQLMode = "'STRICT_ALL_TABLES,NO_ZERO_DATE,NO_ZERO_IN_DATE,ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION,NO_AUTO_VALUE_ON_ZERO'"

// tableName is a table qualified by its database; db may be empty for a query endpoint.
type tableName struct{ db, name string }

func (t tableName) String() string { return quoteIdent(t.db) + "." + quoteIdent(t.name) }

// config is a parsed endpoint. drv holds the password: never print it.
type config struct {
	drv      *mysql.Config
	table    tableName
	query    string
	bulk     string
	redacted string
	addr     string
}

func parseEndpoint(e connector.Endpoint) (*config, error) {
	c := &config{redacted: e.Redacted()}
	usage := func(hint string, err error) error {
		return connector.Errorf(connector.CodeUsage, c.redacted, hint, err)
	}
	u, err := url.Parse(e.URL)
	if err != nil {
		// url.Parse quotes the input, password included: say only what kind of problem it was.
		return nil, usage("write mysql://user:password@host:3306/database?table=name", errors.New("the URL cannot be parsed"))
	}
	if u.Scheme != "mysql" && u.Scheme != "mariadb" {
		return nil, usage("", fmt.Errorf("scheme %q is not mysql or mariadb", u.Scheme))
	}
	host, port := u.Hostname(), u.Port()
	if host == "" {
		host = "127.0.0.1"
	}
	if port == "" {
		port = "3306"
	}
	db := strings.TrimPrefix(u.Path, "/")
	if strings.Contains(db, "/") {
		return nil, usage("the URL path is the database name only", fmt.Errorf("path %q has more than a database name", u.Path))
	}
	d := mysql.NewConfig()
	if u.User != nil {
		d.User = u.User.Username()
		d.Passwd, _ = u.User.Password()
	}
	if d.User == "" {
		d.User = "root"
	}
	d.Net = "tcp"
	d.Addr = net.JoinHostPort(host, port)
	d.DBName = db
	d.ParseTime = false // values are parsed here, exactly, from the server's text
	d.InterpolateParams = false
	d.AllowAllFiles = false
	d.MultiStatements = false
	d.Loc = time.UTC
	d.MaxAllowedPacket = 64 << 20
	d.Logger = &mysql.NopLogger{} // errors are returned and mapped, not logged by the driver
	d.Params = map[string]string{
		"time_zone": "'+00:00'",
		"sql_mode":  sessionSQLMode,
		// Notes must be recorded: a decimal rounded to its column's scale is only a note.
		"sql_notes": "1",
		// A source's consumer or a sink's encoder may pause between packets for a while.
		"net_write_timeout": "600",
		"net_read_timeout":  "600",
	}
	if err := d.Apply(mysql.Charset("utf8mb4", "utf8mb4_bin")); err != nil {
		return nil, usage("", err)
	}
	opts, err := spec.ParseOptions(e)
	if err != nil {
		return nil, err
	}
	d.Timeout = opts.Duration("connect_timeout")
	if d.Timeout <= 0 {
		return nil, usage("write a duration such as 10s", errors.New("option connect_timeout: must be more than 0"))
	}
	if v := opts.String("tls"); v != "false" {
		d.TLSConfig = v
	}
	c.bulk = opts.String("bulk")
	c.query = strings.TrimSpace(opts.String("query"))
	if t := opts.String("table"); t != "" {
		if c.query != "" {
			return nil, usage("give either table or query", errors.New("both table and query are set"))
		}
		tdb, name, err := splitTable(t)
		if err != nil {
			return nil, usage("write table=name or table=db.name", err)
		}
		if tdb == "" {
			tdb = db
		}
		if tdb == "" {
			return nil, usage("put the database in the URL path (mysql://host/db) or the table (db.name)", fmt.Errorf("no database for table %q", t))
		}
		c.table = tableName{db: tdb, name: name}
	}
	c.drv = d
	c.addr = d.Addr
	return c, nil
}

// splitTable reads "name", "db.name" or backquoted parts ("`my.db`.`t`").
func splitTable(s string) (db, name string, err error) {
	parts, err := dialect.ParseName(s)
	if err != nil {
		return "", "", err
	}
	if len(parts) == 1 {
		return "", parts[0].Text, nil
	}
	return parts[0].Text, parts[1].Text, nil
}

// dialect is MySQL's for names; a sink's upserts take the server's (see Sink.d).
var dialect = sqlkit.MySQL(false)

func quoteIdent(s string) string { return dialect.QuoteIdent(s) }

// serverInfo is what the connector needs to know about the server.
type serverInfo struct {
	version     string
	maria       bool
	major       int
	minor       int
	patch       int
	localInfile bool
	maxPacket   int
}

func (s serverInfo) atLeast(major, minor, patch int) bool {
	if s.major != major {
		return s.major > major
	}
	if s.minor != minor {
		return s.minor > minor
	}
	return s.patch >= patch
}

// hasUUIDType: MariaDB 10.7 added a native UUID column type.
func (s serverInfo) hasUUIDType() bool { return s.maria && s.atLeast(10, 7, 0) }

// rowAlias: MySQL 8.0.19 deprecated VALUES(col) in ON DUPLICATE KEY UPDATE for a row alias.
func (s serverInfo) rowAlias() bool { return !s.maria && s.atLeast(8, 0, 19) }

var versionRE = regexp.MustCompile(`^(\d+)\.(\d+)\.(\d+)`)

// connect opens a pool for this endpoint and one dedicated connection from it.
func (c *config) connect(ctx context.Context) (*sql.DB, *sql.Conn, serverInfo, error) {
	var info serverInfo
	dc, err := mysql.NewConnector(c.drv)
	if err != nil {
		return nil, nil, info, connector.Errorf(connector.CodeUsage, c.redacted, "", err)
	}
	db := sql.OpenDB(dc)
	db.SetMaxOpenConns(3)
	db.SetMaxIdleConns(1)
	// The driver's Timeout bounds the dial only: a server (or a proxy) that accepts and then
	// says nothing would hold the handshake for as long as the OS lets it.
	cctx, cancel := context.WithTimeout(ctx, c.drv.Timeout)
	defer cancel()
	conn, err := db.Conn(cctx)
	if err != nil {
		_ = db.Close()
		return nil, nil, info, c.connectError(ctx, cctx, err)
	}
	var li sql.NullInt64
	err = conn.QueryRowContext(cctx, "SELECT VERSION(), @@local_infile, @@max_allowed_packet").Scan(&info.version, &li, &info.maxPacket)
	if err != nil {
		_ = conn.Close()
		_ = db.Close()
		return nil, nil, info, c.connectError(ctx, cctx, err)
	}
	info.localInfile = li.Int64 == 1
	info.maria = strings.Contains(strings.ToLower(info.version), "mariadb")
	if m := versionRE.FindStringSubmatch(info.version); m != nil {
		info.major, _ = strconv.Atoi(m[1])
		info.minor, _ = strconv.Atoi(m[2])
		info.patch, _ = strconv.Atoi(m[3])
	}
	return db, conn, info, nil
}

// connectError is a failed connection: a timeout says so, with the address and the option
// that sets it, instead of the driver's "invalid connection".
func (c *config) connectError(ctx, cctx context.Context, err error) error {
	if ctx.Err() == nil && errors.Is(cctx.Err(), context.DeadlineExceeded) {
		return connector.Errorf(connector.CodeUnreachable, c.redacted,
			"check that the server is running and that nothing in between drops the connection; raise connect_timeout if it is only slow",
			fmt.Errorf("connect: timed out after %s waiting for the server at %s to answer", c.drv.Timeout, c.addr))
	}
	return c.wrap(ctx, err, "connect")
}

// Server error numbers the connector acts on.
const (
	erDupEntry          = 1062
	erBadNull           = 1048
	erNullToNotNull     = 1263
	erAccessDenied      = 1045
	erDBAccessDenied    = 1044
	erBadDB             = 1049
	erNoSuchTable       = 1146
	erLockWait          = 1205
	erDeadlock          = 1213
	erParse             = 1064
	erBadField          = 1054
	erNotAllowedCommand = 1148
	erLocalInfileOff    = 3948 // MySQL 8
	erLocalInfileMaria  = 4166 // MariaDB 10.5+
	erPacketTooLarge    = 1153
	erTooManyConns      = 1040
	erServerShutdown    = 1053
	erSavepointMissing  = 1305
)

// dataErrors are the server errors (and warnings) that mean one row's value was refused
// or would have been altered: the row is rejected and the others written.
var dataErrors = map[uint16]bool{
	erBadNull: true, erDupEntry: true, erNullToNotNull: true,
	1261: true, // row doesn't contain data for all columns
	1262: true, // row truncated: more data than columns
	1264: true, // out of range
	1265: true, // data truncated
	1292: true, // truncated incorrect value
	1300: true, // invalid character string
	1366: true, // incorrect value
	1367: true, // illegal value
	1406: true, // data too long
	1411: true, // incorrect value for function
	1451: true, // foreign key: row is referenced
	1452: true, // foreign key: parent row missing
	1690: true, // value out of range
	1916: true, // overflow converting
	1918: true, // illegal value converting
	3140: true, // MySQL: invalid JSON
	3819: true, // MySQL: check constraint
	4025: true, // MariaDB: check constraint
	4038: true, // MariaDB: JSON syntax
	4078: true, // MariaDB: illegal parameter data types
}

// benignWarnings do not mean a value was changed.
var benignWarnings = map[uint16]bool{
	1287: true, // deprecated syntax
	1592: true, // statement unsafe for statement-based binlog
	1681: true, // integer display width deprecated
	3719: true, // utf8 alias
	3720: true, // utf8 collation alias
}

// loadRefused: the server does not take LOAD DATA LOCAL (local_infile is off).
func loadRefused(n uint16) bool {
	return n == erNotAllowedCommand || n == erLocalInfileOff || n == erLocalInfileMaria
}

func isDataError(err error) bool {
	var me *mysql.MySQLError
	return errors.As(err, &me) && dataErrors[me.Number]
}

func errNumber(err error) uint16 {
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		return me.Number
	}
	return 0
}

// connLost reports errors after which the session (and its transaction) is gone.
func connLost(err error) bool {
	if err == nil {
		return false
	}
	var ne net.Error
	return errors.Is(err, driver.ErrBadConn) || errors.Is(err, mysql.ErrInvalidConn) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) ||
		errors.As(err, &ne) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// wrap classifies err for the connector's callers: what was being done, on which endpoint,
// and what to check. Cancellation is returned as ctx.Err().
func (c *config) wrap(ctx context.Context, err error, what string) error {
	if err == nil {
		return nil
	}
	if ctx != nil && ctx.Err() != nil {
		return ctx.Err()
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	var ce *connector.Error
	if errors.As(err, &ce) {
		return err
	}
	e := fmt.Errorf("%s: %w", what, err)
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		code, hint := connector.CodeInternal, ""
		switch n := me.Number; {
		case n == erAccessDenied:
			code, hint = connector.CodeAuth, "check the user and password"
		case n == erDBAccessDenied || n == 1142 || n == 1143 || n == 1227 || n == 1370:
			code, hint = connector.CodePermission, "check the user's privileges"
		case n == erBadDB:
			code, hint = connector.CodeNotFound, "check the database name in the URL path"
		case n == erNoSuchTable:
			code, hint = connector.CodeNotFound, "check the table name"
		case n == erBadField:
			code, hint = connector.CodeNotFound, "check the column names"
		case n == erParse:
			code, hint = connector.CodeUsage, "check the query"
		case n == erDeadlock || n == erLockWait || n == 1020 || n == 1180 || n == 1181:
			code, hint = connector.CodeTransient, "another transaction held the rows; retry"
		case n == erTooManyConns || n == erServerShutdown || n == 1927:
			code, hint = connector.CodeUnreachable, "the server is busy or going down; retry later"
		case n == 1114 || n == 1021 || ((n == 1026 || n == 3) && strings.Contains(me.Message, " 28")):
			// ER_RECORD_FILE_FULL, ER_DISK_FULL, and writes that failed with errno 28 (ENOSPC)
			return connector.DiskFull(c.redacted, what, err)
		case n == erPacketTooLarge:
			code, hint = connector.CodeTooLarge, "raise the server's max_allowed_packet"
		case loadRefused(n):
			code, hint = connector.CodeUnsupported, "enable local_infile on the server or use bulk=insert"
		case dataErrors[n]:
			code = connector.CodeData
		}
		return connector.Errorf(code, c.redacted, hint, e)
	}
	if hint := connector.UnknownHostHint(err); hint != "" {
		return connector.Errorf(connector.CodeUnreachable, c.redacted, hint, e)
	}
	if connLost(err) {
		return connector.Errorf(connector.CodeUnreachable, c.redacted,
			"check that the server is running and reachable at "+c.addr, e)
	}
	return connector.Errorf(connector.CodeInternal, c.redacted, "", e)
}

// notFound reports a missing table.
func (c *config) notFound(t tableName) error {
	return connector.Errorf(connector.CodeNotFound, c.redacted, "check the table name and the database",
		fmt.Errorf("table %s does not exist", t))
}
