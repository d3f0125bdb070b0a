package sqlite

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/datahub-oss/datahub/connector"
)

func TestLogicalType(t *testing.T) {
	tests := []struct {
		decl             string
		typ              connector.Type
		prec, scale, len int
	}{
		{"INTEGER", connector.TypeInt64, 0, 0, 0},
		{"int", connector.TypeInt64, 0, 0, 0},
		{"BIGINT", connector.TypeInt64, 0, 0, 0},
		{"unsigned big int", connector.TypeInt64, 0, 0, 0},
		{"TINYINT(1)", connector.TypeInt64, 0, 0, 0},
		{"REAL", connector.TypeFloat64, 0, 0, 0},
		{"double precision", connector.TypeFloat64, 0, 0, 0},
		{"FLOAT", connector.TypeFloat64, 0, 0, 0},
		{"NUMERIC", connector.TypeDecimal, 0, 0, 0},
		{"numeric(10,2)", connector.TypeDecimal, 10, 2, 0},
		{"DECIMAL(10)", connector.TypeDecimal, 10, 0, 0},
		{"DECIMAL_TEXT(20,6)", connector.TypeDecimal, 20, 6, 0},
		{"DECIMAL_TEXT", connector.TypeDecimal, 0, 0, 0},
		{"TEXT", connector.TypeString, 0, 0, 0},
		{"VARCHAR(40)", connector.TypeString, 0, 0, 40},
		{"character varying(5)", connector.TypeString, 0, 0, 5},
		{"NCHAR(55)", connector.TypeString, 0, 0, 55},
		{"CLOB", connector.TypeString, 0, 0, 0},
		{"STRING", connector.TypeString, 0, 0, 0},
		{"BOOLEAN", connector.TypeBool, 0, 0, 0},
		{"bool", connector.TypeBool, 0, 0, 0},
		{"DATE", connector.TypeDate, 0, 0, 0},
		{"DATETIME", connector.TypeTimestamp, 0, 0, 0},
		{"timestamp", connector.TypeTimestamp, 0, 0, 0},
		{"TIMESTAMP(6)", connector.TypeTimestamp, 0, 0, 0},
		{"TIMESTAMPTZ", connector.TypeTimestampTZ, 0, 0, 0},
		{"timestamp with time zone", connector.TypeTimestampTZ, 0, 0, 0},
		{"BLOB", connector.TypeBytes, 0, 0, 0},
		{"BLOB(16)", connector.TypeBytes, 0, 0, 16},
		{"VARBINARY(8)", connector.TypeBytes, 0, 0, 8},
		{"JSON", connector.TypeJSON, 0, 0, 0},
		{"JSON_TEXT", connector.TypeJSON, 0, 0, 0},
		{"UUID", connector.TypeUUID, 0, 0, 0},
		{"UUID_TEXT", connector.TypeUUID, 0, 0, 0},
		// Unknown names fall back to SQLite's affinity rules.
		{"SMALLSERIALISH", connector.TypeDecimal, 0, 0, 0}, // none of SQLite's words: NUMERIC affinity
		{"BIGCOUNTER", connector.TypeDecimal, 0, 0, 0},
		{"POINTINT", connector.TypeInt64, 0, 0, 0},
		{"LONGCHARS", connector.TypeString, 0, 0, 0},
		{"FLOATY", connector.TypeFloat64, 0, 0, 0},
		{"MYBLOBBY", connector.TypeBytes, 0, 0, 0},
		{"MONEYBAGS", connector.TypeDecimal, 0, 0, 0},
	}
	for _, tt := range tests {
		c, ok := logicalType(tt.decl)
		if !ok || c.Type != tt.typ || c.Precision != tt.prec || c.Scale != tt.scale || c.Length != tt.len {
			t.Errorf("%q: %v %+v, want %s(%d,%d) length %d", tt.decl, ok, c, tt.typ, tt.prec, tt.scale, tt.len)
		}
	}
	for _, untyped := range []string{"", "any", "  "} {
		if _, ok := logicalType(untyped); ok {
			t.Errorf("declared type %q has a type", untyped)
		}
	}
	// Every type the sink declares reads back as itself, with an affinity that stores it unchanged.
	for _, ty := range connector.AllTypes {
		col := connector.Column{Type: ty, Precision: 12, Scale: 3, Length: 7}
		decl := declaredType(col)
		c, ok := logicalType(decl)
		if !ok || c.Type != ty {
			t.Errorf("%s declared %s reads back as %s", ty, decl, c.Type)
		}
		aff := affinityOf(decl)
		switch ty {
		case connector.TypeDecimal, connector.TypeJSON, connector.TypeUUID, connector.TypeString:
			if aff != affText {
				t.Errorf("%s declared %s has affinity %d, want TEXT", ty, decl, aff)
			}
		}
	}
}

// TestForeignTable reads a table another application made, with loose declared types and
// values of every storage class.
func TestForeignTable(t *testing.T) {
	path := dbPath(t)
	db := rawDB(t, path)
	mustExec(t, db, `CREATE TABLE legacy (
		id INT PRIMARY KEY NOT NULL, amount NUMERIC(10,2), price DECIMAL, qty BIGINT, ratio DOUBLE,
		name VARCHAR(20), note CLOB, flag BOOL, born DATE, seen DATETIME, tz TIMESTAMP WITH TIME ZONE,
		pic BLOB, doc JSON, uid UUID, misc, s STRING)`)
	mustExec(t, db, `INSERT INTO legacy VALUES
		(1, 5, 1.25, '7', 1, 'a', 'n', 1, '2024-01-02', '2024-01-02T03:04:05Z', '2024-01-02 03:04:05+02:00',
		 x'00ff', '123', 'F81D4FAE-7DEC-11D0-A765-00A0C91E6BF6', 1, '0123'),
		(2, '12.50', '99999999.999999', 3.0, '2.5', 42, x'6869', 'true', 1704153600, '2024-01-02 03:04', 1700000000,
		 'text', '{"a": 1}', x'f81d4fae7dec11d0a76500a0c91e6bf6', 2, 'x'),
		(3, 0.1, -7, -1, 1e300, 'ü', NULL, 0, 2460310.5, 1700000000123, 2460310.5,
		 NULL, 'null', NULL, 3, NULL)`)
	s, rows, rejects := readAll(t, connector.Endpoint{URL: "sqlite:" + path + "?table=legacy"})
	if len(rejects) > 0 {
		t.Fatalf("rejects: %+v", rejects)
	}
	wantTypes := map[string]connector.Type{"id": connector.TypeInt64, "amount": connector.TypeDecimal, "price": connector.TypeDecimal,
		"qty": connector.TypeInt64, "ratio": connector.TypeFloat64, "name": connector.TypeString, "note": connector.TypeString,
		"flag": connector.TypeBool, "born": connector.TypeDate, "seen": connector.TypeTimestamp, "tz": connector.TypeTimestampTZ,
		"pic": connector.TypeBytes, "doc": connector.TypeJSON, "uid": connector.TypeUUID, "misc": connector.TypeInt64, "s": connector.TypeString}
	for _, c := range s.Columns {
		if c.Type != wantTypes[c.Name] {
			t.Errorf("column %s (%s) read as %s, want %s", c.Name, c.Native, c.Type, wantTypes[c.Name])
		}
	}
	if s.Columns[1].Precision != 10 || s.Columns[1].Scale != 2 || s.Columns[5].Length != 20 {
		t.Errorf("bounds lost: %+v %+v", s.Columns[1], s.Columns[5])
	}
	utc := func(y int, m time.Month, d, hh, mm, ss, ns int) time.Time {
		return time.Date(y, m, d, hh, mm, ss, ns, time.UTC)
	}
	u := mustUUID("f81d4fae-7dec-11d0-a765-00a0c91e6bf6")
	want := [][]any{
		{int64(1), connector.Decimal("5"), connector.Decimal("1.25"), int64(7), 1.0, "a", "n", true, utc(2024, 1, 2, 0, 0, 0, 0),
			utc(2024, 1, 2, 3, 4, 5, 0), utc(2024, 1, 2, 1, 4, 5, 0), []byte{0, 0xff}, json.RawMessage(`123`), u, int64(1), "0123"},
		{int64(2), connector.Decimal("12.5"), connector.Decimal("99999999.999999"), int64(3), 2.5, "42", "hi", true, utc(2024, 1, 2, 0, 0, 0, 0),
			utc(2024, 1, 2, 3, 4, 0, 0), utc(2023, 11, 14, 22, 13, 20, 0), []byte("text"), json.RawMessage(`{"a":1}`), u, int64(2), "x"},
		{int64(3), connector.Decimal("0.1"), connector.Decimal("-7"), int64(-1), 1e300, "ü", nil, false, utc(2024, 1, 1, 0, 0, 0, 0),
			utc(2023, 11, 14, 22, 13, 20, 123000000), utc(2024, 1, 1, 0, 0, 0, 0), nil, json.RawMessage(`null`), nil, int64(3), nil},
	}
	// 'x' in a STRING column (NUMERIC affinity) stays text; '0123' became the integer 123.
	want[0][15] = "123"
	if len(rows) != len(want) {
		t.Fatalf("read %d rows", len(rows))
	}
	for r := range want {
		for c, w := range want[r] {
			if !connector.Equal(s.Columns[c].Type, w, rows[r][c]) {
				t.Errorf("row %d column %s: got %#v, want %#v", r+1, s.Columns[c].Name, rows[r][c], w)
			}
		}
	}
}

// TestBadStoredValue: a value that does not read as its column's type is a reject naming the
// column, and reading goes on.
func TestBadStoredValue(t *testing.T) {
	path := dbPath(t)
	db := rawDB(t, path)
	mustExec(t, db, `CREATE TABLE t (id INTEGER PRIMARY KEY, n INTEGER, d DATE)`)
	mustExec(t, db, `INSERT INTO t VALUES (1, 1, '2024-01-01'), (2, 'abc', '2024-01-01'), (3, 3, 'someday'), (4, 4, NULL)`)
	_, rows, rejects := readAll(t, connector.Endpoint{URL: "sqlite:" + path + "?table=t"})
	if len(rows) != 2 || len(rejects) != 2 {
		t.Fatalf("%d rows, rejects %+v", len(rows), rejects)
	}
	if r := rejects[0]; r.Record != 2 || r.Column != "n" || r.Value != "abc" || !strings.Contains(r.Reason, "not a int64") || r.Data["id"] != int64(2) {
		t.Errorf("reject %+v", r)
	}
	if r := rejects[1]; r.Record != 3 || r.Column != "d" || r.Value != "someday" {
		t.Errorf("reject %+v", r)
	}
}

func TestQuerySource(t *testing.T) {
	path := dbPath(t)
	db := rawDB(t, path)
	mustExec(t, db, `CREATE TABLE t (id INTEGER PRIMARY KEY, amount DECIMAL_TEXT(12,2), at DATETIME, tz TIMESTAMPTZ, pic BLOB)`)
	mustExec(t, db, `INSERT INTO t VALUES (1, '10.50', '2024-01-02 03:04:05.123456789', '2024-01-02T03:04:05.000000000Z', x''),
		(2, '99999999.99', '2024-01-03 00:00:00.000000000', NULL, NULL), (3, NULL, NULL, NULL, x'01')`)
	q := "SELECT id, amount, at, tz, pic, id * 2 AS twice, amount || '' AS txt, id / 2.0 AS half, " +
		"CASE id WHEN 1 THEN 1 ELSE 1.5 END AS mixed, NULL AS nada FROM t ORDER BY id;"
	e := connector.Endpoint{URL: "sqlite:" + path + "?query=" + escapeQuery(q), BatchSize: 2}
	s, rows, rejects := readAll(t, e)
	if len(rejects) > 0 {
		t.Fatalf("rejects %+v", rejects)
	}
	want := map[string]connector.Type{"id": connector.TypeInt64, "amount": connector.TypeDecimal, "at": connector.TypeTimestamp,
		"tz": connector.TypeTimestampTZ, "pic": connector.TypeBytes, "twice": connector.TypeInt64, "txt": connector.TypeString,
		"half": connector.TypeFloat64, "mixed": connector.TypeFloat64, "nada": connector.TypeString}
	for _, c := range s.Columns {
		if c.Type != want[c.Name] {
			t.Errorf("query column %s read as %s, want %s", c.Name, c.Type, want[c.Name])
		}
	}
	if len(rows) != 3 {
		t.Fatalf("%d rows", len(rows))
	}
	if at := rows[0][2].(time.Time); !at.Equal(time.Date(2024, 1, 2, 3, 4, 5, 123456789, time.UTC)) {
		t.Errorf("at %v", at)
	}
	if b, ok := rows[0][4].([]byte); !ok || b == nil {
		t.Errorf("empty blob read as %#v", rows[0][4])
	}
	if rows[1][1] != connector.Decimal("99999999.99") || rows[2][7] != 1.5 {
		t.Errorf("row values %v %v", rows[1][1], rows[2][7])
	}

	ctx := context.Background()
	for _, bad := range []string{"SELECT id, id FROM t", "DELETE FROM t", "SELEKT 1"} {
		src := &Source{ep: connector.Endpoint{URL: "sqlite:" + path + "?query=" + escapeQuery(bad)}}
		err := src.Open(ctx, nil)
		codeOf(t, err, connector.CodeUsage)
		_ = src.Close(ctx)
	}
	var n int
	if err := db.QueryRow("SELECT count(*) FROM t").Scan(&n); err != nil || n != 3 {
		t.Errorf("a query source changed the table: %d rows, %v", n, err)
	}
	// A query does not resume.
	src := &Source{ep: e}
	if err := src.Open(ctx, connector.Position(`{"key":["id"],"after":["i:1"]}`)); err == nil || errors.Is(err, context.Canceled) {
		t.Errorf("a query opened at a position: %v", err)
	}
	_ = src.Close(ctx)
}

func escapeQuery(q string) string {
	r := strings.NewReplacer("%", "%25", "+", "%2B", "&", "%26", ";", "%3B", "#", "%23", " ", "%20")
	return r.Replace(q)
}
