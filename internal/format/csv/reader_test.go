package csv

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/datahub-oss/datahub/connector"
	"github.com/datahub-oss/datahub/internal/format"
)

type result struct {
	cols    []string
	rows    [][]any
	lines   []int64
	rejects []connector.Reject
	bytes   int64
	pos     connector.Position
}

func readAll(t *testing.T, r io.Reader, o format.Options, batch int) result {
	t.Helper()
	rd, err := NewReader(r, o, batch)
	if err != nil {
		t.Fatalf("NewReader: %v", err)
	}
	return drain(t, rd)
}

func drain(t *testing.T, rd *Reader) result {
	t.Helper()
	var res result
	res.cols = rd.Schema().Names()
	for _, c := range rd.Schema().Columns {
		if c.Type != connector.TypeString || !c.Nullable {
			t.Fatalf("column %s is %s nullable=%v, want nullable string", c.Name, c.Type, c.Nullable)
		}
	}
	for {
		b, err := rd.Read(context.Background())
		if errors.Is(err, connector.ErrEndOfInput) {
			return res
		}
		if err != nil {
			t.Fatalf("Read: %v", err)
		}
		if len(b.Lines) != len(b.Rows) {
			t.Fatalf("%d lines for %d rows", len(b.Lines), len(b.Rows))
		}
		res.rows = append(res.rows, b.Rows...)
		res.lines = append(res.lines, b.Lines...)
		res.rejects = append(res.rejects, b.Rejects...)
		res.bytes += b.Bytes
		res.pos = b.Pos
	}
}

func opts(mod func(*format.Options)) format.Options {
	o := format.Defaults("csv")
	if mod != nil {
		mod(&o)
	}
	return o
}

// rej is the part of a Reject the table checks.
type rej struct {
	Line, Record int64
	Column       string
	Reason       string // a substring of the reason
}

func TestReader(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		o       func(*format.Options)
		cols    []string
		rows    [][]any
		lines   []int64
		rejects []rej
	}{
		{name: "simple", in: "a,b\n1,2\n3,4\n", cols: []string{"a", "b"},
			rows: [][]any{{"1", "2"}, {"3", "4"}}, lines: []int64{2, 3}},
		{name: "no final newline", in: "a,b\n1,2\n3,4", cols: []string{"a", "b"},
			rows: [][]any{{"1", "2"}, {"3", "4"}}, lines: []int64{2, 3}},
		{name: "crlf", in: "a,b\r\n1,2\r\n3,4\r\n", cols: []string{"a", "b"},
			rows: [][]any{{"1", "2"}, {"3", "4"}}},
		{name: "bom", in: "\xEF\xBB\xBFa,b\n1,2\n", cols: []string{"a", "b"}, rows: [][]any{{"1", "2"}}},
		{name: "bom crlf no final newline", in: "\xEF\xBB\xBFid\r\n7", cols: []string{"id"}, rows: [][]any{{"7"}}},
		{name: "null vs empty", in: "a,b,c\n,\"\",x\n\"\",,\n", cols: []string{"a", "b", "c"},
			rows: [][]any{{nil, "", "x"}, {"", nil, nil}}},
		{name: "null option", in: "a,b,c\nNULL,,\"NULL\"\n", o: func(o *format.Options) { o.Null = "NULL" },
			rows: [][]any{{nil, "", "NULL"}}},
		{name: "null backslash N", in: "a,b\n\\N,\n", o: func(o *format.Options) { o.Null = `\N` },
			rows: [][]any{{nil, ""}}},
		{name: "quoted delimiter and quotes", in: "a,b\n\"x,y\",\"say \"\"hi\"\"\"\n",
			rows: [][]any{{"x,y", `say "hi"`}}},
		{name: "quoted line breaks kept byte for byte", in: "a,b\r\n\"l1\r\nl2\",\"m1\nm2\"\r\nz,w\r\n",
			rows: [][]any{{"l1\r\nl2", "m1\nm2"}, {"z", "w"}}, lines: []int64{2, 5}},
		{name: "spaces kept", in: "a,b\n x ,\" y \"\n", rows: [][]any{{" x ", " y "}}},
		{name: "lone CR is data", in: "a,b\nx\ry,z\n", rows: [][]any{{"x\ry", "z"}}},
		{name: "semicolon", in: "a;b\n1,5;2\n", o: func(o *format.Options) { o.Delimiter = ';' },
			rows: [][]any{{"1,5", "2"}}},
		{name: "tab", in: "a\tb\n1\t\"2\t3\"\n", o: func(o *format.Options) { o.Delimiter = '\t' },
			rows: [][]any{{"1", "2\t3"}}},
		{name: "pipe", in: "a|b\n1|2\n", o: func(o *format.Options) { o.Delimiter = '|' }, rows: [][]any{{"1", "2"}}},
		{name: "single quote char", in: "a,b\n'x,''y''',\"z\"\n", o: func(o *format.Options) { o.Quote = '\'' },
			rows: [][]any{{"x,'y'", `"z"`}}},
		{name: "no header", in: "1,2\n3,4\n", o: func(o *format.Options) { o.Header = false },
			cols: []string{"c1", "c2"}, rows: [][]any{{"1", "2"}, {"3", "4"}}, lines: []int64{1, 2}},
		{name: "no header bom", in: "\xEF\xBB\xBF1,2\n", o: func(o *format.Options) { o.Header = false },
			cols: []string{"c1", "c2"}, rows: [][]any{{"1", "2"}}},
		{name: "no header ragged", in: "1,2\n3\n", o: func(o *format.Options) { o.Header = false },
			rows: [][]any{{"1", "2"}}, rejects: []rej{{2, 2, "", "record has 1 fields, the first record has 2"}}},
		{name: "blank lines skipped", in: "a,b\n\n1,2\r\n\r\n\n3,4\n\n", rows: [][]any{{"1", "2"}, {"3", "4"}}, lines: []int64{3, 6}},
		{name: "one column blank line is NULL", in: "a\nx\n\n\"\"\n", rows: [][]any{{"x"}, {nil}, {""}}, lines: []int64{2, 3, 4}},
		{name: "header names fixed", in: "a,,A,a\n1,2,3,4\n", cols: []string{"a", "c2", "A_2", "a_3"}, rows: [][]any{{"1", "2", "3", "4"}}},
		{name: "quoted header", in: "\"x,y\",\"line\nbreak\"\n1,2\n", cols: []string{"x,y", "line\nbreak"}, rows: [][]any{{"1", "2"}}, lines: []int64{3}},
		{name: "trailing delimiter", in: "a,b,c\n1,2,\n", rows: [][]any{{"1", "2", nil}}},
		{name: "utf8", in: "a,b\nünï,日本 ✓\n", rows: [][]any{{"ünï", "日本 ✓"}}},
		{name: "ragged rows with line numbers after multi-line fields",
			in:      "id,name,amount,day\n1,\"two\nlines\",3,4\n404,x404\n5,\"a\r\nb\r\nc\",6,7\n8,9,10,11,12\n13,14,15,16\n",
			rows:    [][]any{{"1", "two\nlines", "3", "4"}, {"5", "a\r\nb\r\nc", "6", "7"}, {"13", "14", "15", "16"}},
			lines:   []int64{2, 5, 9},
			rejects: []rej{{4, 2, "", "record has 2 fields, header has 4"}, {8, 4, "", "record has 5 fields, header has 4"}}},
		{name: "bare quote", in: "a,b\n1,x\"y\n2,3\n", rows: [][]any{{"2", "3"}}, lines: []int64{3},
			rejects: []rej{{2, 1, "b", `column "b": bare quote`}}},
		{name: "text after closing quote", in: "a,b\n\"x\"y,1\n2,3\n", rows: [][]any{{"2", "3"}}, lines: []int64{3},
			rejects: []rej{{2, 1, "a", `column "a": text after the closing quote`}}},
		{name: "invalid utf8 fast path", in: "a,b\n1,x\xffy\n2,3\n", rows: [][]any{{"2", "3"}},
			rejects: []rej{{2, 1, "b", `column "b": invalid UTF-8`}}},
		{name: "invalid utf8 quoted", in: "a,b\n\"x\xc3\",1\n2,3\n", rows: [][]any{{"2", "3"}},
			rejects: []rej{{2, 1, "a", `column "a": invalid UTF-8`}}},
		{name: "unterminated quote at EOF", in: "a,b\n1,2\n3,\"abc\n4,5\n", rows: [][]any{{"1", "2"}},
			rejects: []rej{{3, 2, "b", `column "b": quoted field not closed before the end of the file`}}},
		{name: "bad record does not swallow the next", in: "a,b\n1,\"x\"\"\n2,3\n", rows: nil,
			rejects: []rej{{2, 1, "b", "quoted field not closed"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, batch := range []int{1, 2, 1000} {
				// One byte at a time exercises every buffer boundary; whole is the fast path.
				for _, src := range []func() io.Reader{
					func() io.Reader { return strings.NewReader(tc.in) },
					func() io.Reader { return iotest.OneByteReader(strings.NewReader(tc.in)) },
				} {
					res := readAll(t, src(), opts(tc.o), batch)
					if tc.cols != nil && !reflect.DeepEqual(res.cols, tc.cols) {
						t.Errorf("columns %q, want %q", res.cols, tc.cols)
					}
					if !reflect.DeepEqual(res.rows, tc.rows) {
						t.Errorf("batch %d: rows\n%#v\nwant\n%#v", batch, res.rows, tc.rows)
					}
					if tc.lines != nil && !reflect.DeepEqual(res.lines, tc.lines) {
						t.Errorf("lines %v, want %v", res.lines, tc.lines)
					}
					if len(res.rejects) != len(tc.rejects) {
						t.Fatalf("rejects %+v, want %+v", res.rejects, tc.rejects)
					}
					for i, w := range tc.rejects {
						g := res.rejects[i]
						if g.Line != w.Line || g.Record != w.Record || g.Column != w.Column || !strings.Contains(g.Reason, w.Reason) || g.Raw == "" {
							t.Errorf("reject %d = %+v, want %+v", i, g, w)
						}
					}
					if res.bytes != int64(len(tc.in)) {
						t.Errorf("batches account for %d bytes, input has %d", res.bytes, len(tc.in))
					}
				}
			}
		})
	}
}

func TestReaderErrors(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"empty", "", "no header row"},
		{"blank only", "\n\n", "no header row"},
		{"bad header", "a,\"b\n", "header (line 1): column 2: quoted field not closed"},
		{"header utf8", "a,\xff\n", "invalid UTF-8"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewReader(strings.NewReader(tc.in), format.Defaults("csv"), 10)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestRejectRawTruncated(t *testing.T) {
	in := "a,b\n" + strings.Repeat("x", 100000) + "\n1,2\n"
	res := readAll(t, strings.NewReader(in), format.Defaults("csv"), 10)
	if len(res.rejects) != 1 || len(res.rejects[0].Raw) > format.MaxRawSize+4 || res.rejects[0].Line != 2 {
		t.Fatalf("rejects %d, raw %d bytes", len(res.rejects), len(res.rejects[0].Raw))
	}
	if len(res.rows) != 1 {
		t.Fatalf("rows %v", res.rows)
	}
}

// TestLongRecords crosses the initial buffer size with quoted and unquoted records.
func TestLongRecords(t *testing.T) {
	big := strings.Repeat("ab\"\"c\r\n", 400000) // 2.8 MB quoted content
	plain := strings.Repeat("z", 3<<20)
	in := "a,b\n\"" + big + "\"," + plain + "\n1,2\n"
	res := readAll(t, strings.NewReader(in), format.Defaults("csv"), 10)
	if len(res.rejects) != 0 || len(res.rows) != 2 {
		t.Fatalf("rows %d rejects %v", len(res.rows), res.rejects)
	}
	if res.rows[0][0] != strings.ReplaceAll(big, `""`, `"`) || res.rows[0][1] != plain {
		t.Fatal("long fields differ")
	}
	if res.lines[1] != 3+400000 {
		t.Fatalf("line of the record after the long one: %d", res.lines[1])
	}
}

func TestResume(t *testing.T) {
	in := "\xEF\xBB\xBFid,v\r\n1,\"a\r\nb\"\r\n2,\r\n\r\n3,x\"y\r\n4,\"\"\r\n5,e\r\n"
	full := readAll(t, strings.NewReader(in), format.Defaults("csv"), 1000)
	rd, err := NewReader(strings.NewReader(in), format.Defaults("csv"), 2)
	if err != nil {
		t.Fatal(err)
	}
	var rows [][]any
	var lines []int64
	var rejects []connector.Reject
	for {
		b, err := rd.Read(context.Background())
		if errors.Is(err, connector.ErrEndOfInput) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		rows, lines, rejects = append(rows, b.Rows...), append(lines, b.Lines...), append(rejects, b.Rejects...)
		// A reader resumed at this batch's position yields exactly the rest.
		pos, err := format.DecodePosition(b.Pos)
		if err != nil {
			t.Fatal(err)
		}
		r2, err := Resume(strings.NewReader(in), strings.NewReader(in[pos.Offset:]), format.Defaults("csv"), 1000, pos)
		if err != nil {
			t.Fatal(err)
		}
		rest := drain(t, r2)
		gotRows := append(append([][]any{}, rows...), rest.rows...)
		gotLines := append(append([]int64{}, lines...), rest.lines...)
		gotRej := append(append([]connector.Reject{}, rejects...), rest.rejects...)
		if !reflect.DeepEqual(gotRows, full.rows) || !reflect.DeepEqual(gotLines, full.lines) || !reflect.DeepEqual(gotRej, full.rejects) {
			t.Fatalf("resumed at %s: rows %v lines %v rejects %v\nwant %v %v %v", b.Pos, gotRows, gotLines, gotRej, full.rows, full.lines, full.rejects)
		}
	}
	if len(full.rows) != 4 || len(full.rejects) != 1 || full.rejects[0].Line != 6 || full.rejects[0].Record != 3 {
		t.Fatalf("full read: %v %+v", full.rows, full.rejects)
	}
}

func TestCancel(t *testing.T) {
	rd, err := NewReader(bytes.NewReader(benchData(100)), format.Defaults("csv"), 10)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := rd.Read(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
}

// TestValuesAreStrings checks that the slab-backed values behave as ordinary strings.
func TestValuesAreStrings(t *testing.T) {
	res := readAll(t, strings.NewReader("a,b\nhello,wörld\n"), format.Defaults("csv"), 10)
	v := res.rows[0][1]
	if s, ok := v.(string); !ok || s != "wörld" || v != any("wörld") || fmt.Sprint(v) != "wörld" || reflect.ValueOf(v).String() != "wörld" {
		t.Fatalf("value %#v does not behave as a string", v)
	}
	if b, _ := json.Marshal(res.rows[0]); string(b) != `["hello","wörld"]` {
		t.Fatalf("json %s", b)
	}
	m := map[any]int{v: 1}
	if m["wörld"] != 1 {
		t.Fatal("map key")
	}
}
