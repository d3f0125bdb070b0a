package all_test

import (
	"context"
	"testing"

	"github.com/datahub-oss/datahub/connector"
	"github.com/datahub-oss/datahub/connector/conntest"
)

// TestListTables: every database connector lists the table a write created, whatever the
// endpoint's table option says, and no system table.
func TestListTables(t *testing.T) {
	if testing.Short() {
		t.Skip("needs PostgreSQL and MariaDB; skipped with -short")
	}
	schema := connector.Schema{Columns: []connector.Column{{Name: "id", Type: connector.TypeInt64}}}
	for _, db := range databases(t, "list") {
		t.Run(db.name, func(t *testing.T) {
			dst := connector.Endpoint{URL: db.url("listed")}
			conntest.Write(t, dst, schema, connector.ModeAppend, [][]any{{int64(1)}, {int64(2)}}, 10)
			tables, err := connector.ListTables(context.Background(), dst)
			if err != nil {
				t.Fatal(err)
			}
			found := false
			for _, tb := range tables {
				switch {
				case tb.Name == "listed":
					found = tb.Kind == "table" && tb.Rows >= -1
				case tb.Schema == "pg_catalog" || tb.Schema == "information_schema" || tb.Schema == "mysql":
					t.Errorf("system table listed: %+v", tb)
				}
			}
			if !found {
				t.Fatalf("table listed not among %+v", tables)
			}
		})
	}
	if _, err := connector.ListTables(context.Background(), connector.Endpoint{URL: "x.csv"}); connector.CodeOf(err) != connector.CodeUnsupported {
		t.Fatalf("a file endpoint: %v", err)
	}
}
