package connector

import (
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"
	"time"
)

func TestParseDecimal(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"0", "0"}, {"-0", "0"}, {"+12.50", "12.50"}, {" 007.10 ", "7.10"}, {".5", "0.5"}, {"5.", "5"},
		{"-0.01", "-0.01"}, {"1.5e3", "1500"}, {"1.5E-3", "0.0015"}, {"-2e0", "-2"},
		{"123456789012345678901234567890.123456789", "123456789012345678901234567890.123456789"},
	} {
		got, err := ParseDecimal(tc.in)
		if err != nil || string(got) != tc.want {
			t.Errorf("ParseDecimal(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", "-", "1.2.3", "abc", "1e", "1,5", "0x10", "1e99999", "."} {
		if d, err := ParseDecimal(bad); err == nil {
			t.Errorf("ParseDecimal(%q) = %q, want an error", bad, d)
		}
	}
}

func TestDecimalRound(t *testing.T) {
	for _, tc := range []struct {
		in    string
		scale int
		want  string
	}{
		{"1.005", 2, "1.01"}, {"1.004", 2, "1.00"}, {"-1.005", 2, "-1.01"}, {"9.999", 2, "10.00"},
		{"12", 2, "12.00"}, {"12.5", 2, "12.50"}, {"-0.001", 2, "0.00"}, {"99.5", 0, "100"}, {"7", 0, "7"},
	} {
		if got := Decimal(tc.in).Round(tc.scale); string(got) != tc.want {
			t.Errorf("Round(%s, %d) = %s, want %s", tc.in, tc.scale, got, tc.want)
		}
	}
}

func TestParseTimestamp(t *testing.T) {
	utc := time.UTC
	for _, tc := range []struct {
		in   string
		want time.Time
		zone bool
	}{
		{"2024-03-01", time.Date(2024, 3, 1, 0, 0, 0, 0, utc), false},
		{"2024-03-01T10:00:00Z", time.Date(2024, 3, 1, 10, 0, 0, 0, utc), true},
		{"2024-03-31 23:59:59.123456+00", time.Date(2024, 3, 31, 23, 59, 59, 123456000, utc), true},
		{"1999-12-31T23:00:00+02:00", time.Date(1999, 12, 31, 21, 0, 0, 0, utc), true},
		{"2024-02-29T12:00:00-0500", time.Date(2024, 2, 29, 17, 0, 0, 0, utc), true},
		{"2024-01-01 00:00", time.Date(2024, 1, 1, 0, 0, 0, 0, utc), false},
		{"2024-01-01T00:00:00.123456789123Z", time.Date(2024, 1, 1, 0, 0, 0, 123456789, utc), true},
		{"2038-01-19 03:14:08 UTC", time.Date(2038, 1, 19, 3, 14, 8, 0, utc), true},
	} {
		got, zone, err := ParseTimestamp(tc.in)
		if err != nil || !got.Equal(tc.want) || zone != tc.zone {
			t.Errorf("ParseTimestamp(%q) = %v, %v, %v; want %v, %v", tc.in, got, zone, err, tc.want, tc.zone)
		}
	}
	for _, bad := range []string{"", "2024-13-01", "2024-02-30", "2024-01-01T25:00:00", "yesterday", "2024-01-01X", "2024-01-01T10:00:00+99"} {
		if _, _, err := ParseTimestamp(bad); err == nil {
			t.Errorf("ParseTimestamp(%q) succeeded", bad)
		}
	}
}

func TestConvert(t *testing.T) {
	str := func(s string) any { return s }
	for _, tc := range []struct {
		name string
		v    any
		from Type
		to   Column
		want any
		err  string
	}{
		{"text to int", str(" 42 "), TypeString, Column{Type: TypeInt64}, int64(42), ""},
		{"text to int with zero fraction", str("42.00"), TypeString, Column{Type: TypeInt64}, int64(42), ""},
		{"bad int", str("4x"), TypeString, Column{Type: TypeInt64}, nil, "not a whole number"},
		{"decimal rounds to scale", str("1.005"), TypeString, Column{Type: TypeDecimal, Precision: 5, Scale: 2}, Decimal("1.01"), ""},
		{"decimal overflow", str("12345.6"), TypeString, Column{Type: TypeDecimal, Precision: 5, Scale: 2}, nil, "does not fit"},
		{"null into not null", nil, TypeString, Column{Type: TypeString}, nil, "NOT NULL"},
		{"null into nullable", nil, TypeString, Column{Type: TypeString, Nullable: true}, nil, ""},
		{"too long", str("héllo"), TypeString, Column{Type: TypeString, Length: 4}, nil, "longer"},
		{"fits in characters", str("héllo"), TypeString, Column{Type: TypeString, Length: 5}, "héllo", ""},
		{"bad date", str("2024-13-45"), TypeString, Column{Type: TypeDate}, nil, "not a date"},
		{"int to decimal", int64(-7), TypeInt64, Column{Type: TypeDecimal}, Decimal("-7"), ""},
		{"float to int refuses fraction", 1.5, TypeFloat64, Column{Type: TypeInt64}, nil, "whole number"},
		{"timestamptz to text", time.Date(2024, 1, 1, 1, 0, 0, 0, time.FixedZone("", 3600)), TypeTimestampTZ, Column{Type: TypeString}, "2024-01-01T00:00:00Z", ""},
		{"date to text", time.Date(2024, 1, 2, 0, 0, 0, 0, time.UTC), TypeDate, Column{Type: TypeString}, "2024-01-02", ""},
		{"bad json", str("{"), TypeString, Column{Type: TypeJSON}, nil, "not valid JSON"},
		{"uuid", str("6BA7B810-9DAD-11D1-80B4-00C04FD430C8"), TypeString, Column{Type: TypeUUID}, must(ParseUUID("6ba7b810-9dad-11d1-80b4-00c04fd430c8")), ""},
		{"bytes hex", str(`\x00ff`), TypeString, Column{Type: TypeBytes}, []byte{0, 0xff}, ""},
		{"NaN float", str("NaN"), TypeString, Column{Type: TypeFloat64}, math.NaN(), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Convert(tc.v, tc.from, tc.to)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("got %#v, %v; want error containing %q", got, err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !Equal(tc.to.Type, got, tc.want) {
				t.Fatalf("got %#v, want %#v", got, tc.want)
			}
		})
	}
	if _, err := Convert(nil, TypeString, Column{Type: TypeInt64}); !errors.Is(err, ErrNull) {
		t.Errorf("NULL into NOT NULL: %v", err)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func TestTextRoundTrip(t *testing.T) {
	vals := []struct {
		ty Type
		v  any
	}{
		{TypeInt64, int64(-9223372036854775808)}, {TypeFloat64, 5e-324}, {TypeFloat64, math.Inf(-1)},
		{TypeDecimal, Decimal("-99999999999999.999999")}, {TypeBool, true},
		{TypeDate, time.Date(1900, 3, 1, 0, 0, 0, 0, time.UTC)},
		{TypeTimestamp, time.Date(2024, 3, 1, 10, 0, 0, 123456789, time.UTC)},
		{TypeTimestampTZ, time.Date(2038, 1, 19, 3, 14, 8, 500, time.FixedZone("", -3600))},
		{TypeBytes, []byte{0, 1, 0xff}}, {TypeJSON, json.RawMessage(`{"a":[1,"é"]}`)},
		{TypeUUID, must(ParseUUID("6ba7b810-9dad-11d1-80b4-00c04fd430c8"))},
	}
	for _, tc := range vals {
		s := FormatTyped(tc.v, tc.ty)
		back, err := Convert(s, TypeString, Column{Type: tc.ty})
		if err != nil || !Equal(tc.ty, back, tc.v) {
			t.Errorf("%s %#v -> %q -> %#v, %v", tc.ty, tc.v, s, back, err)
		}
	}
}

func TestRedact(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"postgres://u:secret@h:5432/db?table=t", "postgres://u:xxxxx@h:5432/db?table=t"},
		{"mysql://root@h/db?table=t", "mysql://root@h/db?table=t"},
		{"postgres://u:p%40ss@h/db?sslpassword=zz&table=t", "postgres://u:xxxxx@h/db?sslpassword=xxxxx&table=t"},
		{"/tmp/a:b.csv", "/tmp/a:b.csv"},
		{"sqlite:x.db?table=t", "sqlite:x.db?table=t"},
	} {
		if got := Redact(tc.in); got != tc.want {
			t.Errorf("Redact(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestScheme(t *testing.T) {
	for in, want := range map[string]string{
		"postgres://x": "postgres", "sqlite:a.db": "sqlite", "C:\\x.csv": "", "./a.csv": "", "a.csv": "",
		"file:///tmp/a": "file", "/abs/path:with:colons": "",
	} {
		if got := Scheme(in); got != want {
			t.Errorf("Scheme(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzParseTimestamp(f *testing.F) {
	for _, s := range []string{"2024-03-01T10:00:00Z", "2024-03-31 23:59:59.123456+00", "1999-12-31T23:00:00+02:00", "2024-01-01"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ts, zoned, err := ParseTimestamp(s)
		if err != nil {
			return
		}
		// What parses must survive the canonical text form.
		out := ts.UTC().Format(TimestampTZLayout)
		back, _, err := ParseTimestamp(out)
		if err != nil || !back.Equal(ts) {
			t.Fatalf("%q (zoned %v) -> %v -> %q -> %v, %v", s, zoned, ts, out, back, err)
		}
	})
}

func FuzzParseDecimal(f *testing.F) {
	for _, s := range []string{"0", "-12.50", "1.5e3", "99999999.999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDecimal(s)
		if err != nil {
			return
		}
		again, err := ParseDecimal(string(d))
		if err != nil || again != d {
			t.Fatalf("%q -> %q -> %q, %v: not idempotent", s, d, again, err)
		}
	})
}

func TestEndpointOption(t *testing.T) {
	e := Endpoint{URL: "postgres://h/db?table=a.b&query=SELECT a%2Bb, 'x;y' FROM t WHERE c = %27%26%27", Options: map[string]string{"delimiter": ";"}}
	for name, want := range map[string]string{"table": "a.b", "query": "SELECT a+b, 'x;y' FROM t WHERE c = '&'", "delimiter": ";", "absent": ""} {
		if got := e.Option(name); got != want {
			t.Errorf("Option(%q) = %q, want %q", name, got, want)
		}
	}
}
