package postgres

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/datahub-oss/datahub/connector"
	"github.com/datahub-oss/datahub/internal/connectors/sqlkit"
)

func TestResumeCompositeKey(t *testing.T) {
	conn := sqlConn(t)
	table := tableFor(t)
	// Text keys with quotes, backslashes and case differences exercise the keyset literal.
	mustExec(t, conn, "CREATE TABLE "+table+" (k1 text, k2 int, v text, PRIMARY KEY (k1, k2))")
	keys := []string{"a", "B", "it's", `back\slash`, "tab\there", "é"}
	var want []string
	for _, k := range keys {
		for j := range 3 {
			mustExec(t, conn, "INSERT INTO "+table+" VALUES ($1, $2, $3)", k, j, fmt.Sprintf("%s/%d", k, j))
		}
	}
	ep := endpointFor(t, table)
	sch, all, _, poss := readAll(t, ep, nil)
	if !slices.Equal(sch.Key, []string{"k1", "k2"}) {
		t.Fatalf("key %v", sch.Key)
	}
	for _, r := range all {
		want = append(want, r[2].(string))
	}
	if len(want) != 18 || len(poss) != 1 || poss[0] == nil {
		t.Fatalf("%d rows, positions %q", len(want), poss)
	}
	ep.BatchSize = 4
	_, _, _, poss = readAll(t, ep, nil)
	if len(poss) != 5 {
		t.Fatalf("%d batches of 4 for 18 rows", len(poss))
	}
	for i, pos := range poss {
		// The position, and the same as the versions before sqlkit's format wrote it (the
		// text forms without type tags), which transaction logs and checkpoint tables may hold.
		k, err := sqlkit.DecodeKeyset(pos, nil)
		if err != nil {
			t.Fatal(err)
		}
		legacy, _ := json.Marshal(map[string]any{"key": k.Key, "after": k.After})
		for _, from := range []connector.Position{pos, legacy} {
			_, rest, _, _ := readAll(t, ep, from)
			var got []string
			for _, r := range rest {
				got = append(got, r[2].(string))
			}
			if n := min(4*(i+1), len(want)); !slices.Equal(got, want[n:]) {
				t.Errorf("resumed after batch %d (pos %s): %v, want %v", i, from, got, want[n:])
			}
		}
	}
	// A position that does not fit the table is refused.
	err := (&Source{ep: ep}).Open(t.Context(), connector.Position(`{"key":["other"],"after":["1"]}`))
	if connector.CodeOf(err) != connector.CodeUsage {
		t.Errorf("foreign position: %v", err)
	}
}

func TestTableWithoutKeyHasNoPosition(t *testing.T) {
	conn := sqlConn(t)
	table := tableFor(t)
	mustExec(t, conn, "CREATE TABLE "+table+" AS SELECT g AS n FROM generate_series(1, 25) g")
	ep := endpointFor(t, table)
	ep.BatchSize = 10
	_, rows, _, poss := readAll(t, ep, nil)
	if len(rows) != 25 || len(poss) != 3 || slices.ContainsFunc(poss, func(p connector.Position) bool { return p != nil }) {
		t.Errorf("%d rows, positions %q", len(rows), poss)
	}
	err := (&Source{ep: ep}).Open(t.Context(), connector.Position(`{}`))
	if connector.CodeOf(err) != connector.CodeUsage {
		t.Errorf("resuming a keyless table: %v", err)
	}
}

func TestQuerySource(t *testing.T) {
	q := url.QueryEscape(`SELECT g AS id, g::numeric(8,3) / 8 AS frac, 'x' || g AS "Label", 1, 2, now() > '2000-01-01' AS b,
		'{"a":1}'::jsonb AS j, NULL::varchar(4) AS v FROM generate_series(1, 5) g ORDER BY g DESC;`)
	ep := connector.Endpoint{URL: testDB(t) + "?query=" + q, BatchSize: 2}
	sch, rows, rejects, poss := readAll(t, ep, nil)
	if len(rejects) > 0 {
		t.Fatal(rejects)
	}
	var desc []string
	for _, c := range sch.Columns {
		if !c.Nullable {
			t.Errorf("query column %s is NOT NULL", c.Name)
		}
		desc = append(desc, c.Name+" "+strings.Fields(c.Describe())[0])
	}
	want := []string{"id int64", "frac decimal", "Label string", "?column? int64", "?column?_2 int64", "b bool", "j json", "v string(4)"}
	if !slices.Equal(desc, want) {
		t.Errorf("schema %v, want %v", desc, want)
	}
	if len(rows) != 5 || rows[0][0] != int64(5) || rows[0][1] != connector.Decimal("0.62500000000000000000") || rows[4][2] != "x1" {
		t.Errorf("rows %v", rows)
	}
	if len(poss) != 3 || poss[0] != nil {
		t.Errorf("query positions %q, want nil", poss)
	}
	if err := (&Source{ep: ep}).Open(t.Context(), connector.Position("x")); connector.CodeOf(err) != connector.CodeUsage {
		t.Errorf("resuming a query: %v", err)
	}
	bad := connector.Endpoint{URL: testDB(t) + "?query=" + url.QueryEscape("SELECT nope FROM nowhere")}
	err := (&Source{ep: bad}).Open(t.Context(), nil)
	if err == nil || !strings.Contains(err.Error(), "nowhere") {
		t.Errorf("bad query: %v", err)
	}
}

func TestErrorMessages(t *testing.T) {
	base := testDB(t)
	u, _ := url.Parse(base)
	ctx := t.Context()

	missingDB := *u
	missingDB.User = url.UserPassword("postgres", "s3cret-pw")
	missingDB.Path = "/no_such_db"
	missingDB.RawQuery = "table=t&sslmode=disable"
	err := (&Source{ep: connector.Endpoint{URL: missingDB.String()}}).Open(ctx, nil)
	if connector.CodeOf(err) != connector.CodeNotFound || !strings.Contains(err.Error(), `database "no_such_db" does not exist on `+u.Host) ||
		!strings.Contains(err.Error(), "check the URL's database name") {
		t.Errorf("missing database: %v", err)
	}
	if strings.Contains(err.Error(), "s3cret-pw") || !strings.Contains(err.Error(), "xxxxx") {
		t.Errorf("missing database error does not name the redacted endpoint: %v", err)
	}

	err = (&Source{ep: endpointFor(t, "nosuchschema.nosuchtable")}).Open(ctx, nil)
	if connector.CodeOf(err) != connector.CodeNotFound || !strings.Contains(err.Error(), "nosuchschema.nosuchtable") ||
		!strings.Contains(err.Error(), testDBName) {
		t.Errorf("missing table: %v", err)
	}

	refused := connector.Endpoint{URL: "postgres://u:pw12345@127.0.0.1:1/db?table=t"}
	err = (&Source{ep: refused}).Open(ctx, nil)
	if connector.CodeOf(err) != connector.CodeUnreachable || !connector.Retryable(err) ||
		!strings.Contains(err.Error(), "127.0.0.1:1") || strings.Contains(err.Error(), "pw12345") {
		t.Errorf("connection refused: %v", err)
	}

	err = (&Source{ep: connector.Endpoint{URL: base}}).Open(ctx, nil)
	if connector.CodeOf(err) != connector.CodeUsage {
		t.Errorf("no table or query: %v", err)
	}
	err = (&Source{ep: connector.Endpoint{URL: base + "?table=a..b"}}).Open(ctx, nil)
	if connector.CodeOf(err) != connector.CodeUsage {
		t.Errorf("bad table name: %v", err)
	}
	_, err = (&Sink{ep: connector.Endpoint{URL: base + "?query=SELECT+1"}}).Open(ctx, idNameSchema(), connector.SinkOptions{})
	if connector.CodeOf(err) != connector.CodeUsage {
		t.Errorf("sink with a query: %v", err)
	}
}

func TestClassifyPgError(t *testing.T) {
	scrub := func(s string) string { return strings.ReplaceAll(s, "hunter2", "xxxxx") }
	tests := []struct {
		code string
		want connector.Code
		in   string
	}{
		{"28P01", connector.CodeAuth, "check the user and password"},
		{"28000", connector.CodeAuth, "refused the login"},
		{"3D000", connector.CodeNotFound, `database "db" does not exist on h:5432`},
		{"42P01", connector.CodeNotFound, "table public.t does not exist"},
		{"40001", connector.CodeTransient, "retry"},
		{"40P01", connector.CodeTransient, "retry"},
		{"22001", connector.CodeData, "public.t"},
		{"23505", connector.CodeData, "SQLSTATE 23505"},
		{"42501", connector.CodePermission, "grant"},
		{"57P01", connector.CodeTransient, "retry later"},
		{"XX000", connector.CodeInternal, "boom"},
	}
	for _, tt := range tests {
		pe := &pgconn.PgError{Code: tt.code, Message: "boom for hunter2"}
		err := classifyPgError(pe, "postgres://u:xxxxx@h:5432/db", "h:5432", "db", "public.t", scrub)
		if connector.CodeOf(err) != tt.want || !strings.Contains(err.Error(), tt.in) {
			t.Errorf("%s: %v (code %s), want %s mentioning %q", tt.code, err, connector.CodeOf(err), tt.want, tt.in)
		}
		if strings.Contains(err.Error(), "hunter2") || !strings.HasPrefix(err.Error(), "postgres://u:xxxxx@h:5432/db: ") {
			t.Errorf("%s: %v", tt.code, err)
		}
		var got *pgconn.PgError
		if !errors.As(err, &got) || got != pe {
			t.Errorf("%s: the PgError is not reachable", tt.code)
		}
	}
	if connector.Retryable(classifyPgError(&pgconn.PgError{Code: "40P01"}, "", "", "", "", scrub)) != true {
		t.Error("deadlock not retryable")
	}
}

func TestParseTableName(t *testing.T) {
	tests := []struct {
		in   string
		want tableName
		err  bool
	}{
		{"orders", tableName{Schema: "public", Name: "orders"}, false},
		{"sales.orders", tableName{Schema: "sales", Name: "orders"}, false},
		{`"My Schema"."a.b""c"`, tableName{Schema: "My Schema", Name: `a.b"c`, quoted: true}, false},
		{`s."T"`, tableName{Schema: "s", Name: "T", quoted: true}, false},
		{"a.b.c", tableName{}, true},
		{"a.", tableName{}, true},
		{`"open`, tableName{}, true},
		{"", tableName{}, true},
	}
	for _, tt := range tests {
		got, err := parseTableName(tt.in)
		if (err != nil) != tt.err || (!tt.err && got != tt.want) {
			t.Errorf("parseTableName(%q) = %+v, %v", tt.in, got, err)
		}
	}
	if got := (tableName{Schema: "s", Name: `a"b`}).SQL(); got != `"s"."a""b"` {
		t.Errorf("SQL() = %s", got)
	}
	long := strings.Repeat("é", 40)
	if s := stagingName(tableName{Schema: "s", Name: long}); len(s.Name) > dialect.MaxIdent || !strings.HasSuffix(s.Name, sqlkit.StagingSuffix) {
		t.Errorf("staging name %q (%d bytes)", s.Name, len(s.Name))
	}
}

func TestNumericTypmod(t *testing.T) {
	for _, tt := range []struct {
		typmod     int32
		prec, scal int
	}{
		{-1, 0, 0},
		{(12<<16 | 2) + 4, 12, 2},
		{1000<<16 + 4, 1000, 0},
		{(5<<16 | 0x7fe) + 4, 0, 0}, // numeric(5,-2) in PostgreSQL 15
		{(2<<16 | 5) + 4, 0, 0},     // numeric(2,5)
	} {
		if p, s := numericTypmod(tt.typmod); p != tt.prec || s != tt.scal {
			t.Errorf("typmod %d: %d,%d want %d,%d", tt.typmod, p, s, tt.prec, tt.scal)
		}
	}
}

func TestUnquotedNameFolds(t *testing.T) {
	conn := sqlConn(t)
	table := tableFor(t)
	mustExec(t, conn, "CREATE TABLE "+table+" (id int)")
	_, rows, _, _ := readAll(t, endpointFor(t, strings.ToUpper(table)), nil)
	if len(rows) != 0 {
		t.Errorf("rows %v", rows)
	}
	err := (&Source{ep: endpointFor(t, `"`+strings.ToUpper(table)+`"`)}).Open(t.Context(), nil)
	if connector.CodeOf(err) != connector.CodeNotFound {
		t.Errorf("quoted name folded: %v", err)
	}
}

// A source query that writes fails with a clear error, on the row path and the binary COPY
// path, and changes nothing.
func TestSourceQueryIsReadOnly(t *testing.T) {
	conn := sqlConn(t)
	table := tableFor(t)
	mustExec(t, conn, "CREATE TABLE "+table+" (id int PRIMARY KEY, v text)")
	mustExec(t, conn, "INSERT INTO "+table+" SELECT g, 'v' || g FROM generate_series(1, 3) g")
	seq := table + "_seq"
	mustExec(t, conn, "CREATE SEQUENCE "+seq)
	for name, q := range map[string]string{
		"delete returning": "DELETE FROM " + table + " RETURNING *",
		"delete in with":   "WITH d AS (DELETE FROM " + table + " WHERE id = 2 RETURNING *) SELECT * FROM d",
		"update returning": "UPDATE " + table + " SET v = 'x' RETURNING id",
		"insert returning": "INSERT INTO " + table + " VALUES (9, 'x') RETURNING id",
		"nextval":          "SELECT nextval('" + seq + "') AS n",
		"for update":       "SELECT * FROM " + table + " FOR UPDATE",
		"two statements":   "SELECT 1 AS one; DELETE FROM " + table,
	} {
		for _, raw := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/raw=%v", strings.ReplaceAll(name, " ", "_"), raw), func(t *testing.T) {
				ctx := t.Context()
				src := &Source{ep: connector.Endpoint{URL: testDB(t) + "?query=" + url.QueryEscape(q)}}
				defer func() { _ = src.Close(ctx) }()
				err := src.Open(ctx, nil)
				if err == nil {
					if raw {
						_, err = src.ReadRaw(ctx, src.schema.Names(), io.Discard)
					} else {
						_, _, err = src.Read(ctx)
					}
				}
				if name == "two statements" {
					// Refused as a query, before anything runs.
					if err == nil || connector.CodeOf(err) != connector.CodeUsage {
						t.Fatalf("two statements: %v", err)
					}
				} else if connector.CodeOf(err) != connector.CodeUsage || !strings.Contains(err.Error(), "a source query must only read: ") ||
					!strings.Contains(err.Error(), "read-only transaction") {
					t.Fatalf("got %v (code %s), want a usage error saying a source query must only read", err, connector.CodeOf(err))
				}
				if n := count(t, conn, table); n != 3 {
					t.Fatalf("the table has %d rows, want 3", n)
				}
			})
		}
	}
	var v string
	if err := conn.QueryRow(t.Context(), "SELECT string_agg(v, ',' ORDER BY id) FROM "+table).Scan(&v); err != nil || v != "v1,v2,v3" {
		t.Fatalf("values %q, %v", v, err)
	}
	// Reading a table and a plain query still works.
	if _, rows, _, _ := readAll(t, endpointFor(t, table), nil); len(rows) != 3 {
		t.Fatalf("table read: %d rows", len(rows))
	}
}
