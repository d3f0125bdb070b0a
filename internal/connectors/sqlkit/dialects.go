package sqlkit

import "strings"

// onConflict is the upsert clause of PostgreSQL and SQLite.
func onConflict(d *Dialect) func(keys, update []string) string {
	return func(keys, update []string) string {
		if len(update) == 0 {
			return " ON CONFLICT (" + d.QuoteIdents(keys) + ") DO NOTHING"
		}
		set := make([]string, len(update))
		for i, c := range update {
			q := d.QuoteIdent(c)
			set[i] = q + " = excluded." + q
		}
		return " ON CONFLICT (" + d.QuoteIdents(keys) + ") DO UPDATE SET " + strings.Join(set, ", ")
	}
}

// Postgres is PostgreSQL's dialect. Identifiers longer than 63 bytes (NAMEDATALEN-1) would
// be cut short without a word.
var Postgres = func() *Dialect {
	d := &Dialect{
		Name: "PostgreSQL", Quote: '"', MaxParts: 2, MaxIdent: 63, IdentUnit: "bytes",
		Placeholder: Dollar,
		CheckpointColumns: "(run_id text PRIMARY KEY, position bytea NOT NULL, " +
			"updated_at timestamptz NOT NULL DEFAULT now())",
		Now: "now()",
	}
	d.Upsert = onConflict(d)
	d.TableExists = func(schema, name string) (string, []any) {
		return "SELECT to_regclass($1) IS NOT NULL", []any{d.QuoteName(schema, name)}
	}
	return d
}()

// SQLite is SQLite's dialect: no limit on names, which compare without case.
var SQLite = func() *Dialect {
	d := &Dialect{
		Name: "SQLite", Quote: '"', MaxParts: 2,
		Placeholder:       QuestionMark,
		CheckpointColumns: "(run_id TEXT NOT NULL PRIMARY KEY, position BLOB, updated_at TIMESTAMPTZ NOT NULL)",
		Now:               "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')",
	}
	d.Upsert = onConflict(d)
	d.TableExists = func(_, name string) (string, []any) {
		return "SELECT EXISTS (SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = ? COLLATE NOCASE)", []any{name}
	}
	return d
}()

// MySQL is the dialect of MySQL and MariaDB: names of up to 64 characters. rowAlias is for
// MySQL 8.0.19 and later, which deprecated VALUES(col) in ON DUPLICATE KEY UPDATE for a row
// alias.
func MySQL(rowAlias bool) *Dialect {
	d := &Dialect{
		Name: "MySQL", Quote: '`', MaxParts: 2, MaxIdent: 64, IdentUnit: "characters",
		Placeholder: QuestionMark,
		CheckpointColumns: "(`run_id` VARCHAR(255) NOT NULL PRIMARY KEY, `position` LONGBLOB NOT NULL, `updated_at` DATETIME(6) NOT NULL)" +
			" ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
		Now:          "UTC_TIMESTAMP(6)",
		ExplicitNull: true,
		TableExists: func(schema, name string) (string, []any) {
			return "SELECT COUNT(*) > 0 FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?", []any{schema, name}
		},
	}
	d.Upsert = func(keys, update []string) string {
		// ON DUPLICATE KEY matches every unique key of the table; the key columns are not named.
		if len(update) == 0 {
			update = keys[:1] // nothing to change, but the syntax needs a column
		}
		var b strings.Builder
		if rowAlias {
			b.WriteString(" AS dh_new")
		}
		b.WriteString(" ON DUPLICATE KEY UPDATE ")
		for i, c := range update {
			if i > 0 {
				b.WriteString(", ")
			}
			q := d.QuoteIdent(c)
			if rowAlias {
				b.WriteString(q + " = dh_new." + q)
			} else {
				b.WriteString(q + " = VALUES(" + q + ")")
			}
		}
		return b.String()
	}
	return d
}
