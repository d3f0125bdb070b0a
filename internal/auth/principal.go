package auth

import (
	"context"
	"slices"
)

// Via says how a principal proved who it is.
type Via string

// The ways in.
const (
	ViaToken    Via = "token"
	ViaPassword Via = "password"
	ViaOIDC     Via = "oidc"
)

// Principal is an authenticated caller.
type Principal struct {
	UserID string
	Name   string
	Roles  []Role
	// TokenID is the token used, when Via is ViaToken.
	TokenID string
	Via     Via
}

// Can reports whether the principal holds p (see Allowed).
func (p *Principal) Can(perm Permission) bool { return p != nil && Allowed(p.Roles, perm) }

// CanRun reports whether the principal may start a run in env (see CanRun).
func (p *Principal) CanRun(env string) bool { return p != nil && CanRun(p.Roles, env) }

// IsAdmin reports whether the principal holds the admin role.
func (p *Principal) IsAdmin() bool { return p != nil && slices.Contains(p.Roles, RoleAdmin) }

// CanManageTokensOf reports whether the principal may create, list and revoke the tokens of
// user userID: everyone their own, holders of tokens.manage anyone's.
func (p *Principal) CanManageTokensOf(userID string) bool {
	if p == nil {
		return false
	}
	if p.UserID == userID {
		return p.Can(PermTokensSelf)
	}
	return p.Can(PermTokensManage)
}

type principalKey struct{}

// WithPrincipal returns a context carrying p, for handlers below the authentication layer.
func WithPrincipal(ctx context.Context, p *Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// FromContext returns the principal WithPrincipal stored, or nil.
func FromContext(ctx context.Context) *Principal {
	p, _ := ctx.Value(principalKey{}).(*Principal)
	return p
}
