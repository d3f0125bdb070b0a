package mysql

import (
	"testing"

	"github.com/datahub-oss/datahub/connector"
)

// TestSizeFromStatistics: a table's size is the server's row estimate once analysed, and a
// query has none; asking leaves the source readable.
func TestSizeFromStatistics(t *testing.T) {
	table := tableFor(t, "")
	e := endpoint(t, table)
	exec(t, "CREATE TABLE "+quoteIdent(table)+" (id int PRIMARY KEY, v varchar(20))")
	exec(t, "INSERT INTO "+quoteIdent(table)+" WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n+1 FROM g WHERE n < 500) SELECT n, CONCAT('v', n) FROM g")
	exec(t, "ANALYZE TABLE "+quoteIdent(table))
	s := newSource(t, e)
	if err := s.Open(t.Context(), nil); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.Close(t.Context()) }()
	// InnoDB's estimate is a sample: near the truth, not equal to it.
	if sz, ok := s.Size(t.Context()); !ok || sz.Rows < 250 || sz.Rows > 1000 || sz.Bytes != 0 {
		t.Errorf("table: %+v %v, want about 500 rows", sz, ok)
	}
	if b, _, err := s.Read(t.Context()); err != nil || b.Len() == 0 {
		t.Errorf("read after Size: %v", err)
	}
	q := newSource(t, connector.Endpoint{URL: dbURL("query=SELECT+1")})
	if err := q.Open(t.Context(), nil); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = q.Close(t.Context()) }()
	if sz, ok := q.Size(t.Context()); ok {
		t.Errorf("query: %+v", sz)
	}
}
