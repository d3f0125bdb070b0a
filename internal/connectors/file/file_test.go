package file

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/datahub-oss/datahub/connector"
	"github.com/datahub-oss/datahub/connector/conntest"
	"github.com/datahub-oss/datahub/internal/format"
	"github.com/datahub-oss/datahub/internal/format/formattest"
)

func harness(ext string, modes []connector.WriteMode) conntest.Harness {
	return conntest.Harness{
		NewEndpoint: func(t *testing.T, name string) connector.Endpoint {
			safe := strings.NewReplacer("/", "_", " ", "_").Replace(name)
			return connector.Endpoint{URL: filepath.Join(t.TempDir(), safe+ext)}
		},
		Modes:         modes,
		NoConstraints: true,
	}
}

func TestConformanceCSV(t *testing.T) {
	conntest.Run(t, harness(".csv", []connector.WriteMode{connector.ModeAppend, connector.ModeReplace}))
}

func TestConformanceNDJSON(t *testing.T) {
	conntest.Run(t, harness(".ndjson", []connector.WriteMode{connector.ModeAppend, connector.ModeReplace}))
}

// TestConformanceJSON: JSON arrays take replace only, so the suite writes its fixtures and
// runs the engine with replace.
func TestConformanceJSON(t *testing.T) {
	conntest.Run(t, harness(".json", []connector.WriteMode{connector.ModeReplace}))
}

var ctx = context.Background()

func newSink(t *testing.T, e connector.Endpoint) connector.Sink {
	t.Helper()
	k, err := connector.NewSink(ctx, e)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { k.Close(ctx) })
	return k
}

func writeRows(t *testing.T, e connector.Endpoint, mode connector.WriteMode, s connector.Schema, rows [][]any, commit bool) {
	t.Helper()
	k := newSink(t, e)
	if _, err := k.Open(ctx, s, connector.SinkOptions{Mode: mode, RunID: "run1"}); err != nil {
		t.Fatal(err)
	}
	if err := k.Write(ctx, &connector.Batch{Rows: rows}); err != nil {
		t.Fatal(err)
	}
	if err := k.Flush(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if commit {
		if err := k.Commit(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if err := k.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := k.Close(ctx); err != nil {
		t.Fatalf("second close: %v", err)
	}
}

type readResult struct {
	schema  connector.Schema
	batches []*connector.Batch
	rows    [][]any
	rejects []connector.Reject
}

func readRows(t *testing.T, e connector.Endpoint, from connector.Position) readResult {
	t.Helper()
	src, err := connector.NewSource(ctx, e)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close(ctx)
	if err := src.Open(ctx, from); err != nil {
		t.Fatal(err)
	}
	var res readResult
	if res.schema, err = src.Schema(ctx); err != nil {
		t.Fatal(err)
	}
	for {
		b, ack, err := src.Read(ctx)
		if errors.Is(err, connector.ErrEndOfInput) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := ack(ctx, nil); err != nil {
			t.Fatal(err)
		}
		res.batches = append(res.batches, b)
		res.rows = append(res.rows, b.Rows...)
		res.rejects = append(res.rejects, b.Rejects...)
	}
	if err := src.Close(ctx); err != nil {
		t.Fatal(err)
	}
	return res
}

// TestRoundTripAllTypes writes every type with the sink and reads it back with the source, in
// each format, then resumes from every batch's position.
func TestRoundTripAllTypes(t *testing.T) {
	s, rows := formattest.AllTypes()
	for _, ext := range []string{".csv", ".tsv", ".ndjson", ".jsonl", ".json"} {
		t.Run(ext, func(t *testing.T) {
			e := connector.Endpoint{URL: filepath.Join(t.TempDir(), "sub", "all"+ext), BatchSize: 2}
			writeRows(t, e, connector.ModeReplace, s, rows, true)
			res := readRows(t, e, nil)
			if len(res.rejects) > 0 {
				t.Fatalf("rejects %+v", res.rejects)
			}
			formattest.CheckValues(t, s, res.schema, rows, res.rows)
			var size int64
			for _, b := range res.batches {
				size += b.Bytes
			}
			if info, _ := os.Stat(e.URL); info.Size() != size {
				t.Errorf("batches account for %d bytes of %d", size, info.Size())
			}
			for i, b := range res.batches {
				if b.Pos == nil {
					t.Fatalf("batch %d has no position", i)
				}
				rest := readRows(t, e, b.Pos)
				var before int
				for _, bb := range res.batches[:i+1] {
					before += len(bb.Rows)
				}
				if !reflect.DeepEqual(rest.rows, res.rows[before:]) && (len(rest.rows) != 0 || before != len(res.rows)) {
					t.Fatalf("resumed after batch %d: %d rows, want %d", i, len(rest.rows), len(res.rows)-before)
				}
			}
		})
	}
}

func TestPathOf(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"file:///abs/x.csv", "/abs/x.csv"},
		{"file:///abs/a%20b.csv?delimiter=;", "/abs/a b.csv"},
		{"file://rel.csv", "rel.csv"},
		{"file://localhost/abs/x.csv", "/abs/x.csv"},
		{"file:rel/x.csv", "rel/x.csv"},
		{"./x.csv", "./x.csv"},
		{"/tmp/x.ndjson?format=json", "/tmp/x.ndjson"},
		{"a%20b.csv", "a%20b.csv"},
	} {
		got, err := PathOf(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("PathOf(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	if _, err := PathOf("file://"); err == nil {
		t.Error("file:// gives no error")
	}
}

func TestFormatSelection(t *testing.T) {
	for _, tc := range []struct {
		e      connector.Endpoint
		format string
		delim  byte
		code   connector.Code
	}{
		{e: connector.Endpoint{URL: "x.csv"}, format: "csv", delim: ','},
		{e: connector.Endpoint{URL: "x.TSV"}, format: "csv", delim: '\t'},
		{e: connector.Endpoint{URL: "x.tsv?delimiter=;"}, format: "csv", delim: ';'},
		{e: connector.Endpoint{URL: "x.jsonl"}, format: "ndjson"},
		{e: connector.Endpoint{URL: "x.json"}, format: "json"},
		{e: connector.Endpoint{URL: "x.txt", Format: "csv"}, format: "csv", delim: ','},
		{e: connector.Endpoint{URL: "x.txt?format=ndjson", Format: "csv"}, format: "ndjson"},
		{e: connector.Endpoint{URL: "x.dat", Options: map[string]string{"format": "csv", "delimiter": "tab"}}, format: "csv", delim: '\t'},
		{e: connector.Endpoint{URL: "x.txt"}, code: connector.CodeUsage},
		{e: connector.Endpoint{URL: "x.csv?format=xml"}, code: connector.CodeUsage},
		{e: connector.Endpoint{URL: "x.csv?delimiter=ab"}, code: connector.CodeUsage},
		{e: connector.Endpoint{URL: "x.csv?delimiter=%22"}, code: connector.CodeUsage},
		{e: connector.Endpoint{URL: "x.csv?header=maybe"}, code: connector.CodeUsage},
		{e: connector.Endpoint{URL: "x.csv?encoding=latin1"}, code: connector.CodeUnsupported},
		{e: connector.Endpoint{URL: "x.csv?encoding=UTF-8"}, format: "csv", delim: ','},
	} {
		tg, err := newTarget(tc.e)
		if tc.code != "" {
			if connector.CodeOf(err) != tc.code {
				t.Errorf("%+v: err %v, want code %s", tc.e, err, tc.code)
			}
			continue
		}
		if err != nil {
			t.Errorf("%+v: %v", tc.e, err)
			continue
		}
		if tg.codec.Name != tc.format || (tc.format == "csv" && tg.opts.Delimiter != tc.delim) {
			t.Errorf("%+v: format %s delimiter %q", tc.e, tg.codec.Name, tg.opts.Delimiter)
		}
	}
}

func TestCSVOptions(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "in.txt")
	os.WriteFile(p, []byte("1;NULL;\"\"\n2;x;\n"), 0o644)
	res := readRows(t, connector.Endpoint{URL: p + "?format=csv&delimiter=;&header=false&null=NULL"}, nil)
	want := [][]any{{"1", nil, ""}, {"2", "x", ""}}
	if !reflect.DeepEqual(res.rows, want) || !reflect.DeepEqual(res.schema.Names(), []string{"c1", "c2", "c3"}) {
		t.Fatalf("rows %#v columns %v", res.rows, res.schema.Names())
	}
}

func TestSourceErrors(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "nope.csv")
	src, err := connector.NewSource(ctx, connector.Endpoint{URL: missing})
	if err != nil {
		t.Fatal(err)
	}
	err = src.Open(ctx, nil)
	if connector.CodeOf(err) != connector.CodeNotFound || !strings.Contains(err.Error(), missing) {
		t.Fatalf("missing file: %v", err)
	}
	src.Close(ctx)
	src.Close(ctx)

	os.WriteFile(filepath.Join(dir, "empty.csv"), nil, 0o644)
	src, _ = connector.NewSource(ctx, connector.Endpoint{URL: filepath.Join(dir, "empty.csv")})
	if err := src.Open(ctx, nil); connector.CodeOf(err) != connector.CodeInvalidData || !strings.Contains(err.Error(), "empty.csv") {
		t.Fatalf("empty file: %v", err)
	}
	if _, err := connector.NewSource(ctx, connector.Endpoint{URL: dir}); err == nil {
		t.Fatal("a folder without extension has a format")
	}
	src, _ = connector.NewSource(ctx, connector.Endpoint{URL: dir, Format: "csv"})
	if err := src.Open(ctx, nil); connector.CodeOf(err) != connector.CodeUsage {
		t.Fatalf("folder: %v", err)
	}
	os.WriteFile(filepath.Join(dir, "ok.csv"), []byte("a\n1\n"), 0o644)
	src, _ = connector.NewSource(ctx, connector.Endpoint{URL: filepath.Join(dir, "ok.csv")})
	if err := src.Open(ctx, connector.Position("garbage")); err == nil {
		t.Fatal("bad position accepted")
	}
}

func TestCancelMidRead(t *testing.T) {
	p := filepath.Join(t.TempDir(), "big.csv")
	var b bytes.Buffer
	b.WriteString("a,b\n")
	for i := 0; i < 5000; i++ {
		b.WriteString("1,2\n")
	}
	os.WriteFile(p, b.Bytes(), 0o644)
	src, _ := connector.NewSource(ctx, connector.Endpoint{URL: p, BatchSize: 100})
	defer src.Close(ctx)
	if err := src.Open(ctx, nil); err != nil {
		t.Fatal(err)
	}
	c, cancel := context.WithCancel(ctx)
	if _, _, err := src.Read(c); err != nil {
		t.Fatal(err)
	}
	cancel()
	if _, _, err := src.Read(c); !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v", err)
	}
}

func TestRejectsWithLines(t *testing.T) {
	p := filepath.Join(t.TempDir(), "in.csv")
	var b strings.Builder
	b.WriteString("id,name,amount,day\n")
	for i := 1; i <= 1000; i++ {
		switch i {
		case 404:
			b.WriteString("404,x404\n")
		case 500:
			b.WriteString("500,\"multi\nline\",1,2\n")
		case 600:
			b.WriteString("600,\"bad\"x,1,2\n")
		default:
			b.WriteString("1,x,1.25,2024-01-01\n")
		}
	}
	os.WriteFile(p, []byte(b.String()), 0o644)
	res := readRows(t, connector.Endpoint{URL: p, BatchSize: 300}, nil)
	if len(res.rows) != 998 || len(res.rejects) != 2 {
		t.Fatalf("%d rows %d rejects", len(res.rows), len(res.rejects))
	}
	if r := res.rejects[0]; r.Line != 405 || r.Record != 404 || !strings.Contains(r.Reason, "record has 2 fields, header has 4") || r.Raw != "404,x404" {
		t.Errorf("reject %+v", r)
	}
	if r := res.rejects[1]; r.Line != 602 || r.Column != "name" {
		t.Errorf("reject %+v", r)
	}
}

func TestUnsupportedModes(t *testing.T) {
	s := connector.Schema{Columns: []connector.Column{{Name: "a", Type: connector.TypeString, Nullable: true}}}
	dir := t.TempDir()
	for _, tc := range []struct {
		url  string
		mode connector.WriteMode
		want string
	}{
		{filepath.Join(dir, "x.csv"), connector.ModeUpsert, "files have no keys; use replace or append"},
		{filepath.Join(dir, "x.json"), connector.ModeAppend, "use replace"},
	} {
		k := newSink(t, connector.Endpoint{URL: tc.url})
		_, err := k.Open(ctx, s, connector.SinkOptions{Mode: tc.mode})
		if connector.CodeOf(err) != connector.CodeUnsupported || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s %s: %v", tc.url, tc.mode, err)
		}
	}
}

func schemaOf(names ...string) connector.Schema {
	var s connector.Schema
	for _, n := range names {
		s.Columns = append(s.Columns, connector.Column{Name: n, Type: connector.TypeString, Nullable: true})
	}
	return s
}

func TestReplaceAtomic(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "out.csv")
	os.WriteFile(p, []byte("old\nkeep\n"), 0o600)
	e := connector.Endpoint{URL: p}
	// A stale temporary file of a killed run is removed.
	stale := filepath.Join(dir, ".out.csv.datahub-tmp-killed")
	os.WriteFile(stale, []byte("junk"), 0o644)

	writeRows(t, e, connector.ModeReplace, schemaOf("a"), [][]any{{"new"}}, false)
	if got, _ := os.ReadFile(p); string(got) != "old\nkeep\n" {
		t.Fatalf("after Close without Commit the file holds %q", got)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Fatalf("left behind: %v", ents)
	}
	// While a replace is under way the old file is what readers see.
	k := newSink(t, e)
	if _, err := k.Open(ctx, schemaOf("a"), connector.SinkOptions{Mode: connector.ModeReplace, RunID: "r/2"}); err != nil {
		t.Fatal(err)
	}
	k.Write(ctx, &connector.Batch{Rows: [][]any{{"new"}, {nil}, {""}}})
	k.Flush(ctx, nil)
	if got, _ := os.ReadFile(p); string(got) != "old\nkeep\n" {
		t.Fatalf("before Commit the file holds %q", got)
	}
	if _, err := os.Stat(filepath.Join(dir, ".out.csv.datahub-tmp-r_2")); err != nil {
		t.Fatalf("temporary file: %v", err)
	}
	if err := k.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	k.Close(ctx)
	if got, _ := os.ReadFile(p); string(got) != "a\nnew\n\n\"\"\n" {
		t.Fatalf("after Commit the file holds %q", got)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Fatalf("left behind: %v", ents)
	}
	if info, _ := os.Stat(p); info.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, want the old file's 0600", info.Mode())
	}
}

func TestAppend(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "out.csv")
	e := connector.Endpoint{URL: p}
	// Created when missing, with a header.
	writeRows(t, e, connector.ModeAppend, schemaOf("a", "b"), [][]any{{"1", "x"}}, true)
	// Appended without a second header.
	writeRows(t, e, connector.ModeAppend, schemaOf("a", "b"), [][]any{{"2", nil}}, true)
	if got, _ := os.ReadFile(p); string(got) != "a,b\n1,x\n2,\n" {
		t.Fatalf("file holds %q", got)
	}
	// A last record without a terminator gets one.
	os.WriteFile(p, []byte("\xEF\xBB\xBFa,b\r\n1,x"), 0o644)
	writeRows(t, e, connector.ModeAppend, schemaOf("a", "b"), [][]any{{"2", "y"}}, true)
	if got, _ := os.ReadFile(p); string(got) != "\xEF\xBB\xBFa,b\r\n1,x\n2,y\n" {
		t.Fatalf("file holds %q", got)
	}
	// Columns that differ from the header are refused, naming both.
	k := newSink(t, e)
	_, err := k.Open(ctx, schemaOf("a", "c"), connector.SinkOptions{Mode: connector.ModeAppend})
	if connector.CodeOf(err) != connector.CodeSchema || !strings.Contains(err.Error(), `has columns "a", "b", the records have "a", "c"`) {
		t.Fatalf("mismatched header: %v", err)
	}
	// Rows written after the last Flush are dropped by a Close without Commit.
	k = newSink(t, e)
	if _, err := k.Open(ctx, schemaOf("a", "b"), connector.SinkOptions{Mode: connector.ModeAppend}); err != nil {
		t.Fatal(err)
	}
	k.Write(ctx, &connector.Batch{Rows: [][]any{{"3", "z"}}})
	k.Flush(ctx, nil)
	k.Write(ctx, &connector.Batch{Rows: [][]any{{"4", "lost"}}})
	k.Close(ctx)
	if got, _ := os.ReadFile(p); string(got) != "\xEF\xBB\xBFa,b\r\n1,x\n2,y\n3,z\n" {
		t.Fatalf("file holds %q", got)
	}
	// NDJSON appends too.
	nd := connector.Endpoint{URL: filepath.Join(dir, "out.ndjson")}
	writeRows(t, nd, connector.ModeAppend, schemaOf("a"), [][]any{{"1"}}, true)
	writeRows(t, nd, connector.ModeAppend, schemaOf("a"), [][]any{{"2"}}, true)
	if got, _ := os.ReadFile(nd.URL); string(got) != "{\"a\":\"1\"}\n{\"a\":\"2\"}\n" {
		t.Fatalf("ndjson holds %q", got)
	}
}

func TestRootConfinement(t *testing.T) {
	base := t.TempDir()
	root := filepath.Join(base, "root")
	outside := filepath.Join(base, "outside")
	os.MkdirAll(filepath.Join(root, "in"), 0o755)
	os.MkdirAll(outside, 0o755)
	os.WriteFile(filepath.Join(root, "in", "ok.csv"), []byte("a\n1\n"), 0o644)
	os.WriteFile(filepath.Join(outside, "secret.csv"), []byte("a\nsecret\n"), 0o644)
	os.Symlink(filepath.Join(outside, "secret.csv"), filepath.Join(root, "link.csv"))
	os.Symlink(outside, filepath.Join(root, "dirlink"))
	os.Symlink("in/ok.csv", filepath.Join(root, "inner.csv"))

	for _, tc := range []struct {
		path string
		ok   bool
	}{
		{"in/ok.csv", true},
		{"./in/../in/ok.csv", true},
		{filepath.Join(root, "in", "ok.csv"), true},
		{"inner.csv", true},
		{"file://in/ok.csv", true},
		{"../outside/secret.csv", false},
		{"in/../../outside/secret.csv", false},
		{filepath.Join(outside, "secret.csv"), false},
		{"file://" + filepath.Join(outside, "secret.csv"), false},
		{"link.csv", false},
		{"dirlink/secret.csv", false},
		{"dirlink/new.csv", false},
	} {
		e := connector.Endpoint{URL: tc.path, Root: root}
		src, err := connector.NewSource(ctx, e)
		if err == nil {
			err = src.Open(ctx, nil)
			src.Close(ctx)
		}
		if tc.ok {
			if err != nil {
				t.Errorf("%s: %v", tc.path, err)
			}
			continue
		}
		if connector.CodeOf(err) != connector.CodeUsage || !strings.Contains(err.Error(), "path escapes the configured root") {
			t.Errorf("%s: err %v, want a usage error saying the path escapes the root", tc.path, err)
		}
		// Writing is refused the same way.
		if _, err := connector.NewSink(ctx, e); connector.CodeOf(err) != connector.CodeUsage {
			t.Errorf("%s: sink err %v", tc.path, err)
		}
	}
	if _, err := os.Stat(filepath.Join(outside, "new.csv")); err == nil {
		t.Error("a file was created outside the root")
	}
	// Writing inside the root works, including new folders.
	e := connector.Endpoint{URL: "out/sub/x.csv", Root: root}
	writeRows(t, e, connector.ModeReplace, schemaOf("a"), [][]any{{"1"}}, true)
	if got, _ := os.ReadFile(filepath.Join(root, "out", "sub", "x.csv")); string(got) != "a\n1\n" {
		t.Fatalf("written %q", got)
	}
}

func TestStore(t *testing.T) {
	dir := t.TempDir()
	s, err := NewStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ent, err := s.Put(ctx, "a/b.txt", strings.NewReader("hello"))
	if err != nil {
		t.Fatal(err)
	}
	if ent.Size != 5 || ent.SHA256 != "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824" {
		t.Fatalf("entry %+v", ent)
	}
	os.WriteFile(filepath.Join(dir, "a", ".c.txt.datahub-tmp-x"), nil, 0o644)
	list, err := s.List(ctx, "a")
	if err != nil || len(list) != 1 || list[0].Path != "a/b.txt" || list[0].Size != 5 {
		t.Fatalf("list %+v %v", list, err)
	}
	rc, e2, err := s.Open(ctx, "a/b.txt")
	if err != nil || e2.Size != 5 {
		t.Fatal(err)
	}
	rc.Close()
	if _, err := s.Put(ctx, "../x.txt", strings.NewReader("x")); connector.CodeOf(err) != connector.CodeUsage {
		t.Fatalf("escape: %v", err)
	}
	if _, _, err := s.Open(ctx, "a/none.txt"); connector.CodeOf(err) != connector.CodeNotFound {
		t.Fatalf("missing: %v", err)
	}
	if err := s.Remove(ctx, "a/b.txt"); err != nil {
		t.Fatal(err)
	}
	if list, _ := s.List(ctx, "."); len(list) != 1 || !list[0].IsDir {
		t.Fatalf("list %+v", list)
	}
	c, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := s.Put(c, "y.txt", strings.NewReader("y")); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled put: %v", err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Fatalf("left behind %v", ents)
	}
}

var _ = format.Defaults

// TestConformanceOwnContent runs the suite as for a source whose content is its own (a
// generator): a fixed file the suite cannot write.
func TestConformanceOwnContent(t *testing.T) {
	conntest.Run(t, conntest.Harness{NoSink: true, NewEndpoint: func(t *testing.T, name string) connector.Endpoint {
		var b strings.Builder
		for i := range 250 {
			fmt.Fprintf(&b, "{\"id\":%d,\"name\":\"row %d\"}\n", i, i)
		}
		path := filepath.Join(t.TempDir(), "own.ndjson")
		if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
			t.Fatal(err)
		}
		return connector.Endpoint{URL: path}
	}})
}
