package postgres

import (
	"context"

	"github.com/datahub-oss/datahub/connector"
)

// listTables lists the tables, views and materialized views of the database outside the
// system schemas, with the planner's row estimates (partitions are listed as their parent).
func listTables(ctx context.Context, e connector.Endpoint) ([]connector.TableInfo, error) {
	p := endpoint{ep: e}
	if err := p.parse(); err != nil {
		return nil, err
	}
	p.cfg.RuntimeParams["default_transaction_read_only"] = "on"
	conn, err := p.connect(ctx)
	if err != nil {
		return nil, err
	}
	defer func() { _ = conn.Close(context.WithoutCancel(ctx)) }()
	rows, err := conn.Query(ctx, `SELECT n.nspname, c.relname,
		CASE c.relkind WHEN 'v' THEN 'view' WHEN 'm' THEN 'materialized view' WHEN 'f' THEN 'foreign table' ELSE 'table' END,
		CASE WHEN c.relkind IN ('v', 'f') THEN -1 ELSE c.reltuples::bigint END
		FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') AND NOT c.relispartition
		  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\_toast%'
		  AND n.nspname NOT LIKE 'pg\_temp\_%'
		ORDER BY 1, 2`)
	if err != nil {
		return nil, p.wrap(ctx, err, "")
	}
	defer rows.Close()
	var out []connector.TableInfo
	for rows.Next() {
		var t connector.TableInfo
		if err := rows.Scan(&t.Schema, &t.Name, &t.Kind, &t.Rows); err != nil {
			return nil, p.wrap(ctx, err, "")
		}
		// PostgreSQL 14 and later say -1 for a table never analysed or vacuumed.
		t.Rows = max(t.Rows, -1)
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, p.wrap(ctx, err, "")
	}
	return out, nil
}
