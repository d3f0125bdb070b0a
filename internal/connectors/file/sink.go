package file

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/datahub-oss/datahub/connector"
	"github.com/datahub-oss/datahub/internal/format"
)

// sink writes a file: replace mode through a temporary file renamed at Commit, append mode at
// the end of the existing file. In append mode with a run id it is a PositionStore: every
// Flush with a position records the synced size and the position in a sidecar file, so that a
// run killed with SIGKILL resumes exactly (see Open and Flush).
type sink struct {
	*target
	mode      connector.WriteMode
	f         *os.File
	cw        *countWriter
	w         format.Writer
	tmp       string // replace: the temporary file (store path)
	base      int64  // append: the file's size before this run's first byte
	flushed   int64  // append: bytes written and synced by the last Flush
	run       string // append: the run id, "" when the run keeps no sidecar
	side      string // append with a run id: the sidecar (store path)
	saved     connector.Position
	committed bool
	closed    bool
}

var (
	_ connector.Sink          = (*sink)(nil)
	_ connector.PositionStore = (*sink)(nil)
)

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

var unsafeRun = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// Open prepares the file for records of schema s. Files take any value, so the schema is
// returned unchanged.
func (k *sink) Open(ctx context.Context, s connector.Schema, opts connector.SinkOptions) (connector.Schema, error) {
	if err := ctx.Err(); err != nil {
		return connector.Schema{}, err
	}
	red := k.e.Redacted()
	if err := s.Validate(); err != nil {
		return connector.Schema{}, connector.Errorf(connector.CodeSchema, red, "", err)
	}
	k.mode = opts.Mode
	if k.mode == "" {
		k.mode = connector.ModeAppend
	}
	switch {
	case k.mode == connector.ModeUpsert:
		return connector.Schema{}, connector.Errorf(connector.CodeUnsupported, red, "use --mode replace or append",
			fmt.Errorf("files have no keys; use replace or append"))
	case k.mode == connector.ModeAppend && !k.codec.CanAppend:
		return connector.Schema{}, connector.Errorf(connector.CodeUnsupported, red, "",
			fmt.Errorf("cannot append to a %s file; use replace", k.codec.Name))
	}
	if err := k.store.mkdirAll(filepath.Dir(k.rel)); err != nil {
		return connector.Schema{}, osError(red, filepath.Dir(k.path), err)
	}
	o := k.opts
	var err error
	if k.mode == connector.ModeReplace {
		err = k.openReplace(opts.RunID)
	} else {
		err = k.openAppend(s, &o, opts.RunID)
	}
	if err != nil {
		return connector.Schema{}, err
	}
	k.cw = &countWriter{w: k.f}
	if k.w, err = k.codec.NewWriter(k.cw, s, o); err != nil {
		k.discard()
		return connector.Schema{}, connector.Errorf(connector.CodeUsage, red, "", err)
	}
	return s, nil
}

// openReplace creates the temporary file, removing those that earlier runs left behind.
func (k *sink) openReplace(run string) error {
	run = unsafeRun.ReplaceAllString(run, "_")
	if run == "" {
		run = randomRun()
	}
	k.tmp = tmpName(k.rel, run)
	stale := filepath.Base(tmpName(k.rel, ""))
	if des, err := k.store.readDir(filepath.Dir(k.rel)); err == nil {
		for _, de := range des {
			if strings.HasPrefix(de.Name(), stale) && !de.IsDir() {
				_ = k.store.remove(filepath.Join(filepath.Dir(k.rel), de.Name()))
			}
		}
	}
	f, err := k.store.openFile(k.tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return osError(k.e.Redacted(), k.path, err)
	}
	if old, err := k.store.stat(k.rel); err == nil && old.Mode().IsRegular() {
		_ = f.Chmod(old.Mode().Perm()) // the new file keeps the old one's permissions
	}
	k.f = f
	return nil
}

// openAppend opens the file for appending, checking that an existing CSV header names the
// columns being written and that the last record is terminated.
//
// With a run id, a sidecar left by an earlier attempt of the same run (killed, or closed
// without Commit) says how long the file was at that attempt's last Flush: the file is cut
// back to that size, dropping the rows written after it, and SavedPosition returns the
// position recorded with them. A file shorter than that was changed by someone else and is
// refused. Without a sidecar one is written now with the file's current size and no
// position, so that a run killed before its first Flush is undone as well.
func (k *sink) openAppend(s connector.Schema, o *format.Options, run string) error {
	red := k.e.Redacted()
	var prev *sidecar
	if run != "" {
		k.run, k.side = run, sidecarName(k.rel, run)
		var err error
		if prev, err = k.store.readSidecar(red, k.side, run); err != nil {
			return err
		}
	}
	flag := os.O_RDWR | os.O_CREATE
	if prev != nil && prev.Size > 0 {
		flag = os.O_RDWR // the file must still be there
	}
	f, err := k.store.openFile(k.rel, flag, 0o644)
	if err != nil {
		if prev != nil && errors.Is(err, fs.ErrNotExist) {
			return k.shrunk(0, prev.Size)
		}
		return osError(red, k.path, err)
	}
	info, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return osError(red, k.path, err)
	}
	if info.IsDir() {
		_ = f.Close()
		return connector.Errorf(connector.CodeUsage, red, "name a file, not a folder", fmt.Errorf("%s is a folder", k.path))
	}
	size := info.Size()
	if prev != nil {
		if size < prev.Size {
			_ = f.Close()
			return k.shrunk(size, prev.Size)
		}
		if size > prev.Size {
			if err := f.Truncate(prev.Size); err != nil {
				_ = f.Close()
				return k.writeError(err)
			}
			size = prev.Size
		}
		k.saved = prev.Position
	}
	if size > 0 {
		o.Appending = true
		if k.codec.Header != nil && o.Header {
			have, err := k.codec.Header(io.NewSectionReader(f, 0, size), *o)
			if err != nil {
				_ = f.Close()
				return connector.Errorf(connector.CodeInvalidData, red, "", fmt.Errorf("reading the header of %s: %w", k.path, err))
			}
			if want := s.Names(); strings.Join(have, "\x00") != strings.Join(want, "\x00") {
				_ = f.Close()
				return connector.Errorf(connector.CodeSchema, red, "appending needs the same columns in the same order; use --mode replace or another file",
					fmt.Errorf("%s has columns %s, the records have %s", k.path, quoteList(have), quoteList(want)))
			}
		}
		var last [1]byte
		if _, err := f.ReadAt(last[:], size-1); err != nil {
			_ = f.Close()
			return osError(red, k.path, err)
		}
		if last[0] != '\n' {
			if _, err := f.WriteAt([]byte{'\n'}, size); err != nil {
				_ = f.Close()
				return osError(red, k.path, err)
			}
			size++
		}
	}
	if _, err := f.Seek(size, io.SeekStart); err != nil {
		_ = f.Close()
		return osError(red, k.path, err)
	}
	if k.run != "" && (prev == nil || prev.Size != size) {
		if err := k.store.writeSidecar(k.side, sidecar{Size: size, Position: k.saved, RunID: k.run}); err != nil {
			_ = f.Close()
			return k.sidecarError(err)
		}
	}
	k.f, k.base, k.flushed = f, size, size
	return nil
}

// shrunk is the refusal to resume into a file shorter than the run had flushed.
func (k *sink) shrunk(size, want int64) error {
	return connector.Errorf(connector.CodeData, k.e.Redacted(),
		"something else truncated or replaced the file; restore it, or remove "+filepath.Base(k.side)+" and start a new run",
		fmt.Errorf("cannot resume run %s: %s holds %d bytes, fewer than the %d bytes the run had written", k.run, k.path, size, want))
}

func (k *sink) sidecarError(err error) error {
	if connector.IsDiskFull(err) {
		return connector.DiskFull(k.e.Redacted(), k.side, err)
	}
	return connector.Errorf(connector.CodeInternal, k.e.Redacted(), "check the free space and permissions of the folder",
		fmt.Errorf("recording the resume position of %s in %s: %w", k.path, filepath.Base(k.side), err))
}

// SavedPosition returns the source position recorded with the rows an earlier attempt of the
// same run flushed in append mode, or nil (replace mode, no run id, or nothing flushed yet).
func (k *sink) SavedPosition(ctx context.Context) (connector.Position, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return k.saved, nil
}

// quoteList quotes names for a message, each cut to 80 bytes and the whole list to a quarter
// of connector.MaxErrorText: a header line can be megabytes long.
func quoteList(names []string) string {
	var b strings.Builder
	for i, n := range names {
		if b.Len() > connector.MaxErrorText/4 {
			fmt.Fprintf(&b, ", … (%d more)", len(names)-i)
			break
		}
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%q", connector.CapText(n, 80))
	}
	return b.String()
}

func (k *sink) ready() error {
	if k.w == nil || k.closed {
		return connector.Errorf(connector.CodeInternal, k.e.Redacted(), "", fmt.Errorf("sink used before Open or after Close"))
	}
	return nil
}

func (k *sink) writeError(err error) error {
	if connector.IsDiskFull(err) {
		return connector.DiskFull(k.e.Redacted(), k.path, err)
	}
	return connector.Errorf(connector.CodeInternal, k.e.Redacted(), "check the free space and permissions of the folder",
		fmt.Errorf("writing %s: %w", k.path, err))
}

// Write encodes the batch; a file refuses no value, so there are never RecordErrors.
func (k *sink) Write(ctx context.Context, b *connector.Batch) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := k.ready(); err != nil {
		return err
	}
	if err := k.w.Write(b); err != nil {
		return k.writeError(err)
	}
	return nil
}

// Flush makes the rows written so far durable in append mode; replace mode keeps everything in
// the temporary file until Commit.
func (k *sink) Flush(ctx context.Context, pos connector.Position) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := k.ready(); err != nil {
		return err
	}
	if err := k.w.Flush(); err != nil {
		return k.writeError(err)
	}
	if k.mode == connector.ModeReplace {
		return nil
	}
	if err := k.f.Sync(); err != nil {
		return k.writeError(err)
	}
	k.flushed = k.base + k.cw.n
	if pos != nil && k.side != "" {
		// The rows are durable; now record where they end and where the source stands.
		if err := k.store.writeSidecar(k.side, sidecar{Size: k.flushed, Position: pos, RunID: k.run}); err != nil {
			return k.sidecarError(err)
		}
		k.saved = pos
	}
	return nil
}

// Commit finishes the file: syncs it and, in replace mode, renames it over the target.
func (k *sink) Commit(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := k.ready(); err != nil {
		return err
	}
	if k.committed {
		return nil
	}
	err := k.w.Close()
	if err == nil {
		err = k.f.Sync()
	}
	if cerr := k.f.Close(); err == nil {
		err = cerr
	}
	k.f = nil
	if err != nil {
		k.discard()
		return k.writeError(err)
	}
	if k.mode == connector.ModeReplace {
		if err := k.store.rename(k.tmp, k.rel); err != nil {
			k.discard()
			return osError(k.e.Redacted(), k.path, err)
		}
		_ = k.store.syncDir(filepath.Dir(k.rel))
		k.tmp = ""
	}
	k.committed = true
	if k.side != "" {
		// The run is finished: there is nothing left to resume.
		if err := k.store.removeSidecar(k.side); err != nil {
			return osError(k.e.Redacted(), filepath.Join(filepath.Dir(k.path), filepath.Base(k.side)), err)
		}
		k.side = ""
	}
	return nil
}

// discard drops uncommitted work: the temporary file of replace mode, or what append mode
// wrote after the last Flush.
func (k *sink) discard() {
	if k.f != nil {
		if k.mode == connector.ModeAppend && !k.committed {
			_ = k.f.Truncate(k.flushed)
		}
		_ = k.f.Close()
		k.f = nil
	}
	if k.tmp != "" {
		// Should this fail, the next replace of the same file removes the leftover.
		_ = k.store.remove(k.tmp)
		k.tmp = ""
	}
}

// Close discards uncommitted work; calling it twice is harmless.
func (k *sink) Close(ctx context.Context) error {
	if k.closed {
		return nil
	}
	k.closed = true
	k.discard()
	if k.store != nil {
		_ = k.store.Close()
	}
	return nil
}
