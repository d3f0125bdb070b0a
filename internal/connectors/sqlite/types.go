package sqlite

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/datahub-oss/datahub/connector"
)

// How each logical type is declared and stored in tables the sink creates. Every declared
// type is chosen for the column affinity it gets (SQLite derives affinity from the declared
// name: "INT" → INTEGER, "CHAR"/"CLOB"/"TEXT" → TEXT, "BLOB" → BLOB, "REAL"/"FLOA"/"DOUB" →
// REAL, anything else NUMERIC), so that SQLite never converts what we store:
//
//	int64        INTEGER                 integer
//	float64      REAL                    real; NaN as the text 'NaN' (SQLite stores a NaN real as NULL)
//	decimal      DECIMAL_TEXT(p,s)       text, every digit: TEXT affinity, since NUMERIC affinity
//	                                     would turn '99999999.9999999' into a lossy real
//	string       TEXT or VARCHAR(n)      text (SQLite does not enforce n; the engine does)
//	bool         BOOLEAN                 integer 0 or 1
//	date         DATE                    text 'YYYY-MM-DD'
//	timestamp    DATETIME                text 'YYYY-MM-DD HH:MM:SS.nnnnnnnnn' (as SQLite's datetime()
//	                                     writes it, plus a fixed 9-digit fraction: nanoseconds kept)
//	timestamptz  TIMESTAMPTZ             text 'YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ', RFC 3339 in UTC
//	bytes        BLOB or BLOB(n)         blob
//	json         JSON_TEXT               text: TEXT affinity, or the JSON text 123 would become an integer
//	uuid         UUID_TEXT               text, canonical lowercase
//
// Fixed-width date and time text sorts in time order, so ORDER BY and comparisons with
// datetime() work. Years outside 0000..9999 cannot be written that way and are refused.
const (
	tsLayout   = "2006-01-02 15:04:05.000000000"
	tstzLayout = "2006-01-02T15:04:05.000000000Z"
)

// declaredType is the declared type the sink creates a column of logical type c with.
func declaredType(c connector.Column) string {
	switch c.Type {
	case connector.TypeInt64:
		return "INTEGER"
	case connector.TypeFloat64:
		return "REAL"
	case connector.TypeDecimal:
		if c.Precision > 0 {
			return fmt.Sprintf("DECIMAL_TEXT(%d,%d)", c.Precision, c.Scale)
		}
		return "DECIMAL_TEXT"
	case connector.TypeString:
		if c.Length > 0 {
			return fmt.Sprintf("VARCHAR(%d)", c.Length)
		}
		return "TEXT"
	case connector.TypeBool:
		return "BOOLEAN"
	case connector.TypeDate:
		return "DATE"
	case connector.TypeTimestamp:
		return "DATETIME"
	case connector.TypeTimestampTZ:
		return "TIMESTAMPTZ"
	case connector.TypeBytes:
		if c.Length > 0 {
			return fmt.Sprintf("BLOB(%d)", c.Length)
		}
		return "BLOB"
	case connector.TypeJSON:
		return "JSON_TEXT"
	case connector.TypeUUID:
		return "UUID_TEXT"
	}
	return ""
}

// affinity is SQLite's column affinity for a declared type (https://sqlite.org/datatype3.html §3.1).
type affinity uint8

const (
	affNumeric affinity = iota
	affInteger
	affText
	affBlob
	affReal
)

func affinityOf(decl string) affinity {
	d := strings.ToUpper(decl)
	switch {
	case strings.Contains(d, "INT"):
		return affInteger
	case strings.Contains(d, "CHAR"), strings.Contains(d, "CLOB"), strings.Contains(d, "TEXT"):
		return affText
	case strings.Contains(d, "BLOB"), strings.TrimSpace(d) == "":
		return affBlob
	case strings.Contains(d, "REAL"), strings.Contains(d, "FLOA"), strings.Contains(d, "DOUB"):
		return affReal
	}
	return affNumeric
}

// logicalType reads a declared type: ours, and the spellings other applications use. ok is
// false for an empty declared type, whose values can be anything.
func logicalType(decl string) (c connector.Column, ok bool) {
	d := strings.ToUpper(strings.Join(strings.Fields(decl), " "))
	if d == "" || d == "ANY" { // ANY: a STRICT table's column that keeps any value as given
		return c, false
	}
	c.Native = decl
	base, args := d, []int(nil)
	if i := strings.IndexByte(d, '('); i >= 0 {
		base = strings.TrimSpace(d[:i])
		inner, _, _ := strings.Cut(d[i+1:], ")")
		for _, a := range strings.Split(inner, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(a))
			if err != nil {
				args = nil
				break
			}
			args = append(args, n)
		}
	}
	arg := func(i int) int {
		if i < len(args) && args[i] > 0 {
			return args[i]
		}
		return 0
	}
	decimal := func() connector.Column {
		c.Type = connector.TypeDecimal
		c.Precision = arg(0)
		if c.Precision > 0 && len(args) > 1 && args[1] >= 0 && args[1] <= c.Precision {
			c.Scale = args[1]
		}
		return c
	}
	switch base {
	case "INTEGER", "INT", "BIGINT", "SMALLINT", "TINYINT", "MEDIUMINT", "INT2", "INT4", "INT8",
		"UNSIGNED BIG INT", "BIGINT UNSIGNED", "INT UNSIGNED", "INTEGER UNSIGNED", "LONG", "SERIAL", "BIGSERIAL":
		c.Type = connector.TypeInt64
	case "REAL", "DOUBLE", "DOUBLE PRECISION", "FLOAT", "FLOAT4", "FLOAT8":
		c.Type = connector.TypeFloat64
	case "DECIMAL_TEXT", "DECIMAL", "NUMERIC", "NUMBER", "DEC", "MONEY":
		return decimal(), true
	case "TEXT", "VARCHAR", "CHAR", "CHARACTER", "NCHAR", "NVARCHAR", "VARYING CHARACTER",
		"NATIVE CHARACTER", "CHARACTER VARYING", "CLOB", "STRING", "TINYTEXT", "MEDIUMTEXT", "LONGTEXT",
		"VARCHAR2", "NVARCHAR2", "CITEXT", "NAME":
		c.Type = connector.TypeString
		c.Length = arg(0)
	case "BOOLEAN", "BOOL", "BIT":
		c.Type = connector.TypeBool
	case "DATE":
		c.Type = connector.TypeDate
	case "DATETIME", "TIMESTAMP", "TIMESTAMP WITHOUT TIME ZONE", "DATETIME2", "SMALLDATETIME":
		c.Type = connector.TypeTimestamp
	case "TIMESTAMPTZ", "TIMESTAMP WITH TIME ZONE", "DATETIMEOFFSET", "TIMESTAMPTZ_TEXT":
		c.Type = connector.TypeTimestampTZ
	case "BLOB", "BYTEA", "BINARY", "VARBINARY", "LONGBLOB", "MEDIUMBLOB", "TINYBLOB", "IMAGE", "RAW":
		c.Type = connector.TypeBytes
		c.Length = arg(0)
	case "JSON", "JSONB", "JSON_TEXT":
		c.Type = connector.TypeJSON
	case "UUID", "UUID_TEXT", "GUID", "UNIQUEIDENTIFIER":
		c.Type = connector.TypeUUID
	default:
		// Anything else: by the words it contains, then by SQLite's affinity rules.
		switch {
		case strings.Contains(d, "TIMESTAMPTZ"), strings.Contains(d, "WITH TIME ZONE"), strings.Contains(d, "TIMEZONE"):
			c.Type = connector.TypeTimestampTZ
		case strings.Contains(d, "DATETIME"), strings.Contains(d, "TIMESTAMP"):
			c.Type = connector.TypeTimestamp
		case strings.Contains(d, "BOOL"):
			c.Type = connector.TypeBool
		case strings.Contains(d, "UUID"):
			c.Type = connector.TypeUUID
		case strings.Contains(d, "JSON"):
			c.Type = connector.TypeJSON
		case strings.Contains(d, "DECIMAL"), strings.Contains(d, "NUMERIC"):
			return decimal(), true
		default:
			switch affinityOf(d) {
			case affInteger:
				c.Type = connector.TypeInt64
			case affText:
				c.Type = connector.TypeString
				c.Length = arg(0)
			case affBlob:
				c.Type = connector.TypeBytes
			case affReal:
				c.Type = connector.TypeFloat64
			default:
				return decimal(), true
			}
		}
	}
	return c, true
}

// storageType guesses the logical type of values without a declared type from the storage
// classes seen (counts of integer, real, text and blob values).
func storageType(ints, reals, texts, blobs int) connector.Type {
	switch {
	case texts > 0 && blobs == 0 && ints+reals == 0:
		return connector.TypeString
	case blobs > 0 && texts+ints+reals == 0:
		return connector.TypeBytes
	case ints > 0 && reals+texts+blobs == 0:
		return connector.TypeInt64
	case ints+reals > 0 && texts+blobs == 0:
		return connector.TypeFloat64
	}
	return connector.TypeString
}

// encoder turns a value of the column's logical type into what is bound to the statement.
type encoder func(v any) (any, error)

// encoderFor returns the encoder of column c. aff is the target column's affinity: a
// decimal bound into a NUMERIC column (someone else's table) is converted by SQLite to a real
// keeping 15 significant digits, so a longer one is refused rather than silently rounded.
func encoderFor(c connector.Column, aff affinity) encoder {
	notNull := !c.Nullable
	wrap := func(f func(v any) (any, error)) encoder {
		return func(v any) (any, error) {
			if v == nil {
				if notNull {
					return nil, connector.ErrNull
				}
				return nil, nil
			}
			return f(v)
		}
	}
	switch c.Type {
	case connector.TypeInt64:
		return wrap(func(v any) (any, error) {
			switch x := v.(type) {
			case int64:
				return x, nil
			case int:
				return int64(x), nil
			case int32:
				return int64(x), nil
			}
			return nil, typeErr(v, c.Type)
		})
	case connector.TypeFloat64:
		return wrap(func(v any) (any, error) {
			switch x := v.(type) {
			case float64:
				if math.IsNaN(x) {
					return "NaN", nil
				}
				return x, nil
			case float32:
				return float64(x), nil
			}
			return nil, typeErr(v, c.Type)
		})
	case connector.TypeDecimal:
		return wrap(func(v any) (any, error) {
			var s string
			switch x := v.(type) {
			case connector.Decimal:
				s = string(x)
			case string:
				d, err := connector.ParseDecimal(x)
				if err != nil {
					return nil, err
				}
				s = string(d)
			default:
				return nil, typeErr(v, c.Type)
			}
			if aff == affNumeric || aff == affReal {
				// An integer that fits int64 is stored as an exact integer.
				if _, err := strconv.ParseInt(s, 10, 64); err != nil && significantDigits(s) > 15 {
					n := significantDigits(s)
					return nil, fmt.Errorf("%s has %d significant digits; the column's numeric affinity would keep 15 (declare it DECIMAL_TEXT to keep every digit)", s, n)
				}
			}
			return s, nil
		})
	case connector.TypeString:
		return wrap(func(v any) (any, error) {
			if x, ok := v.(string); ok {
				return x, nil
			}
			return nil, typeErr(v, c.Type)
		})
	case connector.TypeBool:
		return wrap(func(v any) (any, error) {
			if x, ok := v.(bool); ok {
				if x {
					return int64(1), nil
				}
				return int64(0), nil
			}
			return nil, typeErr(v, c.Type)
		})
	case connector.TypeDate, connector.TypeTimestamp, connector.TypeTimestampTZ:
		typ := c.Type
		return wrap(func(v any) (any, error) {
			t, ok := v.(time.Time)
			if !ok {
				return nil, typeErr(v, typ)
			}
			return formatTime(t, typ)
		})
	case connector.TypeBytes:
		return wrap(func(v any) (any, error) {
			switch x := v.(type) {
			case []byte:
				if x == nil {
					return []byte{}, nil // a nil slice binds as NULL
				}
				return x, nil
			case json.RawMessage:
				return []byte(x), nil
			}
			return nil, typeErr(v, c.Type)
		})
	case connector.TypeJSON:
		return wrap(func(v any) (any, error) {
			switch x := v.(type) {
			case json.RawMessage:
				return string(x), nil
			case []byte:
				return string(x), nil
			case string:
				return x, nil
			}
			return nil, typeErr(v, c.Type)
		})
	case connector.TypeUUID:
		return wrap(func(v any) (any, error) {
			switch x := v.(type) {
			case connector.UUID:
				return x.String(), nil
			case [16]byte:
				return connector.UUID(x).String(), nil
			}
			return nil, typeErr(v, c.Type)
		})
	}
	return func(any) (any, error) { return nil, fmt.Errorf("column type %s is not supported", c.Type) }
}

func typeErr(v any, t connector.Type) error {
	return fmt.Errorf("a %T value cannot be written to a %s column", v, t)
}

// formatTime renders a date or time in its fixed-width stored text.
func formatTime(t time.Time, typ connector.Type) (string, error) {
	if typ == connector.TypeTimestampTZ {
		t = t.UTC()
	} // a date or timestamp is a wall clock (UTC by contract): written as it reads
	if y := t.Year(); y < 0 || y > 9999 {
		return "", fmt.Errorf("year %d is outside 0000..9999, which SQLite's date text cannot hold", y)
	}
	var buf [40]byte
	switch typ {
	case connector.TypeDate:
		return string(t.AppendFormat(buf[:0], connector.DateLayout)), nil
	case connector.TypeTimestamp:
		return string(t.AppendFormat(buf[:0], tsLayout)), nil
	}
	return string(t.AppendFormat(buf[:0], tstzLayout)), nil
}

// significantDigits counts the digits of decimal text from the first non-zero one to the
// last non-zero one.
func significantDigits(s string) int {
	digits := strings.Trim(strings.Replace(strings.TrimPrefix(s, "-"), ".", "", 1), "0")
	return len(digits)
}

// decoder turns a value as the driver returns it (nil, int64, float64, string, []byte, or
// time.Time for some declared types of query columns) into a value of the column's logical type.
type decoder func(v any) (any, error)

func decoderFor(t connector.Type) decoder {
	switch t {
	case connector.TypeInt64:
		return decodeInt
	case connector.TypeFloat64:
		return decodeFloat
	case connector.TypeDecimal:
		return decodeDecimal
	case connector.TypeString:
		return decodeString
	case connector.TypeBool:
		return decodeBool
	case connector.TypeDate:
		return decodeDate
	case connector.TypeTimestamp:
		return decodeTimestamp
	case connector.TypeTimestampTZ:
		return decodeTimestampTZ
	case connector.TypeBytes:
		return decodeBytes
	case connector.TypeJSON:
		return decodeJSON
	case connector.TypeUUID:
		return decodeUUID
	}
	return func(v any) (any, error) { return nil, fmt.Errorf("type %s is not supported", t) }
}

func storedErr(v any, t connector.Type) error {
	kind := "text"
	switch v.(type) {
	case int64:
		kind = "integer"
	case float64:
		kind = "real"
	case []byte:
		kind = "blob"
	case time.Time:
		kind = "time"
	}
	s := storedText(v)
	if len(s) > 40 {
		s = s[:40] + "…"
	}
	return fmt.Errorf("stored %s %q is not a %s", kind, s, t)
}

// storedText renders a stored value for messages and rejects.
func storedText(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case []byte:
		if utf8.Valid(x) {
			return string(x)
		}
		return `\x` + fmt.Sprintf("%x", x)
	case float64:
		return connector.FormatFloat(x)
	case time.Time:
		return x.Format(time.RFC3339Nano)
	}
	return connector.FormatText(v)
}

func decodeInt(v any) (any, error) {
	switch x := v.(type) {
	case nil:
		return nil, nil
	case int64:
		return x, nil
	case float64:
		if x == math.Trunc(x) && x >= -(1<<63) && x < 1<<63 {
			return int64(x), nil
		}
	case string:
		if n, err := strconv.ParseInt(strings.TrimSpace(x), 10, 64); err == nil {
			return n, nil
		}
		if d, err := connector.ParseDecimal(x); err == nil {
			ip, frac, _ := strings.Cut(string(d), ".")
			if strings.Trim(frac, "0") == "" {
				if n, err := strconv.ParseInt(ip, 10, 64); err == nil {
					return n, nil
				}
			}
		}
	}
	return nil, storedErr(v, connector.TypeInt64)
}

func decodeFloat(v any) (any, error) {
	switch x := v.(type) {
	case nil:
		return nil, nil
	case float64:
		return x, nil
	case int64:
		return float64(x), nil
	case string:
		if f, err := connector.Convert(x, connector.TypeString, connector.Column{Type: connector.TypeFloat64}); err == nil {
			return f, nil
		}
	}
	return nil, storedErr(v, connector.TypeFloat64)
}

func decodeDecimal(v any) (any, error) {
	switch x := v.(type) {
	case nil:
		return nil, nil
	case string:
		d, err := connector.ParseDecimal(x)
		if err != nil {
			return nil, storedErr(v, connector.TypeDecimal)
		}
		return d, nil
	case int64:
		return connector.Decimal(strconv.FormatInt(x, 10)), nil
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			break
		}
		// The shortest text that reads back as the same real: what the other application
		// most likely wrote, and exact whenever SQLite could store it exactly.
		d, err := connector.ParseDecimal(strconv.FormatFloat(x, 'f', -1, 64))
		if err == nil {
			return d, nil
		}
	}
	return nil, storedErr(v, connector.TypeDecimal)
}

func decodeString(v any) (any, error) {
	switch x := v.(type) {
	case nil:
		return nil, nil
	case string:
		return x, nil
	case int64:
		return strconv.FormatInt(x, 10), nil
	case float64:
		return connector.FormatFloat(x), nil
	case []byte:
		return string(x), nil
	case time.Time:
		return x.Format(connector.TimestampTZLayout), nil
	}
	return nil, storedErr(v, connector.TypeString)
}

func decodeBool(v any) (any, error) {
	switch x := v.(type) {
	case nil:
		return nil, nil
	case int64:
		return x != 0, nil // SQLite's own truth: any non-zero number
	case float64:
		return x != 0, nil
	case string:
		b, err := connector.ParseBool(x)
		if err == nil {
			return b, nil
		}
	}
	return nil, storedErr(v, connector.TypeBool)
}

// decodeTime reads a stored date or time: text in any ISO 8601 form, an integer as unix time
// (seconds, or milli-, micro- or nanoseconds when too large to be seconds of years up to 5138),
// a real as a Julian day number (SQLite's julianday()), or a time.Time the driver parsed.
func decodeTime(v any, t connector.Type) (time.Time, bool, error) {
	switch x := v.(type) {
	case string:
		tm, zoned, err := connector.ParseTimestamp(x)
		if err != nil {
			return time.Time{}, false, storedErr(v, t)
		}
		return tm, zoned, nil
	case int64:
		a := x
		if a < 0 {
			a = -a
		}
		switch {
		case a < 1e11:
			return time.Unix(x, 0).UTC(), true, nil
		case a < 1e14:
			return time.UnixMilli(x).UTC(), true, nil
		case a < 1e17:
			return time.UnixMicro(x).UTC(), true, nil
		}
		return time.Unix(0, x).UTC(), true, nil
	case float64:
		// Julian day 2440587.5 is 1970-01-01T00:00:00Z.
		if x >= 1721059.5 && x < 5373484.5 { // years 0000..9999
			ns := math.Round((x - 2440587.5) * 86400e9 / 1e3) // microseconds: a double has no more
			return time.UnixMicro(int64(ns)).UTC(), true, nil
		}
	case time.Time:
		return x, true, nil
	}
	return time.Time{}, false, storedErr(v, t)
}

func decodeDate(v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	tm, _, err := decodeTime(v, connector.TypeDate)
	if err != nil {
		return nil, err
	}
	if _, ok := v.(string); !ok {
		tm = tm.UTC()
	}
	if tm.Hour() != 0 || tm.Minute() != 0 || tm.Second() != 0 || tm.Nanosecond() != 0 {
		return nil, fmt.Errorf("%w (it has a time of day)", storedErr(v, connector.TypeDate))
	}
	return time.Date(tm.Year(), tm.Month(), tm.Day(), 0, 0, 0, 0, time.UTC), nil
}

func decodeTimestamp(v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	tm, _, err := decodeTime(v, connector.TypeTimestamp)
	if err != nil {
		return nil, err
	}
	return tm.UTC(), nil
}

func decodeTimestampTZ(v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	tm, _, err := decodeTime(v, connector.TypeTimestampTZ)
	if err != nil {
		return nil, err
	}
	return tm.UTC(), nil
}

func decodeBytes(v any) (any, error) {
	switch x := v.(type) {
	case nil:
		return nil, nil
	case []byte:
		if x == nil {
			return []byte{}, nil // the driver reads a zero-length blob as a nil slice
		}
		return x, nil
	case string:
		return []byte(x), nil
	case int64, float64:
		return []byte(storedText(x)), nil
	}
	return nil, storedErr(v, connector.TypeBytes)
}

func decodeJSON(v any) (any, error) {
	switch x := v.(type) {
	case nil:
		return nil, nil
	case string:
		if json.Valid([]byte(x)) {
			return json.RawMessage(x), nil
		}
	case []byte:
		if json.Valid(x) {
			return json.RawMessage(x), nil
		}
	case int64:
		return json.RawMessage(strconv.FormatInt(x, 10)), nil
	case float64:
		if !math.IsNaN(x) && !math.IsInf(x, 0) {
			return json.RawMessage(strconv.FormatFloat(x, 'g', -1, 64)), nil
		}
	}
	return nil, storedErr(v, connector.TypeJSON)
}

func decodeUUID(v any) (any, error) {
	switch x := v.(type) {
	case nil:
		return nil, nil
	case string:
		u, err := connector.ParseUUID(x)
		if err == nil {
			return u, nil
		}
	case []byte:
		if len(x) == 16 {
			var u connector.UUID
			copy(u[:], x)
			return u, nil
		}
		if u, err := connector.ParseUUID(string(x)); err == nil {
			return u, nil
		}
	}
	return nil, storedErr(v, connector.TypeUUID)
}

// valueSize estimates the bytes a stored value takes, for Batch.Bytes.
func valueSize(v any) int64 {
	switch x := v.(type) {
	case nil:
		return 1
	case string:
		return int64(len(x))
	case []byte:
		return int64(len(x))
	}
	return 8
}
