package sqlite

import (
	"encoding/json"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/datahub-oss/datahub/connector"
)

func mustUUID(s string) connector.UUID {
	u, err := connector.ParseUUID(s)
	if err != nil {
		panic(err)
	}
	return u
}

// TestTypeRoundTrip writes edge values of every type into a table the sink creates and reads
// them back exactly; it also looks at how they are stored.
func TestTypeRoundTrip(t *testing.T) {
	path := dbPath(t)
	url := "sqlite:" + path + "?table=edge"
	s := connector.Schema{Columns: []connector.Column{
		{Name: "id", Type: connector.TypeInt64},
		{Name: "i", Type: connector.TypeInt64, Nullable: true},
		{Name: "f", Type: connector.TypeFloat64, Nullable: true},
		{Name: "d", Type: connector.TypeDecimal, Nullable: true},
		{Name: "d26", Type: connector.TypeDecimal, Precision: 26, Scale: 6, Nullable: true},
		{Name: "s", Type: connector.TypeString, Nullable: true},
		{Name: "s10", Type: connector.TypeString, Length: 10, Nullable: true},
		{Name: "b", Type: connector.TypeBool, Nullable: true},
		{Name: "dt", Type: connector.TypeDate, Nullable: true},
		{Name: "ts", Type: connector.TypeTimestamp, Nullable: true},
		{Name: "tz", Type: connector.TypeTimestampTZ, Nullable: true},
		{Name: "by", Type: connector.TypeBytes, Nullable: true},
		{Name: "by16", Type: connector.TypeBytes, Length: 16, Nullable: true},
		{Name: "j", Type: connector.TypeJSON, Nullable: true},
		{Name: "u", Type: connector.TypeUUID, Nullable: true},
	}, Key: []string{"id"}}
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	awkward := "comma, \"quote\" 'single' \ttab\nnewline\r\ncrlf \\back\\slash NUL\x00inside ünïcødé ✓ 日本 🚀 e\u0301 \u202eRTL\u202c '; DROP TABLE edge; --"
	long := strings.Repeat("long text ✓ ", 100000)
	plus2 := time.FixedZone("", 2*3600)
	minus5 := time.FixedZone("", -5*3600-30*60)
	rows := [][]any{
		{int64(1), int64(math.MaxInt64), 5e-324, connector.Decimal("99999999.999999"), connector.Decimal("12345678901234567890.123456"),
			awkward, "0123456789", true, time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC),
			time.Date(2024, 3, 1, 10, 0, 0, 123456789, time.UTC), time.Date(2038, 1, 19, 3, 14, 8, 123456789, plus2),
			all, []byte{0, 1, 2, 0xff}, json.RawMessage(`123`), mustUUID("6BA7B810-9DAD-11D1-80B4-00C04FD430C8")},
		{int64(2), int64(math.MinInt64), math.NaN(), connector.Decimal("123456789012345678901234567890"), connector.Decimal("-0.000001"),
			"", "", false, time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC),
			time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC),
			[]byte{}, []byte{}, json.RawMessage(`"123"`), mustUUID("00000000-0000-0000-0000-000000000000")},
		{int64(3), int64(0), math.Inf(1), connector.Decimal("-0.000000000000000000000000000001"), connector.Decimal("0"),
			long, "ünïcødé✓日本", true, time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC),
			time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC), time.Date(9999, 12, 31, 18, 29, 59, 999999999, minus5),
			[]byte("\x00"), all[:16], json.RawMessage(`null`), mustUUID("ffffffff-ffff-4fff-bfff-ffffffffffff")},
		{int64(4), int64(-1), math.Inf(-1), connector.Decimal("1.10"), connector.Decimal("99999999999999999999.999999"),
			" padded ", "N'a'", false, time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC),
			time.Date(1970, 1, 1, 0, 0, 0, 1000, time.UTC), time.Date(1969, 12, 31, 23, 59, 59, 999999000, time.UTC),
			all[250:], nil, json.RawMessage(`{"a":[1,2.5,"é",null],"b":{"c":true}}`), nil},
		{int64(5), math.Copysign(0, -1), math.MaxFloat64, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, json.RawMessage(`1.0`), nil},
		{int64(6), nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil},
	}
	rows[4][1] = int64(42)
	rows[4][2] = math.Copysign(0, -1)
	if err := write(t, url, s, connector.SinkOptions{}, rows); err != nil {
		t.Fatal(err)
	}
	got, gotRows, rejects := readAll(t, connector.Endpoint{URL: url})
	if len(rejects) > 0 {
		t.Fatalf("rejects: %+v", rejects)
	}
	for i, c := range s.Columns {
		g := got.Columns[i]
		if g.Name != c.Name || g.Type != c.Type || g.Precision != c.Precision || g.Scale != c.Scale || g.Length != c.Length {
			t.Errorf("column %s read back as %+v, wrote %+v", c.Name, g, c)
		}
	}
	if !slices.Equal(got.Key, []string{"id"}) || got.Columns[0].Nullable || !got.Columns[1].Nullable {
		t.Errorf("key %v, nullability %v %v", got.Key, got.Columns[0].Nullable, got.Columns[1].Nullable)
	}
	if len(gotRows) != len(rows) {
		t.Fatalf("read %d rows, wrote %d", len(gotRows), len(rows))
	}
	for r, row := range rows {
		for c, want := range row {
			have := gotRows[r][c]
			if !connector.Equal(s.Columns[c].Type, want, have) {
				ws, hs := connector.FormatText(want), connector.FormatText(have)
				if len(ws) > 80 {
					ws, hs = ws[:80], hs[:min(80, len(hs))]
				}
				t.Errorf("row %d column %s: wrote %T %s, read %T %s", r, s.Columns[c].Name, want, ws, have, hs)
			}
		}
	}
	// Empty bytes are not NULL, and JSON text stays JSON text.
	if b, ok := gotRows[1][11].([]byte); !ok || b == nil || len(b) != 0 {
		t.Errorf("empty bytes read back as %#v", gotRows[1][11])
	}
	if string(gotRows[1][13].(json.RawMessage)) != `"123"` || string(gotRows[0][13].(json.RawMessage)) != `123` {
		t.Errorf("json read back as %s and %s", gotRows[1][13], gotRows[0][13])
	}

	// How it is stored: what another application sees.
	db := rawDB(t, path)
	var decl string
	if err := db.QueryRow(`SELECT sql FROM sqlite_schema WHERE name = 'edge'`).Scan(&decl); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"id" INTEGER NOT NULL`, `"d" DECIMAL_TEXT`, `"d26" DECIMAL_TEXT(26,6)`, `"s10" VARCHAR(10)`,
		`"b" BOOLEAN`, `"dt" DATE`, `"ts" DATETIME`, `"tz" TIMESTAMPTZ`, `"by16" BLOB(16)`, `"j" JSON_TEXT`, `"u" UUID_TEXT`, `PRIMARY KEY ("id")`} {
		if !strings.Contains(decl, want) {
			t.Errorf("CREATE TABLE lacks %s: %s", want, decl)
		}
	}
	var d, dType, ts, tz, j, jType, u, f, fType string
	var b int64
	if err := db.QueryRow(`SELECT d, typeof(d), +ts, tz, j, typeof(j), u, b, f, typeof(f) FROM edge WHERE id = 1`).Scan(&d, &dType, &ts, &tz, &j, &jType, &u, &b, &f, &fType); err != nil {
		t.Fatal(err)
	}
	if d != "99999999.999999" || dType != "text" || ts != "2024-03-01 10:00:00.123456789" || tz != "2038-01-19T01:14:08.123456789Z" ||
		j != "123" || jType != "text" || u != "6ba7b810-9dad-11d1-80b4-00c04fd430c8" || b != 1 || fType != "real" {
		t.Errorf("stored %q %s %q %q %q %s %q %d %s", d, dType, ts, tz, j, jType, u, b, fType)
	}
	if err := db.QueryRow(`SELECT f, typeof(f) FROM edge WHERE id = 2`).Scan(&f, &fType); err != nil || f != "NaN" {
		t.Errorf("NaN stored as %q %s (%v)", f, fType, err)
	}
	// Fixed-width text sorts in time order.
	for _, col := range []string{"ts", "tz", "dt"} {
		rows, err := db.Query(`SELECT id FROM edge WHERE ` + col + ` IS NOT NULL ORDER BY ` + col)
		if err != nil {
			t.Fatal(err)
		}
		var ids []int64
		for rows.Next() {
			var id int64
			_ = rows.Scan(&id)
			ids = append(ids, id)
		}
		_ = rows.Close()
		ci := s.Index(col)
		for k := 1; k < len(ids); k++ {
			prev, cur := timeOf(gotRows, ids[k-1], ci), timeOf(gotRows, ids[k], ci)
			if cur.Before(prev) {
				t.Errorf("ORDER BY %s: id %d (%v) sorts after id %d (%v)", col, ids[k], cur, ids[k-1], prev)
			}
		}
	}
}

func timeOf(rows [][]any, id int64, col int) time.Time {
	for _, r := range rows {
		if r[0].(int64) == id {
			return r[col].(time.Time)
		}
	}
	return time.Time{}
}
