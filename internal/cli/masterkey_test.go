package cli

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/datahub-oss/datahub/internal/audit"
	"github.com/datahub-oss/datahub/internal/secret"
	"github.com/datahub-oss/datahub/internal/store"
)

func TestMasterKeyRotate(t *testing.T) {
	t.Setenv(secret.EnvMasterKey, "")
	_ = os.Unsetenv(secret.EnvMasterKey)
	ctx := context.Background()
	data := t.TempDir()
	db, err := store.Open(ctx, "", data)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	key, _, err := secret.LoadMasterKey(data)
	if err != nil {
		t.Fatal(err)
	}
	ring, _ := secret.NewKeyring(key)
	if err := secret.New(db, ring).Put(ctx, "db-password", []byte("s3cret-value"), "test"); err != nil {
		t.Fatal(err)
	}
	// A store from before the keyed chain: a plain audit chain.
	for _, a := range []string{"resource.apply", "secret.put", "run.request"} {
		if _, err := audit.New(db).Append(ctx, audit.Entry{Actor: "alice", Action: a}); err != nil {
			t.Fatal(err)
		}
	}
	_ = db.Close()

	code, stdout, stderr := run(t, "master-key", "rotate", "--data", data)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(stderr, "re-encrypted 1 secret") || stdout != "" {
		t.Fatalf("stdout %q stderr %q", stdout, stderr)
	}
	newKey, _, err := secret.LoadMasterKey(data)
	if err != nil {
		t.Fatal(err)
	}
	if newKey.ID() == key.ID() {
		t.Fatal("master.key was not replaced")
	}
	olds, _ := filepath.Glob(filepath.Join(data, "master.key.old-*"))
	if len(olds) != 1 {
		t.Fatalf("old keys kept: %v", olds)
	}
	if _, err := os.Stat(filepath.Join(data, "master.key.next")); err == nil {
		t.Error("the staged key was left behind")
	}
	db, err = store.Open(ctx, "", data)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = db.Close() }()
	ring, _ = secret.NewKeyring(newKey)
	got, err := secret.New(db, ring).Get(ctx, "db-password")
	if err != nil || string(got) != "s3cret-value" {
		t.Fatalf("after rotation: %q, %v", got, err)
	}
	// The chain was re-keyed (from plain, then to the new key) and the rotation audited.
	ck, _ := audit.KeyFor(newKey)
	l := audit.NewKeyed(db, ck)
	rep, err := l.Verify(ctx)
	if err != nil || !rep.OK || rep.Checked != 5 || rep.KeyID != newKey.ID() {
		t.Fatalf("audit chain after rotation: %+v, %v", rep, err)
	}
	p, err := l.List(ctx, audit.Filter{Limit: 2})
	if err != nil || len(p.Entries) != 2 || p.Entries[0].Action != "master_key.rotate" || p.Entries[1].Action != "audit.rekey" ||
		!strings.HasPrefix(p.Entries[0].Actor, "local") || !strings.Contains(p.Entries[0].Details, key.ID()) {
		t.Fatalf("last entries: %+v, %v", p.Entries, err)
	}
	af, err := audit.ReadAnchorFile(filepath.Join(data, audit.AnchorFileName))
	if err != nil {
		t.Fatal(err)
	}
	if a, ok := af.Latest(newKey.ID()); !ok || a.Seq != rep.HeadSeq || a.Hash != rep.HeadHash {
		t.Fatalf("anchor after rotation %+v, head %d:%s", a, rep.HeadSeq, rep.HeadHash)
	}
	if !strings.Contains(stderr, "re-keyed the audit chain") {
		t.Errorf("stderr %q", stderr)
	}
	oldRing, _ := secret.NewKeyring(key)
	if _, err := secret.New(db, oldRing).Get(ctx, "db-password"); err == nil {
		t.Fatal("the old key still decrypts")
	}
}
