package sqlkit

import (
	"context"
	"database/sql"
	"strings"
)

// ColumnDef is a column of a CREATE TABLE: Type is the database's type, Extra what follows
// the nullability (a comment, a collation).
type ColumnDef struct {
	Name, Type string
	NotNull    bool
	Extra      string
}

// CreateTable renders CREATE TABLE name (cols, PRIMARY KEY (key)) options. A nullable column
// is declared NULL where the database would otherwise pick for it (MySQL's TIMESTAMP):
// d.ExplicitNull.
func (d *Dialect) CreateTable(name string, cols []ColumnDef, key []string, options string) string {
	var b strings.Builder
	b.WriteString("CREATE TABLE ")
	b.WriteString(name)
	b.WriteString(" (")
	for i, c := range cols {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(d.QuoteIdent(c.Name))
		b.WriteByte(' ')
		b.WriteString(c.Type)
		switch {
		case c.NotNull:
			b.WriteString(" NOT NULL")
		case d.ExplicitNull:
			b.WriteString(" NULL")
		}
		b.WriteString(c.Extra)
	}
	if len(key) > 0 {
		b.WriteString(", PRIMARY KEY (")
		b.WriteString(d.QuoteIdents(key))
		b.WriteByte(')')
	}
	b.WriteByte(')')
	b.WriteString(options)
	return b.String()
}

// RowsSQL is a multi-row statement: head, n times row separated by commas, then tail.
func RowsSQL(head, row, tail string, n int) string {
	var b strings.Builder
	b.Grow(len(head) + n*(len(row)+1) + len(tail))
	b.WriteString(head)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(row)
	}
	b.WriteString(tail)
	return b.String()
}

// KeysetSQL is the end of a keyset-paging SELECT: " WHERE key > after ORDER BY key", where
// after holds one SQL expression (a placeholder, a literal) per key column, compared as a
// row for a composite key; without after, from the start: " ORDER BY key".
func (d *Dialect) KeysetSQL(key, after []string) string {
	var b strings.Builder
	if len(after) == 1 {
		b.WriteString(" WHERE " + d.QuoteIdent(key[0]) + " > " + after[0])
	} else if len(after) > 1 {
		b.WriteString(" WHERE (" + d.QuoteIdents(key) + ") > (" + strings.Join(after, ", ") + ")")
	}
	b.WriteString(" ORDER BY " + d.QuoteIdents(key))
	return b.String()
}

// RowsQuerier is what *sql.DB, *sql.Conn and *sql.Tx have for queries of many rows.
type RowsQuerier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// ColumnSets runs a query of (set, column) rows ordered by set, as a catalog lists the
// columns of indexes, and returns each set's columns in the order read.
func ColumnSets(ctx context.Context, q RowsQuerier, query string, args ...any) ([][]string, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer func() { _ = rows.Close() }()
	var out [][]string
	var last string
	for rows.Next() {
		var set, col string
		if err := rows.Scan(&set, &col); err != nil {
			return nil, err
		}
		if out == nil || set != last {
			out = append(out, nil)
			last = set
		}
		out[len(out)-1] = append(out[len(out)-1], col)
	}
	return out, rows.Err()
}
