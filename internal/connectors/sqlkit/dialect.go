// Package sqlkit is what the SQL connectors (PostgreSQL, MySQL/MariaDB, SQLite, and SQL
// Server to come) share: identifier parsing and quoting, the keyset position format, the
// staging table of a replace, the checkpoint table, and the matching of source columns to a
// target table with its key checks. Each connector keeps what is its database's own: its
// catalog queries, its bulk write path and the swap of a staging table.
package sqlkit

import (
	"errors"
	"fmt"
	"hash/fnv"
	"strings"
	"unicode/utf8"

	"github.com/datahub-oss/datahub/connector"
)

// A Dialect is how one database spells what the kit writes.
type Dialect struct {
	// Name names the database in messages ("PostgreSQL").
	Name string
	// Quote opens and closes a quoted identifier ('"' or '`'); inside, it is doubled.
	Quote byte
	// MaxParts is how many dot-separated parts a table name may have (schema.table: 2).
	MaxParts int
	// MaxIdent is the longest identifier the database keeps whole, in IdentUnit; 0: no limit.
	MaxIdent int
	// IdentUnit is what MaxIdent counts: "bytes" or "characters".
	IdentUnit string
	// Placeholder is the n-th (from 1) parameter of a statement: "?" or "$1".
	Placeholder func(n int) string
	// Upsert is the clause that makes an INSERT update the row whose keys it meets, setting
	// the columns update (none: the existing row stays as it is).
	Upsert func(keys, update []string) string
	// TableExists is a query of one boolean (or 0/1) value: whether table schema.name exists.
	TableExists func(schema, name string) (query string, args []any)
	// CheckpointColumns is the column list and table options of the checkpoint table:
	// run_id (its primary key), position and updated_at.
	CheckpointColumns string
	// Now is the SQL expression of the current time that updated_at is set to.
	Now string
	// ExplicitNull: CREATE TABLE says NULL of a nullable column (see CreateTable).
	ExplicitNull bool
}

// QuestionMark is the placeholder of MySQL and SQLite.
func QuestionMark(int) string { return "?" }

// Dollar is PostgreSQL's numbered placeholder.
func Dollar(n int) string { return fmt.Sprintf("$%d", n) }

// QuoteIdent quotes one identifier.
func (d *Dialect) QuoteIdent(s string) string {
	q := string(d.Quote)
	return q + strings.ReplaceAll(s, q, q+q) + q
}

// QuoteIdents quotes names and joins them with ", ".
func (d *Dialect) QuoteIdents(names []string) string {
	var b strings.Builder
	for i, n := range names {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(d.QuoteIdent(n))
	}
	return b.String()
}

// QuoteName quotes a qualified name: each non-empty part quoted, joined with dots.
func (d *Dialect) QuoteName(parts ...string) string {
	var b strings.Builder
	for _, p := range parts {
		if p == "" {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(d.QuoteIdent(p))
	}
	return b.String()
}

// identLen is an identifier's length in the dialect's unit.
func (d *Dialect) identLen(s string) int {
	if d.IdentUnit == "bytes" {
		return len(s)
	}
	return utf8.RuneCountInString(s)
}

// CheckNames refuses table name parts and column names of s longer than the database keeps
// (PostgreSQL would cut them short without a word, MySQL refuses them at CREATE).
func (d *Dialect) CheckNames(endpoint string, table []string, s connector.Schema) error {
	if d.MaxIdent <= 0 {
		return nil
	}
	return connector.CheckNameLengths(endpoint, d.Name, d.MaxIdent, d.IdentUnit, d.identLen, table, s)
}

// SideName names a helper table next to table (a staging or old copy): table+suffix,
// shortened with a hash of the name when that passes the identifier limit, so that two long
// names sharing a prefix get different side tables.
func (d *Dialect) SideName(table, suffix string) string {
	name := table + suffix
	if d.MaxIdent <= 0 || d.identLen(name) <= d.MaxIdent {
		return name
	}
	h := fnv.New32a()
	h.Write([]byte(table))
	tag := fmt.Sprintf("_%08x", h.Sum32())
	budget := d.MaxIdent - len(suffix) - len(tag)
	r := []rune(table)
	n := min(budget, len(r))
	for n > 0 && d.identLen(string(r[:n])) > budget {
		n-- // counted in bytes: drop whole characters until the prefix fits
	}
	return string(r[:n]) + tag + suffix
}

// Part is one dot-separated part of a table name.
type Part struct {
	Text string
	// Quoted is true when the part was written in quotes: its case is exact.
	Quoted bool
}

// The ways a table name can be malformed; ParseName's errors wrap one of them.
var (
	ErrEmptyName         = errors.New("the name is empty")
	ErrEmptyPart         = errors.New("a part of the name is empty")
	ErrUnterminatedQuote = errors.New("a quote is not closed")
	ErrUnexpectedText    = errors.New("text follows a quoted part")
	ErrTooManyParts      = errors.New("the name has too many parts")
)

// NameError is a table name that could not be parsed.
type NameError struct {
	Input string
	Err   error // one of the Err... values above
}

func (e *NameError) Error() string {
	return fmt.Sprintf("table name %q: %v", connector.CapText(e.Input, 80), e.Err)
}

func (e *NameError) Unwrap() error { return e.Err }

// ParseName reads a table name of up to d.MaxParts dot-separated parts, each either bare
// (spaces around it trimmed) or quoted with d.Quote (a doubled quote stands for itself, and
// dots inside are kept).
func (d *Dialect) ParseName(s string) ([]Part, error) {
	fail := func(err error) ([]Part, error) { return nil, &NameError{Input: s, Err: err} }
	rest := strings.TrimSpace(s)
	if rest == "" {
		return fail(ErrEmptyName)
	}
	var parts []Part
	for {
		var p Part
		if rest[0] == d.Quote {
			var b strings.Builder
			i := 1
			for ; i < len(rest); i++ {
				if rest[i] == d.Quote {
					if i+1 < len(rest) && rest[i+1] == d.Quote {
						b.WriteByte(d.Quote)
						i++
						continue
					}
					break
				}
				b.WriteByte(rest[i])
			}
			if i >= len(rest) {
				return fail(ErrUnterminatedQuote)
			}
			p = Part{Text: b.String(), Quoted: true}
			rest = strings.TrimLeft(rest[i+1:], " \t")
			if rest != "" && rest[0] != '.' {
				return fail(ErrUnexpectedText)
			}
		} else {
			i := strings.IndexByte(rest, '.')
			if i < 0 {
				i = len(rest)
			}
			p.Text, rest = strings.TrimSpace(rest[:i]), rest[i:]
		}
		if p.Text == "" {
			return fail(ErrEmptyPart)
		}
		parts = append(parts, p)
		if len(parts) > max(d.MaxParts, 1) {
			return fail(ErrTooManyParts)
		}
		if rest == "" {
			return parts, nil
		}
		rest = strings.TrimLeft(rest[1:], " \t") // the dot
		if rest == "" {
			return fail(ErrEmptyPart)
		}
	}
}
