package infer

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/datahub-oss/datahub/connector"
)

func TestValue(t *testing.T) {
	for _, c := range []struct {
		in   string
		want connector.Type
		i, f int
	}{
		{"0", connector.TypeInt64, 0, 0},
		{"-42", connector.TypeInt64, 2, 0},
		{"9223372036854775807", connector.TypeInt64, 19, 0},
		{"9223372036854775808", connector.TypeDecimal, 19, 0},
		{"007", connector.TypeString, 0, 0},
		{"+5", connector.TypeString, 0, 0},
		{"1e5", connector.TypeString, 0, 0},
		{"6.31", connector.TypeDecimal, 1, 2},
		{"-0.250", connector.TypeDecimal, 0, 3},
		{".5", connector.TypeString, 0, 0},
		{"5.", connector.TypeString, 0, 0},
		{"00.5", connector.TypeString, 0, 0},
		{"true", connector.TypeBool, 0, 0},
		{"FALSE", connector.TypeBool, 0, 0},
		{"yes", connector.TypeString, 0, 0},
		{"2024-05-17", connector.TypeDate, 0, 0},
		{"2024-02-30", connector.TypeString, 0, 0},
		{"2024-05-17T15:56:00Z", connector.TypeTimestampTZ, 0, 0},
		{"2024-05-17 15:56:00+02:00", connector.TypeTimestampTZ, 0, 0},
		{"2024-05-17T15:56:00.123", connector.TypeTimestamp, 0, 0},
		{"2024-05-17x15:56", connector.TypeString, 0, 0},
		{"0b4e7a4e-6d3c-4c54-9a54-3a0c7a2f6f11", connector.TypeUUID, 0, 0},
		{"0b4e7a4e6d3c4c549a543a0c7a2f6f11", connector.TypeString, 0, 0},
		{`{"a":1}`, connector.TypeJSON, 0, 0},
		{`[1,2]`, connector.TypeJSON, 0, 0},
		{`{"a":`, connector.TypeString, 0, 0},
		{"London", connector.TypeString, 0, 0},
		{" 1", connector.TypeString, 0, 0},
	} {
		g := Value(c.in)
		if g.Type != c.want || g.Int != c.i || g.Frac != c.f {
			t.Errorf("Value(%q) = %v %d,%d; want %v %d,%d", c.in, g.Type, g.Int, g.Frac, c.want, c.i, c.f)
		}
	}
}

func infer(selfTyped bool, values ...string) (connector.Column, bool) {
	c := Column{SelfTyped: selfTyped}
	for _, v := range values {
		c.Add(v)
	}
	return c.Type()
}

func TestColumn(t *testing.T) {
	for _, c := range []struct {
		name   string
		self   bool
		values []string
		want   string // Describe of the column, "" for text
	}{
		{"ints", false, []string{"1", "", "22", "-3"}, "int64"},
		{"ints and decimals widen to the widest", false, []string{"1234", "0.5", "-1.25"}, "decimal(6,2)"},
		{"one leading zero makes text", false, []string{"1", "007", "3"}, ""},
		{"zero and one are integers", false, []string{"0", "1", "1"}, "int64"},
		{"bools", false, []string{"true", "False"}, "bool"},
		{"a bool and an int are text", false, []string{"true", "1"}, ""},
		{"dates", false, []string{"2024-01-01", "2024-12-31"}, "date"},
		{"dates and zoneless timestamps", false, []string{"2024-01-01", "2024-01-01 10:00"}, "timestamp"},
		{"zoned and zoneless timestamps are text", false, []string{"2024-01-01T10:00Z", "2024-01-01 10:00"}, ""},
		{"dates and zoned timestamps are text", false, []string{"2024-01-01", "2024-01-01T10:00Z"}, ""},
		{"uuids", false, []string{"0b4e7a4e-6d3c-4c54-9a54-3a0c7a2f6f11"}, "uuid"},
		{"json", false, []string{`{"a":1}`, `[]`}, "json"},
		{"nothing but empty values is text", false, []string{"", ""}, ""},
		{"too many digits is text", false, []string{"1." + strings.Repeat("1", 40)}, ""},
		{"JSON strings keep numbers as text", true, []string{"42"}, ""},
		{"JSON strings keep bools as text", true, []string{"true"}, ""},
		{"JSON strings become timestamps", true, []string{"2024-01-01T10:00:00Z"}, "timestamptz"},
		{"JSON strings become uuids", true, []string{"0b4e7a4e-6d3c-4c54-9a54-3a0c7a2f6f11"}, "uuid"},
	} {
		t.Run(c.name, func(t *testing.T) {
			col, ok := infer(c.self, c.values...)
			got := ""
			if ok {
				got = col.Describe()
			}
			if got != c.want {
				t.Fatalf("inferred %q, want %q", got, c.want)
			}
		})
	}
}

func TestFits(t *testing.T) {
	dec := connector.Column{Name: "amount", Type: connector.TypeDecimal, Precision: 6, Scale: 2}
	for _, c := range []struct {
		col  connector.Column
		in   string
		fits bool
	}{
		{connector.Column{Name: "id", Type: connector.TypeInt64}, "12", true},
		{connector.Column{Name: "id", Type: connector.TypeInt64}, "", true},
		{connector.Column{Name: "id", Type: connector.TypeInt64}, "007", false},
		{connector.Column{Name: "id", Type: connector.TypeInt64}, "1.0", false},
		{connector.Column{Name: "id", Type: connector.TypeInt64}, "n/a", false},
		{dec, "1234.56", true},
		{dec, "12", true},
		{dec, "1.500", true},
		{dec, "12345.6", false},
		{dec, "1.234", false},
		{connector.Column{Name: "at", Type: connector.TypeTimestamp}, "2024-01-01", true},
		{connector.Column{Name: "at", Type: connector.TypeTimestamp}, "2024-01-01T00:00Z", false},
		{connector.Column{Name: "ok", Type: connector.TypeBool}, "1", false},
	} {
		if got := Fits(c.col, c.in); got != c.fits {
			t.Errorf("Fits(%s, %q) = %v", c.col.Describe(), c.in, got)
		}
	}
	err := &Misfit{Value: "x", Column: connector.Column{Name: "id", Type: connector.TypeInt64}, Sample: 10000}
	for _, want := range []string{`"x"`, "int64", "first 10000 records", "--map id::string"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("reason %q lacks %q", err, want)
		}
	}
	err = &Misfit{Value: "1.234", Column: dec, Sample: 5, Rule: "amt:amount"}
	if !strings.Contains(err.Error(), "decimal(6,2)") || !strings.Contains(err.Error(), "--map amt:amount:decimal") {
		t.Errorf("decimal reason %q", err)
	}
}

// FuzzValue: a guess is never wrong about what the value parses as, and a value always fits
// the column inferred from it alone.
func FuzzValue(f *testing.F) {
	for _, s := range []string{"0", "-12", "007", "6.31", "true", "2024-05-17", "2024-05-17T15:56:00Z",
		"2024-05-17 15:56", "0b4e7a4e-6d3c-4c54-9a54-3a0c7a2f6f11", `{"a":[1]}`, "99999999999999999999", "text"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		g := Value(s)
		var err error
		switch g.Type {
		case connector.TypeInt64:
			_, err = strconv.ParseInt(s, 10, 64)
		case connector.TypeDecimal:
			_, err = connector.ParseDecimal(s)
		case connector.TypeBool:
			_, err = connector.ParseBool(s)
		case connector.TypeDate, connector.TypeTimestamp, connector.TypeTimestampTZ:
			_, _, err = connector.ParseTimestamp(s)
		case connector.TypeUUID:
			_, err = connector.ParseUUID(s)
		case connector.TypeJSON:
			if !json.Valid([]byte(s)) {
				err = errors.New("invalid JSON")
			}
		}
		if err != nil {
			t.Fatalf("%q guessed %s but: %v", s, g.Type, err)
		}
		col, ok := infer(false, s)
		if ok {
			if !Fits(col, s) {
				t.Fatalf("%q does not fit its own type %s", s, col.Describe())
			}
			if _, err := connector.Convert(s, connector.TypeString, col); err != nil {
				t.Fatalf("%q does not convert to its own type %s: %v", s, col.Describe(), err)
			}
		}
	})
}

// listSource returns its batches, then ErrEndOfInput, recording the acks.
type listSource struct {
	connector.Source
	batches [][][]any
	reads   int
	nacked  int
}

func (l *listSource) Read(context.Context) (*connector.Batch, connector.AckFunc, error) {
	if l.reads == len(l.batches) {
		return nil, nil, connector.ErrEndOfInput
	}
	b := &connector.Batch{Rows: l.batches[l.reads], Pos: connector.Position(strconv.Itoa(l.reads))}
	l.reads++
	return b, func(_ context.Context, err error) error {
		if err != nil {
			l.nacked++
		}
		return nil
	}, nil
}

func TestSampleReplaysBeforeReadingOn(t *testing.T) {
	ctx := context.Background()
	row := func(s string) []any { return []any{s} }
	src := &listSource{batches: [][][]any{{row("1"), row("2")}, {row("3"), row("4")}, {row("5")}}}
	s, err := Sample(ctx, src, 3)
	if err != nil {
		t.Fatal(err)
	}
	if src.reads != 2 {
		t.Fatalf("a sample of 3 read %d batches of 2", src.reads)
	}
	var seen []string
	if n := s.Each(func(r []any) { seen = append(seen, r[0].(string)) }); n != 3 || strings.Join(seen, "") != "123" {
		t.Fatalf("sampled %d rows: %v", n, seen)
	}
	var all []string
	for {
		b, _, err := s.Read(ctx)
		if errors.Is(err, connector.ErrEndOfInput) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range b.Rows {
			all = append(all, r[0].(string))
		}
	}
	if strings.Join(all, "") != "12345" {
		t.Fatalf("read %v", all)
	}
	// A source shorter than the sample ends once, after the replay.
	short := &listSource{batches: [][][]any{{row("1")}}}
	s, err = Sample(ctx, short, 10)
	if err != nil {
		t.Fatal(err)
	}
	if b, _, err := s.Read(ctx); err != nil || len(b.Rows) != 1 {
		t.Fatalf("replay: %v", err)
	}
	if _, _, err := s.Read(ctx); !errors.Is(err, connector.ErrEndOfInput) || short.reads != 1 {
		t.Fatalf("after the replay: %v, %d reads", err, short.reads)
	}
}

// BenchmarkFits is the cost a later value pays for inference, per value.
func BenchmarkFits(b *testing.B) {
	cols := []connector.Column{{Name: "id", Type: connector.TypeInt64}, {Name: "amount", Type: connector.TypeDecimal, Precision: 12, Scale: 2},
		{Name: "at", Type: connector.TypeTimestampTZ}}
	vals := []string{"1234567", "401.22", "2024-01-01 00:00:01+00"}
	for b.Loop() {
		for i, c := range cols {
			if !Fits(c, vals[i]) {
				b.Fatal("misfit")
			}
		}
	}
}
