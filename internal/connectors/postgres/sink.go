package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/datahub-oss/datahub/connector"
	"github.com/datahub-oss/datahub/internal/connectors/sqlkit"
)

const (
	upsertTemp      = "pg_temp._datahub_upsert"
	upsertSeqColumn = "_datahub_n"
	writeSavepoint  = "datahub_write"
)

// Sink writes a table with COPY, all inside one transaction that Flush commits (append,
// upsert) or Commit swaps in (replace). Each Write runs under a savepoint, so that rows the
// server refuses can be isolated and the rest of the batch still written. Writes send binary
// COPY encoded in the hub (copybinary.go) when every column has a binary encoder, else text
// COPY (copytext.go); the choice is made once per table, at Open.
type Sink struct {
	ep   connector.Endpoint
	p    endpoint
	conn *pgx.Conn
	mode connector.WriteMode
	run  string

	target     tableName // as stored in the catalog when it existed
	staging    tableName // replace mode
	cols       []string  // target column names, in the order of the schema given to Open
	binKinds   []string  // their binary COPY kinds (see pgColumn.binaryKind)
	key        []string
	copyText   string
	copyBinary string
	upsertSQL  string // upsert: moves the temp table's rows into the target

	replace sqlkit.Replace
	ckpt    sqlkit.Checkpoints

	inTx, spOpen, done, closed, ckptReady bool
	created                               bool // Open created the target (connector.TableCreator)

	enc  rowReader
	bin  *binaryRows  // set when every column has a binary encoder: writes send binary COPY
	sent atomic.Int64 // COPY bytes of successful writes, for connector.Meter
}

var (
	_ connector.Sink          = (*Sink)(nil)
	_ connector.RawSink       = (*Sink)(nil)
	_ connector.PositionStore = (*Sink)(nil)
	_ connector.Meter         = (*Sink)(nil)
	_ connector.TableCreator  = (*Sink)(nil)
)

// Created reports whether Open created the target table.
func (k *Sink) Created() bool { return k.created }

// BytesWritten is how many bytes of COPY data the writes that succeeded sent.
func (k *Sink) BytesWritten() int64 { return k.sent.Load() }

// Open prepares the target (creating it from s when missing; in replace mode a staging copy)
// and returns the target's description of s's columns.
func (k *Sink) Open(ctx context.Context, s connector.Schema, opts connector.SinkOptions) (out connector.Schema, err error) {
	red := k.ep.Redacted()
	if k.conn != nil {
		return out, connector.Errorf(connector.CodeInternal, red, "", errors.New("sink opened twice"))
	}
	k.p.ep = k.ep
	if err := k.p.parse(); err != nil {
		return out, err
	}
	if k.p.table == nil || k.p.query != "" {
		return out, connector.Errorf(connector.CodeUsage, red, "add ?table=schema.name",
			errors.New("a PostgreSQL sink needs the table option (and no query)"))
	}
	if err := s.Validate(); err != nil {
		return out, connector.Errorf(connector.CodeSchema, red, "", err)
	}
	if err := dialect.CheckNames(red, []string{k.p.table.Schema, k.p.table.Name}, s); err != nil {
		return out, err
	}
	mode, err := connector.ParseWriteMode(string(opts.Mode))
	if err != nil {
		return out, connector.Errorf(connector.CodeUsage, red, "", err)
	}
	k.mode, k.run = mode, opts.RunID
	conn, err := k.p.connect(ctx)
	if err != nil {
		return out, err
	}
	k.conn = conn
	defer func() {
		if err != nil {
			_ = k.conn.Close(ctx)
			k.conn = nil
		}
	}()
	out, err = k.open(ctx, s, opts)
	if err != nil {
		return out, k.p.wrap(ctx, err, k.p.table.String())
	}
	return out, nil
}

func (k *Sink) open(ctx context.Context, s connector.Schema, opts connector.SinkOptions) (connector.Schema, error) {
	red := k.ep.Redacted()
	var out connector.Schema
	// Key columns for a table we create, spelt as in s.
	createKey, err := sqlkit.SourceKey(red, s, opts.Key)
	if err != nil {
		return out, err
	}
	if err := exec(ctx, k.conn, "BEGIN"); err != nil {
		return out, err
	}
	k.inTx = true
	info, err := lookupTable(ctx, k.conn, *k.p.table)
	if err != nil {
		return out, err
	}
	if info != nil && info.Kind != "r" && info.Kind != "p" {
		return out, connector.Errorf(connector.CodeUnsupported, red, "write to a table",
			fmt.Errorf("%s is not a table (relkind %s)", info.Name, info.Kind))
	}
	k.target = *k.p.table
	if info != nil {
		k.target = info.Name
	}
	k.target.quoted = true
	k.ckpt = dialect.Checkpoints(k.target.Schema)

	desc := info
	into := k.target
	if k.mode == connector.ModeReplace {
		k.staging = stagingName(k.target)
		into = k.staging
		k.replace = sqlkit.Replace{Staging: k.staging.SQL()}
		create := createTableSQL(k.staging, s, createKey)
		k.created = info == nil
		if info != nil {
			create = "CREATE TABLE " + k.staging.SQL() + " (LIKE " + k.target.SQL() + " INCLUDING ALL)"
		}
		// In the sink's transaction: a run that does not commit leaves no staging table.
		if err := k.replace.Create(ctx, pgConn{k.conn}, create); err != nil {
			return out, err
		}
		if desc, err = lookupTable(ctx, k.conn, k.staging); err != nil {
			return out, err
		}
	} else if info == nil {
		if err := sqlkit.CheckNewTableKey(red, k.mode, createKey); err != nil {
			return out, err
		}
		// Another run may create the same table at the same moment: its CREATE wins, ours
		// fails on the catalog's unique index, and we go on with the table it made.
		if err := exec(ctx, k.conn, "SAVEPOINT datahub_create"); err != nil {
			return out, err
		}
		k.created = true
		if err := exec(ctx, k.conn, createTableSQL(k.target, s, createKey)); err != nil {
			if !createdConcurrently(err) {
				return out, err
			}
			if err := exec(ctx, k.conn, "ROLLBACK TO SAVEPOINT datahub_create"); err != nil {
				return out, err
			}
			k.created = false
		}
		if desc, err = lookupTable(ctx, k.conn, k.target); err != nil {
			return out, err
		}
	}
	if desc == nil {
		return out, fmt.Errorf("table %s vanished while being prepared", into)
	}

	tb := desc.catalog(k.target.String())
	idx, err := sqlkit.Match(red, tb, s.Names())
	if err != nil {
		return out, err
	}
	var written []pgColumn
	for _, i := range idx {
		tc := desc.Columns[i]
		out.Columns = append(out.Columns, tc.logical())
		k.cols = append(k.cols, tc.Name)
		k.binKinds = append(k.binKinds, tc.binaryKind())
		written = append(written, tc)
	}
	if bc := binaryColumns(written); bc != nil {
		k.bin = &binaryRows{cols: bc}
	}
	if k.key, err = sqlkit.TableKey(red, tb, opts.Key); err != nil {
		return out, err
	}
	out.Key = k.key
	names := quoteIdents(k.cols)
	k.copyText = "COPY " + into.SQL() + " (" + names + ") FROM STDIN"
	k.copyBinary = k.copyText + " (FORMAT binary)"
	k.enc.types = make([]connector.Type, len(out.Columns))
	for i, c := range out.Columns {
		k.enc.types[i] = c.Type
	}

	if k.mode == connector.ModeUpsert {
		if tb.Unique, err = indexSets(ctx, k.conn, desc.OID, "i.indisunique"); err != nil {
			return out, err
		}
		if err := sqlkit.CheckUpsertKey(red, tb, k.key, idx); err != nil {
			return out, err
		}
		if err := k.prepareUpsert(ctx, desc, names); err != nil {
			return out, err
		}
	}
	return out, nil
}

// prepareUpsert creates the temporary table batches are copied into (the key was checked).
func (k *Sink) prepareUpsert(ctx context.Context, desc *tableInfo, names string) error {
	// The temporary table has the target's column types (so binary COPY fits), its NOT NULLs
	// (so those violations surface in the COPY, which names the line, rather than in the
	// INSERT, which does not) and a sequence column recording arrival order, so the last of
	// duplicate keys wins.
	create := "DROP TABLE IF EXISTS " + upsertTemp + "; CREATE TEMP TABLE _datahub_upsert AS SELECT " +
		names + " FROM " + k.target.SQL() + " WITH NO DATA; ALTER TABLE " + upsertTemp + " ADD COLUMN " +
		upsertSeqColumn + " bigint GENERATED ALWAYS AS IDENTITY"
	for _, c := range k.cols {
		if tc, _ := desc.column(c); tc.NotNull {
			create += ", ALTER COLUMN " + quoteIdent(c) + " SET NOT NULL"
		}
	}
	if err := exec(ctx, k.conn, create); err != nil {
		return err
	}
	keys := quoteIdents(k.key)
	var update []string
	for _, c := range k.cols {
		if !slices.Contains(k.key, c) {
			update = append(update, c)
		}
	}
	// OVERRIDING SYSTEM VALUE: like COPY, the upsert writes the given values into identity columns.
	k.upsertSQL = fmt.Sprintf("INSERT INTO %s AS t (%s) OVERRIDING SYSTEM VALUE SELECT DISTINCT ON (%s) %s FROM %s ORDER BY %s, %s DESC%s; TRUNCATE %s",
		k.target.SQL(), names, keys, names, upsertTemp, keys, upsertSeqColumn, dialect.Upsert(k.key, update), upsertTemp)
	k.copyText = "COPY " + upsertTemp + " (" + names + ") FROM STDIN"
	k.copyBinary = k.copyText + " (FORMAT binary)"
	return nil
}

// stagingName is "<table>__datahub_staging", shortened to fit PostgreSQL's identifier limit.
func stagingName(t tableName) tableName {
	return tableName{Schema: t.Schema, Name: dialect.SideName(t.Name, sqlkit.StagingSuffix), quoted: true}
}

func (k *Sink) ready() error {
	if k.conn == nil || k.closed || !k.inTx {
		return connector.Errorf(connector.CodeInternal, k.ep.Redacted(), "", errors.New("sink is not open (or already committed)"))
	}
	return nil
}

// Write copies the batch's rows; rows the server refuses are isolated and reported as
// RecordErrors while all other rows are written.
func (k *Sink) Write(ctx context.Context, b *connector.Batch) error {
	if err := k.ready(); err != nil {
		return err
	}
	if len(b.Rows) == 0 {
		return nil
	}
	var rejects connector.RecordErrors
	var idx []int
	nc := len(k.cols)
	for i, r := range b.Rows {
		if len(r) != nc && idx == nil {
			idx = make([]int, 0, len(b.Rows))
			for j := range i {
				idx = append(idx, j)
			}
		}
		if len(r) != nc {
			rejects = append(rejects, connector.RecordError{Index: i,
				Err: fmt.Errorf("row has %d values, the table is written with %d columns", len(r), nc)})
		} else if idx != nil {
			idx = append(idx, i)
		}
	}
	if idx == nil || len(idx) > 0 {
		if err := k.writeRows(ctx, b.Rows, idx, &rejects); err != nil {
			return k.p.wrap(ctx, err, k.target.String())
		}
	}
	if len(rejects) > 0 {
		sort.Slice(rejects, func(i, j int) bool { return rejects[i].Index < rejects[j].Index })
		return rejects
	}
	return nil
}

// writeRows writes rows[idx] (all rows when idx is nil). When the server refuses a row
// (SQLSTATE class 22 or 23) the attempt is rolled back to its savepoint and the bad rows are
// isolated: COPY names the line it failed on, so the rows before it are good and are written
// again, the line's row is refused, and the rest is tried next; errors without a line (the
// upsert's INSERT) split the rows in halves until single bad rows remain.
func (k *Sink) writeRows(ctx context.Context, rows [][]any, idx []int, rejects *connector.RecordErrors) error {
	if k.bin != nil {
		k.bin.begin(len(rows), rejects)
	}
	idx, err := k.attempt(ctx, rows, idx)
	if err == nil || !isDataError(err) {
		return err
	}
	type segment struct {
		rows []int
		err  error // the error of an attempt already made
	}
	stack := []segment{{idx, err}}
	push := func(rows []int) {
		if len(rows) > 0 {
			stack = append(stack, segment{rows: rows})
		}
	}
	for len(stack) > 0 {
		sg := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		err := sg.err
		if err == nil {
			// The rows sent: the encoder may have refused some (binary COPY).
			sg.rows, err = k.attempt(ctx, rows, sg.rows)
		}
		switch {
		case err == nil:
		case !isDataError(err) || len(sg.rows) == 0:
			return err
		case len(sg.rows) == 1:
			*rejects = append(*rejects, k.recordError(sg.rows[0], err))
		default:
			// Segments are pushed in reverse so rows are written in batch order (upsert: last wins).
			if line := copyErrorLine(err); line >= 1 && line <= len(sg.rows) {
				*rejects = append(*rejects, k.recordError(sg.rows[line-1], err))
				push(sg.rows[line:])
				push(sg.rows[:line-1])
				continue
			}
			mid := len(sg.rows) / 2
			push(sg.rows[mid:])
			push(sg.rows[:mid])
		}
	}
	return nil
}

// attempt writes rows[idx] (all when idx is nil) under a fresh savepoint, rolling back to it
// on a data error. It returns the rows it sent, whose order the line of a COPY error counts:
// rows[idx] less those the binary encoder refused (as a list, on an error, when idx is nil).
func (k *Sink) attempt(ctx context.Context, rows [][]any, idx []int) ([]int, error) {
	// The savepoint goes in the COPY's own query: one round trip less per batch, during
	// which the server would have nothing to do.
	sql := k.savepointSQL() + "; " + k.copyText
	var r io.Reader = &k.enc
	sent := &k.enc.sent
	if k.bin != nil {
		k.bin.reset(rows, idx)
		r, sent, sql = k.bin, &k.bin.sent, k.savepointSQL()+"; "+k.copyBinary
	} else {
		k.enc.reset(rows, idx)
	}
	k.spOpen = true
	_, err := k.conn.PgConn().CopyFrom(ctx, r, sql)
	if k.bin != nil {
		idx = k.bin.sentRows(idx)
	}
	if err == nil && k.upsertSQL != "" {
		err = exec(ctx, k.conn, k.upsertSQL)
	}
	if err != nil && isDataError(err) {
		if rerr := exec(ctx, k.conn, "ROLLBACK TO SAVEPOINT "+writeSavepoint); rerr != nil {
			return idx, rerr
		}
	}
	if err == nil {
		k.sent.Add(*sent)
	}
	if err != nil && idx == nil {
		idx = make([]int, len(rows))
		for i := range idx {
			idx[i] = i
		}
	}
	return idx, err
}

// savepointSQL starts a savepoint for one write, releasing the previous one in the same
// statement (unreleased savepoints would pile up as subtransactions).
func (k *Sink) savepointSQL() string {
	if k.spOpen {
		return "RELEASE SAVEPOINT " + writeSavepoint + "; SAVEPOINT " + writeSavepoint
	}
	return "SAVEPOINT " + writeSavepoint
}

// savepoint starts a savepoint for one write (see savepointSQL).
func (k *Sink) savepoint(ctx context.Context) error {
	if err := exec(ctx, k.conn, k.savepointSQL()); err != nil {
		return err
	}
	k.spOpen = true
	return nil
}

// copyErrorLine returns the 1-based line of COPY data an error was raised on, or 0.
func copyErrorLine(err error) int {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return 0
	}
	for l := range strings.SplitSeq(pe.Where, "\n") {
		if !strings.HasPrefix(l, "COPY ") {
			continue
		}
		i := strings.LastIndex(l, ", line ")
		if i < 0 {
			continue
		}
		rest := l[i+len(", line "):]
		j := 0
		for j < len(rest) && rest[j] >= '0' && rest[j] <= '9' {
			j++
		}
		if n, err := strconv.Atoi(rest[:j]); err == nil {
			return n
		}
	}
	return 0
}

// recordError describes why the server refused row i.
func (k *Sink) recordError(i int, err error) connector.RecordError {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return connector.RecordError{Index: i, Err: err}
	}
	col := pe.ColumnName
	if col == "" {
		// COPY errors name the column only in their context: `COPY t, line 3, column c: "..."`
		// (text), `COPY t, line 3, column c` (binary, which ends the context's line there).
		where := pe.Where + "\n"
		for _, c := range k.cols {
			if (strings.Contains(where, ", column "+c+":") || strings.Contains(where, ", column "+c+"\n")) && len(c) > len(col) {
				col = c
			}
		}
	}
	msg := pe.Message
	if pe.Detail != "" {
		msg += ": " + truncate(pe.Detail, 200)
	}
	if pe.ConstraintName != "" {
		msg += " (constraint " + pe.ConstraintName + ")"
	}
	return connector.RecordError{Index: i, Column: col, Err: wrapPg{errors.New(msg), pe}}
}

// Flush commits what was written, with pos in the checkpoint table (append, upsert).
func (k *Sink) Flush(ctx context.Context, pos connector.Position) error {
	if err := k.ready(); err != nil {
		return err
	}
	if k.mode == connector.ModeReplace {
		return nil
	}
	if pos != nil && k.run != "" {
		if err := k.storePosition(ctx, pos); err != nil {
			return k.p.wrap(ctx, err, k.target.String())
		}
	}
	k.inTx, k.spOpen = false, false
	if err := exec(ctx, k.conn, "COMMIT"); err != nil {
		return k.p.wrap(ctx, err, k.target.String())
	}
	if err := exec(ctx, k.conn, "BEGIN"); err != nil {
		return k.p.wrap(ctx, err, k.target.String())
	}
	k.inTx = true
	return nil
}

func (k *Sink) storePosition(ctx context.Context, pos connector.Position) error {
	if !k.ckptReady {
		if err := k.ckpt.Ensure(ctx, pgConn{k.conn}); err != nil {
			return err
		}
		k.ckptReady = true
	}
	return k.ckpt.Save(ctx, pgConn{k.conn}, k.run, pos)
}

// SavedPosition returns the position last flushed for the run, or nil.
func (k *Sink) SavedPosition(ctx context.Context) (connector.Position, error) {
	if err := k.ready(); err != nil {
		return nil, err
	}
	if k.mode == connector.ModeReplace || k.run == "" {
		return nil, nil
	}
	pos, err := k.ckpt.Load(ctx, pgConn{k.conn}, k.run)
	if err != nil {
		return nil, k.p.wrap(ctx, err, k.target.String())
	}
	return pos, nil
}

// Commit commits (append, upsert) or swaps the staging table in (replace), in one transaction.
func (k *Sink) Commit(ctx context.Context) error {
	if k.done {
		return nil
	}
	if err := k.ready(); err != nil {
		return err
	}
	if k.mode == connector.ModeReplace {
		if err := k.replace.Swap(ctx, k.swap); err != nil {
			return k.p.wrap(ctx, err, k.target.String())
		}
	}
	k.inTx, k.spOpen = false, false
	if err := exec(ctx, k.conn, "COMMIT"); err != nil {
		return k.p.wrap(ctx, err, k.target.String())
	}
	k.done = true
	return nil
}

// canSwapSQL says whether the target can be replaced by dropping it and renaming the staging
// table: only a plain table that nothing else refers to and that carries nothing LIKE does not
// copy (grants, owner, triggers, foreign keys, policies, publications, comments, inheritance,
// tablespace, persistence). Dependent views are the common case: DROP would fail, and DROP ...
// CASCADE would silently delete the user's views, so those targets are refilled in place.
const canSwapSQL = `SELECT c.relkind = 'r' AND NOT c.relispartition AND c.relacl IS NULL AND NOT c.relrowsecurity
	AND c.relpersistence = 'p' AND c.reltablespace = 0
	AND c.relowner = (SELECT oid FROM pg_catalog.pg_roles WHERE rolname = current_user)
	AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d JOIN pg_catalog.pg_rewrite r ON r.oid = d.objid
		WHERE d.classid = 'pg_catalog.pg_rewrite'::regclass AND d.refobjid = c.oid AND r.ev_class <> c.oid)
	AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_trigger WHERE tgrelid = c.oid AND NOT tgisinternal)
	AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_constraint WHERE (confrelid = c.oid OR conrelid = c.oid) AND contype = 'f')
	AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_policy WHERE polrelid = c.oid)
	AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_publication_rel WHERE prrelid = c.oid)
	AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_inherits WHERE inhrelid = c.oid OR inhparent = c.oid)
	AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_description WHERE objoid = c.oid
		AND classoid = 'pg_catalog.pg_class'::regclass AND objsubid = 0),
	EXISTS (SELECT 1 FROM pg_catalog.pg_constraint WHERE confrelid = c.oid AND contype = 'f')
	FROM pg_catalog.pg_class c WHERE c.oid = $1`

// swap makes the staging table the target, inside the sink's transaction (Commit commits).
// A plain target is dropped and the staging table renamed into its place (no second copy of
// the rows); any other target keeps its identity (views, grants, triggers, foreign keys) and is
// emptied and refilled from staging. Either way a run that fails before COMMIT leaves the old
// rows untouched, since everything happens in one transaction.
func (k *Sink) swap(ctx context.Context) error {
	info, err := lookupTable(ctx, k.conn, k.target)
	if err != nil {
		return err
	}
	rename := "ALTER TABLE " + k.staging.SQL() + " RENAME TO " + quoteIdent(k.target.Name)
	if info == nil {
		if err := exec(ctx, k.conn, rename); err != nil {
			return err
		}
		return k.renameOwned(ctx)
	}
	var plain, referenced bool
	if err := k.conn.QueryRow(ctx, canSwapSQL, info.OID).Scan(&plain, &referenced); err != nil {
		return err
	}
	if plain {
		if err := exec(ctx, k.conn, "SAVEPOINT datahub_swap"); err != nil {
			return err
		}
		err := exec(ctx, k.conn, "DROP TABLE "+k.target.SQL()+"; "+rename)
		if err == nil {
			return k.renameOwned(ctx)
		}
		// 2BP01: something we did not foresee depends on the target (e.g. a serial's sequence
		// that the staging table's default uses); refill in place instead.
		if pgErrCode(err) != "2BP01" {
			return err
		}
		if err := exec(ctx, k.conn, "ROLLBACK TO SAVEPOINT datahub_swap"); err != nil {
			return err
		}
	}
	var cols []string
	for _, c := range info.Columns {
		if !c.Generated {
			cols = append(cols, c.Name)
		}
	}
	names := quoteIdents(cols)
	// TRUNCATE refuses tables other tables' foreign keys point at; DELETE checks the references.
	clear := "TRUNCATE " + k.target.SQL()
	if referenced {
		clear = "DELETE FROM " + k.target.SQL()
	}
	return exec(ctx, k.conn, clear+"; INSERT INTO "+k.target.SQL()+" ("+names+") OVERRIDING SYSTEM VALUE SELECT "+
		names+" FROM "+k.staging.SQL()+"; DROP TABLE "+k.staging.SQL())
}

// renameOwned gives the swapped-in table's indexes (and their constraints) and identity
// sequences the names they would have had if created for the target, where those are free.
func (k *Sink) renameOwned(ctx context.Context) error {
	rows, err := k.conn.Query(ctx, `SELECT c.relname::text, c.relkind::text FROM pg_catalog.pg_class c
		WHERE c.oid IN (SELECT indexrelid FROM pg_catalog.pg_index WHERE indrelid = $1::regclass)
		   OR (c.relkind = 'S' AND c.oid IN (SELECT objid FROM pg_catalog.pg_depend
				WHERE refobjid = $1::regclass AND classid = 'pg_catalog.pg_class'::regclass AND deptype IN ('a', 'i')))`,
		k.target.SQL())
	if err != nil {
		return err
	}
	type rel struct{ name, kind string }
	var rels []rel
	for rows.Next() {
		var r rel
		if err := rows.Scan(&r.name, &r.kind); err != nil {
			rows.Close()
			return err
		}
		rels = append(rels, r)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	for _, r := range rels {
		if !strings.HasPrefix(r.name, k.staging.Name) {
			continue
		}
		newName := k.target.Name + r.name[len(k.staging.Name):]
		if len(newName) > dialect.MaxIdent {
			continue
		}
		nt := tableName{Schema: k.target.Schema, Name: newName}
		var taken bool
		if err := k.conn.QueryRow(ctx, "SELECT to_regclass($1) IS NOT NULL", nt.SQL()).Scan(&taken); err != nil {
			return err
		}
		if taken {
			continue
		}
		what := "INDEX"
		if r.kind == "S" {
			what = "SEQUENCE"
		}
		old := tableName{Schema: k.target.Schema, Name: r.name}
		if err := exec(ctx, k.conn, "ALTER "+what+" "+old.SQL()+" RENAME TO "+quoteIdent(newName)); err != nil {
			return err
		}
	}
	return nil
}

// AcceptsRaw takes PostgreSQL binary COPY streams whose columns have the binary kinds of the
// target's (see Source.RawFormat); a bare "postgres-binary" is taken on trust.
func (k *Sink) AcceptsRaw(format string) bool {
	if k.conn == nil {
		return false
	}
	if format == RawFormat {
		return true
	}
	sig, ok := strings.CutPrefix(format, RawFormat+":")
	return ok && !slices.Contains(k.binKinds, "") && sig == strings.Join(k.binKinds, ",")
}

// WriteRaw copies a binary COPY stream into the target (append), the staging table (replace)
// or the temporary table and then the target (upsert), under a savepoint: on error nothing of
// it stays written.
func (k *Sink) WriteRaw(ctx context.Context, format string, r io.Reader) (int64, error) {
	if err := k.ready(); err != nil {
		return 0, err
	}
	if !k.AcceptsRaw(format) {
		return 0, connector.Errorf(connector.CodeUnsupported, k.ep.Redacted(), "",
			fmt.Errorf("the PostgreSQL sink cannot take %q streams", format))
	}
	if err := k.savepoint(ctx); err != nil {
		return 0, k.p.wrap(ctx, err, k.target.String())
	}
	fr := &fullReader{r: r}
	tag, err := k.conn.PgConn().CopyFrom(ctx, fr, k.copyBinary)
	if err == nil && k.upsertSQL != "" {
		err = exec(ctx, k.conn, k.upsertSQL)
	}
	if err != nil {
		if !k.conn.IsClosed() && ctx.Err() == nil {
			_ = exec(ctx, k.conn, "ROLLBACK TO SAVEPOINT "+writeSavepoint)
		}
		if fr.err != nil {
			return 0, fr.err
		}
		if c := pgErrCode(err); c == "08P01" || c == "42804" {
			// Binary data that does not fit the column ("insufficient data left in message",
			// "wrong element type") is the data's fault: the engine retries the text path.
			return 0, connector.Errorf(connector.CodeData, k.ep.Redacted(), "", unwrapWrapped(k.p.wrap(ctx, err, k.target.String())))
		}
		return 0, k.p.wrap(ctx, err, k.target.String())
	}
	k.sent.Add(fr.n)
	return tag.RowsAffected(), nil
}

// fullReader fills each buffer CopyFrom hands it, so every CopyData message is full-sized
// however small the writes feeding r are; it remembers r's own error.
type fullReader struct {
	r   io.Reader
	n   int64
	err error
}

func (f *fullReader) Read(p []byte) (int, error) {
	n, err := io.ReadFull(f.r, p)
	f.n += int64(n)
	if errors.Is(err, io.ErrUnexpectedEOF) {
		err = io.EOF
	}
	if err != nil && !errors.Is(err, io.EOF) {
		f.err = err
	}
	return n, err
}

// Close discards uncommitted work and closes the connection; calling it twice is harmless.
func (k *Sink) Close(ctx context.Context) error {
	if k.closed {
		return nil
	}
	k.closed = true
	if k.conn == nil {
		return nil
	}
	if k.inTx && ctx.Err() == nil && !k.conn.IsClosed() {
		_ = exec(ctx, k.conn, "ROLLBACK")
	}
	k.inTx = false
	_ = k.conn.Close(ctx)
	return nil
}

// rowReader encodes rows as text COPY data as CopyFrom reads it, so encoding overlaps with
// the server's work on what was already sent, and one buffer serves every batch.
type rowReader struct {
	rows  [][]any
	idx   []int // rows to encode; nil means all
	next  int
	types []connector.Type
	buf   []byte
	off   int
	sent  int64 // bytes handed out since reset
}

func (r *rowReader) reset(rows [][]any, idx []int) {
	r.rows, r.idx, r.next, r.buf, r.off, r.sent = rows, idx, 0, r.buf[:0], 0, 0
}

func (r *rowReader) Read(p []byte) (int, error) {
	if r.off == len(r.buf) {
		r.buf, r.off = r.buf[:0], 0
		n := len(r.rows)
		if r.idx != nil {
			n = len(r.idx)
		}
		for r.next < n && len(r.buf) < len(p) {
			row := r.rows[r.next]
			if r.idx != nil {
				row = r.rows[r.idx[r.next]]
			}
			r.buf = appendRow(r.buf, row, r.types)
			r.next++
		}
		if len(r.buf) == 0 {
			return 0, io.EOF
		}
	}
	n := copy(p, r.buf[r.off:])
	r.off += n
	r.sent += int64(n)
	return n, nil
}

// appendRow appends one row as a line of text COPY data.
func appendRow(b []byte, row []any, types []connector.Type) []byte {
	for i, v := range row {
		if i > 0 {
			b = append(b, '\t')
		}
		b = appendValue(b, v, types[i])
	}
	return append(b, '\n')
}

// createdConcurrently reports whether a CREATE TABLE failed because another transaction
// created the same table first (duplicate_table, duplicate_object for its row type, or the
// race on the catalog's unique indexes).
func createdConcurrently(err error) bool {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return false
	}
	return pe.Code == "42P07" || pe.Code == "42710" || (pe.Code == "23505" && (pe.ConstraintName == "pg_type_typname_nsp_index" || pe.ConstraintName == "pg_class_relname_nsp_index"))
}

// RefusesNUL is true: PostgreSQL text cannot hold a NUL byte (it fails the whole COPY).
func (k *Sink) RefusesNUL() bool { return true }

var _ connector.NULRefuser = (*Sink)(nil)
