package api

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/danielgtaylor/huma/v2"

	"github.com/datahub-oss/datahub/internal/auth"
)

// walkBodies are request bodies that pass validation, so that an allowed caller gets past it
// (the walk only asks that the answer is neither 401 nor 403).
var walkBodies = map[string]any{
	"apply":          "apiVersion: datahub/v1\nkind: System\nmetadata: {name: walk}\nspec: {owner: walk}\n",
	"request-run":    map[string]any{"env": "DEV"},
	"put-secret":     map[string]any{"value": "walk-value"},
	"create-user":    map[string]any{"name": "walk-user", "roles": []string{"viewer"}},
	"set-user-roles": map[string]any{"roles": []string{"viewer"}},
	"create-token":   map[string]any{"name": "walk"},
	"login":          map[string]any{"username": "u-viewer", "password": password},
}

// undeclared returns the operations that have neither a permission of the table nor the
// public mark on a path of publicPaths.
func undeclared(s *server) []string {
	var bad []string
	for _, o := range operations(s) {
		switch {
		case o.perm == permPublic && (publicPaths[o.path] || publicTemplate(o.method, o.path)):
		case o.perm != permPublic && slices.Contains(auth.Permissions(), o.perm):
		default:
			bad = append(bad, o.method+" "+o.path)
		}
	}
	return bad
}

// TestRouteWalk sends every operation without a token, with a garbage token and with a
// token of every role: no token → 401, a role without the permission → 403, a role with it
// → anything but 401 and 403.
func TestRouteWalk(t *testing.T) {
	t.Parallel()
	h := newHub(t, false)
	if bad := undeclared(h.srv); len(bad) > 0 {
		t.Fatalf("operations without a declared permission: %v", bad)
	}
	ops := operations(h.srv)
	if len(ops) < 25 {
		t.Fatalf("only %d operations registered", len(ops))
	}
	publicSeen := map[string]bool{}
	for _, o := range ops {
		t.Run(o.method+" "+o.path, func(t *testing.T) {
			p := fill(o.path, nil)
			body := walkBodies[o.id]
			if o.path == hookPath {
				// Public to the guard, but the handler wants the webhook's own secret: no
				// bearer token of any kind gets in.
				for _, tok := range append([]string{"", "dht_garbage"}, tokenList(h)...) {
					if r := h.do(o.method, p, tok, body); r.status != http.StatusUnauthorized || r.errorCode() != CodeUnauthenticated {
						t.Errorf("webhook with bearer %.8q: %d %s", tok, r.status, r)
					}
				}
				return
			}
			if o.perm == permPublic {
				publicSeen[o.path] = true
				if r := h.do(o.method, p, "", body); r.status == http.StatusUnauthorized || r.status == http.StatusForbidden {
					t.Errorf("public operation without a token: %d %s", r.status, r)
				}
				return
			}
			if r := h.do(o.method, p, "", body); r.status != http.StatusUnauthorized || r.errorCode() != CodeUnauthenticated {
				t.Errorf("no token: %d %s", r.status, r)
			}
			if r := h.do(o.method, p, "dht_garbage", body); r.status != http.StatusUnauthorized {
				t.Errorf("garbage token: %d %s", r.status, r)
			}
			for _, role := range auth.Roles() {
				r := h.do(o.method, p, h.tokens[role], body)
				if auth.Allowed([]auth.Role{role}, o.perm) {
					if r.status == http.StatusUnauthorized || r.status == http.StatusForbidden {
						t.Errorf("%s holds %s but got %d %s", role, o.perm, r.status, r)
					}
				} else if r.status != http.StatusForbidden || r.errorCode() != CodeForbidden {
					t.Errorf("%s lacks %s but got %d %s", role, o.perm, r.status, r)
				}
			}
		})
	}
	for p := range publicPaths {
		if p != BasePath+"/openapi.json" && !publicSeen[p] {
			t.Errorf("public path %s has no operation", p)
		}
	}
}

// TestUndeclaredOperationRefused shows the two nets under the register helper: an
// operation added to huma directly is reported by the walk's check, and refused at run time.
func TestUndeclaredOperationRefused(t *testing.T) {
	t.Parallel()
	h := newHub(t, false)
	huma.Register(h.srv.api, huma.Operation{OperationID: "rogue", Method: http.MethodGet, Path: BasePath + "/rogue"},
		func(context.Context, *struct{}) (*statusOutput, error) { return &statusOutput{}, nil })
	if bad := undeclared(h.srv); !slices.Equal(bad, []string{"GET " + BasePath + "/rogue"}) {
		t.Fatalf("undeclared = %v", bad)
	}
	r := h.do(http.MethodGet, BasePath+"/rogue", h.admin(), nil)
	if r.status != http.StatusForbidden {
		t.Fatalf("rogue operation for admin: %d %s", r.status, r)
	}
	if r := h.do(http.MethodGet, BasePath+"/rogue", "", nil); r.status != http.StatusUnauthorized {
		t.Fatalf("rogue operation without token: %d %s", r.status, r)
	}
}

func TestRegisterRefusesBadDeclarations(t *testing.T) {
	t.Parallel()
	h := newHub(t, false)
	for _, c := range []struct {
		perm auth.Permission
		path string
	}{{"", BasePath + "/x1"}, {"made.up", BasePath + "/x2"}, {permPublic, BasePath + "/x3"}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("register(%q, %s) did not panic", c.perm, c.path)
				}
			}()
			register(h.srv, c.perm, huma.Operation{Method: http.MethodGet, Path: c.path},
				func(context.Context, *struct{}) (*statusOutput, error) { return nil, nil })
		}()
	}
}

// variants are spellings of a path that must never reach its handler.
func variants(p string) map[string]string {
	rest := strings.TrimPrefix(p, BasePath+"/")
	return map[string]string{
		"double slash": BasePath + "//" + rest,
		"%2e":          BasePath + "/%2e/" + rest,
		"%2E":          BasePath + "/%2E/" + rest,
		"..;/":         BasePath + "/x/..;/" + rest,
		"dot dot":      BasePath + "/x/../" + rest,
		"trailing /":   p + "/",
		"upper case":   "/API/V1/" + rest,
		"leading //":   "/" + p,
		"encoded a":    "/%61pi/v1/" + rest,
		"semicolon":    p + ";x=1",
	}
}

func TestPathVariants(t *testing.T) {
	t.Parallel()
	h := newHub(t, false)
	for _, o := range operations(h.srv) {
		if o.perm == permPublic && o.path != hookPath {
			continue
		}
		for name, v := range variants(fill(o.path, nil)) {
			t.Run(fmt.Sprintf("%s %s %s", o.method, o.path, name), func(t *testing.T) {
				if r := h.do(o.method, v, "", walkBodies[o.id]); r.status != http.StatusUnauthorized {
					t.Errorf("%s without token: %d %s", v, r.status, r)
				}
				if r := h.do(o.method, v, "dht_garbage", walkBodies[o.id]); r.status != http.StatusUnauthorized {
					t.Errorf("%s with a garbage token: %d %s", v, r.status, r)
				}
				r := h.do(o.method, v, h.admin(), walkBodies[o.id])
				if r.status != http.StatusBadRequest && r.status != http.StatusNotFound && r.status != http.StatusMethodNotAllowed {
					t.Errorf("%s as admin: %d %s", v, r.status, r)
				}
				if r.errorCode() == "" {
					t.Errorf("%s as admin: not a contract error: %s", v, r)
				}
			})
		}
	}
	for _, p := range []string{"/api/v1/nope", "/api/nope", "/api", "/api/", "/Api/v1/me", "/api/v1/openapi.json/", "/api/v1/auth/login/x", "/api/v1/OPENAPI.json"} {
		if r := h.do(http.MethodGet, p, "", nil); r.status != http.StatusUnauthorized {
			t.Errorf("GET %s without token: %d %s", p, r.status, r)
		}
	}
	if r := h.do(http.MethodGet, "/api/v1/nope", h.admin(), nil); r.status != http.StatusNotFound || r.errorCode() != CodeNotFound {
		t.Errorf("unknown path as admin: %d %s", r.status, r)
	}
	if r := h.do(http.MethodPatch, BasePath+"/me", h.admin(), nil); r.status != http.StatusMethodNotAllowed || r.errorCode() == "" {
		t.Errorf("PATCH /me as admin: %d %s", r.status, r)
	}
}

// TestViewerCannotWrite: a viewer gets 403 on every write but its own tokens (which every
// role manages, see auth's permission table).
func TestViewerCannotWrite(t *testing.T) {
	t.Parallel()
	h := newHub(t, false)
	n := 0
	for _, o := range operations(h.srv) {
		if o.method == http.MethodGet || o.perm == permPublic || o.perm == auth.PermTokensSelf {
			continue
		}
		n++
		if r := h.do(o.method, fill(o.path, nil), h.tokens[auth.RoleViewer], walkBodies[o.id]); r.status != http.StatusForbidden {
			t.Errorf("viewer %s %s: %d %s", o.method, o.path, r.status, r)
		}
	}
	if n < 8 {
		t.Fatalf("only %d write operations", n)
	}
}

func TestOpenAPIDocument(t *testing.T) {
	t.Parallel()
	h := newHub(t, false)
	r := h.must(http.StatusOK, h.do(http.MethodGet, BasePath+"/openapi.json", "", nil), "openapi.json")
	var doc struct {
		OpenAPI    string                               `json:"openapi"`
		Paths      map[string]map[string]map[string]any `json:"paths"`
		Components struct {
			SecuritySchemes map[string]any `json:"securitySchemes"`
			Schemas         map[string]any `json:"schemas"`
		} `json:"components"`
	}
	r.json(t, &doc)
	if !strings.HasPrefix(doc.OpenAPI, "3.1") {
		t.Errorf("openapi %q", doc.OpenAPI)
	}
	if doc.Components.SecuritySchemes[bearerScheme] == nil {
		t.Errorf("no bearer scheme: %v", doc.Components.SecuritySchemes)
	}
	n := 0
	for p, item := range doc.Paths {
		for method, op := range item {
			n++
			sec, ok := op["security"].([]any)
			if !ok {
				t.Errorf("%s %s: no security list", method, p)
				continue
			}
			perm, _ := op["x-permission"].(string)
			if publicPaths[p] || publicTemplate(strings.ToUpper(method), p) {
				if len(sec) != 0 || perm != string(permPublic) {
					t.Errorf("%s %s is public but security=%v x-permission=%q", method, p, sec, perm)
				}
			} else if len(sec) != 1 || !slices.Contains(auth.Permissions(), auth.Permission(perm)) {
				t.Errorf("%s %s: security=%v x-permission=%q", method, p, sec, perm)
			}
		}
	}
	if n != len(operations(h.srv)) {
		t.Errorf("document has %d operations, huma %d", n, len(operations(h.srv)))
	}
	// The error schema is the contract's, not huma's problem details.
	if _, ok := doc.Components.Schemas["ErrorModel"]; ok {
		t.Error("huma's ErrorModel is in the document")
	}
	if _, ok := doc.Components.Schemas["Error"]; !ok {
		t.Errorf("no Error schema: %v", keys(doc.Components.Schemas))
	}
	// Only the exact spelling is public.
	for _, p := range []string{BasePath + "/openapi.yaml", BasePath + "/openapi", "/openapi.json", BasePath + "/docs"} {
		if r := h.do(http.MethodGet, p, "", nil); r.status == http.StatusOK {
			t.Errorf("GET %s without token: %d", p, r.status)
		}
	}
}

func keys(m map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func TestHealth(t *testing.T) {
	t.Parallel()
	h := newHub(t, false)
	for _, p := range []string{"/healthz", "/readyz"} {
		r := h.must(http.StatusOK, h.do(http.MethodGet, p, "", nil), p)
		if strings.TrimSpace(r.String()) != `{"status":"ok"}` {
			t.Errorf("%s: %s", p, r)
		}
	}
	// Not ready: 503 with the contract's code, and the cause only in the log.
	_, handler := build(Deps{Auth: h.auth, Ready: func(context.Context) error { return fmt.Errorf("bus down at nats://secret-host") }})
	rec := httptest.NewRecorder()
	handler.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
	if rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), `"code":"unavailable"`) || strings.Contains(rec.Body.String(), "secret-host") {
		t.Errorf("readyz when not ready: %d %s", rec.Code, rec.Body)
	}
	rec = httptest.NewRecorder()
	handler.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/healthz", nil))
	if rec.Code != http.StatusOK {
		t.Errorf("healthz when not ready: %d", rec.Code)
	}
}

// tokenList is every role's token.
func tokenList(h *hub) []string {
	var out []string
	for _, r := range auth.Roles() {
		out = append(out, h.tokens[r])
	}
	return out
}

// TestHeadAnswersAsGet: HEAD on every GET route goes through the same authentication and
// permission check and answers the GET's status and headers with no body; anonymous and
// garbage-token HEADs are refused with 401 like GETs. HEAD on a route with no GET is 405.
func TestHeadAnswersAsGet(t *testing.T) {
	t.Parallel()
	h := newHub(t, false)
	gets := 0
	for _, o := range operations(h.srv) {
		if o.method != http.MethodGet || o.path == BasePath+"/auth/oidc/callback" {
			continue // the callback redeems a one-time code: its GET and HEAD cannot be compared
		}
		gets++
		t.Run(o.path, func(t *testing.T) {
			p := fill(o.path, nil)
			toks := map[string]string{"no token": "", "garbage": "dht_garbage"}
			for _, role := range auth.Roles() {
				toks[string(role)] = h.tokens[role]
			}
			for who, tok := range toks {
				get, head := h.do(http.MethodGet, p, tok, nil), h.do(http.MethodHead, p, tok, nil)
				if head.status != get.status {
					t.Errorf("%s: HEAD %d, GET %d %s", who, head.status, get.status, get)
				}
				if len(head.body) != 0 {
					t.Errorf("%s: HEAD answered a body: %q", who, head.body)
				}
				if hc, gc := head.header.Get("Content-Type"), get.header.Get("Content-Type"); hc != gc {
					t.Errorf("%s: HEAD Content-Type %q, GET %q", who, hc, gc)
				}
				if o.perm != permPublic && tok == "" && head.status != http.StatusUnauthorized {
					t.Errorf("anonymous HEAD: %d", head.status)
				}
			}
		})
	}
	if gets < 15 {
		t.Fatalf("only %d GET operations", gets)
	}

	for _, p := range []string{BasePath + "/me", BasePath + "/openapi.json", "/healthz"} {
		get, head := h.do(http.MethodGet, p, h.admin(), nil), h.do(http.MethodHead, p, h.admin(), nil)
		if head.status != http.StatusOK || head.header.Get("Content-Length") != fmt.Sprint(len(get.body)) {
			t.Errorf("HEAD %s: %d, Content-Length %q, GET's body is %d bytes", p, head.status, head.header.Get("Content-Length"), len(get.body))
		}
	}
	if r := h.do(http.MethodHead, BasePath+"/apply", h.admin(), nil); r.status != http.StatusMethodNotAllowed {
		t.Errorf("HEAD on a POST-only route: %d", r.status)
	}
	if r := h.do(http.MethodHead, BasePath+"/me/", "", nil); r.status != http.StatusUnauthorized {
		t.Errorf("anonymous HEAD on a path variant: %d", r.status)
	}
}
