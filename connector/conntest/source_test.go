package conntest

import (
	"context"
	"encoding/json"
	"strconv"
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

// memSource serves the suite's own sample rows read-only, so that the read-only cases are run
// here too and not only by connectors in other modules.
type memSource struct {
	batch int
	next  int
	rows  [][]any
}

var memSchema = Schema(connector.AllTypes)

func init() {
	connector.Register(connector.Spec{
		Name: "conntest-mem", Schemes: []string{"conntest-mem"}, Summary: "test: the suite's sample rows, read-only",
		NewSource: func(_ context.Context, e connector.Endpoint) (connector.Source, error) {
			return &memSource{batch: max(e.BatchSize, 1), rows: Rows(memSchema, 1, 250)}, nil
		},
	})
}

func (m *memSource) Open(_ context.Context, from connector.Position) error {
	if from != nil {
		n, err := strconv.Atoi(string(from))
		if err != nil {
			return err
		}
		m.next = n
	}
	return nil
}

func (m *memSource) Schema(context.Context) (connector.Schema, error) { return memSchema, nil }

func (m *memSource) Read(ctx context.Context) (*connector.Batch, connector.AckFunc, error) {
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	if m.next == len(m.rows) {
		return nil, nil, connector.ErrEndOfInput
	}
	end := min(m.next+m.batch, len(m.rows))
	b := &connector.Batch{Rows: m.rows[m.next:end], Pos: connector.Position(strconv.Itoa(end))}
	m.next = end
	return b, connector.NopAck, nil
}

func (m *memSource) Close(context.Context) error { return nil }

func TestRunReadOnly(t *testing.T) {
	Run(t, Harness{NoSink: true, NewEndpoint: func(*testing.T, string) connector.Endpoint {
		return connector.Endpoint{URL: "conntest-mem:", BatchSize: 64}
	}})
}
