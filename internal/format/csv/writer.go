package csv

import (
	"fmt"
	"io"

	"github.com/datahub-oss/datahub/connector"
	"github.com/datahub-oss/datahub/internal/format"
)

// flushSize is how much encoded text the writer collects before handing it to the io.Writer.
const flushSize = 256 << 10

// Writer writes records as CSV: a header (when o.Header and not o.Appending), "\n" after each record, values in
// connector.FormatTyped's text by column type.
//
// A field is quoted only when it must be, or when a reader might misread it:
//   - it holds the delimiter, the quote, "\r" or "\n" (RFC 4180);
//   - it is empty: "" is the empty string, while NULL is written as the null string unquoted
//     (empty by default), so NULL and "" survive a round trip as in PostgreSQL;
//   - it equals the null string, or is `\.` (PostgreSQL's end-of-data marker);
//   - it starts with a byte order mark (a reader skips one at the start of the file);
//   - it starts or ends with a space or a tab: this reader keeps them either way, but
//     spreadsheets and lenient readers trim unquoted fields.
type Writer struct {
	w     io.Writer
	o     format.Options
	types []connector.Type
	buf   []byte
	tmp   []byte
	// special marks the bytes that force quoting.
	special [256]bool
}

// NewWriter writes records of schema s to w, starting with the header when o.Header and not
// o.Appending.
func NewWriter(w io.Writer, s connector.Schema, o format.Options) (*Writer, error) {
	if err := o.ValidateCSV(); err != nil {
		return nil, err
	}
	if len(s.Columns) == 0 {
		return nil, fmt.Errorf("csv: schema has no columns")
	}
	cw := &Writer{w: w, o: o, types: make([]connector.Type, len(s.Columns)), buf: make([]byte, 0, flushSize+64<<10)}
	for _, c := range []byte{o.Delimiter, o.Quote, '\r', '\n'} {
		cw.special[c] = true
	}
	for i, c := range s.Columns {
		cw.types[i] = c.Type
	}
	if o.Header && !o.Appending {
		for i, c := range s.Columns {
			if i > 0 {
				cw.buf = append(cw.buf, o.Delimiter)
			}
			cw.buf = appendField(cw, cw.buf, c.Name)
		}
		cw.buf = append(cw.buf, '\n')
	}
	return cw, nil
}

// Write encodes the batch's rows.
func (cw *Writer) Write(b *connector.Batch) error {
	for _, row := range b.Rows {
		if len(row) != len(cw.types) {
			return fmt.Errorf("csv: row has %d values, schema has %d columns", len(row), len(cw.types))
		}
		for i, v := range row {
			if i > 0 {
				cw.buf = append(cw.buf, cw.o.Delimiter)
			}
			switch x := v.(type) {
			case nil:
				cw.buf = append(cw.buf, cw.o.Null...)
			case string:
				cw.buf = appendField(cw, cw.buf, x)
			default:
				cw.tmp = format.AppendText(cw.tmp[:0], v, cw.types[i])
				cw.buf = appendField(cw, cw.buf, cw.tmp)
			}
		}
		cw.buf = append(cw.buf, '\n')
		if len(cw.buf) >= flushSize {
			if err := cw.Flush(); err != nil {
				return err
			}
		}
	}
	return nil
}

// appendField appends s, quoted when it must be.
func appendField[T string | []byte](cw *Writer, dst []byte, s T) []byte {
	if !needsQuotes(cw, s) {
		return append(dst, s...)
	}
	q := cw.o.Quote
	dst = append(dst, q)
	for i := 0; i < len(s); i++ {
		if s[i] == q {
			dst = append(dst, q)
		}
		dst = append(dst, s[i])
	}
	return append(dst, q)
}

func needsQuotes[T string | []byte](cw *Writer, s T) bool {
	if len(s) == 0 || string(s) == cw.o.Null || string(s) == `\.` {
		return true
	}
	if len(s) >= 3 && s[0] == 0xEF && s[1] == 0xBB && s[2] == 0xBF {
		return true // a byte order mark opening the file would be skipped
	}
	if c := s[0]; c == ' ' || c == '\t' {
		return true
	}
	if c := s[len(s)-1]; c == ' ' || c == '\t' {
		return true
	}
	for i := 0; i < len(s); i++ {
		if cw.special[s[i]] {
			return true
		}
	}
	return false
}

// Flush hands the encoded records to the io.Writer.
func (cw *Writer) Flush() error {
	if len(cw.buf) == 0 {
		return nil
	}
	_, err := cw.w.Write(cw.buf)
	cw.buf = cw.buf[:0]
	return err
}

// Close flushes; CSV has no trailer.
func (cw *Writer) Close() error { return cw.Flush() }
