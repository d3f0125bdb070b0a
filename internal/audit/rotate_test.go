package audit

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/datahub-oss/datahub/internal/secret"
	"github.com/datahub-oss/datahub/internal/store"
	"github.com/datahub-oss/datahub/internal/store/storetest"
)

// rotateFixture is a store with secrets and a keyed chain under master key old.
func rotateFixture(t *testing.T, db *store.DB) (old secret.Key, sec *secret.Service, l *Log) {
	t.Helper()
	ctx := context.Background()
	old, err := secret.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	ring, err := secret.NewKeyring(old)
	if err != nil {
		t.Fatal(err)
	}
	sec = secret.New(db, ring)
	for _, n := range []string{"a", "b"} {
		if err := sec.Put(ctx, n, []byte("value-of-"+n), "alice"); err != nil {
			t.Fatal(err)
		}
	}
	k, err := KeyFor(old)
	if err != nil {
		t.Fatal(err)
	}
	l = keyedLog(t, db, k)
	appendN(t, l, 12)
	return old, sec, l
}

// Rotating the master key re-keys the chain in the secrets' transaction, and the rotation is
// itself an entry chained under the new key.
func TestRotateRekeysChain(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		old, sec, l := rotateFixture(t, db)
		before := mustVerify(t, l)
		next, _ := secret.NewKey()
		nk, err := KeyFor(next)
		if err != nil {
			t.Fatal(err)
		}
		var rot Entry
		n, err := sec.Rotate(ctx, next, func(ctx context.Context, tx *store.Tx) error {
			rot, err = l.RotateTx(ctx, tx, nk, "root", map[string]any{"secrets": 2})
			return err
		})
		if err != nil || n != 2 {
			t.Fatalf("Rotate = %d, %v", n, err)
		}
		l.UseKey(nk)
		rep := mustVerify(t, l)
		if !rep.OK || rep.Checked != 13 || rep.KeyID != next.ID() || rep.HeadHash != rot.Hash {
			t.Fatalf("Verify after rotation = %+v", rep)
		}
		var d map[string]any
		_ = json.Unmarshal([]byte(rot.Details), &d)
		if rot.Seq != 13 || rot.Action != "master_key.rotate" || rot.Actor != "root" || d["from_key_id"] != old.ID() ||
			d["to_key_id"] != next.ID() || d["entries_rekeyed"] != float64(12) || d["secrets"] != float64(2) ||
			d["old_head"] != (Anchor{Seq: before.HeadSeq, Hash: before.HeadHash}).String() {
			t.Fatalf("rotation entry %+v", rot)
		}
		if rot.Hash != nk.Hash(rot) {
			t.Fatal("the rotation entry is not chained under the new key")
		}
		oldKey, _ := KeyFor(old)
		if _, err := NewKeyed(db, oldKey).Verify(ctx); !errors.Is(err, ErrChainKey) {
			t.Fatalf("the old key still verifies: %v", err)
		}
		if e, err := l.Append(ctx, entry(1)); err != nil || e.Seq != 14 {
			t.Fatalf("append after rotation: %+v, %v", e, err)
		}
	})
}

// A rotation whose transaction fails at its very end leaves the old state whole: the secrets
// open with the old key, the chain verifies under the old key, nothing was added.
func TestRotateFailsWhole(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		old, sec, l := rotateFixture(t, db)
		before := mustVerify(t, l)
		next, _ := secret.NewKey()
		nk, _ := KeyFor(next)
		crash := errors.New("the process died before commit")
		_, err := sec.Rotate(ctx, next, func(ctx context.Context, tx *store.Tx) error {
			if _, err := l.RotateTx(ctx, tx, nk, "root", nil); err != nil {
				return err
			}
			return crash
		})
		if !errors.Is(err, crash) {
			t.Fatalf("Rotate = %v", err)
		}
		if sec.KeyID() != old.ID() {
			t.Fatal("a failed rotation switched the secrets' key")
		}
		if v, err := sec.Get(ctx, "a"); err != nil || string(v) != "value-of-a" {
			t.Fatalf("secret after a failed rotation: %q, %v", v, err)
		}
		after := mustVerify(t, l)
		if !after.OK || after.HeadSeq != before.HeadSeq || after.HeadHash != before.HeadHash || after.KeyID != old.ID() {
			t.Fatalf("chain after a failed rotation: %+v, before %+v", after, before)
		}
		if _, err := NewKeyed(db, nk).Verify(ctx); !errors.Is(err, ErrChainKey) {
			t.Fatalf("the new key verifies after a failed rotation: %v", err)
		}
	})
}

// A broken chain is not re-keyed by a rotation (that would make the break verify), and the
// secrets stay as they were.
func TestRotateRefusesBrokenChain(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		old, sec, l := rotateFixture(t, db)
		mustExecAll(t, db, `UPDATE audit_entries SET details = '{"i":99}' WHERE seq = 6`)
		next, _ := secret.NewKey()
		nk, _ := KeyFor(next)
		_, err := sec.Rotate(ctx, next, func(ctx context.Context, tx *store.Tx) error {
			_, err := l.RotateTx(ctx, tx, nk, "root", nil)
			return err
		})
		if err == nil || sec.KeyID() != old.ID() {
			t.Fatalf("Rotate over a broken chain: %v", err)
		}
		if rep := mustVerify(t, l); rep.OK || rep.BrokenSeq != 6 || rep.KeyID != old.ID() {
			t.Fatalf("Verify = %+v", rep)
		}
	})
}
