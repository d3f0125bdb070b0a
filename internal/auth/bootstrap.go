package auth

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/datahub-oss/datahub/internal/store"
)

// AdminTokenFile is the bootstrap token's file name in the data folder.
const AdminTokenFile = "admin.token"

// EnsureAdmin creates, on a store without users, the user "admin" with the admin role and an
// API token (default lifetime, name "bootstrap"), and writes the token to
// <dataDir>/admin.token with mode 0600. It reports whether it did and the file's path, so the
// server can say where the token is; the token itself is never returned or logged. With users
// present it does nothing.
//
// The file is written inside the transaction that creates the user: if writing fails
// nothing is created, and if the commit fails the file is removed, so there is never an
// admin whose only token nobody has.
func (s *Service) EnsureAdmin(ctx context.Context, dataDir string) (created bool, tokenPath string, err error) {
	path := filepath.Join(dataDir, AdminTokenFile)
	written := false
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		created, written = false, false
		if err := tx.Lock(ctx, store.LockBootstrap); err != nil {
			return err
		}
		var n int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM auth_users`).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return nil
		}
		id := newID()
		if err := insertUser(ctx, tx, id, "admin", "Administrator", "", "", []Role{RoleAdmin}, SourceLocal, nil, nil, s.stamp()); err != nil {
			return err
		}
		exp := s.now().Add(s.tokenTTL)
		plain, _, err := s.insertToken(ctx, tx, id, "bootstrap", &exp)
		if err != nil {
			return err
		}
		if err := writeSecretFile(dataDir, path, plain+"\n"); err != nil {
			return err
		}
		created, written = true, true
		return nil
	})
	if err != nil {
		if written {
			_ = os.Remove(path)
		}
		return false, "", fmt.Errorf("create the first admin: %w", err)
	}
	if !created {
		return false, "", nil
	}
	return true, path, nil
}

// writeSecretFile writes data to path so that it never exists with other content or other
// permissions: a 0600 temporary file in the same folder, synced, then renamed into place.
func writeSecretFile(dir, path, data string) (err error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("create data folder %s: %w", dir, err)
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+"-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(tmp)
		}
	}()
	if err := f.Chmod(0o600); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := f.WriteString(data); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	// Make the rename durable; a folder that cannot be synced (some file systems) is not
	// worth failing the start for.
	if d, derr := os.Open(dir); derr == nil {
		_ = d.Sync()
		_ = d.Close()
	}
	return nil
}
