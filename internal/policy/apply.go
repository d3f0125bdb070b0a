package policy

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/datahub-oss/datahub/connector"
	"github.com/datahub-oss/datahub/internal/auth"
	"github.com/datahub-oss/datahub/internal/catalog"
	"github.com/datahub-oss/datahub/internal/secret"
)

// ApplyCheck is the catalog.ApplyOptions.Check of an apply by applier: every Endpoint URL
// must pass CheckEndpoint; every secret reference a document holds (endpoint secrets,
// webhook trigger secrets, subscription and notification URLs and keys) must be allowed to
// the applier (CheckRef); and an Integration whose trigger runs in an environment, as
// applied and as it stands, may only be applied by someone who may run it there
// (auth.CanRun), since its triggered runs carry the rights of whoever applied it last.
func (p *Policy) ApplyCheck(applier *auth.Principal) catalog.CheckFunc {
	return func(ctx context.Context, r, live *catalog.Resource, _ func(catalog.Key) (*catalog.Resource, error)) ([]catalog.Problem, error) {
		var out []catalog.Problem
		add := func(field string, err error) {
			var pe *Error
			if errors.As(err, &pe) {
				out = append(out, catalog.Problem{Field: field, Message: pe.Problem()})
			} else if err != nil {
				out = append(out, catalog.Problem{Field: field, Message: err.Error()})
			}
		}
		for _, f := range catalog.SecretFields(r) {
			if secret.IsRef(f.Value) {
				add(f.Path, p.CheckRef(applier.Roles, f.Value))
			}
		}
		switch r.Kind {
		case catalog.KindEndpoint:
			s := r.Endpoint()
			for _, env := range sortedKeys(s.Environments) {
				field, url := "spec.environments."+env+".url", s.Environments[env].URL
				// The options as a run sees them (the environment's over the endpoint's), so
				// that an option naming a path is confined at apply as at run time.
				opts := map[string]string{}
				maps.Copy(opts, s.Options)
				maps.Copy(opts, s.Environments[env].Options)
				add(field, p.CheckEndpoint(ctx, r.Metadata.Name, env, connector.Endpoint{URL: url, Options: opts}))
				add(field, p.checkPGFiles(applier.Roles, url))
			}
		case catalog.KindIntegration:
			for _, doc := range []*catalog.Resource{r, live} {
				if msg := runRightsProblem(applier, doc, doc == live); msg != "" {
					out = append(out, catalog.Problem{Field: "spec.trigger.env", Message: msg})
				}
			}
		}
		return out, nil
	}
}

// DeleteCheck is the check of a deletion by applier (catalog.Service.DeleteChecked): an
// Integration whose trigger runs in an environment the applier may not run in stays.
func (p *Policy) DeleteCheck(applier *auth.Principal) func(ctx context.Context, r *catalog.Resource) error {
	return func(_ context.Context, r *catalog.Resource) error {
		if msg := runRightsProblem(applier, r, true); msg != "" {
			return fmt.Errorf("%w: %s", auth.ErrForbidden, msg)
		}
		return nil
	}
}

// TriggerEnv is the environment an Integration's trigger starts runs in ("" for none, or a
// manual trigger).
func TriggerEnv(r *catalog.Resource) string {
	if r == nil || r.Integration() == nil {
		return ""
	}
	t := r.Integration().Trigger
	if t.Type == "" || t.Type == "manual" {
		return ""
	}
	env, _ := t.Settings["env"].(string)
	return strings.ToUpper(strings.TrimSpace(env))
}

// runRightsProblem says why applier may not (re)write integration r ("" when it may).
func runRightsProblem(applier *auth.Principal, r *catalog.Resource, current bool) string {
	env := TriggerEnv(r)
	if env == "" || auth.CanRun(applier.Roles, env) {
		return ""
	}
	which := "its trigger starts"
	if current {
		which = "its current trigger starts"
	}
	return fmt.Sprintf("%s runs in %s, which your roles (%s) may not run: a trigger's runs carry the rights of whoever applied the integration last; have an operator or admin apply it",
		which, env, roleNames(applier.Roles))
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
