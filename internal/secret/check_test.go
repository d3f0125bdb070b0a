package secret

import (
	"context"
	"strings"
	"testing"

	"github.com/datahub-oss/datahub/internal/store"
	"github.com/datahub-oss/datahub/internal/store/storetest"
)

// A process whose master key did not seal the store's secrets is refused, naming the keys;
// one holding the key (as primary or older) is not.
func TestCheckKeys(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		first, other := mustKey(t), mustKey(t)
		if err := New(db, mustRing(t, other)).CheckKeys(ctx); err != nil {
			t.Fatalf("no secrets yet: %v", err)
		}
		s := New(db, mustRing(t, first))
		if err := s.Put(ctx, "db.password", []byte("v"), "alice"); err != nil {
			t.Fatal(err)
		}
		if err := s.CheckKeys(ctx); err != nil {
			t.Fatalf("the sealing key: %v", err)
		}
		err := New(db, mustRing(t, other)).CheckKeys(ctx)
		if err == nil || !strings.Contains(err.Error(), first.ID()) || !strings.Contains(err.Error(), other.ID()) ||
			!strings.Contains(err.Error(), EnvMasterKey) || strings.Contains(err.Error(), first.Encode()) {
			t.Fatalf("another key: %v", err)
		}
		ring, err := NewKeyring(other, first)
		if err != nil {
			t.Fatal(err)
		}
		if err := New(db, ring).CheckKeys(ctx); err != nil {
			t.Fatalf("the sealing key as an older one: %v", err)
		}
	})
}
