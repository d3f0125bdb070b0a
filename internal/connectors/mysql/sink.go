package mysql

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/datahub-oss/datahub/connector"
	"github.com/datahub-oss/datahub/internal/connectors/sqlkit"
)

// Sink writes rows into a table: LOAD DATA LOCAL INFILE streamed from memory when the server
// allows it, multi-row INSERT otherwise and for upserts. Rows written between two Flushes
// form one transaction; a refused row is isolated by bisection under savepoints so that all
// the others are written.
type Sink struct {
	c *config

	db   *sql.DB
	conn *sql.Conn
	info serverInfo
	opts connector.SinkOptions

	d                      *sqlkit.Dialect // the server's spelling of upserts
	target, write, staging tableName
	replace                sqlkit.Replace
	ckpt                   sqlkit.Checkpoints
	cols                   []tcol // target columns, in the order of the schema given to Open
	keys                   []string

	useLoad           bool
	loadPre, loadSuf  string
	enc               loadEncoder
	insPre, insSuf    string
	insRowSQL         string
	insCache          map[int]string
	args              []any
	inTx              bool
	ckptReady         bool
	committed, closed bool
	created           bool // Open created the target (connector.TableCreator)
	broken            error
	maxRows, maxBytes int
}

var (
	_ connector.Sink          = (*Sink)(nil)
	_ connector.PositionStore = (*Sink)(nil)
	_ connector.TableCreator  = (*Sink)(nil)
)

// Created reports whether Open created the target table.
func (k *Sink) Created() bool { return k.created }

// Open prepares the target: creates it from s when missing (opts.Key as primary key), or in
// replace mode a staging table shaped like it, and returns the target's columns for s.
func (k *Sink) Open(ctx context.Context, s connector.Schema, opts connector.SinkOptions) (connector.Schema, error) {
	if k.conn != nil || k.closed {
		return connector.Schema{}, connector.Errorf(connector.CodeInternal, k.c.redacted, "", errors.New("sink opened twice"))
	}
	if err := s.Validate(); err != nil {
		return connector.Schema{}, connector.Errorf(connector.CodeSchema, k.c.redacted, "", err)
	}
	if err := dialect.CheckNames(k.c.redacted, []string{k.c.table.db, k.c.table.name}, s); err != nil {
		return connector.Schema{}, err
	}
	if _, err := sqlkit.SourceKey(k.c.redacted, s, opts.Key); err != nil {
		return connector.Schema{}, err
	}
	if opts.Mode == "" {
		opts.Mode = connector.ModeAppend
	}
	k.opts = opts
	db, conn, info, err := k.c.connect(ctx)
	if err != nil {
		return connector.Schema{}, err
	}
	k.db, k.conn, k.info = db, conn, info
	k.d = sqlkit.MySQL(info.rowAlias())
	k.ckpt = k.d.Checkpoints(k.c.table.db)
	out, err := k.open(ctx, s)
	if err != nil {
		_ = k.Close(ctx)
		return connector.Schema{}, err
	}
	return out, nil
}

func (k *Sink) open(ctx context.Context, s connector.Schema) (connector.Schema, error) {
	k.target = k.c.table
	k.write = k.target
	desc, found, err := describe(ctx, k.conn, k.info, k.target)
	if err != nil {
		return connector.Schema{}, k.c.wrap(ctx, err, "describe table "+k.target.String())
	}
	createSQL := func(t tableName) (string, error) {
		q, err := createTableSQL(t, s, k.opts.Key, k.info)
		if err != nil {
			return "", connector.Errorf(connector.CodeSchema, k.c.redacted, "", fmt.Errorf("create table %s: %w", t, err))
		}
		return q, nil
	}
	if k.opts.Mode == connector.ModeReplace {
		k.staging = sideTable(k.target, sqlkit.StagingSuffix)
		k.write = k.staging
		k.replace = sqlkit.Replace{Staging: k.staging.String()}
		q := "CREATE TABLE " + k.staging.String() + " LIKE " + k.target.String()
		if !found {
			if q, err = createSQL(k.staging); err != nil {
				return connector.Schema{}, err
			}
			k.created = true
		}
		if err := k.replace.Create(ctx, sqlkit.DB(k.conn), q); err != nil {
			return connector.Schema{}, k.c.wrap(ctx, err, "replace table "+k.target.String())
		}
		desc, _, err = describe(ctx, k.conn, k.info, k.staging)
		if err != nil {
			return connector.Schema{}, k.c.wrap(ctx, err, "describe table "+k.staging.String())
		}
	} else if !found {
		if err := sqlkit.CheckNewTableKey(k.c.redacted, k.opts.Mode, k.opts.Key); err != nil {
			return connector.Schema{}, err
		}
		q, err := createSQL(k.target)
		if err != nil {
			return connector.Schema{}, err
		}
		if _, err := k.conn.ExecContext(ctx, q); err != nil {
			return connector.Schema{}, k.c.wrap(ctx, err, "create table "+k.target.String())
		}
		k.created = true
		if desc, _, err = describe(ctx, k.conn, k.info, k.target); err != nil {
			return connector.Schema{}, k.c.wrap(ctx, err, "describe table "+k.target.String())
		}
	}

	out := connector.Schema{Key: desc.pk}
	tb := desc.catalog(k.target)
	idx, err := sqlkit.Match(k.c.redacted, tb, s.Names())
	if err != nil {
		return connector.Schema{}, err
	}
	for _, i := range idx {
		k.cols = append(k.cols, desc.cols[i])
		out.Columns = append(out.Columns, desc.cols[i].col)
	}

	if k.opts.Mode == connector.ModeUpsert {
		if err := k.upsertKeys(ctx, tb, idx); err != nil {
			return connector.Schema{}, err
		}
		out.Key = k.keys
	}
	k.useLoad = k.c.bulk == "load" && k.opts.Mode != connector.ModeUpsert && k.localInfile(ctx)
	k.loadPre, k.loadSuf = loadSQL(k.write, k.cols)
	k.enc = loadEncoder{cols: k.cols}
	k.prepareInsert()
	return out, nil
}

// upsertKeys settles the columns upsert matches on and checks that the table enforces them
// as unique: ON DUPLICATE KEY UPDATE matches on the table's unique keys, nothing else.
func (k *Sink) upsertKeys(ctx context.Context, tb *sqlkit.Table, written []int) error {
	var err error
	if k.keys, err = sqlkit.TableKey(k.c.redacted, tb, k.opts.Key); err != nil {
		return err
	}
	if tb.Unique, err = uniqueKeys(ctx, k.conn, k.write); err != nil {
		return k.c.wrap(ctx, err, "read the keys of table "+k.write.String())
	}
	return sqlkit.CheckUpsertKey(k.c.redacted, tb, k.keys, written)
}

// localInfile reports whether LOAD DATA LOCAL may be used, switching it on when the server
// has it off and the user may (MariaDB and MySQL 8 ship with it off).
func (k *Sink) localInfile(ctx context.Context) bool {
	if k.info.localInfile {
		return true
	}
	_, err := k.conn.ExecContext(ctx, "SET GLOBAL local_infile = 1")
	return err == nil
}

// Write stores the rows in the open transaction.
func (k *Sink) Write(ctx context.Context, b *connector.Batch) error {
	if err := k.usable(); err != nil {
		return err
	}
	if len(b.Rows) == 0 {
		return nil
	}
	for i, r := range b.Rows {
		if len(r) != len(k.cols) {
			return connector.Errorf(connector.CodeInternal, k.c.redacted, "",
				fmt.Errorf("row %d has %d values for %d columns", i, len(r), len(k.cols)))
		}
	}
	if err := k.begin(ctx); err != nil {
		return err
	}
	if _, err := k.conn.ExecContext(ctx, "SAVEPOINT dh_write"); err != nil {
		return k.abort(ctx, err)
	}
	err := k.writeRows(ctx, b.Rows)
	if err == nil {
		return nil
	}
	if !isolatable(err) {
		return k.abort(ctx, err)
	}
	if _, err := k.conn.ExecContext(ctx, "ROLLBACK TO SAVEPOINT dh_write"); err != nil {
		return k.abort(ctx, err)
	}
	var bad connector.RecordErrors
	if len(b.Rows) == 1 {
		bad = append(bad, k.recordError(0, err))
	} else {
		mid := len(b.Rows) / 2
		if err := k.isolate(ctx, b.Rows, 0, mid, &bad); err != nil {
			return k.abort(ctx, err)
		}
		if err := k.isolate(ctx, b.Rows, mid, len(b.Rows), &bad); err != nil {
			return k.abort(ctx, err)
		}
	}
	if len(bad) == 0 {
		return nil
	}
	return bad
}

// isolate writes rows[lo:hi] under a savepoint; when a row is refused it halves the range
// until each refused row stands alone, so every other row gets written.
func (k *Sink) isolate(ctx context.Context, rows [][]any, lo, hi int, bad *connector.RecordErrors) error {
	if _, err := k.conn.ExecContext(ctx, "SAVEPOINT dh_part"); err != nil {
		return err
	}
	err := k.writeRows(ctx, rows[lo:hi])
	if err == nil || !isolatable(err) {
		return err
	}
	if _, err := k.conn.ExecContext(ctx, "ROLLBACK TO SAVEPOINT dh_part"); err != nil {
		return err
	}
	if hi-lo == 1 {
		*bad = append(*bad, k.recordError(lo, err))
		return nil
	}
	mid := (lo + hi) / 2
	if err := k.isolate(ctx, rows, lo, mid, bad); err != nil {
		return err
	}
	return k.isolate(ctx, rows, mid, hi, bad)
}

// writeRows writes rows with the bulk path, or INSERT when the server refuses LOAD DATA.
func (k *Sink) writeRows(ctx context.Context, rows [][]any) error {
	if k.useLoad {
		err := k.loadRows(ctx, rows)
		if !loadRefused(errNumber(err)) {
			return err
		}
		k.useLoad = false // refused before any row was read
	}
	return k.insertRows(ctx, rows)
}

var loadSeq atomic.Uint64

var errLoadEnded = errors.New("LOAD DATA ended")

// loadRows streams rows to LOAD DATA LOCAL INFILE through a pipe: the encoder goroutine
// fills the next chunk while the driver sends the previous one and the server inserts.
func (k *Sink) loadRows(ctx context.Context, rows [][]any) error {
	name := "datahub-" + strconv.FormatUint(loadSeq.Add(1), 10)
	pr, pw := io.Pipe()
	mysql.RegisterReaderHandler(name, func() io.Reader { return pr })
	defer mysql.DeregisterReaderHandler(name)
	done := make(chan struct{})
	go func() {
		defer close(done)
		pw.CloseWithError(k.enc.encode(pw, rows))
	}()
	_, err := k.conn.ExecContext(ctx, k.loadPre+name+k.loadSuf)
	pr.CloseWithError(errLoadEnded) // the server may stop reading early: free the encoder
	<-done
	if err != nil {
		return err
	}
	return k.warnings(ctx)
}

// serverWarning is a warning the server raised while storing rows: with LOAD DATA LOCAL the
// server turns refused values into warnings (and stores an altered value), so any warning
// fails the statement here and the rows are isolated.
type serverWarning struct {
	code    uint16
	message string
}

func (w *serverWarning) Error() string { return fmt.Sprintf("Warning %d: %s", w.code, w.message) }

func isolatable(err error) bool {
	var w *serverWarning
	return isDataError(err) || errors.As(err, &w)
}

// warnings returns a warning of the last statement that means a value was changed, if any.
func (k *Sink) warnings(ctx context.Context) error {
	rows, err := k.conn.QueryContext(ctx, "SHOW WARNINGS")
	if err != nil {
		return err
	}
	defer func() { _ = rows.Close() }()
	var first *serverWarning
	for rows.Next() {
		var level, msg string
		var code uint16
		if err := rows.Scan(&level, &code, &msg); err != nil {
			return err
		}
		// Prefer a warning that names the refused value over, say, json_valid's own note.
		if !benignWarnings[code] && (first == nil || !dataErrors[first.code] && dataErrors[code]) {
			first = &serverWarning{code: code, message: msg}
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if first != nil {
		return first
	}
	return nil
}

var (
	atRowRE   = regexp.MustCompile(` at row \d+$`)
	columnREs = []*regexp.Regexp{
		regexp.MustCompile("column `(?:[^`]|``)*`\\.`(?:[^`]|``)*`\\.`((?:[^`]|``)*)`"),
		regexp.MustCompile("[Cc]olumn '([^']*)'"),
		regexp.MustCompile("[Cc]olumn `((?:[^`]|``)*)`"),
		regexp.MustCompile("CONSTRAINT `(?:[^`.]*\\.)?((?:[^`]|``)*)` failed"),
	}
)

// recordError describes why row i was refused, naming the column when the server does.
func (k *Sink) recordError(i int, err error) connector.RecordError {
	var code uint16
	var msg string
	var w *serverWarning
	var me *mysql.MySQLError
	switch {
	case errors.As(err, &w):
		code, msg = w.code, w.message
	case errors.As(err, &me):
		code, msg = me.Number, me.Message
	default:
		msg = err.Error()
	}
	msg = atRowRE.ReplaceAllString(msg, "")
	col := ""
	for _, re := range columnREs {
		if m := re.FindStringSubmatch(msg); m != nil {
			col = strings.ReplaceAll(m[1], "``", "`")
			break
		}
	}
	if col != "" {
		// Name the column as the schema does; a constraint's name may not be a column.
		found := false
		for _, c := range k.cols {
			if strings.EqualFold(c.col.Name, col) {
				col, found = c.col.Name, true
			}
		}
		if !found && code != erBadNull && code != erNullToNotNull {
			col = ""
		}
	}
	var e error
	switch code {
	case erBadNull, erNullToNotNull:
		e = connector.ErrNull
	default:
		e = fmt.Errorf("%s (MySQL error %d)", msg, code)
	}
	return connector.RecordError{Index: i, Column: col, Err: e}
}

// prepareInsert renders the parts of the multi-row INSERT and its size limits.
func (k *Sink) prepareInsert() {
	var b strings.Builder
	b.WriteString("INSERT INTO ")
	b.WriteString(k.write.String())
	b.WriteString(" (")
	row := make([]string, len(k.cols))
	for i, c := range k.cols {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(quoteIdent(c.col.Name))
		row[i] = "?"
		if c.kind == kSpatial {
			row[i] = "ST_GeomFromText(?)"
		}
	}
	b.WriteString(") VALUES ")
	k.insPre = b.String()
	k.insRowSQL = "(" + strings.Join(row, ", ") + ")"
	if k.opts.Mode == connector.ModeUpsert {
		var update []string
		for _, c := range k.cols {
			isKey := false
			for _, key := range k.keys {
				isKey = isKey || strings.EqualFold(key, c.col.Name)
			}
			if !isKey {
				update = append(update, c.col.Name)
			}
		}
		k.insSuf = k.d.Upsert(k.keys, update)
	}
	k.insCache = map[int]string{}
	k.maxRows = max(1, 65535/len(k.cols)) // placeholders per statement
	k.maxBytes = min(max(k.info.maxPacket/2, 64<<10), 8<<20)
}

func (k *Sink) insertSQL(n int) string {
	if q, ok := k.insCache[n]; ok {
		return q
	}
	q := sqlkit.RowsSQL(k.insPre, k.insRowSQL, k.insSuf, n)
	if len(k.insCache) < 8 {
		k.insCache[n] = q
	}
	return q
}

// insertRows writes rows with multi-row INSERTs of at most 65,535 placeholders and a few MB.
func (k *Sink) insertRows(ctx context.Context, rows [][]any) error {
	for start := 0; start < len(rows); {
		args := k.args[:0]
		size, end := 0, start
		for end < len(rows) && end-start < k.maxRows && (end == start || size < k.maxBytes) {
			for j, v := range rows[end] {
				a := k.arg(j, v)
				args = append(args, a)
				switch x := a.(type) {
				case string:
					size += len(x) + 4
				case []byte:
					size += len(x) + 4
				default:
					size += 9
				}
			}
			end++
		}
		k.args = args
		_, err := k.conn.ExecContext(ctx, k.insertSQL(end-start), args...)
		clear(args)
		if err != nil {
			return err
		}
		if err := k.warnings(ctx); err != nil {
			return err
		}
		start = end
	}
	return nil
}

// arg turns a value into the INSERT argument the column takes exactly.
func (k *Sink) arg(j int, v any) any {
	t := &k.cols[j]
	switch x := v.(type) {
	case nil:
		return nil
	case time.Time:
		switch t.kind {
		case kDate:
			return string(appendDate(nil, x))
		case kDatetime:
			return string(appendDatetime(nil, x))
		}
		return string(appendDatetime(nil, x.UTC()))
	case connector.Decimal:
		return string(x)
	case json.RawMessage:
		if t.kind == kBytes {
			return []byte(x)
		}
		return string(x)
	case connector.UUID:
		if t.kind == kBytes {
			return x[:]
		}
		return x.String()
	case bool:
		if x {
			return int64(1)
		}
		return int64(0)
	case string:
		if t.kind == kBytes {
			return []byte(x)
		}
		return x
	}
	return v
}

// Flush commits the rows written since the last Flush, with pos in the checkpoint table
// (append and upsert) in the same transaction.
func (k *Sink) Flush(ctx context.Context, pos connector.Position) error {
	if err := k.usable(); err != nil {
		return err
	}
	if pos != nil && k.opts.Mode != connector.ModeReplace && k.opts.RunID != "" {
		if err := k.ensureCheckpointTable(ctx); err != nil {
			return err
		}
		if err := k.begin(ctx); err != nil {
			return err
		}
		if err := k.ckpt.Save(ctx, sqlkit.DB(k.conn), k.opts.RunID, pos); err != nil {
			return k.abort(ctx, err)
		}
	}
	return k.commit(ctx)
}

// ensureCheckpointTable creates the checkpoint table on another connection: DDL would
// commit the open transaction halfway.
func (k *Sink) ensureCheckpointTable(ctx context.Context) error {
	if k.ckptReady {
		return nil
	}
	if err := k.ckpt.Ensure(ctx, sqlkit.DB(k.db)); err != nil {
		return k.c.wrap(ctx, err, "store the position")
	}
	k.ckptReady = true
	return nil
}

// SavedPosition returns the position the last Flush stored for this run, or nil.
func (k *Sink) SavedPosition(ctx context.Context) (connector.Position, error) {
	if k.conn == nil {
		return nil, connector.Errorf(connector.CodeInternal, k.c.redacted, "", fmt.Errorf("sink %w", errNotOpen))
	}
	if k.opts.RunID == "" || k.opts.Mode == connector.ModeReplace {
		return nil, nil
	}
	pos, err := k.ckpt.Load(ctx, sqlkit.DB(k.conn), k.opts.RunID)
	if err != nil {
		return nil, k.c.wrap(ctx, err, "read the saved position")
	}
	return pos, nil
}

// Commit makes everything durable; in replace mode it swaps the staging table in.
func (k *Sink) Commit(ctx context.Context) error {
	if err := k.usable(); err != nil {
		return err
	}
	if err := k.commit(ctx); err != nil {
		return err
	}
	if k.opts.Mode == connector.ModeReplace {
		if err := k.replace.Swap(ctx, k.swap); err != nil {
			return err
		}
	}
	k.committed = true
	return nil
}

// swap puts the staging table in the target's place with one RENAME TABLE, which MySQL and
// MariaDB perform atomically, and drops the old table.
func (k *Sink) swap(ctx context.Context) error {
	exists, err := k.d.Exists(ctx, sqlkit.DB(k.conn), k.target.db, k.target.name)
	if err != nil {
		return k.c.wrap(ctx, err, "look up table "+k.target.String())
	}
	if !exists {
		if _, err := k.conn.ExecContext(ctx, "RENAME TABLE "+k.staging.String()+" TO "+k.target.String()); err != nil {
			return k.c.wrap(ctx, err, "rename "+k.staging.String()+" to "+k.target.String())
		}
		return nil
	}
	old := sideTable(k.target, "__datahub_old")
	if _, err := k.conn.ExecContext(ctx, "DROP TABLE IF EXISTS "+old.String()); err != nil {
		return k.c.wrap(ctx, err, "drop table "+old.String())
	}
	if _, err := k.conn.ExecContext(ctx, "RENAME TABLE "+k.target.String()+" TO "+old.String()+", "+
		k.staging.String()+" TO "+k.target.String()); err != nil {
		return k.c.wrap(ctx, err, "swap "+k.staging.String()+" into "+k.target.String())
	}
	if _, err := k.conn.ExecContext(ctx, "DROP TABLE "+old.String()); err != nil {
		return k.c.wrap(ctx, err, "drop the replaced table "+old.String())
	}
	return nil
}

// Close rolls back what was not flushed, drops an uncommitted staging table and disconnects.
func (k *Sink) Close(ctx context.Context) error {
	if k.closed {
		return nil
	}
	k.closed = true
	if k.conn != nil {
		// Clean up even when the run was cancelled, but not forever.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if k.inTx {
			_, _ = k.conn.ExecContext(cctx, "ROLLBACK")
			k.inTx = false
		}
		k.replace.Discard(cctx, sqlkit.DB(k.conn))
		_ = k.conn.Close()
		k.conn = nil
	}
	if k.db != nil {
		_ = k.db.Close()
		k.db = nil
	}
	return nil
}

func (k *Sink) usable() error {
	switch {
	case k.conn == nil || k.closed:
		return connector.Errorf(connector.CodeInternal, k.c.redacted, "", fmt.Errorf("sink %w", errNotOpen))
	case k.committed:
		return connector.Errorf(connector.CodeInternal, k.c.redacted, "", errors.New("sink already committed"))
	}
	return k.broken
}

func (k *Sink) begin(ctx context.Context) error {
	if k.inTx {
		return nil
	}
	if _, err := k.conn.ExecContext(ctx, "START TRANSACTION"); err != nil {
		return k.abort(ctx, err)
	}
	k.inTx = true
	return nil
}

func (k *Sink) commit(ctx context.Context) error {
	if !k.inTx {
		return nil
	}
	_, err := k.conn.ExecContext(ctx, "COMMIT")
	k.inTx = false
	if err != nil {
		return k.fail(ctx, err, "commit to table "+k.write.String())
	}
	return nil
}

// abort undoes the current Write (back to its savepoint) after err. When that is impossible
// (connection lost, deadlock) the whole transaction is gone, and with it every row written
// since the last Flush: the sink refuses further work so none of it is silently skipped.
func (k *Sink) abort(ctx context.Context, err error) error {
	if k.inTx && !connLost(err) {
		if _, rerr := k.conn.ExecContext(ctx, "ROLLBACK TO SAVEPOINT dh_write"); rerr == nil {
			return k.c.wrap(ctx, err, "write to table "+k.write.String())
		}
	}
	return k.fail(ctx, err, "write to table "+k.write.String())
}

func (k *Sink) fail(ctx context.Context, err error, what string) error {
	if k.inTx {
		_, _ = k.conn.ExecContext(context.WithoutCancel(ctx), "ROLLBACK")
		k.inTx = false
	}
	werr := k.c.wrap(ctx, err, what)
	code := connector.CodeOf(werr)
	if code == connector.CodeCanceled || code == connector.CodeInternal {
		code = connector.CodeTransient
	}
	k.broken = connector.Errorf(code, k.c.redacted, "resume the run from its last checkpoint",
		fmt.Errorf("rows written to %s since the last flush were rolled back: %w", k.write, err))
	return werr
}
