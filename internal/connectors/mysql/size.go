package mysql

import (
	"context"
	"database/sql"

	"github.com/datahub-oss/datahub/connector"
)

var _ connector.Sizer = (*Source)(nil)

// Size is the table's row estimate from the server's statistics
// (information_schema.tables.table_rows; InnoDB's is approximate): a count(*) would read the
// whole table first. The source's connection is busy with the SELECT, so it asks on another
// one from the pool. A query has none.
func (s *Source) Size(ctx context.Context) (connector.Size, bool) {
	if s.c.query != "" || s.db == nil {
		return connector.Size{}, false
	}
	var n sql.NullInt64
	err := s.db.QueryRowContext(ctx, `SELECT table_rows FROM information_schema.tables
WHERE table_schema = COALESCE(NULLIF(?, ''), DATABASE()) AND table_name = ?`, s.c.table.db, s.c.table.name).Scan(&n)
	if err != nil || !n.Valid || n.Int64 < 1 {
		return connector.Size{}, false
	}
	return connector.Size{Rows: n.Int64}, true
}
