package mysql

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/datahub-oss/datahub/connector"
)

// loadEncoder writes rows in the text format of
//
//	FIELDS TERMINATED BY '\t' ENCLOSED BY '' ESCAPED BY '\\' LINES TERMINATED BY '\n'
//
// NULL is \N; backslash, tab, newline, carriage return and NUL are escaped; bytes travel as
// hex (the statement UNHEXes them) so no byte is ever read as text.
type loadEncoder struct {
	cols []tcol
	buf  []byte
}

// chunkSize is how much encoded text is handed to the driver at a time; the driver sends it
// in 16 KiB packets while the next chunk is encoded.
const chunkSize = 64 << 10

// encode writes rows to w in chunks.
func (e *loadEncoder) encode(w io.Writer, rows [][]any) error {
	b := e.buf[:0]
	for _, row := range rows {
		b = e.appendRow(b, row)
		if len(b) >= chunkSize {
			if _, err := w.Write(b); err != nil {
				e.buf = b
				return err
			}
			b = b[:0]
		}
	}
	e.buf = b
	if len(b) > 0 {
		if _, err := w.Write(b); err != nil {
			return err
		}
	}
	return nil
}

// appendRow appends one line.
func (e *loadEncoder) appendRow(b []byte, row []any) []byte {
	for j, v := range row {
		if j > 0 {
			b = append(b, '\t')
		}
		b = appendField(b, &e.cols[j], v)
	}
	return append(b, '\n')
}

// escapes maps the bytes LOAD DATA would misread to the letter after the backslash.
var escapes = [256]byte{'\\': '\\', '\t': 't', '\n': 'n', '\r': 'r', 0: '0'}

func appendEscaped(b []byte, s string) []byte {
	start := 0
	for i := 0; i < len(s); i++ {
		if c := escapes[s[i]]; c != 0 {
			b = append(b, s[start:i]...)
			b = append(b, '\\', c)
			start = i + 1
		}
	}
	return append(b, s[start:]...)
}

func appendField(b []byte, t *tcol, v any) []byte {
	if v == nil {
		return append(b, '\\', 'N')
	}
	if t.kind == kBytes {
		switch x := v.(type) {
		case []byte:
			return hex.AppendEncode(b, x)
		case string:
			return hex.AppendEncode(b, []byte(x))
		case json.RawMessage:
			return hex.AppendEncode(b, x)
		case connector.UUID:
			return hex.AppendEncode(b, x[:])
		}
		return hex.AppendEncode(b, []byte(connector.FormatText(v)))
	}
	switch x := v.(type) {
	case int64:
		return strconv.AppendInt(b, x, 10)
	case string:
		return appendEscaped(b, x)
	case connector.Decimal:
		return append(b, x...)
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			// MySQL has no NaN or infinity: this text makes the server refuse the row.
			return append(b, connector.FormatFloat(x)...)
		}
		return strconv.AppendFloat(b, x, 'g', -1, 64)
	case bool:
		if x {
			return append(b, '1')
		}
		return append(b, '0')
	case time.Time:
		switch t.kind {
		case kDate:
			return appendDate(b, x)
		case kDatetime:
			return appendDatetime(b, x)
		}
		return appendDatetime(b, x.UTC())
	case json.RawMessage:
		return appendEscaped(b, string(x))
	case connector.UUID:
		return append(b, x.String()...)
	case []byte:
		return appendEscaped(b, string(x))
	case int:
		return strconv.AppendInt(b, int64(x), 10)
	case int32:
		return strconv.AppendInt(b, int64(x), 10)
	}
	return appendEscaped(b, fmt.Sprint(v))
}

// loadSQL renders the LOAD DATA statement for cols of table t, split around the reader name.
func loadSQL(t tableName, cols []tcol) (prefix, suffix string) {
	var b strings.Builder
	b.WriteString("' INTO TABLE ")
	b.WriteString(t.String())
	b.WriteString(` CHARACTER SET utf8mb4 FIELDS TERMINATED BY '\t' ENCLOSED BY '' ESCAPED BY '\\'`)
	b.WriteString(` LINES TERMINATED BY '\n' STARTING BY '' (`)
	var sets []string
	for i, c := range cols {
		if i > 0 {
			b.WriteString(", ")
		}
		expr := ""
		switch c.kind {
		case kBytes:
			expr = "UNHEX(@v%d)"
		case kBit, kBitBool:
			expr = "CAST(@v%d AS UNSIGNED)"
		case kSpatial:
			expr = "ST_GeomFromText(@v%d)"
		}
		if expr == "" {
			b.WriteString(quoteIdent(c.col.Name))
			continue
		}
		fmt.Fprintf(&b, "@v%d", i)
		sets = append(sets, quoteIdent(c.col.Name)+" = "+fmt.Sprintf(expr, i))
	}
	b.WriteString(")")
	if len(sets) > 0 {
		b.WriteString(" SET ")
		b.WriteString(strings.Join(sets, ", "))
	}
	return "LOAD DATA LOCAL INFILE 'Reader::", b.String()
}
