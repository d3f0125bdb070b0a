package mysql

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/datahub-oss/datahub/connector"
)

// decode converts the server's text (or, for prepared statements, the driver's rendering of
// the binary protocol) of one non-NULL value to its logical value. raw is reused by the
// driver after the next row: everything returned is a copy.
func decode(t *tcol, raw []byte) (any, error) {
	switch t.kind {
	case kString, kSpatial:
		return string(raw), nil
	case kInt:
		return parseInt(raw)
	case kUint:
		return connector.Decimal(raw), nil
	case kFloat:
		return parseFloat(raw)
	case kFloat32:
		f, err := parseFloat(raw)
		if err != nil {
			return nil, err
		}
		// The text protocol sends FLOAT's shortest float32 text, the binary protocol its
		// float64 widening: settle both on the value of the shortest float32 text.
		f32 := float32(f)
		if math.IsInf(float64(f32), 0) || math.IsNaN(f) {
			return f, nil
		}
		return strconv.ParseFloat(strconv.FormatFloat(float64(f32), 'g', -1, 32), 64)
	case kDecimal:
		return connector.Decimal(raw), nil
	case kDecimalU:
		return connector.Decimal(trimFraction(raw)), nil
	case kBool:
		return len(raw) != 1 || raw[0] != '0', nil
	case kBitBool, kBit:
		// BIT arrives as big-endian bytes.
		var u uint64
		for _, b := range raw {
			u = u<<8 | uint64(b)
		}
		switch {
		case t.kind == kBitBool:
			return u != 0, nil
		case t.col.Type == connector.TypeDecimal:
			return connector.Decimal(strconv.FormatUint(u, 10)), nil
		}
		return int64(u), nil
	case kDate, kDatetime, kInstant:
		if isZeroDate(raw) {
			return nil, nil // MySQL's zero date has no value in any other system
		}
		tm, _, err := connector.ParseTimestamp(string(raw))
		if err != nil {
			return nil, err
		}
		return tm, nil
	case kBytes:
		return bytes.Clone(raw), nil
	case kJSON:
		return json.RawMessage(bytes.Clone(raw)), nil
	case kUUID:
		return connector.ParseUUID(string(raw))
	}
	return nil, fmt.Errorf("unknown column kind %d", t.kind)
}

func parseInt(b []byte) (int64, error) {
	d, neg := b, false
	if len(d) > 0 && d[0] == '-' {
		d, neg = d[1:], true
	}
	if len(d) == 0 || len(d) > 18 { // 18 digits cannot overflow; leave the rest to strconv
		return strconv.ParseInt(string(b), 10, 64)
	}
	var n int64
	for _, c := range d {
		if c < '0' || c > '9' {
			return strconv.ParseInt(string(b), 10, 64)
		}
		n = n*10 + int64(c-'0')
	}
	if neg {
		n = -n
	}
	return n, nil
}

func parseFloat(b []byte) (float64, error) {
	return strconv.ParseFloat(string(b), 64)
}

// trimFraction drops trailing zeros of a decimal's fraction ("1.500" → "1.5", "2.000" → "2").
func trimFraction(b []byte) string {
	if bytes.IndexByte(b, '.') < 0 {
		return string(b)
	}
	b = bytes.TrimRight(b, "0")
	b = bytes.TrimSuffix(b, []byte("."))
	if len(b) == 0 || string(b) == "-" || string(b) == "-0" {
		return "0"
	}
	return string(b)
}

func isZeroDate(b []byte) bool {
	return len(b) >= 10 && string(b[:10]) == "0000-00-00"
}

// keyParam turns a key's text from a position into the argument and placeholder that compare
// with the column exactly as ORDER BY sorts it (strings compared with an integer column would
// be compared as doubles, losing digits past 2^53).
func keyParam(t *tcol, text string) (arg any, placeholder string, err error) {
	switch t.kind {
	case kInt, kBool:
		n, err := strconv.ParseInt(text, 10, 64)
		return n, "?", err
	case kUint:
		n, err := strconv.ParseUint(text, 10, 64)
		return n, "?", err
	case kBit, kBitBool:
		n, err := strconv.ParseUint(text, 10, 64)
		return n, "?", err
	case kFloat:
		f, err := strconv.ParseFloat(text, 64)
		return f, "?", err
	case kFloat32:
		f, err := strconv.ParseFloat(text, 64)
		return float64(float32(f)), "?", err
	case kDecimal, kDecimalU:
		if _, err := connector.ParseDecimal(text); err != nil {
			return nil, "", err
		}
		return text, fmt.Sprintf("CAST(? AS DECIMAL(%d,%d))", t.p, t.s), nil
	case kBytes:
		return []byte(text), "?", nil
	}
	return text, "?", nil
}

// keysetable reports whether a key column's comparison operators agree with ORDER BY.
func keysetable(k kind) bool {
	switch k {
	case kJSON, kSpatial:
		return false
	}
	return true
}

// timestamps for the encoders: 'YYYY-MM-DD' and 'YYYY-MM-DD HH:MM:SS.ffffff'.

func appendDate(b []byte, t time.Time) []byte {
	y, m, d := t.Date()
	if y < 0 || y > 9999 {
		// Out of MySQL's range: let the server refuse it.
		return append(b, t.Format("2006-01-02")...)
	}
	b = append4(b, y)
	b = append(b, '-')
	b = append2(b, int(m))
	b = append(b, '-')
	return append2(b, d)
}

func appendDatetime(b []byte, t time.Time) []byte {
	b = appendDate(b, t)
	h, mi, s := t.Clock()
	b = append(b, ' ')
	b = append2(b, h)
	b = append(b, ':')
	b = append2(b, mi)
	b = append(b, ':')
	b = append2(b, s)
	if us := t.Nanosecond() / 1000; us != 0 {
		b = append(b, '.')
		b = append2(b, us/10000)
		b = append2(b, us/100%100)
		b = append2(b, us%100)
	}
	return b
}

func append2(b []byte, n int) []byte { return append(b, byte('0'+n/10), byte('0'+n%10)) } //nolint:gosec // G115: n is a two-digit date or time field

func append4(b []byte, n int) []byte {
	return append(b, byte('0'+n/1000), byte('0'+n/100%10), byte('0'+n/10%10), byte('0'+n%10)) //nolint:gosec // G115: n is a year in 0..9999
}
