package postgres

import (
	"errors"
	"testing"

	"github.com/datahub-oss/datahub/connector"
)

// TestSizeFromStatistics: a table's size is the planner's row estimate once analysed, and a
// query has none; asking leaves the source readable.
func TestSizeFromStatistics(t *testing.T) {
	conn := sqlConn(t)
	table := tableFor(t)
	mustExec(t, conn, "CREATE TABLE "+table+" (id int PRIMARY KEY, v text)")
	mustExec(t, conn, "INSERT INTO "+table+" SELECT g, 'v' || g FROM generate_series(1, 2500) g")
	ep := endpointFor(t, table)
	open := func(ep connector.Endpoint) *Source {
		s := &Source{ep: ep}
		if err := s.Open(t.Context(), nil); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close(t.Context()) })
		return s
	}
	if sz, ok := open(ep).Size(t.Context()); ok {
		t.Logf("before ANALYZE: %+v (an autovacuum may have run)", sz)
	}
	mustExec(t, conn, "ANALYZE "+table)
	s := open(ep)
	if sz, ok := s.Size(t.Context()); !ok || sz.Rows != 2500 || sz.Bytes != 0 {
		t.Errorf("after ANALYZE: %+v %v, want 2500 rows", sz, ok)
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
	if n != 2500 {
		t.Errorf("read %d rows after Size", n)
	}
	q := ep
	q.URL = testDB(t) + "?query=SELECT+1"
	if sz, ok := open(q).Size(t.Context()); ok {
		t.Errorf("query: %+v", sz)
	}
}
