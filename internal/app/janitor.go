package app

import (
	"context"
	"errors"

	"github.com/datahub-oss/datahub/internal/janitor"
)

// startJanitor runs the janitor, which deletes old bookkeeping after its retention
// (retention: in the configuration), until ctx ends. Every scheduler process runs it, and every
// worker-only one (for the rejects in its data folder): its deletions are idempotent.
func (h *Hub) startJanitor(ctx context.Context) {
	j := &janitor.Janitor{DB: h.DB, Catalog: h.Catalog, DataDir: h.cfg.Data, Retention: h.cfg.Retention,
		Log: h.log.With("component", "janitor")}
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		if err := j.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
			h.log.Error("janitor stopped", "err", err)
		}
	}()
}
