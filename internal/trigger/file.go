package trigger

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"path"
	"path/filepath"
	"time"

	"github.com/datahub-oss/datahub/connector"
	"github.com/datahub-oss/datahub/internal/event"
	"github.com/datahub-oss/datahub/internal/runs"
)

// StoreOpener opens the folder of a file trigger's source endpoint: the endpoint's Root when
// the integration names a path in it, else its URL. The returned func closes the store. The
// default is connector.OpenStore: any store registered with the connectors.
type StoreOpener func(ctx context.Context, e connector.Endpoint) (connector.Store, func() error, error)

// checkWatched passes the watched folder (and the trigger's sub-folder in it) through the
// policy: listing and hashing files reads them as much as a run does.
func (s *Scheduler) checkWatched(ctx context.Context, plan *runs.Plan, fs FileSettings) error {
	if s.cfg.Policy == nil {
		return nil
	}
	if err := s.cfg.Policy.CheckEndpoint(ctx, plan.SourceRef.Name, plan.Env, plan.Source); err != nil {
		return err
	}
	dir := plan.Source.Root
	if dir == "" {
		dir = plan.Source.URL
	}
	if sub := fs.Dir(); sub != "" && sub != "." && connector.Scheme(dir) == "" {
		return s.cfg.Policy.CheckEndpoint(ctx, plan.SourceRef.Name, plan.Env, connector.Endpoint{URL: filepath.Join(dir, filepath.FromSlash(sub))})
	}
	return nil
}

// watch is what the polls of one file trigger saw.
type watch struct {
	files   map[string]*fileState
	lastErr string
}

// fileState is a file's size and modification time since the poll that first saw them.
type fileState struct {
	size  int64
	mtime time.Time
	since time.Time
	// handled: this size and time were hashed and claimed (or found claimed).
	handled bool
}

// poll lists the watched folder and fires the files that are new or changed and stable.
func (s *Scheduler) poll(ctx context.Context, name string, fs FileSettings, w *watch) {
	report := func(err error) {
		if msg := err.Error(); msg != w.lastErr && ctx.Err() == nil {
			w.lastErr = msg
			s.log.Warn("file trigger cannot watch its folder", "integration", name, "err", err)
		}
	}
	plan, err := runs.Resolve(ctx, s.cfg.Catalog, nil, name, fs.Env)
	if err != nil {
		report(err)
		return
	}
	if err := s.checkWatched(ctx, plan, fs); err != nil {
		report(err)
		return
	}
	st, closeStore, err := s.cfg.OpenStore(ctx, plan.Source)
	if err != nil {
		report(err)
		return
	}
	defer func() { _ = closeStore() }()
	entries, err := st.List(ctx, fs.Dir())
	if err != nil {
		report(err)
		return
	}
	w.lastErr = ""
	now := s.cfg.Clock.Now()
	pattern := fs.Pattern()
	present := map[string]bool{}
	for _, fe := range entries {
		if fe.IsDir {
			continue
		}
		if ok, _ := path.Match(pattern, path.Base(fe.Path)); !ok {
			continue
		}
		present[fe.Path] = true
		f := w.files[fe.Path]
		if f == nil || f.size != fe.Size || !f.mtime.Equal(fe.ModTime) {
			f = &fileState{size: fe.Size, mtime: fe.ModTime, since: now}
			w.files[fe.Path] = f
		}
		if f.handled || now.Sub(f.since) < fs.StableFor {
			continue
		}
		if ctx.Err() != nil {
			return
		}
		if s.fireFile(ctx, name, fs.Env, st, fe, f) {
			f.handled = true
		}
	}
	for p := range w.files {
		if !present[p] {
			delete(w.files, p)
		}
	}
}

// fireFile hashes a stable file, claims its version and requests a run when the version is
// new. It reports whether the file's current size and time are dealt with.
func (s *Scheduler) fireFile(ctx context.Context, name, env string, st connector.Store, fe connector.Entry, f *fileState) bool {
	v, err := hashFile(ctx, st, fe.Path)
	if err != nil {
		s.log.Warn("file trigger cannot read a file", "integration", name, "path", fe.Path, "err", err)
		return false
	}
	if v.size != fe.Size || !v.mtime.Equal(fe.ModTime) {
		// Written again between the listing and the read: wait for it to settle.
		f.size, f.mtime, f.since = v.size, v.mtime, s.cfg.Clock.Now()
		return false
	}
	isNew, err := claimFile(ctx, s.cfg.DB, name, v, s.cfg.Clock.Now())
	if err != nil {
		if ctx.Err() == nil {
			s.log.Error("file trigger not fired", "integration", name, "path", fe.Path, "err", err)
		}
		return false
	}
	if !isNew {
		return true
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), requestTimeout)
	defer cancel()
	run, err := s.cfg.Requester.Request(rctx, runs.Request{Integration: name, Env: env, Actor: ActorFile, Trigger: runs.TriggerFile, Params: map[string]string{"path": fe.Path}})
	if err != nil {
		s.log.Error("file run not requested, will retry", "integration", name, "path", fe.Path, "err", err)
		if err := unclaimFile(rctx, s.cfg.DB, name, v); err != nil {
			s.log.Error("file trigger", "integration", name, "err", err)
		}
		return false
	}
	s.log.Info("file trigger fired", "integration", name, "env", env, "path", fe.Path, "sha256", v.sha256, "run", run.ID)
	if err := setFileRun(rctx, s.cfg.DB, name, v, run.ID); err != nil {
		s.log.Warn("note the run of a file", "err", err)
	}
	if s.cfg.Publisher != nil {
		ev := event.New(event.ObjectReceived)
		ev.Integration, ev.Env, ev.RunID, ev.Object = name, run.Env, run.ID, fe.Path
		if ev.Env == "" {
			ev.Env = env
		}
		if err := s.cfg.Publisher.Publish(rctx, ev); err != nil {
			s.log.Warn("publish object.received", "integration", name, "path", fe.Path, "err", err)
		}
	}
	return true
}

// hashFile reads a file's content and digest, with its size and time as opened.
func hashFile(ctx context.Context, st connector.Store, p string) (fileVersion, error) {
	r, info, err := st.Open(ctx, p)
	if err != nil {
		return fileVersion{}, err
	}
	defer func() { _ = r.Close() }()
	h := sha256.New()
	n, err := io.Copy(h, r)
	if err != nil {
		return fileVersion{}, fmt.Errorf("read %s: %w", p, err)
	}
	size := info.Size
	if n != size {
		size = n // it grew or shrank while read
	}
	return fileVersion{path: p, size: size, mtime: info.ModTime, sha256: hex.EncodeToString(h.Sum(nil))}, nil
}
