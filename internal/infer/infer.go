// Package infer types the text columns of a source (CSV fields, JSON strings) from a sample of
// their values, so that a table created from a text source gets integers, decimals, booleans,
// dates, timestamps, UUIDs and JSON instead of text everywhere.
//
// The rules are strict on purpose, because a wrong guess costs a reject on every later value
// that does not fit: a column takes the narrowest type that every non-empty sampled value
// fits, and text wins as soon as one value fits nothing narrower.
//   - integers are '-'? digits in the int64 range with no leading zero ("007" stays text, an
//     identifier rather than a number); beyond int64 they are decimals;
//   - decimals are '-'? digits '.' digits with no leading zero and no exponent, and carry the
//     precision and scale of the widest value seen;
//   - booleans are the words true and false in any case (0 and 1 are integers, yes/no text);
//   - dates are YYYY-MM-DD, timestamps the ISO 8601 forms connector.ParseTimestamp reads,
//     with a zone ("Z", "+01:00") or without one; a column of dates and zoneless timestamps is
//     a timestamp column, one mixing zoned and zoneless timestamps text;
//   - UUIDs are the canonical 8-4-4-4-12 hex form;
//   - JSON is an object or an array.
//
// A format that types values itself (JSON) keeps its own types: only its strings that read as
// dates, timestamps or UUIDs are typed, a string "42" stays a string.
package infer

import (
	"encoding/json"
	"strconv"
	"strings"

	"github.com/datahub-oss/datahub/connector"
)

// DefaultRows is how many records are sampled unless told otherwise.
const DefaultRows = 10_000

// maxPrecision bounds an inferred decimal: wider numbers stay text, since not every database
// holds them (MySQL's DECIMAL stops at 65 digits, and 38 is the common bound).
const maxPrecision = 38

// Guess is what one value reads as: its type, and for numbers their digits before and after
// the point.
type Guess struct {
	Type connector.Type
	// Int and Frac count the digits of a number before and after the point (no leading
	// zeros: "0.25" has 0 and 2).
	Int, Frac int
}

// Value guesses the narrowest type of one non-empty text value; "" and anything that reads
// as no narrower type are TypeString.
func Value(s string) Guess {
	text := Guess{Type: connector.TypeString}
	if s == "" {
		return text
	}
	if g, ok := number(s); ok {
		return g
	}
	switch {
	case len(s) == 4 && (s[0] == 't' || s[0] == 'T') && equalFold(s, "true"),
		len(s) == 5 && (s[0] == 'f' || s[0] == 'F') && equalFold(s, "false"):
		return Guess{Type: connector.TypeBool}
	case isUUID(s):
		return Guess{Type: connector.TypeUUID}
	case (s[0] == '{' || s[0] == '[') && json.Valid([]byte(s)):
		return Guess{Type: connector.TypeJSON}
	}
	if t, ok := temporal(s); ok {
		return Guess{Type: t}
	}
	return text
}

// number reads an integer or a decimal.
func number(s string) (Guess, bool) {
	body := s
	if body[0] == '-' {
		body = body[1:]
	}
	intPart, frac, hasDot := body, "", false
	for i := 0; i < len(body); i++ {
		if body[i] == '.' {
			intPart, frac, hasDot = body[:i], body[i+1:], true
			break
		}
	}
	if !digits(intPart) || (hasDot && !digits(frac)) {
		return Guess{}, false
	}
	if len(intPart) > 1 && intPart[0] == '0' {
		return Guess{}, false // a leading zero: an identifier or a code, not a number
	}
	n := len(intPart)
	if intPart == "0" {
		n = 0
	}
	if hasDot {
		return Guess{Type: connector.TypeDecimal, Int: n, Frac: len(frac)}, true
	}
	if n > 18 { // 18 digits always fit int64; only longer ones need the check
		if _, err := strconv.ParseInt(s, 10, 64); err != nil {
			return Guess{Type: connector.TypeDecimal, Int: n}, true
		}
	}
	return Guess{Type: connector.TypeInt64, Int: n}, true
}

func digits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func equalFold(s, lower string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !isHex(c) {
				return false
			}
		}
	}
	return true
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// temporal reads a date ("2024-05-17") or a timestamp with or without a zone.
func temporal(s string) (connector.Type, bool) {
	if len(s) < 10 || s[4] != '-' || s[7] != '-' || !digits(s[:4]) || !digits(s[5:7]) || !digits(s[8:10]) {
		return 0, false
	}
	if len(s) > 10 && s[10] != 'T' && s[10] != ' ' {
		return 0, false
	}
	_, zoned, err := connector.ParseTimestamp(s)
	switch {
	case err != nil:
		return 0, false
	case len(s) == 10:
		return connector.TypeDate, true
	case zoned:
		return connector.TypeTimestampTZ, true
	}
	return connector.TypeTimestamp, true
}

// Column gathers the guesses of one column's values.
type Column struct {
	// SelfTyped keeps to dates, timestamps and UUIDs (see the package documentation).
	SelfTyped bool
	seen      bool
	g         Guess
}

// Add takes one value into account; empty values (and NULLs, which callers skip) say nothing.
func (c *Column) Add(s string) {
	if s == "" || (c.seen && c.g.Type == connector.TypeString) {
		return
	}
	g := Value(s)
	if c.SelfTyped {
		switch g.Type {
		case connector.TypeDate, connector.TypeTimestamp, connector.TypeTimestampTZ, connector.TypeUUID:
		default:
			g = Guess{Type: connector.TypeString}
		}
	}
	if !c.seen {
		c.seen, c.g = true, g
		return
	}
	c.g = merge(c.g, g)
}

// merge is the narrowest guess both values fit.
func merge(a, b Guess) Guess {
	num := func(t connector.Type) bool { return t == connector.TypeInt64 || t == connector.TypeDecimal }
	switch {
	case a.Type == b.Type && a.Type != connector.TypeDecimal:
		return a
	case num(a.Type) && num(b.Type):
		return Guess{Type: connector.TypeDecimal, Int: max(a.Int, b.Int), Frac: max(a.Frac, b.Frac)}
	case a.Type == connector.TypeDate && b.Type == connector.TypeTimestamp,
		a.Type == connector.TypeTimestamp && b.Type == connector.TypeDate:
		return Guess{Type: connector.TypeTimestamp}
	}
	return Guess{Type: connector.TypeString}
}

// Type returns the inferred column: its type with a decimal's precision and scale, and ok
// false when the column stays text (no value, or a value that fits nothing narrower).
func (c *Column) Type() (col connector.Column, ok bool) {
	if !c.seen || c.g.Type == connector.TypeString {
		return connector.Column{Type: connector.TypeString}, false
	}
	col = connector.Column{Type: c.g.Type}
	if c.g.Type == connector.TypeDecimal {
		col.Precision, col.Scale = max(c.g.Int+c.g.Frac, 1), c.g.Frac
		if col.Precision > maxPrecision {
			return connector.Column{Type: connector.TypeString}, false
		}
	}
	return col, true
}

// Fits checks a later value against a column inferred from a sample, by the same rules the
// sample was read with, so that "007" does not slip into an integer column as 7. Empty text
// fits any column (it is written as NULL).
//
// It checks only what the conversion that follows would let through (a leading zero or '+',
// yes/no for a boolean, a zone in a zoneless timestamp): the conversion parses the value and
// refuses what is not one at all (a 13th month), so that each value is parsed once.
func Fits(col connector.Column, s string) bool {
	if s == "" {
		return true
	}
	switch col.Type {
	case connector.TypeInt64:
		g, ok := number(s)
		return ok && g.Type == connector.TypeInt64
	case connector.TypeDecimal:
		g, ok := number(s)
		if !ok {
			return false
		}
		frac := g.Frac
		for i := len(s) - 1; frac > 0 && s[i] == '0'; i-- {
			frac-- // trailing zeros lose nothing
		}
		return col.Precision == 0 || (g.Int <= col.Precision-col.Scale && frac <= col.Scale)
	case connector.TypeBool:
		return len(s) == 4 && equalFold(s, "true") || len(s) == 5 && equalFold(s, "false")
	case connector.TypeDate:
		return len(s) == 10 && datePrefix(s)
	case connector.TypeTimestamp:
		return datePrefix(s) && (len(s) == 10 || timeSep(s) && !zoned(s))
	case connector.TypeTimestampTZ:
		return datePrefix(s) && len(s) > 10 && timeSep(s) && zoned(s)
	case connector.TypeUUID:
		return isUUID(s)
	case connector.TypeJSON:
		return s[0] == '{' || s[0] == '['
	}
	return col.Type == connector.TypeString
}

func datePrefix(s string) bool {
	return len(s) >= 10 && s[4] == '-' && s[7] == '-' && digits(s[:4]) && digits(s[5:7]) && digits(s[8:10])
}

func timeSep(s string) bool { return s[10] == 'T' || s[10] == ' ' }

// zoned reports whether a timestamp ends with a zone: past the date, a sign can only start one.
func zoned(s string) bool {
	for i := 10; i < len(s); i++ {
		switch s[i] {
		case 'Z', 'z', '+', '-':
			return true
		}
	}
	return strings.HasSuffix(s, "UTC")
}

// Misfit is a value that does not fit the type inferred for its column; its text names the
// type, the sample and how to widen the column.
type Misfit struct {
	Value  string
	Column connector.Column
	// Sample is how many records the type was inferred from.
	Sample int
	// Rule is the start of the --map rule for the column: "SRC:" (the default, from the
	// column's name) or "SRC:DST" for a renamed column.
	Rule string
}

func (m *Misfit) Error() string {
	v := m.Value
	if len(v) > 40 {
		v = v[:40] + "..."
	}
	rule := m.Rule
	if rule == "" {
		rule = m.Column.Name + ":"
	}
	widen := "to keep the column as text: --map " + rule + ":string"
	if m.Column.Type == connector.TypeDecimal {
		widen = "to widen it: --map " + rule + ":decimal (or --map " + rule + ":string for text)"
	}
	return strconv.Quote(v) + " does not fit column " + m.Column.Name + "'s type " + m.Column.Describe() +
		", inferred from the first " + strconv.Itoa(m.Sample) + " records; " + widen
}
