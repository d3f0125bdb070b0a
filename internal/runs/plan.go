// Package runs turns integrations into transfers: it resolves an integration in an
// environment into the source and destination endpoints the engine opens (secrets injected),
// and queues, cancels, lists and waits for runs through the bus and the transaction log.
package runs

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"path/filepath"
	"slices"
	"strings"

	"github.com/datahub-oss/datahub/connector"
	"github.com/datahub-oss/datahub/internal/catalog"
	"github.com/datahub-oss/datahub/internal/redact"
	"github.com/datahub-oss/datahub/internal/transform"
)

// Resolver resolves secret references (secret:NAME, env:NAME, file:PATH).
type Resolver interface {
	Resolve(ctx context.Context, ref string) (string, error)
}

// Plan is an integration resolved for one environment.
type Plan struct {
	Integration string
	Env         string
	Source      connector.Endpoint
	Dest        connector.Endpoint
	Mode        connector.WriteMode
	Key         []string
	Mapping     *transform.Mapping
	Retries     int
	// MaxRejects is the integration's limit on rejects; nil takes the mode's default.
	MaxRejects  *int64
	Concurrency int
	// NoInfer and InferRows steer type inference (engine.Options).
	NoInfer   bool
	InferRows int
	// Secrets are the resolved secret values, for scrubbing anything the run prints.
	Secrets []string
	// Author is who last applied the integration (its catalog updated_by): the rights its
	// triggered runs carry.
	Author string
	// SourceRef and DestRef are the Endpoint resources the endpoints come from, for the
	// policy step and for InjectSecrets.
	SourceRef, DestRef EndpointRef
	// HookSource is set when the source is a stored webhook or event body in the hub's own
	// hooks folder instead of the source endpoint.
	HookSource bool
}

// EndpointRef is the Endpoint resource a plan's endpoint was resolved from.
type EndpointRef struct {
	Name string
	Env  string
	// Author is who last applied the Endpoint (its catalog updated_by): the rights its
	// secret references are checked against.
	Author string
	// Secrets are the endpoint's secret references by option (password or an option name).
	Secrets map[string]string
}

// InjectSecrets resolves the secret references of the plan's endpoints and puts their values
// in (the password into the URL, other options into Options). Planning with a nil resolver
// and injecting afterwards lets the policy step look at the references before any is read.
func (p *Plan) InjectSecrets(ctx context.Context, resolver Resolver) error {
	if !p.HookSource {
		vals, err := injectSecrets(ctx, resolver, p.SourceRef, &p.Source)
		if err != nil {
			return fmt.Errorf("integration %q source: %w", p.Integration, err)
		}
		p.Secrets = append(p.Secrets, vals...)
	}
	vals, err := injectSecrets(ctx, resolver, p.DestRef, &p.Dest)
	if err != nil {
		return fmt.Errorf("integration %q destination: %w", p.Integration, err)
	}
	p.Secrets = append(p.Secrets, vals...)
	return nil
}

// Redacted returns the plan's endpoints as they may be shown and stored.
func (p *Plan) Redacted() (src, dst string) {
	return redact.Scrub(p.Source.Redacted(), p.Secrets), redact.Scrub(p.Dest.Redacted(), p.Secrets)
}

// ErrInvalid marks a request that cannot be planned (unknown environment, missing URL).
var ErrInvalid = errors.New("invalid run request")

// NormalizeEnv upper-cases an environment name and checks it is one of catalog.Environments.
func NormalizeEnv(env string) (string, error) {
	e := strings.ToUpper(strings.TrimSpace(env))
	if !slices.Contains(catalog.Environments, e) {
		return "", fmt.Errorf("%w: environment %q is not one of %s", ErrInvalid, env, strings.Join(catalog.Environments, ", "))
	}
	return e, nil
}

// Resolve builds the plan of integration name in env. With resolver nil, secret references
// are left out (for showing a plan without touching secrets).
func Resolve(ctx context.Context, cat *catalog.Service, resolver Resolver, name, env string) (*Plan, error) {
	return ResolveParams(ctx, cat, resolver, name, env, nil)
}

// ResolveParams is Resolve with a run's parameters: "path" (set by file triggers) names the
// source file, relative to a file source endpoint's folder and confined to it.
func ResolveParams(ctx context.Context, cat *catalog.Service, resolver Resolver, name, env string, params map[string]string) (*Plan, error) {
	return ResolveWith(ctx, cat, resolver, name, env, params, ResolveOptions{})
}

// ResolveWith is ResolveParams with options: with HooksDir set, the parameter "file" (set by
// webhooks whose body is the data) names a stored request body that replaces the source.
func ResolveWith(ctx context.Context, cat *catalog.Service, resolver Resolver, name, env string, params map[string]string, opts ResolveOptions) (*Plan, error) {
	env, err := NormalizeEnv(env)
	if err != nil {
		return nil, err
	}
	ie, err := cat.Get(ctx, catalog.KindIntegration, name)
	if err != nil {
		return nil, err
	}
	spec := ie.Resource.Integration()
	if spec == nil {
		return nil, fmt.Errorf("integration %q has no integration spec", name)
	}
	if len(spec.Environments) > 0 && !slices.ContainsFunc(spec.Environments, func(e string) bool { return strings.EqualFold(e, env) }) {
		return nil, fmt.Errorf("%w: integration %q is not deployed to %s (environments: %s)", ErrInvalid, name, env, strings.Join(spec.Environments, ", "))
	}
	mode, err := connector.ParseWriteMode(spec.Destination.Mode)
	if err != nil {
		return nil, fmt.Errorf("%w: integration %q: %v", ErrInvalid, name, err)
	}
	p := &Plan{Integration: name, Env: env, Mode: mode, Key: spec.Destination.Keys, Mapping: spec.Mapping,
		Retries: spec.Retries, Concurrency: max(spec.Concurrency, 1), Author: ie.UpdatedBy,
		NoInfer: spec.Destination.Infer != nil && !*spec.Destination.Infer, InferRows: spec.Destination.InferRows}
	if spec.MaxRejects != nil {
		n := int64(*spec.MaxRejects)
		p.MaxRejects = &n
	}
	srcPath := spec.Source.Path
	if pp := params["path"]; pp != "" {
		if filepath.IsAbs(pp) || strings.Contains(filepath.ToSlash(pp), "..") {
			return nil, fmt.Errorf("%w: path parameter %q must be a relative path inside the source folder (no .. segments)", ErrInvalid, pp)
		}
		srcPath = pp
	}
	p.Source, p.SourceRef, err = p.endpoint(ctx, cat, resolver, spec.Source.Endpoint, env, spec.Source.Table, spec.Source.Query, srcPath)
	if err != nil {
		return nil, fmt.Errorf("integration %q source: %w", name, err)
	}
	if f := params[ParamFile]; f != "" {
		if p.Source, err = hookSource(spec, opts, name, f, p.Source); err != nil {
			return nil, err
		}
		p.HookSource = true
	}
	p.Dest, p.DestRef, err = p.endpoint(ctx, cat, resolver, spec.Destination.Endpoint, env, spec.Destination.Table, "", spec.Destination.Path)
	if err != nil {
		return nil, fmt.Errorf("integration %q destination: %w", name, err)
	}
	return p, nil
}

// ResolveEndpoint resolves Endpoint resource name in env (upper-cased and checked) with a
// table, secrets injected as for a run's endpoints. It returns the endpoint and the resolved
// secret values (for scrubbing what is printed). Table deliveries of subscriptions use it.
func ResolveEndpoint(ctx context.Context, cat *catalog.Service, resolver Resolver, name, env, table string) (connector.Endpoint, []string, error) {
	env, err := NormalizeEnv(env)
	if err != nil {
		return connector.Endpoint{}, nil, err
	}
	p := &Plan{Env: env}
	e, _, err := p.endpoint(ctx, cat, resolver, name, env, table, "", "")
	return e, p.Secrets, err
}

// PlanEndpoint is ResolveEndpoint without the secrets: the endpoint and the resource it came
// from, for a policy check before InjectEndpointSecrets.
func PlanEndpoint(ctx context.Context, cat *catalog.Service, name, env, table string) (connector.Endpoint, EndpointRef, error) {
	env, err := NormalizeEnv(env)
	if err != nil {
		return connector.Endpoint{}, EndpointRef{}, err
	}
	p := &Plan{Env: env}
	return p.endpoint(ctx, cat, nil, name, env, table, "", "")
}

// InjectEndpointSecrets resolves ref's secret references into e; it returns the values, for
// scrubbing what is printed.
func InjectEndpointSecrets(ctx context.Context, resolver Resolver, ref EndpointRef, e *connector.Endpoint) ([]string, error) {
	return injectSecrets(ctx, resolver, ref, e)
}

// endpoint resolves one Endpoint resource in env, adding the integration's table, query or
// path and, with a resolver, the endpoint's secrets.
func (p *Plan) endpoint(ctx context.Context, cat *catalog.Service, resolver Resolver, name, env, table, query, path string) (connector.Endpoint, EndpointRef, error) {
	ee, err := cat.Get(ctx, catalog.KindEndpoint, name)
	if err != nil {
		return connector.Endpoint{}, EndpointRef{}, err
	}
	e, ref, err := Locate(name, ee.Resource.Endpoint(), env, table, query, path)
	ref.Author = ee.UpdatedBy
	if err != nil {
		return connector.Endpoint{}, ref, err
	}
	if resolver != nil {
		vals, err := injectSecrets(ctx, resolver, ref, &e)
		if err != nil {
			return connector.Endpoint{}, ref, err
		}
		p.Secrets = append(p.Secrets, vals...)
	}
	return e, ref, nil
}

// Locate resolves the Endpoint resource name (its spec) in env, adding a table, query or path,
// without its secrets (see InjectEndpointSecrets): a file endpoint's path is joined to its URL,
// which then confines it; a database's table and query go into the URL's query. The ref comes
// back even with an error, for messages.
func Locate(name string, spec *catalog.EndpointSpec, env, table, query, path string) (connector.Endpoint, EndpointRef, error) {
	envEP, ok := spec.Environments[env]
	// The environment's own secret references win over the endpoint's.
	secrets := maps.Clone(spec.Secrets)
	if len(envEP.Secrets) > 0 {
		if secrets == nil {
			secrets = map[string]string{}
		}
		maps.Copy(secrets, envEP.Secrets)
	}
	ref := EndpointRef{Name: name, Env: env, Secrets: secrets}
	if !ok || envEP.URL == "" {
		return connector.Endpoint{}, ref, fmt.Errorf("%w: endpoint %q has no URL for %s", ErrInvalid, name, env)
	}
	e := connector.Endpoint{URL: envEP.URL, Options: map[string]string{}}
	for k, v := range spec.Options {
		e.Options[k] = v
	}
	for k, v := range envEP.Options {
		e.Options[k] = v
	}
	spec2, err := connector.Resolve(envEP.URL)
	if err != nil {
		return connector.Endpoint{}, ref, err
	}
	if spec2.Paths || spec2.Name == "file" {
		// A file endpoint is a file, or a folder that confines the integration's paths.
		if path != "" {
			e.Root = envEP.URL
			e.URL = filepath.Join(envEP.URL, filepath.FromSlash(path))
		}
	} else {
		if table != "" {
			e.URL = addQuery(e.URL, "table", table)
		}
		if query != "" {
			e.URL = addQuery(e.URL, "query", query)
		}
	}
	return e, ref, nil
}

// injectSecrets resolves ref's secret references into e.
func injectSecrets(ctx context.Context, resolver Resolver, ref EndpointRef, e *connector.Endpoint) ([]string, error) {
	if resolver == nil || len(ref.Secrets) == 0 {
		return nil, nil
	}
	var vals []string
	opts := make([]string, 0, len(ref.Secrets))
	for opt := range ref.Secrets {
		opts = append(opts, opt)
	}
	slices.Sort(opts)
	for _, opt := range opts {
		val, err := resolver.Resolve(ctx, ref.Secrets[opt])
		if err != nil {
			return nil, fmt.Errorf("endpoint %q secret %s: %w", ref.Name, opt, err)
		}
		vals = append(vals, val)
		if opt == "password" {
			if e.URL, err = withPassword(e.URL, val); err != nil {
				return nil, fmt.Errorf("endpoint %q: %w", ref.Name, err)
			}
			continue
		}
		if e.Options == nil {
			e.Options = map[string]string{}
		}
		e.Options[opt] = val
	}
	return vals, nil
}

func addQuery(raw, k, v string) string {
	sep := "?"
	if strings.Contains(raw, "?") {
		sep = "&"
	}
	return raw + sep + url.QueryEscape(k) + "=" + url.QueryEscape(v)
}

// withPassword puts a password into a URL's user information.
func withPassword(raw, password string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "", errors.New("a password secret needs a URL of the form scheme://user@host/db")
	}
	user := ""
	if u.User != nil {
		user = u.User.Username()
	}
	u.User = url.UserPassword(user, password)
	return u.String(), nil
}
