package file

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/datahub-oss/datahub/connector"
)

// tmpMarker is part of the name of every file written under a temporary name
// (".name.datahub-tmp-<run>"); List hides them and sinks remove stale ones.
const tmpMarker = ".datahub-tmp-"

// Store is a local folder as a connector.Store. A confined store (NewStore) refuses any path
// that leaves its root, lexically (..) or through a symbolic link, and performs every
// operation through an os.Root so that a link swapped in after the check cannot lead out
// either. An unconfined store (Unconfined) takes paths as they are.
type Store struct {
	dir      string   // the root, absolute and clean ("" when unconfined)
	real     string   // the root with symbolic links resolved
	root     *os.Root // nil when unconfined
	endpoint string   // for error messages
}

var _ connector.Store = (*Store)(nil)

// NewStore opens a store confined to the folder dir.
func NewStore(dir string) (*Store, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, connector.Errorf(connector.CodeUsage, dir, "", err)
	}
	real, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return nil, osError(dir, "root folder "+dir, err)
	}
	root, err := os.OpenRoot(real)
	if err != nil {
		return nil, osError(dir, "root folder "+dir, err)
	}
	return &Store{dir: abs, real: real, root: root, endpoint: dir}, nil
}

// Unconfined returns a store that takes paths as given, relative to the working directory.
func Unconfined() *Store { return &Store{} }

// Close releases the root folder.
func (s *Store) Close() error {
	if s.root != nil {
		return s.root.Close()
	}
	return nil
}

// errEscape is the refusal of a path outside the root.
func (s *Store) errEscape(p string) error {
	return connector.Errorf(connector.CodeUsage, s.endpoint, "paths must stay inside "+s.dir,
		fmt.Errorf("%s: path escapes the configured root", p))
}

// rel maps p (relative to the root, or absolute inside it) to a clean path relative to the
// root, refusing paths whose cleaned or symlink-resolved form is outside it. Unconfined stores
// return p unchanged.
func (s *Store) rel(p string) (string, error) {
	if s.root == nil {
		if p == "" {
			return "", connector.Errorf(connector.CodeUsage, s.endpoint, "", fmt.Errorf("empty path"))
		}
		return p, nil
	}
	clean := filepath.Clean(filepath.FromSlash(p))
	r := clean
	if filepath.IsAbs(clean) {
		var ok bool
		if r, ok = inside(s.dir, clean); !ok {
			if r, ok = inside(s.real, clean); !ok {
				return "", s.errEscape(p)
			}
		}
	} else if !filepath.IsLocal(clean) {
		return "", s.errEscape(p)
	}
	resolved, err := resolveExisting(filepath.Join(s.real, r))
	if err != nil {
		return "", osError(s.endpoint, p, err)
	}
	if _, ok := inside(s.real, resolved); !ok {
		return "", s.errEscape(p)
	}
	return r, nil
}

// inside returns p relative to dir when p is dir or below it.
func inside(dir, p string) (string, bool) {
	r, err := filepath.Rel(dir, p)
	if err != nil || !filepath.IsLocal(r) {
		return "", false
	}
	return r, true
}

// resolveExisting resolves the symbolic links of the longest existing prefix of p (the file
// itself may not exist yet) and appends the rest.
func resolveExisting(p string) (string, error) {
	rest := ""
	for {
		r, err := filepath.EvalSymlinks(p)
		if err == nil {
			return filepath.Join(r, rest), nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return "", err
		}
		parent := filepath.Dir(p)
		if parent == p {
			return "", err
		}
		rest = filepath.Join(filepath.Base(p), rest)
		p = parent
	}
}

// osError classes an error of the operating system on path p.
func osError(endpoint, p string, err error) error {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return connector.Errorf(connector.CodeNotFound, endpoint, "check the path", fmt.Errorf("%s does not exist", p))
	case errors.Is(err, fs.ErrPermission):
		return connector.Errorf(connector.CodePermission, endpoint, "check the file's permissions", fmt.Errorf("%s: permission denied", p))
	case strings.Contains(err.Error(), "path escapes"):
		return connector.Errorf(connector.CodeUsage, endpoint, "", fmt.Errorf("%s: path escapes the configured root", p))
	case connector.IsDiskFull(err):
		return connector.DiskFull(endpoint, p, err)
	}
	return connector.Errorf(connector.CodeInternal, endpoint, "", err)
}

// The primitives below take paths already mapped by rel.

func (s *Store) openFile(name string, flag int, perm os.FileMode) (*os.File, error) {
	if s.root == nil {
		return os.OpenFile(name, flag, perm)
	}
	return s.root.OpenFile(name, flag, perm)
}

func (s *Store) stat(name string) (os.FileInfo, error) {
	if s.root == nil {
		return os.Stat(name)
	}
	return s.root.Stat(name)
}

func (s *Store) rename(from, to string) error {
	if s.root == nil {
		return os.Rename(from, to)
	}
	return s.root.Rename(from, to)
}

func (s *Store) remove(name string) error {
	if s.root == nil {
		return os.Remove(name)
	}
	return s.root.Remove(name)
}

func (s *Store) mkdirAll(name string) error {
	if name == "." || name == "" || name == string(filepath.Separator) {
		return nil
	}
	if s.root == nil {
		return os.MkdirAll(name, 0o750)
	}
	return s.root.MkdirAll(name, 0o750)
}

func (s *Store) readDir(name string) ([]fs.DirEntry, error) {
	if s.root == nil {
		return os.ReadDir(name)
	}
	f, err := s.root.Open(name)
	if err != nil {
		return nil, err
	}
	defer func() { _ = f.Close() }()
	return f.ReadDir(-1)
}

// syncDir makes a rename in dir durable.
func (s *Store) syncDir(dir string) error {
	d, err := s.openFile(dir, os.O_RDONLY, 0)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// tmpName is the temporary name a file is written under before it is renamed to name.
func tmpName(name, run string) string {
	dir, base := filepath.Split(name)
	return filepath.Join(dir, "."+base+tmpMarker+run)
}

// randomRun makes a run id for writes that have none.
func randomRun() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// List returns the entries of folder dir, without the temporary and sidecar files of
// unfinished writes.
func (s *Store) List(ctx context.Context, dir string) ([]connector.Entry, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	r, err := s.rel(dir)
	if err != nil {
		return nil, err
	}
	des, err := s.readDir(r)
	if err != nil {
		return nil, osError(s.endpoint, dir, err)
	}
	out := make([]connector.Entry, 0, len(des))
	for _, de := range des {
		if strings.Contains(de.Name(), tmpMarker) || strings.Contains(de.Name(), posMarker) {
			continue
		}
		info, err := de.Info()
		if err != nil {
			continue // removed meanwhile
		}
		out = append(out, connector.Entry{Path: path.Join(filepath.ToSlash(dir), de.Name()), Size: info.Size(),
			ModTime: info.ModTime(), IsDir: info.IsDir()})
	}
	return out, nil
}

// Open opens a file for reading.
func (s *Store) Open(ctx context.Context, p string) (io.ReadCloser, connector.Entry, error) {
	if err := ctx.Err(); err != nil {
		return nil, connector.Entry{}, err
	}
	f, info, err := s.openRead(p)
	if err != nil {
		return nil, connector.Entry{}, err
	}
	return f, connector.Entry{Path: p, Size: info.Size(), ModTime: info.ModTime()}, nil
}

// openRead opens a regular file for reading.
func (s *Store) openRead(p string) (*os.File, os.FileInfo, error) {
	r, err := s.rel(p)
	if err != nil {
		return nil, nil, err
	}
	f, err := s.openFile(r, os.O_RDONLY, 0)
	if err != nil {
		return nil, nil, osError(s.endpoint, p, err)
	}
	info, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return nil, nil, osError(s.endpoint, p, err)
	}
	if info.IsDir() {
		_ = f.Close()
		return nil, nil, connector.Errorf(connector.CodeUsage, s.endpoint, "name a file, not a folder", fmt.Errorf("%s is a folder", p))
	}
	return f, info, nil
}

// Put writes r to p under a temporary name in the same folder, syncs it and renames it into
// place, so that p is either the old file or the whole new one. The entry carries the SHA-256.
func (s *Store) Put(ctx context.Context, p string, r io.Reader) (connector.Entry, error) {
	rp, err := s.rel(p)
	if err != nil {
		return connector.Entry{}, err
	}
	if err := s.mkdirAll(filepath.Dir(rp)); err != nil {
		return connector.Entry{}, osError(s.endpoint, filepath.Dir(p), err)
	}
	tmp := tmpName(rp, randomRun())
	f, err := s.openFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return connector.Entry{}, osError(s.endpoint, p, err)
	}
	h := sha256.New()
	n, err := copyCtx(ctx, io.MultiWriter(f, h), r)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = s.rename(tmp, rp)
	}
	if err != nil {
		_ = s.remove(tmp)
		if ctx.Err() != nil {
			return connector.Entry{}, ctx.Err()
		}
		return connector.Entry{}, osError(s.endpoint, p, err)
	}
	_ = s.syncDir(filepath.Dir(rp))
	info, err := s.stat(rp)
	if err != nil {
		return connector.Entry{}, osError(s.endpoint, p, err)
	}
	return connector.Entry{Path: p, Size: n, ModTime: info.ModTime(), SHA256: hex.EncodeToString(h.Sum(nil))}, nil
}

// Remove deletes a file.
func (s *Store) Remove(ctx context.Context, p string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	r, err := s.rel(p)
	if err != nil {
		return err
	}
	if err := s.remove(r); err != nil {
		return osError(s.endpoint, p, err)
	}
	return nil
}

// copyCtx copies in 1 MiB chunks, stopping when ctx is cancelled.
func copyCtx(ctx context.Context, w io.Writer, r io.Reader) (int64, error) {
	buf := make([]byte, 1<<20)
	var n int64
	for {
		if err := ctx.Err(); err != nil {
			return n, err
		}
		k, err := r.Read(buf)
		if k > 0 {
			if _, werr := w.Write(buf[:k]); werr != nil {
				return n, werr
			}
			n += int64(k)
		}
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}
