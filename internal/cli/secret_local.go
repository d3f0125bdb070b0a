package cli

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"sync"

	"github.com/datahub-oss/datahub/internal/client"
	"github.com/datahub-oss/datahub/internal/secret"
	"github.com/datahub-oss/datahub/internal/store"
)

// localSecrets is a data folder's own secret store: the encrypted table and the master key a
// `datahub serve` on that folder uses, opened by this process for the secret:NAME references
// of named connections and by `datahub secret --local`. It opens on first use, and a lookup
// never creates the folder, the store or a master key (a new key could not read the secrets).
type localSecrets struct {
	data string

	once sync.Once
	db   *store.DB
	svc  *secret.Service
	err  error
}

// openLocalSecrets opens the store of data now; with create it makes the folder, the store
// and the master key where they are missing (secret put --local).
func openLocalSecrets(ctx context.Context, data string, create bool) (*localSecrets, error) {
	l := &localSecrets{data: data}
	l.once.Do(func() { l.err = l.open(ctx, create) })
	return l, l.err
}

func (l *localSecrets) open(ctx context.Context, create bool) error {
	if !create {
		if _, err := os.Stat(filepath.Join(l.data, store.FileName)); errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("no local secret store in %s: put the secret there with `datahub secret put --local NAME --from-stdin`, or use env:NAME or file:PATH", l.data)
		}
		_, err := os.Stat(filepath.Join(l.data, secret.KeyFileName))
		if _, env := os.LookupEnv(secret.EnvMasterKey); errors.Is(err, fs.ErrNotExist) && !env {
			return fmt.Errorf("the local secret store in %s has no master key (%s, or %s)", l.data, secret.KeyFileName, secret.EnvMasterKey)
		}
	}
	if err := os.MkdirAll(l.data, 0o700); err != nil {
		return fmt.Errorf("local secret store: %w", err)
	}
	db, err := store.Open(ctx, "", l.data)
	if err != nil {
		return fmt.Errorf("local secret store: %w", err)
	}
	if err := db.Migrate(ctx); err != nil {
		_ = db.Close()
		return fmt.Errorf("local secret store: %w", err)
	}
	key, _, err := secret.LoadMasterKey(l.data)
	if err == nil {
		var ring *secret.Keyring
		if ring, err = secret.NewKeyring(key); err == nil {
			l.db, l.svc = db, secret.New(db, ring)
			return nil
		}
	}
	_ = db.Close()
	return fmt.Errorf("local secret store: %w", err)
}

// Resolve resolves a secret:NAME reference from the store (env: and file: too, as the hub
// does), opening it on first use.
func (l *localSecrets) Resolve(ctx context.Context, ref string) (string, error) {
	l.once.Do(func() { l.err = l.open(ctx, false) })
	if l.err != nil {
		return "", l.err
	}
	return l.svc.Resolve(ctx, ref)
}

// Close closes the store if it was opened.
func (l *localSecrets) Close() error {
	if l.db == nil {
		return nil
	}
	return l.db.Close()
}

// localActor names who put a local secret.
func localActor() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return "local:" + u.Username
	}
	return "local"
}

// putLocalSecret stores a secret in the data folder's store, creating the store and its
// master key when missing.
func putLocalSecret(ctx context.Context, g *globals, data, name string, value []byte, format string) error {
	l, err := openLocalSecrets(ctx, data, true)
	if err != nil {
		return &exitError{code: ExitFailed, err: err}
	}
	defer func() { _ = l.Close() }()
	if err := l.svc.Put(ctx, name, value, localActor()); err != nil {
		return &exitError{code: ExitFailed, err: err}
	}
	if format != outTable {
		return writeAny(g.stdout, format, client.Secret{Name: name})
	}
	_, err = fmt.Fprintf(g.stdout, "secret %s stored in %s; named connections refer to it as secret:%s\n", name, data, name)
	return err
}

func listLocalSecrets(ctx context.Context, data string) ([]client.Secret, error) {
	l, err := openLocalSecrets(ctx, data, false)
	if err != nil {
		return nil, err
	}
	defer func() { _ = l.Close() }()
	infos, err := l.svc.List(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]client.Secret, 0, len(infos))
	for _, in := range infos {
		out = append(out, client.Secret{Name: in.Name, CreatedAt: in.CreatedAt, UpdatedAt: in.UpdatedAt})
	}
	return out, nil
}

func deleteLocalSecret(ctx context.Context, data, name string) error {
	l, err := openLocalSecrets(ctx, data, false)
	if err != nil {
		return err
	}
	defer func() { _ = l.Close() }()
	return l.svc.Delete(ctx, name)
}
