package sqlite

import (
	"errors"
	"testing"

	"github.com/datahub-oss/datahub/connector"
)

// TestSizeCountsRows: a table's size is its row count, asked while its SELECT is open, which
// then reads on; a query has none.
func TestSizeCountsRows(t *testing.T) {
	path := dbPath(t)
	db := rawDB(t, path)
	mustExec(t, db, "CREATE TABLE people (id INTEGER PRIMARY KEY, name TEXT)")
	mustExec(t, db, "WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n+1 FROM g WHERE n < 1234) INSERT INTO people SELECT n, 'p' || n FROM g")
	open := func(url string) *Source {
		s := &Source{ep: connector.Endpoint{URL: url, BatchSize: 100}}
		if err := s.Open(t.Context(), nil); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close(t.Context()) })
		return s
	}
	s := open("sqlite:" + path + "?table=People")
	if sz, ok := s.Size(t.Context()); !ok || sz.Rows != 1234 || sz.Bytes != 0 {
		t.Errorf("table: %+v %v, want 1234 rows", sz, ok)
	}
	n := 0
	for {
		b, _, err := s.Read(t.Context())
		if errors.Is(err, connector.ErrEndOfInput) {
			break
		}
		if err != nil {
			t.Fatalf("read after Size: %v", err)
		}
		n += b.Len()
	}
	if n != 1234 {
		t.Errorf("read %d rows after Size", n)
	}
	if sz, ok := open("sqlite:" + path + "?query=SELECT+1").Size(t.Context()); ok {
		t.Errorf("query: %+v", sz)
	}
}
