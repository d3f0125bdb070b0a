package csv

import (
	"bytes"
	"context"
	"errors"
	"reflect"
	"testing"

	"github.com/datahub-oss/datahub/connector"
	"github.com/datahub-oss/datahub/internal/format"
)

// fuzzOptions picks one of the option sets the fuzzer explores.
func fuzzOptions(k byte) format.Options {
	o := format.Defaults("csv")
	switch k % 6 {
	case 1:
		o.Delimiter = ';'
	case 2:
		o.Delimiter, o.Null = '\t', `\N`
	case 3:
		o.Header = false
	case 4:
		o.Delimiter, o.Quote, o.Null = '|', '\'', "NULL"
	case 5:
		o.Header = false
		o.Null = "x"
	}
	return o
}

func fuzzRead(data []byte, o format.Options, batch int) (connector.Schema, [][]any, error) {
	r, err := NewReader(bytes.NewReader(data), o, batch)
	if err != nil {
		return connector.Schema{}, nil, err
	}
	var rows [][]any
	for {
		b, err := r.Read(context.Background())
		if errors.Is(err, connector.ErrEndOfInput) {
			return r.Schema(), rows, nil
		}
		if err != nil {
			return connector.Schema{}, nil, err
		}
		if len(b.Lines) != len(b.Rows) {
			panic("lines and rows differ in length")
		}
		for _, row := range b.Rows {
			if len(row) != len(r.Schema().Columns) {
				panic("row length differs from the schema")
			}
		}
		rows = append(rows, b.Rows...)
	}
}

// FuzzCSVReader: the reader never panics, and whatever it reads, the writer writes in a form
// the reader reads back identically (column names, NULLs, empty strings, every byte).
func FuzzCSVReader(f *testing.F) {
	for _, s := range []string{
		"a,b\n1,2\n", "a,b\r\n\"x\r\ny\",\"\"\r\n,\n", "\xEF\xBB\xBFa\n\n\"\"\n", "a,b\n\"unterminated\n",
		"a;b\n1;\"2\"\"\"\n", "a,,A,a\n1,2,3,4\n", "x\"y,z\n", "a,b\n1,2,3\n4\n", "a\tb\n\\N\t\n", "a|b\n'q''|'|NULL\n",
	} {
		for k := byte(0); k < 6; k++ {
			f.Add([]byte(s), k)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte, k byte) {
		o := fuzzOptions(k)
		schema, rows, err := fuzzRead(data, o, int(k%4)+1)
		if err != nil {
			return
		}
		var out bytes.Buffer
		w, err := NewWriter(&out, schema, o)
		if err != nil {
			t.Fatalf("NewWriter: %v", err)
		}
		if err := w.Write(&connector.Batch{Rows: rows}); err != nil {
			t.Fatal(err)
		}
		w.Close()
		schema2, rows2, err := fuzzRead(out.Bytes(), o, 7)
		if len(rows) == 0 && !o.Header {
			return // nothing was written to count the columns of
		}
		if err != nil {
			t.Fatalf("reading back %q: %v", out.Bytes(), err)
		}
		if !reflect.DeepEqual(schema2.Names(), schema.Names()) {
			t.Fatalf("columns %q read back as %q from %q", schema.Names(), schema2.Names(), out.Bytes())
		}
		if len(rows) == 0 && len(rows2) == 0 {
			return
		}
		if !reflect.DeepEqual(rows, rows2) {
			t.Fatalf("rows %q\nread back as %q\nfrom %q", rows, rows2, out.Bytes())
		}
	})
}
