package connector

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Decimal is an exact decimal number as text: an optional '-', digits, and optionally '.'
// and more digits ("-12.50"). It keeps every digit it was given; use ParseDecimal to make one.
type Decimal string

// UUID is a 16-byte universally unique identifier.
type UUID [16]byte

func (u UUID) String() string {
	var b [36]byte
	hex.Encode(b[0:8], u[0:4])
	b[8] = '-'
	hex.Encode(b[9:13], u[4:6])
	b[13] = '-'
	hex.Encode(b[14:18], u[6:8])
	b[18] = '-'
	hex.Encode(b[19:23], u[8:10])
	b[23] = '-'
	hex.Encode(b[24:], u[10:])
	return string(b[:])
}

// ParseUUID reads the canonical form, with or without dashes or braces, in either case.
func ParseUUID(s string) (UUID, error) {
	var u UUID
	t := strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(s), "{"), "}")
	t = strings.ReplaceAll(t, "-", "")
	if len(t) != 32 {
		return u, fmt.Errorf("invalid UUID %q", truncate(s, 40))
	}
	if _, err := hex.Decode(u[:], []byte(t)); err != nil {
		return u, fmt.Errorf("invalid UUID %q", truncate(s, 40))
	}
	return u, nil
}

// ParseDecimal validates and normalises decimal text: surrounding spaces and a leading '+'
// are dropped, an exponent ("1.5e3") is applied, and "-0" becomes "0"; every digit is kept.
func ParseDecimal(s string) (Decimal, error) {
	if canonicalDecimal(s) {
		return Decimal(s), nil // the common case on every CSV row: no allocation
	}
	t := strings.TrimSpace(s)
	bad := func() (Decimal, error) { return "", fmt.Errorf("%q is not a decimal number", truncate(s, 40)) }
	if t == "" {
		return bad()
	}
	neg := false
	switch t[0] {
	case '-':
		neg, t = true, t[1:]
	case '+':
		t = t[1:]
	}
	exp := 0
	if i := strings.IndexAny(t, "eE"); i >= 0 {
		e, err := strconv.Atoi(t[i+1:])
		if err != nil || e > 1000 || e < -1000 {
			return bad()
		}
		exp, t = e, t[:i]
	}
	intPart, frac, hasDot := strings.Cut(t, ".")
	if intPart == "" && frac == "" || (hasDot && strings.Contains(frac, ".")) {
		return bad()
	}
	for _, c := range intPart + frac {
		if c < '0' || c > '9' {
			return bad()
		}
	}
	if exp != 0 {
		digits := intPart + frac
		point := len(intPart) + exp
		switch {
		case point <= 0:
			digits = strings.Repeat("0", -point+1) + digits
			point = 1
		case point > len(digits):
			digits += strings.Repeat("0", point-len(digits))
		}
		intPart, frac = digits[:point], digits[point:]
		hasDot = frac != ""
	}
	intPart = strings.TrimLeft(intPart, "0")
	if intPart == "" {
		intPart = "0"
	}
	var b strings.Builder
	b.Grow(len(intPart) + len(frac) + 2)
	zero := strings.Trim(intPart+frac, "0") == ""
	if neg && !zero {
		b.WriteByte('-')
	}
	b.WriteString(intPart)
	if hasDot && frac != "" {
		b.WriteByte('.')
		b.WriteString(frac)
	}
	return Decimal(b.String()), nil
}

// canonicalDecimal reports whether s is already in the form ParseDecimal produces.
func canonicalDecimal(s string) bool {
	i := 0
	if i < len(s) && s[i] == '-' {
		i++
	}
	start := i
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	intDigits := i - start
	if intDigits == 0 || (intDigits > 1 && s[start] == '0') {
		return false
	}
	nonZero := intDigits > 1 || s[start] != '0'
	if i < len(s) {
		if s[i] != '.' || i+1 == len(s) {
			return false
		}
		for i++; i < len(s); i++ {
			if s[i] < '0' || s[i] > '9' {
				return false
			}
			nonZero = nonZero || s[i] != '0'
		}
	}
	return start == 0 || nonZero // "-0" and "-0.00" are spelt without the sign
}

// digits returns the count of integer digits (ignoring leading zeros) and fraction digits.
func (d Decimal) digits() (intDigits, fracDigits int) {
	s := strings.TrimPrefix(string(d), "-")
	ip, fp, _ := strings.Cut(s, ".")
	ip = strings.TrimLeft(ip, "0")
	return len(ip), len(fp)
}

// Round returns d rounded half away from zero to scale fraction digits (as SQL databases
// round a value stored into numeric(p,s)); a value with fewer digits is padded with zeros.
func (d Decimal) Round(scale int) Decimal {
	s := string(d)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	ip, fp, _ := strings.Cut(s, ".")
	if len(fp) <= scale {
		if scale == 0 {
			return d
		}
		pad := strings.Repeat("0", scale-len(fp))
		if !strings.Contains(string(d), ".") {
			pad = "." + pad
		}
		return Decimal(string(d) + pad)
	}
	roundUp := fp[scale] >= '5'
	digits := []byte(ip + fp[:scale])
	if roundUp {
		i := len(digits) - 1
		for ; i >= 0; i-- {
			if digits[i] == '9' {
				digits[i] = '0'
				continue
			}
			digits[i]++
			break
		}
		if i < 0 {
			digits = append([]byte{'1'}, digits...)
		}
	}
	n := len(digits) - scale
	out := string(digits[:n])
	if scale > 0 {
		out += "." + string(digits[n:])
	}
	if neg && strings.Trim(out, "0.") != "" {
		out = "-" + out
	}
	return Decimal(out)
}

// Float converts the decimal to the nearest float64.
func (d Decimal) Float() (float64, error) { return strconv.ParseFloat(string(d), 64) }

// ParseTimestamp reads ISO 8601 / RFC 3339 text as PostgreSQL, MySQL and spreadsheets write
// it: "2006-01-02", "2006-01-02 15:04", "2006-01-02T15:04:05.999999999", each optionally
// followed by "Z", "+07", "+0700" or "+07:00" (space before the zone allowed). hasZone says
// whether the text carried a zone; a value without one is returned in UTC.
//
// Hand-written because time.Parse needs one layout per variant and is several times slower
// on the hot path of every CSV timestamp.
func ParseTimestamp(s string) (t time.Time, hasZone bool, err error) {
	bad := func() (time.Time, bool, error) {
		return time.Time{}, false, fmt.Errorf("%q is not a timestamp (want e.g. 2006-01-02T15:04:05Z)", truncate(s, 40))
	}
	b := strings.TrimSpace(s)
	num := func(p string) (int, bool) {
		n := 0
		for i := 0; i < len(p); i++ {
			c := p[i]
			if c < '0' || c > '9' {
				return 0, false
			}
			n = n*10 + int(c-'0')
		}
		return n, len(p) > 0
	}
	if len(b) < 10 || b[4] != '-' || b[7] != '-' {
		return bad()
	}
	year, ok1 := num(b[0:4])
	month, ok2 := num(b[5:7])
	day, ok3 := num(b[8:10])
	if !ok1 || !ok2 || !ok3 || month < 1 || month > 12 || day < 1 || day > 31 {
		return bad()
	}
	rest := b[10:]
	var hh, mm, ss, nsec int
	if len(rest) > 0 && (rest[0] == 'T' || rest[0] == 't' || rest[0] == ' ') && len(rest) >= 6 && rest[3] == ':' {
		var ok bool
		if hh, ok = num(rest[1:3]); !ok || hh > 24 {
			return bad()
		}
		if mm, ok = num(rest[4:6]); !ok || mm > 59 {
			return bad()
		}
		rest = rest[6:]
		if len(rest) >= 3 && rest[0] == ':' {
			if ss, ok = num(rest[1:3]); !ok || ss > 60 {
				return bad()
			}
			rest = rest[3:]
			if len(rest) > 1 && (rest[0] == '.' || rest[0] == ',') {
				i := 1
				for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
					i++
				}
				if i == 1 {
					return bad()
				}
				frac := rest[1:i]
				if len(frac) > 9 {
					frac = frac[:9]
				}
				n, _ := num(frac)
				for k := len(frac); k < 9; k++ {
					n *= 10
				}
				nsec = n
				rest = rest[i:]
			}
		}
	}
	loc := time.UTC
	rest = strings.TrimPrefix(rest, " ")
	switch {
	case rest == "":
	case rest == "Z" || rest == "z" || rest == "UTC":
		hasZone = true
	case rest[0] == '+' || rest[0] == '-':
		z := strings.ReplaceAll(rest[1:], ":", "")
		var zh, zm int
		var ok bool
		switch len(z) {
		case 2:
			zh, ok = num(z)
		case 4:
			zh, ok = num(z[:2])
			if ok {
				zm, ok = num(z[2:])
			}
		}
		if !ok || zh > 15 || zm > 59 {
			return bad()
		}
		off := zh*3600 + zm*60
		if rest[0] == '-' {
			off = -off
		}
		hasZone = true
		if off != 0 {
			loc = time.FixedZone("", off)
		}
	default:
		return bad()
	}
	t = time.Date(year, time.Month(month), day, hh, mm, ss, nsec, loc)
	if t.Day() != day && hh != 24 {
		return bad() // February 30th and friends normalise into another month
	}
	if y := t.UTC().Year(); y < 1 || y > 9999 {
		return bad() // years outside 1..9999 have no four-digit text form to round-trip through
	}
	return t, hasZone, nil
}

// ParseBool accepts true/false, t/f, yes/no, y/n, on/off and 1/0, in any case.
func ParseBool(s string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "true", "t", "yes", "y", "on", "1":
		return true, nil
	case "false", "f", "no", "n", "off", "0":
		return false, nil
	}
	return false, fmt.Errorf("%q is not a boolean", truncate(s, 40))
}

// ParseBytes reads PostgreSQL's hex form ("\x0a1b") or standard base64.
func ParseBytes(s string) ([]byte, error) {
	if strings.HasPrefix(s, `\x`) {
		b, err := hex.DecodeString(s[2:])
		if err != nil {
			return nil, fmt.Errorf("invalid hex bytes: %w", err)
		}
		return b, nil
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("bytes must be base64 or \\x-prefixed hex: %w", err)
	}
	return b, nil
}

// Text layouts of the canonical text forms.
const (
	DateLayout        = "2006-01-02"
	TimestampLayout   = "2006-01-02T15:04:05.999999999"
	TimestampTZLayout = time.RFC3339Nano
)

// FormatText renders a value in its canonical text form: what CSV files are written with and
// what every Parse function above reads back. Timestamps with zone are written in UTC. nil
// renders as "" (callers that distinguish NULL check for nil first).
func FormatText(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case int64:
		return strconv.FormatInt(x, 10)
	case float64:
		return FormatFloat(x)
	case Decimal:
		return string(x)
	case bool:
		return strconv.FormatBool(x)
	case time.Time:
		return x.UTC().Format(TimestampTZLayout)
	case []byte:
		return base64.StdEncoding.EncodeToString(x)
	case json.RawMessage:
		return string(x)
	case UUID:
		return x.String()
	case int:
		return strconv.Itoa(x)
	case int32:
		return strconv.FormatInt(int64(x), 10)
	}
	return fmt.Sprint(v)
}

// FormatTyped renders a value in the canonical text form of column type t (dates as dates,
// timestamps without zone without one).
func FormatTyped(v any, t Type) string {
	if tm, ok := v.(time.Time); ok {
		switch t {
		case TypeDate:
			return tm.Format(DateLayout)
		case TypeTimestamp:
			return tm.Format(TimestampLayout)
		}
	}
	return FormatText(v)
}

// FormatFloat writes the shortest text that reads back as the same float64, with NaN and
// ±Infinity spelt as PostgreSQL does.
func FormatFloat(f float64) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}

// ErrNull is the reason for a NULL refused by a NOT NULL column.
var ErrNull = errors.New("NULL value in a NOT NULL column")

// Convert turns v (a value of logical type from, or nil) into a value of column to, checking
// the column's bounds: NOT NULL, string length, decimal precision (decimals are rounded to
// the scale, as databases do). The error says what was wrong with the value, not where it
// came from; callers add the record and column.
func Convert(v any, from Type, to Column) (any, error) {
	if v == nil {
		if !to.Nullable {
			return nil, ErrNull
		}
		return nil, nil
	}
	out, err := convertType(v, from, to.Type)
	if err != nil {
		return nil, err
	}
	switch to.Type {
	case TypeString:
		if to.Length > 0 {
			s := out.(string)
			if len(s) > to.Length && utf8.RuneCountInString(s) > to.Length {
				return nil, fmt.Errorf("text of %d characters is longer than the column's %d", utf8.RuneCountInString(s), to.Length)
			}
		}
	case TypeBytes:
		if to.Length > 0 && len(out.([]byte)) > to.Length {
			return nil, fmt.Errorf("%d bytes is longer than the column's %d", len(out.([]byte)), to.Length)
		}
	case TypeDecimal:
		if to.Precision > 0 {
			d := out.(Decimal).Round(to.Scale)
			if ip, _ := d.digits(); ip > to.Precision-to.Scale {
				return nil, fmt.Errorf("%s does not fit decimal(%d,%d)", string(out.(Decimal)), to.Precision, to.Scale)
			}
			out = d
		}
	}
	return out, nil
}

// convertType converts between logical types, refusing anything that would lose information
// other than the float rounding implied by asking for a float.
func convertType(v any, from, to Type) (any, error) {
	if from == to {
		return v, nil
	}
	if from == TypeString {
		return parseString(v.(string), to)
	}
	if to == TypeString {
		return FormatTyped(v, from), nil
	}
	switch to {
	case TypeInt64:
		switch x := v.(type) {
		case float64:
			if x != math.Trunc(x) || math.Abs(x) > 1<<63-1 {
				return nil, fmt.Errorf("%s is not a whole number in the int64 range", FormatFloat(x))
			}
			return int64(x), nil
		case Decimal:
			return parseString(string(x), TypeInt64)
		case bool:
			if x {
				return int64(1), nil
			}
			return int64(0), nil
		}
	case TypeFloat64:
		switch x := v.(type) {
		case int64:
			return float64(x), nil
		case Decimal:
			return x.Float()
		}
	case TypeDecimal:
		switch x := v.(type) {
		case int64:
			return Decimal(strconv.FormatInt(x, 10)), nil
		case float64:
			if math.IsNaN(x) || math.IsInf(x, 0) {
				return nil, fmt.Errorf("%s is not a decimal number", FormatFloat(x))
			}
			return ParseDecimal(strconv.FormatFloat(x, 'f', -1, 64))
		}
	case TypeBool:
		if x, ok := v.(int64); ok && (x == 0 || x == 1) {
			return x == 1, nil
		}
	case TypeDate:
		if x, ok := v.(time.Time); ok {
			if from == TypeTimestampTZ {
				x = x.UTC()
			}
			if x.Hour() != 0 || x.Minute() != 0 || x.Second() != 0 || x.Nanosecond() != 0 {
				return nil, fmt.Errorf("%s has a time of day; a date column would drop it", x.Format(TimestampLayout))
			}
			return time.Date(x.Year(), x.Month(), x.Day(), 0, 0, 0, 0, time.UTC), nil
		}
	case TypeTimestamp:
		if x, ok := v.(time.Time); ok {
			return x.UTC(), nil
		}
	case TypeTimestampTZ:
		if x, ok := v.(time.Time); ok {
			return x, nil
		}
	case TypeBytes:
		switch x := v.(type) {
		case json.RawMessage:
			return []byte(x), nil
		case UUID:
			return x[:], nil
		}
	case TypeJSON:
		switch x := v.(type) {
		case []byte:
			if json.Valid(x) {
				return json.RawMessage(x), nil
			}
		case int64, float64, bool:
			return json.RawMessage(FormatText(x)), nil
		case Decimal:
			return json.RawMessage(x), nil
		}
	case TypeUUID:
		if x, ok := v.([]byte); ok && len(x) == 16 {
			var u UUID
			copy(u[:], x)
			return u, nil
		}
	}
	return nil, fmt.Errorf("cannot convert %s %q to %s", from, truncate(FormatTyped(v, from), 40), to)
}

// parseString reads text as a value of type to.
func parseString(s string, to Type) (any, error) {
	switch to {
	case TypeString:
		return s, nil
	case TypeInt64:
		n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
		if err != nil {
			if d, derr := ParseDecimal(s); derr == nil {
				if _, fd := d.digits(); fd > 0 && strings.Trim(string(d)[strings.IndexByte(string(d), '.')+1:], "0") == "" {
					return parseString(string(d)[:strings.IndexByte(string(d), '.')], TypeInt64)
				}
			}
			return nil, fmt.Errorf("%q is not a whole number in the int64 range", truncate(s, 40))
		}
		return n, nil
	case TypeFloat64:
		t := strings.TrimSpace(s)
		switch strings.ToLower(t) {
		case "nan":
			return math.NaN(), nil
		case "infinity", "inf", "+infinity", "+inf":
			return math.Inf(1), nil
		case "-infinity", "-inf":
			return math.Inf(-1), nil
		}
		f, err := strconv.ParseFloat(t, 64)
		if err != nil {
			return nil, fmt.Errorf("%q is not a number", truncate(s, 40))
		}
		return f, nil
	case TypeDecimal:
		d, err := ParseDecimal(s)
		if err != nil {
			return nil, fmt.Errorf("%q is not a decimal number", truncate(s, 40))
		}
		return d, nil
	case TypeBool:
		return ParseBool(s)
	case TypeDate:
		t, _, err := ParseTimestamp(s)
		if err != nil {
			return nil, fmt.Errorf("%q is not a date (want YYYY-MM-DD)", truncate(s, 40))
		}
		if t.Hour() != 0 || t.Minute() != 0 || t.Second() != 0 || t.Nanosecond() != 0 {
			return nil, fmt.Errorf("%q has a time of day; a date column would drop it", truncate(s, 40))
		}
		return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC), nil
	case TypeTimestamp:
		t, zoned, err := ParseTimestamp(s)
		if err != nil {
			return nil, err
		}
		if zoned {
			t = t.UTC()
		}
		return t, nil
	case TypeTimestampTZ:
		t, _, err := ParseTimestamp(s)
		return t, err
	case TypeBytes:
		return ParseBytes(s)
	case TypeJSON:
		b := []byte(s)
		if !json.Valid(b) {
			return nil, fmt.Errorf("%q is not valid JSON", truncate(s, 40))
		}
		return json.RawMessage(b), nil
	case TypeUUID:
		return ParseUUID(s)
	}
	return nil, fmt.Errorf("cannot convert text to %s", to)
}

// Equal reports whether two values of type t are the same value (instants compare as
// instants, decimals numerically with trailing zeros ignored, floats bit-for-bit with NaN
// equal to NaN). For tests and verification.
func Equal(t Type, a, b any) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	switch t {
	case TypeDecimal:
		da, ea := ParseDecimal(FormatText(a))
		db, eb := ParseDecimal(FormatText(b))
		return ea == nil && eb == nil && trimZeros(string(da)) == trimZeros(string(db))
	case TypeFloat64:
		fa, oka := a.(float64)
		fb, okb := b.(float64)
		return oka && okb && (fa == fb || (math.IsNaN(fa) && math.IsNaN(fb)))
	case TypeDate, TypeTimestamp, TypeTimestampTZ:
		ta, oka := a.(time.Time)
		tb, okb := b.(time.Time)
		return oka && okb && ta.Equal(tb)
	case TypeBytes:
		ba, oka := a.([]byte)
		bb, okb := b.([]byte)
		return oka && okb && bytes.Equal(ba, bb)
	case TypeJSON:
		var va, vb any
		ra, _ := a.(json.RawMessage)
		rb, _ := b.(json.RawMessage)
		if json.Unmarshal(ra, &va) != nil || json.Unmarshal(rb, &vb) != nil {
			return false
		}
		ja, _ := json.Marshal(va)
		jb, _ := json.Marshal(vb)
		return bytes.Equal(ja, jb)
	}
	return a == b
}

func trimZeros(s string) string {
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	if s == "-0" {
		return "0"
	}
	return s
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
