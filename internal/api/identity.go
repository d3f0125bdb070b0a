package api

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/datahub-oss/datahub/internal/audit"
	"github.com/datahub-oss/datahub/internal/auth"
	"github.com/datahub-oss/datahub/internal/days"
)

type meBody struct {
	UserID string      `json:"user_id"`
	Name   string      `json:"name"`
	Roles  []auth.Role `json:"roles"`
	Via    auth.Via    `json:"via"`
}

// loginBody is what a successful login returns.
type loginBody struct {
	Token     string     `json:"token" doc:"Session token; send it as Authorization: Bearer <token>"`
	ExpiresAt *time.Time `json:"expires_at"`
	User      *auth.User `json:"user"`
}

type loginRequest struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

type loginInput struct {
	Body loginRequest
}

type createUserRequest struct {
	Name        string      `json:"name"`
	Password    string      `json:"password,omitempty" doc:"At least 12 characters; omit for a service account"`
	Roles       []auth.Role `json:"roles"`
	Email       string      `json:"email,omitempty"`
	DisplayName string      `json:"display_name,omitempty"`
}

type setRolesRequest struct {
	Roles []auth.Role `json:"roles"`
}

type createTokenRequest struct {
	Name      string    `json:"name" minLength:"1" maxLength:"100"`
	User      string    `json:"user,omitempty" doc:"User name (default: yourself)"`
	ExpiresIn *Lifetime `json:"expires_in,omitempty"`
}

// oidcCookie carries the login's state, nonce and PKCE verifier from the redirect to the
// callback. It is HTTP-only, scoped to the callback path, short-lived and always Secure:
// behind a TLS-terminating proxy the request looks like plain HTTP, and browsers accept
// Secure cookies from http://localhost.
const oidcCookie = "datahub_oidc"

// Lifetime is a token lifetime in a request: a number of seconds, a duration ("720h",
// "90d"), or "never" (service accounts only, with tokens.manage).
type Lifetime struct {
	D     time.Duration
	Never bool
}

// UnmarshalJSON reads seconds, a duration text or "never".
func (l *Lifetime) UnmarshalJSON(b []byte) error {
	var n json.Number
	if err := json.Unmarshal(b, &n); err == nil {
		secs, err := n.Int64()
		if err != nil || secs <= 0 || secs > int64(100*365*24*time.Hour/time.Second) {
			return errors.New("expires_in: want a positive whole number of seconds")
		}
		l.D = time.Duration(secs) * time.Second
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return errors.New(`expires_in: want seconds, a duration such as "720h" or "90d", or "never"`)
	}
	d, never, err := parseLifetime(s)
	if err != nil {
		return err
	}
	l.D, l.Never = d, never
	return nil
}

func parseLifetime(s string) (time.Duration, bool, error) {
	s = strings.TrimSpace(s)
	if strings.EqualFold(s, "never") {
		return 0, true, nil
	}
	bad := fmt.Errorf(`expires_in %q: want seconds, a duration such as "720h" or "90d", or "never"`, s)
	d, err := days.Parse(s)
	if err != nil || d <= 0 {
		return 0, false, bad
	}
	return d, false, nil
}

// Schema documents Lifetime for huma.
func (Lifetime) Schema(huma.Registry) *huma.Schema {
	return &huma.Schema{
		Description: `Token lifetime: seconds, a duration such as "720h" or "90d", or "never" (service accounts only)`,
		OneOf:       []*huma.Schema{{Type: "integer", Minimum: ptr(1.0)}, {Type: "string"}},
	}
}

func ptr[T any](v T) *T { return &v }

type newTokenBody struct {
	Token     string     `json:"token" doc:"The token; shown once, never again"`
	ID        string     `json:"id"`
	ExpiresAt *time.Time `json:"expires_at" doc:"null: never"`
}

func (s *server) identityRoutes() {
	tags := []string{"identity"}
	register(s, auth.PermTokensSelf, huma.Operation{
		OperationID: "me", Method: http.MethodGet, Path: BasePath + "/me", Tags: tags,
		Summary: "Who the token belongs to",
	}, func(ctx context.Context, _ *struct{}) (*struct{ Body meBody }, error) {
		p := principal(ctx)
		roles := p.Roles
		if roles == nil {
			roles = []auth.Role{}
		}
		return &struct{ Body meBody }{Body: meBody{UserID: p.UserID, Name: p.Name, Roles: roles, Via: p.Via}}, nil
	})

	register(s, permPublic, huma.Operation{
		OperationID: "login", Method: http.MethodPost, Path: BasePath + "/auth/login", Tags: tags,
		Summary: "Sign in with a user name and password", Errors: []int{http.StatusUnauthorized, http.StatusTooManyRequests},
		Description: "Failed logins back off per user name and per client address: after a few, attempts are refused with 429 " +
			"and Retry-After (the right password too) for a time that doubles with each further failure.",
	}, s.login)

	register(s, permPublic, huma.Operation{
		OperationID: "oidc-login", Method: http.MethodGet, Path: BasePath + "/auth/oidc/login", Tags: tags,
		Summary: "Start an OpenID Connect login (redirects to the provider)", DefaultStatus: http.StatusFound,
		Errors: []int{http.StatusNotFound},
	}, s.oidcLogin)

	register(s, permPublic, huma.Operation{
		OperationID: "oidc-callback", Method: http.MethodGet, Path: BasePath + "/auth/oidc/callback", Tags: tags,
		Summary: "Finish an OpenID Connect login", Errors: []int{http.StatusNotFound, http.StatusUnauthorized, http.StatusTooManyRequests},
	}, s.oidcCallback)

	s.userRoutes()
	s.tokenRoutes()
}

// attempted is the user name of a failed login as the audit log records it: normalised and
// cut short, since it is whatever the client typed.
func attempted(name string) string {
	n := strings.ToValidUTF8(strings.ToLower(strings.TrimSpace(name)), "")
	if len(n) > 64 {
		n = strings.ToValidUTF8(n[:64], "")
	}
	return n
}

func (s *server) login(ctx context.Context, in *loginInput) (*struct{ Body loginBody }, error) {
	name := attempted(in.Body.Username)
	try, err := s.logins.begin(name, RemoteFrom(ctx))
	if err != nil {
		return nil, err
	}
	p, err := s.d.Auth.Authenticate(ctx, in.Body.Username, in.Body.Password)
	if errors.Is(err, auth.ErrInvalidCredentials) {
		s.auditFailedLogin(ctx, name, "password", try.failed())
		return nil, apiError(http.StatusUnauthorized, "invalid user name or password")
	}
	if err != nil {
		try.abandoned()
		return nil, err
	}
	try.succeeded()
	body, err := s.session(ctx, p)
	if err != nil {
		return nil, err
	}
	return &struct{ Body loginBody }{Body: body}, nil
}

// session issues a login's token and records the login; a login that cannot be audited
// hands out no token.
func (s *server) session(ctx context.Context, p *auth.Principal) (loginBody, error) {
	tok, t, err := s.d.Auth.IssueSession(ctx, p)
	if err != nil {
		return loginBody{}, err
	}
	u, err := s.d.Auth.Get(ctx, p.UserID)
	if err == nil {
		err = s.appendAudit(ctx, audit.Entry{Actor: p.Name, Action: "auth.login", TargetKind: "User", TargetName: p.Name,
			Details: detailsJSON(map[string]any{"via": p.Via, "token_id": t.ID})})
	}
	if err != nil {
		if _, rerr := s.d.Auth.Revoke(context.WithoutCancel(ctx), p, t.ID); rerr != nil {
			loggerFrom(ctx).ErrorContext(ctx, "revoke the session of a failed login", "err", rerr)
		}
		return loginBody{}, err
	}
	return loginBody{Token: tok, ExpiresAt: t.ExpiresAt, User: u}, nil
}

// auditFailedLogin records a failed login, with the back-off it started or extended. Only
// attempts that were checked are recorded; the ones refused during a back-off are not.
func (s *server) auditFailedLogin(ctx context.Context, name, via string, locked time.Duration) {
	details := map[string]any{"via": via}
	if locked > 0 {
		secs := int64(math.Ceil(locked.Seconds()))
		details["locked_for_s"] = secs
		loggerFrom(ctx).WarnContext(ctx, "failed logins: backing off", "user", name, "via", via, "seconds", secs)
	}
	err := s.appendAudit(ctx, audit.Entry{Actor: "anonymous", Action: "auth.login_failed", TargetKind: "User", TargetName: name,
		Details: detailsJSON(details)})
	if err != nil {
		loggerFrom(ctx).ErrorContext(ctx, "audit a failed login", "err", err)
	}
}

func randomString() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

type oidcLoginOutput struct {
	Status    int
	Location  string      `header:"Location"`
	SetCookie http.Cookie `header:"Set-Cookie"`
}

func (s *server) oidcLogin(ctx context.Context, _ *struct{}) (*oidcLoginOutput, error) {
	if s.d.OIDC == nil {
		return nil, apiError(http.StatusNotFound, "OIDC login is not configured on this hub")
	}
	state, err := randomString()
	if err != nil {
		return nil, err
	}
	nonce, err := randomString()
	if err != nil {
		return nil, err
	}
	url, verifier := s.d.OIDC.AuthCodeURL(state, nonce)
	return &oidcLoginOutput{Status: http.StatusFound, Location: url, SetCookie: http.Cookie{
		Name: oidcCookie, Value: state + "." + nonce + "." + verifier, Path: BasePath + "/auth/oidc/callback",
		MaxAge: 600, HttpOnly: true, Secure: true, SameSite: http.SameSiteLaxMode,
	}}, nil
}

type oidcCallbackInput struct {
	Code   string `query:"code"`
	State  string `query:"state"`
	Error  string `query:"error"`
	Cookie string `cookie:"datahub_oidc"`
}

func (s *server) oidcCallback(ctx context.Context, in *oidcCallbackInput) (*struct {
	SetCookie http.Cookie `header:"Set-Cookie"`
	Body      loginBody
}, error) {
	if s.d.OIDC == nil {
		return nil, apiError(http.StatusNotFound, "OIDC login is not configured on this hub")
	}
	// Who is signing in is only known once the provider's answer is verified: failed OIDC
	// logins back off by client address.
	try, err := s.logins.begin("", RemoteFrom(ctx))
	if err != nil {
		return nil, err
	}
	fail := func(why string, err error) error {
		if err != nil {
			loggerFrom(ctx).WarnContext(ctx, "oidc login failed", "reason", why, "err", err)
		}
		s.auditFailedLogin(ctx, "", "oidc", try.failed())
		return apiError(http.StatusUnauthorized, "OIDC login failed: "+why)
	}
	if in.Error != "" {
		return nil, fail("the provider refused the login", nil)
	}
	parts := strings.Split(in.Cookie, ".")
	if len(parts) != 3 || in.State == "" || in.Code == "" {
		return nil, fail("the login was not started here or took too long; start again", nil)
	}
	if subtle.ConstantTimeCompare([]byte(parts[0]), []byte(in.State)) != 1 {
		return nil, fail("the state does not match; start again", nil)
	}
	p, err := s.d.OIDC.Exchange(ctx, in.Code, parts[2], parts[1])
	if err != nil {
		return nil, fail("the provider's answer was not accepted", err)
	}
	try.succeeded()
	body, err := s.session(ctx, p)
	if err != nil {
		return nil, err
	}
	return &struct {
		SetCookie http.Cookie `header:"Set-Cookie"`
		Body      loginBody
	}{
		SetCookie: http.Cookie{Name: oidcCookie, Value: "", Path: BasePath + "/auth/oidc/callback", MaxAge: -1, HttpOnly: true,
			Secure: true, SameSite: http.SameSiteLaxMode},
		Body: body,
	}, nil
}

type userOutput struct {
	Status int
	Body   *auth.User
}

func (s *server) userRoutes() {
	tags := []string{"users"}
	register(s, auth.PermUsersRead, huma.Operation{
		OperationID: "list-users", Method: http.MethodGet, Path: BasePath + "/users", Tags: tags,
		Summary: "List users and their roles",
	}, func(ctx context.Context, _ *struct{}) (*struct{ Body page[auth.User] }, error) {
		us, err := s.d.Auth.List(ctx)
		if err != nil {
			return nil, err
		}
		out := &struct{ Body page[auth.User] }{}
		out.Body.Items = us
		if out.Body.Items == nil {
			out.Body.Items = []auth.User{}
		}
		return out, nil
	})

	register(s, auth.PermUsersManage, huma.Operation{
		OperationID: "create-user", Method: http.MethodPost, Path: BasePath + "/users", Tags: tags,
		Summary:       "Create a local user",
		Description:   "Without a password the user is a service account that signs in with tokens only.",
		DefaultStatus: http.StatusCreated, Errors: []int{http.StatusConflict},
	}, func(ctx context.Context, in *struct {
		Body createUserRequest
	}) (*userOutput, error) {
		p := principal(ctx)
		u, err := s.d.Auth.CreateUser(ctx, auth.NewUser{Name: in.Body.Name, DisplayName: in.Body.DisplayName, Email: in.Body.Email,
			Password: in.Body.Password, Roles: in.Body.Roles})
		if err != nil {
			return nil, err
		}
		if err := s.appendAudit(ctx, audit.Entry{Actor: p.Name, Action: "user.create", TargetKind: "User", TargetName: u.Name,
			Details: detailsJSON(map[string]any{"roles": u.Roles, "has_password": u.HasPassword})}); err != nil {
			return nil, err
		}
		return &userOutput{Status: http.StatusCreated, Body: u}, nil
	})

	register(s, auth.PermUsersManage, huma.Operation{
		OperationID: "set-user-roles", Method: http.MethodPut, Path: BasePath + "/users/{name}/roles", Tags: tags,
		Summary: "Replace a user's roles", Errors: []int{http.StatusNotFound, http.StatusConflict},
	}, func(ctx context.Context, in *struct {
		Name string `path:"name"`
		Body setRolesRequest
	}) (*userOutput, error) {
		p := principal(ctx)
		u, err := s.d.Auth.GetByName(ctx, in.Name)
		if err != nil {
			return nil, err
		}
		before, after, err := s.d.Auth.SetRoles(ctx, u.ID, in.Body.Roles)
		if err != nil {
			return nil, err
		}
		if err := s.appendAudit(ctx, audit.Entry{Actor: p.Name, Action: "role.change", TargetKind: "User", TargetName: u.Name,
			Details: detailsJSON(map[string]any{"before": before, "after": after})}); err != nil {
			return nil, err
		}
		if u, err = s.d.Auth.Get(ctx, u.ID); err != nil {
			return nil, err
		}
		return &userOutput{Status: http.StatusOK, Body: u}, nil
	})
}

func (s *server) tokenRoutes() {
	tags := []string{"tokens"}
	register(s, auth.PermTokensSelf, huma.Operation{
		OperationID: "create-token", Method: http.MethodPost, Path: BasePath + "/tokens", Tags: tags,
		Summary:       "Create an API token",
		Description:   "For yourself, or with tokens.manage for another user (user). The token is shown once.",
		DefaultStatus: http.StatusCreated, Errors: []int{http.StatusNotFound},
	}, func(ctx context.Context, in *struct {
		Body createTokenRequest
	}) (*struct {
		Status int
		Body   newTokenBody
	}, error) {
		p := principal(ctx)
		u, err := s.tokenOwner(ctx, p, in.Body.User)
		if err != nil {
			return nil, err
		}
		nt := auth.NewToken{UserID: u.ID, Name: in.Body.Name, TTL: s.d.TokenTTL}
		if l := in.Body.ExpiresIn; l != nil {
			nt.TTL, nt.NoExpiry = l.D, l.Never
		}
		tok, t, err := s.d.Auth.CreateToken(ctx, p, nt)
		if err != nil {
			return nil, err
		}
		if err := s.appendAudit(ctx, audit.Entry{Actor: p.Name, Action: "token.create", TargetKind: "Token", TargetName: t.ID,
			Details: detailsJSON(map[string]any{"name": t.Name, "user": u.Name, "expires_at": t.ExpiresAt})}); err != nil {
			if _, rerr := s.d.Auth.Revoke(context.WithoutCancel(ctx), p, t.ID); rerr != nil {
				loggerFrom(ctx).ErrorContext(ctx, "revoke an unaudited token", "err", rerr)
			}
			return nil, err
		}
		return &struct {
			Status int
			Body   newTokenBody
		}{Status: http.StatusCreated, Body: newTokenBody{Token: tok, ID: t.ID, ExpiresAt: t.ExpiresAt}}, nil
	})

	register(s, auth.PermTokensSelf, huma.Operation{
		OperationID: "list-tokens", Method: http.MethodGet, Path: BasePath + "/tokens", Tags: tags,
		Summary: "List your tokens (with tokens.manage: another user's, or everyone's with user=*)",
	}, func(ctx context.Context, in *struct {
		User string `query:"user" doc:"User name, or * for every user (tokens.manage)"`
	}) (*struct{ Body page[auth.Token] }, error) {
		p := principal(ctx)
		userID := ""
		if in.User != "*" {
			u, err := s.tokenOwner(ctx, p, in.User)
			if err != nil {
				return nil, err
			}
			userID = u.ID
		}
		ts, err := s.d.Auth.ListTokens(ctx, p, userID)
		if err != nil {
			return nil, err
		}
		out := &struct{ Body page[auth.Token] }{}
		out.Body.Items = ts
		if out.Body.Items == nil {
			out.Body.Items = []auth.Token{}
		}
		return out, nil
	})

	register(s, auth.PermTokensSelf, huma.Operation{
		OperationID: "revoke-token", Method: http.MethodDelete, Path: BasePath + "/tokens/{id}", Tags: tags,
		Summary: "Revoke a token (yours, or with tokens.manage anyone's)", DefaultStatus: http.StatusNoContent,
		Errors: []int{http.StatusNotFound},
	}, func(ctx context.Context, in *struct {
		ID string `path:"id"`
	}) (*struct{}, error) {
		p := principal(ctx)
		t, err := s.d.Auth.Revoke(ctx, p, in.ID)
		if err != nil {
			return nil, err
		}
		if err := s.appendAudit(ctx, audit.Entry{Actor: p.Name, Action: "token.revoke", TargetKind: "Token", TargetName: t.ID,
			Details: detailsJSON(map[string]any{"name": t.Name, "user_id": t.UserID})}); err != nil {
			return nil, err
		}
		return &struct{}{}, nil
	})
}

// tokenOwner resolves the user whose tokens a request is about: the caller when name is
// empty. Other users need tokens.manage, checked before the name is looked up so that the
// answer tells nothing about which names exist.
func (s *server) tokenOwner(ctx context.Context, p *auth.Principal, name string) (*auth.User, error) {
	if name == "" || strings.EqualFold(strings.TrimSpace(name), p.Name) {
		return s.d.Auth.Get(ctx, p.UserID)
	}
	if !p.Can(auth.PermTokensManage) {
		return nil, apiError(http.StatusForbidden, "permission denied: other users' tokens need tokens.manage")
	}
	return s.d.Auth.GetByName(ctx, name)
}
