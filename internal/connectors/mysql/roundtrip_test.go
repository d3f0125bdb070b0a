package mysql

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/datahub-oss/datahub/connector"
)

// edgeSchema has a column of every logical type, all nullable, keyed on id.
func edgeSchema() connector.Schema {
	return connector.Schema{Columns: []connector.Column{
		{Name: "id", Type: connector.TypeInt64},
		{Name: "i", Type: connector.TypeInt64, Nullable: true},
		{Name: "f", Type: connector.TypeFloat64, Nullable: true},
		{Name: "d", Type: connector.TypeDecimal, Nullable: true},
		{Name: "d2", Type: connector.TypeDecimal, Precision: 38, Scale: 10, Nullable: true},
		{Name: "s", Type: connector.TypeString, Nullable: true},
		{Name: "s10", Type: connector.TypeString, Length: 10, Nullable: true},
		{Name: "b", Type: connector.TypeBool, Nullable: true},
		{Name: "dt", Type: connector.TypeDate, Nullable: true},
		{Name: "ts", Type: connector.TypeTimestamp, Nullable: true},
		{Name: "tz", Type: connector.TypeTimestampTZ, Nullable: true},
		{Name: "by", Type: connector.TypeBytes, Nullable: true},
		{Name: "j", Type: connector.TypeJSON, Nullable: true},
		{Name: "u", Type: connector.TypeUUID, Nullable: true},
	}, Key: []string{"id"}}
}

func edgeRows() [][]any {
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	u, _ := connector.ParseUUID("123e4567-e89b-12d3-a456-426614174000")
	loc := time.FixedZone("", 5*3600+30*60)
	return [][]any{
		{int64(1), int64(-9223372036854775808), 1.5, connector.Decimal("12345678901234567890123456789012345.123456789012345678901234567891"),
			connector.Decimal("-1234567890123456789012345678.0123456789"), "tab\there\nnew line\\back\\slash 'single' \"double\" 😀 \\N",
			"ten chars!", true, time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(9999, 12, 31, 23, 59, 59, 999999000, time.UTC),
			time.Date(2040, 6, 1, 12, 0, 0, 123456000, loc), all, json.RawMessage(`{"a":[1,2,{"b":"\t\n😀"}],"c":null}`), u},
		{int64(2), int64(9223372036854775807), -0.1e-300, connector.Decimal("-0.000000000000000000000000000001"),
			connector.Decimal("0"), "", "", false, time.Date(2038, 1, 19, 0, 0, 0, 0, time.UTC),
			time.Date(1970, 1, 1, 0, 0, 0, 1000, time.UTC), time.Date(2038, 1, 19, 3, 14, 8, 0, time.UTC), []byte{},
			json.RawMessage(`"just a string"`), connector.UUID{}},
		{int64(3), nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil},
		{int64(4), int64(0), 1.7976931348623157e308, connector.Decimal("99999999999999999999999999999999999"),
			connector.Decimal("9999999999999999999999999999.9999999999"), "N", "\\", true, time.Date(2000, 2, 29, 0, 0, 0, 0, time.UTC),
			time.Date(2262, 4, 11, 23, 47, 16, 854775000, time.UTC), time.Date(1901, 12, 13, 20, 45, 52, 0, time.UTC),
			[]byte("\\\t\n\r\x00N"), json.RawMessage(`[]`), u},
	}
}

func TestRoundTripEdgeValues(t *testing.T) {
	for _, bulk := range []string{"load", "insert"} {
		t.Run(bulk, func(t *testing.T) {
			e := endpoint(t, tableFor(t, ""), "bulk", bulk)
			in := edgeRows()
			ts, rerrs := writeAll(t, e, edgeSchema(), connector.SinkOptions{Mode: connector.ModeAppend, Key: []string{"id"}}, in)
			if len(rerrs) > 0 {
				t.Fatalf("rows refused: %v", rerrs)
			}
			// The target reports an unbounded decimal as unbounded, so the engine never rounds.
			if c := ts.Columns[3]; c.Type != connector.TypeDecimal || c.Precision != 0 {
				t.Errorf("unbounded decimal came back as %s", c.Describe())
			}
			sc, out, _ := readAll(t, e, nil)
			want := edgeSchema()
			for i, c := range sc.Columns {
				if c.Type != want.Columns[i].Type {
					t.Errorf("column %s reads back as %s, want %s", c.Name, c.Describe(), want.Columns[i].Type)
				}
			}
			if sc.Columns[6].Length != 10 {
				t.Errorf("s10 reads back as %s", sc.Columns[6].Describe())
			}
			if len(out) != len(in) {
				t.Fatalf("read %d rows, want %d", len(out), len(in))
			}
			for i := range in {
				for j, c := range want.Columns {
					if !connector.Equal(c.Type, in[i][j], out[i][j]) {
						t.Errorf("row %d column %s: wrote %#v, read %#v", i, c.Name, in[i][j], out[i][j])
					}
				}
			}
			// Decimals keep their digits exactly, without the padding of DECIMAL(65,30).
			if got := out[0][3]; got != connector.Decimal("12345678901234567890123456789012345.123456789012345678901234567891") {
				t.Errorf("decimal read back as %v", got)
			}
			if got := out[3][3]; got != connector.Decimal("99999999999999999999999999999999999") {
				t.Errorf("decimal read back as %v", got)
			}
		})
	}
}

func TestDecimalTooManyDigitsIsRefused(t *testing.T) {
	for _, bulk := range []string{"load", "insert"} {
		t.Run(bulk, func(t *testing.T) {
			e := endpoint(t, tableFor(t, ""), "bulk", bulk)
			s := connector.Schema{Columns: []connector.Column{{Name: "id", Type: connector.TypeInt64}, {Name: "d", Type: connector.TypeDecimal}}}
			rows := [][]any{
				{int64(1), connector.Decimal("1.0000000000000000000000000000001")}, // 31 fraction digits
				{int64(2), connector.Decimal("123456789012345678901234567890123456")},
				{int64(3), connector.Decimal("1.5")},
			}
			_, rerrs := writeAll(t, e, s, connector.SinkOptions{}, rows)
			if len(rerrs) != 2 || rerrs[0].Index != 0 || rerrs[1].Index != 1 {
				t.Fatalf("want rows 0 and 1 refused, got %v", rerrs)
			}
			for _, r := range rerrs {
				if r.Column != "d" {
					t.Errorf("refusal names column %q: %v", r.Column, r)
				}
			}
			if n := count(t, tableFor(t, "")); n != 1 {
				t.Errorf("%d rows written, want 1", n)
			}
		})
	}
}

func TestCreatedDDL(t *testing.T) {
	e := endpoint(t, tableFor(t, ""))
	writeAll(t, e, edgeSchema(), connector.SinkOptions{Key: []string{"id"}}, nil)
	var name, ddl string
	if err := admin(t).QueryRow("SHOW CREATE TABLE "+quoteIdent(tableFor(t, ""))).Scan(&name, &ddl); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"`d` decimal(65,30)", "COMMENT 'datahub:decimal'", "`s` longtext", "`s10` varchar(10)",
		"`tz` datetime(6)", "COMMENT 'datahub:timestamptz'", "`by` longblob", "`ts` datetime(6)", "PRIMARY KEY (`id`)",
		"utf8mb4_bin", "ENGINE=InnoDB"} {
		if !strings.Contains(ddl, want) {
			t.Errorf("DDL lacks %q:\n%s", want, ddl)
		}
	}
}
