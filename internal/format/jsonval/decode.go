package jsonval

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/datahub-oss/datahub/connector"
)

// kind is the JSON type of a raw value.
type kind uint8

const (
	kNull kind = iota
	kString
	kNumber
	kBool
	kStruct // object or array
)

func kindOf(raw []byte) kind {
	switch raw[0] {
	case '"':
		return kString
	case 't', 'f':
		return kBool
	case 'n':
		return kNull
	case '{', '[':
		return kStruct
	}
	return kNumber
}

var kindNames = [...]string{kNull: "null", kString: "a string", kNumber: "a number", kBool: "a boolean", kStruct: "an object or array"}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func skipSpace(b []byte, i int) int {
	for i < len(b) && isSpace(b[i]) {
		i++
	}
	return i
}

// ValueEnd returns the length of the JSON value at the start of b (which must not start with
// white space), judging only its extent: strings, brackets and braces are matched, scalars end
// at a delimiter or white space. complete is false when b ends inside the value. The value
// itself may still be invalid; callers check it with json.Valid.
func ValueEnd(b []byte, atEOF bool) (n int, complete bool) {
	if len(b) == 0 {
		return 0, false
	}
	switch b[0] {
	case '"':
		i, ok := stringEnd(b, 1)
		return i, ok
	case '{', '[':
		depth := 0
		for i := 0; i < len(b); i++ {
			switch b[i] {
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1, true
				}
			case '"':
				j, ok := stringEnd(b, i+1)
				if !ok {
					return len(b), false
				}
				i = j - 1
			}
		}
		return len(b), false
	}
	for i := 0; i < len(b); i++ {
		switch c := b[i]; {
		case c == ',' || c == ']' || c == '}' || isSpace(c):
			return i, true
		}
	}
	return len(b), atEOF
}

// stringEnd returns the index after the closing quote of a string whose content starts at i.
func stringEnd(b []byte, i int) (int, bool) {
	for {
		j := bytes.IndexByte(b[i:], '"')
		if j < 0 {
			return len(b), false
		}
		k := i + j
		bs := 0
		for k-1-bs >= i && b[k-1-bs] == '\\' {
			bs++
		}
		if bs%2 == 0 {
			return k + 1, true
		}
		i = k + 1
	}
}

// scanObject calls fn with each key (raw, with its quotes) and raw value of obj, a valid JSON
// object (json.Valid has been checked).
func scanObject(obj []byte, fn func(key, val []byte) error) error {
	i := skipSpace(obj, 0)
	i++ // '{'
	for {
		i = skipSpace(obj, i)
		if obj[i] == '}' {
			return nil
		}
		if obj[i] == ',' {
			i = skipSpace(obj, i+1)
		}
		kEnd, _ := stringEnd(obj, i+1)
		key := obj[i:kEnd]
		i = skipSpace(obj, kEnd)
		i = skipSpace(obj, i+1) // ':'
		n, _ := ValueEnd(obj[i:], true)
		if err := fn(key, obj[i:i+n]); err != nil {
			return err
		}
		i += n
	}
}

// unquote decodes a raw JSON string.
func unquote(raw []byte) string {
	if bytes.IndexByte(raw, '\\') < 0 {
		return string(raw[1 : len(raw)-1])
	}
	var s string
	_ = json.Unmarshal(raw, &s)
	return s
}

// isObject checks that raw is one valid JSON object, and says why not otherwise.
func isObject(raw []byte) string {
	if !utf8.Valid(raw) {
		return "invalid UTF-8 (the file must be UTF-8)"
	}
	if !json.Valid(raw) {
		var v json.RawMessage
		err := json.Unmarshal(raw, &v)
		if err == nil {
			return "invalid JSON"
		}
		return "invalid JSON: " + err.Error()
	}
	if raw[skipSpace(raw, 0)] != '{' {
		return fmt.Sprintf("not a JSON object (found %s)", kindNames[kindOf(raw[skipSpace(raw, 0):])])
	}
	return ""
}

// colStats is what the sample showed of one field.
type colStats struct {
	key    string
	seen   [5]bool // by kind
	nonInt bool    // a number that is not an int64
	float  bool    // a number written with an exponent: a float, not an exact decimal
}

// Infer builds a schema from sample objects (raw records that are not valid objects are
// skipped): fields in first-seen order; numbers that are all int64 give int64, numbers written
// with an exponent float64 (1e300 is a float, not a 301-digit decimal), other numbers decimal
// (exact); strings give string, booleans bool, objects and arrays json; null decides
// nothing (a field only ever null is a string); a mix of scalars is a string and a mix with
// objects or arrays is json. Keys the schema cannot use as names (empty, or the same as another
// but for case) are renamed cN and name_2; the returned keys map each key to its column.
func Infer(sample [][]byte) (connector.Schema, map[string]int) {
	var stats []*colStats
	byKey := map[string]*colStats{}
	for _, raw := range sample {
		if isObject(raw) != "" {
			continue
		}
		_ = scanObject(raw, func(k, v []byte) error {
			key := unquote(k)
			st := byKey[key]
			if st == nil {
				st = &colStats{key: key}
				byKey[key] = st
				stats = append(stats, st)
			}
			kd := kindOf(v)
			st.seen[kd] = true
			if kd == kNumber && !st.nonInt {
				if _, err := strconv.ParseInt(string(v), 10, 64); err != nil {
					st.nonInt = true
				}
			}
			if kd == kNumber && bytes.ContainsAny(v, "eE") {
				st.float = true
			}
			return nil
		})
	}
	var s connector.Schema
	index := make(map[string]int, len(stats))
	used := map[string]bool{}
	for i, st := range stats {
		name := st.key
		if name == "" {
			name = "c" + strconv.Itoa(i+1)
		}
		base := name
		for k := 2; used[strings.ToLower(name)]; k++ {
			name = base + "_" + strconv.Itoa(k)
		}
		used[strings.ToLower(name)] = true
		index[st.key] = i
		s.Columns = append(s.Columns, connector.Column{Name: name, Type: st.typ(), Nullable: true})
	}
	return s, index
}

func (st *colStats) typ() connector.Type {
	n := 0
	for k := kString; k <= kStruct; k++ {
		if st.seen[k] {
			n++
		}
	}
	switch {
	case n == 0:
		return connector.TypeString
	case st.seen[kStruct]:
		return connector.TypeJSON
	case n > 1:
		return connector.TypeString
	case st.seen[kNumber] && st.float:
		return connector.TypeFloat64
	case st.seen[kNumber] && st.nonInt:
		return connector.TypeDecimal
	case st.seen[kNumber]:
		return connector.TypeInt64
	case st.seen[kBool]:
		return connector.TypeBool
	}
	return connector.TypeString
}

// Decoder turns JSON objects into rows of a schema.
type Decoder struct {
	schema connector.Schema
	index  map[string]int
	sample int
	seen   []bool
}

// NewDecoder decodes into schema, index mapping object keys to columns (from Infer); sample is
// the number of objects the schema was inferred from, for messages.
func NewDecoder(schema connector.Schema, index map[string]int, sample int) *Decoder {
	return &Decoder{schema: schema, index: index, sample: sample, seen: make([]bool, len(schema.Columns))}
}

// Decode turns raw into a row, or says why it cannot: the column concerned ("" when none) and
// the reason. Fields missing from the object are NULL.
func (d *Decoder) Decode(raw []byte) (row []any, column, reason string) {
	if why := isObject(raw); why != "" {
		return nil, "", why
	}
	row = make([]any, len(d.schema.Columns))
	clear(d.seen)
	err := scanObject(raw, func(k, v []byte) error {
		var i int
		var ok bool
		if bytes.IndexByte(k, '\\') < 0 {
			i, ok = d.index[string(k[1:len(k)-1])]
		} else {
			i, ok = d.index[unquote(k)]
		}
		if !ok {
			return fieldError{"", fmt.Sprintf("unexpected field %s (the columns come from the first %d records)", truncate(string(k), 60), d.sample)}
		}
		col := d.schema.Columns[i]
		if d.seen[i] {
			return fieldError{col.Name, fmt.Sprintf("field %s appears twice", truncate(string(k), 60))}
		}
		d.seen[i] = true
		val, why := convert(v, col.Type)
		if why != "" {
			return fieldError{col.Name, fmt.Sprintf("column %s: %s", col.Name, why)}
		}
		row[i] = val
		return nil
	})
	var fe fieldError
	if errors.As(err, &fe) {
		return nil, fe.column, fe.reason
	}
	return row, "", ""
}

type fieldError struct{ column, reason string }

func (e fieldError) Error() string { return e.reason }

// convert reads raw as a value of type t; why says what is wrong when it cannot.
func convert(raw []byte, t connector.Type) (v any, why string) {
	kd := kindOf(raw)
	if kd == kNull {
		return nil, ""
	}
	switch t {
	case connector.TypeString:
		if kd == kString {
			return unquote(raw), ""
		}
		return string(raw), ""
	case connector.TypeInt64:
		if kd == kNumber {
			if n, err := strconv.ParseInt(string(raw), 10, 64); err == nil {
				return n, ""
			}
			return nil, fmt.Sprintf("%s is not a whole number in the int64 range (the column is int64, inferred from the first records)", truncate(string(raw), 40))
		}
	case connector.TypeFloat64:
		if kd == kNumber {
			f, err := strconv.ParseFloat(string(raw), 64)
			if err != nil {
				return nil, fmt.Sprintf("%s is not a float64", truncate(string(raw), 40))
			}
			return f, ""
		}
	case connector.TypeDecimal:
		if kd == kNumber {
			d, err := connector.ParseDecimal(string(raw))
			if err != nil {
				return nil, err.Error()
			}
			return d, ""
		}
	case connector.TypeBool:
		if kd == kBool {
			return raw[0] == 't', ""
		}
	case connector.TypeJSON:
		return json.RawMessage(bytes.Clone(raw)), ""
	}
	return nil, fmt.Sprintf("found %s %s where the column is %s (inferred from the first records)", kindNames[kd], truncate(string(raw), 40), t)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
