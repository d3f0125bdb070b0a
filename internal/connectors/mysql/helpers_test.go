package mysql

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"hash/fnv"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/datahub-oss/datahub/connector"
)

const testDBName = "dh_test_mysql"

var (
	setupOnce sync.Once
	setupErr  error
	adminDB   *sql.DB
)

// serverURL is where the test server is: DATAHUB_TEST_MYSQL or MariaDB on localhost.
func serverURL() string {
	if u := os.Getenv("DATAHUB_TEST_MYSQL"); u != "" {
		return u
	}
	return "mysql://root@127.0.0.1:3306/"
}

// admin returns a pool on the test database, (re)creating it on first use.
func admin(t testing.TB) *sql.DB {
	t.Helper()
	setupOnce.Do(func() {
		c, err := parseEndpoint(connector.Endpoint{URL: serverURL()})
		if err != nil {
			setupErr = err
			return
		}
		db, conn, _, err := c.connect(context.Background())
		if err != nil {
			setupErr = err
			return
		}
		defer conn.Close()
		for _, q := range []string{"DROP DATABASE IF EXISTS " + testDBName, "CREATE DATABASE " + testDBName} {
			if _, err := conn.ExecContext(context.Background(), q); err != nil {
				setupErr = err
				return
			}
		}
		db.Close()
		c2, _ := parseEndpoint(connector.Endpoint{URL: dbURL("")})
		adminDB, _, _, setupErr = c2.connect(context.Background())
	})
	if setupErr != nil {
		if testing.Short() {
			t.Skipf("MySQL/MariaDB test server unavailable at %s: %v", connector.Redact(serverURL()), setupErr)
		}
		t.Fatalf("MySQL/MariaDB test server unavailable at %s (set DATAHUB_TEST_MYSQL, or run with -short to skip): %v",
			connector.Redact(serverURL()), setupErr)
	}
	return adminDB
}

// dbURL is the test database's URL with the given query.
func dbURL(query string) string {
	u, err := url.Parse(serverURL())
	if err != nil {
		panic(err)
	}
	u.Path = "/" + testDBName
	u.RawQuery = query
	return u.String()
}

// tableFor derives a unique table name (at most 48 characters) from the test's name.
func tableFor(t testing.TB, suffix string) string {
	name := strings.ToLower(t.Name() + suffix)
	var b strings.Builder
	for _, r := range name {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	s := b.String()
	if len(s) > 40 {
		h := fnv.New32a()
		h.Write([]byte(name))
		s = fmt.Sprintf("%s_%08x", s[:30], h.Sum32())
	}
	return s
}

// endpoint returns an endpoint for a fresh table, dropped when the test ends.
func endpoint(t testing.TB, table string, extra ...string) connector.Endpoint {
	t.Helper()
	db := admin(t)
	drop := func() {
		db.Exec("DROP TABLE IF EXISTS " + quoteIdent(table))
		db.Exec("DROP TABLE IF EXISTS " + quoteIdent(table+"__datahub_staging"))
	}
	drop()
	t.Cleanup(drop)
	q := url.Values{"table": {table}}
	for i := 0; i+1 < len(extra); i += 2 {
		q.Set(extra[i], extra[i+1])
	}
	return connector.Endpoint{URL: dbURL(q.Encode())}
}

func exec(t testing.TB, q string, args ...any) {
	t.Helper()
	if _, err := admin(t).Exec(q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

func newSink(t testing.TB, e connector.Endpoint) *Sink {
	t.Helper()
	s, err := connector.NewSink(context.Background(), e)
	if err != nil {
		t.Fatal(err)
	}
	return s.(*Sink)
}

func newSource(t testing.TB, e connector.Endpoint) *Source {
	t.Helper()
	s, err := connector.NewSource(context.Background(), e)
	if err != nil {
		t.Fatal(err)
	}
	return s.(*Source)
}

// writeAll opens a sink, writes rows in one batch, flushes and commits; it returns the
// target's schema and the record errors of the write.
func writeAll(t testing.TB, e connector.Endpoint, s connector.Schema, opts connector.SinkOptions, rows [][]any) (connector.Schema, connector.RecordErrors) {
	t.Helper()
	ctx := context.Background()
	k := newSink(t, e)
	defer k.Close(ctx)
	ts, err := k.Open(ctx, s, opts)
	if err != nil {
		t.Fatalf("open sink: %v", err)
	}
	var rerrs connector.RecordErrors
	if err := k.Write(ctx, &connector.Batch{Rows: rows}); err != nil && !errors.As(err, &rerrs) {
		t.Fatalf("write: %v", err)
	}
	if err := k.Flush(ctx, nil); err != nil {
		t.Fatalf("flush: %v", err)
	}
	if err := k.Commit(ctx); err != nil {
		t.Fatalf("commit: %v", err)
	}
	return ts, rerrs
}

// readAll reads a source to the end.
func readAll(t testing.TB, e connector.Endpoint, from connector.Position) (connector.Schema, [][]any, []*connector.Batch) {
	t.Helper()
	ctx := context.Background()
	src := newSource(t, e)
	defer src.Close(ctx)
	if err := src.Open(ctx, from); err != nil {
		t.Fatalf("open source: %v", err)
	}
	sc, err := src.Schema(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var rows [][]any
	var batches []*connector.Batch
	for {
		b, _, err := src.Read(ctx)
		if errors.Is(err, connector.ErrEndOfInput) {
			break
		}
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		rows = append(rows, b.Rows...)
		batches = append(batches, b)
	}
	return sc, rows, batches
}

func count(t testing.TB, table string) int {
	t.Helper()
	var n int
	if err := admin(t).QueryRow("SELECT COUNT(*) FROM " + quoteIdent(table)).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func urlEscape(s string) string { return url.QueryEscape(s) }
