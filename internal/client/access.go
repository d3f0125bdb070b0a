package client

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"unicode/utf8"
)

// PutSecret creates or replaces a secret. The value must be text (UTF-8): JSON cannot carry
// other bytes unchanged.
func (c *Client) PutSecret(ctx context.Context, name string, value []byte) (Secret, error) {
	if !utf8.Valid(value) {
		return Secret{}, errors.New("the secret value is not UTF-8 text")
	}
	var s Secret
	err := c.do(ctx, request{method: http.MethodPut, path: "/secrets/" + seg(name)}, map[string]string{"value": string(value)}, &s)
	return s, err
}

// ListSecrets returns the secrets' names and dates.
func (c *Client) ListSecrets(ctx context.Context) ([]Secret, error) {
	return collect[Secret](ctx, c, "/secrets", nil, false)
}

// DeleteSecret deletes a secret.
func (c *Client) DeleteSecret(ctx context.Context, name string) error {
	return c.do(ctx, request{method: http.MethodDelete, path: "/secrets/" + seg(name)}, nil, nil)
}

// ListUsers returns the users.
func (c *Client) ListUsers(ctx context.Context) ([]User, error) {
	return collect[User](ctx, c, "/users", nil, false)
}

// CreateUser creates a local user.
func (c *Client) CreateUser(ctx context.Context, u NewUser) (User, error) {
	var out User
	err := c.do(ctx, request{method: http.MethodPost, path: "/users"}, u, &out)
	return out, err
}

// SetRoles replaces a user's roles.
func (c *Client) SetRoles(ctx context.Context, name string, roles []string) (User, error) {
	if roles == nil {
		roles = []string{}
	}
	var out User
	err := c.do(ctx, request{method: http.MethodPut, path: "/users/" + seg(name) + "/roles"}, map[string][]string{"roles": roles}, &out)
	return out, err
}

// CreateToken creates an API token; the answer holds the token, shown this once.
func (c *Client) CreateToken(ctx context.Context, t NewToken) (CreatedToken, error) {
	var out CreatedToken
	err := c.do(ctx, request{method: http.MethodPost, path: "/tokens"}, t, &out)
	return out, err
}

// ListTokens returns the caller's tokens, or user's (which needs tokens.manage).
func (c *Client) ListTokens(ctx context.Context, user string) ([]Token, error) {
	q := url.Values{}
	if user != "" {
		q.Set("user", user)
	}
	return collect[Token](ctx, c, "/tokens", q, false)
}

// RevokeToken revokes a token by id.
func (c *Client) RevokeToken(ctx context.Context, id string) error {
	return c.do(ctx, request{method: http.MethodDelete, path: "/tokens/" + seg(id)}, nil, nil)
}

// Me returns who the token belongs to.
func (c *Client) Me(ctx context.Context) (Principal, error) {
	var p Principal
	err := c.do(ctx, request{method: http.MethodGet, path: "/me"}, nil, &p)
	return p, err
}

// Login exchanges a local user's name and password for a session token. The client's own
// token is not needed.
func (c *Client) Login(ctx context.Context, user, password string) (Session, error) {
	var s Session
	err := c.do(ctx, request{method: http.MethodPost, path: "/auth/login"}, map[string]string{"username": user, "password": password}, &s)
	var ae *APIError
	if errors.As(err, &ae) && ae.Status == http.StatusUnauthorized {
		ae.login = true
		if ae.Message == "" || ae.Message == CodeUnauthenticated {
			ae.Message = "login refused: wrong user name or password"
		}
	}
	return s, err
}
