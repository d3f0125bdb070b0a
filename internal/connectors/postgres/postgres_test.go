package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/datahub-oss/datahub/connector"
	"github.com/datahub-oss/datahub/connector/conntest"
)

const testDBName = "dh_test_postgres"

var (
	setupOnce sync.Once
	setupErr  error
	dbURL     string
	nameSeq   atomic.Int64
)

func adminURL() string {
	if u := os.Getenv("DATAHUB_TEST_PG"); u != "" {
		return u
	}
	return "postgres://postgres@127.0.0.1:5432/postgres"
}

// testDB (re)creates the test database once per test binary and returns its URL (no query).
func testDB(t testing.TB) string {
	t.Helper()
	setupOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, adminURL())
		if err != nil {
			setupErr = err
			return
		}
		defer conn.Close(ctx)
		if _, err = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+testDBName+" WITH (FORCE)"); err == nil {
			_, err = conn.Exec(ctx, "CREATE DATABASE "+testDBName)
		}
		if err != nil {
			setupErr = err
			return
		}
		u, _ := url.Parse(adminURL())
		u.Path = "/" + testDBName
		dbURL = u.String()
	})
	if setupErr != nil {
		if testing.Short() {
			t.Skipf("PostgreSQL at %s not usable: %v", connector.Redact(adminURL()), setupErr)
		}
		t.Fatalf("PostgreSQL at %s (set DATAHUB_TEST_PG) is not usable: %v", connector.Redact(adminURL()), setupErr)
	}
	return dbURL
}

var nonIdent = regexp.MustCompile(`[^a-z0-9]+`)

// tableFor returns a fresh table name for the test.
func tableFor(t testing.TB) string {
	n := strings.Trim(nonIdent.ReplaceAllString(strings.ToLower(t.Name()), "_"), "_")
	if len(n) > 30 {
		n = n[len(n)-30:]
	}
	return fmt.Sprintf("t%d_%s", nameSeq.Add(1), n)
}

func endpointFor(t testing.TB, table string) connector.Endpoint {
	return connector.Endpoint{URL: testDB(t) + "?table=" + url.QueryEscape(table)}
}

// sqlConn is a plain connection to the test database for setting up and checking tables.
func sqlConn(t testing.TB) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), testDB(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func mustExec(t testing.TB, conn *pgx.Conn, sql string, args ...any) {
	t.Helper()
	if _, err := conn.Exec(t.Context(), sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

func count(t testing.TB, conn *pgx.Conn, table string) int {
	t.Helper()
	var n int
	if err := conn.QueryRow(t.Context(), "SELECT count(*) FROM "+table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// readAll opens a source on ep at pos and returns its schema, rows, rejects and batches' positions.
func readAll(t testing.TB, ep connector.Endpoint, pos connector.Position) (connector.Schema, [][]any, []connector.Reject, []connector.Position) {
	t.Helper()
	ctx := t.Context()
	src, err := connector.NewSource(ctx, ep)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close(ctx)
	if err := src.Open(ctx, pos); err != nil {
		t.Fatal(err)
	}
	sch, err := src.Schema(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var rows [][]any
	var rejects []connector.Reject
	var poss []connector.Position
	for {
		b, _, err := src.Read(ctx)
		if errors.Is(err, connector.ErrEndOfInput) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		rows = append(rows, b.Rows...)
		rejects = append(rejects, b.Rejects...)
		poss = append(poss, b.Pos)
	}
	return sch, rows, rejects, poss
}

// write opens a sink, writes the batches, flushes and commits.
func write(t testing.TB, ep connector.Endpoint, s connector.Schema, opts connector.SinkOptions, batches ...[][]any) (connector.Schema, []error) {
	t.Helper()
	ctx := t.Context()
	snk, err := connector.NewSink(ctx, ep)
	if err != nil {
		t.Fatal(err)
	}
	defer snk.Close(ctx)
	out, err := snk.Open(ctx, s, opts)
	if err != nil {
		t.Fatal(err)
	}
	var errs []error
	for _, rows := range batches {
		err := snk.Write(ctx, &connector.Batch{Rows: rows})
		var re connector.RecordErrors
		if err != nil && !errors.As(err, &re) {
			t.Fatal(err)
		}
		errs = append(errs, err)
		if err := snk.Flush(ctx, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := snk.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	return out, errs
}

func TestConformance(t *testing.T) {
	testDB(t)
	conntest.Run(t, conntest.Harness{
		NewEndpoint: func(t *testing.T, name string) connector.Endpoint {
			return endpointFor(t, tableFor(t))
		},
	})
}

func allTypesSchema() connector.Schema {
	types, _ := edgeRows()
	var s connector.Schema
	for i, ty := range types {
		s.Columns = append(s.Columns, connector.Column{Name: fmt.Sprintf("c%d_%s", i, ty), Type: ty, Nullable: true})
	}
	return s
}

// TestTypeRoundTrip writes edge values of every type through the sink and reads them back.
func TestTypeRoundTrip(t *testing.T) {
	table := tableFor(t)
	ep := endpointFor(t, table)
	s := allTypesSchema()
	types, rows := edgeRows()
	out, errs := write(t, ep, s, connector.SinkOptions{}, rows)
	if errs[0] != nil {
		t.Fatal(errs[0])
	}
	for i, c := range out.Columns {
		if c.Type != types[i] || !c.Nullable {
			t.Errorf("target column %s = %s nullable %v, want %s nullable", c.Name, c.Describe(), c.Nullable, types[i])
		}
	}
	sch, got, rejects, _ := readAll(t, ep, nil)
	if len(rejects) > 0 {
		t.Fatalf("rejects: %+v", rejects)
	}
	for i, c := range sch.Columns {
		if c.Type != types[i] {
			t.Errorf("source column %s = %s, want %s", c.Name, c.Describe(), types[i])
		}
	}
	if len(got) != len(rows) {
		t.Fatalf("read %d rows, want %d", len(got), len(rows))
	}
	for r := range rows {
		for i, ty := range types {
			if !connector.Equal(ty, got[r][i], rows[r][i]) {
				t.Errorf("row %d %s: got %#v, want %#v", r, ty, got[r][i], rows[r][i])
			}
		}
	}
}

// TestTypeMapping checks how PostgreSQL's own types and text forms come out of the source.
func TestTypeMapping(t *testing.T) {
	conn := sqlConn(t)
	table := tableFor(t)
	mustExec(t, conn, `CREATE TYPE mood_`+table+` AS ENUM ('sad', 'happy')`)
	mustExec(t, conn, `CREATE DOMAIN dom_`+table+` AS varchar(7) NOT NULL`)
	mustExec(t, conn, `CREATE TABLE `+table+` (
		i2 smallint, i4 integer NOT NULL, i8 bigint PRIMARY KEY, o oid, f4 real, f8 double precision,
		n numeric, n122 numeric(12,2), t text, vc varchar(40), bc char(3), nm name, b boolean,
		d date, ts timestamp(3), tz timestamptz, by bytea, j json, jb jsonb, u uuid,
		iv interval, ip inet, arr int[], mood mood_`+table+`, dm dom_`+table+`)`)
	mustExec(t, conn, `INSERT INTO `+table+` VALUES (
		-32768, 7, 1, 4000000000, 0.1, '-0', 123456789012345678901234567890.000000000001, -0.50,
		E'a\tb\\c', 'x', 'ab', 'nm', true, '2024-02-29', '2024-01-02 03:04:05.678', '1999-12-31 23:59:59.999999-05',
		'\x00ff', '{"b": 1,   "a": 2}', '{"b": 1,   "a": 2}', 'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11',
		'1 year 2 months 3 days 04:05:06.5', '10.0.0.1/8', '{1,NULL,3}', 'happy', 'dom')`)
	mustExec(t, conn, `INSERT INTO `+table+` (i4, i8, dm, d, tz, f8) VALUES (0, 2, '', 'infinity', '4713-01-01 00:00:00+00 BC', 'NaN')`)
	mustExec(t, conn, `INSERT INTO `+table+` (i4, i8, dm, n) VALUES (0, 3, '', 'NaN')`)

	sch, rows, rejects, _ := readAll(t, endpointFor(t, table), nil)
	want := map[string]string{
		"i2": "int64", "i4": "int64", "i8": "int64", "o": "int64", "f4": "float64", "f8": "float64",
		"n": "decimal", "n122": "decimal(12,2)", "t": "string", "vc": "string(40)", "bc": "string(3)", "nm": "string",
		"b": "bool", "d": "date", "ts": "timestamp", "tz": "timestamptz", "by": "bytes", "j": "json", "jb": "json",
		"u": "uuid", "iv": "string", "ip": "string", "arr": "string", "mood": "string", "dm": "string(7)",
	}
	for _, c := range sch.Columns {
		d := c.Describe()
		d = strings.TrimSpace(d[:strings.IndexByte(d+" [", ' ')])
		if want[c.Name] != d {
			t.Errorf("column %s (%s) maps to %s, want %s", c.Name, c.Native, d, want[c.Name])
		}
		if wantNull := c.Name != "i4" && c.Name != "i8" && c.Name != "dm"; c.Nullable != wantNull {
			t.Errorf("column %s nullable = %v", c.Name, c.Nullable)
		}
	}
	if !slices.Equal(sch.Key, []string{"i8"}) {
		t.Errorf("key = %v", sch.Key)
	}
	if len(rows) != 1 || len(rejects) != 2 {
		t.Fatalf("rows %d rejects %+v", len(rows), rejects)
	}
	if r := rejects[0]; r.Column != "d" || !strings.Contains(r.Reason, "infinity") || r.Record != 2 {
		t.Errorf("reject = %+v", r)
	}
	if r := rejects[1]; r.Column != "n" || r.Value != "NaN" || r.Record != 3 {
		t.Errorf("reject = %+v", r)
	}
	row := rows[0]
	idx := func(n string) any { return row[sch.Index(n)] }
	checks := map[string]any{
		"i2": int64(-32768), "o": int64(4000000000), "f4": float64(0.1),
		"n": connector.Decimal("123456789012345678901234567890.000000000001"), "n122": connector.Decimal("-0.50"),
		"t": "a\tb\\c", "bc": "ab ", "d": time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC),
		"ts": time.Date(2024, 1, 2, 3, 4, 5, 678000000, time.UTC),
		"tz": time.Date(2000, 1, 1, 4, 59, 59, 999999000, time.UTC), "by": []byte{0, 0xff},
		"iv": "P1Y2M3DT4H5M6.5S", "ip": "10.0.0.1/8", "arr": "{1,NULL,3}", "mood": "happy", "dm": "dom",
	}
	for n, w := range checks {
		ty := sch.Columns[sch.Index(n)].Type
		if !connector.Equal(ty, idx(n), w) {
			t.Errorf("%s = %#v, want %#v", n, idx(n), w)
		}
	}
	if f := idx("f8").(float64); f != 0 || !math.Signbit(f) {
		t.Errorf("f8 = %v, want negative zero", f)
	}
	if j := string(idx("jb").(json.RawMessage)); j != `{"a": 2, "b": 1}` {
		t.Errorf("jsonb = %s", j)
	}
	if j := string(idx("j").(json.RawMessage)); j != `{"b": 1,   "a": 2}` {
		t.Errorf("json = %s (json keeps its text)", j)
	}
}
