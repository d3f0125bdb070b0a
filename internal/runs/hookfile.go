package runs

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/datahub-oss/datahub/connector"
	"github.com/datahub-oss/datahub/internal/catalog"
)

// ParamFile is the run parameter naming a webhook's stored request body (an absolute path
// under the hub's hooks folder) that is read instead of the source endpoint.
const ParamFile = "file"

// ResolveOptions tune ResolveWith.
type ResolveOptions struct {
	// HooksDir is <data>/hooks, the only folder the "file" parameter may name a file in
	// (in its integration's sub-folder). Empty refuses the parameter.
	HooksDir string
}

// HookBodyIsData reports whether an integration's trigger is a webhook whose request body is
// the run's data (trigger settings body: data), or an event trigger whose messages are
// (body: data, its default).
func HookBodyIsData(spec *catalog.IntegrationSpec) bool {
	if spec == nil {
		return false
	}
	b, _ := spec.Trigger.Settings["body"].(string)
	switch spec.Trigger.Type {
	case "webhook":
		return strings.TrimSpace(b) == "data"
	case "event":
		return strings.TrimSpace(b) == "data" || strings.TrimSpace(b) == ""
	}
	return false
}

// hookSource is the source endpoint reading a stored webhook body. The parameter may come
// from anyone who may request a run, so it is only honoured for a body: data webhook, and
// only for a regular file directly in <HooksDir>/<integration>.
func hookSource(spec *catalog.IntegrationSpec, opts ResolveOptions, name, file string, src connector.Endpoint) (connector.Endpoint, error) {
	if !HookBodyIsData(spec) {
		return connector.Endpoint{}, fmt.Errorf("%w: the %s parameter is only for integrations triggered by a webhook or an event with body: data", ErrInvalid, ParamFile)
	}
	if opts.HooksDir == "" {
		return connector.Endpoint{}, fmt.Errorf("%w: the %s parameter needs the hub's data folder", ErrInvalid, ParamFile)
	}
	root, err := filepath.Abs(filepath.Join(opts.HooksDir, name))
	if err != nil {
		return connector.Endpoint{}, fmt.Errorf("%w: hooks folder: %v", ErrInvalid, err)
	}
	clean := filepath.Clean(file)
	if !filepath.IsAbs(file) || clean != file || filepath.Dir(clean) != root {
		return connector.Endpoint{}, fmt.Errorf("%w: the %s parameter must name a stored webhook body of %s", ErrInvalid, ParamFile, name)
	}
	fi, err := os.Lstat(clean)
	if err != nil || !fi.Mode().IsRegular() {
		return connector.Endpoint{}, fmt.Errorf("%w: the %s parameter must name a stored webhook body of %s", ErrInvalid, ParamFile, name)
	}
	// Format options (delimiter, header...) of a file source still apply; a non-file source's
	// options mean nothing to the file connector.
	opt := map[string]string{}
	if s, err := connector.Resolve(src.URL); err == nil && (s.Paths || s.Name == "file") {
		for k, v := range src.Options {
			if k != "format" {
				opt[k] = v
			}
		}
	}
	return connector.Endpoint{URL: clean, Root: root, Options: opt}, nil
}
