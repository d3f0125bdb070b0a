// Package json reads and writes a JSON array of objects, streaming in both directions: the
// reader holds one element at a time (plus the schema sample), never the whole document.
//
// The reader is a small hand-written scanner that finds each element's extent (matching
// brackets and strings) and checks it with encoding/json's Valid, rather than
// json.Decoder.Token: it needs the byte offset and the line of every element, for rejects and
// for positions a read can resume from, and json.Decoder knows offsets but not lines. Values,
// schema inference and rejects are as for NDJSON (package jsonval). An element that is not an
// object, or not valid JSON, is rejected with its line; a damaged array (a missing comma, an
// unterminated element or a missing closing bracket) is rejected where it is found and ends the
// read.
//
// The writer writes "[\n{...},\n{...}\n]\n".
package json

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
		Name:       "json",
		Extensions: map[string]func(*format.Options){".json": nil},
		NewReader: func(head, rest io.Reader, o format.Options, batchSize int, from *format.Position) (format.Reader, error) {
			return Resume(head, rest, o, batchSize, from)
		},
		NewWriter: func(w io.Writer, s connector.Schema, o format.Options) (format.Writer, error) {
			return NewWriter(w, s)
		},
		Typed: true,
	})
}

// NewReader reads a JSON array from the start of r.
func NewReader(r io.Reader, o format.Options, batchSize int) (*jsonval.Reader, error) {
	return Resume(r, nil, o, batchSize, nil)
}

// Resume infers the schema from head (the start of the file) and, when from is set, reads the
// elements from rest, which starts at from.Offset (just after an element's comma).
func Resume(head, rest io.Reader, o format.Options, batchSize int, from *format.Position) (*jsonval.Reader, error) {
	h := &elements{in: format.NewInput(head, 0), line: 1}
	if err := h.in.SkipBOM(); err != nil {
		return nil, err
	}
	if err := h.open(); err != nil {
		return nil, err
	}
	var rs jsonval.Records
	if from != nil {
		rs = &elements{in: format.NewInput(rest, from.Offset), line: from.Line, sep: sepOptional}
	}
	return jsonval.NewReader(h, rs, o.Sample, batchSize, from)
}

// elements yields the elements of an array whose '[' has been consumed.
type elements struct {
	in   *format.Input
	line int64
	done bool
	sep  int // whether a ',' must, may or must not come before the next element
}

const (
	sepNone     = iota // at the start of the array or just after a ','
	sepRequired        // just after an element
	sepOptional        // resuming: the position may be before or after the ','
)

func (e *elements) Offset() (int64, int64) { return e.in.Offset(e.in.Pos), e.line }

// skipSpace consumes white space, counting lines; it returns false at the end of the input.
func (e *elements) skipSpace() (bool, error) {
	in := e.in
	for {
		for in.Pos < in.End {
			switch in.Buf[in.Pos] {
			case '\n':
				e.line++
			case ' ', '\t', '\r':
			default:
				return true, nil
			}
			in.Pos++
		}
		if _, err := in.Fill(); errors.Is(err, io.EOF) {
			return false, nil
		} else if err != nil {
			return false, err
		}
	}
}

// open consumes the opening bracket.
func (e *elements) open() error {
	more, err := e.skipSpace()
	if err != nil {
		return err
	}
	if !more {
		return fmt.Errorf("the file is empty: want a JSON array of objects")
	}
	if c := e.in.Buf[e.in.Pos]; c != '[' {
		return fmt.Errorf("line %d: want a JSON array of objects, found %q (for one object per line use format ndjson)", e.line, c)
	}
	e.in.Pos++
	return nil
}

// fail ends the read with a problem record holding the text from the current position.
func (e *elements) fail(reason string) (jsonval.Record, error) {
	e.done = true
	raw := e.in.Buf[e.in.Pos:min(e.in.End, e.in.Pos+format.MaxRawSize)]
	rec := jsonval.Record{Raw: raw, Line: e.line, Problem: reason}
	e.in.Pos = e.in.End
	for e.skipBuffer() {
	}
	rec.End, rec.NextLine = e.in.Offset(e.in.Pos), e.line
	return rec, nil
}

// skipBuffer reads the next piece of input and discards it; false when nothing more came.
func (e *elements) skipBuffer() bool {
	_, err := e.in.Fill()
	e.in.Pos = e.in.End
	return err == nil
}

func (e *elements) Next() (jsonval.Record, error) {
	if e.done {
		return jsonval.Record{}, io.EOF
	}
	more, err := e.skipSpace()
	if err != nil {
		return jsonval.Record{}, err
	}
	if !more {
		if e.sep == sepOptional {
			// Resumed at the end of the file: the array was closed before the position.
			e.done = true
			return jsonval.Record{}, io.EOF
		}
		return e.fail("the array is not closed: ']' is missing at the end of the file")
	}
	in := e.in
	if c := in.Buf[in.Pos]; c == ',' && e.sep != sepNone {
		in.Pos++
		if more, err = e.skipSpace(); err != nil {
			return jsonval.Record{}, err
		} else if !more {
			return e.fail("the array is not closed: ']' is missing at the end of the file")
		}
	} else if c != ']' && e.sep == sepRequired {
		return e.fail(fmt.Sprintf("want ',' or ']' after an array element, found %q", c))
	}
	if in.Buf[in.Pos] == ']' {
		in.Pos++
		e.done = true
		if more, err := e.skipSpace(); err != nil {
			return jsonval.Record{}, err
		} else if more {
			return e.fail("text after the end of the array")
		}
		return jsonval.Record{}, io.EOF
	}
	var n int
	for {
		var complete bool
		n, complete = jsonval.ValueEnd(in.Buf[in.Pos:in.End], in.EOF())
		if complete {
			break
		}
		if _, err := in.Fill(); errors.Is(err, format.ErrRecordTooLarge) {
			return jsonval.Record{}, fmt.Errorf("line %d: array element larger than %d MiB", e.line, format.MaxRecordSize>>20)
		} else if errors.Is(err, io.EOF) {
			return e.fail("unterminated value at the end of the file")
		} else if err != nil {
			return jsonval.Record{}, err
		}
	}
	if n == 0 {
		return e.fail(fmt.Sprintf("want an array element, found %q", in.Buf[in.Pos]))
	}
	raw := in.Buf[in.Pos : in.Pos+n]
	rec := jsonval.Record{Raw: raw, Line: e.line}
	e.line += int64(bytes.Count(raw, []byte{'\n'}))
	in.Pos += n
	// Take the separator when it is already buffered, so that the position after this element
	// is just before the next one; otherwise the next call takes it. (Filling here would move
	// the buffer under raw.)
	e.sep = sepRequired
	for in.Pos < in.End {
		c := in.Buf[in.Pos]
		if c == ',' {
			in.Pos++
			e.sep = sepNone
			break
		}
		if c != ' ' && c != '\t' && c != '\r' && c != '\n' {
			break
		}
		if c == '\n' {
			e.line++
		}
		in.Pos++
	}
	rec.End, rec.NextLine = in.Offset(in.Pos), e.line
	return rec, nil
}

const flushSize = 256 << 10

// Writer writes a JSON array, one object per line.
type Writer struct {
	w     io.Writer
	keys  [][]byte
	types []connector.Type
	buf   []byte
	n     int64
}

// NewWriter writes rows of schema s to w as a JSON array.
func NewWriter(w io.Writer, s connector.Schema) (*Writer, error) {
	if len(s.Columns) == 0 {
		return nil, fmt.Errorf("json: schema has no columns")
	}
	jw := &Writer{w: w, keys: jsonval.Keys(s), types: make([]connector.Type, len(s.Columns)), buf: make([]byte, 0, flushSize+64<<10)}
	for i, c := range s.Columns {
		jw.types[i] = c.Type
	}
	jw.buf = append(jw.buf, "[\n"...)
	return jw, nil
}

// Write encodes the batch's rows.
func (w *Writer) Write(b *connector.Batch) error {
	for _, row := range b.Rows {
		if len(row) != len(w.types) {
			return fmt.Errorf("json: row has %d values, schema has %d columns", len(row), len(w.types))
		}
		if w.n > 0 {
			w.buf = append(w.buf, ",\n"...)
		}
		w.n++
		w.buf = jsonval.AppendObject(w.buf, w.keys, w.types, row)
		if len(w.buf) >= flushSize {
			if err := w.Flush(); err != nil {
				return err
			}
		}
	}
	return nil
}

// Flush hands the encoded elements to the io.Writer.
func (w *Writer) Flush() error {
	if len(w.buf) == 0 {
		return nil
	}
	_, err := w.w.Write(w.buf)
	w.buf = w.buf[:0]
	return err
}

// Close writes the closing bracket and flushes.
func (w *Writer) Close() error {
	if w.n > 0 {
		w.buf = append(w.buf, '\n')
	}
	w.buf = append(w.buf, "]\n"...)
	return w.Flush()
}
