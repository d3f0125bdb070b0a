package cli

import (
	"context"

	"github.com/datahub-oss/datahub/connector"
	"github.com/datahub-oss/datahub/internal/endpointfile"
)

// loadEndpoints reads the endpoints file the --endpoints flag names, else the default one; a
// file missing or wrong is a usage error.
func loadEndpoints(flag string, secrets *localSecrets) (*endpointfile.File, error) {
	path := flag
	if path == "" {
		path = endpointfile.DefaultPath()
	}
	f, err := endpointfile.Load(path)
	if err != nil {
		return nil, usageError("%v", err)
	}
	if secrets != nil {
		f.Secrets = secrets
	}
	return f, nil
}

// copyEndpoints makes a copy's SOURCE and DEST endpoints, resolving the @NAME ones through the
// endpoints file (read only when an argument names one) in --env, and returns the secret
// values resolved, for scrubbing what the run prints.
func copyEndpoints(ctx context.Context, f *copyFlags, src, dst string) (s, d connector.Endpoint, secrets []string, err error) {
	s = connector.Endpoint{URL: src, Format: f.fromFormat, BatchSize: f.batchSize, Root: f.root}
	d = connector.Endpoint{URL: dst, Format: f.toFormat, BatchSize: f.batchSize, Root: f.root}
	if !endpointfile.IsRef(src) && !endpointfile.IsRef(dst) {
		if f.env != "" {
			return s, d, nil, usageError("--env chooses the environment of @NAME endpoints, and SOURCE and DEST name none")
		}
		return s, d, nil, nil
	}
	secretStore := &localSecrets{data: dataDir(f.data)}
	defer func() { _ = secretStore.Close() }()
	eps, err := loadEndpoints(f.endpoints, secretStore)
	if err != nil {
		return s, d, nil, err
	}
	for _, e := range []*connector.Endpoint{&s, &d} {
		if !endpointfile.IsRef(e.URL) {
			continue
		}
		r, err := eps.Resolve(ctx, e.URL, f.env)
		if err != nil {
			return s, d, nil, usageError("%v", err)
		}
		e.URL, e.Options = r.Endpoint.URL, r.Endpoint.Options
		// A folder endpoint confines the path given under it, unless --root confines more.
		if e.Root == "" {
			e.Root = r.Endpoint.Root
		}
		secrets = append(secrets, r.Secrets...)
	}
	return s, d, secrets, nil
}
