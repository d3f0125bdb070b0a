// Package clienttest is an in-memory fake of the hub server's REST API (/api/v1), for tests of
// the client and of the command line without a real server. It follows the API contract
// closely enough to exercise every client call: authentication (401) and a read-only role
// (403), the error body {code, message, details}, validation details with document numbers,
// pagination with cursors, runs that advance from queued to a final status as they are
// polled, and an audit entry for every write.
//
// It is deliberately small: resources are checked for their apiVersion, kind, name and
// references only, and runs do nothing but change status.
package clienttest

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/datahub-oss/datahub/internal/client"
	"github.com/datahub-oss/datahub/internal/runstatus"
)

// Tokens the fake accepts.
const (
	// AdminToken may do everything.
	AdminToken = "dht_fakeAdminTokenValue0123456789abcdefghijkl"
	// ViewerToken may only read and manage its own tokens: other writes answer 403.
	ViewerToken = "dht_fakeViewerTokenValue0123456789abcdefghijk"
)

// Server is a fake hub server. Its fields may be set before the first request.
type Server struct {
	// URL is the server's base URL (without /api/v1).
	URL string

	// Steps is how many reads of a run it takes to finish it (2 when 0): queued, running, end.
	Steps int
	// Finish sets a finishing run's outcome; by default it succeeds with 10 rows.
	Finish func(r *client.Run)
	// AuditBrokenAt makes verification report the chain broken at this seq (0: intact).
	AuditBrokenAt int64

	mu        sync.Mutex
	principal map[string]client.Principal // by token
	resources map[string][]version        // by Kind/name, oldest first
	runs      []*fakeRun                  // oldest first
	secrets   map[string]secretRec
	users     map[string]*userRec
	tokens    []*tokenRec
	audit     []client.AuditEntry
	requests  []string
	seq       int
}

type version struct {
	n       int
	change  string
	doc     map[string]any // nil for a deletion
	digest  string
	at      time.Time
	by      string
	deleted bool
}

type fakeRun struct {
	client.Run
	reads int
}

type secretRec struct {
	value     string
	updatedAt time.Time
}

type userRec struct {
	client.User
	password string
}

type tokenRec struct {
	client.Token
	value     string
	expiresIn string
}

// New starts a fake server, stopped when the test ends.
func New(t testing.TB) *Server {
	s := &Server{
		principal: map[string]client.Principal{
			AdminToken:  {UserID: "u-admin", Name: "admin", Roles: []string{"admin"}, Via: "token"},
			ViewerToken: {UserID: "u-viewer", Name: "viewer", Roles: []string{"viewer"}, Via: "token"},
		},
		resources: map[string][]version{},
		secrets:   map[string]secretRec{},
		users: map[string]*userRec{
			"admin":  {User: client.User{ID: "u-admin", Name: "admin", Roles: []string{"admin"}, Source: "local"}},
			"viewer": {User: client.User{ID: "u-viewer", Name: "viewer", Roles: []string{"viewer"}, Source: "local"}},
		},
	}
	hs := httptest.NewServer(s.handler())
	t.Cleanup(hs.Close)
	s.URL = hs.URL
	return s
}

// Requests returns the calls received so far as "METHOD /path?query".
func (s *Server) Requests() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

// SecretValue returns a stored secret's value (which the API itself never returns).
func (s *Server) SecretValue(name string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.secrets[name]
	return v.value, ok
}

// TokenExpiresIn returns the expires_in a token was created with.
func (s *Server) TokenExpiresIn(id string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, t := range s.tokens {
		if t.ID == id {
			return t.expiresIn
		}
	}
	return ""
}

// AddRun records a run as it is, for listing tests.
func (s *Server) AddRun(r client.Run) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.runs = append(s.runs, &fakeRun{Run: r})
}

// apiError is the contract's error body.
type apiError struct {
	status  int
	Code    string `json:"code"`
	Message string `json:"message"`
	Details any    `json:"details,omitempty"`
}

func (e *apiError) Error() string { return e.Message }

func fail(status int, code, format string, args ...any) *apiError {
	return &apiError{status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

func notFound(format string, args ...any) *apiError {
	return fail(http.StatusNotFound, client.CodeNotFound, format, args...)
}

func invalid(format string, args ...any) *apiError {
	return fail(http.StatusUnprocessableEntity, client.CodeInvalid, format, args...)
}

// call is one authenticated request.
type call struct {
	w    http.ResponseWriter
	r    *http.Request
	who  client.Principal
	body []byte
}

func (c *call) decode(v any) error {
	if err := json.Unmarshal(c.body, v); err != nil {
		return invalid("request body: %v", err)
	}
	return nil
}

type handlerFunc func(c *call) (status int, out any, err error)

func (s *Server) handler() http.Handler {
	mux := http.NewServeMux()
	// write marks what only the admin may do; everyone may read and manage their own tokens.
	route := func(pattern string, write bool, h handlerFunc) {
		mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			s.serve(w, r, write, pattern == "POST /api/v1/auth/login", h)
		})
	}
	route("POST /api/v1/auth/login", true, s.login)
	route("GET /api/v1/me", false, func(c *call) (int, any, error) { return 200, c.who, nil })
	route("POST /api/v1/apply", true, s.apply)
	route("GET /api/v1/resources/{kind}", false, s.listResources)
	route("GET /api/v1/resources/{kind}/{name}", false, s.getResource)
	route("DELETE /api/v1/resources/{kind}/{name}", true, s.deleteResource)
	route("GET /api/v1/resources/{kind}/{name}/history", false, s.history)
	route("GET /api/v1/resources/{kind}/{name}/versions/{version}", false, s.version)
	route("GET /api/v1/resources/{kind}/{name}/diff", false, s.diff)
	route("GET /api/v1/export", false, s.export)
	route("POST /api/v1/integrations/{name}/runs", true, s.requestRun)
	route("GET /api/v1/runs", false, s.listRuns)
	route("GET /api/v1/runs/{id}", false, s.getRun)
	route("POST /api/v1/runs/{id}/cancel", true, s.cancelRun)
	route("POST /api/v1/runs/{id}/resume", true, s.resumeRun)
	route("GET /api/v1/runs/{id}/rejects", false, s.rejects)
	route("GET /api/v1/secrets", false, s.listSecrets)
	route("PUT /api/v1/secrets/{name}", true, s.putSecret)
	route("DELETE /api/v1/secrets/{name}", true, s.deleteSecret)
	route("GET /api/v1/users", false, s.listUsers)
	route("POST /api/v1/users", true, s.createUser)
	route("PUT /api/v1/users/{name}/roles", true, s.setRoles)
	route("POST /api/v1/tokens", false, s.createToken)
	route("GET /api/v1/tokens", false, s.listTokens)
	route("DELETE /api/v1/tokens/{id}", false, s.revokeToken)
	route("GET /api/v1/audit", false, s.listAudit)
	route("GET /api/v1/audit/verify", false, s.verifyAudit)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, notFound("no route %s %s", r.Method, r.URL.Path))
	})
	return mux
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request, write, public bool, h handlerFunc) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 16<<20))
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = append(s.requests, r.Method+" "+r.URL.RequestURI())
	c := &call{w: w, r: r, body: body}
	if !public {
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		who, known := s.principal[tok]
		if !ok || !known {
			writeJSON(w, http.StatusUnauthorized, fail(http.StatusUnauthorized, client.CodeUnauthenticated, "missing or invalid token"))
			return
		}
		if write && !slices.Contains(who.Roles, "admin") {
			writeJSON(w, http.StatusForbidden, fail(http.StatusForbidden, client.CodeForbidden, "%s needs a role that may write", r.URL.Path))
			return
		}
		c.who = who
	}
	status, out, err := h(c)
	var ae *apiError
	switch {
	case errors.As(err, &ae):
		writeJSON(w, ae.status, ae)
	case err != nil:
		writeJSON(w, http.StatusInternalServerError, fail(500, client.CodeInternal, "%v", err))
	case out == nil:
		w.WriteHeader(status)
	default:
		if b, ok := out.([]byte); ok {
			w.WriteHeader(status)
			_, _ = w.Write(b)
			return
		}
		writeJSON(w, status, out)
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (s *Server) record(actor, action, kind, name string) {
	s.audit = append(s.audit, client.AuditEntry{
		Seq: int64(len(s.audit) + 1), At: time.Now().UTC(), Actor: actor, Action: action,
		TargetKind: kind, TargetName: name, Remote: "127.0.0.1",
	})
}

func (s *Server) next(prefix string) string {
	s.seq++
	return fmt.Sprintf("%s-%04d", prefix, s.seq)
}

// ---- resources ----

var kinds = []string{"System", "Endpoint", "Integration"}

func parseKind(k string) (string, error) {
	l := strings.ToLower(k)
	for _, kind := range kinds {
		if kl := strings.ToLower(kind); l == kl || l == kl+"s" {
			return kind, nil
		}
	}
	return "", notFound("unknown kind %q (want one of %s)", k, strings.Join(kinds, ", "))
}

func (s *Server) live(kind, name string) (version, bool) {
	vs := s.resources[kind+"/"+name]
	if len(vs) == 0 || vs[len(vs)-1].deleted {
		return version{}, false
	}
	return vs[len(vs)-1], true
}

func str(m map[string]any, path ...string) string {
	var cur any = m
	for _, p := range path {
		mm, ok := cur.(map[string]any)
		if !ok {
			return ""
		}
		cur = mm[p]
	}
	v, _ := cur.(string)
	return v
}

func digestOf(doc map[string]any) string {
	b, _ := json.Marshal(doc)
	return fmt.Sprintf("%x", b)[:16] + strconv.Itoa(len(b))
}

func readDocuments(c *call) ([]map[string]any, error) {
	ct := c.r.Header.Get("Content-Type")
	var docs []map[string]any
	if strings.Contains(ct, "yaml") {
		dec := yaml.NewDecoder(bytes.NewReader(c.body))
		for {
			var d map[string]any
			err := dec.Decode(&d)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return nil, invalid("not valid YAML: %v", err)
			}
			if d != nil {
				docs = append(docs, d)
			}
		}
		// Through JSON, so that YAML and JSON documents compare equal.
		b, _ := json.Marshal(docs)
		docs = nil
		_ = json.Unmarshal(b, &docs)
		return docs, nil
	}
	var body struct {
		Documents []map[string]any `json:"documents"`
	}
	if err := c.decode(&body); err != nil {
		return nil, err
	}
	return body.Documents, nil
}

func (s *Server) apply(c *call) (int, any, error) {
	docs, err := readDocuments(c)
	if err != nil {
		return 0, nil, err
	}
	type fieldError struct {
		Document int    `json:"document"`
		Kind     string `json:"kind,omitempty"`
		Name     string `json:"name,omitempty"`
		Field    string `json:"field"`
		Message  string `json:"message"`
	}
	var errs []fieldError
	batch := map[string]bool{}
	for _, d := range docs {
		batch[str(d, "kind")+"/"+str(d, "metadata", "name")] = true
	}
	exists := func(kind, name string) bool {
		_, ok := s.live(kind, name)
		return ok || batch[kind+"/"+name]
	}
	for i, d := range docs {
		kind, name := str(d, "kind"), str(d, "metadata", "name")
		bad := func(field, format string, args ...any) {
			errs = append(errs, fieldError{Document: i + 1, Kind: kind, Name: name, Field: field, Message: fmt.Sprintf(format, args...)})
		}
		if str(d, "apiVersion") != "datahub/v1" {
			bad("apiVersion", "want datahub/v1")
		}
		if !slices.Contains(kinds, kind) {
			bad("kind", "%q is not one of %s", kind, strings.Join(kinds, ", "))
		}
		if name == "" {
			bad("metadata.name", "missing")
		}
		switch kind {
		case "Endpoint":
			if sys := str(d, "spec", "system"); !exists("System", sys) {
				bad("spec.system", "System %q does not exist", sys)
			}
		case "Integration":
			for _, side := range []string{"source", "destination"} {
				if ep := str(d, "spec", side, "endpoint"); !exists("Endpoint", ep) {
					bad("spec."+side+".endpoint", "Endpoint %q does not exist", ep)
				}
			}
		}
	}
	if len(errs) > 0 {
		e := invalid("%d document(s) are invalid; nothing was applied", len(errs))
		e.Details = map[string]any{"errors": errs}
		return 0, nil, e
	}
	dry := c.r.URL.Query().Get("dry_run") == "true"
	changes := []client.Change{}
	for _, d := range docs {
		kind, name := str(d, "kind"), str(d, "metadata", "name")
		key := kind + "/" + name
		vs := s.resources[key]
		digest := digestOf(d)
		ch := client.Change{Kind: kind, Name: name, AfterDigest: digest}
		cur, ok := s.live(kind, name)
		switch {
		case ok && cur.digest == digest:
			ch.Action, ch.Version, ch.BeforeDigest = "unchanged", cur.n, cur.digest
		case ok:
			ch.Action, ch.Version, ch.BeforeDigest = "updated", len(vs)+1, cur.digest
		default:
			ch.Action, ch.Version = "created", len(vs)+1
		}
		if !dry && ch.Action != "unchanged" {
			s.resources[key] = append(vs, version{n: ch.Version, change: ch.Action, doc: d, digest: digest, at: time.Now().UTC(), by: c.who.Name})
			s.record(c.who.Name, "resource.apply", kind, name)
		}
		changes = append(changes, ch)
	}
	return 200, map[string]any{"changes": changes}, nil
}

func withStatus(v version) map[string]any {
	out := map[string]any{}
	for k, x := range v.doc {
		out[k] = x
	}
	out["status"] = client.ResourceStatus{Version: v.n, Digest: v.digest, UpdatedAt: v.at, UpdatedBy: v.by}
	return out
}

// pageOf cuts a list sorted by key at the cursor (the last key of the previous page).
func pageOf[T any](c *call, items []T, key func(T) string) (map[string]any, error) {
	limit := 50
	if l := c.r.URL.Query().Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 {
			return nil, fail(http.StatusBadRequest, client.CodeInvalid, "limit %q: want a positive number", l)
		}
		limit = min(n, 1000)
	}
	if cur := c.r.URL.Query().Get("cursor"); cur != "" {
		i := slices.IndexFunc(items, func(t T) bool { return key(t) == cur })
		if i < 0 {
			return nil, fail(http.StatusBadRequest, client.CodeInvalid, "invalid cursor %q", cur)
		}
		items = items[i+1:]
	}
	next := ""
	if len(items) > limit {
		items = items[:limit]
		next = key(items[limit-1])
	}
	return map[string]any{"items": items, "next": next}, nil
}

func (s *Server) listResources(c *call) (int, any, error) {
	kind, err := parseKind(c.r.PathValue("kind"))
	if err != nil {
		return 0, nil, err
	}
	var items []map[string]any
	label := c.r.URL.Query().Get("label")
	lk, lv, _ := strings.Cut(label, "=")
	var keys []string
	for k := range s.resources {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		kk, name, _ := strings.Cut(k, "/")
		v, ok := s.live(kk, name)
		if kk != kind || !ok {
			continue
		}
		if label != "" && str(v.doc, "metadata", "labels", lk) != lv {
			continue
		}
		items = append(items, withStatus(v))
	}
	out, err := pageOf(c, items, func(d map[string]any) string { return str(d, "metadata", "name") })
	return 200, out, err
}

func (s *Server) found(c *call) (string, string, version, error) {
	kind, err := parseKind(c.r.PathValue("kind"))
	if err != nil {
		return "", "", version{}, err
	}
	name := c.r.PathValue("name")
	v, ok := s.live(kind, name)
	if !ok {
		return kind, name, v, notFound("%s %q not found", kind, name)
	}
	return kind, name, v, nil
}

func (s *Server) getResource(c *call) (int, any, error) {
	_, _, v, err := s.found(c)
	if err != nil {
		return 0, nil, err
	}
	return 200, withStatus(v), nil
}

func (s *Server) deleteResource(c *call) (int, any, error) {
	kind, name, v, err := s.found(c)
	if err != nil {
		return 0, nil, err
	}
	key := kind + "/" + name
	n := len(s.resources[key]) + 1
	s.resources[key] = append(s.resources[key], version{n: n, change: "deleted", doc: v.doc, at: time.Now().UTC(), by: c.who.Name, deleted: true})
	s.record(c.who.Name, "resource.delete", kind, name)
	return 200, client.Change{Kind: kind, Name: name, Action: "deleted", Version: n, BeforeDigest: v.digest}, nil
}

func (s *Server) versions(c *call) (string, string, []version, error) {
	kind, err := parseKind(c.r.PathValue("kind"))
	if err != nil {
		return "", "", nil, err
	}
	name := c.r.PathValue("name")
	vs := s.resources[kind+"/"+name]
	if len(vs) == 0 {
		return kind, name, nil, notFound("%s %q not found", kind, name)
	}
	return kind, name, vs, nil
}

func (s *Server) history(c *call) (int, any, error) {
	_, _, vs, err := s.versions(c)
	if err != nil {
		return 0, nil, err
	}
	items := make([]client.Revision, len(vs))
	for i, v := range vs {
		items[i] = client.Revision{Version: v.n, Change: v.change, Digest: v.digest, CreatedAt: v.at, CreatedBy: v.by}
	}
	out, err := pageOf(c, items, func(r client.Revision) string { return strconv.Itoa(r.Version) })
	return 200, out, err
}

func (s *Server) nth(c *call, vs []version, param string) (version, error) {
	raw := c.r.PathValue(param)
	if raw == "" {
		raw = c.r.URL.Query().Get(param)
	}
	n, err := strconv.Atoi(raw)
	if err != nil || n < 1 || n > len(vs) {
		return version{}, notFound("version %q not found", raw)
	}
	return vs[n-1], nil
}

func (s *Server) version(c *call) (int, any, error) {
	_, _, vs, err := s.versions(c)
	if err != nil {
		return 0, nil, err
	}
	v, err := s.nth(c, vs, "version")
	if err != nil {
		return 0, nil, err
	}
	return 200, withStatus(v), nil
}

func (s *Server) diff(c *call) (int, any, error) {
	kind, name, vs, err := s.versions(c)
	if err != nil {
		return 0, nil, err
	}
	// As the contract's server: to defaults to the latest version, from to the one before.
	q := c.r.URL.Query()
	if q.Get("to") == "" {
		q.Set("to", strconv.Itoa(len(vs)))
	}
	if q.Get("from") == "" {
		to, _ := strconv.Atoi(q.Get("to"))
		q.Set("from", strconv.Itoa(to-1))
	}
	c.r.URL.RawQuery = q.Encode()
	a, err := s.nth(c, vs, "from")
	if err != nil {
		return 0, nil, err
	}
	b, err := s.nth(c, vs, "to")
	if err != nil {
		return 0, nil, err
	}
	al, bl := lines(a.doc), lines(b.doc)
	if slices.Equal(al, bl) {
		return 200, map[string]string{"diff": ""}, nil
	}
	var d strings.Builder
	fmt.Fprintf(&d, "--- a/%s/%s\n+++ b/%s/%s\n", kind, name, kind, name)
	for _, l := range al {
		if !slices.Contains(bl, l) {
			d.WriteString("-" + l + "\n")
		}
	}
	for _, l := range bl {
		if !slices.Contains(al, l) {
			d.WriteString("+" + l + "\n")
		}
	}
	return 200, map[string]string{"diff": d.String()}, nil
}

func lines(doc map[string]any) []string {
	b, _ := yaml.Marshal(doc)
	return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
}

func (s *Server) export(c *call) (int, any, error) {
	var b bytes.Buffer
	for _, kind := range kinds {
		var names []string
		for k := range s.resources {
			if kk, name, _ := strings.Cut(k, "/"); kk == kind {
				if _, ok := s.live(kind, name); ok {
					names = append(names, name)
				}
			}
		}
		sort.Strings(names)
		for _, n := range names {
			v, _ := s.live(kind, n)
			y, err := yaml.Marshal(v.doc)
			if err != nil {
				return 0, nil, err
			}
			b.WriteString("---\n")
			b.Write(y)
		}
	}
	c.w.Header().Set("Content-Type", "application/yaml")
	return 200, b.Bytes(), nil
}

// ---- runs ----

func (s *Server) findRun(id string) (*fakeRun, error) {
	for _, r := range s.runs {
		if r.ID == id {
			return r, nil
		}
	}
	return nil, notFound("no such run %q", id)
}

func (s *Server) finish(r *fakeRun) {
	now := time.Now().UTC()
	r.Status, r.FinishedAt, r.DurationMS, r.Attempts = runstatus.Succeeded, &now, 1500, 1
	r.RowsRead, r.RowsWritten, r.BytesRead, r.BytesWritten, r.RowsPerSecond = 10, 10, 400, 380, 6.6
	if s.Finish != nil {
		s.Finish(&r.Run)
	}
}

// advance moves a run one step on as it is read: queued, running, then its end.
func (s *Server) advance(r *fakeRun) {
	if r.Final() || r.Status == runstatus.CancelRequested {
		return
	}
	r.reads++
	steps := s.Steps
	if steps <= 0 {
		steps = 2
	}
	switch {
	case r.reads >= steps:
		s.finish(r)
	case r.reads >= 1:
		r.Status = runstatus.Running
	}
}

func (s *Server) requestRun(c *call) (int, any, error) {
	name := c.r.PathValue("name")
	v, ok := s.live("Integration", name)
	if !ok {
		return 0, nil, notFound("Integration %q not found", name)
	}
	var body struct {
		Env string `json:"env"`
	}
	if err := c.decode(&body); err != nil {
		return 0, nil, err
	}
	if !slices.Contains([]string{"DEV", "SIT", "UAT", "MPE", "PROD"}, body.Env) {
		e := invalid("env %q is not one of DEV, SIT, UAT, MPE, PROD", body.Env)
		e.Details = map[string]any{"errors": []map[string]any{{"field": "env", "message": "not an environment"}}}
		return 0, nil, e
	}
	r := &fakeRun{Run: client.Run{
		ID: s.next("run"), Kind: "integration", Integration: name, Env: body.Env, Status: runstatus.Queued,
		RequestedBy: c.who.Name, Source: str(v.doc, "spec", "source", "endpoint"),
		Destination: str(v.doc, "spec", "destination", "endpoint"), Mode: str(v.doc, "spec", "destination", "mode"),
		StartedAt: time.Now().UTC(), RejectsPath: "",
	}}
	s.runs = append(s.runs, r)
	s.record(c.who.Name, "run.request", "Integration", name)
	if c.r.URL.Query().Get("wait") == "true" {
		s.finish(r)
		return 200, r.Run, nil
	}
	return http.StatusAccepted, r.Run, nil
}

func (s *Server) getRun(c *call) (int, any, error) {
	r, err := s.findRun(c.r.PathValue("id"))
	if err != nil {
		return 0, nil, err
	}
	s.advance(r)
	return 200, r.Run, nil
}

func (s *Server) listRuns(c *call) (int, any, error) {
	q := c.r.URL.Query()
	var items []client.Run
	for i := len(s.runs) - 1; i >= 0; i-- {
		r := s.runs[i].Run
		if (q.Get("status") == "" || string(r.Status) == q.Get("status")) && (q.Get("integration") == "" || r.Integration == q.Get("integration")) {
			items = append(items, r)
		}
	}
	if items == nil {
		items = []client.Run{}
	}
	out, err := pageOf(c, items, func(r client.Run) string { return r.ID })
	return 200, out, err
}

func (s *Server) cancelRun(c *call) (int, any, error) {
	r, err := s.findRun(c.r.PathValue("id"))
	if err != nil {
		return 0, nil, err
	}
	if r.Final() {
		return 0, nil, fail(http.StatusConflict, client.CodeConflict, "run %s already ended (%s)", r.ID, r.Status)
	}
	r.Status = runstatus.Canceled
	s.record(c.who.Name, "run.cancel", "Run", r.ID)
	return 200, r.Run, nil
}

// resumeRun queues a failed or cancelled run with a checkpoint again, as the server does (422
// for the others); reading it then moves it on to its end.
func (s *Server) resumeRun(c *call) (int, any, error) {
	r, err := s.findRun(c.r.PathValue("id"))
	if err != nil {
		return 0, nil, err
	}
	switch {
	case !r.Status.Resumable():
		return 0, nil, fail(http.StatusUnprocessableEntity, client.CodeInvalid, "run %s is %s: only a failed or cancelled run can be resumed", r.ID, r.Status)
	case !r.HasCheckpoint:
		return 0, nil, fail(http.StatusUnprocessableEntity, client.CodeInvalid, "run %s has no checkpoint to resume from", r.ID)
	}
	r.Status, r.FinishedAt, r.Error, r.reads = runstatus.Queued, nil, "", 0
	s.record(c.who.Name, "run.resume", "Run", r.ID)
	return http.StatusAccepted, r.Run, nil
}

func (s *Server) rejects(c *call) (int, any, error) {
	r, err := s.findRun(c.r.PathValue("id"))
	if err != nil {
		return 0, nil, err
	}
	var b bytes.Buffer
	for i := range r.RowsRejected {
		fmt.Fprintf(&b, `{"line":%d,"error":"bad value"}`+"\n", i+2)
	}
	c.w.Header().Set("Content-Type", "application/x-ndjson")
	return 200, b.Bytes(), nil
}

// ---- secrets, users, tokens ----

// listSecrets answers a bare array, unlike the other lists, so that the client's reading of
// unpaged lists is exercised too.
func (s *Server) listSecrets(*call) (int, any, error) {
	out := []client.Secret{}
	for name, v := range s.secrets {
		out = append(out, client.Secret{Name: name, UpdatedAt: v.updatedAt})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return 200, out, nil
}

func (s *Server) putSecret(c *call) (int, any, error) {
	var body struct {
		Value string `json:"value"`
	}
	if err := c.decode(&body); err != nil {
		return 0, nil, err
	}
	if body.Value == "" {
		return 0, nil, invalid("value: empty")
	}
	name := c.r.PathValue("name")
	now := time.Now().UTC()
	s.secrets[name] = secretRec{value: body.Value, updatedAt: now}
	s.record(c.who.Name, "secret.put", "Secret", name)
	return 200, map[string]any{"name": name, "updated_at": now}, nil
}

func (s *Server) deleteSecret(c *call) (int, any, error) {
	name := c.r.PathValue("name")
	if _, ok := s.secrets[name]; !ok {
		return 0, nil, notFound("no secret %q", name)
	}
	delete(s.secrets, name)
	s.record(c.who.Name, "secret.delete", "Secret", name)
	return http.StatusNoContent, nil, nil
}

var roles = []string{"admin", "integrator", "operator", "approver", "endpoint-owner", "viewer"}

func checkRoles(rs []string) error {
	for _, r := range rs {
		if !slices.Contains(roles, r) {
			return invalid("role %q is not one of %s", r, strings.Join(roles, ", "))
		}
	}
	return nil
}

func (s *Server) listUsers(c *call) (int, any, error) {
	var items []client.User
	for _, u := range s.users {
		items = append(items, u.User)
	}
	sort.Slice(items, func(i, j int) bool { return items[i].Name < items[j].Name })
	out, err := pageOf(c, items, func(u client.User) string { return u.Name })
	return 200, out, err
}

func (s *Server) createUser(c *call) (int, any, error) {
	var nu client.NewUser
	if err := c.decode(&nu); err != nil {
		return 0, nil, err
	}
	if nu.Name == "" {
		return 0, nil, invalid("name: missing")
	}
	if _, dup := s.users[nu.Name]; dup {
		return 0, nil, fail(http.StatusConflict, client.CodeConflict, "user %q exists", nu.Name)
	}
	if err := checkRoles(nu.Roles); err != nil {
		return 0, nil, err
	}
	u := &userRec{User: client.User{ID: s.next("u"), Name: nu.Name, Roles: nu.Roles, Source: "local",
		HasPassword: nu.Password != "", Email: nu.Email, CreatedAt: time.Now().UTC()}, password: nu.Password}
	s.users[nu.Name] = u
	s.record(c.who.Name, "user.create", "User", nu.Name)
	return http.StatusCreated, u.User, nil
}

func (s *Server) setRoles(c *call) (int, any, error) {
	u, ok := s.users[c.r.PathValue("name")]
	if !ok {
		return 0, nil, notFound("no user %q", c.r.PathValue("name"))
	}
	var body struct {
		Roles []string `json:"roles"`
	}
	if err := c.decode(&body); err != nil {
		return 0, nil, err
	}
	if err := checkRoles(body.Roles); err != nil {
		return 0, nil, err
	}
	u.Roles = body.Roles
	s.record(c.who.Name, "role.change", "User", u.Name)
	return 200, u.User, nil
}

func newTokenValue() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return "dht_" + hex.EncodeToString(b)
}

func (s *Server) login(c *call) (int, any, error) {
	var body struct {
		Username string `json:"username"`
		Password string `json:"password"`
	}
	if err := c.decode(&body); err != nil {
		return 0, nil, err
	}
	u, ok := s.users[body.Username]
	if !ok || u.password == "" || u.password != body.Password {
		s.record(body.Username, "auth.login.failed", "User", body.Username)
		return 0, nil, fail(http.StatusUnauthorized, client.CodeUnauthenticated, "wrong user name or password")
	}
	tok := newTokenValue()
	s.principal[tok] = client.Principal{UserID: u.ID, Name: u.Name, Roles: u.Roles, Via: "password"}
	exp := time.Now().Add(12 * time.Hour).UTC()
	s.record(u.Name, "auth.login", "User", u.Name)
	return 200, map[string]any{"token": tok, "expires_at": exp, "user": u.User}, nil
}

func (s *Server) createToken(c *call) (int, any, error) {
	var nt client.NewToken
	if err := c.decode(&nt); err != nil {
		return 0, nil, err
	}
	if nt.Name == "" {
		return 0, nil, invalid("name: missing")
	}
	owner := c.who
	if nt.User != "" && nt.User != c.who.Name {
		if !slices.Contains(c.who.Roles, "admin") {
			return 0, nil, fail(http.StatusForbidden, client.CodeForbidden, "tokens of other users need tokens.manage")
		}
		u, ok := s.users[nt.User]
		if !ok {
			return 0, nil, notFound("no user %q", nt.User)
		}
		owner = client.Principal{UserID: u.ID, Name: u.Name, Roles: u.Roles, Via: "token"}
	}
	ttl := 90 * 24 * time.Hour
	if nt.ExpiresIn != "" && nt.ExpiresIn != "never" {
		d, err := time.ParseDuration(nt.ExpiresIn)
		if err != nil || d <= 0 {
			return 0, nil, invalid("expires_in %q: want a duration such as 720h", nt.ExpiresIn)
		}
		ttl = d
	}
	var expires *time.Time
	if nt.ExpiresIn != "never" {
		exp := time.Now().Add(ttl).UTC()
		expires = &exp
	}
	t := &tokenRec{Token: client.Token{ID: s.next("tok"), UserID: owner.UserID, Name: nt.Name, CreatedAt: time.Now().UTC(), ExpiresAt: expires}, expiresIn: nt.ExpiresIn}
	t.value = newTokenValue()
	t.Prefix = t.value[:8]
	s.tokens = append(s.tokens, t)
	s.principal[t.value] = owner
	s.record(c.who.Name, "token.create", "Token", t.ID)
	return http.StatusCreated, client.CreatedToken{Token: t.value, ID: t.ID, ExpiresAt: expires}, nil
}

func (s *Server) listTokens(c *call) (int, any, error) {
	uid := c.who.UserID
	if name := c.r.URL.Query().Get("user"); name != "" {
		u, ok := s.users[name]
		if !ok {
			return 0, nil, notFound("no user %q", name)
		}
		uid = u.ID
	}
	items := []client.Token{}
	for _, t := range s.tokens {
		if t.UserID == uid {
			items = append(items, t.Token)
		}
	}
	out, err := pageOf(c, items, func(t client.Token) string { return t.ID })
	return 200, out, err
}

func (s *Server) revokeToken(c *call) (int, any, error) {
	for _, t := range s.tokens {
		if t.ID == c.r.PathValue("id") && t.RevokedAt == nil {
			now := time.Now().UTC()
			t.RevokedAt = &now
			delete(s.principal, t.value)
			s.record(c.who.Name, "token.revoke", "Token", t.ID)
			return http.StatusNoContent, nil, nil
		}
	}
	return 0, nil, notFound("no token %q", c.r.PathValue("id"))
}

// ---- audit ----

func (s *Server) listAudit(c *call) (int, any, error) {
	q := c.r.URL.Query()
	var since time.Time
	if v := q.Get("since"); v != "" {
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			return 0, nil, invalid("since %q: want RFC 3339", v)
		}
		since = t
	}
	match := func(e client.AuditEntry) bool {
		action := q.Get("action")
		if p, ok := strings.CutSuffix(action, "*"); ok {
			if !strings.HasPrefix(e.Action, p) {
				return false
			}
		} else if action != "" && e.Action != action {
			return false
		}
		return (q.Get("actor") == "" || e.Actor == q.Get("actor")) &&
			(q.Get("kind") == "" || e.TargetKind == q.Get("kind")) &&
			(q.Get("name") == "" || e.TargetName == q.Get("name")) && !e.At.Before(since)
	}
	items := []client.AuditEntry{}
	for i := len(s.audit) - 1; i >= 0; i-- {
		if match(s.audit[i]) {
			items = append(items, s.audit[i])
		}
	}
	out, err := pageOf(c, items, func(e client.AuditEntry) string { return strconv.FormatInt(e.Seq, 10) })
	return 200, out, err
}

func (s *Server) verifyAudit(*call) (int, any, error) {
	if s.AuditBrokenAt > 0 {
		return 200, map[string]any{"ok": false, "entries": len(s.audit), "first_bad_seq": s.AuditBrokenAt,
			"reason": "edited: the entry's hash does not match its fields"}, nil
	}
	return 200, map[string]any{"ok": true, "entries": len(s.audit)}, nil
}
