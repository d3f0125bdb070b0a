package sqlkit

import (
	"context"
	"database/sql"
)

// Conn is the little the kit asks of a connection; database/sql's through DB, the
// connectors' own drivers through an adapter of theirs.
type Conn interface {
	Exec(ctx context.Context, query string, args ...any) error
	// QueryRow runs a query of one row; its Scan returns sql.ErrNoRows (or an error that
	// is that one, as pgx.ErrNoRows is) when there is none.
	QueryRow(ctx context.Context, query string, args ...any) Row
}

// Row is one row of a query's result.
type Row interface {
	Scan(dest ...any) error
}

// Querier is what *sql.DB, *sql.Conn and *sql.Tx have in common.
type Querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// DB adapts a database/sql connection, pool or transaction.
func DB(q Querier) Conn { return sqlConn{q} }

type sqlConn struct{ q Querier }

func (c sqlConn) Exec(ctx context.Context, query string, args ...any) error {
	_, err := c.q.ExecContext(ctx, query, args...)
	return err
}

func (c sqlConn) QueryRow(ctx context.Context, query string, args ...any) Row {
	return c.q.QueryRowContext(ctx, query, args...)
}

// Exists reports whether table schema.name exists (see Dialect.TableExists).
func (d *Dialect) Exists(ctx context.Context, c Conn, schema, name string) (bool, error) {
	q, args := d.TableExists(schema, name)
	var ok bool
	err := c.QueryRow(ctx, q, args...).Scan(&ok)
	return ok, err
}
