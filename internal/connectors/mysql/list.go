package mysql

import (
	"context"
	"database/sql"

	"github.com/datahub-oss/datahub/connector"
)

// listTables lists the tables and views of the URL's database (of every user database when
// the URL names none), with the server's row estimates (InnoDB's are approximate).
func listTables(ctx context.Context, e connector.Endpoint) ([]connector.TableInfo, error) {
	c, err := parseEndpoint(e)
	if err != nil {
		return nil, err
	}
	db, conn, _, err := c.connect(ctx)
	if err != nil {
		return nil, err
	}
	defer func() { _ = conn.Close(); _ = db.Close() }()
	rows, err := conn.QueryContext(ctx, `SELECT TABLE_SCHEMA, TABLE_NAME, TABLE_TYPE, TABLE_ROWS FROM information_schema.TABLES
		WHERE (? = '' AND TABLE_SCHEMA NOT IN ('mysql', 'information_schema', 'performance_schema', 'sys')) OR TABLE_SCHEMA = ?
		ORDER BY 1, 2`, c.drv.DBName, c.drv.DBName)
	if err != nil {
		return nil, c.wrap(ctx, err, "list tables")
	}
	defer func() { _ = rows.Close() }()
	var out []connector.TableInfo
	for rows.Next() {
		var t connector.TableInfo
		var n sql.NullInt64
		if err := rows.Scan(&t.Schema, &t.Name, &t.Kind, &n); err != nil {
			return nil, c.wrap(ctx, err, "list tables")
		}
		t.Rows = -1
		if n.Valid {
			t.Rows = n.Int64
		}
		switch t.Kind {
		case "VIEW", "SYSTEM VIEW":
			t.Kind, t.Rows = "view", -1
		default:
			t.Kind = "table"
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, c.wrap(ctx, err, "list tables")
	}
	return out, nil
}
