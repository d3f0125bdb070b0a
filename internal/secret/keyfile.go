package secret

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"time"
)

// EnvMasterKey is the environment variable that holds the master key (base64 of 32 bytes). When
// set it wins over the key file, which suits containers and several servers sharing one store.
const EnvMasterKey = "DATAHUB_MASTER_KEY"

// KeyFileName is the master key file's name inside the data folder.
const KeyFileName = "master.key"

// LoadMasterKey returns the master key from DATAHUB_MASTER_KEY, else from <dataDir>/master.key,
// creating that file (mode 0600) with a fresh key when it does not exist; created tells the
// caller to remind the operator to back it up. An existing key file that group or others can
// read or write is refused.
func LoadMasterKey(dataDir string) (key Key, created bool, err error) {
	if v, ok := os.LookupEnv(EnvMasterKey); ok {
		k, err := ParseKey(v)
		if err != nil {
			return Key{}, false, fmt.Errorf("%s must be the base64 encoding of %d random bytes (e.g. `openssl rand -base64 32`): %w", EnvMasterKey, KeySize, err)
		}
		return k, false, nil
	}
	path := filepath.Join(dataDir, KeyFileName)
	k, err := ReadKeyFile(path)
	if err == nil {
		return k, false, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return Key{}, false, err
	}
	return createKeyFile(dataDir)
}

// ReadKeyFile reads a master key file, refusing one that group or others can access. Errors
// name the path, never the content.
func ReadKeyFile(path string) (Key, error) {
	f, err := os.Open(path)
	if err != nil {
		return Key{}, fmt.Errorf("read master key: %w", err)
	}
	defer func() { _ = f.Close() }()
	fi, err := f.Stat()
	if err != nil {
		return Key{}, fmt.Errorf("read master key: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return Key{}, fmt.Errorf("master key %s is not a regular file", path)
	}
	// Windows has no such mode bits; its ACLs are the data folder's business.
	if runtime.GOOS != "windows" && fi.Mode().Perm()&0o077 != 0 {
		return Key{}, fmt.Errorf("master key %s is accessible to group or others (mode %04o); refusing to use it: run `chmod 600 %s`", path, fi.Mode().Perm(), path)
	}
	b, err := io.ReadAll(io.LimitReader(f, 1024))
	if err != nil {
		return Key{}, fmt.Errorf("read master key %s: %w", path, err)
	}
	k, err := ParseKey(string(b))
	if err != nil {
		return Key{}, fmt.Errorf("master key %s is malformed (want base64 of %d bytes): %w", path, KeySize, err)
	}
	return k, nil
}

// createKeyFile writes a fresh key as <dataDir>/master.key. The key goes to an O_EXCL temporary
// file first and is then hard-linked into place, which fails if the file appeared meanwhile:
// two servers starting at once on one data folder then agree on the first key instead of one
// silently replacing the other's.
func createKeyFile(dataDir string) (Key, bool, error) {
	k, err := NewKey()
	if err != nil {
		return Key{}, false, err
	}
	if err := os.MkdirAll(dataDir, 0o750); err != nil {
		return Key{}, false, fmt.Errorf("create data folder %s: %w", dataDir, err)
	}
	path := filepath.Join(dataDir, KeyFileName)
	tmp, err := writeTemp(dataDir, []byte(k.Encode()+"\n"))
	if err != nil {
		return Key{}, false, fmt.Errorf("create master key %s: %w", path, err)
	}
	defer func() { _ = os.Remove(tmp) }()
	if err := os.Link(tmp, path); err != nil {
		if errors.Is(err, os.ErrExist) {
			k, err := ReadKeyFile(path)
			return k, false, err
		}
		// Some file systems have no hard links; rename is still atomic, only not exclusive.
		if _, serr := os.Lstat(path); serr == nil {
			k, err := ReadKeyFile(path)
			return k, false, err
		}
		if err := os.Rename(tmp, path); err != nil {
			return Key{}, false, fmt.Errorf("create master key %s: %w", path, err)
		}
	}
	syncDir(dataDir)
	return k, true, nil
}

// WriteKeyFile installs key as <dataDir>/master.key (mode 0600) after a rotation. The current
// file, if any, is kept as master.key.old-<UTC timestamp> (mode 0600): backups of the database
// taken before the rotation still need it. The new file is written to an O_EXCL temporary file
// and renamed into place, so master.key is always either the old or the new key.
func WriteKeyFile(dataDir string, key Key) error {
	if key.IsZero() {
		return errors.New("write master key: no key")
	}
	path := filepath.Join(dataDir, KeyFileName)
	if err := os.MkdirAll(dataDir, 0o750); err != nil {
		return fmt.Errorf("create data folder %s: %w", dataDir, err)
	}
	old, err := os.ReadFile(path)
	switch {
	case err == nil:
		if err := keepOld(dataDir, old); err != nil {
			return err
		}
	case !errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("write master key: keep the old key: %w", err)
	}
	tmp, err := writeTemp(dataDir, []byte(key.Encode()+"\n"))
	if err != nil {
		return fmt.Errorf("write master key %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("write master key %s: %w", path, err)
	}
	syncDir(dataDir)
	return nil
}

// keepOld writes the old key under a new name that no other file has (O_EXCL, mode 0600).
func keepOld(dataDir string, content []byte) error {
	base := filepath.Join(dataDir, KeyFileName+".old-"+time.Now().UTC().Format("20060102T150405Z"))
	for i := 0; i < 100; i++ {
		name := base
		if i > 0 {
			name += "-" + strconv.Itoa(i)
		}
		f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, os.ErrExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("write master key: keep the old key as %s: %w", name, err)
		}
		if err := writeSync(f, content); err != nil {
			_ = os.Remove(name)
			return fmt.Errorf("write master key: keep the old key as %s: %w", name, err)
		}
		return nil
	}
	return fmt.Errorf("write master key: too many old keys named %s*", base)
}

// writeTemp writes content to a new O_EXCL file with mode 0600 in dir and returns its name.
func writeTemp(dir string, content []byte) (string, error) {
	f, err := os.CreateTemp(dir, ".master.key.tmp-*")
	if err != nil {
		return "", err
	}
	name := f.Name()
	// CreateTemp already uses 0600; Chmod makes it explicit and independent of that detail.
	if err := f.Chmod(0o600); err != nil && runtime.GOOS != "windows" {
		_ = f.Close()
		_ = os.Remove(name)
		return "", err
	}
	if err := writeSync(f, content); err != nil {
		_ = os.Remove(name)
		return "", err
	}
	return name, nil
}

func writeSync(f *os.File, content []byte) error {
	if _, err := f.Write(content); err != nil {
		_ = f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}

// syncDir makes a rename or link durable; failures are ignored because not every platform
// can sync a directory, and the file itself is already synced.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
}
