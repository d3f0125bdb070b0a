// Package apptest starts a whole hub in-process for tests that talk to it over HTTP, as the
// command line and the client do: the SQLite store and the embedded NATS server in a
// temporary data folder, the API on a free port of 127.0.0.1, the first admin's token, and
// users with roles made on demand. Starting one takes a fraction of a second, so tests run
// against the real API rather than a hand-written copy of it.
package apptest

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/datahub-oss/datahub/internal/app"
	"github.com/datahub-oss/datahub/internal/auth"
	"github.com/datahub-oss/datahub/internal/config"
	_ "github.com/datahub-oss/datahub/internal/connectors/all" // the hub's connectors, as cmd/datahub has them
)

// FastPasswords are the argon2id parameters of a test hub: the defaults take a good part of a
// second per password on a loaded machine, and tests hash several.
var FastPasswords = auth.Params{Time: 1, Memory: 1024, Threads: 1, SaltLen: 16, KeyLen: 32}

// Hub is a running hub.
type Hub struct {
	*app.Hub
	// URL is the API's base URL (without /api/v1).
	URL string
	// AdminToken is the first admin's token, as `datahub serve` writes it to admin.token.
	AdminToken string
	// Config is the configuration the hub was started with.
	Config config.Config
}

// Start starts a hub with the default configuration, changed by mods, on a fresh data
// folder; it stops when the test ends. It hashes passwords with FastPasswords. Its file endpoints may point into the temporary
// folders and the repository (the examples). Its log is discarded unless DATAHUB_TEST_LOG is
// set.
func Start(t testing.TB, mods ...func(*config.Config)) *Hub {
	t.Helper()
	cfg := config.Default()
	cfg.Data, cfg.Addr = t.TempDir(), "127.0.0.1:0"
	cfg.FileRoots = []string{os.TempDir(), repoRoot(t)}
	for _, m := range mods {
		m(&cfg)
	}
	out := io.Discard
	if os.Getenv("DATAHUB_TEST_LOG") != "" {
		out = os.Stderr
	}
	// The hub outlives the test's own context-free calls: it is stopped by Cleanup only.
	ctx, cancel := context.WithCancel(context.WithoutCancel(t.Context()))
	h, err := app.Start(ctx, cfg, slog.New(slog.NewTextHandler(out, &slog.HandlerOptions{Level: slog.LevelDebug})),
		app.WithAuth(auth.WithParams(FastPasswords)))
	if err != nil {
		cancel()
		t.Fatalf("start the hub: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- h.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("hub: %v", err)
		}
	})
	tok, err := os.ReadFile(filepath.Join(cfg.Data, auth.AdminTokenFile))
	if err != nil {
		t.Fatalf("read the admin token: %v", err)
	}
	return &Hub{Hub: h, URL: "http://" + h.Addr, AdminToken: strings.TrimSpace(string(tok)), Config: cfg}
}

// Roles is a configuration change that gives the hub only these roles (config.RoleAPI, ...).
func Roles(roles ...string) func(*config.Config) {
	return func(c *config.Config) { c.Roles = roles }
}

// User creates a local user with these roles and, when password is not empty, that password,
// and returns an API token of theirs.
func (h *Hub) User(t testing.TB, name, password string, roles ...auth.Role) string {
	t.Helper()
	ctx := context.WithoutCancel(t.Context())
	u, err := h.Auth.CreateUser(ctx, auth.NewUser{Name: name, Password: password, Roles: roles})
	if err != nil {
		t.Fatalf("create user %s: %v", name, err)
	}
	tok, _, err := h.Auth.CreateToken(ctx, &auth.Principal{UserID: u.ID, Name: u.Name, Roles: u.Roles}, auth.NewToken{UserID: u.ID, Name: "test"})
	if err != nil {
		t.Fatalf("create a token for %s: %v", name, err)
	}
	return tok
}

// Recorder is a reverse proxy in front of a hub that notes each request it passes on, for
// tests that check what a client sent (or that it sent nothing).
type Recorder struct {
	// URL is the proxy's base URL, to use instead of the hub's.
	URL string

	mu       sync.Mutex
	requests []string
}

// Record starts a Recorder in front of the hub, stopped when the test ends.
func (h *Hub) Record(t testing.TB) *Recorder {
	t.Helper()
	target, err := url.Parse(h.URL)
	if err != nil {
		t.Fatal(err)
	}
	r := &Recorder{}
	proxy := httputil.NewSingleHostReverseProxy(target)
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.mu.Lock()
		r.requests = append(r.requests, req.Method+" "+req.URL.RequestURI())
		r.mu.Unlock()
		proxy.ServeHTTP(w, req)
	}))
	t.Cleanup(hs.Close)
	r.URL = hs.URL
	return r
}

// Requests returns the requests passed on so far, as "METHOD /path?query".
func (r *Recorder) Requests() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.requests)
}

// repoRoot is the folder of go.mod above the working directory (a test's package folder).
func repoRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for d := dir; ; d = filepath.Dir(d) {
		if b, err := os.ReadFile(filepath.Join(d, "go.mod")); err == nil && bytes.HasPrefix(b, []byte("module ")) {
			return d
		}
		if filepath.Dir(d) == d {
			t.Fatalf("no go.mod above %s", dir)
		}
	}
}

// StartWorker starts a worker of the hub's runs, as the worker role runs one, for a hub
// started without that role: queued runs stay queued until it starts. It stops when the
// returned function is called or the test ends.
func (h *Hub) StartWorker(t testing.TB) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.WithoutCancel(t.Context()))
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := h.NewWorker().Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("worker: %v", err)
		}
	}()
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(stop)
	return stop
}
