package policy

import (
	"context"
	"os"
	"path/filepath"

	"github.com/datahub-oss/datahub/connector"
	"github.com/datahub-oss/datahub/internal/connectors/file"
	"github.com/datahub-oss/datahub/internal/connectors/sqlite"
)

// CheckEndpoint reports whether endpoint e, resolved from Endpoint resource name in env, may
// be opened: local files and folders (e.URL and, for a folder endpoint, e.Root) and SQLite
// files must pass CheckPath, and a PostgreSQL endpoint must not be the hub's own store nor
// take its settings from a service file. "-" (standard input or output) is refused.
// Connectors the policy does not know (network stores and services) are not confined here.
func (p *Policy) CheckEndpoint(ctx context.Context, name, env string, e connector.Endpoint) error {
	spec, err := connector.Resolve(e.URL)
	if err != nil {
		// No connector would open it either; refusing says so before anything is tried.
		return at(&Error{What: connector.Redact(e.URL), Why: err.Error(), Hint: "use a URL a connector serves"}, name, env)
	}
	switch spec.Name {
	case "sftp":
		// The SFTP store takes its key from the URL or the user's ~/.ssh and its host keys from
		// known_hosts files: right for datahub copy on a person's machine, not for the hub, whose
		// own home folder and files an endpoint must not reach. Until the store takes server
		// credentials from secret: references only (issue 11), the hub refuses it.
		return at(&Error{What: e.URL, Why: "SFTP endpoints are not served by the hub yet: the store would use the server's own keys and files",
			Hint: "use datahub copy with an sftp:// URL on your own machine"}, name, env)
	case "file":
		if file.IsStdio(e.URL) {
			return at(&Error{What: e.URL, Why: "it names the standard input or output, which a server does not have",
				Hint: "name a file inside a file root; \"-\" is for datahub copy in a shell"}, name, env)
		}
		for _, raw := range []string{e.Root, e.URL} {
			if raw == "" {
				continue
			}
			path, err := file.PathOf(raw)
			if err != nil {
				return at(&Error{What: connector.Redact(raw), Why: err.Error(), Hint: "write a path or a file: URL"}, name, env)
			}
			if err := p.CheckPath(path); err != nil {
				return at(err, name, env)
			}
		}
	case "sqlite":
		path, err := sqlite.PathOf(e.URL)
		if err != nil {
			return at(&Error{What: connector.Redact(e.URL), Why: err.Error(), Hint: "write sqlite:/path/to/file.db"}, name, env)
		}
		if e.Root != "" && !filepath.IsAbs(path) {
			path = filepath.Join(e.Root, path)
		}
		if err := p.CheckPath(path); err != nil {
			return at(err, name, env)
		}
		// SQLite opens its journal and WAL files by name next to the database, following
		// symbolic links: a companion planted there would be written through.
		for _, suffix := range []string{"-wal", "-shm", "-journal"} {
			if _, err := os.Lstat(path + suffix); err == nil {
				if err := p.CheckPath(path + suffix); err != nil {
					return at(err, name, env)
				}
			}
		}
	case "postgres":
		if err := checkPGService(e.URL); err != nil {
			return at(err, name, env)
		}
		if err := p.checkPG(ctx, e.URL); err != nil {
			return at(err, name, env)
		}
	}
	// An option declared as a path (a key file, a spool folder) names a local file the
	// connector will open, whatever the connector: it is confined like the endpoint's own.
	for i := range spec.Options {
		o := &spec.Options[i]
		if o.Kind() != connector.OptPath {
			continue
		}
		if v := e.Option(o.Name); v != "" {
			if err := p.CheckPath(v); err != nil {
				return at(err, name, env)
			}
		}
	}
	return nil
}
