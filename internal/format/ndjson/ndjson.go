// Package ndjson reads and writes newline-delimited JSON: one object per line.
//
// Reading: blank lines are skipped, "\r\n" line ends and a UTF-8 byte order mark are accepted,
// and the columns and their types are inferred from the first objects (format.DefaultSample,
// see jsonval.Infer). A line that is not a JSON object, holds a value its column's type cannot
// take, or a field the sample did not show becomes a Reject with its line number. Positions are
// byte offsets, so a read resumes exactly.
//
// Writing: one object per line, keys in column order, values as jsonval documents.
package ndjson

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/datahub-oss/datahub/connector"
	"github.com/datahub-oss/datahub/internal/format"
	"github.com/datahub-oss/datahub/internal/format/jsonval"
)

func init() {
	format.Register(format.Codec{
		Name:       "ndjson",
		Extensions: map[string]func(*format.Options){".ndjson": nil, ".jsonl": nil},
		NewReader: func(head, rest io.Reader, o format.Options, batchSize int, from *format.Position) (format.Reader, error) {
			return Resume(head, rest, o, batchSize, from)
		},
		NewWriter: func(w io.Writer, s connector.Schema, o format.Options) (format.Writer, error) {
			return NewWriter(w, s)
		},
		CanAppend: true,
		Typed:     true,
	})
}

// NewReader reads NDJSON from the start of r.
func NewReader(r io.Reader, o format.Options, batchSize int) (*jsonval.Reader, error) {
	return Resume(r, nil, o, batchSize, nil)
}

// Resume infers the schema from head (the start of the file) and, when from is set, reads the
// records from rest, which starts at from.Offset.
func Resume(head, rest io.Reader, o format.Options, batchSize int, from *format.Position) (*jsonval.Reader, error) {
	h := &lines{in: format.NewInput(head, 0), line: 1}
	if err := h.in.SkipBOM(); err != nil {
		return nil, err
	}
	var rs jsonval.Records
	if from != nil {
		rs = &lines{in: format.NewInput(rest, from.Offset), line: from.Line}
	}
	return jsonval.NewReader(h, rs, o.Sample, batchSize, from)
}

// lines splits the input into non-blank lines.
type lines struct {
	in   *format.Input
	line int64
}

func (l *lines) Offset() (int64, int64) { return l.in.Offset(l.in.Pos), l.line }

func (l *lines) Next() (jsonval.Record, error) {
	in := l.in
	for {
		buf := in.Buf[in.Pos:in.End]
		nl := bytes.IndexByte(buf, '\n')
		if nl < 0 && !in.EOF() {
			_, err := in.Fill()
			switch {
			case err == nil || errors.Is(err, io.EOF):
				continue
			case errors.Is(err, format.ErrRecordTooLarge):
				return l.skipLong()
			}
			return jsonval.Record{}, err
		}
		if nl < 0 {
			if len(buf) == 0 {
				return jsonval.Record{}, io.EOF
			}
			nl = len(buf)
		}
		raw := bytes.TrimRight(buf[:nl], " \t\r")
		start := l.line
		in.Pos += min(nl+1, len(buf))
		l.line++
		if len(bytes.TrimLeft(raw, " \t")) == 0 {
			continue
		}
		return jsonval.Record{Raw: raw, Line: start, End: in.Offset(in.Pos), NextLine: l.line}, nil
	}
}

// skipLong drops a line longer than the buffer limit and returns it as a problem record.
func (l *lines) skipLong() (jsonval.Record, error) {
	in, start := l.in, l.line
	for {
		nl := bytes.IndexByte(in.Buf[in.Pos:in.End], '\n')
		if nl >= 0 {
			in.Pos += nl + 1
			break
		}
		in.Pos = in.End
		if _, err := in.Fill(); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return jsonval.Record{}, err
		}
	}
	l.line++
	return jsonval.Record{Line: start, End: in.Offset(in.Pos), NextLine: l.line,
		Problem: fmt.Sprintf("line longer than %d MiB", format.MaxRecordSize>>20)}, nil
}

const flushSize = 256 << 10

// Writer writes one JSON object per line.
type Writer struct {
	w     io.Writer
	keys  [][]byte
	types []connector.Type
	buf   []byte
}

// NewWriter writes rows of schema s to w.
func NewWriter(w io.Writer, s connector.Schema) (*Writer, error) {
	if len(s.Columns) == 0 {
		return nil, fmt.Errorf("ndjson: schema has no columns")
	}
	nw := &Writer{w: w, keys: jsonval.Keys(s), types: make([]connector.Type, len(s.Columns)), buf: make([]byte, 0, flushSize+64<<10)}
	for i, c := range s.Columns {
		nw.types[i] = c.Type
	}
	return nw, nil
}

// Write encodes the batch's rows.
func (w *Writer) Write(b *connector.Batch) error {
	for _, row := range b.Rows {
		if len(row) != len(w.types) {
			return fmt.Errorf("ndjson: row has %d values, schema has %d columns", len(row), len(w.types))
		}
		w.buf = jsonval.AppendObject(w.buf, w.keys, w.types, row)
		w.buf = append(w.buf, '\n')
		if len(w.buf) >= flushSize {
			if err := w.Flush(); err != nil {
				return err
			}
		}
	}
	return nil
}

// Flush hands the encoded lines to the io.Writer.
func (w *Writer) Flush() error {
	if len(w.buf) == 0 {
		return nil
	}
	_, err := w.w.Write(w.buf)
	w.buf = w.buf[:0]
	return err
}

// Close flushes; NDJSON has no trailer.
func (w *Writer) Close() error { return w.Flush() }
