package app

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/datahub-oss/datahub/internal/audit"
	"github.com/datahub-oss/datahub/internal/bus"
	"github.com/datahub-oss/datahub/internal/config"
	"github.com/datahub-oss/datahub/internal/event"
	"github.com/datahub-oss/datahub/internal/secret"
)

// AnchorFile is where a hub with cfg anchors its audit chain: audit.anchor_file, else
// <data>/audit-anchor.json.
func AnchorFile(cfg config.Config) string {
	if cfg.Audit.AnchorFile != "" {
		return cfg.Audit.AnchorFile
	}
	return filepath.Join(cfg.Data, audit.AnchorFileName)
}

// openAudit opens the audit log chained under the master key's chain key and makes sure the
// chain in the store is keyed with it (re-keying a plain chain from an earlier version), with
// the anchor file as the evidence of what the chain was.
func (h *Hub) openAudit(ctx context.Context, key secret.Key) error {
	ck, err := audit.KeyFor(key)
	if err != nil {
		return err
	}
	h.Audit = audit.NewKeyed(h.DB, ck)
	af, err := audit.ReadAnchorFile(AnchorFile(h.cfg))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("check the audit chain against its anchors: %w", err)
	}
	n, err := h.Audit.EnsureKeyed(ctx, "system", af.Anchors)
	if err != nil {
		return err
	}
	if n > 0 {
		h.log.Info("re-keyed the audit chain under the master key", "entries", n, "key_id", key.ID())
	}
	return nil
}

// startAnchorer anchors the audit chain (file and bus) at start and periodically; it runs with
// the scheduler role.
func (h *Hub) startAnchorer(ctx context.Context) {
	log := h.log.With("component", "audit")
	a := &audit.Anchorer{Log: h.Audit, File: AnchorFile(h.cfg), Every: h.cfg.Audit.AnchorInterval, Logger: log,
		Publish: func(ctx context.Context, an audit.Anchor) error {
			e := event.New(event.AuditAnchor)
			e.Time = an.At
			e.Anchor = &event.Anchor{Seq: an.Seq, Hash: an.Hash, Scheme: an.Scheme, KeyID: an.KeyID}
			// The anchorer logs and retries what fails.
			return bus.Events{Bus: h.Bus}.Publish(ctx, e)
		}}
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		if err := a.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
			log.Error("audit anchoring stopped", "err", err)
		}
	}()
}
