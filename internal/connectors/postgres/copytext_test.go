package postgres

import (
	"bytes"
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/datahub-oss/datahub/connector"
)

func TestSplitCopyLine(t *testing.T) {
	tests := []struct {
		name string
		line string
		want []any // string or nil
		err  bool
	}{
		{"two fields", "a\tb", []any{"a", "b"}, false},
		{"empty line is one empty field", "", []any{""}, false},
		{"two empty fields", "\t", []any{"", ""}, false},
		{"nulls", `\N` + "\t" + `\N`, []any{nil, nil}, false},
		{"escaped backslash then N is text", `\\N`, []any{`\N`}, false},
		{"N after escape is text", `\Nx`, []any{"Nx"}, false},
		{"letter escapes", `\b\f\n\r\t\v\\`, []any{"\b\f\n\r\t\v\\"}, false},
		{"escaped tab is data", "a\\\tb\tc", []any{"a\tb", "c"}, false},
		{"octal", `\101\0\377\1234\08`, []any{"A\x00\xffS4\x008"}, false},
		{"hex", `\x41\x4a\x4\xg`, []any{"AJ\x04xg"}, false},
		{"hex at end", `\x`, []any{"x"}, false},
		{"other escapes are the char", `\q\.\"`, []any{`q."`}, false},
		{"utf8 untouched", "é😀\t\\\\x00ff", []any{"é😀", `\x00ff`}, false},
		{"trailing backslash", `abc\`, nil, true},
		{"trailing backslash after tab", "a\t\\", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fields, _, err := splitCopyLine([]byte(tt.line), nil, nil)
			if tt.err {
				if err == nil {
					t.Fatalf("want error, got %q", fields)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(fields) != len(tt.want) {
				t.Fatalf("got %d fields %q, want %d", len(fields), fields, len(tt.want))
			}
			for i, w := range tt.want {
				if w == nil {
					if fields[i] != nil {
						t.Errorf("field %d = %q, want NULL", i, fields[i])
					}
					continue
				}
				if fields[i] == nil || string(fields[i]) != w.(string) {
					t.Errorf("field %d = %q (nil %v), want %q", i, fields[i], fields[i] == nil, w)
				}
			}
		})
	}
}

// TestSplitCopyLineReuse checks that fields stay valid when the scratch buffer is reused.
func TestSplitCopyLineReuse(t *testing.T) {
	var fields [][]byte
	var scratch []byte
	var err error
	for _, line := range []string{`a\tb` + "\t" + `c\nd`, `\\x` + "\t" + `yy\tz`} {
		fields, scratch, err = splitCopyLine([]byte(line), fields, scratch)
		if err != nil {
			t.Fatal(err)
		}
		want := strings.Split(strings.NewReplacer(`\t`, "\t", `\n`, "\n", `\\`, `\`).Replace(strings.ReplaceAll(line, "\t", "|")), "|")
		for i := range want {
			if string(fields[i]) != want[i] {
				t.Errorf("%q: field %d = %q, want %q", line, i, fields[i], want[i])
			}
		}
	}
}

func mustTime(t *testing.T, s string) time.Time {
	t.Helper()
	tm, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatal(err)
	}
	return tm
}

func TestParseValue(t *testing.T) {
	u, _ := connector.ParseUUID("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11")
	tests := []struct {
		typ  connector.Type
		in   string
		want any
		err  bool
	}{
		{connector.TypeInt64, "-9223372036854775808", int64(math.MinInt64), false},
		{connector.TypeInt64, "9223372036854775807", int64(math.MaxInt64), false},
		{connector.TypeInt64, "9223372036854775808", nil, true},
		{connector.TypeFloat64, "-0", math.Copysign(0, -1), false},
		{connector.TypeFloat64, "NaN", math.NaN(), false},
		{connector.TypeFloat64, "-Infinity", math.Inf(-1), false},
		{connector.TypeFloat64, "1.0000000000000002", 1.0000000000000002, false},
		{connector.TypeDecimal, "123456789012345678901234567890.123", connector.Decimal("123456789012345678901234567890.123"), false},
		{connector.TypeDecimal, "-0.50", connector.Decimal("-0.50"), false},
		{connector.TypeDecimal, "0", connector.Decimal("0"), false},
		{connector.TypeDecimal, "NaN", nil, true},
		{connector.TypeDecimal, "Infinity", nil, true},
		{connector.TypeBool, "t", true, false},
		{connector.TypeBool, "f", false, false},
		{connector.TypeDate, "2024-02-29", time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC), false},
		{connector.TypeDate, "0044-03-15 BC", time.Date(-43, 3, 15, 0, 0, 0, 0, time.UTC), false},
		{connector.TypeDate, "0001-02-29 BC", time.Date(0, 2, 29, 0, 0, 0, 0, time.UTC), false},
		{connector.TypeDate, "10000-01-01", time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), false},
		{connector.TypeDate, "infinity", nil, true},
		{connector.TypeTimestamp, "2024-01-02 03:04:05.123456", time.Date(2024, 1, 2, 3, 4, 5, 123456000, time.UTC), false},
		{connector.TypeTimestampTZ, "2024-01-02 03:04:05.000001+00", mustTime(t, "2024-01-02T03:04:05.000001Z"), false},
		{connector.TypeTimestampTZ, "294276-12-31 23:59:59.999999+00", time.Date(294276, 12, 31, 23, 59, 59, 999999000, time.UTC), false},
		{connector.TypeTimestampTZ, "4713-01-01 00:00:00+00 BC", time.Date(-4712, 1, 1, 0, 0, 0, 0, time.UTC), false},
		{connector.TypeTimestampTZ, "-infinity", nil, true},
		{connector.TypeBytes, `\x00ff10`, []byte{0, 0xff, 0x10}, false},
		{connector.TypeBytes, `\x`, []byte{}, false},
		{connector.TypeBytes, `\xzz`, nil, true},
		{connector.TypeJSON, `{"a": [1, "x"]}`, json.RawMessage(`{"a": [1, "x"]}`), false},
		{connector.TypeUUID, "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", u, false},
		{connector.TypeUUID, "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a1x", nil, true},
		{connector.TypeUUID, "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a1-", nil, true},
		{connector.TypeString, "P1Y2M3DT4H5M6S", "P1Y2M3DT4H5M6S", false},
	}
	for _, tt := range tests {
		got, err := parseValue([]byte(tt.in), tt.typ)
		if tt.err {
			if err == nil {
				t.Errorf("%s %q: want error, got %v", tt.typ, tt.in, got)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s %q: %v", tt.typ, tt.in, err)
			continue
		}
		if !connector.Equal(tt.typ, got, tt.want) {
			t.Errorf("%s %q = %#v, want %#v", tt.typ, tt.in, got, tt.want)
		}
		if f, ok := tt.want.(float64); ok && math.Signbit(f) != math.Signbit(got.(float64)) {
			t.Errorf("%s %q lost the sign of zero", tt.typ, tt.in)
		}
	}
	if v, err := parseValue(nil, connector.TypeInt64); v != nil || err != nil {
		t.Errorf("NULL = %v, %v", v, err)
	}
}

// edgeRow is one row of every logical type with awkward values, shared by the round-trip tests.
func edgeRows() ([]connector.Type, [][]any) {
	u, _ := connector.ParseUUID("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11")
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	types := []connector.Type{connector.TypeInt64, connector.TypeFloat64, connector.TypeDecimal, connector.TypeString,
		connector.TypeBool, connector.TypeDate, connector.TypeTimestamp, connector.TypeTimestampTZ, connector.TypeBytes,
		connector.TypeJSON, connector.TypeUUID}
	rows := [][]any{
		{int64(math.MinInt64), math.Copysign(0, -1), connector.Decimal("-123456789012345678901234567890.123456789"),
			"tab\there\nnewline\r\\back\\slash 'single' \"double\" é 😀", true,
			time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(9999, 12, 31, 23, 59, 59, 999999000, time.UTC),
			time.Date(2024, 2, 29, 12, 34, 56, 123456000, time.FixedZone("", 5*3600+1800)), all,
			json.RawMessage(`{"k":"v\tw","n":[1,2.5,null],"s":"\\"}`), u},
		{int64(math.MaxInt64), math.MaxFloat64, connector.Decimal("0.000000000000000000000000000001"), "", false,
			time.Date(-43, 3, 15, 0, 0, 0, 0, time.UTC), time.Date(-4712, 1, 1, 0, 0, 0, 0, time.UTC),
			time.Date(294276, 12, 31, 23, 59, 59, 999999000, time.UTC), []byte{}, json.RawMessage(`[]`), connector.UUID{}},
		{int64(0), math.Inf(-1), connector.Decimal("0"), `\N`, nil, nil, nil, nil, nil, nil, nil},
		{nil, math.SmallestNonzeroFloat64, nil, nil, nil, time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), nil,
			time.Date(1, 1, 1, 0, 0, 0, 1000, time.UTC), nil, json.RawMessage(`"\u00e9"`), nil},
	}
	return types, rows
}

func TestEncodeRoundTrip(t *testing.T) {
	types, rows := edgeRows()
	for r, row := range rows {
		line := appendRow(nil, row, types)
		if line[len(line)-1] != '\n' || bytes.Count(line, []byte("\n")) != 1 {
			t.Fatalf("row %d: line %q must end in its only newline", r, line)
		}
		fields, _, err := splitCopyLine(line[:len(line)-1], nil, nil)
		if err != nil {
			t.Fatalf("row %d: %v", r, err)
		}
		if len(fields) != len(types) {
			t.Fatalf("row %d: %d fields", r, len(fields))
		}
		for i, f := range fields {
			got, err := parseValue(f, types[i])
			if err != nil {
				t.Errorf("row %d %s: %v", r, types[i], err)
				continue
			}
			if !connector.Equal(types[i], got, row[i]) {
				t.Errorf("row %d %s: got %#v, want %#v", r, types[i], got, row[i])
			}
		}
	}
}

func TestAppendValueForms(t *testing.T) {
	tests := []struct {
		v    any
		typ  connector.Type
		want string
	}{
		{nil, connector.TypeString, `\N`},
		{"a\\b\tc\nd\re", connector.TypeString, `a\\b\tc\nd\re`},
		{[]byte{0, 0xab}, connector.TypeBytes, `\\x00ab`},
		{time.Date(2024, 1, 2, 3, 4, 5, 600000000, time.FixedZone("", 3600)), connector.TypeTimestampTZ, "2024-01-02T02:04:05.6Z"},
		{time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC), connector.TypeTimestamp, "2024-01-02T03:04:05"},
		{time.Date(2024, 1, 2, 3, 4, 5, 123456789, time.UTC), connector.TypeTimestamp, "2024-01-02T03:04:05.123456789"},
		{time.Date(999, 10, 2, 3, 4, 5, 1000, time.UTC), connector.TypeTimestamp, "0999-10-02T03:04:05.000001"},
		{time.Date(2024, 1, 2, 3, 4, 5, 900000000, time.UTC), connector.TypeTimestampTZ, "2024-01-02T03:04:05.9Z"},
		{time.Date(-43, 3, 15, 0, 0, 0, 0, time.UTC), connector.TypeDate, "0044-03-15 BC"},
		{time.Date(12345, 3, 15, 0, 0, 0, 0, time.UTC), connector.TypeDate, "12345-03-15"},
		{math.NaN(), connector.TypeFloat64, "NaN"},
		{1e21, connector.TypeFloat64, "1e+21"},
		{0.1, connector.TypeFloat64, "0.1"},
		{true, connector.TypeBool, "t"},
		{connector.Decimal("-1.50"), connector.TypeDecimal, "-1.50"},
	}
	for _, tt := range tests {
		if got := string(appendValue(nil, tt.v, tt.typ)); got != tt.want {
			t.Errorf("appendValue(%#v, %s) = %q, want %q", tt.v, tt.typ, got, tt.want)
		}
	}
}

func FuzzParseCopyText(f *testing.F) {
	for _, s := range []string{"a\tb", `\N`, `\\N`, `\101\x41\n`, "", "\t\t", `a\`, "é\\\t😀", `\x4g\777`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		fields, _, err := splitCopyLine([]byte(line), nil, nil)
		if err != nil {
			return
		}
		// Whatever was parsed must survive being written and parsed again.
		var enc []byte
		for i, fld := range fields {
			if i > 0 {
				enc = append(enc, '\t')
			}
			if fld == nil {
				enc = append(enc, '\\', 'N')
			} else {
				enc = appendEscaped(enc, fld)
			}
		}
		again, _, err := splitCopyLine(enc, nil, nil)
		if err != nil {
			t.Fatalf("re-encoded %q does not parse: %v", enc, err)
		}
		if len(again) != len(fields) {
			t.Fatalf("%q: %d fields, re-encoded %q: %d", line, len(fields), enc, len(again))
		}
		for i := range fields {
			if (fields[i] == nil) != (again[i] == nil) || !bytes.Equal(fields[i], again[i]) {
				t.Fatalf("%q field %d: %q, after re-encoding %q", line, i, fields[i], again[i])
			}
		}
		// Any text written as one field reads back as itself.
		one, _, err := splitCopyLine(appendEscaped(nil, line), nil, nil)
		if err != nil || len(one) != 1 || string(one[0]) != line {
			t.Fatalf("text %q as one field read back as %q (%v)", line, one, err)
		}
	})
}

// benchRows is the shape of the performance target's table: (id bigint, name text, email text,
// amount numeric(12,2), created_at timestamptz, note text).
func benchRows(n int) ([]connector.Type, [][]any) {
	types := []connector.Type{connector.TypeInt64, connector.TypeString, connector.TypeString,
		connector.TypeDecimal, connector.TypeTimestampTZ, connector.TypeString}
	rows := make([][]any, n)
	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range rows {
		rows[i] = []any{int64(i + 1), "Customer Name " + string(rune('A'+i%26)), "customer" + string(rune('a'+i%26)) + "@example.com",
			connector.Decimal("1234.56"), base.Add(time.Duration(i) * time.Second), "a short note\twith a tab"}
	}
	return types, rows
}

func BenchmarkEncodeCopyText(b *testing.B) {
	types, rows := benchRows(10000)
	r := rowReader{types: types}
	p := make([]byte, 65536)
	b.ReportAllocs()
	b.ResetTimer()
	var n int64
	for b.Loop() {
		r.reset(rows, nil)
		for {
			k, err := r.Read(p)
			n += int64(k)
			if err != nil {
				break
			}
		}
	}
	b.SetBytes(n / int64(b.N))
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(rows)), "ns/row")
}

func BenchmarkParseCopyText(b *testing.B) {
	types, rows := benchRows(1000)
	var data []byte
	for _, row := range rows {
		data = appendRow(data, row, types)
	}
	lines := bytes.Split(bytes.TrimSuffix(data, []byte("\n")), []byte("\n"))
	var fields [][]byte
	var scratch []byte
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		for _, l := range lines {
			var err error
			fields, scratch, err = splitCopyLine(l, fields, scratch)
			if err != nil {
				b.Fatal(err)
			}
			for i, f := range fields {
				if _, err := parseValue(f, types[i]); err != nil {
					b.Fatal(err)
				}
			}
		}
	}
}
