package sftp

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"

	pkgsftp "github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"

	"github.com/datahub-oss/datahub/connector"
)

// tmpMarker is in the name of every object being written; List hides them.
const tmpMarker = ".datahub-tmp-"

// Store is a folder on an SFTP server as a connector.Store. Paths are relative to the folder
// of the endpoint's URL and never leave it.
type Store struct {
	ssh      *ssh.Client
	c        *pkgsftp.Client
	root     string
	endpoint string
	posix    bool // the server renames over an existing name (posix-rename@openssh.com)
}

var _ connector.Store = (*Store)(nil)

// Open connects to the endpoint's server and opens its folder as a store.
func Open(ctx context.Context, e connector.Endpoint) (*Store, error) {
	t, err := parseTarget(e)
	if err != nil {
		return nil, err
	}
	sc, err := dial(ctx, e, t)
	if err != nil {
		return nil, err
	}
	c, err := newClient(sc)
	if err != nil {
		_ = sc.Close()
		return nil, connector.Errorf(connector.CodeUnreachable, t.redacted, "the server must offer the sftp subsystem", err)
	}
	_, posix := c.HasExtension("posix-rename@openssh.com")
	return &Store{ssh: sc, c: c, root: path.Clean(t.dir), endpoint: t.redacted, posix: posix}, nil
}

// newClient opens the SFTP session with maxPacket requests when the server announces its
// limits as OpenSSH does (its limits are larger), else with the 32 KiB every server takes.
func newClient(sc *ssh.Client) (*pkgsftp.Client, error) {
	opts := []pkgsftp.ClientOption{pkgsftp.UseConcurrentWrites(true), pkgsftp.UseConcurrentReads(true),
		pkgsftp.MaxConcurrentRequestsPerFile(maxRequests)}
	c, err := pkgsftp.NewClient(sc, append(opts, pkgsftp.MaxPacketUnchecked(maxPacket))...)
	if err != nil {
		return nil, err
	}
	if _, ok := c.HasExtension("limits@openssh.com"); ok {
		return c, nil
	}
	_ = c.Close()
	return pkgsftp.NewClient(sc, opts...)
}

// Close ends the SFTP session and the connection.
func (s *Store) Close() error {
	err := s.c.Close()
	if cerr := s.ssh.Close(); err == nil {
		err = cerr
	}
	return err
}

// abs maps p, relative to the root, to the server's path, refusing paths that leave it.
func (s *Store) abs(p string) (string, error) {
	clean := path.Clean(p)
	if p == "" || clean == "." {
		return s.root, nil
	}
	if path.IsAbs(clean) || clean == ".." || strings.HasPrefix(clean, "../") {
		return "", connector.Errorf(connector.CodeUsage, s.endpoint, "paths are relative to the URL's folder",
			fmt.Errorf("%s: path escapes the configured root", p))
	}
	return path.Join(s.root, clean), nil
}

// fsError classes an error of the server on path p.
func (s *Store) fsError(p string, err error) error {
	var se *pkgsftp.StatusError
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return connector.Errorf(connector.CodeNotFound, s.endpoint, "check the path", fmt.Errorf("%s does not exist", p))
	case errors.Is(err, fs.ErrPermission):
		return connector.Errorf(connector.CodePermission, s.endpoint, "check the file's permissions on the server", fmt.Errorf("%s: permission denied", p))
	case errors.As(err, &se):
		return connector.Errorf(connector.CodeInternal, s.endpoint, "", fmt.Errorf("%s: %w", p, err))
	}
	return connector.Errorf(connector.CodeTransient, s.endpoint, "", fmt.Errorf("%s: %w", p, err))
}

// List returns the entries of folder dir, without objects still being written.
func (s *Store) List(ctx context.Context, dir string) ([]connector.Entry, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	a, err := s.abs(dir)
	if err != nil {
		return nil, err
	}
	infos, err := s.c.ReadDir(a)
	if err != nil {
		return nil, s.fsError(dir, err)
	}
	out := make([]connector.Entry, 0, len(infos))
	for _, fi := range infos {
		if strings.Contains(fi.Name(), tmpMarker) {
			continue
		}
		out = append(out, connector.Entry{Path: path.Join(dir, fi.Name()), Size: fi.Size(), ModTime: fi.ModTime(), IsDir: fi.IsDir()})
	}
	return out, nil
}

// Open opens an object for reading. The reader is an *sftp.File, whose WriteTo (used by
// io.Copy) reads with concurrent requests.
func (s *Store) Open(ctx context.Context, p string) (io.ReadCloser, connector.Entry, error) {
	if err := ctx.Err(); err != nil {
		return nil, connector.Entry{}, err
	}
	a, err := s.abs(p)
	if err != nil {
		return nil, connector.Entry{}, err
	}
	f, err := s.c.Open(a)
	if err != nil {
		return nil, connector.Entry{}, s.fsError(p, err)
	}
	fi, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return nil, connector.Entry{}, s.fsError(p, err)
	}
	if fi.IsDir() {
		_ = f.Close()
		return nil, connector.Entry{}, connector.Errorf(connector.CodeUsage, s.endpoint, "name a file, not a folder", fmt.Errorf("%s is a folder", p))
	}
	return f, connector.Entry{Path: p, Size: fi.Size(), ModTime: fi.ModTime()}, nil
}

// Put writes r to p under a temporary name in the same folder, with concurrent requests,
// and renames it into place, so that p is either the old object or the whole new one. The
// entry carries the SHA-256 of the bytes sent.
func (s *Store) Put(ctx context.Context, p string, r io.Reader) (connector.Entry, error) {
	a, err := s.abs(p)
	if err != nil {
		return connector.Entry{}, err
	}
	if err := s.c.MkdirAll(path.Dir(a)); err != nil {
		return connector.Entry{}, s.fsError(path.Dir(p), err)
	}
	tmp := path.Join(path.Dir(a), "."+path.Base(a)+tmpMarker+randomID())
	f, err := s.c.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL)
	if err != nil {
		return connector.Entry{}, s.fsError(p, err)
	}
	stop := context.AfterFunc(ctx, func() { _ = f.Close() })
	hr := &hashReader{ctx: ctx, r: r, h: sha256.New(), size: -1}
	if sz, ok := sizeOf(r); ok {
		hr.size = sz
	}
	n, err := f.ReadFrom(hr)
	stop()
	if cerr := f.Close(); err == nil && !errors.Is(cerr, os.ErrClosed) {
		err = cerr
	}
	if err == nil {
		err = s.rename(tmp, a)
	}
	if err != nil {
		_ = s.c.Remove(tmp)
		if ctx.Err() != nil {
			return connector.Entry{}, ctx.Err()
		}
		return connector.Entry{}, s.fsError(p, err)
	}
	e := connector.Entry{Path: p, Size: n, SHA256: hex.EncodeToString(hr.h.Sum(nil))}
	if fi, err := s.c.Stat(a); err == nil {
		e.ModTime = fi.ModTime()
	}
	return e, nil
}

// rename moves tmp over name: atomically with posix-rename, else (plain SFTP rename refuses
// an existing target) by removing the old object first.
func (s *Store) rename(tmp, name string) error {
	if s.posix {
		return s.c.PosixRename(tmp, name)
	}
	if err := s.c.Rename(tmp, name); err == nil {
		return nil
	}
	if err := s.c.Remove(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return s.c.Rename(tmp, name)
}

// Remove deletes an object.
func (s *Store) Remove(ctx context.Context, p string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	a, err := s.abs(p)
	if err != nil {
		return err
	}
	if err := s.c.Remove(a); err != nil {
		return s.fsError(p, err)
	}
	return nil
}

func randomID() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// sizeOf is the number of bytes r holds, when it tells.
func sizeOf(r io.Reader) (int64, bool) {
	switch r := r.(type) {
	case interface{ Stat() (os.FileInfo, error) }:
		if fi, err := r.Stat(); err == nil && fi.Mode().IsRegular() {
			return fi.Size(), true
		}
	case interface{ Len() int }:
		return int64(r.Len()), true
	}
	return 0, false
}

// hashReader hashes what is read through it and stops when ctx is cancelled. Its Size
// steers sftp.File.ReadFrom: the size when known, else -1, which still means concurrent
// writes (a reader that says nothing is written one packet per round trip).
type hashReader struct {
	ctx  context.Context //nolint:containedctx // the reader is handed to ReadFrom, which takes no context
	r    io.Reader
	h    hash.Hash
	size int64
}

func (h *hashReader) Size() int64 { return h.size }

func (h *hashReader) Read(b []byte) (int, error) {
	if err := h.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := h.r.Read(b)
	h.h.Write(b[:n])
	return n, err
}
