package policy

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/datahub-oss/datahub/connector"
	"github.com/datahub-oss/datahub/internal/auth"
	"github.com/datahub-oss/datahub/internal/runs"
	"github.com/datahub-oss/datahub/internal/secret"
)

// CheckRef reports whether an author holding roles may have a resource use secret reference
// ref. secret:NAME is for everyone. env:NAME and file:PATH read the hub's own environment and
// files, so they are for admins, or for names and paths the settings allow. Whoever the
// author, a file: reference never reads the data folder outside its files/ folder (the
// master key, the admin token, the store): nothing there is a credential for an endpoint.
func (p *Policy) CheckRef(roles []auth.Role, ref string) error {
	admin := slices.Contains(roles, auth.RoleAdmin)
	switch {
	case strings.HasPrefix(ref, secret.PrefixEnv):
		name := strings.TrimPrefix(ref, secret.PrefixEnv)
		if admin || matchAny(p.envAllow, name) {
			return nil
		}
		return &Error{What: "the reference " + ref, Why: "only admins may reference environment variables of the hub, unless secrets.env_allow names them",
			Hint: "store the value as a secret (datahub secret put NAME) and use secret:NAME, or have an admin apply the resource"}
	case strings.HasPrefix(ref, secret.PrefixFile):
		path := strings.TrimPrefix(ref, secret.PrefixFile)
		real, err := realPath(path)
		if err != nil {
			return &Error{What: "the reference " + ref, Why: err.Error(), Hint: "reference a plain path"}
		}
		if within(real, realOrAbs(p.data)) && !within(real, realOrAbs(p.files)) {
			return &Error{What: "the reference " + ref, Why: fmt.Sprintf("it reads the hub's data folder %s (master key, admin token, store)", p.data),
				Hint: "store the value as a secret (datahub secret put NAME) and use secret:NAME"}
		}
		if admin {
			return nil
		}
		abs, _ := filepath.Abs(path)
		if matchAny(p.fileAllow, abs) && matchAny(p.fileAllow, real) {
			return nil
		}
		return &Error{What: "the reference " + ref, Why: "only admins may reference files of the hub, unless secrets.file_allow names them",
			Hint: "store the value as a secret (datahub secret put NAME) and use secret:NAME, or have an admin apply the resource"}
	}
	return nil
}

func matchAny(globs []string, s string) bool {
	for _, g := range globs {
		if ok, _ := filepath.Match(g, s); ok {
			return true
		}
	}
	return false
}

// Requester is who a run carries the rights of: User for a run someone asked for, Trigger for
// a run a trigger started (whose rights are those of the integration's author).
type Requester struct {
	User    string
	Trigger string
}

// CheckRun is the policy step every run passes after planning and before the engine opens
// anything (the plan's secrets not yet injected): the requester (or, for a trigger's run, the
// integration's author) must be a current, enabled user allowed to run in the plan's
// environment; both endpoints must pass CheckEndpoint; their secret references must be
// allowed to the Endpoints' authors. A stored webhook or event body is the hub's own file and
// passes as it is. The error is a connector error with code permission.
func (p *Policy) CheckRun(ctx context.Context, plan *runs.Plan, r Requester) error {
	if err := p.checkRights(ctx, plan, r); err != nil {
		return connector.Errorf(connector.CodePermission, "", "", err)
	}
	type side struct {
		ref runs.EndpointRef
		e   connector.Endpoint
	}
	sides := []side{{plan.DestRef, plan.Dest}}
	if !plan.HookSource {
		sides = append([]side{{plan.SourceRef, plan.Source}}, sides...)
	}
	for _, s := range sides {
		if err := p.CheckEndpointUse(ctx, s.ref, s.e); err != nil {
			return connector.Errorf(connector.CodePermission, "", "", err)
		}
	}
	return nil
}

// CheckEndpointUse is the run-time check of one endpoint a run or delivery opens (secrets not
// yet injected): CheckEndpoint, then its secret references and the files its URL makes the
// driver read, against the current roles of whoever last applied the Endpoint.
func (p *Policy) CheckEndpointUse(ctx context.Context, ref runs.EndpointRef, e connector.Endpoint) error {
	if err := p.CheckEndpoint(ctx, ref.Name, ref.Env, e); err != nil {
		return err
	}
	if err := p.CheckEndpointRefs(ctx, ref); err != nil {
		return err
	}
	if p.users == nil || len(pgFiles(e.URL)) == 0 {
		return nil
	}
	roles, _ := p.currentRoles(ctx, ref.Author)
	if err := p.checkPGFiles(roles, e.URL); err != nil {
		var pe *Error
		if errors.As(err, &pe) {
			pe.Endpoint, pe.Env = ref.Name, ref.Env
			pe.Why += fmt.Sprintf(" (last applied by %s)", orNobody(ref.Author))
		}
		return err
	}
	return nil
}

// CheckAuthorRefs checks secret references (those that are references; other values are
// skipped) against the current roles of author, who last applied the resource holding them.
func (p *Policy) CheckAuthorRefs(ctx context.Context, author string, refs ...string) error {
	if p.users == nil {
		return nil
	}
	roles, _ := p.currentRoles(ctx, author)
	for _, ref := range refs {
		if !secret.IsRef(ref) {
			continue
		}
		if err := p.CheckRef(roles, ref); err != nil {
			var pe *Error
			if errors.As(err, &pe) {
				pe.Why += fmt.Sprintf(" (last applied by %s)", orNobody(author))
			}
			return err
		}
	}
	return nil
}

// CheckEndpointRefs checks an Endpoint's secret references against the current roles of
// whoever last applied it.
func (p *Policy) CheckEndpointRefs(ctx context.Context, ref runs.EndpointRef) error {
	if len(ref.Secrets) == 0 || p.users == nil {
		return nil
	}
	roles, _ := p.currentRoles(ctx, ref.Author)
	opts := make([]string, 0, len(ref.Secrets))
	for o := range ref.Secrets {
		opts = append(opts, o)
	}
	slices.Sort(opts)
	for _, o := range opts {
		if err := p.CheckRef(roles, ref.Secrets[o]); err != nil {
			var pe *Error
			if errors.As(err, &pe) {
				pe.Endpoint, pe.Env = ref.Name, ref.Env
				pe.Why += fmt.Sprintf(" (secret %s, last applied by %s)", o, orNobody(ref.Author))
			}
			return err
		}
	}
	return nil
}

func orNobody(s string) string {
	if s == "" {
		return "nobody known"
	}
	return s
}

// checkRights refuses a run whose requester may not run in the plan's environment now.
func (p *Policy) checkRights(ctx context.Context, plan *runs.Plan, r Requester) error {
	if p.users == nil {
		return nil
	}
	who, whose := r.User, "its requester"
	if r.Trigger != "" {
		who, whose = plan.Author, fmt.Sprintf("the author of its %s trigger (who last applied integration %q)", r.Trigger, plan.Integration)
	}
	what := fmt.Sprintf("the run of integration %q in %s", plan.Integration, plan.Env)
	roles, err := p.currentRoles(ctx, who)
	if err != nil {
		return &Error{What: what, Why: fmt.Sprintf("%s, %s", whose, err), Hint: "have a user who may run it in " + plan.Env + " apply the integration again, or run it"}
	}
	if !auth.CanRun(roles, plan.Env) {
		return &Error{What: what, Why: fmt.Sprintf("%s, %s, may not run integrations in %s (roles: %s)", whose, who, plan.Env, roleNames(roles)),
			Hint: "have a user who may run it in " + plan.Env + " (an operator or admin) apply the integration again, or run it"}
	}
	return nil
}

// currentRoles are a user's roles now: an error when there is no such user or it is disabled.
func (p *Policy) currentRoles(ctx context.Context, name string) ([]auth.Role, error) {
	if p.users == nil || name == "" {
		return nil, errors.New("is not known")
	}
	u, err := p.users.GetByName(ctx, name)
	if errors.Is(err, auth.ErrNotFound) {
		return nil, fmt.Errorf("%s, is not a user any more", name)
	}
	if err != nil {
		return nil, fmt.Errorf("%s, could not be looked up: %v", name, err)
	}
	if u.Disabled {
		return nil, fmt.Errorf("%s, is disabled", name)
	}
	return u.Roles, nil
}

func roleNames(roles []auth.Role) string {
	if len(roles) == 0 {
		return "none"
	}
	names := make([]string, len(roles))
	for i, r := range roles {
		names[i] = string(r)
	}
	return strings.Join(names, ", ")
}
