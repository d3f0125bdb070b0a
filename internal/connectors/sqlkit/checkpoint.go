package sqlkit

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/datahub-oss/datahub/connector"
)

// CheckpointTable keeps, in the target's database, the source position of each run that
// wrote there: saved in the transaction that commits the rows, so that a resumed run neither
// skips nor repeats a row (see connector.PositionStore).
const CheckpointTable = "_datahub_checkpoints"

// Checkpoints is the checkpoint table of one schema (or database).
type Checkpoints struct {
	d            *Dialect
	schema, name string
	sql          string // the quoted, qualified name
}

// Checkpoints returns the checkpoint table next to the targets of schema ("" for the
// connection's own).
func (d *Dialect) Checkpoints(schema string) Checkpoints {
	return Checkpoints{d: d, schema: schema, name: CheckpointTable, sql: d.QuoteName(schema, CheckpointTable)}
}

// Ensure creates the table when missing. It is DDL: on MySQL it commits the transaction of
// its connection, so the caller picks the connection.
func (c Checkpoints) Ensure(ctx context.Context, conn Conn) error {
	if err := conn.Exec(ctx, "CREATE TABLE IF NOT EXISTS "+c.sql+" "+c.d.CheckpointColumns); err != nil {
		return fmt.Errorf("create table %s: %w", c.sql, err)
	}
	return nil
}

// Save stores pos for run, in conn's open transaction: the one that commits the rows.
func (c Checkpoints) Save(ctx context.Context, conn Conn, run string, pos connector.Position) error {
	p := c.d.Placeholder
	q := "INSERT INTO " + c.sql + " (" + c.d.QuoteIdents([]string{"run_id", "position", "updated_at"}) + ") VALUES (" +
		p(1) + ", " + p(2) + ", " + c.d.Now + ")" + c.d.Upsert([]string{"run_id"}, []string{"position", "updated_at"})
	if err := conn.Exec(ctx, q, run, []byte(pos)); err != nil {
		return fmt.Errorf("store the position in %s: %w", c.sql, err)
	}
	return nil
}

// Load returns the position saved for run, or nil when there is none (nor the table). It
// looks the table up first rather than reading it blindly: on PostgreSQL a failed statement
// would abort the transaction.
func (c Checkpoints) Load(ctx context.Context, conn Conn, run string) (connector.Position, error) {
	ok, err := c.d.Exists(ctx, conn, c.schema, c.name)
	if err != nil {
		return nil, fmt.Errorf("look up table %s: %w", c.sql, err)
	}
	if !ok {
		return nil, nil
	}
	var pos []byte
	err = conn.QueryRow(ctx, "SELECT "+c.d.QuoteIdent("position")+" FROM "+c.sql+" WHERE "+c.d.QuoteIdent("run_id")+" = "+c.d.Placeholder(1), run).Scan(&pos)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("read table %s: %w", c.sql, err)
	}
	return connector.Position(pos), nil
}
