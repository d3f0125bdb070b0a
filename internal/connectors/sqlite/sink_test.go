package sqlite

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/datahub-oss/datahub/connector"
	"github.com/datahub-oss/datahub/internal/connectors/sqlkit"
)

var people = connector.Schema{Columns: []connector.Column{
	{Name: "id", Type: connector.TypeInt64},
	{Name: "name", Type: connector.TypeString},
	{Name: "score", Type: connector.TypeInt64, Nullable: true},
}, Key: []string{"id"}}

func ids(t *testing.T, path, table string) []int64 {
	t.Helper()
	rows, err := rawDB(t, path).Query("SELECT id FROM " + quoteIdent(table) + " ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = rows.Close() }()
	var out []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		out = append(out, id)
	}
	return out
}

// TestRejectIsolation: constraint failures refuse exactly the bad rows, name the column when
// SQLite does, and leave the rows written before them in the same window alone.
func TestRejectIsolation(t *testing.T) {
	path := dbPath(t)
	db := rawDB(t, path)
	mustExec(t, db, `CREATE TABLE people (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE ON CONFLICT REPLACE,
		score INTEGER CHECK (score >= 0), born DATE)`)
	ctx := context.Background()
	k, target := openSink(t, "sqlite:"+path+"?table=people", connector.Schema{Columns: append(slices.Clone(people.Columns),
		connector.Column{Name: "born", Type: connector.TypeDate, Nullable: true})}, connector.SinkOptions{Mode: connector.ModeAppend})
	if target.Columns[1].Nullable || !target.Columns[2].Nullable || target.Columns[3].Type != connector.TypeDate {
		t.Fatalf("target %+v", target)
	}
	day := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	if err := k.Write(ctx, &connector.Batch{Rows: [][]any{{int64(1), "a", int64(1), day}, {int64(2), "b", nil, nil}}}); err != nil {
		t.Fatal(err)
	}
	err := k.Write(ctx, &connector.Batch{Rows: [][]any{
		{int64(3), "c", int64(3), day},
		{int64(1), "dup id", int64(4), nil},                                // PRIMARY KEY
		{int64(5), "e", int64(-5), nil},                                    // CHECK
		{int64(6), "a", nil, nil},                                          // UNIQUE: ON CONFLICT REPLACE is overridden
		{int64(7), nil, nil, nil},                                          // NOT NULL, found before SQLite
		{int64(8), "h", nil, time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}, // not storable
		{int64(9), "i", nil, nil},
	}})
	var rerrs connector.RecordErrors
	if !errors.As(err, &rerrs) {
		t.Fatalf("got %v, want RecordErrors", err)
	}
	type want struct {
		index  int
		column string
		reason string
	}
	wants := []want{{1, "id", "UNIQUE constraint failed: people.id"}, {2, "", "CHECK constraint failed"},
		{3, "name", "UNIQUE constraint failed: people.name"}, {4, "name", "NULL value"}, {5, "born", "year 10000"}}
	if len(rerrs) != len(wants) {
		t.Fatalf("record errors %v", rerrs)
	}
	for i, w := range wants {
		r := rerrs[i]
		if r.Index != w.index || r.Column != w.column || !strings.Contains(r.Err.Error(), w.reason) {
			t.Errorf("record error %d: %v, want index %d column %q reason %q", i, r, w.index, w.column, w.reason)
		}
	}
	if !errors.Is(rerrs[3].Err, connector.ErrNull) {
		t.Errorf("NOT NULL error %v does not wrap ErrNull", rerrs[3].Err)
	}
	if err := k.Flush(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if got := ids(t, path, "people"); !slices.Equal(got, []int64{1, 2, 3, 9}) {
		t.Errorf("ids %v, want 1 2 3 9", got)
	}

	// A batch whose every row is refused writes nothing and keeps the transaction usable.
	err = k.Write(ctx, &connector.Batch{Rows: [][]any{{int64(1), "x", nil, nil}, {int64(2), "y", nil, nil}}})
	if !errors.As(err, &rerrs) || len(rerrs) != 2 {
		t.Fatalf("got %v", err)
	}
	if err := k.Write(ctx, &connector.Batch{Rows: [][]any{{int64(10), "j", nil, nil}}}); err != nil {
		t.Fatal(err)
	}
	if err := k.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if got := ids(t, path, "people"); !slices.Equal(got, []int64{1, 2, 3, 9, 10}) {
		t.Errorf("ids %v", got)
	}
}

func TestUpsert(t *testing.T) {
	path := dbPath(t)
	url := "sqlite:" + path + "?table=people"
	up := connector.SinkOptions{Mode: connector.ModeUpsert, Key: []string{"id"}}
	rows := [][]any{{int64(1), "a", int64(1)}, {int64(2), "b", nil}, {int64(2), "b2", int64(22)}}
	for range 2 {
		if err := write(t, url, people, up, rows); err != nil {
			t.Fatal(err)
		}
	}
	_, got, _ := readAll(t, connector.Endpoint{URL: url})
	want := [][]any{{int64(1), "a", int64(1)}, {int64(2), "b2", int64(22)}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("after upserting twice: %v, want %v", got, want)
	}

	// The target's own primary key when no key is given; a unique index also serves.
	if err := write(t, url, people, connector.SinkOptions{Mode: connector.ModeUpsert}, [][]any{{int64(1), "a1", nil}}); err != nil {
		t.Fatal(err)
	}
	db := rawDB(t, path)
	mustExec(t, db, `CREATE TABLE byname (id INTEGER, name TEXT NOT NULL, score INTEGER)`)
	mustExec(t, db, `CREATE UNIQUE INDEX byname_name ON byname (name)`)
	byName := connector.SinkOptions{Mode: connector.ModeUpsert, Key: []string{"name"}}
	for range 2 {
		if err := write(t, "sqlite:"+path+"?table=byname", people, byName, [][]any{{int64(1), "x", nil}, {int64(2), "x", int64(5)}}); err != nil {
			t.Fatal(err)
		}
	}
	var n, id int
	if err := db.QueryRow("SELECT count(*), max(id) FROM byname").Scan(&n, &id); err != nil || n != 1 || id != 2 {
		t.Errorf("byname: %d rows, id %d, %v", n, id, err)
	}

	// No key at all, or a key without a unique index: refused at Open.
	mustExec(t, db, `CREATE TABLE loose (id INTEGER, name TEXT, score INTEGER)`)
	ctx := context.Background()
	for _, opts := range []connector.SinkOptions{{Mode: connector.ModeUpsert}, {Mode: connector.ModeUpsert, Key: []string{"id"}}} {
		k := &Sink{ep: connector.Endpoint{URL: "sqlite:" + path + "?table=loose"}}
		_, err := k.Open(ctx, people, opts)
		if err == nil {
			t.Errorf("upsert on a table without a matching key opened (%v)", opts.Key)
		} else if !strings.Contains(err.Error(), "key") {
			t.Errorf("message: %v", err)
		}
		_ = k.Close(ctx)
	}

	// Keys only: DO NOTHING.
	keysOnly := connector.Schema{Columns: []connector.Column{{Name: "id", Type: connector.TypeInt64}}, Key: []string{"id"}}
	for range 2 {
		if err := write(t, "sqlite:"+path+"?table=keys", keysOnly, connector.SinkOptions{Mode: connector.ModeUpsert},
			[][]any{{int64(1)}, {int64(2)}, {int64(1)}}); err != nil {
			t.Fatal(err)
		}
	}
	if got := ids(t, path, "keys"); !slices.Equal(got, []int64{1, 2}) {
		t.Errorf("keys only: %v", got)
	}
}

func TestReplace(t *testing.T) {
	path := dbPath(t)
	url := "sqlite:" + path + "?table=people"
	db := rawDB(t, path)
	mustExec(t, db, `CREATE TABLE people (id INTEGER PRIMARY KEY, name TEXT NOT NULL COLLATE NOCASE, score INTEGER DEFAULT 7, extra TEXT DEFAULT 'x')`)
	mustExec(t, db, `CREATE INDEX people_name ON people (name)`)
	mustExec(t, db, `CREATE TABLE audit (id INTEGER)`)
	mustExec(t, db, `CREATE TRIGGER people_audit AFTER INSERT ON people BEGIN INSERT INTO audit VALUES (new.id); END`)
	mustExec(t, db, `CREATE VIEW top AS SELECT id, name FROM people WHERE score > 5`)
	mustExec(t, db, `INSERT INTO people (id, name, score) VALUES (1, 'old', 9)`)
	mustExec(t, db, `CREATE TABLE pets (id INTEGER PRIMARY KEY, owner INTEGER REFERENCES people (id))`)
	mustExec(t, db, `INSERT INTO pets VALUES (1, 1)`)
	ctx := context.Background()
	two := connector.Schema{Columns: people.Columns[:2]}

	// Closed without Commit: the old rows stay, and so does nothing of the staging table.
	k, _ := openSink(t, url, two, connector.SinkOptions{Mode: connector.ModeReplace})
	if err := k.Write(ctx, &connector.Batch{Rows: [][]any{{int64(5), "new"}}}); err != nil {
		t.Fatal(err)
	}
	if err := k.Flush(ctx, connector.Position("p")); err != nil {
		t.Fatal(err)
	}
	if got := ids(t, path, "people"); !slices.Equal(got, []int64{1}) {
		t.Errorf("a flushed replace is visible before Commit: %v", got)
	}
	if err := k.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if got := ids(t, path, "people"); !slices.Equal(got, []int64{1}) {
		t.Errorf("after Close without Commit: %v", got)
	}
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM sqlite_schema WHERE name LIKE '%datahub%'`).Scan(&n); err != nil || n != 0 {
		t.Errorf("%d staging or checkpoint tables left (%v)", n, err)
	}

	// A replace that would orphan pets is refused, leaving the table as it was.
	k, _ = openSink(t, url, two, connector.SinkOptions{Mode: connector.ModeReplace})
	if err := k.Write(ctx, &connector.Batch{Rows: [][]any{{int64(2), "b"}}}); err != nil {
		t.Fatal(err)
	}
	err := k.Commit(ctx)
	codeOf(t, err, connector.CodeData)
	if !strings.Contains(err.Error(), "pets") {
		t.Errorf("message: %v", err)
	}
	_ = k.Close(ctx)
	if got := ids(t, path, "people"); !slices.Equal(got, []int64{1}) {
		t.Errorf("after a refused replace: %v", got)
	}

	// A replace keeping id 1: indexes, triggers, defaults, collations and views carry over.
	if err := write(t, url, two, connector.SinkOptions{Mode: connector.ModeReplace}, [][]any{{int64(1), "One"}, {int64(3), "three"}}); err != nil {
		t.Fatal(err)
	}
	if got := ids(t, path, "people"); !slices.Equal(got, []int64{1, 3}) {
		t.Errorf("after replace: %v", got)
	}
	var objects []string
	rows, err := db.Query(`SELECT type || ' ' || name FROM sqlite_schema WHERE tbl_name IN ('people', 'top') ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var s string
		_ = rows.Scan(&s)
		objects = append(objects, s)
	}
	_ = rows.Close()
	if want := []string{"index people_name", "table people", "trigger people_audit", "view top"}; !slices.Equal(objects, want) {
		t.Errorf("schema objects %v, want %v", objects, want)
	}
	var top, audited int
	var name string
	if err := db.QueryRow(`SELECT count(*) FROM top`).Scan(&top); err != nil || top != 2 {
		t.Errorf("view over the replaced table: %d rows, %v", top, err)
	}
	if err := db.QueryRow(`SELECT name FROM people WHERE name = 'ONE'`).Scan(&name); err != nil || name != "One" {
		t.Errorf("collation lost: %q %v", name, err)
	}
	// The target's triggers are recreated after the swap: the replace's own load does not fire them.
	if err := db.QueryRow(`SELECT count(*) FROM audit`).Scan(&audited); err != nil || audited != 1 {
		t.Errorf("the replace fired the target's trigger: %d audit rows (%v), want the 1 from before", audited, err)
	}
	mustExec(t, db, `INSERT INTO people (id, name) VALUES (4, 'four')`)
	if err := db.QueryRow(`SELECT count(*) FROM audit`).Scan(&audited); err != nil || audited != 2 {
		t.Errorf("trigger not recreated: %d", audited)
	}

	// A stale staging table from a killed run is dropped on Open.
	mustExec(t, db, `CREATE TABLE people__datahub_staging (junk INTEGER)`)
	if err := write(t, url, two, connector.SinkOptions{Mode: connector.ModeReplace}, [][]any{{int64(1), "again"}}); err != nil {
		t.Fatal(err)
	}
	if got := ids(t, path, "people"); !slices.Equal(got, []int64{1}) {
		t.Errorf("after replace over stale staging: %v", got)
	}

	// Replace into a new table creates it at Commit only.
	k, _ = openSink(t, "sqlite:"+path+"?table=fresh", people, connector.SinkOptions{Mode: connector.ModeReplace})
	if err := k.Write(ctx, &connector.Batch{Rows: [][]any{{int64(1), "a", nil}}}); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := lookup(ctx, db, "fresh"); ok {
		t.Error("the new table exists before Commit")
	}
	if err := k.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	_ = k.Close(ctx)
	if got := ids(t, path, "fresh"); !slices.Equal(got, []int64{1}) {
		t.Errorf("fresh: %v", got)
	}
}

// TestExistingTargetMapping: writing into a table another application made describes its
// columns as declared, refuses columns it lacks or generates, and refuses views.
func TestExistingTargetMapping(t *testing.T) {
	path := dbPath(t)
	db := rawDB(t, path)
	mustExec(t, db, `CREATE TABLE t (ID INTEGER PRIMARY KEY, Name VARCHAR(5) NOT NULL, amount NUMERIC(30,2), raw,
		twice INTEGER GENERATED ALWAYS AS (ID * 2))`)
	ctx := context.Background()
	s := connector.Schema{Columns: []connector.Column{
		{Name: "id", Type: connector.TypeInt64}, {Name: "name", Type: connector.TypeString, Nullable: true},
		{Name: "amount", Type: connector.TypeDecimal, Nullable: true}, {Name: "raw", Type: connector.TypeTimestamp, Nullable: true}}}
	k, target := openSink(t, "sqlite:"+path+"?table=T", s, connector.SinkOptions{})
	want := []connector.Column{
		{Name: "ID", Type: connector.TypeInt64, Nullable: true, Native: "INTEGER"},
		{Name: "Name", Type: connector.TypeString, Length: 5, Native: "VARCHAR(5)"},
		{Name: "amount", Type: connector.TypeDecimal, Precision: 30, Scale: 2, Nullable: true, Native: "NUMERIC(30,2)"},
		{Name: "raw", Type: connector.TypeTimestamp, Nullable: true},
	}
	if fmt.Sprint(target.Columns) != fmt.Sprint(want) || !slices.Equal(target.Key, []string{"ID"}) {
		t.Errorf("target %+v", target)
	}
	// NUMERIC affinity keeps 15 significant digits: a longer decimal is refused, not rounded.
	err := k.Write(ctx, &connector.Batch{Rows: [][]any{
		{int64(1), "a", connector.Decimal("99999999.99"), time.Date(2024, 1, 1, 1, 2, 3, 0, time.UTC)},
		{int64(2), "b", connector.Decimal("1234567890123456.78"), nil},
	}})
	var rerrs connector.RecordErrors
	if !errors.As(err, &rerrs) || len(rerrs) != 1 || rerrs[0].Index != 1 || rerrs[0].Column != "amount" {
		t.Fatalf("got %v", err)
	}
	if err := k.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	_ = k.Close(ctx)
	var amount float64
	var raw string
	if err := db.QueryRow(`SELECT amount, raw FROM t`).Scan(&amount, &raw); err != nil || amount != 99999999.99 || raw != "2024-01-01 01:02:03.000000000" {
		t.Errorf("stored %v %q %v", amount, raw, err)
	}

	for _, bad := range []connector.Column{{Name: "missing", Type: connector.TypeString}, {Name: "twice", Type: connector.TypeInt64}} {
		k := &Sink{ep: connector.Endpoint{URL: "sqlite:" + path + "?table=t"}}
		_, err := k.Open(ctx, connector.Schema{Columns: []connector.Column{bad}}, connector.SinkOptions{})
		codeOf(t, err, connector.CodeSchema)
		if !strings.Contains(err.Error(), bad.Name) || !strings.Contains(err.Error(), "table t") {
			t.Errorf("message: %v", err)
		}
		_ = k.Close(ctx)
	}
	// A NOT NULL column without a default that nothing is written to would refuse every row.
	mustExec(t, db, `CREATE TABLE strictish (id INTEGER PRIMARY KEY, must TEXT NOT NULL, fine TEXT NOT NULL DEFAULT 'x')`)
	k = &Sink{ep: connector.Endpoint{URL: "sqlite:" + path + "?table=strictish"}}
	_, err = k.Open(ctx, connector.Schema{Columns: s.Columns[:1]}, connector.SinkOptions{})
	codeOf(t, err, connector.CodeSchema)
	if !strings.Contains(err.Error(), `"must"`) {
		t.Errorf("message: %v", err)
	}
	_ = k.Close(ctx)
	mustExec(t, db, `CREATE VIEW v AS SELECT * FROM t`)
	k = &Sink{ep: connector.Endpoint{URL: "sqlite:" + path + "?table=v"}}
	_, err = k.Open(ctx, s, connector.SinkOptions{})
	codeOf(t, err, connector.CodeUnsupported)
	_ = k.Close(ctx)
}

// TestPositionStore: the position is stored with the rows, in the same transaction.
func TestPositionStore(t *testing.T) {
	path := dbPath(t)
	url := "sqlite:" + path + "?table=people"
	ctx := context.Background()
	opts := connector.SinkOptions{Mode: connector.ModeAppend, RunID: "run-1"}
	k, _ := openSink(t, url, people, opts)
	if pos, err := k.SavedPosition(ctx); err != nil || pos != nil {
		t.Fatalf("fresh: %q %v", pos, err)
	}
	if err := k.Write(ctx, &connector.Batch{Rows: [][]any{{int64(1), "a", nil}}}); err != nil {
		t.Fatal(err)
	}
	if err := k.Flush(ctx, connector.Position("after-1")); err != nil {
		t.Fatal(err)
	}
	if err := k.Write(ctx, &connector.Batch{Rows: [][]any{{int64(2), "b", nil}}}); err != nil {
		t.Fatal(err)
	}
	// Killed here: neither row 2 nor its position is kept.
	_ = k.Close(ctx)
	k, _ = openSink(t, url, people, opts)
	if pos, err := k.SavedPosition(ctx); err != nil || string(pos) != "after-1" {
		t.Fatalf("saved %q %v", pos, err)
	}
	if got := ids(t, path, "people"); !slices.Equal(got, []int64{1}) {
		t.Errorf("ids %v", got)
	}
	// A position with no rows (a batch of rejects only) is stored too.
	if err := k.Flush(ctx, connector.Position("after-2")); err != nil {
		t.Fatal(err)
	}
	if pos, _ := k.SavedPosition(ctx); string(pos) != "after-2" {
		t.Errorf("saved %q", pos)
	}
	_ = k.Close(ctx)
	// Another run has its own.
	k, _ = openSink(t, url, people, connector.SinkOptions{RunID: "run-2"})
	if pos, err := k.SavedPosition(ctx); err != nil || pos != nil {
		t.Errorf("run-2: %q %v", pos, err)
	}
	// The checkpoint table is not listed as a table to read.
	src := &Source{ep: connector.Endpoint{URL: "sqlite:" + path + "?table=nope"}}
	err := src.Open(ctx, nil)
	if err == nil || strings.Contains(err.Error(), sqlkit.CheckpointTable) {
		t.Errorf("missing table message: %v", err)
	}
	_ = src.Close(ctx)
}

func TestRenameCreate(t *testing.T) {
	tests := []struct{ in, want string }{
		{`CREATE TABLE t (a INT)`, `CREATE TABLE "s" (a INT)`},
		{`CREATE TABLE "my ""odd"" t"(a INT)`, `CREATE TABLE "s" (a INT)`},
		{"CREATE TABLE [a b]\n(a INT)", `CREATE TABLE "s" (a INT)`},
		{"CREATE TABLE `x`(a)", `CREATE TABLE "s" (a)`},
		{`CREATE TABLE IF NOT EXISTS t(a) WITHOUT ROWID`, `CREATE TABLE "s" (a) WITHOUT ROWID`},
	}
	for _, tt := range tests {
		got, err := renameCreate(tt.in, "s")
		if err != nil || got != tt.want {
			t.Errorf("%s: %q %v, want %q", tt.in, got, err, tt.want)
		}
	}
	if _, err := renameCreate(`CREATE VIRTUAL TABLE t USING fts5(a)`, "s"); err == nil {
		t.Error("virtual table accepted")
	}
}

// TestTriggers: a trigger's RAISE(ABORT) or RAISE(FAIL) refuses its row only; a
// RAISE(ROLLBACK) loses the window, which is reported, and the sink goes on after it.
func TestTriggers(t *testing.T) {
	path := dbPath(t)
	db := rawDB(t, path)
	mustExec(t, db, `CREATE TABLE people (id INTEGER PRIMARY KEY, name TEXT NOT NULL, score INTEGER)`)
	mustExec(t, db, `CREATE TABLE log (id INTEGER)`)
	mustExec(t, db, `CREATE TRIGGER guard BEFORE INSERT ON people BEGIN
		INSERT INTO log VALUES (new.id);
		SELECT CASE WHEN new.name = 'abort' THEN RAISE(ABORT, 'no aborts')
		            WHEN new.name = 'fail' THEN RAISE(FAIL, 'no fails')
		            WHEN new.name = 'rollback' THEN RAISE(ROLLBACK, 'no rollbacks') END;
	END`)
	ctx := context.Background()
	k, _ := openSink(t, "sqlite:"+path+"?table=people", people, connector.SinkOptions{})
	err := k.Write(ctx, &connector.Batch{Rows: [][]any{{int64(1), "ok", nil}, {int64(2), "abort", nil}, {int64(3), "fail", nil}, {int64(4), "ok", nil}}})
	var rerrs connector.RecordErrors
	if !errors.As(err, &rerrs) || len(rerrs) != 2 || rerrs[0].Index != 1 || rerrs[1].Index != 2 ||
		!strings.Contains(rerrs[0].Err.Error(), "no aborts") || !strings.Contains(rerrs[1].Err.Error(), "no fails") {
		t.Fatalf("got %v", err)
	}
	if err := k.Flush(ctx, nil); err != nil {
		t.Fatal(err)
	}
	var logged int
	if err := db.QueryRow(`SELECT count(*) FROM log`).Scan(&logged); err != nil || logged != 2 {
		t.Errorf("%d log rows (%v): the refused rows' trigger work was kept", logged, err)
	}
	if err := k.Write(ctx, &connector.Batch{Rows: [][]any{{int64(5), "ok", nil}}}); err != nil {
		t.Fatal(err)
	}
	err = k.Write(ctx, &connector.Batch{Rows: [][]any{{int64(6), "rollback", nil}}})
	codeOf(t, err, connector.CodeTransient)
	if err := k.Write(ctx, &connector.Batch{Rows: [][]any{{int64(7), "ok", nil}}}); err != nil {
		t.Fatal(err)
	}
	if err := k.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if got := ids(t, path, "people"); !slices.Equal(got, []int64{1, 4, 7}) {
		t.Errorf("ids %v, want 1 4 7 (5 was lost with the rolled back window)", got)
	}
}
