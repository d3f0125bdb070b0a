package format_test

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/datahub-oss/datahub/connector"
	"github.com/datahub-oss/datahub/internal/format"
	_ "github.com/datahub-oss/datahub/internal/format/csv"
	"github.com/datahub-oss/datahub/internal/format/formattest"
	_ "github.com/datahub-oss/datahub/internal/format/json"
	_ "github.com/datahub-oss/datahub/internal/format/ndjson"
)

func getter(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestParseOptions(t *testing.T) {
	for _, tc := range []struct {
		name, override string
		opts           map[string]string
		format         string
		delim, quote   byte
		header         bool
		null, err      string
	}{
		{name: "a.csv", format: "csv", delim: ',', quote: '"', header: true},
		{name: "dir/A.TSV", format: "csv", delim: '\t', quote: '"', header: true},
		{name: "a.tsv", opts: map[string]string{"delimiter": "|"}, format: "csv", delim: '|', quote: '"', header: true},
		{name: "a.jsonl", format: "ndjson"},
		{name: "a.ndjson", format: "ndjson"},
		{name: "a.json", format: "json"},
		{name: "a.txt", override: "tsv", format: "csv", delim: '\t', quote: '"', header: true},
		{name: "a.txt", override: "jsonl", format: "ndjson"},
		{name: "a.json", override: "csv", opts: map[string]string{"delimiter": "semicolon", "quote": "'", "header": "no", "null": `\N`},
			format: "csv", delim: ';', quote: '\'', null: `\N`},
		{name: "a.csv", opts: map[string]string{"format": "ndjson"}, override: "json", format: "ndjson"},
		{name: "a.txt", err: "cannot tell the format"},
		{name: "a.csv", override: "xml", err: "unknown format"},
		{name: "a.csv", opts: map[string]string{"delimiter": "::"}, err: "one ASCII character"},
		{name: "a.csv", opts: map[string]string{"delimiter": "\n"}, err: "one ASCII character"},
		{name: "a.csv", opts: map[string]string{"quote": ","}, err: "both"},
		{name: "a.csv", opts: map[string]string{"null": "a,b"}, err: "null string"},
		{name: "a.csv", opts: map[string]string{"header": "maybe"}, err: "header"},
		{name: "a.csv", opts: map[string]string{"encoding": "latin1"}, err: "UTF-8"},
	} {
		c, o, err := format.ParseOptions(tc.name, tc.override, getter(tc.opts))
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s %v: err %v, want %q", tc.name, tc.opts, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s %v: %v", tc.name, tc.opts, err)
			continue
		}
		if c.Name != tc.format {
			t.Errorf("%s %v: format %s, want %s", tc.name, tc.opts, c.Name, tc.format)
		}
		if tc.format == "csv" && (o.Delimiter != tc.delim || o.Quote != tc.quote || o.Header != tc.header || o.Null != tc.null) {
			t.Errorf("%s %v: options %+v", tc.name, tc.opts, o)
		}
	}
}

func TestPosition(t *testing.T) {
	p := format.Position{Offset: 10, Line: 3, Record: 2}
	got, err := format.DecodePosition(p.Encode())
	if err != nil || *got != p {
		t.Fatalf("%+v %v", got, err)
	}
	if got, err := format.DecodePosition(nil); got != nil || err != nil {
		t.Fatalf("nil position: %+v %v", got, err)
	}
	for _, bad := range []string{"x", `{"offset":-1,"line":1,"record":1}`, `{"offset":1}`} {
		if _, err := format.DecodePosition(connector.Position(bad)); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}

type closer struct {
	io.Reader
	closed *int
}

func (c closer) Close() error { *c.closed++; return nil }

// TestNewReader resumes every format through an Opener and closes what it opened.
func TestNewReader(t *testing.T) {
	for _, tc := range []struct{ name, data string }{
		{"x.csv", "a,b\n1,2\n3,\"x\ny\"\n5,6\n7,8\n"},
		{"x.ndjson", "{\"a\":1}\n{\"a\":2}\n\n{\"a\":3}\n{\"a\":4}\n"},
		{"x.json", "[{\"a\":1},\n{\"a\":2},{\"a\":3}\n,{\"a\":4}]\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, o, err := format.ParseOptions(tc.name, "", getter(nil))
			if err != nil {
				t.Fatal(err)
			}
			opened, closed := 0, 0
			open := func(off int64) (io.ReadCloser, error) {
				opened++
				return closer{bytes.NewReader([]byte(tc.data)[off:]), &closed}, nil
			}
			r, err := format.NewReader(c, open, o, 1, nil)
			if err != nil {
				t.Fatal(err)
			}
			full := formattest.ReadAll(t, r)
			r.Close()
			r.Close()
			if len(full.Rows) != 4 || full.Bytes != int64(len(tc.data)) || opened != closed {
				t.Fatalf("rows %v bytes %d opened %d closed %d", full.Rows, full.Bytes, opened, closed)
			}
			formattest.Resumes(t, full, func(pos *format.Position) format.Reader {
				r, err := format.NewReader(c, open, o, 2, pos.Encode())
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { r.Close() })
				return r
			})
			if _, err := format.NewReader(c, func(int64) (io.ReadCloser, error) { return nil, errors.New("boom") }, o, 1, nil); err == nil {
				t.Fatal("open error lost")
			}
		})
	}
}
