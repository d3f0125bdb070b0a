package api

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/datahub-oss/datahub/internal/auth"
)

// fakeProvider is a minimal OpenID Connect provider: discovery, keys, an authorize endpoint
// that approves at once, and a token endpoint that checks PKCE and signs an ID token.
type fakeProvider struct {
	srv *httptest.Server
	key *rsa.PrivateKey

	mu    sync.Mutex
	codes map[string][2]string // code -> nonce, challenge
}

func newFakeProvider(t *testing.T) *fakeProvider {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	p := &fakeProvider{key: key, codes: map[string][2]string{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, _ *http.Request) {
		writeJSONTest(w, map[string]any{"issuer": p.srv.URL, "authorization_endpoint": p.srv.URL + "/authorize",
			"token_endpoint": p.srv.URL + "/token", "jwks_uri": p.srv.URL + "/jwks", "response_types_supported": []string{"code"},
			"subject_types_supported": []string{"public"}, "id_token_signing_alg_values_supported": []string{"RS256"}})
	})
	mux.HandleFunc("GET /jwks", func(w http.ResponseWriter, _ *http.Request) {
		writeJSONTest(w, jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &p.key.PublicKey, KeyID: "k", Algorithm: "RS256", Use: "sig"}}})
	})
	mux.HandleFunc("GET /authorize", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		code := rand.Text()
		p.mu.Lock()
		p.codes[code] = [2]string{q.Get("nonce"), q.Get("code_challenge")}
		p.mu.Unlock()
		to, _ := url.Parse(q.Get("redirect_uri"))
		v := url.Values{"code": {code}, "state": {q.Get("state")}}
		to.RawQuery = v.Encode()
		http.Redirect(w, r, to.String(), http.StatusFound)
	})
	mux.HandleFunc("POST /token", func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		p.mu.Lock()
		req, ok := p.codes[r.PostForm.Get("code")]
		delete(p.codes, r.PostForm.Get("code"))
		p.mu.Unlock()
		sum := sha256.Sum256([]byte(r.PostForm.Get("code_verifier")))
		if !ok || base64.RawURLEncoding.EncodeToString(sum[:]) != req[1] {
			w.WriteHeader(http.StatusBadRequest)
			writeJSONTest(w, map[string]string{"error": "invalid_grant"})
			return
		}
		now := time.Now()
		claims, _ := json.Marshal(map[string]any{"iss": p.srv.URL, "sub": "subject-1", "aud": "datahub", "iat": now.Unix(),
			"exp": now.Add(time.Minute).Unix(), "nonce": req[0], "preferred_username": "olivia"})
		signer, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: p.key}, (&jose.SignerOptions{}).WithHeader("kid", "k"))
		jws, _ := signer.Sign(claims)
		tok, _ := jws.CompactSerialize()
		writeJSONTest(w, map[string]any{"access_token": "a", "token_type": "Bearer", "expires_in": 60, "id_token": tok})
	})
	p.srv = httptest.NewServer(mux)
	t.Cleanup(p.srv.Close)
	return p
}

func writeJSONTest(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func TestOIDCLogin(t *testing.T) {
	t.Parallel()
	p := newFakeProvider(t)
	h := newHub(t, false, func(d *Deps, hubURL string) {
		o, err := auth.NewOIDC(context.Background(), d.Auth, auth.OIDCConfig{IssuerURL: p.srv.URL, ClientID: "datahub",
			ClientSecret: "s", RedirectURL: hubURL + BasePath + "/auth/oidc/callback"})
		if err != nil {
			t.Fatal(err)
		}
		d.OIDC = o
	})

	start := func() (cookie, callback string) {
		t.Helper()
		r := h.must(http.StatusFound, h.do(http.MethodGet, BasePath+"/auth/oidc/login", "", nil), "oidc login")
		c := r.header.Get("Set-Cookie")
		for _, want := range []string{oidcCookie + "=", "Path=" + BasePath + "/auth/oidc/callback", "HttpOnly", "Secure", "SameSite=Lax", "Max-Age=600"} {
			if !strings.Contains(c, want) {
				t.Errorf("cookie %q lacks %q", c, want)
			}
		}
		client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		resp, err := client.Get(r.header.Get("Location"))
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		back, err := url.Parse(resp.Header.Get("Location"))
		if err != nil || resp.StatusCode != http.StatusFound {
			t.Fatalf("provider: %s %v", resp.Status, err)
		}
		return strings.SplitN(c, ";", 2)[0], back.RequestURI()
	}
	callback := func(uri, cookie string) response {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, h.url+uri, nil)
		if cookie != "" {
			req.Header.Set("Cookie", cookie)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = resp.Body.Close() }()
		b, _ := io.ReadAll(resp.Body)
		return response{status: resp.StatusCode, header: resp.Header, body: b}
	}

	cookie, uri := start()
	r := h.must(http.StatusOK, callback(uri, cookie), "callback")
	var login loginBody
	r.json(t, &login)
	if login.User == nil || login.User.Name != "olivia" || login.User.Source != auth.SourceOIDC || len(login.User.Roles) != 1 || login.User.Roles[0] != auth.RoleViewer {
		t.Fatalf("oidc login: %s", r)
	}
	if c := r.header.Get("Set-Cookie"); !strings.Contains(c, "Max-Age=0") {
		t.Errorf("the login cookie is not cleared: %q", c)
	}
	var me meBody
	h.must(http.StatusOK, h.do(http.MethodGet, BasePath+"/me", login.Token, nil), "me").json(t, &me)
	if me.Name != "olivia" {
		t.Fatalf("me: %+v", me)
	}
	// The code is spent; a second use fails. A wrong state or no cookie fails before the
	// provider is asked.
	h.must(http.StatusUnauthorized, callback(uri, cookie), "code reused")
	cookie, uri = start()
	h.must(http.StatusUnauthorized, callback(uri, ""), "no cookie")
	h.must(http.StatusUnauthorized, callback(strings.Replace(uri, "state=", "state=x", 1), cookie), "wrong state")
	h.must(http.StatusUnauthorized, callback(BasePath+"/auth/oidc/callback?error=access_denied", cookie), "refused")
	h.must(http.StatusOK, callback(uri, cookie), "the right state still works")

	if es := h.auditEntries("action=auth.login"); len(es) != 2 || es[0].Actor != "olivia" || !strings.Contains(es[0].Details, "oidc") {
		t.Fatalf("audit of oidc logins: %+v", es)
	}
	if es := h.auditEntries("action=auth.login_failed"); len(es) != 4 {
		t.Fatalf("audit of failed oidc logins: %+v", es)
	}
}
