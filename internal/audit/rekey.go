package audit

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/datahub-oss/datahub/internal/store"
)

// UseKey makes the log chain under k from now on; call it once the transaction of RotateTx
// has committed.
func (l *Log) UseKey(k ChainKey) { l.setKey(k) }

// EnsureKeyed makes sure the chain in the store is chained under this log's key, and returns
// how many entries it re-keyed (0 when the chain already was). A plain SHA-256 chain, as
// stores from before the keyed chain hold, is verified and then re-keyed entry by entry in
// one transaction, which ends with an audit.rekey entry by actor; a broken plain chain is
// refused, not re-keyed, since re-keying would make the break verify. known are anchors kept
// outside the store (the anchor file): if one of them was taken from a keyed chain, a plain
// chain in the store was rewritten by someone without the key, and that is refused too. A
// chain keyed under another master key is refused (ErrChainKey): this process has the wrong
// key.
func (l *Log) EnsureKeyed(ctx context.Context, actor string, known []Anchor) (int64, error) {
	key := l.Key()
	if key.IsZero() {
		return 0, nil
	}
	var n int64
	err := l.db.InTx(ctx, func(tx *store.Tx) error {
		n = 0
		if err := tx.Lock(ctx, store.LockAudit); err != nil {
			return fmt.Errorf("lock the log: %w", err)
		}
		h, err := readHead(ctx, tx)
		if err != nil {
			return fmt.Errorf("read the head: %w", err)
		}
		if h.matches(key) {
			return nil
		}
		if h.scheme != SchemePlain {
			return h.keyMismatch(key)
		}
		for i := len(known) - 1; i >= 0; i-- {
			if a := known[i]; a.Scheme == SchemeKeyed {
				return fmt.Errorf("the store holds a plain SHA-256 chain, but the anchor of %s records %s at seq %d: the audit log in the store was rewritten without the key. Restore the store from a backup, or, to accept the log as it is, move the anchor file away and start again",
					a.At.Format(time.RFC3339), describe(a.Scheme, a.KeyID), a.Seq)
			}
		}
		rekeyed, nh, err := rechain(ctx, tx, h, ChainKey{}, key)
		if err != nil {
			return err
		}
		n = rekeyed
		if h.seq == 0 {
			return nil // a new store: nothing was re-keyed, nothing to record
		}
		details, _ := json.Marshal(map[string]any{"from_scheme": SchemePlain, "to_scheme": key.Scheme(), "key_id": key.ID(),
			"entries_rekeyed": rekeyed, "old_head": Anchor{Seq: h.seq, Hash: h.hash}.String()})
		_, err = l.insert(ctx, tx, Entry{Actor: actor, Action: "audit.rekey", TargetKind: "AuditLog", Details: string(details)}, nh, key)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("re-key the audit chain in %s: %w", l.db.Where, err)
	}
	return n, nil
}

// RotateTx re-keys the chain from this log's key to key to, inside the caller's transaction
// (the one that re-encrypts the secrets under the new master key), and appends the rotation's
// own entry (action master_key.rotate by actor, with extra merged into its details) chained
// under the new key. It verifies the chain as it goes and refuses a broken one. Once tx has
// committed, call UseKey(to); if it rolls back, nothing changed.
func (l *Log) RotateTx(ctx context.Context, tx *store.Tx, to ChainKey, actor string, extra map[string]any) (Entry, error) {
	from := l.Key()
	if to.IsZero() {
		return Entry{}, fmt.Errorf("rotate the audit chain: no new key")
	}
	if err := tx.Lock(ctx, store.LockAudit); err != nil {
		return Entry{}, fmt.Errorf("rotate the audit chain: lock the log: %w", err)
	}
	h, err := readHead(ctx, tx)
	if err != nil {
		return Entry{}, fmt.Errorf("rotate the audit chain: read the head: %w", err)
	}
	if !h.matches(from) {
		return Entry{}, fmt.Errorf("rotate the audit chain: %w", h.keyMismatch(from))
	}
	n, nh, err := rechain(ctx, tx, h, from, to)
	if err != nil {
		return Entry{}, fmt.Errorf("rotate the audit chain: %w", err)
	}
	d := map[string]any{}
	for k, v := range extra {
		d[k] = v
	}
	d["from_key_id"], d["to_key_id"], d["scheme"] = from.ID(), to.ID(), to.Scheme()
	d["entries_rekeyed"], d["old_head"] = n, Anchor{Seq: h.seq, Hash: h.hash}.String()
	details, err := json.Marshal(d)
	if err != nil {
		return Entry{}, fmt.Errorf("rotate the audit chain: %w", err)
	}
	e := Entry{Actor: actor, Action: "master_key.rotate", TargetKind: "MasterKey", TargetName: to.ID(), Details: string(details)}
	if err := normalise(&e); err != nil {
		return Entry{}, fmt.Errorf("rotate the audit chain: %w", err)
	}
	return l.insert(ctx, tx, e, nh, to)
}

// rechain verifies the chain up to head h under from and rewrites every entry's prev_hash
// and hash under to, then the head; it returns how many entries it rewrote and the new head.
// The caller holds the lock in tx.
func rechain(ctx context.Context, tx *store.Tx, h head, from, to ChainKey) (int64, head, error) {
	rep := Report{OK: true}
	c := chain{q: tx, where: "the transaction", rep: &rep, key: from.mac, lastHash: ZeroHash}
	prev := ZeroHash
	var n int64
	c.each = func(e Entry, at string) error {
		e.PrevHash = prev
		e.Hash = hashWith(e, at, to.mac)
		if _, err := tx.Exec(ctx, `UPDATE audit_entries SET prev_hash = ?, hash = ? WHERE seq = ?`, e.PrevHash, e.Hash, e.Seq); err != nil {
			return fmt.Errorf("re-key entry %d: %w", e.Seq, err)
		}
		prev = e.Hash
		n++
		return nil
	}
	ok, err := c.walk(ctx, h.seq)
	if err != nil {
		return 0, head{}, err
	}
	switch {
	case !ok:
		return 0, head{}, fmt.Errorf("the chain (%s) is broken, so it is not re-keyed (re-keying would make the break verify): %s", h.describe(), rep)
	case c.lastSeq != h.seq:
		return 0, head{}, fmt.Errorf("the chain (%s) is broken, so it is not re-keyed: it ends at seq %d but its head records seq %d", h.describe(), c.lastSeq, h.seq)
	case c.lastHash != h.hash:
		return 0, head{}, fmt.Errorf("the chain (%s) is broken, so it is not re-keyed: entry %d's hash differs from the one its head records", h.describe(), h.seq)
	}
	if _, err := tx.Exec(ctx, `UPDATE audit_head SET hash = ?, scheme = ?, key_id = ? WHERE id = 1`, prev, to.Scheme(), to.ID()); err != nil {
		return 0, head{}, fmt.Errorf("update the head: %w", err)
	}
	return n, head{seq: h.seq, hash: prev, scheme: to.Scheme(), keyID: to.ID()}, nil
}
