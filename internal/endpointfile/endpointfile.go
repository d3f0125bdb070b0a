// Package endpointfile reads named connections: the hub's Endpoint resources kept in a local
// file (~/.config/datahub/endpoints.yaml), so that `datahub copy @crm-db/public.people
// @dwh/people` needs no URL nor password on the command line. The endpoints are the ones the
// hub's catalog reads (package catalog), located in an environment as an integration's are
// (runs.Locate), with their secrets from the environment or files.
package endpointfile

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/datahub-oss/datahub/connector"
	"github.com/datahub-oss/datahub/internal/catalog"
	"github.com/datahub-oss/datahub/internal/runs"
	"github.com/datahub-oss/datahub/internal/secret"
)

// EnvVar names the endpoints file when no --endpoints flag does.
const EnvVar = "DATAHUB_ENDPOINTS"

// DefaultEnv is the environment chosen when the endpoint has it and none is asked for.
const DefaultEnv = "DEV"

// DefaultPath is the file named by $DATAHUB_ENDPOINTS, else endpoints.yaml in the user's
// configuration folder (~/.config/datahub on Linux).
func DefaultPath() string {
	if v := os.Getenv(EnvVar); v != "" {
		return v
	}
	dir, err := os.UserConfigDir()
	if err != nil {
		// No home: a relative name still gives a message that says where it looked.
		dir = "."
	}
	return filepath.Join(dir, "datahub", "endpoints.yaml")
}

// File is a parsed endpoints file.
type File struct {
	Path string
	// Secrets resolves secret:NAME references (the local secret store); nil refuses them.
	Secrets   runs.Resolver
	endpoints map[string]catalog.Resource
}

// Load reads and checks an endpoints file (catalog.ParseEndpointsFile). A missing file is an
// error that says where it was looked for and how to write one; it wraps fs.ErrNotExist.
func Load(path string) (*File, error) {
	rs, err := catalog.ParseEndpointsFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("no endpoints file %s: write Endpoint resources there (as for 'datahub apply', spec.system optional) or name one with --endpoints FILE: %w", path, fs.ErrNotExist)
	}
	if err != nil {
		return nil, err
	}
	f := &File{Path: path, endpoints: make(map[string]catalog.Resource, len(rs))}
	for _, r := range rs {
		f.endpoints[r.Metadata.Name] = r
	}
	return f, nil
}

// Names are the endpoints' names, sorted.
func (f *File) Names() []string {
	names := make([]string, 0, len(f.endpoints))
	for n := range f.endpoints {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// Get returns the endpoint name; an unknown name's error suggests the closest one.
func (f *File) Get(name string) (catalog.Resource, error) {
	if r, ok := f.endpoints[name]; ok {
		return r, nil
	}
	names := f.Names()
	msg := fmt.Sprintf("%s: no endpoint %q", f.Path, name)
	if s := catalog.Closest(name, names); s != "" {
		msg += fmt.Sprintf(" (did you mean %q?)", s)
	}
	if len(names) == 0 {
		return catalog.Resource{}, errors.New(msg + "; the file has none")
	}
	return catalog.Resource{}, errors.New(msg + "; it has " + strings.Join(names, ", "))
}

// IsRef reports whether a copy argument names an endpoint: it starts with '@'. A file whose
// name starts with '@' is written ./@name.
func IsRef(arg string) bool { return strings.HasPrefix(arg, "@") }

// Ref is a parsed @NAME[/TABLE-OR-PATH][?QUERY] argument.
type Ref struct {
	Name string
	// Sub is the table of a database endpoint or the path under a folder endpoint ("": the
	// endpoint's URL as it is).
	Sub string
	// Query is URL query text added to the endpoint's URL (options, or query=SELECT...).
	Query string
}

// ParseRef reads @NAME[/TABLE-OR-PATH][?QUERY]. The name ends at the first '/' or '?': an
// endpoint name has neither, and what follows the '/' may hold more of them (a path).
func ParseRef(arg string) (Ref, error) {
	rest, ok := strings.CutPrefix(arg, "@")
	if !ok {
		return Ref{}, fmt.Errorf("%q does not name an endpoint (@NAME[/TABLE-OR-PATH][?QUERY])", arg)
	}
	rest, query, _ := strings.Cut(rest, "?")
	name, sub, _ := strings.Cut(rest, "/")
	if name == "" {
		return Ref{}, fmt.Errorf("%q: no endpoint name after '@' (@NAME[/TABLE-OR-PATH][?QUERY])", arg)
	}
	return Ref{Name: name, Sub: sub, Query: query}, nil
}

// Resolved is an @name argument resolved to what a connector opens.
type Resolved struct {
	Endpoint connector.Endpoint
	Name     string
	Env      string
	Type     string
	// Secrets are the resolved secret values, for scrubbing what the copy prints.
	Secrets []string
}

// Resolve turns an @NAME[/TABLE-OR-PATH][?QUERY] argument into an endpoint in env (see
// PickEnv; "" picks the default), with its secrets resolved: env:NAME and file:PATH here,
// secret:NAME from f.Secrets (the local secret store). Errors name the file, the line and the
// endpoint, never a secret's value.
func (f *File) Resolve(ctx context.Context, arg, env string) (Resolved, error) {
	ref, err := ParseRef(arg)
	if err != nil {
		return Resolved{}, err
	}
	r, err := f.Get(ref.Name)
	if err != nil {
		return Resolved{}, err
	}
	spec := r.Endpoint()
	env, err = PickEnv(spec, env)
	if err != nil {
		return Resolved{}, f.errorAt(r, "spec.environments", err.Error())
	}
	// Locate takes the table for a database and the path for a file endpoint.
	e, eref, err := runs.Locate(ref.Name, spec, env, ref.Sub, "", ref.Sub)
	if err != nil {
		return Resolved{}, f.errorAt(r, "spec.environments."+env, err.Error())
	}
	if ref.Query != "" {
		sep := "?"
		if strings.Contains(e.URL, "?") {
			sep = "&"
		}
		e.URL += sep + ref.Query
	}
	vals, err := runs.InjectEndpointSecrets(ctx, localResolver{f.Secrets}, eref, &e)
	if err != nil {
		// The place already names the endpoint.
		msg := strings.TrimPrefix(err.Error(), fmt.Sprintf("endpoint %q ", ref.Name))
		return Resolved{}, f.errorAt(r, secretField(spec, env), msg)
	}
	return Resolved{Endpoint: e, Name: ref.Name, Env: env, Type: spec.Type, Secrets: vals}, nil
}

// PickEnv chooses the environment of an endpoint: want (any case) when given, else DEV when
// the endpoint has it, else its only one.
func PickEnv(spec *catalog.EndpointSpec, want string) (string, error) {
	envs := make([]string, 0, len(spec.Environments))
	for e := range spec.Environments {
		envs = append(envs, e)
	}
	slices.SortFunc(envs, func(a, b string) int {
		return slices.Index(catalog.Environments, a) - slices.Index(catalog.Environments, b)
	})
	if want != "" {
		w := strings.ToUpper(strings.TrimSpace(want))
		if _, ok := spec.Environments[w]; !ok {
			return "", fmt.Errorf("no URL for environment %s (it has %s)", w, strings.Join(envs, ", "))
		}
		return w, nil
	}
	if _, ok := spec.Environments[DefaultEnv]; ok {
		return DefaultEnv, nil
	}
	if len(envs) == 1 {
		return envs[0], nil
	}
	return "", fmt.Errorf("no %s URL and more than one environment (%s): choose one with --env", DefaultEnv, strings.Join(envs, ", "))
}

// Environments lists an endpoint's environments in their promotion order.
func Environments(spec *catalog.EndpointSpec) []string {
	var out []string
	for _, e := range catalog.Environments {
		if _, ok := spec.Environments[e]; ok {
			out = append(out, e)
		}
	}
	return out
}

// secretField is where an endpoint's secrets are written for env, for the line of a message.
func secretField(spec *catalog.EndpointSpec, env string) string {
	if len(spec.Environments[env].Secrets) > 0 {
		return "spec.environments." + env + ".secrets"
	}
	return "spec.secrets"
}

// errorAt places a problem at a field of endpoint r, as the catalog's messages do.
func (f *File) errorAt(r catalog.Resource, field, problem string) error {
	return &catalog.Error{File: f.Path, Doc: r.Origin.Doc, Kind: r.Kind, Name: r.Metadata.Name,
		Line: r.Origin.FieldLine(field), Field: field, Problem: problem}
}

// localResolver resolves env: and file: references as the hub does, and secret: ones from
// store: the local secret store (File.Secrets), when there is one.
type localResolver struct{ store runs.Resolver }

func (l localResolver) Resolve(ctx context.Context, ref string) (string, error) {
	if name, ok := strings.CutPrefix(ref, secret.PrefixSecret); ok {
		if l.store == nil {
			return "", fmt.Errorf("%s%s names a secret store, and none is open here: use env:NAME or file:PATH", secret.PrefixSecret, name)
		}
		return l.store.Resolve(ctx, ref)
	}
	var s *secret.Service // nil: env: and file: only
	return s.Resolve(ctx, ref)
}
