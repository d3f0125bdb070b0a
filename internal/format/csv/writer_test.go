package csv

import (
	"bytes"
	"reflect"
	"strings"
	"testing"

	"github.com/datahub-oss/datahub/connector"
	"github.com/datahub-oss/datahub/internal/format"
	"github.com/datahub-oss/datahub/internal/format/formattest"
)

func golden(t *testing.T, name string, got []byte) { formattest.Golden(t, name, got) }

func allTypes() (connector.Schema, [][]any) { return formattest.AllTypes() }

func writeAll(t *testing.T, s connector.Schema, rows [][]any, o format.Options) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := NewWriter(&buf, s, o)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(&connector.Batch{Rows: rows}); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestWriterGolden(t *testing.T) {
	s, rows := allTypes()
	golden(t, "all_types.csv", writeAll(t, s, rows, format.Defaults("csv")))
	o := format.Defaults("csv")
	o.Delimiter, o.Null = ';', "NULL"
	golden(t, "all_types_semicolon_null.csv", writeAll(t, s, rows, o))
}

// TestWriterRoundTrip reads back what the writer wrote: every value is its FormatTyped text,
// NULL stays NULL and the empty string stays empty.
func TestWriterRoundTrip(t *testing.T) {
	s, rows := allTypes()
	for _, mod := range []func(*format.Options){
		nil,
		func(o *format.Options) { o.Delimiter = '\t' },
		func(o *format.Options) { o.Delimiter, o.Null = ';', "NULL" },
		func(o *format.Options) { o.Delimiter, o.Quote, o.Null = '|', '\'', `\N` },
		func(o *format.Options) { o.Header = false },
	} {
		o := opts(mod)
		out := writeAll(t, s, rows, o)
		res := readAll(t, bytes.NewReader(out), o, 3)
		if len(res.rejects) > 0 {
			t.Fatalf("rejects %+v in\n%s", res.rejects, out)
		}
		if o.Header && !reflect.DeepEqual(res.cols, s.Names()) {
			t.Errorf("columns %v", res.cols)
		}
		for i, row := range rows {
			for j, v := range row {
				var want any
				if v != nil {
					want = connector.FormatTyped(v, s.Columns[j].Type)
				}
				if got := res.rows[i][j]; got != want {
					t.Errorf("%+v row %d col %d: got %#v want %#v", o, i, j, got, want)
				}
			}
		}
	}
}

func TestWriterAppendingHasNoHeader(t *testing.T) {
	s := connector.Schema{Columns: []connector.Column{{Name: "a", Type: connector.TypeString}}}
	o := format.Defaults("csv")
	o.Appending = true
	if got := string(writeAll(t, s, [][]any{{"x"}, {nil}, {""}}, o)); got != "x\n\n\"\"\n" {
		t.Fatalf("got %q", got)
	}
}

func TestAppendTextMatchesFormatTyped(t *testing.T) {
	s, rows := allTypes()
	for _, row := range rows {
		for j, v := range row {
			for _, typ := range []connector.Type{s.Columns[j].Type, connector.TypeString} {
				if got, want := string(format.AppendText(nil, v, typ)), connector.FormatTyped(v, typ); got != want {
					t.Errorf("AppendText(%#v, %s) = %q, FormatTyped = %q", v, typ, got, want)
				}
			}
		}
	}
}

func TestReadHeader(t *testing.T) {
	got, err := ReadHeader(strings.NewReader("\xEF\xBB\xBFa;\"b;c\"\r\n1;2\r\n"), opts(func(o *format.Options) { o.Delimiter = ';' }))
	if err != nil || !reflect.DeepEqual(got, []string{"a", "b;c"}) {
		t.Fatalf("%q %v", got, err)
	}
}
