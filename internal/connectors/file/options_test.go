package file

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/datahub-oss/datahub/connector"
)

// TestOptionsByTheRegistry: the connector's options are parsed by its declarations, so a bad
// value is refused naming the option, the value and what is allowed, and an unknown option
// is refused instead of being ignored.
func TestOptionsByTheRegistry(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in.csv")
	if err := os.WriteFile(in, []byte("a;b\n1;2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ url, want string }{
		{in + "?delimiter=ab", `option delimiter: "ab" is not one character`},
		{in + "?header=perhaps", `option header: "perhaps" is not true or false`},
		{in + "?format=xml", `option format: "xml" is not one of csv, tsv, ndjson, jsonl, json`},
		{in + "?delimeter=;", `connector file has no option "delimeter"`},
	} {
		_, err := connector.NewSource(context.Background(), connector.Endpoint{URL: c.url})
		var ce *connector.Error
		if !errors.As(err, &ce) || ce.Code != connector.CodeUsage || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v; want a usage error with %q", c.url, err, c.want)
		}
	}
	src, err := connector.NewSource(context.Background(), connector.Endpoint{URL: in + "?delimiter=semicolon&header=yes"})
	if err != nil {
		t.Fatal(err)
	}
	if d := src.(*source).opts.Delimiter; d != ';' {
		t.Fatalf("delimiter %q", d)
	}
}

// TestStoreFromTheRegistry: a folder endpoint opens as a store through the registry, confined
// to the folder; a connector that is no store is refused as unsupported.
func TestStoreFromTheRegistry(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	for _, e := range []connector.Endpoint{{URL: dir}, {URL: "file://" + dir}, {URL: filepath.Join(dir, "x.csv"), Root: dir}} {
		st, closeStore, err := connector.OpenStore(ctx, e)
		if err != nil {
			t.Fatalf("%+v: %v", e, err)
		}
		if _, err := st.Put(ctx, "sub/a.txt", strings.NewReader("hello")); err != nil {
			t.Fatal(err)
		}
		rc, _, err := st.Open(ctx, "sub/a.txt")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(rc)
		_ = rc.Close()
		if string(b) != "hello" {
			t.Fatalf("read %q", b)
		}
		if _, err := st.Put(ctx, "../escape.txt", strings.NewReader("x")); err == nil {
			t.Fatal("a path out of the folder was written")
		}
		if err := closeStore(); err != nil {
			t.Fatal(err)
		}
	}
	connector.Register(connector.Spec{Name: "rowsonly-test", Schemes: []string{"rowsonly"},
		NewSource: func(context.Context, connector.Endpoint) (connector.Source, error) { return nil, nil }})
	_, _, err := connector.OpenStore(ctx, connector.Endpoint{URL: "rowsonly://h/x"})
	var ce *connector.Error
	if !errors.As(err, &ce) || ce.Code != connector.CodeUnsupported {
		t.Fatalf("a connector without a store: %v", err)
	}
}
