package sqlite

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/datahub-oss/datahub/connector"
)

func TestParseURL(t *testing.T) {
	cwd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		url, path, table, query string
		code                    connector.Code
	}{
		{url: "sqlite:/data/app.db?table=people", path: "/data/app.db", table: "people"},
		{url: "sqlite:rel/app.db?table=people", path: filepath.Join(cwd, "rel/app.db"), table: "people"},
		{url: "sqlite:///data/app.db?table=main.people", path: "/data/app.db", table: "people"},
		{url: "sqlite://rel/app.db?table=people", path: filepath.Join(cwd, "rel/app.db"), table: "people"},
		{url: "sqlite://rel/my%20app.db?table=t", path: filepath.Join(cwd, "rel/my app.db"), table: "t"},
		{url: "sqlite:/data/my%20app.db?table=t", path: "/data/my%20app.db", table: "t"},
		{url: "SQLite:/data/app.db?table=%22a.b%22", path: "/data/app.db", table: "a.b"},
		{url: "sqlite:/data/app.db?query=SELECT%201%3B", path: "/data/app.db", query: "SELECT 1;"},
		{url: "sqlite:/data/app.db", path: "/data/app.db"},
		{url: "sqlite:/data/app.db?table=other.people", code: connector.CodeUsage},
		{url: "sqlite:/data/app.db?table=t&query=SELECT+1", code: connector.CodeUsage},
		{url: "sqlite:/data/app.db?table=t&synchronous=sometimes", code: connector.CodeUsage},
		{url: "sqlite:/data/app.db?query=SELECT 1;", code: connector.CodeUsage},
		{url: "sqlite:?table=t", code: connector.CodeUsage},
		{url: "sqlite://?table=t", code: connector.CodeUsage},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			p := endpoint{ep: connector.Endpoint{URL: tt.url}}
			err := p.parse()
			if tt.code != "" {
				codeOf(t, err, tt.code)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if p.path != tt.path || p.table != tt.table || p.query != tt.query {
				t.Errorf("path %q table %q query %q, want %q %q %q", p.path, p.table, p.query, tt.path, tt.table, tt.query)
			}
		})
	}
}

func TestRegistered(t *testing.T) {
	spec, err := connector.Resolve("sqlite:/x.db?table=t")
	if err != nil || spec.Name != "sqlite" || !spec.CanRead() || !spec.CanWrite() {
		t.Fatalf("resolve: %v %+v", err, spec)
	}
}

func TestRootConfinement(t *testing.T) {
	base := t.TempDir()
	root := filepath.Join(base, "root")
	outside := filepath.Join(base, "outside")
	for _, d := range []string{root, outside, filepath.Join(root, "sub")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// A real database outside the root, and ways to reach it from inside.
	secret := filepath.Join(outside, "secret.db")
	mustExec(t, rawDB(t, secret), "CREATE TABLE t (a INTEGER)")
	if err := os.Symlink(secret, filepath.Join(root, "link.db")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(root, "dirlink")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(outside, "new.db"), filepath.Join(root, "dangling.db")); err != nil {
		t.Fatal(err)
	}
	inside := filepath.Join(root, "sub", "in.db")
	mustExec(t, rawDB(t, inside), "CREATE TABLE t (a INTEGER)")

	ctx := context.Background()
	s := connector.Schema{Columns: []connector.Column{{Name: "a", Type: connector.TypeInt64, Nullable: true}}}
	refused := []string{
		"sqlite:../outside/secret.db?table=t",
		"sqlite:sub/../../outside/secret.db?table=t",
		"sqlite:" + secret + "?table=t",
		"sqlite:link.db?table=t",
		"sqlite:dirlink/secret.db?table=t",
		"sqlite:dirlink/fresh.db?table=t",
		"sqlite:dangling.db?table=t",
		"sqlite:///" + strings.TrimPrefix(secret, "/") + "?table=t",
	}
	for _, u := range refused {
		t.Run("refused "+u, func(t *testing.T) {
			src := &Source{ep: connector.Endpoint{URL: u, Root: root}}
			codeOf(t, src.Open(ctx, nil), connector.CodeUsage)
			_ = src.Close(ctx)
			k := &Sink{ep: connector.Endpoint{URL: u, Root: root}}
			_, err := k.Open(ctx, s, connector.SinkOptions{})
			codeOf(t, err, connector.CodeUsage)
			_ = k.Close(ctx)
		})
	}
	if _, err := os.Stat(filepath.Join(outside, "new.db")); err == nil {
		t.Error("a sink created a database through a dangling symlink")
	}
	if _, err := os.Stat(filepath.Join(outside, "fresh.db")); err == nil {
		t.Error("a sink created a database through a symlinked directory")
	}
	allowed := []string{"sqlite:sub/in.db?table=t", "sqlite:" + inside + "?table=t", "sqlite:sub/./../sub/in.db?table=t"}
	for _, u := range allowed {
		t.Run("allowed "+u, func(t *testing.T) {
			src := &Source{ep: connector.Endpoint{URL: u, Root: root}}
			if err := src.Open(ctx, nil); err != nil {
				t.Fatal(err)
			}
			_ = src.Close(ctx)
		})
	}
}

func TestRootRelativeSink(t *testing.T) {
	root := t.TempDir()
	ctx := context.Background()
	s := connector.Schema{Columns: []connector.Column{{Name: "a", Type: connector.TypeInt64, Nullable: true}}}
	k := &Sink{ep: connector.Endpoint{URL: "sqlite:made.db?table=t", Root: root}}
	if _, err := k.Open(ctx, s, connector.SinkOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := k.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	_ = k.Close(ctx)
	if _, err := os.Stat(filepath.Join(root, "made.db")); err != nil {
		t.Errorf("relative path with a root: %v", err)
	}
}

func TestMissingFile(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "nope.db")
	src := &Source{ep: connector.Endpoint{URL: "sqlite:" + path + "?table=t"}}
	err := src.Open(ctx, nil)
	codeOf(t, err, connector.CodeNotFound)
	if !strings.Contains(err.Error(), "no such database file "+path) || !strings.Contains(err.Error(), "check the path") {
		t.Errorf("message: %v", err)
	}
	if _, err := os.Stat(path); err == nil {
		t.Error("a source created the database file")
	}
	_ = src.Close(ctx)

	// A sink into a missing folder creates it, as a file destination does.
	made := filepath.Join(t.TempDir(), "sub", "deeper", "x.db")
	k := &Sink{ep: connector.Endpoint{URL: "sqlite:" + made + "?table=t"}}
	if _, err = k.Open(ctx, connector.Schema{Columns: []connector.Column{{Name: "a", Type: connector.TypeInt64}}}, connector.SinkOptions{}); err != nil {
		t.Fatalf("sink into a missing folder: %v", err)
	}
	_ = k.Close(ctx)
	if _, err := os.Stat(made); err != nil {
		t.Errorf("the sink did not create %s: %v", made, err)
	}
	// A folder that cannot be made (a file is in the way) is an error naming the path.
	k = &Sink{ep: connector.Endpoint{URL: "sqlite:" + filepath.Join(made, "x.db") + "?table=t"}}
	if _, err = k.Open(ctx, connector.Schema{Columns: []connector.Column{{Name: "a", Type: connector.TypeInt64}}}, connector.SinkOptions{}); err == nil || !strings.Contains(err.Error(), made) {
		t.Errorf("sink under a file: %v", err)
	}
	_ = k.Close(ctx)

	// Not a database.
	junk := filepath.Join(t.TempDir(), "junk.db")
	if err := os.WriteFile(junk, []byte(strings.Repeat("not a database ", 100)), 0o644); err != nil {
		t.Fatal(err)
	}
	src = &Source{ep: connector.Endpoint{URL: "sqlite:" + junk + "?table=t"}}
	codeOf(t, src.Open(ctx, nil), connector.CodeInvalidData)
	_ = src.Close(ctx)
}

func TestMissingTable(t *testing.T) {
	path := dbPath(t)
	db := rawDB(t, path)
	mustExec(t, db, "CREATE TABLE orders (a INTEGER)")
	mustExec(t, db, "CREATE TABLE customers (a INTEGER)")
	mustExec(t, db, "CREATE VIEW big_orders AS SELECT * FROM orders")
	ctx := context.Background()
	src := &Source{ep: connector.Endpoint{URL: "sqlite:" + path + "?table=order"}}
	err := src.Open(ctx, nil)
	codeOf(t, err, connector.CodeNotFound)
	for _, want := range []string{`no table "order"`, "big_orders, customers, orders", path} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("message %q lacks %q", err, want)
		}
	}
	_ = src.Close(ctx)

	// No table or query at all.
	src = &Source{ep: connector.Endpoint{URL: "sqlite:" + path}}
	codeOf(t, src.Open(ctx, nil), connector.CodeUsage)
	_ = src.Close(ctx)

	// Tables are found whatever the case, as SQLite does.
	src = &Source{ep: connector.Endpoint{URL: "sqlite:" + path + "?table=ORDERS"}}
	if err := src.Open(ctx, nil); err != nil {
		t.Fatal(err)
	}
	_ = src.Close(ctx)
}

func TestBusyIsTransient(t *testing.T) {
	path := dbPath(t)
	ctx := context.Background()
	s := connector.Schema{Columns: []connector.Column{{Name: "a", Type: connector.TypeInt64, Nullable: true}}}
	k, _ := openSink(t, "sqlite:"+path+"?table=t", s, connector.SinkOptions{})
	if err := k.Write(ctx, &connector.Batch{Rows: [][]any{{int64(1)}}}); err != nil {
		t.Fatal(err)
	}
	// The sink holds the write lock until it flushes: another writer that will not wait is busy.
	other := rawDB(t, path)
	mustExec(t, other, "PRAGMA busy_timeout = 0")
	_, err := other.Exec("INSERT INTO t VALUES (2)")
	if err == nil {
		t.Fatal("a second writer got in while the sink held its transaction")
	}
	p := endpoint{red: "sqlite:" + path}
	werr := p.fail(ctx, err, "write")
	codeOf(t, werr, connector.CodeTransient)
	if !connector.Retryable(werr) {
		t.Error("SQLITE_BUSY is not retryable")
	}
	if err := k.Flush(ctx, nil); err != nil {
		t.Fatal(err)
	}
	mustExec(t, other, "INSERT INTO t VALUES (2)")
}

// TestAwkwardPath: a file name with characters that mean something in URIs.
func TestAwkwardPath(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "we?ird #dir %20 ü")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "da ta.db")
	s := connector.Schema{Columns: []connector.Column{{Name: "a", Type: connector.TypeInt64, Nullable: true}}}
	url := "sqlite://" + strings.NewReplacer("%", "%25", "?", "%3F", "#", "%23", " ", "%20").Replace(path) + "?table=t"
	if err := write(t, url, s, connector.SinkOptions{}, [][]any{{int64(1)}}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("database not where asked: %v", err)
	}
	_, rows, _ := readAll(t, connector.Endpoint{URL: url})
	if len(rows) != 1 {
		t.Errorf("read %d rows", len(rows))
	}
}
