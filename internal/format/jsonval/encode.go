// Package jsonval holds what the NDJSON and JSON-array codecs share: encoding values and rows
// as JSON, decoding objects into rows, inferring a schema from sampled objects, and the
// batching reader both formats feed with raw records.
//
// Values are written as: int64 and finite float64 as numbers (NaN and ±Infinity as the strings
// "NaN", "Infinity", "-Infinity"); decimal as a number spelt exactly as the Decimal (every
// digit kept); string, uuid as strings; bool; date "2006-01-02"; timestamp
// "2006-01-02T15:04:05.999999999" (no zone); timestamptz RFC 3339 in UTC; bytes as a base64
// string; json embedded as is (compacted onto one line); NULL as null.
package jsonval

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"math"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/datahub-oss/datahub/connector"
	"github.com/datahub-oss/datahub/internal/format"
)

// Keys pre-encodes the object keys of a schema, each followed by ':'.
func Keys(s connector.Schema) [][]byte {
	out := make([][]byte, len(s.Columns))
	for i, c := range s.Columns {
		out[i] = append(AppendString(nil, c.Name), ':')
	}
	return out
}

// AppendObject appends row as one JSON object on one line, keys in column order.
func AppendObject(dst []byte, keys [][]byte, types []connector.Type, row []any) []byte {
	dst = append(dst, '{')
	for i, v := range row {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, keys[i]...)
		dst = AppendValue(dst, v, types[i])
	}
	return append(dst, '}')
}

// AppendValue appends v, a value of logical type t (or nil), as JSON.
func AppendValue(dst []byte, v any, t connector.Type) []byte {
	switch x := v.(type) {
	case nil:
		return append(dst, "null"...)
	case int64:
		return strconv.AppendInt(dst, x, 10)
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return AppendString(dst, connector.FormatFloat(x))
		}
		return strconv.AppendFloat(dst, x, 'g', -1, 64)
	case connector.Decimal:
		if isNumber(string(x)) {
			return append(dst, x...)
		}
		return AppendString(dst, string(x))
	case string:
		return AppendString(dst, x)
	case bool:
		return strconv.AppendBool(dst, x)
	case time.Time:
		dst = append(dst, '"')
		dst = format.AppendText(dst, v, t)
		return append(dst, '"')
	case []byte:
		dst = append(dst, '"')
		n := base64.StdEncoding.EncodedLen(len(x))
		if cap(dst)-len(dst) < n+1 {
			nd := make([]byte, len(dst), 2*cap(dst)+n+1)
			copy(nd, dst)
			dst = nd
		}
		base64.StdEncoding.Encode(dst[len(dst):len(dst)+n], x)
		dst = dst[:len(dst)+n]
		return append(dst, '"')
	case json.RawMessage:
		return appendRaw(dst, x)
	case connector.UUID:
		dst = append(dst, '"')
		dst = append(dst, x.String()...)
		return append(dst, '"')
	}
	return AppendString(dst, connector.FormatTyped(v, t))
}

// appendRaw embeds JSON text, compacted so that it stays on one line; text that is not valid
// JSON (which the engine should never pass) is written as a string instead.
func appendRaw(dst []byte, raw []byte) []byte {
	if len(raw) == 0 {
		return append(dst, "null"...)
	}
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		return AppendString(dst, string(raw))
	}
	return append(dst, b.Bytes()...)
}

// isNumber reports whether s is a JSON number.
func isNumber(s string) bool {
	i := 0
	if i < len(s) && s[i] == '-' {
		i++
	}
	digits := func() int {
		n := 0
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i, n = i+1, n+1
		}
		return n
	}
	start := i
	n := digits()
	if n == 0 || (n > 1 && s[start] == '0') {
		return false
	}
	if i < len(s) && s[i] == '.' {
		i++
		if digits() == 0 {
			return false
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if digits() == 0 {
			return false
		}
	}
	return i == len(s)
}

// safe marks the ASCII bytes a JSON string holds without escaping.
var safe = func() (t [utf8.RuneSelf]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

const hexDigits = "0123456789abcdef"

// AppendString appends s as a JSON string. Invalid UTF-8 becomes U+FFFD (as encoding/json
// does); U+2028 and U+2029 are escaped so the text is also valid JavaScript.
func AppendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if safe[c] {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
