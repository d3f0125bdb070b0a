package postgres

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgtype"

	"github.com/datahub-oss/datahub/connector"
)

// This file writes PostgreSQL's binary COPY format for the generic write path: the hub encodes
// each value in the column's binary wire form, so the server skips parsing text (numeric_in,
// timestamptz_in and the text COPY field splitter are most of its CPU on a load). A table with
// a column this file has no encoder for takes text COPY instead (see binaryColumns).

// binaryHeader opens a binary COPY stream: signature, flags (no OIDs), header extension length.
var binaryHeader = []byte("PGCOPY\n\xff\r\n\x00\x00\x00\x00\x00\x00\x00\x00\x00")

// binaryTrailer ends it: a field count of -1.
var binaryTrailer = []byte{0xff, 0xff}

// binEncode appends v's binary form (without its length word) for column c.
type binEncode func(b []byte, v any, c *binColumn) ([]byte, error)

// binColumn is one target column of a binary COPY.
type binColumn struct {
	name   string
	typ    connector.Type // the logical type the engine converts values to
	pgType string         // as PostgreSQL names it in messages ("integer", "numeric")
	enc    binEncode
}

// binaryColumns returns the encoders for cols, or nil when one of them has none: that table
// is written with text COPY, whose form every type has.
func binaryColumns(cols []pgColumn) []binColumn {
	out := make([]binColumn, len(cols))
	for i, c := range cols {
		enc, name := binaryEncoder(c)
		if enc == nil {
			return nil
		}
		out[i] = binColumn{name: c.Name, typ: c.logical().Type, pgType: name, enc: enc}
	}
	return out
}

// binaryEncoder picks the encoder of a column's (base) type and the type's name in messages.
// Types whose text input does more than their binary input are left out: name (truncates
// long text, namerecv refuses it), and every type without a logical counterpart (interval,
// inet, arrays, enums, ...), which travels as text.
func binaryEncoder(c pgColumn) (binEncode, string) {
	switch c.OID {
	case pgtype.Int2OID:
		return encodeInt2, "smallint"
	case pgtype.Int4OID:
		return encodeInt4, "integer"
	case pgtype.Int8OID:
		return encodeInt8, "bigint"
	case pgtype.OIDOID:
		return encodeOID, "oid"
	case pgtype.Float4OID:
		return encodeFloat4, "real"
	case pgtype.Float8OID:
		return encodeFloat8, "double precision"
	case pgtype.NumericOID:
		return encodeNumeric, "numeric"
	case pgtype.BoolOID:
		return encodeBool, "boolean"
	case pgtype.TextOID, pgtype.VarcharOID, pgtype.BPCharOID:
		return encodeText, "text"
	case pgtype.ByteaOID:
		return encodeBytea, "bytea"
	case pgtype.DateOID:
		return encodeDate, "date"
	case pgtype.TimestampOID:
		return encodeTimestamp, "timestamp without time zone"
	case pgtype.TimestamptzOID:
		return encodeTimestamptz, "timestamp with time zone"
	case pgtype.UUIDOID:
		return encodeUUID, "uuid"
	case pgtype.JSONOID:
		return encodeJSON, "json"
	case pgtype.JSONBOID:
		return encodeJSONB, "jsonb"
	}
	if c.TypName == "citext" {
		return encodeText, "citext" // citext's binary form is text's
	}
	return nil, ""
}

// asText is v as the text COPY path would send it, unescaped: what the server's input
// function would read. It serves values whose Go type an encoder does not expect, so those
// are written as the text path would write them.
func asText(scratch []byte, v any, t connector.Type) []byte {
	esc := appendValue(nil, v, t)
	return unescapeCopy(scratch, esc)
}

// viaText encodes a value of an unexpected Go type by reading its text form as the column's
// logical type, as the server would read the text path's field.
func viaText(b []byte, v any, c *binColumn) ([]byte, error) {
	txt := asText(nil, v, c.typ)
	pv, err := parseValue(txt, c.typ)
	if err != nil || pv == nil || sameGoType(pv, v) {
		return b, fmt.Errorf("invalid input syntax for type %s: %q", c.pgType, truncate(string(txt), 200))
	}
	return c.enc(b, pv, c)
}

// sameGoType guards viaText against looping on a value it cannot change.
func sameGoType(a, b any) bool { return fmt.Sprintf("%T", a) == fmt.Sprintf("%T", b) }

func intValue(v any) (int64, bool) {
	switch x := v.(type) {
	case int64:
		return x, true
	case int:
		return int64(x), true
	case int32:
		return int64(x), true
	}
	return 0, false
}

func outOfRange(n int64, c *binColumn) error {
	return fmt.Errorf("value \"%d\" is out of range for type %s", n, c.pgType)
}

func encodeInt2(b []byte, v any, c *binColumn) ([]byte, error) {
	n, ok := intValue(v)
	if !ok {
		return viaText(b, v, c)
	}
	if n < math.MinInt16 || n > math.MaxInt16 {
		return b, outOfRange(n, c)
	}
	return binary.BigEndian.AppendUint16(b, uint16(n)), nil //nolint:gosec // checked to be in int16's range: the bits are its two's complement
}

func encodeInt4(b []byte, v any, c *binColumn) ([]byte, error) {
	n, ok := intValue(v)
	if !ok {
		return viaText(b, v, c)
	}
	if n < math.MinInt32 || n > math.MaxInt32 {
		return b, outOfRange(n, c)
	}
	return binary.BigEndian.AppendUint32(b, uint32(n)), nil //nolint:gosec // checked to be in int32's range: the bits are its two's complement
}

func encodeInt8(b []byte, v any, c *binColumn) ([]byte, error) {
	n, ok := intValue(v)
	if !ok {
		return viaText(b, v, c)
	}
	return binary.BigEndian.AppendUint64(b, uint64(n)), nil //nolint:gosec // int8's wire form is the two's complement bits
}

// encodeOID takes what oidin takes: -2147483648 to 4294967295, negatives wrapping around.
func encodeOID(b []byte, v any, c *binColumn) ([]byte, error) {
	n, ok := intValue(v)
	if !ok {
		return viaText(b, v, c)
	}
	if n < math.MinInt32 || n > math.MaxUint32 {
		return b, outOfRange(n, c)
	}
	return binary.BigEndian.AppendUint32(b, uint32(n)), nil
}

func encodeFloat8(b []byte, v any, c *binColumn) ([]byte, error) {
	f, ok := v.(float64)
	if !ok {
		return viaText(b, v, c)
	}
	return binary.BigEndian.AppendUint64(b, math.Float64bits(f)), nil
}

// encodeFloat4 rounds the float64's shortest text to float32, as float4in's strtof does with
// the text path's field (rounding the float64 itself could differ by double rounding), and
// refuses what float4in refuses: overflow, and underflow to zero.
func encodeFloat4(b []byte, v any, c *binColumn) ([]byte, error) {
	f, ok := v.(float64)
	if !ok {
		return viaText(b, v, c)
	}
	f32 := float32(f)
	if !math.IsNaN(f) && !math.IsInf(f, 0) {
		var tmp [32]byte
		txt := appendFloat(tmp[:0], f)
		r, err := strconv.ParseFloat(string(txt), 32)
		if err != nil || (r == 0 && f != 0) {
			return b, fmt.Errorf("%q is out of range for type real", txt)
		}
		f32 = float32(r)
	}
	return binary.BigEndian.AppendUint32(b, math.Float32bits(f32)), nil
}

func encodeBool(b []byte, v any, c *binColumn) ([]byte, error) {
	x, ok := v.(bool)
	if !ok {
		return viaText(b, v, c)
	}
	if x {
		return append(b, 1), nil
	}
	return append(b, 0), nil
}

// encodeText sends a string's bytes; any other value goes as the text the text path sends.
func encodeText(b []byte, v any, c *binColumn) ([]byte, error) {
	if s, ok := v.(string); ok {
		return append(b, s...), nil
	}
	return asText(b, v, c.typ), nil
}

func encodeBytea(b []byte, v any, c *binColumn) ([]byte, error) {
	x, ok := v.([]byte)
	if !ok {
		return viaText(b, v, c)
	}
	return append(b, x...), nil
}

func encodeUUID(b []byte, v any, c *binColumn) ([]byte, error) {
	u, ok := v.(connector.UUID)
	if !ok {
		return viaText(b, v, c)
	}
	return append(b, u[:]...), nil
}

// encodeJSON sends the document's text; json_recv validates it as json_in does.
func encodeJSON(b []byte, v any, c *binColumn) ([]byte, error) {
	if j, ok := v.(json.RawMessage); ok {
		return append(b, j...), nil
	}
	return asText(b, v, c.typ), nil
}

// encodeJSONB is json's text after jsonb's format version, 1.
func encodeJSONB(b []byte, v any, c *binColumn) ([]byte, error) {
	return encodeJSON(append(b, 1), v, c)
}

// PostgreSQL counts dates and timestamps from 2000-01-01.
const (
	pgEpochUnix = 946684800
	pgEpochDays = pgEpochUnix / 86400
	// beyond this many seconds from 2000 a timestamp's microseconds overflow int64
	// (PostgreSQL's own range, 4714 BC to 294276 AD, ends a little before)
	maxMicroSeconds = math.MaxInt64/1_000_000 - 1
)

// wallSeconds is t's wall clock in its own location, as seconds since the Unix epoch: the
// text path writes dates and zoneless timestamps that way.
func wallSeconds(t time.Time) int64 {
	if t.Location() == time.UTC {
		return t.Unix()
	}
	_, off := t.Zone()
	return t.Unix() + int64(off)
}

// micros is seconds and nanoseconds as PostgreSQL microseconds. A fraction finer than a
// microsecond is rounded as timestamp_in rounds the text path's fraction: rint(strtod(frac) *
// 1e6), and float64(ns)/1e9 is exactly the double strtod reads from the text's digits.
func micros(sec int64, ns int) (int64, error) {
	sec -= pgEpochUnix
	if sec > maxMicroSeconds || sec < -maxMicroSeconds {
		return 0, errors.New("timestamp out of range")
	}
	us := int64(ns / 1000)
	if ns%1000 != 0 {
		us = int64(math.RoundToEven(float64(ns) / 1e9 * 1e6))
	}
	return sec*1_000_000 + us, nil
}

func encodeTimestamptz(b []byte, v any, c *binColumn) ([]byte, error) {
	t, ok := v.(time.Time)
	if !ok {
		return viaText(b, v, c)
	}
	us, err := micros(t.Unix(), t.Nanosecond())
	if err != nil {
		return b, err
	}
	return binary.BigEndian.AppendUint64(b, uint64(us)), nil //nolint:gosec // timestamp's wire form is the two's complement bits (range checked in micros)
}

func encodeTimestamp(b []byte, v any, c *binColumn) ([]byte, error) {
	t, ok := v.(time.Time)
	if !ok {
		return viaText(b, v, c)
	}
	us, err := micros(wallSeconds(t), t.Nanosecond())
	if err != nil {
		return b, err
	}
	return binary.BigEndian.AppendUint64(b, uint64(us)), nil //nolint:gosec // timestamp's wire form is the two's complement bits (range checked in micros)
}

// encodeDate sends the day of t's wall clock, as the text path's YYYY-MM-DD does.
func encodeDate(b []byte, v any, c *binColumn) ([]byte, error) {
	t, ok := v.(time.Time)
	if !ok {
		return viaText(b, v, c)
	}
	sec := wallSeconds(t)
	days := sec / 86400
	if sec%86400 < 0 {
		days--
	}
	days -= pgEpochDays
	if days < math.MinInt32 || days > math.MaxInt32 {
		return b, errors.New("date out of range")
	}
	return binary.BigEndian.AppendUint32(b, uint32(int32(days))), nil //nolint:gosec // checked to be in int32's range: the bits are its two's complement
}

// numeric's binary form: digit count, weight (of the first base-10000 digit), sign, display
// scale, then the base-10000 digits.
const (
	numericPos      = 0x0000
	numericNeg      = 0x4000
	numericMaxScale = 0x3fff
)

func encodeNumeric(b []byte, v any, c *binColumn) ([]byte, error) {
	var s string
	switch x := v.(type) {
	case connector.Decimal:
		s = string(x)
	case string:
		s = x
	default:
		return viaText(b, v, c)
	}
	out, ok := appendNumeric(b, s)
	if ok {
		return out, nil
	}
	// Not in Decimal's plain form ("1e3", " 7", "+1"): normalise as the engine would.
	d, err := connector.ParseDecimal(s)
	if err != nil {
		return b, fmt.Errorf("invalid input syntax for type numeric: %q", truncate(s, 200))
	}
	if out, ok = appendNumeric(b, string(d)); !ok {
		return b, errors.New("value overflows numeric format")
	}
	return out, nil
}

// appendNumeric appends decimal text of the form -?digits(.digits)? in numeric's binary form,
// straight from the text's digits to base-10000 ones; false when s has another form or
// numeric cannot hold it.
func appendNumeric(b []byte, s string) ([]byte, bool) {
	sign := uint16(numericPos)
	if len(s) > 0 && s[0] == '-' {
		sign, s = numericNeg, s[1:]
	}
	ip, fp := s, ""
	if i := strings.IndexByte(s, '.'); i >= 0 {
		ip, fp = s[:i], s[i+1:]
		if len(fp) == 0 {
			return b, false
		}
	}
	if len(ip) == 0 || !allDigits(ip) || !allDigits(fp) || len(fp) > numericMaxScale {
		return b, false
	}
	for len(ip) > 1 && ip[0] == '0' {
		ip = ip[1:]
	}
	if ip == "0" {
		ip = ""
	}
	intGroups, fracGroups := (len(ip)+3)/4, (len(fp)+3)/4
	if intGroups > math.MaxInt16+1 {
		return b, false
	}
	head := len(b)
	b = append(b, 0, 0, 0, 0, 0, 0, 0, 0)
	digits := len(b)
	// Integer digits, right-aligned on the point: the first group takes what is left over.
	lead := len(ip) - 4*(intGroups-1)
	for g := range intGroups {
		start, end := 0, lead
		if g > 0 {
			start, end = lead+4*(g-1), lead+4*g
		}
		b = binary.BigEndian.AppendUint16(b, uint16(groupValue(ip[start:end], false))) //nolint:gosec // four decimal digits: below 10000
	}
	// Fraction digits, left-aligned: the last group is padded with zeros on the right.
	for g := range fracGroups {
		b = binary.BigEndian.AppendUint16(b, uint16(groupValue(fp[4*g:min(4*g+4, len(fp))], true))) //nolint:gosec // four decimal digits: below 10000
	}
	// Drop zero groups at both ends: the first kept group sets the weight.
	first, last := digits, len(b)
	for first < last && b[first] == 0 && b[first+1] == 0 {
		first += 2
	}
	for last > first && b[last-2] == 0 && b[last-1] == 0 {
		last -= 2
	}
	n := (last - first) / 2
	weight := intGroups - 1 - (first-digits)/2
	if n == 0 {
		sign, weight = numericPos, 0
	}
	copy(b[digits:], b[first:last])
	b = b[:digits+2*n]
	binary.BigEndian.PutUint16(b[head:], uint16(n)) //nolint:gosec // at most 32768 + 4096 groups (lengths checked above)
	binary.BigEndian.PutUint16(b[head+2:], uint16(int16(weight)))
	binary.BigEndian.PutUint16(b[head+4:], sign)
	binary.BigEndian.PutUint16(b[head+6:], uint16(len(fp))) //nolint:gosec // at most numericMaxScale, checked above
	return b, true
}

// groupValue reads up to four decimal digits; pad scales a short fraction group up.
func groupValue(d string, pad bool) int {
	v := 0
	for i := 0; i < len(d); i++ {
		v = v*10 + int(d[i]-'0')
	}
	if pad {
		for i := len(d); i < 4; i++ {
			v *= 10
		}
	}
	return v
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// binaryRows encodes rows as binary COPY data as CopyFrom reads it, like rowReader does text,
// so encoding overlaps the server's work on what was already sent. A value that cannot be
// encoded makes its row a reject (once per batch, however often the row is tried again) and
// the row is left out of the stream; sentRows then says which rows the lines of the server's
// errors count.
type binaryRows struct {
	cols    []binColumn
	rows    [][]any
	idx     []int // rows to encode; nil means all
	next    int
	buf     []byte
	off     int
	sent    int64 // bytes handed out since reset
	state   int   // 0: header not yet sent, 1: rows, 2: trailer sent
	skipped bool  // a row of this attempt was left out
	bad     []bool
	rejects *connector.RecordErrors
}

// begin starts a batch of n rows, whose encoding rejects go to rejects.
func (r *binaryRows) begin(n int, rejects *connector.RecordErrors) {
	r.bad = append(r.bad[:0], make([]bool, n)...)
	r.rejects = rejects
}

// reset starts an attempt at rows[idx] (all rows when idx is nil).
func (r *binaryRows) reset(rows [][]any, idx []int) {
	r.rows, r.idx, r.next, r.buf, r.off, r.sent, r.state, r.skipped = rows, idx, 0, r.buf[:0], 0, 0, 0, false
}

// sentRows is idx without the rows the attempt left out (all rows when idx is nil and none
// was); rows the attempt did not reach stay in.
func (r *binaryRows) sentRows(idx []int) []int {
	if !r.skipped {
		return idx
	}
	out := make([]int, 0, len(r.rows))
	if idx == nil {
		for i := range r.rows {
			if !r.bad[i] {
				out = append(out, i)
			}
		}
		return out
	}
	for _, i := range idx {
		if !r.bad[i] {
			out = append(out, i)
		}
	}
	return out
}

func (r *binaryRows) Read(p []byte) (int, error) {
	if r.off == len(r.buf) {
		r.buf, r.off = r.buf[:0], 0
		if r.state == 0 {
			r.buf = append(r.buf, binaryHeader...)
			r.state = 1
		}
		n := len(r.rows)
		if r.idx != nil {
			n = len(r.idx)
		}
		for r.next < n && len(r.buf) < len(p) {
			i := r.next
			if r.idx != nil {
				i = r.idx[r.next]
			}
			r.next++
			if r.bad[i] {
				r.skipped = true
				continue
			}
			var err error
			if r.buf, err = r.appendRow(r.buf, i); err != nil {
				r.bad[i], r.skipped = true, true
			}
		}
		if r.next == n && r.state == 1 && len(r.buf) < len(p) {
			r.buf = append(r.buf, binaryTrailer...)
			r.state = 2
		}
		if len(r.buf) == 0 {
			return 0, io.EOF
		}
	}
	n := copy(p, r.buf[r.off:])
	r.off += n
	r.sent += int64(n)
	return n, nil
}

// appendRow appends row i as one binary COPY tuple; on an encoding error b is returned as it
// was and the row's reject recorded.
func (r *binaryRows) appendRow(b []byte, i int) ([]byte, error) {
	start := len(b)
	row := r.rows[i]
	b = binary.BigEndian.AppendUint16(b, uint16(len(row))) //nolint:gosec // the table's column count (PostgreSQL allows 1600)
	for j, v := range row {
		if v == nil {
			b = binary.BigEndian.AppendUint32(b, math.MaxUint32) // -1: NULL
			continue
		}
		at := len(b)
		b = append(b, 0, 0, 0, 0)
		c := &r.cols[j]
		var err error
		if b, err = c.enc(b, v, c); err != nil {
			*r.rejects = append(*r.rejects, connector.RecordError{Index: i, Column: c.name, Err: err})
			return b[:start], err
		}
		if len(b)-at-4 > math.MaxInt32 {
			err = fmt.Errorf("a value of %d bytes is more than a COPY field can hold", len(b)-at-4)
			*r.rejects = append(*r.rejects, connector.RecordError{Index: i, Column: c.name, Err: err})
			return b[:start], err
		}
		binary.BigEndian.PutUint32(b[at:], uint32(len(b)-at-4)) //nolint:gosec // checked against MaxInt32 above
	}
	return b, nil
}
