package auth

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/datahub-oss/datahub/internal/store"
	"github.com/datahub-oss/datahub/internal/store/storetest"
)

func TestEnsureAdmin(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		s, _ := newTestService(t, db)
		dir := filepath.Join(t.TempDir(), "data")

		created, path, err := s.EnsureAdmin(ctx, dir)
		if err != nil || !created || path != filepath.Join(dir, "admin.token") {
			t.Fatalf("EnsureAdmin = %v %q %v", created, path, err)
		}
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Fatalf("admin.token mode %v, want 0600", fi.Mode().Perm())
		}
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		p, err := s.Verify(ctx, strings.TrimSpace(string(b)))
		if err != nil || p.Name != "admin" || !slices.Equal(p.Roles, []Role{RoleAdmin}) {
			t.Fatalf("bootstrap token: %+v %v", p, err)
		}

		// Second start: nothing happens, the file is left alone.
		created, path2, err := s.EnsureAdmin(ctx, dir)
		if err != nil || created || path2 != "" {
			t.Fatalf("second EnsureAdmin = %v %q %v", created, path2, err)
		}
		b2, _ := os.ReadFile(path)
		if string(b2) != string(b) {
			t.Fatal("second EnsureAdmin rewrote the token file")
		}
		users, err := s.List(ctx)
		if err != nil || len(users) != 1 {
			t.Fatalf("users after two starts: %+v %v", users, err)
		}
		entries, _ := os.ReadDir(dir)
		if len(entries) != 1 {
			t.Fatalf("data folder holds %d entries, want only admin.token", len(entries))
		}
	})
}

func TestEnsureAdminWriteFailureCreatesNothing(t *testing.T) {
	db := storetest.SQLite(t)
	ctx := t.Context()
	s, _ := newTestService(t, db)
	// A file where the data folder should be: the token cannot be written.
	blocker := filepath.Join(t.TempDir(), "data")
	if err := os.WriteFile(blocker, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.EnsureAdmin(ctx, blocker); err == nil {
		t.Fatal("EnsureAdmin succeeded without writing the token")
	}
	if users, _ := s.List(ctx); len(users) != 0 {
		t.Fatalf("an admin was created whose token nobody has: %+v", users)
	}
	dir := t.TempDir()
	if created, _, err := s.EnsureAdmin(ctx, dir); err != nil || !created {
		t.Fatalf("retry: %v %v", created, err)
	}
}
