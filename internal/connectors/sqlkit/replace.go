package sqlkit

import (
	"context"
	"fmt"
)

// StagingSuffix ends the name of the table a replace loads (see Dialect.SideName).
const StagingSuffix = "__datahub_staging"

// Replace is the staging table of a replace: created like the target at Open, loaded by the
// writes, swapped in at Commit in one transaction (by the connector: how is each database's
// own), and dropped when the run ends without the swap.
type Replace struct {
	// Staging is the staging table's quoted, qualified name.
	Staging string
	made    bool
}

// Create drops a staging table left by a run that did not finish (it holds nothing anyone
// committed) and creates the new one with the statement create.
func (r *Replace) Create(ctx context.Context, c Conn, create string) error {
	if err := c.Exec(ctx, "DROP TABLE IF EXISTS "+r.Staging); err != nil {
		return fmt.Errorf("drop stale staging table %s: %w", r.Staging, err)
	}
	if err := c.Exec(ctx, create); err != nil {
		return fmt.Errorf("create staging table %s: %w", r.Staging, err)
	}
	r.made = true
	return nil
}

// Swap runs the connector's swap; once it has succeeded the staging table is the target, and
// Discard leaves it alone.
func (r *Replace) Swap(ctx context.Context, swap func(context.Context) error) error {
	if err := swap(ctx); err != nil {
		return err
	}
	r.made = false
	return nil
}

// Discard drops the staging table of a replace that was not swapped in. It is cleanup: its
// error is of no use to a run that is already ending.
func (r *Replace) Discard(ctx context.Context, c Conn) {
	if r.made {
		_ = c.Exec(context.WithoutCancel(ctx), "DROP TABLE IF EXISTS "+r.Staging)
		r.made = false
	}
}
