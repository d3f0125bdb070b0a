package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/datahub-oss/datahub/connector"
	"github.com/datahub-oss/datahub/internal/connectors/sqlkit"
)

// maxVariables is SQLite's limit on the parameters of one statement (SQLITE_MAX_VARIABLE_NUMBER).
const maxVariables = 32766

// maxChunkRows bounds the rows of one multi-row INSERT: past a few hundred rows a longer
// statement saves nothing measurable (see BenchmarkInsert).
var maxChunkRows = 500

// Sink writes a table through one connection (SQLite has one writer at a time).
//
// A missing target is created from the schema (see types.go), with opts.Key, or else the
// source's key, as its primary key. Rows go in with prepared multi-row INSERT OR ABORT statements (OR ABORT overrides any
// ON CONFLICT clause of the table's constraints, so that a refused row undoes only its own
// statement), inside one transaction per flush window and one savepoint per Write. When a
// constraint refuses a row, the batch is rolled back to its savepoint and written row by row,
// each under its own savepoint, so that the good rows are written and the bad ones reported.
//
// Replace writes a staging table created with the target's own CREATE TABLE text (so its
// columns, defaults, constraints and collations are kept), and at Commit, in one transaction,
// drops the target, renames the staging table to it and recreates the target's indexes and
// triggers from their SQL; views name the table and keep working. The target's triggers
// thus do not fire for the rows a replace loads. Foreign keys of other tables that reference
// the target are checked before that transaction commits. Flush commits the staging rows
// written so far (invisible in the target), so other writers get the lock between windows.
type Sink struct {
	ep connector.Endpoint
	p  endpoint

	conn    *sql.Conn
	mode    connector.WriteMode
	runID   string
	table   string // the target, as stored when it exists
	staging string
	replace sqlkit.Replace
	ckpt    sqlkit.Checkpoints
	writeTo string // the table Write inserts into: the target, or the staging table in replace mode
	names   []string
	keys    []string
	target  connector.Schema
	enc     []encoder

	head, row, tail string // the INSERT statement is head + row, row, ... + tail
	chunkRows       int
	stmts           map[int]*sql.Stmt
	args            []any
	good            []int

	inTx, checkpointReady   bool
	opened, committed, done bool
	created                 bool // Open created the target (connector.TableCreator)
}

var (
	_ connector.Sink          = (*Sink)(nil)
	_ connector.PositionStore = (*Sink)(nil)
	_ connector.TableCreator  = (*Sink)(nil)
)

// Created reports whether Open created the target table.
func (k *Sink) Created() bool { return k.created }

// Open prepares the target table, creating it from s when missing.
func (k *Sink) Open(ctx context.Context, s connector.Schema, opts connector.SinkOptions) (connector.Schema, error) {
	if k.opened {
		return connector.Schema{}, connector.Errorf(connector.CodeInternal, k.ep.Redacted(), "", errors.New("sink opened twice"))
	}
	k.p.ep = k.ep
	if err := k.p.parse(); err != nil {
		return connector.Schema{}, err
	}
	if err := s.Validate(); err != nil {
		return connector.Schema{}, connector.Errorf(connector.CodeSchema, k.p.red, "", err)
	}
	if k.p.query != "" || k.p.table == "" {
		return connector.Schema{}, k.p.usage("add ?table=NAME", errors.New("a sink writes a table; the URL names none"))
	}
	k.mode = opts.Mode
	if k.mode == "" {
		k.mode = connector.ModeAppend
	}
	if _, err := connector.ParseWriteMode(string(k.mode)); err != nil {
		return connector.Schema{}, k.p.usage("", err)
	}
	k.runID = opts.RunID
	if err := k.p.open(ctx, true); err != nil {
		return connector.Schema{}, err
	}
	k.opened = true
	conn, err := k.p.db.Conn(ctx)
	if err != nil {
		return connector.Schema{}, k.p.fail(ctx, err, "open "+k.p.path)
	}
	k.conn = conn
	if err := k.prepareTarget(ctx, s, opts.Key); err != nil {
		return connector.Schema{}, err
	}
	k.buildInsert()
	return k.target, nil
}

func (k *Sink) prepareTarget(ctx context.Context, s connector.Schema, optKey []string) error {
	c := k.conn
	obj, exists, err := lookup(ctx, c, k.p.table)
	if err != nil {
		return k.p.fail(ctx, err, "look up table "+k.p.table)
	}
	k.table = k.p.table
	if exists {
		k.table = obj.name
		if obj.kind != "table" {
			kind := obj.kind
			if kind != "view" {
				kind += " table"
			}
			return connector.Errorf(connector.CodeUnsupported, k.p.red, "write to an ordinary table",
				fmt.Errorf("%s is a %s", obj.name, kind))
		}
	}
	k.staging = sqlkit.SQLite.SideName(k.table, sqlkit.StagingSuffix)
	k.replace = sqlkit.Replace{Staging: quoteIdent(k.staging)}
	k.ckpt = sqlkit.SQLite.Checkpoints("")
	k.writeTo = k.table
	if k.mode == connector.ModeReplace {
		k.writeTo = k.staging
	}
	if !exists {
		k.created = true
		return k.createTarget(ctx, s, optKey)
	}

	cols, err := tableColumns(ctx, c, k.table)
	if err != nil {
		return k.p.fail(ctx, err, "read the columns of "+k.table)
	}
	tb := catalogTable(k.table, cols, obj.withoutRowid)
	idx, err := sqlkit.Match(k.p.red, tb, s.Names())
	if err != nil {
		return err
	}
	for i, col := range s.Columns {
		tc := cols[idx[i]]
		out, typed := logicalType(tc.decl)
		if !typed {
			// No declared type: the column takes any value; keep the source's type.
			out = col
			out.Native = ""
		}
		out.Name = tc.name
		out.Nullable = !tc.notNull
		k.target.Columns = append(k.target.Columns, out)
		k.names = append(k.names, tc.name)
		k.enc = append(k.enc, encoderFor(out, affinityOf(tc.decl)))
	}
	if err := sqlkit.CheckRequired(k.p.red, tb, idx); err != nil {
		return err
	}
	k.target.Key = tb.Key
	if k.keys, err = sqlkit.TableKey(k.p.red, tb, optKey); err != nil {
		return err
	}
	if k.mode == connector.ModeUpsert {
		if tb.Unique, err = uniqueIndexes(ctx, c, k.table); err != nil {
			return k.p.fail(ctx, err, "read the indexes of "+k.table)
		}
		if err := sqlkit.CheckUpsertKey(k.p.red, tb, k.keys, idx); err != nil {
			return err
		}
	}
	if k.mode == connector.ModeReplace {
		create, err := renameCreate(obj.sql, k.staging)
		if err != nil {
			return connector.Errorf(connector.CodeUnsupported, k.p.red, "use append or upsert for this table", fmt.Errorf("table %s: %w", k.table, err))
		}
		if err := k.replace.Create(ctx, sqlkit.DB(c), create); err != nil {
			return k.p.fail(ctx, err, "replace "+k.table)
		}
	}
	return nil
}

// createTarget creates the missing target (in replace mode, the staging table) from s, with
// optKey, or else the source's key, as its primary key.
func (k *Sink) createTarget(ctx context.Context, s connector.Schema, optKey []string) error {
	keys := optKey
	if len(keys) == 0 {
		keys = s.Key
	}
	if err := sqlkit.CheckNewTableKey(k.p.red, k.mode, keys); err != nil {
		return err
	}
	var err error
	if k.keys, err = sqlkit.SourceKey(k.p.red, s, keys); err != nil {
		return err
	}
	k.target = connector.Schema{Key: k.keys}
	for _, col := range s.Columns {
		tc := col
		tc.Native = declaredType(col)
		if slices.Contains(k.keys, col.Name) {
			tc.Nullable = false
		}
		k.target.Columns = append(k.target.Columns, tc)
		k.names = append(k.names, col.Name)
		k.enc = append(k.enc, encoderFor(tc, affinityOf(tc.Native)))
	}
	create := createTableSQL(k.writeTo, k.target.Columns, k.keys)
	if k.mode == connector.ModeReplace {
		if err := k.replace.Create(ctx, sqlkit.DB(k.conn), create); err != nil {
			return k.p.fail(ctx, err, "replace "+k.table)
		}
		return nil
	}
	if _, err := k.conn.ExecContext(ctx, create); err != nil {
		return k.p.fail(ctx, err, "create table "+k.writeTo)
	}
	return nil
}

// catalogTable describes a table for the kit's column and key checks.
func catalogTable(name string, cols []columnInfo, withoutRowid bool) *sqlkit.Table {
	t := &sqlkit.Table{Name: name}
	var pk []columnInfo
	for _, c := range cols {
		if c.pk > 0 {
			pk = append(pk, c)
		}
	}
	slices.SortFunc(pk, func(a, b columnInfo) int { return a.pk - b.pk })
	for _, p := range pk {
		t.Key = append(t.Key, p.name)
	}
	for _, c := range cols {
		// An INTEGER PRIMARY KEY of a rowid table is the rowid: SQLite fills it.
		rowidAlias := len(pk) == 1 && c.pk == 1 && strings.EqualFold(strings.TrimSpace(c.decl), "INTEGER") && !withoutRowid
		t.Columns = append(t.Columns, sqlkit.Column{
			Name:      c.name,
			Generated: c.hidden != 0,
			Required:  c.notNull && !c.hasDefault && c.hidden == 0 && !rowidAlias,
		})
	}
	return t
}

// uniqueIndexes returns the column sets of a table's full unique indexes.
func uniqueIndexes(ctx context.Context, q querier, table string) ([][]string, error) {
	return sqlkit.ColumnSets(ctx, q, `SELECT l.name, coalesce(i.name, '') FROM pragma_index_list(?) AS l, pragma_index_info(l.name) AS i
		WHERE l."unique" = 1 AND l.partial = 0 ORDER BY l.seq, i.seqno`, table)
}

// createTableSQL is the CREATE TABLE of a new target.
func createTableSQL(name string, cols []connector.Column, keys []string) string {
	defs := make([]sqlkit.ColumnDef, len(cols))
	for i, c := range cols {
		defs[i] = sqlkit.ColumnDef{Name: c.Name, Type: c.Native, NotNull: !c.Nullable}
	}
	return sqlkit.SQLite.CreateTable(quoteIdent(name), defs, keys, "")
}

// renameCreate rewrites a table's CREATE TABLE text (as SQLite stores it: the keywords
// normalised to "CREATE TABLE ", no schema name) to create a table named name instead.
func renameCreate(create, name string) (string, error) {
	const prefix = "CREATE TABLE "
	if !strings.HasPrefix(strings.ToUpper(create), prefix) {
		return "", fmt.Errorf("its definition does not start with CREATE TABLE")
	}
	rest := strings.TrimLeft(create[len(prefix):], " \t\n\r")
	if up := strings.ToUpper(rest); strings.HasPrefix(up, "IF NOT EXISTS") {
		rest = strings.TrimLeft(rest[len("IF NOT EXISTS"):], " \t\n\r")
	}
	if rest == "" {
		return "", fmt.Errorf("its definition has no name")
	}
	end := 0
	switch open := rest[0]; open {
	case '"', '`', '\'', '[':
		closing := open
		if open == '[' {
			closing = ']'
		}
		i := 1
		for ; i < len(rest); i++ {
			if rest[i] == closing {
				if closing != ']' && i+1 < len(rest) && rest[i+1] == closing {
					i++
					continue
				}
				break
			}
		}
		if i >= len(rest) {
			return "", fmt.Errorf("its definition has an unterminated name")
		}
		end = i + 1
	default:
		end = strings.IndexAny(rest, " \t\n\r(")
		if end < 0 {
			return "", fmt.Errorf("its definition has no column list")
		}
	}
	return prefix + quoteIdent(name) + " " + strings.TrimLeft(rest[end:], " \t\n\r"), nil
}

// buildInsert prepares the text of the INSERT statements.
func (k *Sink) buildInsert() {
	n := len(k.names)
	k.head = "INSERT OR ABORT INTO " + quoteIdent(k.writeTo) + " (" + quoteIdents(k.names) + ") VALUES "
	k.row = "(" + strings.Repeat("?, ", n-1) + "?)"
	if k.mode == connector.ModeUpsert {
		var set []string
		for _, name := range k.names {
			if !slices.ContainsFunc(k.keys, func(key string) bool { return strings.EqualFold(key, name) }) {
				set = append(set, quoteIdent(name)+" = excluded."+quoteIdent(name))
			}
		}
		k.tail = " ON CONFLICT (" + quoteIdents(k.keys) + ") DO NOTHING"
		if len(set) > 0 {
			k.tail = " ON CONFLICT (" + quoteIdents(k.keys) + ") DO UPDATE SET " + strings.Join(set, ", ")
		}
	}
	k.chunkRows = max(1, min(maxVariables/n, maxChunkRows))
	k.stmts = map[int]*sql.Stmt{}
}

// stmt returns the prepared INSERT of rows rows. The full-chunk statement and the last
// few partial sizes stay prepared: batches of a run mostly have the same size.
func (k *Sink) stmt(ctx context.Context, rows int) (*sql.Stmt, error) {
	if st := k.stmts[rows]; st != nil {
		return st, nil
	}
	if len(k.stmts) >= 8 {
		for n, st := range k.stmts {
			if n != k.chunkRows && n != 1 {
				_ = st.Close()
				delete(k.stmts, n)
			}
		}
	}
	st, err := k.conn.PrepareContext(ctx, sqlkit.RowsSQL(k.head, k.row, k.tail, rows))
	if err != nil {
		return nil, err
	}
	k.stmts[rows] = st
	return st, nil
}

func (k *Sink) exec(ctx context.Context, q string) error {
	_, err := k.conn.ExecContext(ctx, q)
	return err
}

// begin opens the flush window's transaction, taking the write lock now rather than at the
// first write (a deferred transaction that later needs the lock can fail with SQLITE_BUSY
// without waiting).
func (k *Sink) begin(ctx context.Context) error {
	if k.inTx {
		return nil
	}
	if err := k.exec(ctx, "BEGIN IMMEDIATE"); err != nil {
		return k.p.fail(ctx, err, "begin a transaction on "+k.p.path)
	}
	k.inTx = true
	return nil
}

// Write inserts the batch's rows; see the type's comment.
func (k *Sink) Write(ctx context.Context, b *connector.Batch) error {
	if !k.opened || k.done {
		return connector.Errorf(connector.CodeInternal, k.ep.Redacted(), "", errors.New("sink not open"))
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if len(b.Rows) == 0 {
		return nil
	}
	n := len(k.names)
	var rerrs connector.RecordErrors
	k.args, k.good = k.args[:0], k.good[:0]
rows:
	for i, row := range b.Rows {
		if len(row) != n {
			rerrs = append(rerrs, connector.RecordError{Index: i, Err: fmt.Errorf("row has %d values for %d columns", len(row), n)})
			continue
		}
		start := len(k.args)
		for j, v := range row {
			a, err := k.enc[j](v)
			if err != nil {
				rerrs = append(rerrs, connector.RecordError{Index: i, Column: k.names[j], Err: err})
				k.args = k.args[:start]
				continue rows
			}
			k.args = append(k.args, a)
		}
		k.good = append(k.good, i)
	}
	if len(k.good) > 0 {
		more, err := k.insert(ctx)
		if err != nil {
			return err
		}
		if len(more) > 0 {
			rerrs = append(rerrs, more...)
			slices.SortStableFunc(rerrs, func(a, b connector.RecordError) int { return a.Index - b.Index })
		}
	}
	clear(k.args) // drop references to the batch's values
	if len(rerrs) > 0 {
		return rerrs
	}
	return nil
}

// insert writes the encoded rows k.args (of batch rows k.good) under a savepoint.
func (k *Sink) insert(ctx context.Context) (connector.RecordErrors, error) {
	if err := k.begin(ctx); err != nil {
		return nil, err
	}
	if err := k.exec(ctx, "SAVEPOINT dh_write"); err != nil {
		return nil, k.p.fail(ctx, err, "write to "+k.writeTo)
	}
	err := k.insertChunks(ctx)
	if err == nil {
		if err := k.exec(ctx, "RELEASE dh_write"); err != nil {
			return nil, k.p.fail(ctx, err, "write to "+k.writeTo)
		}
		return nil, nil
	}
	if !isConstraint(err) || ctx.Err() != nil {
		if rerr := k.undo(ctx, "dh_write", err); rerr != nil {
			return nil, rerr
		}
		return nil, k.p.fail(ctx, err, "write to "+k.writeTo)
	}
	if err := k.exec(ctx, "ROLLBACK TO dh_write"); err != nil {
		return nil, k.lost(ctx, err, nil)
	}
	rerrs, err := k.insertRows(ctx)
	if err != nil {
		if rerr := k.undo(ctx, "dh_write", err); rerr != nil {
			return nil, rerr
		}
		return nil, err
	}
	if err := k.exec(ctx, "RELEASE dh_write"); err != nil {
		return nil, k.p.fail(ctx, err, "write to "+k.writeTo)
	}
	return rerrs, nil
}

func (k *Sink) insertChunks(ctx context.Context) error {
	n := len(k.names)
	total := len(k.good)
	for off := 0; off < total; {
		m := min(k.chunkRows, total-off)
		st, err := k.stmt(ctx, m)
		if err != nil {
			return err
		}
		if _, err := st.ExecContext(ctx, k.args[off*n:(off+m)*n]...); err != nil {
			return err
		}
		off += m
	}
	return nil
}

// insertRows writes the rows one by one, each under its own savepoint (a trigger's
// RAISE(FAIL) keeps what its statement did before), and reports those refused.
func (k *Sink) insertRows(ctx context.Context) (connector.RecordErrors, error) {
	n := len(k.names)
	st, err := k.stmt(ctx, 1)
	if err != nil {
		return nil, k.p.fail(ctx, err, "write to "+k.writeTo)
	}
	var rerrs connector.RecordErrors
	for g, i := range k.good {
		if err := k.exec(ctx, "SAVEPOINT dh_row"); err != nil {
			return nil, k.p.fail(ctx, err, "write to "+k.writeTo)
		}
		if _, err := st.ExecContext(ctx, k.args[g*n:(g+1)*n]...); err != nil {
			if !isConstraint(err) || ctx.Err() != nil {
				if rerr := k.undo(ctx, "dh_row", err); rerr != nil {
					return nil, rerr
				}
				return nil, k.p.fail(ctx, err, "write to "+k.writeTo)
			}
			if rerr := k.exec(ctx, "ROLLBACK TO dh_row"); rerr != nil {
				return nil, k.lost(ctx, rerr, err)
			}
			msg := sqliteMessage(err)
			why := errors.New(msg)
			if strings.HasPrefix(msg, "NOT NULL constraint failed") {
				why = fmt.Errorf("%w (%s)", connector.ErrNull, msg)
			}
			rerrs = append(rerrs, connector.RecordError{Index: i, Column: k.constraintColumn(msg), Err: why})
		}
		if err := k.exec(ctx, "RELEASE dh_row"); err != nil {
			return nil, k.p.fail(ctx, err, "write to "+k.writeTo)
		}
	}
	return rerrs, nil
}

// constraintColumn finds the column SQLite names in a constraint message
// ("NOT NULL constraint failed: t.name"); "" when it names none or several.
func (k *Sink) constraintColumn(msg string) string {
	_, list, ok := strings.Cut(msg, "constraint failed: ")
	if !ok || strings.Contains(list, ", ") || len(list) <= len(k.writeTo)+1 ||
		!strings.EqualFold(list[:len(k.writeTo)+1], k.writeTo+".") {
		return ""
	}
	col := list[len(k.writeTo)+1:]
	for _, name := range k.names {
		if strings.EqualFold(col, name) {
			return name
		}
	}
	return col
}

// undo rolls back to a savepoint and pops it, after cause made a statement fail.
func (k *Sink) undo(ctx context.Context, savepoint string, cause error) error {
	cctx := context.WithoutCancel(ctx)
	if err := k.exec(cctx, "ROLLBACK TO "+savepoint); err != nil {
		return k.lost(ctx, err, cause)
	}
	_ = k.exec(cctx, "RELEASE "+savepoint)
	return nil
}

// lost reports a transaction the database rolled back on its own (a trigger's
// RAISE(ROLLBACK), a full disk, an I/O error): the window's rows since the last flush are
// gone. err is what the rollback to the savepoint said ("no such savepoint": SQLite had
// already rolled back), cause (nil when none) the failure that made SQLite roll back, which is
// the one worth reporting.
func (k *Sink) lost(ctx context.Context, err, cause error) error {
	k.inTx = false
	_ = k.exec(context.WithoutCancel(ctx), "ROLLBACK")
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if cause != nil {
		if isFull(cause) {
			return k.p.full(cause, k.writeTo)
		}
		return connector.Errorf(connector.CodeTransient, k.p.red, "the rows since the last flush were not written; run again from the last checkpoint",
			fmt.Errorf("the transaction on %s was rolled back by SQLite after: %s", k.writeTo, sqliteMessage(cause)))
	}
	return connector.Errorf(connector.CodeTransient, k.p.red, "the rows since the last flush were not written; run again from the last checkpoint",
		fmt.Errorf("the transaction on %s was rolled back (a trigger's RAISE(ROLLBACK)?): %s", k.writeTo, sqliteMessage(err)))
}

// Flush commits the rows written so far, with pos for the run when given (append, upsert).
// In replace mode it commits the staging table's rows, which stay invisible until Commit.
func (k *Sink) Flush(ctx context.Context, pos connector.Position) error {
	if !k.opened || k.done {
		return connector.Errorf(connector.CodeInternal, k.ep.Redacted(), "", errors.New("sink not open"))
	}
	store := pos != nil && k.mode != connector.ModeReplace && k.runID != ""
	if !k.inTx && !store {
		return nil
	}
	if err := k.begin(ctx); err != nil {
		return err
	}
	if store {
		conn := sqlkit.DB(k.conn)
		if !k.checkpointReady {
			if err := k.ckpt.Ensure(ctx, conn); err != nil {
				return k.abort(ctx, err, "store the position")
			}
		}
		if err := k.ckpt.Save(ctx, conn, k.runID, pos); err != nil {
			return k.abort(ctx, err, "store the position")
		}
	}
	if err := k.exec(ctx, "COMMIT"); err != nil {
		return k.abort(ctx, err, "commit to "+k.writeTo)
	}
	k.inTx = false
	k.checkpointReady = k.checkpointReady || store // the table's creation is committed too
	return nil
}

// abort rolls the window back after a failure to store or commit it.
func (k *Sink) abort(ctx context.Context, err error, doing string) error {
	_ = k.exec(context.WithoutCancel(ctx), "ROLLBACK")
	k.inTx = false
	return k.p.fail(ctx, err, doing)
}

// SavedPosition returns the position last flushed for the run, or nil.
func (k *Sink) SavedPosition(ctx context.Context) (connector.Position, error) {
	if !k.opened || k.done {
		return nil, connector.Errorf(connector.CodeInternal, k.ep.Redacted(), "", errors.New("sink not open"))
	}
	if k.runID == "" {
		return nil, nil
	}
	pos, err := k.ckpt.Load(ctx, sqlkit.DB(k.conn), k.runID)
	if err != nil {
		return nil, k.p.fail(ctx, err, "read the saved position")
	}
	return pos, nil
}

// Commit finishes the write: commits the last window, and in replace mode swaps the staging
// table in.
func (k *Sink) Commit(ctx context.Context) error {
	if !k.opened || k.done {
		return connector.Errorf(connector.CodeInternal, k.ep.Redacted(), "", errors.New("sink not open"))
	}
	if k.committed {
		return nil
	}
	if k.inTx {
		if err := k.exec(ctx, "COMMIT"); err != nil {
			return k.abort(ctx, err, "commit to "+k.writeTo)
		}
		k.inTx = false
	}
	if k.mode == connector.ModeReplace {
		if err := k.replace.Swap(ctx, k.swap); err != nil {
			return err
		}
	}
	k.committed = true
	return nil
}

// swap replaces the target with the staging table in one transaction.
func (k *Sink) swap(ctx context.Context) error {
	k.closeStmts() // they name the staging table, which is about to be renamed
	var fk int
	if err := k.conn.QueryRowContext(ctx, "PRAGMA foreign_keys").Scan(&fk); err != nil {
		return k.p.fail(ctx, err, "replace "+k.table)
	}
	// Dropping the target would otherwise delete (or refuse to delete) the rows referencing it;
	// the references are checked against the new rows below instead. With legacy renaming,
	// RENAME does not trip over views that name the dropped table.
	if fk != 0 {
		if err := k.exec(ctx, "PRAGMA foreign_keys = OFF"); err != nil {
			return k.p.fail(ctx, err, "replace "+k.table)
		}
	}
	if err := k.exec(ctx, "PRAGMA legacy_alter_table = ON"); err != nil {
		return k.p.fail(ctx, err, "replace "+k.table)
	}
	defer func() {
		cctx := context.WithoutCancel(ctx)
		_ = k.exec(cctx, "PRAGMA legacy_alter_table = OFF")
		if fk != 0 {
			_ = k.exec(cctx, "PRAGMA foreign_keys = ON")
		}
	}()
	if err := k.begin(ctx); err != nil {
		return err
	}
	fail := func(err error) error { return k.abort(ctx, err, "replace "+k.table) }
	obj, exists, err := lookup(ctx, k.conn, k.table)
	if err != nil {
		return fail(err)
	}
	var recreate []string
	if exists {
		rows, err := k.conn.QueryContext(ctx, `SELECT sql FROM sqlite_schema WHERE tbl_name = ? AND type IN ('index', 'trigger')
			AND sql IS NOT NULL ORDER BY type = 'trigger', rowid`, obj.name)
		if err != nil {
			return fail(err)
		}
		for rows.Next() {
			var q string
			if err := rows.Scan(&q); err != nil {
				_ = rows.Close()
				return fail(err)
			}
			recreate = append(recreate, q)
		}
		_ = rows.Close()
		if err := k.exec(ctx, "DROP TABLE "+quoteIdent(obj.name)); err != nil {
			return fail(err)
		}
	}
	if err := k.exec(ctx, "ALTER TABLE "+quoteIdent(k.staging)+" RENAME TO "+quoteIdent(k.table)); err != nil {
		return fail(err)
	}
	for _, q := range recreate {
		if err := k.exec(ctx, q); err != nil {
			return fail(err)
		}
	}
	if fk != 0 {
		if err := k.checkReferences(ctx); err != nil {
			_ = k.exec(context.WithoutCancel(ctx), "ROLLBACK")
			k.inTx = false
			return err
		}
	}
	if err := k.exec(ctx, "COMMIT"); err != nil {
		return fail(err)
	}
	k.inTx = false
	return nil
}

// checkReferences refuses a replace that leaves rows of other tables (or of the target
// itself) referring to rows that are gone.
func (k *Sink) checkReferences(ctx context.Context) error {
	rows, err := k.conn.QueryContext(ctx, `SELECT DISTINCT m.name FROM sqlite_schema AS m, pragma_foreign_key_list(m.name) AS f
		WHERE m.type = 'table' AND f."table" = ? COLLATE NOCASE`, k.table)
	if err != nil {
		return k.p.fail(ctx, err, "check the foreign keys referencing "+k.table)
	}
	var children []string
	for rows.Next() {
		var n string
		if rows.Scan(&n) == nil {
			children = append(children, n)
		}
	}
	_ = rows.Close()
	for _, child := range children {
		var n int
		if err := k.conn.QueryRowContext(ctx, `SELECT count(*) FROM pragma_foreign_key_check(?)`, child).Scan(&n); err != nil {
			return k.p.fail(ctx, err, "check the foreign keys of "+child)
		}
		if n > 0 {
			return connector.Errorf(connector.CodeData, k.p.red, "write the rows they reference too, or remove the referencing rows first",
				fmt.Errorf("replacing %s would leave %d rows of %s referring to rows that are gone; %s was left as it was", k.table, n, child, k.table))
		}
	}
	return nil
}

func (k *Sink) closeStmts() {
	for n, st := range k.stmts {
		_ = st.Close()
		delete(k.stmts, n)
	}
}

// Close discards what was not committed (a replace's staging table included); twice is harmless.
func (k *Sink) Close(ctx context.Context) error {
	if k.done {
		return nil
	}
	k.done = true
	cctx := context.WithoutCancel(ctx)
	k.closeStmts()
	if k.conn != nil {
		if k.inTx {
			_ = k.exec(cctx, "ROLLBACK")
			k.inTx = false
		}
		k.replace.Discard(cctx, sqlkit.DB(k.conn))
		_ = k.conn.Close()
	}
	if k.p.db != nil {
		if err := k.p.db.Close(); err != nil {
			return connector.Errorf(connector.CodeInternal, k.p.red, "", fmt.Errorf("close %s: %w", k.p.path, err))
		}
	}
	return nil
}

// RefusesNUL is true: SQLite would store a NUL byte in TEXT, but its own functions and most
// readers cut the text there, so the value would not come back as it was.
func (k *Sink) RefusesNUL() bool { return true }

var _ connector.NULRefuser = (*Sink)(nil)
