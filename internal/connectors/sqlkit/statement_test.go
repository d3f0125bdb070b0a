package sqlkit

import (
	"fmt"
	"testing"
)

func TestCreateTable(t *testing.T) {
	cols := []ColumnDef{{Name: "id", Type: "bigint", NotNull: true}, {Name: "n", Type: "text", Extra: " COLLATE x"}}
	for _, tt := range []struct {
		d       *Dialect
		key     []string
		options string
		want    string
	}{
		{Postgres, []string{"id"}, "", `CREATE TABLE t ("id" bigint NOT NULL, "n" text COLLATE x, PRIMARY KEY ("id"))`},
		{SQLite, nil, "", `CREATE TABLE t ("id" bigint NOT NULL, "n" text COLLATE x)`},
		{MySQL(false), []string{"id", "n"}, " ENGINE=InnoDB", "CREATE TABLE t (`id` bigint NOT NULL, `n` text NULL COLLATE x, PRIMARY KEY (`id`, `n`)) ENGINE=InnoDB"},
	} {
		if got := tt.d.CreateTable("t", cols, tt.key, tt.options); got != tt.want {
			t.Errorf("%s:\n got %s\nwant %s", tt.d.Name, got, tt.want)
		}
	}
}

func TestRowsSQL(t *testing.T) {
	for n, want := range map[int]string{0: "INSERT ;", 1: "INSERT (?);", 3: "INSERT (?),(?),(?);"} {
		if got := RowsSQL("INSERT ", "(?)", ";", n); got != want {
			t.Errorf("RowsSQL(%d) = %s, want %s", n, got, want)
		}
	}
}

func TestKeysetSQL(t *testing.T) {
	for _, tt := range []struct {
		key, after []string
		want       string
	}{
		{[]string{"id"}, nil, ` ORDER BY "id"`},
		{[]string{"id"}, []string{"$1"}, ` WHERE "id" > $1 ORDER BY "id"`},
		{[]string{"a", "b"}, []string{"?", "?"}, ` WHERE ("a", "b") > (?, ?) ORDER BY "a", "b"`},
	} {
		if got := Postgres.KeysetSQL(tt.key, tt.after); got != tt.want {
			t.Errorf("KeysetSQL(%v, %v) = %s, want %s", tt.key, tt.after, got, tt.want)
		}
	}
}

// TestColumnSets reads SQLite's unique indexes as sets, composite and single.
func TestColumnSets(t *testing.T) {
	ctx := t.Context()
	db := openSQLite(t)
	for _, q := range []string{"CREATE TABLE t (a INT, b INT, c INT)", "CREATE UNIQUE INDEX t_ba ON t (b, a)", "CREATE UNIQUE INDEX t_c ON t (c)"} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	sets, err := ColumnSets(ctx, db, `SELECT l.name, i.name FROM pragma_index_list('t') AS l, pragma_index_info(l.name) AS i
		ORDER BY l.name, i.seqno`)
	if err != nil || fmt.Sprint(sets) != "[[b a] [c]]" {
		t.Errorf("ColumnSets = %v, %v", sets, err)
	}
	if sets, err := ColumnSets(ctx, db, "SELECT name, name FROM sqlite_schema WHERE 0"); err != nil || sets != nil {
		t.Errorf("no rows: %v, %v", sets, err)
	}
}
