package jsonval

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/datahub-oss/datahub/connector"
)

func TestAppendString(t *testing.T) {
	for _, s := range []string{"", "plain", "q\"b\\s/", "ctl\x00\x01\x1f\n\r\t", "ünï 日本 🚀", "bad\xffutf8", "\u2028\u2029", "<&>"} {
		got := AppendString(nil, s)
		var back string
		if err := json.Unmarshal(got, &back); err != nil {
			t.Fatalf("%q encodes as %s: %v", s, got, err)
		}
		want := strings.ToValidUTF8(s, "\ufffd")
		if back != want {
			t.Errorf("%q -> %s -> %q", s, got, back)
		}
		if strings.ContainsAny(string(got), "\n\r\u2028\u2029") {
			t.Errorf("%s holds a raw line break", got)
		}
	}
}

func TestAppendValue(t *testing.T) {
	u, _ := connector.ParseUUID("6ba7b810-9dad-11d1-80b4-00c04fd430c8")
	for _, tc := range []struct {
		v    any
		t    connector.Type
		want string
	}{
		{nil, connector.TypeInt64, `null`},
		{int64(-9223372036854775808), connector.TypeInt64, `-9223372036854775808`},
		{1.5, connector.TypeFloat64, `1.5`},
		{1e300, connector.TypeFloat64, `1e+300`},
		{math.NaN(), connector.TypeFloat64, `"NaN"`},
		{math.Inf(-1), connector.TypeFloat64, `"-Infinity"`},
		{connector.Decimal("-12345678901234567890.123456789012345678"), connector.TypeDecimal, `-12345678901234567890.123456789012345678`},
		{connector.Decimal("12."), connector.TypeDecimal, `"12."`},
		{"a\"b", connector.TypeString, `"a\"b"`},
		{true, connector.TypeBool, `true`},
		{time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC), connector.TypeDate, `"2024-02-29"`},
		{time.Date(2024, 2, 29, 1, 2, 3, 4000, time.UTC), connector.TypeTimestamp, `"2024-02-29T01:02:03.000004"`},
		{time.Date(2024, 2, 29, 1, 2, 3, 0, time.FixedZone("", 3600)), connector.TypeTimestampTZ, `"2024-02-29T00:02:03Z"`},
		{[]byte{0, 1, 0xff}, connector.TypeBytes, `"AAH/"`},
		{json.RawMessage("{\n  \"a\": [1, 2]\n}"), connector.TypeJSON, `{"a":[1,2]}`},
		{u, connector.TypeUUID, `"6ba7b810-9dad-11d1-80b4-00c04fd430c8"`},
	} {
		if got := string(AppendValue(nil, tc.v, tc.t)); got != tc.want {
			t.Errorf("AppendValue(%#v, %s) = %s, want %s", tc.v, tc.t, got, tc.want)
		}
	}
}

func TestInfer(t *testing.T) {
	sample := []string{
		`{"i":1,"d":1,"s":"x","b":true,"j":{"a":1},"n":null,"mix":1,"big":1,"jm":[1]}`,
		`{"i":-2,"d":2.50,"s":"y","b":false,"j":[],"n":null,"mix":"one","big":123456789012345678901234567890,"jm":"s","new":1e3}`,
		`not json`, `[1]`,
		`{"":1,"I":5}`,
	}
	var raws [][]byte
	for _, s := range sample {
		raws = append(raws, []byte(s))
	}
	s, index := Infer(raws)
	want := "i:int64 d:decimal s:string b:bool j:json n:string mix:string big:decimal jm:json new:float64 c11:int64 I_2:int64"
	var got []string
	for _, c := range s.Columns {
		got = append(got, c.Name+":"+c.Type.String())
	}
	if strings.Join(got, " ") != want {
		t.Fatalf("inferred\n%s\nwant\n%s", strings.Join(got, " "), want)
	}
	if index[""] != 10 || index["I"] != 11 {
		t.Fatalf("index %v", index)
	}
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestDecode(t *testing.T) {
	s, index := Infer([][]byte{[]byte(`{"i":1,"d":1.5,"s":"x","b":true,"j":{}}`)})
	d := NewDecoder(s, index, 1)
	for _, tc := range []struct {
		in, col, why string
		row          []any
	}{
		{in: ` { "s" : "a\u00e9\n" , "i" : 7 } `, row: []any{int64(7), nil, "aé\n", nil, nil}},
		{in: `{"d":123456789012345678901234567890.000000000000000001,"s":12.50,"j":"str","b":false}`,
			row: []any{nil, connector.Decimal("123456789012345678901234567890.000000000000000001"), "12.50", false, json.RawMessage(`"str"`)}},
		{in: `{"i":1.5}`, col: "i", why: "not a whole number"},
		{in: `{"i":"1"}`, col: "i", why: "found a string"},
		{in: `{"b":1}`, col: "b", why: "found a number"},
		{in: `{"zz":1}`, why: `unexpected field "zz"`},
		{in: `{"i":1,"i":2}`, col: "i", why: "appears twice"},
		{in: `[1,2]`, why: "not a JSON object"},
		{in: `{"i":}`, why: "invalid JSON"},
		{in: "{\"s\":\"\xff\"}", why: "invalid UTF-8"},
	} {
		row, col, why := d.Decode([]byte(tc.in))
		if tc.why != "" {
			if !strings.Contains(why, tc.why) || col != tc.col {
				t.Errorf("%s: column %q reason %q, want %q %q", tc.in, col, why, tc.col, tc.why)
			}
			continue
		}
		if why != "" {
			t.Errorf("%s: %s", tc.in, why)
			continue
		}
		for i := range row {
			if !connector.Equal(s.Columns[i].Type, row[i], tc.row[i]) {
				t.Errorf("%s: column %s = %#v, want %#v", tc.in, s.Columns[i].Name, row[i], tc.row[i])
			}
		}
	}
}

func TestValueEnd(t *testing.T) {
	for _, tc := range []struct {
		in       string
		eof      bool
		n        int
		complete bool
	}{
		{`{"a":"}\"]"}, `, false, 12, true},
		{`[[1],[2]]x`, false, 9, true},
		{`"a\\"b`, false, 5, true},
		{`"a\"b`, false, 5, false},
		{`123`, false, 3, false},
		{`123`, true, 3, true},
		{`true,`, false, 4, true},
		{`{"a":`, true, 5, false},
	} {
		n, c := ValueEnd([]byte(tc.in), tc.eof)
		if n != tc.n || c != tc.complete {
			t.Errorf("ValueEnd(%s) = %d %v, want %d %v", tc.in, n, c, tc.n, tc.complete)
		}
	}
}
