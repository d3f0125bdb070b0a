package postgres

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/datahub-oss/datahub/connector"
	"github.com/datahub-oss/datahub/internal/connectors/sqlkit"
)

const (
	defaultBatchSize = 10000
	streamBufferSize = 1 << 20
)

// Source reads a table (resumable when it has a primary key) or a query with COPY ... TO STDOUT.
type Source struct {
	ep     connector.Endpoint
	p      endpoint
	conn   *pgx.Conn
	info   *tableInfo // nil for a query
	cols   []pgColumn
	types  []connector.Type
	schema connector.Schema
	keyIdx []int    // positions of the key columns; nil when the source cannot resume
	after  []string // key values (text) to resume after; nil from the start

	st      *stream
	keyText [][]byte // key fields of the last row read
	record  int64
	eof     bool
	closed  bool
}

var (
	_ connector.Source    = (*Source)(nil)
	_ connector.RawSource = (*Source)(nil)
)

// Open connects, reads the table's or query's columns and checks the position.
func (s *Source) Open(ctx context.Context, from connector.Position) (err error) {
	if s.conn != nil {
		return connector.Errorf(connector.CodeInternal, s.ep.Redacted(), "", errors.New("source opened twice"))
	}
	s.p.ep = s.ep
	if err := s.p.parse(); err != nil {
		return err
	}
	red := s.ep.Redacted()
	if (s.p.table == nil) == (s.p.query == "") {
		return connector.Errorf(connector.CodeUsage, red, "add ?table=schema.name or ?query=SELECT...",
			errors.New("a PostgreSQL source needs exactly one of the table and query options"))
	}
	// A source only reads: every transaction of the session defaults to read only, and the
	// source's statements (schema probes, the COPY of a table or query, binary COPY) all run
	// in one explicit READ ONLY transaction on this one connection, so `DELETE ... RETURNING`
	// or a data-modifying WITH fails instead of changing data. The user's query is prepared
	// alone first (describeQuery), which refuses several statements in one, so it cannot
	// COMMIT its way out of the transaction inside COPY's simple-protocol query.
	s.p.cfg.RuntimeParams["default_transaction_read_only"] = "on"
	conn, err := s.p.connect(ctx)
	if err != nil {
		return err
	}
	s.conn = conn
	defer func() {
		if err != nil {
			_ = conn.Close(ctx)
			s.conn = nil
		}
	}()
	if _, err := conn.Exec(ctx, "BEGIN TRANSACTION READ ONLY"); err != nil {
		return s.wrap(ctx, err)
	}
	if s.p.table != nil {
		info, err := lookupTable(ctx, conn, *s.p.table)
		if err != nil {
			return s.wrap(ctx, err)
		}
		if info == nil {
			return connector.Errorf(connector.CodeNotFound, red, "check the table name (table=schema.name)",
				fmt.Errorf("table %s does not exist in database %q on %s", s.p.table, s.p.databaseName(), s.p.hostPort()))
		}
		s.info, s.cols = info, info.Columns
		s.schema = info.schema()
		for _, k := range info.Key {
			s.keyIdx = append(s.keyIdx, slices.IndexFunc(s.cols, func(c pgColumn) bool { return c.Name == k }))
		}
	} else {
		s.p.query = strings.TrimRight(s.p.query, "; \t\r\n")
		cols, err := describeQuery(ctx, conn, s.p.query)
		if err != nil {
			return s.wrap(ctx, err)
		}
		s.cols = cols
		for _, c := range cols {
			lc := c.logical()
			lc.Nullable = true // a query's result says nothing about NULLs
			s.schema.Columns = append(s.schema.Columns, lc)
		}
	}
	if len(s.cols) == 0 {
		return connector.Errorf(connector.CodeSchema, red, "", fmt.Errorf("%s has no columns", s.what()))
	}
	for _, c := range s.schema.Columns {
		s.types = append(s.types, c.Type)
	}
	if from != nil {
		if s.keyIdx == nil {
			return connector.Errorf(connector.CodeUsage, red, "run again from the start",
				fmt.Errorf("%s cannot resume from a position: only tables with a primary key can", s.what()))
		}
		after, err := decodePosition(from, s.info.Key)
		if err != nil {
			return connector.Errorf(connector.CodeUsage, red, "run again from the start",
				fmt.Errorf("the saved position does not fit %s (primary key %s): %w", s.what(), strings.Join(s.info.Key, ", "), err))
		}
		s.after = after
	}
	return nil
}

// decodePosition reads the text forms of the key values of a position of key (this
// version's, or one written before sqlkit's format, which transaction logs may still hold).
func decodePosition(from connector.Position, key []string) ([]string, error) {
	k, err := sqlkit.DecodeKeyset(from, sqlkit.LegacyPostgres)
	if err == nil {
		err = k.Fits(key, false)
	}
	if err != nil {
		return nil, err
	}
	after := make([]string, len(k.After))
	for i, v := range k.After {
		t, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("%w: key %s holds a %T, not the text of a value", sqlkit.ErrPosition, key[i], v)
		}
		after[i] = t
	}
	return after, nil
}

// unwrapWrapped drops the endpoint prefix of a connector.Error so it can be wrapped again.
func unwrapWrapped(err error) error {
	var ce *connector.Error
	if errors.As(err, &ce) && ce.Err != nil {
		return ce.Err
	}
	return err
}

func (s *Source) what() string {
	if s.p.table != nil {
		return "table " + s.p.table.String()
	}
	return "the query"
}

// Schema describes the rows Read returns.
func (s *Source) Schema(context.Context) (connector.Schema, error) {
	if s.conn == nil {
		return connector.Schema{}, connector.Errorf(connector.CodeInternal, s.ep.Redacted(), "", errors.New("source not open"))
	}
	return s.schema, nil
}

// selectSQL is the COPY statement streaming cols (all when nil), ordered by the key when the
// source is resumable.
func (s *Source) copySQL(cols []string, binary bool) string {
	var b strings.Builder
	b.WriteString("COPY ")
	names := quoteIdents(cols)
	switch {
	case s.info == nil && cols == nil:
		b.WriteString("(" + s.p.query + ")")
	case s.info == nil:
		b.WriteString("(SELECT " + names + " FROM (" + s.p.query + ") AS q)")
	case s.info.Kind == "r" && s.after == nil && (binary || s.keyIdx == nil):
		// Plain COPY of a table is the fastest way out; order only matters for positions.
		b.WriteString(s.info.Name.SQL() + " (" + names + ")")
	default:
		b.WriteString("(SELECT " + names + " FROM " + s.info.Name.SQL())
		if s.keyIdx != nil {
			after := make([]string, len(s.after))
			for i, v := range s.after {
				after[i] = quoteLiteral(v)
			}
			b.WriteString(dialect.KeysetSQL(s.info.Key, after))
		}
		b.WriteString(")")
	}
	b.WriteString(" TO STDOUT")
	if binary {
		b.WriteString(" (FORMAT binary)")
	}
	return b.String()
}

// stream is a running COPY TO: CopyTo writes into a pipe from a goroutine, Read parses lines.
type stream struct {
	pr      *io.PipeReader
	br      *bufio.Reader
	cancel  context.CancelFunc
	done    chan struct{}
	long    []byte
	fields  [][]byte
	scratch []byte
}

func (s *Source) start(ctx context.Context) {
	names := make([]string, len(s.cols))
	for i, c := range s.cols {
		names[i] = c.Name
	}
	var sql string
	if s.info == nil {
		sql = s.copySQL(nil, false)
	} else {
		sql = s.copySQL(names, false)
	}
	// The COPY outlives this call (it feeds every Read); Read and Close stop it.
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	pr, pw := io.Pipe()
	st := &stream{pr: pr, br: bufio.NewReaderSize(pr, streamBufferSize), cancel: cancel, done: make(chan struct{})}
	pgc := s.conn.PgConn()
	go func() {
		defer close(st.done)
		// CopyTo writes one message (one row) at a time: buffer so the pipe moves big chunks.
		bw := bufio.NewWriterSize(pw, streamBufferSize)
		_, err := pgc.CopyTo(sctx, bw, sql)
		if err == nil {
			err = bw.Flush()
		}
		pw.CloseWithError(err)
	}()
	s.st = st
	s.keyText = make([][]byte, len(s.keyIdx))
}

// stop ends the COPY (if running) and waits for its goroutine.
func (st *stream) stop(err error) {
	st.pr.CloseWithError(err)
	st.cancel()
	<-st.done
}

// readLine returns the next line without its newline; valid until the next call.
func (st *stream) readLine() ([]byte, error) {
	line, err := st.br.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		st.long = append(st.long[:0], line...)
		for errors.Is(err, bufio.ErrBufferFull) {
			line, err = st.br.ReadSlice('\n')
			st.long = append(st.long, line...)
		}
		line = st.long
	}
	if errors.Is(err, io.EOF) && len(line) > 0 {
		err = nil
	}
	if err != nil {
		return nil, err
	}
	if n := len(line); n > 0 && line[n-1] == '\n' {
		line = line[:n-1]
	}
	return line, nil
}

// Read returns the next batch of rows.
func (s *Source) Read(ctx context.Context) (*connector.Batch, connector.AckFunc, error) {
	if s.conn == nil || s.closed {
		return nil, nil, connector.Errorf(connector.CodeInternal, s.ep.Redacted(), "", errors.New("source not open"))
	}
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	if s.eof {
		return nil, nil, connector.ErrEndOfInput
	}
	if s.st == nil {
		s.start(ctx)
	}
	st := s.st
	stopWatch := context.AfterFunc(ctx, func() { st.pr.CloseWithError(context.Cause(ctx)); st.cancel() })
	defer stopWatch()

	n := s.ep.BatchSize
	if n <= 0 {
		n = defaultBatchSize
	}
	nc := len(s.cols)
	b := &connector.Batch{Rows: make([][]any, 0, n)}
	vals := make([]any, n*nc)
	read := 0
	for read < n {
		line, err := st.readLine()
		if errors.Is(err, io.EOF) {
			s.eof = true
			break
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil, nil, ctx.Err()
			}
			return nil, nil, s.wrap(ctx, err)
		}
		read++
		s.record++
		b.Bytes += int64(len(line)) + 1
		var fields [][]byte
		fields, st.scratch, err = splitCopyLine(line, st.fields[:0], st.scratch)
		st.fields = fields
		if err == nil && len(fields) != nc {
			err = fmt.Errorf("COPY row has %d fields, want %d", len(fields), nc)
		}
		if err != nil {
			return nil, nil, connector.Errorf(connector.CodeInternal, s.ep.Redacted(), "",
				fmt.Errorf("reading %s, record %d: %w", s.what(), s.record, err))
		}
		for i, k := range s.keyIdx {
			s.keyText[i] = append(s.keyText[i][:0], fields[k]...)
		}
		row := vals[len(b.Rows)*nc : (len(b.Rows)+1)*nc : (len(b.Rows)+1)*nc]
		ok := true
		for i, f := range fields {
			v, err := parseValue(f, s.types[i])
			if err != nil {
				b.Rejects = append(b.Rejects, connector.Reject{Record: s.record, Column: s.cols[i].Name,
					Value: truncate(string(f), 80), Reason: err.Error()})
				ok = false
				break
			}
			row[i] = v
		}
		if ok {
			b.Rows = append(b.Rows, row)
		}
	}
	if read == 0 {
		return nil, nil, connector.ErrEndOfInput
	}
	if s.keyIdx != nil {
		after := make([]any, len(s.keyText))
		for i, t := range s.keyText {
			after[i] = string(t)
		}
		pos, err := sqlkit.Keyset{Key: s.info.Key, After: after}.Encode()
		if err != nil {
			return nil, nil, connector.Errorf(connector.CodeInternal, s.ep.Redacted(), "", err)
		}
		b.Pos = pos
	}
	return b, connector.NopAck, nil
}

// wrap classes a failure of the source's statements; a write refused by the READ ONLY
// transaction (SQLSTATE 25006) says that a source query must only read.
func (s *Source) wrap(ctx context.Context, err error) error {
	if pgErrCode(err) == "25006" {
		var pe *pgconn.PgError
		errors.As(err, &pe)
		return connector.Errorf(connector.CodeUsage, s.ep.Redacted(),
			"write a query that only reads (SELECT ...); to change data, use a destination",
			wrapPg{fmt.Errorf("a source query must only read: %s (SQLSTATE %s)", pe.Message, pe.Code), pe})
	}
	return s.p.wrap(ctx, err, s.tableString())
}

func (s *Source) tableString() string {
	if s.p.table != nil {
		return s.p.table.String()
	}
	return ""
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n] + "…"
}

// RawFormat offers binary COPY for the columns, naming their binary kinds
// ("postgres-binary:int8,text,numeric"): binary data only fits columns of the same kinds
// (an int4 stream cannot fill an int8 column, though both are int64), which the sink checks.
func (s *Source) RawFormat(cols []string) string {
	if s.conn == nil || s.st != nil || len(cols) == 0 {
		return ""
	}
	kinds := make([]string, len(cols))
	for i, c := range cols {
		j := s.schema.Index(c)
		if j < 0 {
			return ""
		}
		if kinds[i] = s.cols[j].binaryKind(); kinds[i] == "" {
			return ""
		}
	}
	return RawFormat + ":" + strings.Join(kinds, ",")
}

// ReadRaw streams the columns in binary COPY format straight to w.
func (s *Source) ReadRaw(ctx context.Context, cols []string, w io.Writer) (int64, error) {
	if s.conn == nil || s.closed || s.st != nil {
		return 0, connector.Errorf(connector.CodeInternal, s.ep.Redacted(), "",
			errors.New("ReadRaw needs an open source that has not been read from"))
	}
	names := make([]string, len(cols))
	for i, c := range cols {
		j := s.schema.Index(c)
		if j < 0 {
			return 0, connector.Errorf(connector.CodeSchema, s.ep.Redacted(), "",
				fmt.Errorf("%s has no column %q", s.what(), c))
		}
		names[i] = s.cols[j].Name
	}
	var sql string
	if s.info == nil && slices.Equal(names, s.schema.Names()) {
		sql = s.copySQL(nil, true)
	} else {
		sql = s.copySQL(names, true)
	}
	bw := bufio.NewWriterSize(w, streamBufferSize)
	tag, err := s.conn.PgConn().CopyTo(ctx, bw, sql)
	if err == nil {
		err = bw.Flush()
	}
	if err != nil {
		return 0, s.wrap(ctx, err)
	}
	s.eof = true
	return tag.RowsAffected(), nil
}

// Close stops a running COPY and closes the connection; calling it twice is harmless.
func (s *Source) Close(ctx context.Context) error {
	if s.closed {
		return nil
	}
	s.closed = true
	if s.st != nil {
		s.st.stop(errors.New("source closed"))
	}
	if s.conn != nil {
		// A connection whose COPY was cut short is not reusable; closing it is all we need.
		_ = s.conn.Close(ctx)
	}
	return nil
}
