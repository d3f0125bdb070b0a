package sqlkit

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/datahub-oss/datahub/connector"
)

// Table is what the kit needs to know of a target table: each connector fills it from its
// own catalog.
type Table struct {
	// Name names the table in messages.
	Name    string
	Columns []Column
	// Key is the primary key's columns, in key order; nil when it has none.
	Key []string
	// Unique holds the column sets of the other unique constraints and indexes that an
	// upsert can match on (full, over plain columns).
	Unique [][]string
}

// Column is a column of a Table.
type Column struct {
	Name string
	// Generated columns are computed by the database and cannot be written.
	Generated bool
	// Required columns refuse a row that gives them no value: NOT NULL, no default, and not
	// filled by the database (as an INTEGER PRIMARY KEY is in SQLite).
	Required bool
}

// Find returns the index of the column name: spelt exactly, else the first that matches
// without case (the rule of unquoted SQL names); -1 when none does.
func (t *Table) Find(name string) int {
	if i := slices.IndexFunc(t.Columns, func(c Column) bool { return c.Name == name }); i >= 0 {
		return i
	}
	return slices.IndexFunc(t.Columns, func(c Column) bool { return strings.EqualFold(c.Name, name) })
}

func (t *Table) names() []string {
	out := make([]string, len(t.Columns))
	for i, c := range t.Columns {
		out[i] = c.Name
	}
	return out
}

// Match maps the source's columns to the table's (see Find) and returns, for each source
// column, the index of its target column. It refuses a column the table lacks, a generated
// column, and two source columns that land on the same target column.
func Match(endpoint string, t *Table, src []string) ([]int, error) {
	out := make([]int, len(src))
	for i, name := range src {
		j := t.Find(name)
		if j < 0 {
			return nil, connector.Errorf(connector.CodeSchema, endpoint, "add the column to the table or leave it out of the mapping",
				fmt.Errorf("column %q is not in table %s (its columns: %s)", name, t.Name,
					connector.CapText(strings.Join(t.names(), ", "), connector.MaxErrorText/2)))
		}
		c := t.Columns[j]
		if c.Generated {
			return nil, connector.Errorf(connector.CodeSchema, endpoint, "leave generated columns out of the mapping",
				fmt.Errorf("column %q of table %s is generated and cannot be written", c.Name, t.Name))
		}
		if slices.Contains(out[:i], j) {
			return nil, connector.Errorf(connector.CodeSchema, endpoint, "map the source columns to distinct columns",
				fmt.Errorf("two source columns map to column %q of table %s", c.Name, t.Name))
		}
		out[i] = j
	}
	return out, nil
}

// CheckRequired refuses to write a table when a required column (see Column) is left out:
// every row would be refused.
func CheckRequired(endpoint string, t *Table, written []int) error {
	for j, c := range t.Columns {
		if c.Required && !slices.Contains(written, j) {
			return connector.Errorf(connector.CodeSchema, endpoint, "map a source column to it, or give it a default",
				fmt.Errorf("column %q of table %s is NOT NULL without a default and no source column goes to it", c.Name, t.Name))
		}
	}
	return nil
}

// SourceKey returns the key columns keys as the source schema spells them, for the primary
// key of a table the sink creates; a name the source lacks is refused.
func SourceKey(endpoint string, s connector.Schema, keys []string) ([]string, error) {
	out := make([]string, 0, len(keys))
	for _, k := range keys {
		i := s.Index(k)
		if i < 0 {
			return nil, connector.Errorf(connector.CodeSchema, endpoint, "name key columns that the source has",
				fmt.Errorf("key column %q is not among the columns (%s)", connector.CapText(k, 80),
					connector.CapText(strings.Join(s.Names(), ", "), connector.MaxErrorText/2)))
		}
		out = append(out, s.Columns[i].Name)
	}
	return out, nil
}

// CheckNewTableKey refuses an upsert into a table that does not exist yet when no key columns
// are given: the table would be created with nothing to match on. Sinks call it before they
// create anything, so that the corrected command finds no empty table left behind.
func CheckNewTableKey(endpoint string, mode connector.WriteMode, keys []string) error {
	if mode == connector.ModeUpsert && len(keys) == 0 {
		return connector.Errorf(connector.CodeUsage, endpoint,
			"give the key columns (--key col[,col], or spec.destination.keys), or create the table with a primary key first",
			errors.New("upsert into a table that does not exist needs key columns"))
	}
	return nil
}

// TableKey returns the key columns keys as the table spells them (the primary key when keys
// is empty); a name the table lacks is refused.
func TableKey(endpoint string, t *Table, keys []string) ([]string, error) {
	if len(keys) == 0 {
		return t.Key, nil
	}
	out := make([]string, 0, len(keys))
	for _, k := range keys {
		j := t.Find(k)
		if j < 0 {
			return nil, connector.Errorf(connector.CodeSchema, endpoint, "name key columns of the table",
				fmt.Errorf("key column %q is not in table %s", connector.CapText(k, 80), t.Name))
		}
		out = append(out, t.Columns[j].Name)
	}
	return out, nil
}

// CheckUpsertKey checks that an upsert on keys (as TableKey returns them) can work: there
// are keys, they are all written, and the table enforces them as unique, with its primary
// key or a unique index on exactly those columns, so that the database finds the row to
// update (ON CONFLICT and ON DUPLICATE KEY match on nothing else).
func CheckUpsertKey(endpoint string, t *Table, keys []string, written []int) error {
	if len(keys) == 0 {
		return connector.Errorf(connector.CodeSchema, endpoint, "give the key columns, or add a primary key to the table",
			fmt.Errorf("upsert into %s needs key columns and the table has no primary key", t.Name))
	}
	for _, k := range keys {
		if !slices.Contains(written, t.Find(k)) {
			return connector.Errorf(connector.CodeSchema, endpoint, "write the key columns too",
				fmt.Errorf("upsert key column %q of table %s is not among the columns written", k, t.Name))
		}
	}
	if sameSet(t.Key, keys) || slices.ContainsFunc(t.Unique, func(u []string) bool { return sameSet(u, keys) }) {
		return nil
	}
	return connector.Errorf(connector.CodeSchema, endpoint, "add a unique index on the key columns, or upsert on the primary key",
		fmt.Errorf("upsert on (%s) needs a primary key or unique index on exactly those columns of table %s",
			strings.Join(keys, ", "), t.Name))
}

// sameSet reports whether a and b hold the same names, without regard to order or case.
func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for _, x := range a {
		if !slices.ContainsFunc(b, func(y string) bool { return strings.EqualFold(x, y) }) {
			return false
		}
	}
	return true
}
