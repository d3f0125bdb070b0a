package auth

import (
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/datahub-oss/datahub/connector"
	"github.com/datahub-oss/datahub/internal/store"
	"github.com/datahub-oss/datahub/internal/store/storetest"
)

func newTestOIDC(t *testing.T, s *Service, p *testProvider) *OIDC {
	t.Helper()
	o, err := NewOIDC(t.Context(), s, OIDCConfig{
		IssuerURL: p.srv.URL, ClientID: p.clientID, ClientSecret: p.clientSecret,
		RedirectURL: "http://hub.example/api/v1/auth/oidc/callback",
		RolesClaim:  "groups",
		RoleMap: map[string][]Role{
			"dh-integrators": {RoleIntegrator},
			"dh-ops":         {RoleOperator, RoleViewer},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// login runs the browser half of the flow and the hub's callback.
func login(t *testing.T, o *OIDC, p *testProvider, nonceOverride string) (*Principal, error) {
	t.Helper()
	state, nonce := rand.Text(), rand.Text()
	u, verifier := o.AuthCodeURL(state, nonce)
	q := mustParse(t, u).Query()
	if q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "" || q.Get("nonce") != nonce ||
		strings.Contains(u, verifier) {
		t.Fatalf("login URL lacks PKCE or nonce: %s", u)
	}
	code := p.authorizeURL(t, u, state)
	if nonceOverride != "" {
		nonce = nonceOverride
	}
	return o.Exchange(t.Context(), code, verifier, nonce)
}

func mustParse(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func TestOIDCLogin(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		s, clk := newTestService(t, db)
		p := newTestProvider(t)
		o := newTestOIDC(t, s, p)
		// A local user with the provider's user name must not be taken over.
		local := mustUser(t, s, "alice", RoleAdmin)
		p.set(func(p *testProvider) {
			p.claims = map[string]any{"preferred_username": "Alice", "name": "Alice Example",
				"email": "alice@example.com", "email_verified": true, "groups": []string{"dh-integrators", "dh-ops", "unmapped"}}
		})
		pr, err := login(t, o, p, "")
		if err != nil {
			t.Fatal(err)
		}
		if pr.Via != ViaOIDC || pr.UserID == local.ID || !strings.HasPrefix(pr.Name, "alice-") ||
			!slices.Equal(pr.Roles, []Role{RoleIntegrator, RoleOperator, RoleViewer}) {
			t.Fatalf("principal %+v", pr)
		}
		u, err := s.Get(ctx, pr.UserID)
		if err != nil || u.Source != SourceOIDC || u.OIDCIssuer != p.srv.URL || u.OIDCSubject != "user-1" ||
			u.DisplayName != "Alice Example" || u.Email != "alice@example.com" || u.HasPassword {
			t.Fatalf("user %+v %v", u, err)
		}
		// OIDC users cannot log in with a password.
		if _, err := s.Authenticate(ctx, u.Name, "correct horse battery"); !errors.Is(err, ErrInvalidCredentials) {
			t.Fatalf("password login of an OIDC user: %v", err)
		}

		// The session token the caller issues.
		sess, tok, err := s.IssueSession(ctx, pr)
		if err != nil || tok.Name != "oidc session" || !tok.ExpiresAt.Equal(clk.Now().Add(12*time.Hour)) {
			t.Fatalf("session %+v %v", tok, err)
		}
		if vp, err := s.Verify(ctx, sess); err != nil || vp.UserID == "" || vp.UserID != pr.UserID {
			t.Fatalf("session token: %+v %v", vp, err)
		}

		// Next login: same user; roles follow the groups; no group mapped gives viewer.
		p.set(func(p *testProvider) { p.claims["groups"] = []string{"unmapped"} })
		pr2, err := login(t, o, p, "")
		if err != nil || pr2.UserID != pr.UserID || pr2.Name != pr.Name || !slices.Equal(pr2.Roles, []Role{RoleViewer}) {
			t.Fatalf("second login %+v %v", pr2, err)
		}

		// Another subject without a verified e-mail or user name gets a derived name.
		p.set(func(p *testProvider) {
			p.subject = "user-2"
			p.claims = map[string]any{"email": "mallory@example.com", "email_verified": false, "groups": "dh-ops"}
		})
		pr3, err := login(t, o, p, "")
		if err != nil || !strings.HasPrefix(pr3.Name, "oidc-") || !slices.Equal(pr3.Roles, []Role{RoleOperator, RoleViewer}) {
			t.Fatalf("third login %+v %v", pr3, err)
		}

		// A disabled OIDC user cannot log in.
		if err := s.Disable(ctx, pr3.UserID); err != nil {
			t.Fatal(err)
		}
		if _, err := login(t, o, p, ""); !errors.Is(err, ErrInvalidCredentials) {
			t.Fatalf("disabled user's login: %v", err)
		}
	})
}

func TestOIDCRejects(t *testing.T) {
	db := storetest.SQLite(t)
	s, _ := newTestService(t, db)
	p := newTestProvider(t)
	o := newTestOIDC(t, s, p)
	otherKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	wrong := "not-the-nonce"
	for _, tc := range []struct {
		name  string
		setup func(p *testProvider)
		nonce string // what the hub checks, if not the login's own
		want  string
	}{
		{name: "wrong nonce", nonce: "another nonce", want: "nonce"},
		{name: "nonce replaced by the provider", setup: func(p *testProvider) { p.nonce = &wrong }, want: "nonce"},
		{name: "expired", setup: func(p *testProvider) { p.ttl = -time.Minute }, want: "expired"},
		{name: "wrong audience", setup: func(p *testProvider) { p.aud = "someone-else" }, want: "audience"},
		{name: "several audiences, no azp", setup: func(p *testProvider) { p.aud = []string{"datahub", "someone-else"} }, want: "authorised party"},
		{name: "bad signature", setup: func(p *testProvider) { p.signer = otherKey }, want: "signature"},
		{name: "wrong issuer", setup: func(p *testProvider) { p.claims = map[string]any{"iss": "https://evil.example"} }, want: "issued by a different provider"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p.set(func(p *testProvider) {
				p.claims, p.aud, p.ttl, p.nonce, p.signer = map[string]any{}, nil, 5*time.Minute, nil, nil
				if tc.setup != nil {
					tc.setup(p)
				}
			})
			pr, err := login(t, o, p, tc.nonce)
			if err == nil {
				t.Fatalf("login succeeded: %+v", pr)
			}
			if connector.CodeOf(err) != connector.CodeAuth || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v (code %s), want an auth error about %q", err, connector.CodeOf(err), tc.want)
			}
		})
	}
	if users, _ := s.List(t.Context()); len(users) != 0 {
		t.Fatalf("failed logins created users: %+v", users)
	}

	// PKCE: a code redeemed with the wrong verifier fails at the provider.
	p.set(func(p *testProvider) {
		p.claims, p.aud, p.ttl, p.nonce, p.signer = map[string]any{}, nil, 5*time.Minute, nil, nil
	})
	state, nonce := rand.Text(), rand.Text()
	u, _ := o.AuthCodeURL(state, nonce)
	code := p.authorizeURL(t, u, state)
	if _, err := o.Exchange(t.Context(), code, "wrong-verifier-wrong-verifier-wrong-verifier", nonce); err == nil || !strings.Contains(err.Error(), "invalid_grant") {
		t.Fatalf("wrong PKCE verifier: %v", err)
	}
	if _, err := o.Exchange(t.Context(), "", "", ""); err == nil {
		t.Fatal("Exchange without a nonce succeeded")
	}
}

func TestNewOIDCConfig(t *testing.T) {
	db := storetest.SQLite(t)
	s, _ := newTestService(t, db)
	p := newTestProvider(t)
	for name, cfg := range map[string]OIDCConfig{
		"no issuer":    {ClientID: "x", RedirectURL: "http://x"},
		"bad role map": {IssuerURL: p.srv.URL, ClientID: "x", RedirectURL: "http://x", RoleMap: map[string][]Role{"g": {"root"}}},
		"unreachable":  {IssuerURL: "http://127.0.0.1:1", ClientID: "x", RedirectURL: "http://x"},
	} {
		if _, err := NewOIDC(t.Context(), s, cfg); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestClaimStrings(t *testing.T) {
	claims := map[string]any{
		"groups":                     []any{"a", "b", 3},
		"role":                       "solo",
		"https://example.com/roles":  []any{"x"},
		"realm_access":               map[string]any{"roles": []any{"r1", "r2"}},
		"resource_access.not.nested": "flat",
	}
	for name, want := range map[string][]string{
		"groups":                     {"a", "b"},
		"role":                       {"solo"},
		"https://example.com/roles":  {"x"},
		"realm_access.roles":         {"r1", "r2"},
		"resource_access.not.nested": {"flat"},
		"realm_access.missing":       nil,
		"groups.deeper":              nil,
		"":                           nil,
	} {
		if got := claimStrings(claims, name); !slices.Equal(got, want) {
			t.Errorf("claimStrings(%q) = %v, want %v", name, got, want)
		}
	}
}
