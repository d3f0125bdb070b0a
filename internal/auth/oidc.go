package auth

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/datahub-oss/datahub/connector"
	"github.com/datahub-oss/datahub/internal/ctrlchar"
	"github.com/datahub-oss/datahub/internal/errcode"
	"github.com/datahub-oss/datahub/internal/outbound"
	"github.com/datahub-oss/datahub/internal/store"
)

// OIDCConfig configures login through an OpenID Connect provider.
type OIDCConfig struct {
	IssuerURL    string
	ClientID     string
	ClientSecret string
	// RedirectURL is the hub's callback, registered with the provider.
	RedirectURL string
	// Scopes asked for; default openid, profile, email. openid is always added.
	Scopes []string
	// RolesClaim names the ID token claim that carries the user's groups or roles: a
	// top-level claim ("groups", "https://example.com/roles"), or else a dotted path into
	// nested objects ("realm_access.roles"). Empty: every user gets DefaultRoles.
	RolesClaim string
	// RoleMap maps a group (exactly as in the claim) to hub roles. Only mapped groups count:
	// a group named "admin" gives nothing unless mapped.
	RoleMap map[string][]Role
	// DefaultRoles are given when no group maps; default viewer.
	DefaultRoles []Role
	// Guard checks every connection to the provider when it is dialled: the issuer's own
	// host and port (the hub's settings name them) are allowed, the other addresses the
	// discovery document names (keys, token endpoint) must pass the guard (nil: loopback,
	// private, link-local and other non-global addresses are refused).
	Guard *outbound.Guard
	// HTTPClient talks to the provider; default a client through Guard with a 30 s timeout.
	// A client given here bypasses Guard: tests only.
	HTTPClient *http.Client
}

// OIDC signs users in through an OpenID Connect provider with the authorisation code flow
// and PKCE. Users are kept by issuer and subject; their roles follow the provider's claim at
// every login (set them at the provider, not with SetRoles).
type OIDC struct {
	svc      *Service
	cfg      OIDCConfig
	oauth    oauth2.Config
	verifier *oidc.IDTokenVerifier
	client   *http.Client
}

// NewOIDC discovers the provider (/.well-known/openid-configuration) and returns the login.
func NewOIDC(ctx context.Context, svc *Service, cfg OIDCConfig) (*OIDC, error) {
	if cfg.IssuerURL == "" || cfg.ClientID == "" || cfg.RedirectURL == "" {
		return nil, errcode.Errorf(errcode.Config, "", "", errors.New("OIDC needs an issuer URL, a client id and a redirect URL"))
	}
	roleMap := make(map[string][]Role, len(cfg.RoleMap))
	for group, roles := range cfg.RoleMap {
		nr, err := normRoles(roles)
		if err != nil {
			return nil, errcode.Errorf(errcode.Config, "", "", fmt.Errorf("OIDC role map, group %q: %w", group, err))
		}
		roleMap[group] = nr
	}
	cfg.RoleMap = roleMap
	if len(cfg.DefaultRoles) == 0 {
		cfg.DefaultRoles = []Role{RoleViewer}
	}
	def, err := normRoles(cfg.DefaultRoles)
	if err != nil {
		return nil, errcode.Errorf(errcode.Config, "", "", fmt.Errorf("OIDC default roles: %w", err))
	}
	cfg.DefaultRoles = def
	if len(cfg.Scopes) == 0 {
		cfg.Scopes = []string{oidc.ScopeOpenID, "profile", "email"}
	}
	if !slices.Contains(cfg.Scopes, oidc.ScopeOpenID) {
		cfg.Scopes = append([]string{oidc.ScopeOpenID}, cfg.Scopes...)
	}
	client := cfg.HTTPClient
	if client == nil {
		client = cfg.Guard.WithURLHost(cfg.IssuerURL).Client(30 * time.Second)
	}
	cctx := oidc.ClientContext(ctx, client)
	provider, err := oidc.NewProvider(cctx, cfg.IssuerURL)
	if err != nil {
		return nil, connector.Errorf(connector.CodeUnreachable, cfg.IssuerURL, "check the OIDC issuer URL", providerError(err))
	}
	return &OIDC{
		svc: svc,
		cfg: cfg,
		oauth: oauth2.Config{
			ClientID:     cfg.ClientID,
			ClientSecret: cfg.ClientSecret,
			RedirectURL:  cfg.RedirectURL,
			Endpoint:     provider.Endpoint(),
			Scopes:       cfg.Scopes,
		},
		// The key set fetches keys with cctx's client; go-oidc ignores its cancellation.
		verifier: provider.VerifierContext(cctx, &oidc.Config{ClientID: cfg.ClientID, Now: svc.now}),
		client:   client,
	}, nil
}

// providerError is err without what the provider answered beyond a short, printable excerpt:
// go-oidc quotes whole response bodies, oauth2 the token endpoint's, Go's client the bytes of
// a target that is not HTTP.
func providerError(err error) error {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) && re.Response != nil {
		if re.ErrorCode != "" {
			return fmt.Errorf("the token endpoint answered %d (%s)", re.Response.StatusCode, outbound.Excerpt([]byte(re.ErrorCode)))
		}
		return fmt.Errorf("the token endpoint answered %d", re.Response.StatusCode)
	}
	return outbound.Sanitize(err)
}

// AuthCodeURL returns the provider URL to send the browser to, and the PKCE verifier. The
// caller keeps state, nonce and verifier (e.g. in a short-lived, HTTP-only cookie) and hands
// them to Exchange on the callback after checking state.
func (o *OIDC) AuthCodeURL(state, nonce string) (url, verifier string) {
	verifier = oauth2.GenerateVerifier()
	return o.oauth.AuthCodeURL(state, oidc.Nonce(nonce), oauth2.S256ChallengeOption(verifier)), verifier
}

// idClaims are the standard claims used.
type idClaims struct {
	Name              string         `json:"name"`
	PreferredUsername string         `json:"preferred_username"`
	Email             string         `json:"email"`
	EmailVerified     bool           `json:"email_verified"`
	AuthorizedParty   string         `json:"azp"`
	All               map[string]any `json:"-"`
}

// Exchange redeems the authorisation code, verifies the ID token (signature, issuer,
// audience, expiry, and nonce), creates or updates the user (by issuer and subject) with
// roles from the claim mapping, and returns the principal. The caller then issues a
// session with Service.IssueSession.
func (o *OIDC) Exchange(ctx context.Context, code, verifier, nonce string) (*Principal, error) {
	fail := func(err error) error {
		return connector.Errorf(connector.CodeAuth, o.cfg.IssuerURL, "", fmt.Errorf("oidc login: %w", err))
	}
	if nonce == "" {
		return nil, fail(errors.New("no nonce to check the ID token against"))
	}
	cctx := oidc.ClientContext(ctx, o.client)
	tok, err := o.oauth.Exchange(cctx, code, oauth2.VerifierOption(verifier))
	if err != nil {
		return nil, fail(fmt.Errorf("redeem the code: %w", providerError(err)))
	}
	raw, ok := tok.Extra("id_token").(string)
	if !ok || raw == "" {
		return nil, fail(errors.New("the provider sent no ID token"))
	}
	idt, err := o.verifier.Verify(cctx, raw)
	if err != nil {
		// A failed key fetch quotes the provider's whole answer.
		return nil, fail(providerError(err))
	}
	if subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(nonce)) != 1 {
		return nil, fail(errors.New("the ID token's nonce does not match the login's"))
	}
	var c idClaims
	if err := idt.Claims(&c); err != nil {
		return nil, fail(err)
	}
	if err := idt.Claims(&c.All); err != nil {
		return nil, fail(err)
	}
	// OIDC Core 3.1.3.7: with several audiences the token must name us as authorised party.
	if len(idt.Audience) > 1 && c.AuthorizedParty != o.cfg.ClientID {
		return nil, fail(fmt.Errorf("the ID token's authorised party is %q, not this client", c.AuthorizedParty))
	}
	if idt.Subject == "" {
		return nil, fail(errors.New("the ID token has no subject"))
	}
	roles := o.mapRoles(claimStrings(c.All, o.cfg.RolesClaim))
	var names []string
	if c.PreferredUsername != "" {
		names = append(names, c.PreferredUsername)
	}
	if c.Email != "" && c.EmailVerified {
		names = append(names, c.Email)
	}
	u, err := o.svc.upsertOIDCUser(ctx, idt.Issuer, idt.Subject, names, c.Name, c.Email, roles)
	if err != nil {
		return nil, fmt.Errorf("oidc login: %w", err)
	}
	if u.Disabled {
		return nil, fmt.Errorf("oidc login of %s: the user is disabled: %w", u.Name, ErrInvalidCredentials)
	}
	return &Principal{UserID: u.ID, Name: u.Name, Roles: u.Roles, Via: ViaOIDC}, nil
}

// mapRoles turns groups into roles through the role map, or the default roles when none map.
func (o *OIDC) mapRoles(groups []string) []Role {
	var roles []Role
	for _, g := range groups {
		roles = append(roles, o.cfg.RoleMap[g]...)
	}
	if len(roles) == 0 {
		roles = o.cfg.DefaultRoles
	}
	out := slices.Clone(roles)
	slices.Sort(out)
	return slices.Compact(out)
}

// claimStrings reads a claim holding a string or a list of strings, by top-level name first
// (names may contain dots, e.g. namespaced URLs), else as a dotted path.
func claimStrings(claims map[string]any, name string) []string {
	if name == "" {
		return nil
	}
	v, ok := claims[name]
	if !ok {
		var cur any = claims
		for _, part := range strings.Split(name, ".") {
			m, isMap := cur.(map[string]any)
			if !isMap {
				return nil
			}
			if cur, ok = m[part]; !ok {
				return nil
			}
		}
		v = cur
	}
	switch x := v.(type) {
	case string:
		return []string{x}
	case []any:
		var out []string
		for _, e := range x {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

// upsertOIDCUser finds the user of (issuer, subject) and refreshes its profile and roles, or
// creates it with the first free name among names (else a name derived from the subject).
// A local user of the same name is never taken over: identity is issuer and subject.
func (s *Service) upsertOIDCUser(ctx context.Context, issuer, subject string, names []string, display, email string, roles []Role) (*User, error) {
	// The provider's claims cannot be sent back to be fixed, and refusing them would lock the
	// person out: control and invisible formatting characters are dropped instead.
	display, email = strings.TrimSpace(ctrlchar.Strip(display)), strings.TrimSpace(ctrlchar.Strip(email))
	var id string
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		u, err := s.row(ctx, tx, `oidc_issuer = ? AND oidc_subject = ?`, issuer, subject)
		if err == nil {
			id = u.ID
			if u.DisplayName == display && u.Email == email && slices.Equal(u.Roles, roles) {
				return nil
			}
			_, err = tx.Exec(ctx, `UPDATE auth_users SET display_name = ?, email = ?, roles = ?, updated_at = ? WHERE id = ?`,
				display, email, rolesJSON(roles), s.stamp(), id)
			return err
		}
		if !errors.Is(err, ErrNotFound) {
			return err
		}
		sum := sha256.Sum256([]byte(issuer + "\x00" + subject))
		suffix := hex.EncodeToString(sum[:])[:8]
		var cands []string
		for _, n := range names {
			if nn, err := NormalizeName(n); err == nil {
				cands = append(cands, nn, trimName(nn, 55)+"-"+suffix)
			}
		}
		cands = append(cands, "oidc-"+suffix)
		name := ""
		for _, c := range cands {
			var n int
			if err := tx.QueryRow(ctx, `SELECT count(*) FROM auth_users WHERE name = ?`, c).Scan(&n); err != nil {
				return err
			}
			if n == 0 {
				name = c
				break
			}
		}
		if name == "" {
			return fmt.Errorf("no free user name for subject %s of %s", subject, issuer)
		}
		id = newID()
		return insertUser(ctx, tx, id, name, display, email, "", roles, SourceOIDC, &issuer, &subject, s.stamp())
	})
	if err != nil {
		return nil, fmt.Errorf("record user %s of %s: %w", subject, issuer, err)
	}
	return s.Get(ctx, id)
}

func trimName(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
