package postgres

import (
	"context"

	"github.com/datahub-oss/datahub/connector"
)

var _ connector.Sizer = (*Source)(nil)

// Size is the table's row estimate from the planner's statistics (pg_class.reltuples, kept
// by VACUUM and ANALYZE): a count(*) would read the whole table before the copy does. A
// query, and a table never analysed (reltuples -1, or 0 before PostgreSQL 14), have none.
// It runs on the source's own read-only transaction, before the COPY takes the connection.
func (s *Source) Size(ctx context.Context) (connector.Size, bool) {
	if s.info == nil || s.conn == nil || s.st != nil {
		return connector.Size{}, false
	}
	var n float64
	if err := s.conn.QueryRow(ctx, `SELECT reltuples::float8 FROM pg_class WHERE oid = $1`, s.info.OID).Scan(&n); err != nil || n < 1 {
		return connector.Size{}, false
	}
	return connector.Size{Rows: int64(n)}, true
}
