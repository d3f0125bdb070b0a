package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"testing"

	"github.com/datahub-oss/datahub/connector"
)

// dbPath returns a fresh database path in a temporary folder.
func dbPath(t *testing.T) string {
	t.Helper()
	return filepath.Join(t.TempDir(), "test.db")
}

// rawDB opens the file directly, for setting up tables other applications would make and for
// looking at what was stored.
func rawDB(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { _ = db.Close() })
	return db
}

func mustExec(t *testing.T, db *sql.DB, q string, args ...any) {
	t.Helper()
	if _, err := db.Exec(q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

// openSink opens a sink on url for schema s.
func openSink(t *testing.T, url string, s connector.Schema, opts connector.SinkOptions) (*Sink, connector.Schema) {
	t.Helper()
	k := &Sink{ep: connector.Endpoint{URL: url}}
	t.Cleanup(func() { _ = k.Close(context.Background()) })
	target, err := k.Open(context.Background(), s, opts)
	if err != nil {
		t.Fatalf("open sink %s: %v", url, err)
	}
	return k, target
}

// write writes rows in one batch and commits; it returns Write's error (RecordErrors or nil).
func write(t *testing.T, url string, s connector.Schema, opts connector.SinkOptions, rows [][]any) error {
	t.Helper()
	ctx := context.Background()
	k, _ := openSink(t, url, s, opts)
	werr := k.Write(ctx, &connector.Batch{Rows: rows})
	var rerrs connector.RecordErrors
	if werr != nil && !errors.As(werr, &rerrs) {
		t.Fatalf("write: %v", werr)
	}
	if err := k.Flush(ctx, nil); err != nil {
		t.Fatalf("flush: %v", err)
	}
	if err := k.Commit(ctx); err != nil {
		t.Fatalf("commit: %v", err)
	}
	if err := k.Close(ctx); err != nil {
		t.Fatalf("close: %v", err)
	}
	return werr
}

// readAll reads everything from url.
func readAll(t *testing.T, e connector.Endpoint) (connector.Schema, [][]any, []connector.Reject) {
	t.Helper()
	ctx := context.Background()
	src := &Source{ep: e}
	defer func() { _ = src.Close(ctx) }()
	if err := src.Open(ctx, nil); err != nil {
		t.Fatalf("open source %s: %v", e.URL, err)
	}
	s, err := src.Schema(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var rows [][]any
	var rejects []connector.Reject
	for {
		b, _, err := src.Read(ctx)
		if errors.Is(err, connector.ErrEndOfInput) {
			break
		}
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		rows = append(rows, b.Rows...)
		rejects = append(rejects, b.Rejects...)
	}
	return s, rows, rejects
}

func codeOf(t *testing.T, err error, want connector.Code) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want code %s", want)
	}
	if got := connector.CodeOf(err); got != want {
		t.Fatalf("code %s, want %s (error: %v)", got, want, err)
	}
}
