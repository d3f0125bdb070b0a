package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"

	sqlite3 "modernc.org/sqlite/lib"

	"github.com/datahub-oss/datahub/connector"
	"github.com/datahub-oss/datahub/internal/connectors/sqlkit"
)

// defaultBatchSize is the rows per batch when the endpoint does not say.
const defaultBatchSize = 10000

// Source reads a table or a query as one streaming statement.
//
// A table is read in key order and is resumable: a position holds the last key read and
// the next run reads WHERE (key) > (last) ORDER BY key. The key is the primary key when it
// cannot hold NULLs (WITHOUT ROWID tables, INTEGER PRIMARY KEY, NOT NULL key columns);
// otherwise the rowid, which SQLite keeps stable for a row unless the table has no INTEGER
// PRIMARY KEY and is VACUUMed between two runs. Views and virtual tables have no such order:
// they are read as they come and not resumable, like queries.
//
// SQLite does not enforce declared types, so a stored value may not read as its column's
// type (the text 'abc' in an INTEGER column); such a row is returned as a Reject naming the
// column, and reading goes on.
type Source struct {
	ep connector.Endpoint
	p  endpoint

	schema   connector.Schema
	decoders []decoder
	what     string // "table t" or "query", for messages

	qctx    context.Context // the statement's context: cancelled when Open's or Read's is
	qcancel context.CancelFunc
	rows    *sql.Rows
	scan    []any // the raw values of the current row
	ptrs    []any
	keyAt   []int    // indexes in scan of the values a position holds; nil: no positions
	keyName []string // their names, stored in positions
	lastKey []any

	pending   *connector.Batch // a query's first batch, read ahead to infer its types
	batchSize int
	record    int64
	opened    bool
	done      bool
	closed    bool
}

var _ connector.Source = (*Source)(nil)

// Open opens the file and starts the statement after position from.
func (s *Source) Open(ctx context.Context, from connector.Position) error {
	if s.opened {
		return connector.Errorf(connector.CodeInternal, s.ep.Redacted(), "", errors.New("source opened twice"))
	}
	s.p.ep = s.ep
	if err := s.p.parse(); err != nil {
		return err
	}
	if s.p.table == "" && s.p.query == "" {
		return s.p.usage("add ?table=NAME or ?query=SELECT...", errors.New("the URL names no table and no query"))
	}
	s.batchSize = s.ep.BatchSize
	if s.batchSize <= 0 {
		s.batchSize = defaultBatchSize
	}
	if err := s.p.open(ctx, false); err != nil {
		return err
	}
	s.opened = true
	s.qctx, s.qcancel = context.WithCancel(context.WithoutCancel(ctx))
	stop := context.AfterFunc(ctx, s.qcancel)
	defer stop()
	var err error
	if s.p.query != "" {
		err = s.openQuery(ctx, from)
	} else {
		err = s.openTable(ctx, from)
	}
	if err != nil {
		_ = s.Close(ctx)
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	return err
}

func (s *Source) openTable(ctx context.Context, from connector.Position) error {
	db := s.p.db
	obj, ok, err := lookup(ctx, db, s.p.table)
	if err != nil {
		return s.p.fail(ctx, err, "look up table "+s.p.table)
	}
	if !ok {
		return s.p.notFoundTable(ctx, db)
	}
	s.what = "table " + obj.name
	cols, err := tableColumns(ctx, db, obj.name)
	if err != nil {
		return s.p.fail(ctx, err, "read the columns of "+s.what)
	}
	var exprs []string
	var pk []columnInfo
	names := map[string]bool{}
	for _, c := range cols {
		if c.hidden == 1 {
			continue
		}
		names[strings.ToLower(c.name)] = true
		col, typed := logicalType(c.decl)
		if !typed {
			t, err := s.sampleType(ctx, obj.name, c.name)
			if err != nil {
				return err
			}
			col.Type = t
		}
		col.Name = c.name
		col.Nullable = !c.notNull
		s.schema.Columns = append(s.schema.Columns, col)
		s.decoders = append(s.decoders, decoderFor(col.Type))
		e := quoteIdent(c.name)
		switch strings.ToUpper(strings.TrimSpace(c.decl)) {
		case "DATE", "DATETIME", "TIMESTAMP":
			// The driver parses text of these declared types into time.Time with time.Parse;
			// unary + (a no-op on any value) hides the declared type, and our parser is faster.
			e = "+" + e
		}
		exprs = append(exprs, e+" AS "+quoteIdent(c.name))
		if c.pk > 0 {
			pk = append(pk, c)
		}
	}
	if len(s.schema.Columns) == 0 {
		return connector.Errorf(connector.CodeSchema, s.p.red, "", fmt.Errorf("%s has no columns", s.what))
	}
	// PRAGMA table_xinfo numbers key columns by their place in the key.
	for i := 1; i < len(pk); i++ {
		for j := i; j > 0 && pk[j].pk < pk[j-1].pk; j-- {
			pk[j], pk[j-1] = pk[j-1], pk[j]
		}
	}
	for _, c := range pk {
		s.schema.Key = append(s.schema.Key, c.name)
	}

	// The keyset: see the type's comment.
	allNotNull := len(pk) > 0
	for _, c := range pk {
		allNotNull = allNotNull && c.notNull
	}
	switch {
	case obj.kind != "table":
	case obj.withoutRowid,
		len(pk) == 1 && strings.EqualFold(strings.TrimSpace(pk[0].decl), "INTEGER"),
		allNotNull:
		for _, c := range pk {
			s.keyAt = append(s.keyAt, s.schema.Index(c.name))
			s.keyName = append(s.keyName, c.name)
		}
	default:
		for _, alias := range []string{"rowid", "_rowid_", "oid"} {
			if !names[alias] {
				s.keyAt = []int{len(exprs)}
				s.keyName = []string{alias}
				exprs = append(exprs, alias)
				break
			}
		}
	}

	var b strings.Builder
	b.WriteString("SELECT ")
	b.WriteString(strings.Join(exprs, ", "))
	b.WriteString(" FROM ")
	b.WriteString(quoteIdent(obj.name))
	var args []any
	if from != nil {
		if s.keyAt == nil {
			return connector.Errorf(connector.CodeUnsupported, s.p.red, "read it from the start",
				fmt.Errorf("%s has no key to resume from", s.what))
		}
		after, err := s.decodePos(from)
		if err != nil {
			return err
		}
		args = after
	}
	if s.keyAt != nil {
		b.WriteString(sqlkit.SQLite.KeysetSQL(s.keyName, slices.Repeat([]string{"?"}, len(args))))
	}
	s.scan = make([]any, len(exprs))
	s.ptrs = make([]any, len(exprs))
	for i := range s.scan {
		s.ptrs[i] = &s.scan[i]
	}
	rows, err := db.QueryContext(s.qctx, b.String(), args...)
	if err != nil {
		return s.p.fail(ctx, err, "read "+s.what)
	}
	s.rows = rows
	return nil
}

// sampleType guesses the type of a column without a declared type from the storage classes
// of its first non-NULL values.
func (s *Source) sampleType(ctx context.Context, table, column string) (connector.Type, error) {
	rows, err := s.p.db.QueryContext(ctx, fmt.Sprintf(
		`SELECT typeof(v), count(*) FROM (SELECT %s AS v FROM %s WHERE %[1]s IS NOT NULL LIMIT 1000) GROUP BY 1`,
		quoteIdent(column), quoteIdent(table)))
	if err != nil {
		return 0, s.p.fail(ctx, err, "sample column "+column+" of "+s.what)
	}
	defer func() { _ = rows.Close() }()
	var counts [4]int
	for rows.Next() {
		var kind string
		var n int
		if err := rows.Scan(&kind, &n); err != nil {
			return 0, s.p.fail(ctx, err, "sample column "+column)
		}
		switch kind {
		case "integer":
			counts[0] = n
		case "real":
			counts[1] = n
		case "text":
			counts[2] = n
		case "blob":
			counts[3] = n
		}
	}
	if err := rows.Err(); err != nil {
		return 0, s.p.fail(ctx, err, "sample column "+column)
	}
	return storageType(counts[0], counts[1], counts[2], counts[3]), nil
}

func (s *Source) openQuery(ctx context.Context, from connector.Position) error {
	s.what = "query"
	if from != nil {
		return connector.Errorf(connector.CodeUnsupported, s.p.red, "read it from the start",
			errors.New("a query source cannot resume from a position"))
	}
	q := strings.TrimSpace(s.p.query)
	for strings.HasSuffix(q, ";") {
		q = strings.TrimSpace(strings.TrimSuffix(q, ";"))
	}
	rows, err := s.p.db.QueryContext(s.qctx, q)
	if err != nil {
		if rc := sqliteCode(err) & 0xff; rc == sqlite3.SQLITE_READONLY || rc == sqlite3.SQLITE_AUTH {
			return s.p.usage("write a query that only reads (SELECT ...); to change data, use a destination",
				fmt.Errorf("run query: a source query must only read: %s", sqliteMessage(err)))
		}
		return s.p.fail(ctx, err, "run query")
	}
	s.rows = rows
	cts, err := rows.ColumnTypes()
	if err != nil {
		return s.p.fail(ctx, err, "run query")
	}
	seen := map[string]bool{}
	var untyped []int
	for i, ct := range cts {
		col, typed := logicalType(ct.DatabaseTypeName())
		col.Name = ct.Name()
		col.Nullable = true
		if seen[strings.ToLower(col.Name)] {
			return s.p.usage("give the columns distinct names with AS", fmt.Errorf("the query returns two columns named %q", col.Name))
		}
		seen[strings.ToLower(col.Name)] = true
		if !typed {
			untyped = append(untyped, i)
		}
		s.schema.Columns = append(s.schema.Columns, col)
	}
	if len(cts) == 0 {
		return s.p.usage("a query source runs SELECT statements", errors.New("the query returns no columns"))
	}
	s.scan = make([]any, len(cts))
	s.ptrs = make([]any, len(cts))
	for i := range s.scan {
		s.ptrs[i] = &s.scan[i]
	}
	if len(untyped) == 0 {
		s.setDecoders()
		return nil
	}
	// Expressions have no declared type: read the first batch ahead and type each such
	// column by the storage classes of its values there.
	var raws [][]any
	for len(raws) < s.batchSize {
		ok, err := s.next(ctx)
		if err != nil {
			return err
		}
		if !ok {
			break
		}
		raws = append(raws, append([]any(nil), s.scan...))
	}
	for _, i := range untyped {
		var ints, reals, texts, blobs int
		for _, r := range raws {
			switch r[i].(type) {
			case int64:
				ints++
			case float64:
				reals++
			case string:
				texts++
			case []byte:
				blobs++
			}
		}
		s.schema.Columns[i].Type = storageType(ints, reals, texts, blobs)
	}
	s.setDecoders()
	b := &connector.Batch{Rows: make([][]any, 0, len(raws))}
	for _, r := range raws {
		s.record++
		s.decodeRow(r, b)
	}
	s.pending = b
	return nil
}

func (s *Source) setDecoders() {
	for _, c := range s.schema.Columns {
		s.decoders = append(s.decoders, decoderFor(c.Type))
	}
}

// next scans the next row into s.scan; false at the end.
func (s *Source) next(ctx context.Context) (bool, error) {
	if s.done {
		return false, nil
	}
	if !s.rows.Next() {
		err := s.rows.Err()
		_ = s.rows.Close()
		s.done = true
		if err != nil {
			if ctx.Err() != nil {
				return false, ctx.Err()
			}
			return false, s.p.fail(ctx, err, "read "+s.what)
		}
		return false, nil
	}
	if err := s.rows.Scan(s.ptrs...); err != nil {
		return false, s.p.fail(ctx, err, "read "+s.what)
	}
	if s.keyAt != nil {
		s.lastKey = s.lastKey[:0]
		for _, k := range s.keyAt {
			s.lastKey = append(s.lastKey, s.scan[k])
		}
	}
	return true, nil
}

// decodeRow converts one row of raw values and adds it to b, as a row or as a reject.
func (s *Source) decodeRow(raw []any, b *connector.Batch) {
	row := make([]any, len(s.decoders))
	var bad *connector.Reject
	for i, dec := range s.decoders {
		b.Bytes += valueSize(raw[i])
		v, err := dec(raw[i])
		if err != nil && bad == nil {
			bad = &connector.Reject{Record: s.record, Column: s.schema.Columns[i].Name, Value: storedText(raw[i]), Reason: err.Error()}
		}
		row[i] = v
	}
	if bad == nil {
		b.Rows = append(b.Rows, row)
		return
	}
	bad.Data = make(map[string]any, len(row))
	for i, c := range s.schema.Columns {
		if row[i] != nil {
			bad.Data[c.Name] = row[i]
		} else if raw[i] != nil {
			bad.Data[c.Name] = storedText(raw[i])
		}
	}
	b.Rejects = append(b.Rejects, *bad)
}

// Schema describes the rows. Valid after Open.
func (s *Source) Schema(context.Context) (connector.Schema, error) {
	if !s.opened || s.closed {
		return connector.Schema{}, connector.Errorf(connector.CodeInternal, s.ep.Redacted(), "", errors.New("source not open"))
	}
	return s.schema, nil
}

// Read returns the next batch of about Endpoint.BatchSize rows.
func (s *Source) Read(ctx context.Context) (*connector.Batch, connector.AckFunc, error) {
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	if !s.opened || s.closed {
		return nil, nil, connector.Errorf(connector.CodeInternal, s.ep.Redacted(), "", errors.New("source not open"))
	}
	if b := s.pending; b != nil {
		s.pending = nil
		if len(b.Rows) > 0 || len(b.Rejects) > 0 {
			return b, connector.NopAck, nil
		}
	}
	stop := context.AfterFunc(ctx, s.qcancel)
	defer stop()
	b := &connector.Batch{Rows: make([][]any, 0, min(s.batchSize, 1024))}
	for n := 0; n < s.batchSize; n++ {
		if n&255 == 255 {
			if err := ctx.Err(); err != nil {
				return nil, nil, err
			}
		}
		ok, err := s.next(ctx)
		if err != nil {
			return nil, nil, err
		}
		if !ok {
			break
		}
		s.record++
		s.decodeRow(s.scan, b)
	}
	if len(b.Rows) == 0 && len(b.Rejects) == 0 {
		return nil, nil, connector.ErrEndOfInput
	}
	if s.keyAt != nil {
		pos, err := s.encodePos()
		if err != nil {
			return nil, nil, err
		}
		b.Pos = pos
	}
	return b, connector.NopAck, nil
}

// Close ends the statement and closes the file; twice is harmless.
func (s *Source) Close(context.Context) error {
	if s.closed {
		return nil
	}
	s.closed = true
	if s.rows != nil {
		_ = s.rows.Close()
	}
	if s.qcancel != nil {
		s.qcancel()
	}
	if s.p.db != nil {
		if err := s.p.db.Close(); err != nil {
			return connector.Errorf(connector.CodeInternal, s.p.red, "", fmt.Errorf("close %s: %w", s.p.path, err))
		}
	}
	return nil
}

// encodePos is the position after the last row read. The key values keep their storage
// class (the kit's keyset values are typed), since SQLite compares 5 and '5' differently.
func (s *Source) encodePos() (connector.Position, error) {
	pos, err := sqlkit.Keyset{Key: s.keyName, After: s.lastKey}.Encode()
	if err != nil {
		return nil, connector.Errorf(connector.CodeInternal, s.p.red, "", fmt.Errorf("%s: %w", s.what, err))
	}
	return pos, nil
}

func (s *Source) decodePos(from connector.Position) ([]any, error) {
	k, err := sqlkit.DecodeKeyset(from, sqlkit.LegacySQLite)
	if err == nil {
		err = k.Fits(s.keyName, true)
	}
	if err != nil {
		return nil, connector.Errorf(connector.CodeUsage, s.p.red, "start without a position, or resume with one taken from this table",
			fmt.Errorf("position %.80q does not fit %s: %w", string(from), s.what, err))
	}
	return k.After, nil
}
