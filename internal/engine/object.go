package engine

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"

	"github.com/datahub-oss/datahub/connector"
	"github.com/datahub-oss/datahub/internal/format"
)

// objectCopy reports whether the transfer moves one object's bytes as they are: both ends
// are object stores and no record format is asked for (one end only holds objects, as an
// SFTP server does, or neither end names a format the hub reads records in). A copy between
// two CSV files still goes through records, as it always did.
func objectCopy(o Options) bool {
	src, err := connector.Resolve(o.Source.URL)
	if err != nil || !src.CanStore() {
		return false
	}
	dst, err := connector.Resolve(o.Dest.URL)
	if err != nil || !dst.CanStore() {
		return false
	}
	if !src.CanRead() || !dst.CanWrite() {
		return true
	}
	return !hasFormat(o.Source) && !hasFormat(o.Dest)
}

// hasFormat reports whether the endpoint names a record format.
func hasFormat(e connector.Endpoint) bool {
	if e.Format != "" || e.Option("format") != "" {
		return true
	}
	_, name := splitObject(e)
	_, _, ok := format.ByExtension(name)
	return ok
}

// splitObject splits an object's URL into its folder (the URL up to the last '/', query
// kept, so that the store opens with the same options) and the object's name in it. With a
// Root, the store is the root and the name the whole path.
func splitObject(e connector.Endpoint) (connector.Endpoint, string) {
	raw, query, hasQuery := strings.Cut(e.URL, "?")
	folder := e
	if e.Root != "" {
		return folder, raw
	}
	i := strings.LastIndexByte(raw, '/')
	dir, name := ".", raw
	if i >= 0 {
		dir, name = raw[:i+1], raw[i+1:]
	}
	if strings.Contains(raw, "://") || connector.Scheme(raw) == "file" {
		if n, err := url.PathUnescape(name); err == nil {
			name = n
		}
	}
	if hasQuery {
		dir += "?" + query
	}
	folder.URL = dir
	return folder, name
}

// copyObject streams the source object to the destination, hashing it on the way: reads and
// writes go through the stores' own readers and writers (an SFTP store's are pipelined).
func (e *Engine) copyObject(ctx context.Context) error {
	if e.opts.Mode == connector.ModeUpsert {
		return connector.Errorf(connector.CodeUsage, e.opts.Dest.Redacted(), "use --mode append or replace",
			fmt.Errorf("objects have no keys to upsert on"))
	}
	srcFolder, srcName := splitObject(e.opts.Source)
	dstFolder, dstName := splitObject(e.opts.Dest)
	src, closeSrc, err := connector.OpenStore(ctx, srcFolder)
	if err != nil {
		return fmt.Errorf("source: %w", err)
	}
	defer func() { _ = closeSrc() }()
	dst, closeDst, err := connector.OpenStore(ctx, dstFolder)
	if err != nil {
		return fmt.Errorf("destination: %w", err)
	}
	defer func() { _ = closeDst() }()
	r, entry, err := src.Open(ctx, srcName)
	if err != nil {
		return fmt.Errorf("open source object: %w", err)
	}
	defer func() { _ = r.Close() }()
	e.sizeBytes.Store(entry.Size)
	e.sized.Store(true)
	e.fast.Store(true)
	cr := &objectReader{r: r, e: e, size: entry.Size}
	in, wait := pushed(r)
	cr.r = in
	out, err := dst.Put(ctx, dstName, cr)
	wait()
	if err != nil {
		return fmt.Errorf("write destination object: %w", err)
	}
	if out.Size != cr.n {
		return connector.Errorf(connector.CodeData, e.opts.Dest.Redacted(), "",
			fmt.Errorf("%s: %d bytes written of %d read", dstName, out.Size, cr.n))
	}
	e.bytesWritten.Store(e.start.BytesWritten + out.Size)
	e.sha256 = out.SHA256
	return nil
}

// pushed turns a source reader that can push its bytes (io.WriterTo: an SFTP file reads
// ahead with concurrent requests there, while its Read waits for each chunk) into a reader
// fed by a goroutine through a pipe (not a local file, whose reads are direct anyway). wait ends the goroutine once the reader is done with.
func pushed(r io.Reader) (io.Reader, func()) {
	wt, ok := r.(io.WriterTo)
	if _, local := r.(*os.File); !ok || local {
		return r, func() {}
	}
	pr, pw := io.Pipe()
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, err := wt.WriteTo(pw)
		_ = pw.CloseWithError(err)
	}()
	return pr, func() {
		_ = pr.CloseWithError(io.ErrClosedPipe)
		<-done
	}
}

// objectReader counts the bytes read; the destination store hashes them as it writes them
// (Put's entry carries the SHA-256), so they are hashed once, while streaming. Size tells the destination how much is
// coming (an SFTP store sizes its pipeline by it); WriteTo lets the source's reader push, so
// that an SFTP source reads with concurrent requests.
type objectReader struct {
	r    io.Reader
	e    *Engine
	n    int64
	size int64
}

func (o *objectReader) Size() int64 { return o.size }

func (o *objectReader) Read(b []byte) (int, error) {
	n, err := o.r.Read(b)
	o.count(b[:n])
	return n, err
}

func (o *objectReader) count(b []byte) {
	o.n += int64(len(b))
	o.e.bytesRead.Add(int64(len(b)))
}
