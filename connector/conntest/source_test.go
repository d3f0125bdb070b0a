package conntest

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/datahub-oss/datahub/connector"
)

func TestCheckRow(t *testing.T) {
	s := Schema(connector.AllTypes)
	for _, r := range Rows(s, 1, 20) {
		if err := CheckRow(s, r); err != nil {
			t.Fatalf("a sample row of the suite: %v", err)
		}
	}
	one := func(ty connector.Type, nullable bool) connector.Schema {
		c := connector.Column{Name: "c", Type: ty, Nullable: nullable}
		if ty == connector.TypeString {
			c.Length = 3
		}
		return connector.Schema{Columns: []connector.Column{c}}
	}
	for _, c := range []struct {
		name string
		s    connector.Schema
		row  []any
		want string // "" for a row that passes
	}{
		{"int as int", one(connector.TypeInt64, false), []any{7}, "is a int"},
		{"null in not null", one(connector.TypeInt64, false), []any{nil}, "NULL in a NOT NULL"},
		{"null in nullable", one(connector.TypeInt64, true), []any{nil}, ""},
		{"too few values", one(connector.TypeInt64, true), []any{}, "0 values for 1 columns"},
		{"string too long", one(connector.TypeString, true), []any{"abcd"}, "longer than"},
		{"decimal not canonical", one(connector.TypeDecimal, true), []any{connector.Decimal("+1.0")}, "is a connector.Decimal"},
		{"date with a time", one(connector.TypeDate, true), []any{time.Date(2024, 1, 1, 1, 0, 0, 0, time.UTC)}, "is a time.Time"},
		{"timestamp with a zone", one(connector.TypeTimestamp, true), []any{time.Date(2024, 1, 1, 1, 0, 0, 0, time.FixedZone("", 3600))}, "is a time.Time"},
		{"invalid json", one(connector.TypeJSON, true), []any{json.RawMessage(`{`)}, "is a json.RawMessage"},
		{"uuid as text", one(connector.TypeUUID, true), []any{"6ba7b810-9dad-11d1-80b4-00c04fd430c8"}, "is a string"},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := CheckRow(c.s, c.row)
			switch {
			case c.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Fatalf("got %v, want an error containing %q", err, c.want)
			}
		})
	}
}
