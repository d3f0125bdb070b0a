package mysql

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/datahub-oss/datahub/connector"
	"github.com/datahub-oss/datahub/internal/connectors/sqlkit"
)

const defaultBatchSize = 10000

// Source streams a table (ordered by its primary key, resumable) or a query (not resumable)
// with one SELECT on a dedicated connection; the driver streams the rows, nothing is buffered
// beyond one batch.
type Source struct {
	c         *config
	batchSize int

	db     *sql.DB
	conn   *sql.Conn
	info   serverInfo
	rows   *sql.Rows
	cancel context.CancelFunc // ends the SELECT: Close, or a Read whose context was cancelled

	schema  connector.Schema
	cols    []tcol
	keyIdx  []int    // positions of the key columns in cols; nil when not resumable
	lastKey [][]byte // the last row's key values, copied: raw buffers die with the next Next
	raw     []sql.RawBytes
	dest    []any
	done    bool
	read    int64
}

var _ connector.Source = (*Source)(nil)

// Open connects and starts the SELECT after position from.
func (s *Source) Open(ctx context.Context, from connector.Position) error {
	if s.conn != nil {
		return connector.Errorf(connector.CodeInternal, s.c.redacted, "", errors.New("source opened twice"))
	}
	if writesFile(s.c.query) {
		return connector.Errorf(connector.CodeUsage, s.c.redacted, "remove the INTO clause: the rows go to the destination",
			errors.New("a source query must only read: SELECT ... INTO OUTFILE or DUMPFILE writes a file on the database server"))
	}
	db, conn, info, err := s.c.connect(ctx)
	if err != nil {
		return err
	}
	s.db, s.conn, s.info = db, conn, info
	// A source only reads. The session's transactions default to READ ONLY (so a DDL
	// statement's implicit commit cannot leave a writable transaction behind), and the SELECT
	// runs in an explicit READ ONLY transaction: a query that writes fails with error 1792
	// and changes nothing. Multi-statements are off, so a query cannot switch this back.
	for _, q := range []string{"SET SESSION TRANSACTION READ ONLY", "START TRANSACTION READ ONLY"} {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			_ = s.Close(ctx)
			return s.c.wrap(ctx, err, "start a read-only transaction")
		}
	}
	if err := s.open(ctx, from); err != nil {
		_ = s.Close(ctx)
		return err
	}
	return nil
}

func (s *Source) open(ctx context.Context, from connector.Position) error {
	// The SELECT lives until Close, beyond Open's context: Read cancels it through its own.
	qctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.cancel = cancel
	stop := context.AfterFunc(ctx, cancel) // ... and Open's while the server prepares the result
	defer stop()
	if s.c.query != "" {
		if from != nil {
			return connector.Errorf(connector.CodeUnsupported, s.c.redacted, "read the query from the start",
				errors.New("a query source cannot resume from a position"))
		}
		rows, err := s.conn.QueryContext(qctx, s.c.query)
		if err != nil {
			return s.wrap(ctx, err, "run the query")
		}
		s.rows = rows
		cts, err := rows.ColumnTypes()
		if err != nil {
			return s.c.wrap(ctx, err, "run the query")
		}
		for _, ct := range cts {
			t := mapResultColumn(ct)
			s.cols = append(s.cols, t)
			s.schema.Columns = append(s.schema.Columns, t.col)
		}
		s.prepareScan()
		return nil
	}

	t := s.c.table
	desc, found, err := describe(ctx, s.conn, s.info, t)
	if err != nil {
		return s.c.wrap(ctx, err, "describe table "+t.String())
	}
	if !found {
		return s.c.notFound(t)
	}
	s.cols = desc.cols
	for _, c := range desc.cols {
		s.schema.Columns = append(s.schema.Columns, c.col)
	}
	if len(desc.pk) > 0 {
		s.schema.Key = desc.pk
		ok := true
		tb := desc.catalog(t)
		for _, k := range desc.pk {
			i := tb.Find(k)
			if i < 0 || !keysetable(desc.cols[i].kind) {
				ok = false
				break
			}
			s.keyIdx = append(s.keyIdx, i)
		}
		if !ok {
			s.keyIdx = nil
		}
	}

	var q strings.Builder
	q.WriteString("SELECT ")
	for i, c := range s.cols {
		if i > 0 {
			q.WriteString(", ")
		}
		if c.kind == kSpatial {
			q.WriteString("ST_AsText(" + quoteIdent(c.col.Name) + ") AS " + quoteIdent(c.col.Name))
		} else {
			q.WriteString(quoteIdent(c.col.Name))
		}
	}
	q.WriteString(" FROM ")
	q.WriteString(t.String())
	var args []any
	var after []string // the placeholders of the position's key values
	if from != nil {
		if s.keyIdx == nil {
			return connector.Errorf(connector.CodeUnsupported, s.c.redacted, "read the table from the start",
				fmt.Errorf("table %s has no primary key to resume from", t))
		}
		texts, err := s.decodePos(from)
		if err != nil {
			return connector.Errorf(connector.CodeUsage, s.c.redacted, "the position belongs to another table or run",
				fmt.Errorf("position %q does not match the primary key of %s: %w", truncate(string(from), 80), t, err))
		}
		for i, ci := range s.keyIdx {
			c := &s.cols[ci]
			arg, ph, err := keyParam(c, texts[i])
			if err != nil {
				return connector.Errorf(connector.CodeUsage, s.c.redacted, "the position belongs to another table or run",
					fmt.Errorf("bad position for key %s: %w", c.col.Name, err))
			}
			after = append(after, ph)
			args = append(args, arg)
		}
	}
	if s.keyIdx != nil {
		q.WriteString(dialect.KeysetSQL(s.keyNames(), after))
	}
	rows, err := s.conn.QueryContext(qctx, q.String(), args...)
	if err != nil {
		return s.c.wrap(ctx, err, "read table "+t.String())
	}
	s.rows = rows
	s.prepareScan()
	return nil
}

func (s *Source) prepareScan() {
	s.raw = make([]sql.RawBytes, len(s.cols))
	s.dest = make([]any, len(s.cols))
	for i := range s.raw {
		s.dest[i] = &s.raw[i]
	}
	s.lastKey = make([][]byte, len(s.keyIdx))
}

// Schema describes the table's columns, or the query's result columns.
func (s *Source) Schema(context.Context) (connector.Schema, error) {
	if s.rows == nil {
		return connector.Schema{}, connector.Errorf(connector.CodeInternal, s.c.redacted, "", fmt.Errorf("source %w", errNotOpen))
	}
	return s.schema, nil
}

// Read returns the next batch of rows.
func (s *Source) Read(ctx context.Context) (*connector.Batch, connector.AckFunc, error) {
	if s.rows == nil {
		return nil, nil, connector.Errorf(connector.CodeInternal, s.c.redacted, "", fmt.Errorf("source %w", errNotOpen))
	}
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	if s.done {
		return nil, nil, connector.ErrEndOfInput
	}
	stop := context.AfterFunc(ctx, s.cancel)
	defer stop()
	size := s.batchSize
	if size <= 0 {
		size = defaultBatchSize
	}
	n := len(s.cols)
	b := &connector.Batch{Rows: make([][]any, 0, size)}
	vals := make([]any, size*n)
	for len(b.Rows) < size {
		if !s.rows.Next() {
			break
		}
		if err := s.rows.Scan(s.dest...); err != nil {
			return nil, nil, s.readErr(ctx, err)
		}
		i := len(b.Rows)
		row := vals[i*n : (i+1)*n : (i+1)*n]
		for j := range s.cols {
			r := s.raw[j]
			if r == nil {
				continue
			}
			b.Bytes += int64(len(r)) + 1
			v, err := decode(&s.cols[j], r)
			if err != nil {
				return nil, nil, connector.Errorf(connector.CodeData, s.c.redacted, "",
					fmt.Errorf("%s row %d column %s: %w", s.what(), s.read+int64(i)+1, s.cols[j].col.Name, err))
			}
			row[j] = v
		}
		for k, ci := range s.keyIdx {
			s.lastKey[k] = append(s.lastKey[k][:0], s.raw[ci]...)
		}
		b.Rows = append(b.Rows, row)
		if i&1023 == 1023 && ctx.Err() != nil {
			return nil, nil, ctx.Err()
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	if len(b.Rows) < size {
		if err := s.rows.Err(); err != nil {
			return nil, nil, s.readErr(ctx, err)
		}
		s.done = true
		if len(b.Rows) == 0 {
			return nil, nil, connector.ErrEndOfInput
		}
	}
	s.read += int64(len(b.Rows))
	if s.keyIdx != nil {
		pos, err := s.position()
		if err != nil {
			return nil, nil, err
		}
		b.Pos = pos
	}
	return b, connector.NopAck, nil
}

// keyNames are the key columns, as positions name them.
func (s *Source) keyNames() []string {
	names := make([]string, len(s.keyIdx))
	for i, ci := range s.keyIdx {
		names[i] = s.cols[ci].col.Name
	}
	return names
}

// position is the keyset position of the last row read: its key values as the server's text,
// binary ones as bytes, bits as their unsigned integer.
func (s *Source) position() (connector.Position, error) {
	after := make([]any, len(s.keyIdx))
	for i, ci := range s.keyIdx {
		r := s.lastKey[i]
		switch s.cols[ci].kind {
		case kBytes:
			after[i] = r // encoded below, before the buffer is reused
		case kBit, kBitBool:
			var u uint64
			for _, c := range r {
				u = u<<8 | uint64(c)
			}
			after[i] = strconv.FormatUint(u, 10)
		default:
			after[i] = string(r)
		}
	}
	pos, err := sqlkit.Keyset{Key: s.keyNames(), After: after}.Encode()
	if err != nil {
		return nil, connector.Errorf(connector.CodeInternal, s.c.redacted, "", err)
	}
	return pos, nil
}

// decodePos reads a position of this table's key (older ones too: a JSON array of the key
// texts) into the text of each key value.
func (s *Source) decodePos(from connector.Position) ([]string, error) {
	binary := make([]bool, len(s.keyIdx))
	for i, ci := range s.keyIdx {
		binary[i] = s.cols[ci].kind == kBytes
	}
	k, err := sqlkit.DecodeKeyset(from, sqlkit.LegacyMySQL(binary))
	if err == nil {
		err = k.Fits(s.keyNames(), true)
	}
	if err != nil {
		return nil, err
	}
	texts := make([]string, len(k.After))
	for i, v := range k.After {
		switch x := v.(type) {
		case string:
			texts[i] = x
		case []byte:
			texts[i] = string(x)
		default:
			return nil, fmt.Errorf("%w: key %s holds a %T", sqlkit.ErrPosition, s.cols[s.keyIdx[i]].col.Name, v)
		}
	}
	return texts, nil
}

func (s *Source) what() string {
	if s.c.query != "" {
		return "query"
	}
	return "table " + s.c.table.String()
}

func (s *Source) readErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return s.wrap(ctx, err, "read "+s.what())
}

// erReadOnlyTx is the server's refusal of a write in a READ ONLY transaction.
const erReadOnlyTx = 1792

// wrap classes a failure of the source's statements; a write refused by the READ ONLY
// transaction says that a source query must only read.
func (s *Source) wrap(ctx context.Context, err error, what string) error {
	if errNumber(err) == erReadOnlyTx && (ctx == nil || ctx.Err() == nil) {
		return connector.Errorf(connector.CodeUsage, s.c.redacted, "write a query that only reads (SELECT ...); to change data, use a destination",
			fmt.Errorf("%s: a source query must only read: %w", what, err))
	}
	return s.c.wrap(ctx, err, what)
}

// Close ends the SELECT without draining it and releases the connection.
func (s *Source) Close(context.Context) error {
	if s.cancel != nil {
		if !s.done {
			s.cancel() // the driver then drops the connection instead of reading the rest
		}
	}
	if s.rows != nil {
		_ = s.rows.Close()
		s.rows = nil
	}
	if s.cancel != nil {
		s.cancel()
		s.cancel = nil
	}
	if s.conn != nil {
		_ = s.conn.Close()
		s.conn = nil
	}
	if s.db != nil {
		_ = s.db.Close()
		s.db = nil
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
