package all_test

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"testing"

	_ "github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"

	"github.com/datahub-oss/datahub/connector"
	"github.com/datahub-oss/datahub/connector/conntest"
	_ "github.com/datahub-oss/datahub/internal/connectors/all"
	"github.com/datahub-oss/datahub/internal/engine"
)

// endpointFactory makes a fresh endpoint of one kind for a table or file called name.
type endpointFactory func(t *testing.T, name string) connector.Endpoint

func pgDB(t *testing.T) string {
	t.Helper()
	return pgNamed(t, "dh_test_pairs")
}

// pgNamed returns the URL of a fresh database called name on the test server.
func pgNamed(t *testing.T, name string) string {
	t.Helper()
	admin := os.Getenv("DATAHUB_TEST_PG")
	if admin == "" {
		admin = "postgres://postgres@127.0.0.1:5432/postgres"
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatalf("PostgreSQL for tests is not reachable at %s (set DATAHUB_TEST_PG or run scripts/test.sh): %v", admin, err)
	}
	defer func() { _ = conn.Close(ctx) }()
	_, _ = conn.Exec(ctx, `DROP DATABASE IF EXISTS `+name+` WITH (FORCE)`)
	if _, err := conn.Exec(ctx, `CREATE DATABASE `+name); err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(admin)
	u.Path, u.RawQuery = "/"+name, ""
	return u.String()
}

func myDB(t *testing.T) string {
	t.Helper()
	return myNamed(t, "dh_test_pairs")
}

// myNamed returns the URL of a fresh database called name on the test MariaDB server.
func myNamed(t *testing.T, name string) string {
	t.Helper()
	base := os.Getenv("DATAHUB_TEST_MYSQL")
	if base == "" {
		base = "mysql://root@127.0.0.1:3306/"
	}
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	pass, _ := u.User.Password()
	db, err := sql.Open("mysql", fmt.Sprintf("%s:%s@tcp(%s)/", u.User.Username(), pass, u.Host))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = db.Close() }()
	if _, err := db.Exec("DROP DATABASE IF EXISTS " + name); err != nil {
		t.Fatalf("MariaDB for tests is not reachable at %s (set DATAHUB_TEST_MYSQL or run scripts/test.sh): %v", u.Host, err)
	}
	if _, err := db.Exec("CREATE DATABASE " + name + " CHARACTER SET utf8mb4"); err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}

// TestTypeRoundTripEveryPair writes rows of every type into each kind of endpoint, copies
// them with the engine into each kind of endpoint, reads them back and compares every value.
func TestTypeRoundTripEveryPair(t *testing.T) {
	if testing.Short() {
		t.Skip("needs PostgreSQL and MariaDB; skipped with -short")
	}
	dir := t.TempDir()
	pg, my := pgDB(t), myDB(t)
	kinds := []struct {
		name string
		make endpointFactory
	}{
		{"postgres", func(_ *testing.T, n string) connector.Endpoint {
			return connector.Endpoint{URL: pg + "?table=public." + n}
		}},
		{"mysql", func(_ *testing.T, n string) connector.Endpoint { return connector.Endpoint{URL: my + "?table=" + n} }},
		{"sqlite", func(_ *testing.T, n string) connector.Endpoint {
			return connector.Endpoint{URL: "sqlite:" + filepath.Join(dir, "pairs.db") + "?table=" + n}
		}},
		{"csv", func(_ *testing.T, n string) connector.Endpoint {
			return connector.Endpoint{URL: filepath.Join(dir, n+".csv")}
		}},
		{"ndjson", func(_ *testing.T, n string) connector.Endpoint {
			return connector.Endpoint{URL: filepath.Join(dir, n+".ndjson")}
		}},
		{"json", func(_ *testing.T, n string) connector.Endpoint {
			return connector.Endpoint{URL: filepath.Join(dir, n+".json")}
		}},
	}
	schema := conntest.Schema(connector.AllTypes)
	rows := conntest.Rows(schema, 1, 25)
	for _, from := range kinds {
		src := from.make(t, "src_"+from.name)
		conntest.Write(t, src, schema, connector.ModeReplace, rows, 10)
		for _, to := range kinds {
			t.Run(from.name+"_to_"+to.name, func(t *testing.T) {
				dst := to.make(t, "dst_"+from.name+"_"+to.name)
				res := engine.New(engine.Options{RunID: "pairs", Source: src, Dest: dst, Mode: connector.ModeReplace}).Run(context.Background())
				if res.Err != nil {
					t.Fatalf("copy %s -> %s: %v", src.Redacted(), dst.Redacted(), res.Err)
				}
				if res.RowsWritten != int64(len(rows)) || res.RowsRejected != 0 {
					t.Fatalf("wrote %d rows, rejected %d", res.RowsWritten, res.RowsRejected)
				}
				got, gotRows, _ := conntest.Read(t, dst, nil)
				conntest.Check(t, schema, rows, got, gotRows)
			})
		}
	}
}
