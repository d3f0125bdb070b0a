package connector

import (
	"fmt"
	"strings"
)

// Type is a logical column type, independent of any database's spelling of it.
type Type uint8

// The logical types. TypeUnknown never appears in a valid Schema.
const (
	TypeUnknown Type = iota
	TypeInt64
	TypeFloat64
	TypeDecimal
	TypeString
	TypeBool
	TypeDate
	TypeTimestamp
	TypeTimestampTZ
	TypeBytes
	TypeJSON
	TypeUUID
)

var typeNames = [...]string{
	TypeUnknown:     "unknown",
	TypeInt64:       "int64",
	TypeFloat64:     "float64",
	TypeDecimal:     "decimal",
	TypeString:      "string",
	TypeBool:        "bool",
	TypeDate:        "date",
	TypeTimestamp:   "timestamp",
	TypeTimestampTZ: "timestamptz",
	TypeBytes:       "bytes",
	TypeJSON:        "json",
	TypeUUID:        "uuid",
}

// AllTypes lists every valid logical type, for tests and documentation.
var AllTypes = []Type{TypeInt64, TypeFloat64, TypeDecimal, TypeString, TypeBool, TypeDate,
	TypeTimestamp, TypeTimestampTZ, TypeBytes, TypeJSON, TypeUUID}

func (t Type) String() string {
	if int(t) < len(typeNames) {
		return typeNames[t]
	}
	return fmt.Sprintf("type(%d)", t)
}

// ParseType reads a type name as written by Type.String (case-insensitive), with a few aliases
// people use in mapping files (int, integer, bigint, text, numeric, boolean, timestamp with time zone).
func ParseType(s string) (Type, error) {
	n := strings.ToLower(strings.TrimSpace(s))
	for i, name := range typeNames {
		if i != 0 && n == name {
			return Type(i), nil
		}
	}
	switch n {
	case "int", "integer", "bigint", "long":
		return TypeInt64, nil
	case "float", "double", "real":
		return TypeFloat64, nil
	case "numeric", "number":
		return TypeDecimal, nil
	case "text", "varchar", "str":
		return TypeString, nil
	case "boolean":
		return TypeBool, nil
	case "datetime", "timestamp without time zone":
		return TypeTimestamp, nil
	case "timestamp with time zone", "instant":
		return TypeTimestampTZ, nil
	case "binary", "blob", "bytea":
		return TypeBytes, nil
	case "jsonb":
		return TypeJSON, nil
	}
	return TypeUnknown, fmt.Errorf("unknown type %q (want one of %s)", s, strings.Join(typeNames[1:], ", "))
}

// Column describes one field of a record.
type Column struct {
	Name     string `json:"name"`
	Type     Type   `json:"type"`
	Nullable bool   `json:"nullable"`
	// Precision and Scale bound a TypeDecimal (0 precision: unbounded).
	Precision int `json:"precision,omitempty"`
	Scale     int `json:"scale,omitempty"`
	// Length bounds a TypeString in characters or a TypeBytes in bytes (0: unbounded).
	Length int `json:"length,omitempty"`
	// Native is the type as the endpoint spells it (e.g. "numeric(12,2)"), for messages only.
	Native string `json:"native,omitempty"`
}

// Describe renders the column's type with its bounds, e.g. "decimal(12,2)" or "string(40)".
func (c Column) Describe() string {
	s := c.Type.String()
	switch {
	case c.Type == TypeDecimal && c.Precision > 0:
		s = fmt.Sprintf("%s(%d,%d)", s, c.Precision, c.Scale)
	case (c.Type == TypeString || c.Type == TypeBytes) && c.Length > 0:
		s = fmt.Sprintf("%s(%d)", s, c.Length)
	}
	if c.Native != "" {
		s += " [" + c.Native + "]"
	}
	return s
}

// SameType reports whether values of c can be stored in d without conversion or checks.
func (c Column) SameType(d Column) bool {
	if c.Type != d.Type {
		return false
	}
	switch c.Type {
	case TypeDecimal:
		return d.Precision == 0 || (c.Precision > 0 && c.Precision-c.Scale <= d.Precision-d.Scale && c.Scale == d.Scale)
	case TypeString, TypeBytes:
		return d.Length == 0 || (c.Length > 0 && c.Length <= d.Length)
	}
	return true
}

// Schema is the ordered list of columns of a record stream, with the key columns if known.
type Schema struct {
	Columns []Column `json:"columns"`
	// Key names the columns that identify a record (a primary key), in order; may be empty.
	Key []string `json:"key,omitempty"`
}

// Index returns the position of the named column (case-sensitive first, then case-insensitive), or -1.
func (s Schema) Index(name string) int {
	for i, c := range s.Columns {
		if c.Name == name {
			return i
		}
	}
	for i, c := range s.Columns {
		if strings.EqualFold(c.Name, name) {
			return i
		}
	}
	return -1
}

// Names returns the column names in order.
func (s Schema) Names() []string {
	out := make([]string, len(s.Columns))
	for i, c := range s.Columns {
		out[i] = c.Name
	}
	return out
}

// Validate checks that the schema has columns, every column a name and a known type, no
// duplicate names, and key columns that exist.
func (s Schema) Validate() error {
	if len(s.Columns) == 0 {
		return fmt.Errorf("schema has no columns")
	}
	seen := make(map[string]bool, len(s.Columns))
	for i, c := range s.Columns {
		if c.Name == "" {
			return fmt.Errorf("column %d has no name", i+1)
		}
		if c.Type == TypeUnknown || int(c.Type) >= len(typeNames) {
			return fmt.Errorf("column %q has no known type", CapText(c.Name, 80))
		}
		k := strings.ToLower(c.Name)
		if seen[k] {
			return fmt.Errorf("column %q appears twice", CapText(c.Name, 80))
		}
		seen[k] = true
	}
	for _, k := range s.Key {
		if s.Index(k) < 0 {
			return fmt.Errorf("key column %q is not in the schema (columns: %s)", CapText(k, 80), CapText(strings.Join(s.Names(), ", "), MaxErrorText/2))
		}
	}
	return nil
}

// CheckNameLengths refuses the table and column names a destination cannot hold whole:
// PostgreSQL would cut a longer name silently (so two columns could become one), MySQL refuses
// it with a less helpful message. length measures a name in the destination's unit (bytes,
// characters), db names the destination for the message. Long names are quoted cut short.
func CheckNameLengths(endpoint, db string, max int, unit string, length func(string) int, table []string, s Schema) error {
	check := func(what, name string) error {
		if n := length(name); n > max {
			return Errorf(CodeSchema, endpoint, "shorten it (for a column: map it to a shorter name with --map SRC:DST or the mapping)",
				fmt.Errorf("%s name %q is %d %s long; %s allows at most %d", what, CapText(name, 80), n, unit, db, max))
		}
		return nil
	}
	for _, t := range table {
		if err := check("table", t); err != nil {
			return err
		}
	}
	for _, c := range s.Columns {
		if err := check("column", c.Name); err != nil {
			return err
		}
	}
	return nil
}

// TableInfo describes one table (or view) of a database, for listings.
type TableInfo struct {
	// Schema is the table's schema or database ("" where the database has none: SQLite).
	Schema string `json:"schema,omitempty"`
	Name   string `json:"name"`
	// Kind is table, view, materialized view or foreign table.
	Kind string `json:"kind"`
	// Rows is the database's own estimate of the row count (statistics, not a count), -1
	// when it keeps none.
	Rows int64 `json:"rows"`
}
