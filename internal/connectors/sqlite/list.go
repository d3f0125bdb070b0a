package sqlite

import (
	"context"
	"strconv"
	"strings"

	"github.com/datahub-oss/datahub/connector"
)

// listTables lists the tables and views of the database file. SQLite keeps row counts only
// where ANALYZE left them (sqlite_stat1); other tables say -1 rather than being counted,
// which would read them whole.
func listTables(ctx context.Context, e connector.Endpoint) ([]connector.TableInfo, error) {
	p := endpoint{ep: e}
	if err := p.parse(); err != nil {
		return nil, err
	}
	if err := p.open(ctx, false); err != nil {
		return nil, err
	}
	defer func() { _ = p.db.Close() }()
	rows, err := p.db.QueryContext(ctx, `SELECT name, type FROM sqlite_schema
		WHERE type IN ('table', 'view') AND name NOT LIKE 'sqlite\_%' ESCAPE '\' ORDER BY name`)
	if err != nil {
		return nil, p.fail(ctx, err, "list tables")
	}
	var out []connector.TableInfo
	for rows.Next() {
		t := connector.TableInfo{Rows: -1}
		if err := rows.Scan(&t.Name, &t.Kind); err != nil {
			_ = rows.Close()
			return nil, p.fail(ctx, err, "list tables")
		}
		out = append(out, t)
	}
	_ = rows.Close()
	if err := rows.Err(); err != nil {
		return nil, p.fail(ctx, err, "list tables")
	}
	stats := map[string]int64{}
	if srows, err := p.db.QueryContext(ctx, `SELECT tbl, stat FROM sqlite_stat1`); err == nil {
		for srows.Next() {
			var tbl, stat string
			if srows.Scan(&tbl, &stat) == nil {
				first, _, _ := strings.Cut(stat, " ")
				if n, err := strconv.ParseInt(first, 10, 64); err == nil && n > stats[tbl] {
					stats[tbl] = n
				}
			}
		}
		_ = srows.Close()
	}
	for i := range out {
		if n, ok := stats[out[i].Name]; ok {
			out[i].Rows = n
		}
	}
	return out, nil
}
