package sqlite

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/datahub-oss/datahub/connector"
	"github.com/datahub-oss/datahub/internal/connectors/sqlkit"
)

// readFrom reads from pos in batches of size and returns the first column of each row as text
// and the position after the first batch.
func readFrom(t *testing.T, url string, pos connector.Position, size int) (firstCol []string, after connector.Position, key []string) {
	t.Helper()
	ctx := context.Background()
	src := &Source{ep: connector.Endpoint{URL: url, BatchSize: size}}
	defer func() { _ = src.Close(ctx) }()
	if err := src.Open(ctx, pos); err != nil {
		t.Fatalf("open at %s: %v", pos, err)
	}
	s, _ := src.Schema(ctx)
	key = s.Key
	for {
		b, _, err := src.Read(ctx)
		if errors.Is(err, connector.ErrEndOfInput) {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		if len(b.Rows) > size {
			t.Errorf("batch of %d rows with BatchSize %d", len(b.Rows), size)
		}
		if after == nil {
			after = b.Pos
		}
		for _, r := range b.Rows {
			firstCol = append(firstCol, fmt.Sprint(r[0]))
		}
	}
}

func TestResumeKeysets(t *testing.T) {
	path := dbPath(t)
	db := rawDB(t, path)
	mustExec(t, db, `CREATE TABLE composite (a TEXT NOT NULL COLLATE NOCASE, b INTEGER NOT NULL, v TEXT, PRIMARY KEY (a, b))`)
	mustExec(t, db, `INSERT INTO composite VALUES ('b', 2, 'b2'), ('A', 2, 'a2'), ('a', 1, 'a1'), ('c', 1, 'c1'), ('B', 1, 'b1')`)
	mustExec(t, db, `CREATE TABLE norowidkey (v TEXT)`)
	mustExec(t, db, `INSERT INTO norowidkey VALUES ('x'), ('y'), ('z'), ('w')`)
	mustExec(t, db, `CREATE TABLE nullablepk (k TEXT PRIMARY KEY, v TEXT)`) // a rowid table may hold NULL keys
	mustExec(t, db, `INSERT INTO nullablepk VALUES (NULL, 'n'), ('b', 'b'), ('a', 'a')`)
	mustExec(t, db, `CREATE TABLE wr (k BLOB PRIMARY KEY, v TEXT) WITHOUT ROWID`)
	mustExec(t, db, `INSERT INTO wr VALUES (x'02', 'two'), (x'01', 'one'), (x'0201', 'three')`)
	mustExec(t, db, `CREATE TABLE shadow (rowid TEXT, oid TEXT)`)
	mustExec(t, db, `INSERT INTO shadow VALUES ('r1', 'o1'), ('r2', 'o2')`)
	mustExec(t, db, `CREATE VIEW v AS SELECT v FROM norowidkey`)

	tests := []struct {
		table string
		all   []string
		key   []string
		pos   string // the position after the first batch of 2
	}{
		{"composite", []string{"a", "A", "B", "b", "c"}, []string{"a", "b"}, `{"v":1,"key":["a","b"],"last":["t:A","i:2"]}`},
		{"norowidkey", []string{"x", "y", "z", "w"}, nil, `{"v":1,"key":["rowid"],"last":["i:2"]}`},
		{"nullablepk", []string{"<nil>", "b", "a"}, []string{"k"}, `{"v":1,"key":["rowid"],"last":["i:2"]}`},
		{"wr", []string{"[1]", "[2]", "[2 1]"}, []string{"k"}, `{"v":1,"key":["k"],"last":["b:Ag=="]}`},
		{"shadow", []string{"r1", "r2"}, nil, `{"v":1,"key":["_rowid_"],"last":["i:2"]}`},
	}
	for _, tt := range tests {
		t.Run(tt.table, func(t *testing.T) {
			url := "sqlite:" + path + "?table=" + tt.table
			all, pos, key := readFrom(t, url, nil, 2)
			if !slices.Equal(all, tt.all) || !slices.Equal(key, tt.key) {
				t.Errorf("read %q key %v, want %q key %v", all, key, tt.all, tt.key)
			}
			if string(pos) != tt.pos {
				t.Errorf("position %s, want %s", pos, tt.pos)
			}
			// The position, and the same as the versions before sqlkit's format wrote it,
			// which transaction logs and checkpoint tables may still hold.
			legacy := strings.NewReplacer(`{"v":1,`, `{`, `"last":`, `"after":`).Replace(string(pos))
			for _, from := range []connector.Position{pos, connector.Position(legacy)} {
				rest, _, _ := readFrom(t, url, from, 1)
				if !slices.Equal(rest, tt.all[2:]) {
					t.Errorf("resumed from %s: %q, want %q", from, rest, tt.all[2:])
				}
			}
		})
	}

	ctx := context.Background()
	// A view reads but has no positions.
	src := &Source{ep: connector.Endpoint{URL: "sqlite:" + path + "?table=v"}}
	if err := src.Open(ctx, nil); err != nil {
		t.Fatal(err)
	}
	b, _, err := src.Read(ctx)
	if err != nil || len(b.Rows) != 4 || b.Pos != nil {
		t.Errorf("view: %v rows, pos %s, %v", len(b.Rows), b.Pos, err)
	}
	_ = src.Close(ctx)

	// A position of another table is refused.
	src = &Source{ep: connector.Endpoint{URL: "sqlite:" + path + "?table=composite"}}
	pos, _ := sqlkit.Keyset{Key: []string{"rowid"}, After: []any{int64(3)}}.Encode()
	codeOf(t, src.Open(ctx, pos), connector.CodeUsage)
	_ = src.Close(ctx)
	src = &Source{ep: connector.Endpoint{URL: "sqlite:" + path + "?table=composite"}}
	codeOf(t, src.Open(ctx, connector.Position("garbage")), connector.CodeUsage)
	_ = src.Close(ctx)
}

// TestReadStreams reads a table much larger than a batch and checks batches stay bounded and
// the source can be cancelled mid-table.
func TestReadStreams(t *testing.T) {
	path := dbPath(t)
	db := rawDB(t, path)
	mustExec(t, db, `CREATE TABLE big (id INTEGER PRIMARY KEY, v TEXT)`)
	mustExec(t, db, `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 50000)
		INSERT INTO big SELECT i, printf('row %d', i) FROM n`)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	src := &Source{ep: connector.Endpoint{URL: "sqlite:" + path + "?table=big", BatchSize: 1000}}
	defer func() { _ = src.Close(ctx) }()
	if err := src.Open(ctx, nil); err != nil {
		t.Fatal(err)
	}
	var n int
	for i := 0; ; i++ {
		b, _, err := src.Read(ctx)
		if i == 10 {
			cancel()
			_, _, err = src.Read(ctx)
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("read after cancel: %v", err)
			}
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if len(b.Rows) != 1000 || b.Bytes == 0 {
			t.Fatalf("batch of %d rows, %d bytes", len(b.Rows), b.Bytes)
		}
		n += len(b.Rows)
	}
	if n != 10000 {
		t.Errorf("read %d rows before cancelling", n)
	}
}

// A source query cannot write, change the schema, set pragmas or attach (and so create) a
// database file; reading still works, on a WAL file too.
func TestSourceQueryIsReadOnly(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "src.db")
	db := rawDB(t, path)
	mustExec(t, db, `PRAGMA journal_mode = WAL`)
	mustExec(t, db, `CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)`)
	mustExec(t, db, `INSERT INTO t VALUES (1, 'a'), (2, 'b'), (3, 'c')`)
	attached := filepath.Join(dir, "x.db")
	ctx := context.Background()
	for name, q := range map[string]string{
		"attach":             "ATTACH '" + attached + "' AS x",
		"attach uri":         "ATTACH 'file:" + attached + "?mode=rwc' AS x",
		"delete":             "DELETE FROM t",
		"delete returning":   "DELETE FROM t RETURNING id",
		"insert":             "INSERT INTO t VALUES (9, 'x')",
		"update":             "UPDATE t SET v = 'x' RETURNING id",
		"create temp":        "CREATE TEMP TABLE tt AS SELECT * FROM t",
		"drop":               "DROP TABLE t",
		"writable_schema":    "PRAGMA writable_schema = 1",
		"query_only off":     "PRAGMA query_only = 0",
		"vacuum into":        "VACUUM INTO '" + attached + "'",
		"select then delete": "SELECT 1 AS one; DELETE FROM t",
	} {
		t.Run(strings.ReplaceAll(name, " ", "_"), func(t *testing.T) {
			src := &Source{ep: connector.Endpoint{URL: "sqlite:" + path + "?query=" + escapeQuery(q)}}
			defer func() { _ = src.Close(ctx) }()
			err := src.Open(ctx, nil)
			if err == nil {
				_, _, err = src.Read(ctx)
			}
			if connector.CodeOf(err) != connector.CodeUsage || !strings.Contains(err.Error(), "a source query must only read: ") {
				t.Fatalf("got %v (code %s), want a usage error saying a source query must only read", err, connector.CodeOf(err))
			}
			if _, err := os.Stat(attached); !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("%s exists (%v)", attached, err)
			}
			var n int
			if err := db.QueryRow("SELECT count(*) FROM t").Scan(&n); err != nil || n != 3 {
				t.Fatalf("the table has %d rows (%v), want 3", n, err)
			}
		})
	}
	_, rows, _ := readAll(t, connector.Endpoint{URL: "sqlite:" + path + "?query=" + escapeQuery("WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n+1 FROM c WHERE n < 3) SELECT v, upper(v) AS u FROM t JOIN c ON c.n = t.id")})
	if len(rows) != 3 {
		t.Fatalf("a reading query got %d rows", len(rows))
	}
	_, rows, _ = readAll(t, connector.Endpoint{URL: "sqlite:" + path + "?table=t"})
	if len(rows) != 3 {
		t.Fatalf("a table read got %d rows", len(rows))
	}
}
