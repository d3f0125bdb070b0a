package api

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/datahub-oss/datahub/internal/audit"
	"github.com/datahub-oss/datahub/internal/auth"
	"github.com/datahub-oss/datahub/internal/bus"
	"github.com/datahub-oss/datahub/internal/catalog"
	_ "github.com/datahub-oss/datahub/internal/connectors/all"
	"github.com/datahub-oss/datahub/internal/notify"
	"github.com/datahub-oss/datahub/internal/policy"
	"github.com/datahub-oss/datahub/internal/runs"
	"github.com/datahub-oss/datahub/internal/secret"
	"github.com/datahub-oss/datahub/internal/store"
	"github.com/datahub-oss/datahub/internal/store/storetest"
	"github.com/datahub-oss/datahub/internal/trigger"
	"github.com/datahub-oss/datahub/internal/txlog"
	"github.com/datahub-oss/datahub/internal/worker"
)

// fastParams keep password hashing quick in tests.
var fastParams = auth.Params{Time: 1, Memory: 1024, Threads: 1, SaltLen: 16, KeyLen: 32}

// password is every test user's password.
const password = "correct horse battery"

// syncBuffer collects log output from concurrent goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// hub is a server in miniature: SQLite store, embedded bus, the services, optionally a
// worker, and the API on an httptest server, with one user and token per role.
type hub struct {
	t       *testing.T
	url     string
	srv     *server
	dir     string
	db      *store.DB
	auth    *auth.Service
	catalog *catalog.Service
	secrets *secret.Service
	audit   *audit.Log
	txlog   *txlog.Log
	logs    *syncBuffer
	// tokens and users per role.
	tokens map[auth.Role]string
	users  map[auth.Role]*auth.User
}

// newHub starts a hub; mods may change the API's dependencies, given the hub's URL.
func newHub(t *testing.T, withWorker bool, mods ...func(d *Deps, url string)) *hub {
	t.Helper()
	ctx := context.Background()
	db := storetest.SQLite(t)
	dir := t.TempDir()
	logs := &syncBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))

	al := audit.New(db)
	cat := catalog.New(db, catalog.Options{OnChange: CatalogAuditHook(al)})
	as := auth.New(db, auth.WithParams(fastParams))
	b, err := bus.Open(ctx, bus.Config{DataDir: filepath.Join(dir, "nats"), Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close(context.Background()) })
	key, _, err := secret.LoadMasterKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	ring, err := secret.NewKeyring(key)
	if err != nil {
		t.Fatal(err)
	}
	sec := secret.New(db, ring)
	tl := txlog.New(db)
	rs := &runs.Service{Catalog: cat, Log: tl, Bus: b, Audit: al}
	pol := testPolicy(t, dir, as)
	if withWorker {
		w := &worker.Worker{Bus: b, Catalog: cat, Secrets: sec, Log: tl, DataDir: dir, CancelPoll: 50 * time.Millisecond, Logger: logger, Policy: pol}
		wctx, stop := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { defer close(done); _ = w.Run(wctx) }()
		t.Cleanup(func() { stop(); <-done })
	}
	var handler http.Handler
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { handler.ServeHTTP(w, r) }))
	t.Cleanup(ts.Close)
	d := Deps{Auth: as, Catalog: cat, Runs: rs, Log: tl, Secrets: sec, Audit: al, Ready: b.Ready, Logger: logger, DataDir: dir,
		Notify: notify.New(db, notify.Options{}), Hooks: trigger.NewHooks(db), Policy: pol}
	for _, m := range mods {
		m(&d, ts.URL)
	}
	s, handler := build(d)

	h := &hub{t: t, url: ts.URL, srv: s, dir: dir, db: db, auth: as, catalog: cat, secrets: sec, audit: al, txlog: tl, logs: logs,
		tokens: map[auth.Role]string{}, users: map[auth.Role]*auth.User{}}
	for _, r := range auth.Roles() {
		u, err := as.CreateUser(ctx, auth.NewUser{Name: "u-" + string(r), Password: password, Roles: []auth.Role{r}})
		if err != nil {
			t.Fatal(err)
		}
		tok, _, err := as.CreateToken(ctx, &auth.Principal{UserID: u.ID, Name: u.Name, Roles: u.Roles}, auth.NewToken{UserID: u.ID, Name: "test"})
		if err != nil {
			t.Fatal(err)
		}
		h.tokens[r], h.users[r] = tok, u
	}
	return h
}

// testPolicy is the policy of a test hub with data folder dir: its file roots are the
// temporary folders (where tests keep their files) and the repository (the examples).
func testPolicy(t *testing.T, dir string, users policy.Users) *policy.Policy {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	pol, err := policy.New(policy.Settings{DataDir: dir, FileRoots: []string{os.TempDir(), root}}, users)
	if err != nil {
		t.Fatal(err)
	}
	return pol
}

// response is an answer read whole.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) String() string { return string(r.body) }

// json decodes the body into v.
func (r response) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %d %s: %v", r.status, r.body, err)
	}
}

// errorCode is the contract error code of the body ("" when it is not an error body).
func (r response) errorCode() string {
	var e struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	}
	_ = json.Unmarshal(r.body, &e)
	if e.Message == "" {
		return ""
	}
	return e.Code
}

// do sends a request; body is sent as JSON unless it is a string or []byte (sent as is with
// contentType).
func (h *hub) do(method, path, token string, body any, contentType ...string) response {
	h.t.Helper()
	var rd io.Reader
	ct := ""
	switch b := body.(type) {
	case nil:
	case string:
		rd, ct = strings.NewReader(b), "application/yaml"
	case []byte:
		rd, ct = bytes.NewReader(b), "application/yaml"
	default:
		js, err := json.Marshal(b)
		if err != nil {
			h.t.Fatal(err)
		}
		rd, ct = bytes.NewReader(js), "application/json"
	}
	if len(contentType) > 0 {
		ct = contentType[0]
	}
	req, err := http.NewRequest(method, h.url+path, rd)
	if err != nil {
		h.t.Fatal(err)
	}
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	client := &http.Client{Timeout: time.Minute, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		h.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatal(err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

// must fails the test unless the answer has the status.
func (h *hub) must(status int, r response, what string) response {
	h.t.Helper()
	if r.status != status {
		h.t.Fatalf("%s: status %d, want %d: %s", what, r.status, status, r.body)
	}
	return r
}

func (h *hub) admin() string { return h.tokens[auth.RoleAdmin] }

// opInfo is one registered operation.
type opInfo struct {
	id, method, path string
	perm             auth.Permission
	op               *huma.Operation
}

// operations lists every operation huma knows, whatever registered it, by path and method.
func operations(s *server) []opInfo {
	var out []opInfo
	for p, item := range s.api.OpenAPI().Paths {
		for _, o := range []*huma.Operation{item.Get, item.Put, item.Post, item.Delete, item.Patch, item.Head, item.Options} {
			if o == nil {
				continue
			}
			perm, _ := o.Metadata[metaPermission].(auth.Permission)
			out = append(out, opInfo{id: o.OperationID, method: o.Method, path: p, perm: perm, op: o})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].path != out[j].path {
			return out[i].path < out[j].path
		}
		return out[i].method < out[j].method
	})
	return out
}

// fill replaces path parameters with values (default: names that exist nowhere).
func fill(p string, vals map[string]string) string {
	defaults := map[string]string{"kind": "integration", "name": "nope", "version": "1", "id": "nope", "integration": "nope", "seq": "1"}
	for k, v := range defaults {
		if o, ok := vals[k]; ok {
			v = o
		}
		p = strings.ReplaceAll(p, "{"+k+"}", v)
	}
	return p
}

// quickstart returns the quickstart resources with their relative locations made absolute
// (the CSV in the repository, the SQLite database in a temporary folder).
func quickstart(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	y, err := os.ReadFile(filepath.Join(root, "examples/quickstart/resources.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(t.TempDir(), "q.db")
	res := strings.ReplaceAll(string(y), "url: examples/quickstart/people.csv", "url: "+filepath.Join(root, "examples/quickstart/people.csv"))
	return strings.ReplaceAll(res, "url: sqlite:datahub-data/files/quickstart.db", "url: sqlite:"+db)
}
