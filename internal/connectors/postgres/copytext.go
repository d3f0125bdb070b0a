package postgres

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/datahub-oss/datahub/connector"
)

// This file reads and writes PostgreSQL's text COPY format: one line per row, fields separated
// by tabs, \N for NULL, and backslash escapes for backslash, tab, newline and carriage return
// (plus \b \f \v, octal \ooo and hex \xhh on input).

var (
	errTrailingBackslash = errors.New("COPY line ends with a lone backslash")
	emptyField           = []byte{}
)

// splitCopyLine splits one line of text COPY data (without its newline) into fields, undoing
// the escapes. A NULL field is nil; an empty field is a non-nil empty slice. Fields point into
// line, or into scratch when they had escapes; scratch is returned for reuse.
func splitCopyLine(line []byte, fields [][]byte, scratch []byte) ([][]byte, []byte, error) {
	fields = fields[:0]
	// Unescaping never grows a field, so scratch with len(line) capacity is never reallocated
	// and the fields already pointing into it stay valid.
	if cap(scratch) < len(line) {
		scratch = make([]byte, 0, len(line)+len(line)/2)
	}
	scratch = scratch[:0]
	start := 0
	for {
		// Fast path: a field without backslashes ends at the next tab (IndexByte is vectorised).
		end := bytes.IndexByte(line[start:], '\t')
		if end < 0 {
			end = len(line)
		} else {
			end += start
		}
		if bytes.IndexByte(line[start:end], '\\') < 0 {
			f := line[start:end]
			if len(f) == 0 {
				f = emptyField
			}
			fields = append(fields, f[:len(f):len(f)])
			if end == len(line) {
				return fields, scratch, nil
			}
			start = end + 1
			continue
		}
		i, esc := start, false
		for i < len(line) {
			c := line[i]
			if c == '\t' {
				break
			}
			if c == '\\' {
				esc = true
				i++
				if i == len(line) {
					return fields, scratch, errTrailingBackslash
				}
			}
			i++
		}
		f := line[start:i]
		switch {
		case !esc:
			if len(f) == 0 {
				f = emptyField
			}
			fields = append(fields, f[:len(f):len(f)])
		case len(f) == 2 && f[1] == 'N':
			fields = append(fields, nil)
		default:
			off := len(scratch)
			scratch = unescapeCopy(scratch, f)
			fields = append(fields, scratch[off:len(scratch):len(scratch)])
		}
		if i == len(line) {
			return fields, scratch, nil
		}
		start = i + 1
	}
}

// unescapeCopy appends the unescaped form of a text COPY field (which must not end in a lone
// backslash) to dst.
func unescapeCopy(dst, f []byte) []byte {
	for j := 0; j < len(f); j++ {
		c := f[j]
		if c != '\\' {
			dst = append(dst, c)
			continue
		}
		j++
		c = f[j]
		switch c {
		case 'b':
			c = '\b'
		case 'f':
			c = '\f'
		case 'n':
			c = '\n'
		case 'r':
			c = '\r'
		case 't':
			c = '\t'
		case 'v':
			c = '\v'
		case '0', '1', '2', '3', '4', '5', '6', '7':
			// Up to three octal digits; like PostgreSQL, keep the low 8 bits (byte arithmetic wraps).
			c -= '0'
			for k := 0; k < 2 && j+1 < len(f) && f[j+1] >= '0' && f[j+1] <= '7'; k++ {
				j++
				c = c<<3 + (f[j] - '0')
			}
		case 'x':
			if j+1 < len(f) && isHex(f[j+1]) {
				j++
				v := unhex(f[j])
				if j+1 < len(f) && isHex(f[j+1]) {
					j++
					v = v<<4 + unhex(f[j])
				}
				c = v
			}
		}
		dst = append(dst, c)
	}
	return dst
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c >= '0' && c <= '9':
		return c - '0'
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}

// copyEscape maps the bytes that must be escaped in a text COPY field to their escape letter.
var copyEscape = [256]byte{'\\': '\\', '\t': 't', '\n': 'n', '\r': 'r'}

// appendEscaped appends s as a text COPY field.
func appendEscaped[T string | []byte](b []byte, s T) []byte {
	start := 0
	for i := 0; i < len(s); i++ {
		if e := copyEscape[s[i]]; e != 0 {
			b = append(b, s[start:i]...)
			b = append(b, '\\', e)
			start = i + 1
		}
	}
	return append(b, s[start:]...)
}

// appendValue appends v, a value of logical type t, as a text COPY field (\N for nil).
func appendValue(b []byte, v any, t connector.Type) []byte {
	switch x := v.(type) {
	case nil:
		return append(b, '\\', 'N')
	case string:
		return appendEscaped(b, x)
	case int64:
		return strconv.AppendInt(b, x, 10)
	case connector.Decimal:
		return appendEscaped(b, string(x))
	case float64:
		return appendFloat(b, x)
	case bool:
		if x {
			return append(b, 't')
		}
		return append(b, 'f')
	case time.Time:
		switch t {
		case connector.TypeDate:
			return appendDate(b, x)
		case connector.TypeTimestamp:
			return appendTimestamp(b, x, false)
		}
		return appendTimestamp(b, x.UTC(), true)
	case []byte:
		// bytea hex input is \x..., and the backslash itself is escaped in COPY text.
		b = append(b, '\\', '\\', 'x')
		return hex.AppendEncode(b, x)
	case json.RawMessage:
		return appendEscaped(b, []byte(x))
	case connector.UUID:
		return appendUUID(b, x)
	case int:
		return strconv.AppendInt(b, int64(x), 10)
	case int32:
		return strconv.AppendInt(b, int64(x), 10)
	}
	return appendEscaped(b, connector.FormatTyped(v, t))
}

// appendFloat writes exactly connector.FormatFloat's text without allocating.
func appendFloat(b []byte, f float64) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return append(b, connector.FormatFloat(f)...)
	}
	return strconv.AppendFloat(b, f, 'g', -1, 64)
}

// appendDate writes YYYY-MM-DD (years before 1 as PostgreSQL spells them: "0044-03-15 BC").
func appendDate(b []byte, t time.Time) []byte {
	y, m, d := t.Date()
	bc := y <= 0
	if bc {
		y = 1 - y
	}
	b = appendYMD(b, y, int(m), d)
	if bc {
		b = append(b, " BC"...)
	}
	return b
}

// appendTimestamp writes t's wall clock as YYYY-MM-DDTHH:MM:SS[.fraction], with a Z when
// zone is set (t must then be in UTC).
func appendTimestamp(b []byte, t time.Time, zone bool) []byte {
	y, m, d := t.Date()
	bc := y <= 0
	if bc {
		y = 1 - y
	}
	b = appendYMD(b, y, int(m), d)
	hh, mm, ss := t.Clock()
	b = append(b, 'T')
	b = append2(b, hh)
	b = append(b, ':')
	b = append2(b, mm)
	b = append(b, ':')
	b = append2(b, ss)
	if ns := t.Nanosecond(); ns != 0 {
		var frac [10]byte
		frac[0] = '.'
		for i := 9; i > 2; i -= 2 {
			frac[i-1], frac[i] = digitPairs[2*(ns%100)], digitPairs[2*(ns%100)+1]
			ns /= 100
		}
		frac[1] = digitPairs[2*ns+1] // the last digit left, ns < 10
		n := 10
		for frac[n-1] == '0' {
			n--
		}
		b = append(b, frac[:n]...)
	}
	if zone {
		b = append(b, 'Z')
	}
	if bc {
		b = append(b, " BC"...)
	}
	return b
}

func appendYMD(b []byte, y, m, d int) []byte {
	if y < 1000 {
		b = append2(b, y/100)
		b = append2(b, y%100)
	} else {
		b = strconv.AppendInt(b, int64(y), 10)
	}
	b = append(b, '-')
	b = append2(b, m)
	b = append(b, '-')
	return append2(b, d)
}

const digitPairs = "00010203040506070809101112131415161718192021222324252627282930313233343536373839" +
	"40414243444546474849505152535455565758596061626364656667686970717273747576777879" +
	"8081828384858687888990919293949596979899"

// append2 appends n (0..99) as two digits.
func append2(b []byte, n int) []byte {
	return append(b, digitPairs[2*n], digitPairs[2*n+1])
}

func appendUUID(b []byte, u connector.UUID) []byte {
	b = hex.AppendEncode(b, u[0:4])
	b = append(b, '-')
	b = hex.AppendEncode(b, u[4:6])
	b = append(b, '-')
	b = hex.AppendEncode(b, u[6:8])
	b = append(b, '-')
	b = hex.AppendEncode(b, u[8:10])
	b = append(b, '-')
	return hex.AppendEncode(b, u[10:])
}

// parseValue converts one unescaped text COPY field (nil: NULL) of a column of logical type t,
// as PostgreSQL writes it under our session settings, to its logical value.
func parseValue(f []byte, t connector.Type) (any, error) {
	if f == nil {
		return nil, nil
	}
	switch t {
	case connector.TypeString:
		return string(f), nil
	case connector.TypeInt64:
		n, err := strconv.ParseInt(string(f), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%q is not a whole number in the int64 range", f)
		}
		return n, nil
	case connector.TypeFloat64:
		// ParseFloat reads PostgreSQL's NaN, Infinity and -Infinity as well.
		x, err := strconv.ParseFloat(string(f), 64)
		if err != nil {
			return nil, fmt.Errorf("%q is not a number", f)
		}
		return x, nil
	case connector.TypeDecimal:
		// ParseDecimal returns canonical text (as PostgreSQL writes numerics) without copying it again.
		d, err := connector.ParseDecimal(string(f))
		if err != nil {
			return nil, fmt.Errorf("%q cannot be represented as a decimal (NaN and Infinity have no decimal form)", f)
		}
		return d, nil
	case connector.TypeBool:
		if len(f) == 1 && (f[0] == 't' || f[0] == 'f') {
			return f[0] == 't', nil
		}
		return connector.ParseBool(string(f))
	case connector.TypeDate, connector.TypeTimestamp, connector.TypeTimestampTZ:
		return parsePGTime(f)
	case connector.TypeBytes:
		if len(f) >= 2 && f[0] == '\\' && f[1] == 'x' {
			out := make([]byte, (len(f)-2)/2)
			if _, err := hex.Decode(out, f[2:]); err != nil {
				return nil, fmt.Errorf("invalid bytea hex: %w", err)
			}
			return out, nil
		}
		return connector.ParseBytes(string(f))
	case connector.TypeJSON:
		return json.RawMessage(bytes.Clone(f)), nil
	case connector.TypeUUID:
		return parseUUID(f)
	}
	return string(f), nil
}

// parsePGTime reads a date or timestamp as PostgreSQL writes it with DateStyle ISO: the common
// "2024-01-02 03:04:05.123456+00" through connector.ParseTimestamp, plus the years it cannot
// take (beyond 9999, and "... BC").
func parsePGTime(f []byte) (time.Time, error) {
	s := string(f)
	bc := strings.HasSuffix(s, " BC")
	if bc {
		s = s[:len(s)-3]
	}
	i := strings.IndexByte(s, '-')
	if i == 4 && !bc {
		t, _, err := connector.ParseTimestamp(s)
		return t, err
	}
	year, err := strconv.Atoi(s[:max(i, 0)])
	if i < 4 || err != nil {
		if s == "infinity" || s == "-infinity" {
			return time.Time{}, fmt.Errorf("%q has no date/time value (PostgreSQL infinity)", s)
		}
		return time.Time{}, fmt.Errorf("%q is not a date or timestamp", f)
	}
	if bc {
		year = 1 - year // astronomical numbering, as time.Time counts: 1 BC is year 0
	}
	// Parse with a stand-in year of the same leapness, then move to the real one.
	stand := 2001
	if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
		stand = 2000
	}
	t, _, err := connector.ParseTimestamp(strconv.Itoa(stand) + s[i:])
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is not a date or timestamp", f)
	}
	return t.AddDate(year-stand, 0, 0), nil
}

// parseUUID reads the canonical form PostgreSQL writes without allocating.
func parseUUID(f []byte) (connector.UUID, error) {
	var u connector.UUID
	if len(f) == 36 && f[8] == '-' && f[13] == '-' && f[18] == '-' && f[23] == '-' {
		j := 0
		for _, g := range [5][2]int{{0, 8}, {9, 13}, {14, 18}, {19, 23}, {24, 36}} {
			for i := g[0]; i < g[1]; i += 2 {
				if !isHex(f[i]) || !isHex(f[i+1]) {
					return connector.ParseUUID(string(f))
				}
				u[j] = unhex(f[i])<<4 | unhex(f[i+1])
				j++
			}
		}
		return u, nil
	}
	return connector.ParseUUID(string(f))
}
