package conntest

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/datahub-oss/datahub/connector"
)

// runSource runs the cases that apply to a connector that only reads, against the existing
// records NewEndpoint returns: every value is of its column's Go type, a second read gives the
// same records, a read resumed from a batch's position gives the rest exactly (unless
// NoResume), acks and nacks are harmless and a read resumed after the last acked batch gives
// the rest, a cancelled read stops, and Close twice is harmless.
func runSource(t *testing.T, h Harness) {
	t.Run("ReadTwice", func(t *testing.T) { testReadTwice(t, h) })
	if !h.NoResume {
		t.Run("Resume", func(t *testing.T) { testSourceResume(t, h) })
	}
	t.Run("SourceAcks", func(t *testing.T) { testSourceAcks(t, h) })
	t.Run("Cancel", func(t *testing.T) { cancelMidStream(t, h.NewEndpoint(t, "cancel")) })
	t.Run("CloseTwice", func(t *testing.T) { testCloseTwice(t, h) })
}

func testReadTwice(t *testing.T, h Harness) {
	e := h.NewEndpoint(t, "read_twice")
	s, rows, _ := Read(t, e, nil)
	if err := s.Validate(); err != nil {
		t.Fatalf("the source's schema: %v", err)
	}
	if len(rows) < 200 {
		t.Fatalf("the fixture holds %d records; the suite needs at least 200", len(rows))
	}
	for i, r := range rows {
		if err := CheckRow(s, r); err != nil {
			t.Fatalf("record %d: %v", i+1, err)
		}
	}
	s2, again, _ := Read(t, e, nil)
	if fmt.Sprint(s2) != fmt.Sprint(s) {
		t.Fatalf("the schema changed between two reads:\n%+v\n%+v", s, s2)
	}
	sameRows(t, s, rows, again)
}

func testSourceResume(t *testing.T, h Harness) {
	e := h.NewEndpoint(t, "resume")
	s, all, _ := Read(t, e, nil)
	first, pos := readSome(t, e)
	_, rest, _ := Read(t, e, pos)
	sameRows(t, s, all, append(first, rest...))
}

// sameRows compares two reads of the same source record by record.
func sameRows(t *testing.T, s connector.Schema, want, got [][]any) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("the first read gave %d records, the second %d", len(want), len(got))
	}
	for i := range want {
		for c, col := range s.Columns {
			if !connector.Equal(col.Type, want[i][c], got[i][c]) {
				t.Fatalf("record %d column %s: the first read gave %#v, the second %#v", i+1, col.Name, want[i][c], got[i][c])
			}
		}
	}
}

// CheckRow reports the first value of row that is not what a source may hand the engine for
// its column of s: a value of the column type's Go type (see package connector), within the
// column's bounds, or nil in a nullable column.
func CheckRow(s connector.Schema, row []any) error {
	if len(row) != len(s.Columns) {
		return fmt.Errorf("%d values for %d columns", len(row), len(s.Columns))
	}
	for i, col := range s.Columns {
		v := row[i]
		if v == nil {
			if !col.Nullable {
				return fmt.Errorf("column %s: NULL in a NOT NULL column", col.Name)
			}
			continue
		}
		if !goTypeOf(col.Type, v) {
			return fmt.Errorf("column %s (%s): value %#v is a %T", col.Name, col.Type, v, v)
		}
		if _, err := connector.Convert(v, col.Type, col); err != nil {
			return fmt.Errorf("column %s (%s): value %#v: %v", col.Name, col.Describe(), v, err)
		}
	}
	return nil
}

// goTypeOf reports whether v has the Go type that carries values of ty.
func goTypeOf(ty connector.Type, v any) bool {
	switch ty {
	case connector.TypeInt64:
		_, ok := v.(int64)
		return ok
	case connector.TypeFloat64:
		_, ok := v.(float64)
		return ok
	case connector.TypeDecimal:
		d, ok := v.(connector.Decimal)
		if ok {
			p, err := connector.ParseDecimal(string(d))
			ok = err == nil && p == d
		}
		return ok
	case connector.TypeString:
		_, ok := v.(string)
		return ok
	case connector.TypeBool:
		_, ok := v.(bool)
		return ok
	case connector.TypeDate:
		tm, ok := v.(time.Time)
		return ok && tm.Location() == time.UTC && tm.Equal(time.Date(tm.Year(), tm.Month(), tm.Day(), 0, 0, 0, 0, time.UTC))
	case connector.TypeTimestamp:
		tm, ok := v.(time.Time)
		return ok && tm.Location() == time.UTC
	case connector.TypeTimestampTZ:
		_, ok := v.(time.Time)
		return ok
	case connector.TypeBytes:
		_, ok := v.([]byte)
		return ok
	case connector.TypeJSON:
		j, ok := v.(json.RawMessage)
		return ok && json.Valid(j)
	case connector.TypeUUID:
		_, ok := v.(connector.UUID)
		return ok
	}
	return false
}
