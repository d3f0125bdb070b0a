package sqlite

import (
	"context"
	"time"

	"github.com/datahub-oss/datahub/connector"
)

var _ connector.Sizer = (*Source)(nil)

// sizeTimeout bounds the count of a table's rows: past it, the copy starts without a size.
const sizeTimeout = 2 * time.Second

// Size is the table's row count. SQLite keeps no row estimate, but count(*) walks the
// table's smallest b-tree and takes little on the tables SQLite holds; on one too large to
// count quickly it is given up after sizeTimeout. It asks on a read-only connection of its
// own, closed at once: the source's one connection holds the running SELECT. A query has no
// size.
func (s *Source) Size(ctx context.Context) (connector.Size, bool) {
	if s.p.table == "" || s.p.db == nil {
		return connector.Size{}, false
	}
	ctx, cancel := context.WithTimeout(ctx, sizeTimeout)
	defer cancel()
	db := openRead(s.p.dsn("rw", "query_only(1)"))
	defer func() { _ = db.Close() }()
	db.SetMaxOpenConns(1)
	var n int64
	if err := db.QueryRowContext(ctx, "SELECT count(*) FROM "+quoteIdent(s.p.table)).Scan(&n); err != nil || n < 1 {
		return connector.Size{}, false
	}
	return connector.Size{Rows: n}, true
}
