package json

import (
	"bytes"
	"io"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/datahub-oss/datahub/connector"
	"github.com/datahub-oss/datahub/internal/format"
	"github.com/datahub-oss/datahub/internal/format/formattest"
)

func write(t *testing.T, s connector.Schema, rows [][]any) []byte {
	var buf bytes.Buffer
	w, err := NewWriter(&buf, s)
	if err != nil {
		t.Fatal(err)
	}
	formattest.Write(t, w, rows)
	return buf.Bytes()
}

func TestWriterGolden(t *testing.T) {
	s, rows := formattest.AllTypes()
	formattest.Golden(t, "all_types.json", write(t, s, rows))
	formattest.Golden(t, "empty.json", write(t, s, nil))
}

func TestRoundTrip(t *testing.T) {
	s, rows := formattest.AllTypes()
	out := write(t, s, rows)
	r, err := NewReader(bytes.NewReader(out), format.Defaults("json"), 4)
	if err != nil {
		t.Fatal(err)
	}
	res := formattest.ReadAll(t, r)
	if len(res.Rejects) > 0 {
		t.Fatalf("rejects %+v", res.Rejects)
	}
	formattest.CheckValues(t, s, res.Schema, rows, res.Rows)
	if !reflect.DeepEqual(res.Lines, []int64{2, 3, 4, 5, 6, 7}) || res.Bytes != int64(len(out)) {
		t.Fatalf("lines %v bytes %d of %d", res.Lines, res.Bytes, len(out))
	}
}

func TestReader(t *testing.T) {
	in := "\xEF\xBB\xBF [\n" +
		"  {\"id\": 1, \"v\": \"a\"},\n" +
		"  {\"id\": 2,\n   \"v\": \"b\\\"]}\"} ,\n" +
		"  7,\n" +
		"  {\"id\": 3, \"v\": tru},\n" +
		"  {\"id\": 4}\n" +
		"]\n"
	for _, src := range []func() io.Reader{
		func() io.Reader { return strings.NewReader(in) },
		func() io.Reader { return iotest.OneByteReader(strings.NewReader(in)) },
	} {
		r, err := NewReader(src(), format.Defaults("json"), 2)
		if err != nil {
			t.Fatal(err)
		}
		res := formattest.ReadAll(t, r)
		want := [][]any{{int64(1), "a"}, {int64(2), `b"]}`}, {int64(4), nil}}
		if !reflect.DeepEqual(res.Rows, want) || !reflect.DeepEqual(res.Lines, []int64{2, 3, 7}) {
			t.Fatalf("rows %#v lines %v", res.Rows, res.Lines)
		}
		if len(res.Rejects) != 2 || res.Rejects[0].Line != 5 || !strings.Contains(res.Rejects[0].Reason, "not a JSON object") ||
			res.Rejects[1].Line != 6 || !strings.Contains(res.Rejects[1].Reason, "invalid JSON") || res.Rejects[1].Record != 4 {
			t.Fatalf("rejects %+v", res.Rejects)
		}
		if res.Bytes != int64(len(in)) {
			t.Errorf("bytes %d of %d", res.Bytes, len(in))
		}
		formattest.Resumes(t, res, func(pos *format.Position) format.Reader {
			r, err := Resume(strings.NewReader(in), strings.NewReader(in[pos.Offset:]), format.Defaults("json"), 1000, pos)
			if err != nil {
				t.Fatal(err)
			}
			return r
		})
	}
}

func TestDamaged(t *testing.T) {
	for _, tc := range []struct{ in, reason string }{
		{`[{"a":1} {"a":2}]`, "want ',' or ']'"},
		{"[{\"a\":1},\n{\"a\":", "unterminated value"},
		{`[{"a":1}`, "not closed"},
		{`[{"a":1}] x`, "text after the end"},
		{`[{"a":1},}`, "want an array element"},
	} {
		r, err := NewReader(strings.NewReader(tc.in), format.Defaults("json"), 10)
		if err != nil {
			t.Fatalf("%s: %v", tc.in, err)
		}
		res := formattest.ReadAll(t, r)
		if len(res.Rows) != 1 || len(res.Rejects) != 1 || !strings.Contains(res.Rejects[0].Reason, tc.reason) {
			t.Errorf("%s: rows %v rejects %+v", tc.in, res.Rows, res.Rejects)
		}
	}
	for _, in := range []string{"", "  ", `{"a":1}`, `[]`, `[1,2]`} {
		if _, err := NewReader(strings.NewReader(in), format.Defaults("json"), 10); err == nil {
			t.Errorf("%q: no error", in)
		}
	}
}

func FuzzJSONReader(f *testing.F) {
	for _, s := range []string{"[{\"a\":1},{\"a\":2.5,\"b\":\"x\"}]", "\xEF\xBB\xBF[\n{\"a\":[1,{\"b\":null}]},\r\n7\n]", "[{\"a\":\"\\u00e9\\n\"},{\"a\":1,\"a\":2}", "[{\"\":1,\"A\":1,\"a\":2},{\"z\":1}] "} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		o := format.Defaults("json")
		o.Sample = 3
		r, err := NewReader(bytes.NewReader(data), o, 2)
		if err != nil {
			return
		}
		if err := r.Schema().Validate(); err != nil {
			t.Fatalf("invalid schema %+v: %v", r.Schema(), err)
		}
		res := formattest.ReadAll(t, r)
		if res.Bytes != int64(len(data)) {
			t.Fatalf("bytes %d, input %d", res.Bytes, len(data))
		}
		out := write(t, res.Schema, res.Rows)
		if len(res.Rows) == 0 {
			return
		}
		o.Sample = len(res.Rows)
		r2, err := NewReader(bytes.NewReader(out), o, 100)
		if err != nil {
			t.Fatalf("reading back %q: %v", out, err)
		}
		res2 := formattest.ReadAll(t, r2)
		if len(res2.Rejects) > 0 {
			t.Fatalf("rejects reading back %q: %+v", out, res2.Rejects)
		}
		formattest.CheckValues(t, res.Schema, res2.Schema, res.Rows, res2.Rows)
	})
}
