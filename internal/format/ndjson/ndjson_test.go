package ndjson

import (
	"bytes"
	"context"
	"errors"
	"fmt"
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
	formattest.Golden(t, "all_types.ndjson", write(t, s, rows))
}

// TestRoundTrip reads back what the writer wrote: the inferred types differ (dates are strings,
// floats decimals) but every value converts back to what was written.
func TestRoundTrip(t *testing.T) {
	s, rows := formattest.AllTypes()
	out := write(t, s, rows)
	r, err := NewReader(bytes.NewReader(out), format.Defaults("ndjson"), 2)
	if err != nil {
		t.Fatal(err)
	}
	res := formattest.ReadAll(t, r)
	if len(res.Rejects) > 0 {
		t.Fatalf("rejects %+v", res.Rejects)
	}
	if !reflect.DeepEqual(res.Schema.Names(), s.Names()) {
		t.Fatalf("columns %v", res.Schema.Names())
	}
	formattest.CheckValues(t, s, res.Schema, rows, res.Rows)
	if res.Bytes != int64(len(out)) {
		t.Errorf("bytes %d, file %d", res.Bytes, len(out))
	}
}

func TestReader(t *testing.T) {
	in := "\xEF\xBB\xBF{\"id\":1,\"name\":\"a\",\"amount\":1.5}\r\n" +
		"\n" +
		"   \n" +
		"{\"id\":2,\"amount\":12345678901234567890.12345678901234567890}\n" +
		"[1,2]\n" +
		"{\"id\":\"three\"}\n" +
		"{\"id\":4,\"name\":null,\"extra\":true}\n" +
		"{\"id\":5,\"name\":\"multi\\nline\"}\n" +
		"{\"id\":6,\n" +
		"{\"id\":7}"
	for _, src := range []func() io.Reader{
		func() io.Reader { return strings.NewReader(in) },
		func() io.Reader { return iotest.OneByteReader(strings.NewReader(in)) },
	} {
		r, err := NewReader(src(), format.Defaults("ndjson"), 3)
		if err != nil {
			t.Fatal(err)
		}
		res := formattest.ReadAll(t, r)
		var cols []string
		for _, c := range res.Schema.Columns {
			cols = append(cols, c.Name+":"+c.Type.String())
		}
		if got := strings.Join(cols, " "); got != "id:string name:string amount:decimal extra:bool" {
			t.Fatalf("schema %s", got)
		}
		want := [][]any{
			{"1", "a", connector.Decimal("1.5"), nil},
			{"2", nil, connector.Decimal("12345678901234567890.12345678901234567890"), nil},
			{"three", nil, nil, nil},
			{"4", nil, nil, true},
			{"5", "multi\nline", nil, nil},
			{"7", nil, nil, nil},
		}
		if !reflect.DeepEqual(res.Rows, want) {
			t.Fatalf("rows\n%#v\nwant\n%#v", res.Rows, want)
		}
		if !reflect.DeepEqual(res.Lines, []int64{1, 4, 6, 7, 8, 10}) {
			t.Fatalf("lines %v", res.Lines)
		}
		if len(res.Rejects) != 2 || res.Rejects[0].Line != 5 || res.Rejects[0].Record != 3 ||
			!strings.Contains(res.Rejects[0].Reason, "not a JSON object") || res.Rejects[0].Raw != "[1,2]" ||
			res.Rejects[1].Line != 9 || !strings.Contains(res.Rejects[1].Reason, "invalid JSON") {
			t.Fatalf("rejects %+v", res.Rejects)
		}
		if res.Bytes != int64(len(in)) {
			t.Errorf("bytes %d, input %d", res.Bytes, len(in))
		}
		formattest.Resumes(t, res, func(pos *format.Position) format.Reader {
			r, err := Resume(strings.NewReader(in), strings.NewReader(in[pos.Offset:]), format.Defaults("ndjson"), 1000, pos)
			if err != nil {
				t.Fatal(err)
			}
			return r
		})
	}
}

// TestSampleLimit: a field first seen after the sample is an unexpected field, a value the
// inferred type cannot hold is rejected, and only the sample is buffered.
func TestSampleLimit(t *testing.T) {
	var b strings.Builder
	for i := 1; i <= 5; i++ {
		fmt.Fprintf(&b, "{\"n\":%d}\n", i)
	}
	b.WriteString("{\"n\":6,\"late\":1}\n{\"n\":7.5}\n{\"n\":99999999999999999999}\n{\"n\":8}\n")
	o := format.Defaults("ndjson")
	o.Sample = 5
	r, err := NewReader(strings.NewReader(b.String()), o, 100)
	if err != nil {
		t.Fatal(err)
	}
	res := formattest.ReadAll(t, r)
	if len(res.Rows) != 6 || res.Schema.Columns[0].Type != connector.TypeInt64 {
		t.Fatalf("rows %v schema %+v", res.Rows, res.Schema)
	}
	want := []string{`unexpected field "late"`, "7.5 is not a whole number", "99999999999999999999 is not a whole number"}
	for i, w := range want {
		if !strings.Contains(res.Rejects[i].Reason, w) || res.Rejects[i].Line != int64(6+i) {
			t.Errorf("reject %d: %+v, want %q", i, res.Rejects[i], w)
		}
	}
}

func TestEmpty(t *testing.T) {
	for _, in := range []string{"", "\n\n", "[1]\n\"x\"\n"} {
		if _, err := NewReader(strings.NewReader(in), format.Defaults("ndjson"), 10); err == nil || !strings.Contains(err.Error(), "cannot tell the columns") {
			t.Errorf("%q: err %v", in, err)
		}
	}
}

func TestCancel(t *testing.T) {
	r, err := NewReader(strings.NewReader("{\"a\":1}\n"), format.Defaults("ndjson"), 10)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := r.Read(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v", err)
	}
}

func FuzzNDJSONReader(f *testing.F) {
	for _, s := range []string{"{\"a\":1}\n{\"a\":2.5,\"b\":\"x\"}\n", "\xEF\xBB\xBF{\"a\":[1,{\"b\":null}]}\r\n\n[1]\n", "{\"a\":\"\\u00e9\\n\"}\n{\"a\":1,\"a\":2}", "{\"\":1,\"A\":1,\"a\":2}\n{\"z\":1}"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		o := format.Defaults("ndjson")
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
		// What was read writes and reads back to the same values.
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
