package cli

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/datahub-oss/datahub/connector"
	"github.com/datahub-oss/datahub/internal/connectors/file"
	"github.com/datahub-oss/datahub/internal/endpointfile"
	"github.com/datahub-oss/datahub/internal/redact"
)

func newEndpointsCmd(g *globals) *cobra.Command {
	var epFile string
	cmd := &cobra.Command{
		Use:   "endpoints",
		Short: "List and test the named connections of the local endpoints file",
		Long: `Named connections are Endpoint resources, as the hub reads them ('datahub apply'), kept in a
local file: ~/.config/datahub/endpoints.yaml, or the file named by --endpoints or the
environment variable DATAHUB_ENDPOINTS. spec.system may be left out. 'datahub copy' opens them
as @NAME (the endpoint's URL), @NAME/TABLE (a table of a database) or @NAME/PATH (a file under
a folder), with ?QUERY appended to the URL if given, in --env (default DEV, or the endpoint's
only environment).

Secrets are references: env:NAME reads an environment variable, file:PATH a file; secret:NAME
lives in a hub's store and is refused here. URLs are printed with their passwords redacted.`,
		Example: `  datahub endpoints list
  datahub endpoints test crm-db --env uat
  datahub endpoints test crm-db/public.people`,
	}
	cmd.PersistentFlags().StringVar(&epFile, "endpoints", "", "endpoints file (default ~/.config/datahub/endpoints.yaml, env DATAHUB_ENDPOINTS)")
	cmd.AddCommand(newEndpointsListCmd(g, &epFile), newEndpointsTestCmd(g, &epFile))
	return cmd
}

// endpointInfo is one line of `datahub endpoints list`.
type endpointInfo struct {
	Name         string   `json:"name"`
	Type         string   `json:"type"`
	Environments []string `json:"environments"`
	// URL is the default environment's URL (it holds no secret: the catalog refuses those).
	URL string `json:"url,omitempty"`
}

func newEndpointsListCmd(g *globals, epFile *string) *cobra.Command {
	var o output
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the named connections: name, type, environments and default URL",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			format, err := o.get()
			if err != nil {
				return err
			}
			f, err := loadEndpoints(*epFile, nil)
			if err != nil {
				return err
			}
			items := make([]endpointInfo, 0)
			for _, name := range f.Names() {
				r, _ := f.Get(name)
				spec := r.Endpoint()
				info := endpointInfo{Name: name, Type: spec.Type, Environments: endpointfile.Environments(spec)}
				if env, err := endpointfile.PickEnv(spec, ""); err == nil {
					info.URL = connector.Redact(spec.Environments[env].URL)
				}
				items = append(items, info)
			}
			if format != outTable {
				return writeList(g.stdout, format, items, "")
			}
			tw := newTable(g.stdout, "NAME", "TYPE", "ENVIRONMENTS", "URL")
			for _, it := range items {
				tw.row(it.Name, it.Type, strings.Join(it.Environments, ","), firstOf(it.URL, "-"))
			}
			return tw.flush()
		},
	}
	addOutputFlags(cmd.Flags(), &o)
	return cmd
}

// probeResult is what `datahub endpoints test` found.
type probeResult struct {
	Endpoint string `json:"endpoint"`
	Env      string `json:"env"`
	Type     string `json:"type"`
	URL      string `json:"url"`
	OK       bool   `json:"ok"`
	// Server and Tables are a database's version and table count, when no table was named.
	Server string `json:"server,omitempty"`
	Tables *int64 `json:"tables,omitempty"`
	// Columns are the columns of a table, query or file.
	Columns []string `json:"columns,omitempty"`
	// Objects is the number of entries in a folder.
	Objects *int   `json:"objects,omitempty"`
	Error   string `json:"error,omitempty"`
}

func newEndpointsTestCmd(g *globals, epFile *string) *cobra.Command {
	var env, data string
	var o output
	cmd := &cobra.Command{
		Use:   "test NAME[/TABLE-OR-PATH]",
		Short: "Connect to a named connection and report what is there",
		Long: `Connect to the endpoint NAME in --env and report what was found: a database's server version
and table count, the columns of a table (NAME/TABLE) or file, or the number of objects in a
folder. Nothing is written. Exit status: 0 connected, 1 failed, 2 usage error.`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageError("endpoints test needs one NAME, got %d argument(s)", len(args))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			format, err := o.get()
			if err != nil {
				return err
			}
			secrets := &localSecrets{data: dataDir(data)}
			defer func() { _ = secrets.Close() }()
			f, err := loadEndpoints(*epFile, secrets)
			if err != nil {
				return err
			}
			r, err := f.Resolve(cmd.Context(), "@"+strings.TrimPrefix(args[0], "@"), env)
			if err != nil {
				return usageError("%v", err)
			}
			res := probeResult{Endpoint: r.Name, Env: r.Env, Type: r.Type, URL: r.Endpoint.Redacted()}
			if err := probe(cmd.Context(), r.Endpoint, &res); err != nil {
				res.Error = redact.Scrub(err.Error(), r.Secrets)
			} else {
				res.OK = true
			}
			if format != outTable {
				if err := writeAny(g.stdout, format, res); err != nil {
					return err
				}
			} else {
				printProbe(g, res)
			}
			if !res.OK {
				return &exitError{code: ExitFailed}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&env, "env", "", "environment: DEV, SIT, UAT, MPE or PROD (default DEV, or the endpoint's only one)")
	cmd.Flags().StringVar(&data, "data", "", "data folder whose local secret store holds secret:NAME references (default ./datahub-data, env DATAHUB_DATA)")
	addOutputFlags(cmd.Flags(), &o)
	return cmd
}

func printProbe(g *globals, res probeResult) {
	w := g.stdout
	_, _ = fmt.Fprintf(w, "Endpoint %s (%s, %s): %s\n", res.Endpoint, res.Type, res.Env, safe(res.URL))
	if !res.OK {
		_, _ = fmt.Fprintf(w, "Failed: %s\n", safe(res.Error))
		return
	}
	switch {
	case res.Objects != nil:
		_, _ = fmt.Fprintf(w, "Connected: a folder with %d object(s)\n", *res.Objects)
	case res.Columns != nil:
		_, _ = fmt.Fprintf(w, "Connected: %d column(s): %s\n", len(res.Columns), safe(strings.Join(res.Columns, ", ")))
	case res.Tables != nil:
		_, _ = fmt.Fprintf(w, "Connected: %s, %d table(s)\n", safe(res.Server), *res.Tables)
	default:
		_, _ = fmt.Fprintln(w, "Connected")
	}
}

// serverProbes ask a database without a table for its version and table count, in one query
// that every reader of it runs (a source's ?query=).
var serverProbes = map[string]string{
	"postgres": `SELECT 'PostgreSQL ' || current_setting('server_version') AS server, (SELECT count(*) FROM information_schema.tables WHERE table_schema NOT IN ('pg_catalog', 'information_schema')) AS tables`,
	"mysql":    `SELECT version() AS server, (SELECT count(*) FROM information_schema.tables WHERE table_schema = database()) AS tables`,
	"sqlite":   `SELECT 'SQLite ' || sqlite_version() AS server, (SELECT count(*) FROM sqlite_master WHERE type = 'table') AS tables`,
}

// probe opens e as a reader, writing nothing: a folder is listed, a table, query or file has
// its columns read, and a database without either answers its server probe.
func probe(ctx context.Context, e connector.Endpoint, res *probeResult) error {
	spec, err := connector.Resolve(e.URL)
	if err != nil {
		return err
	}
	_, hasTable := connector.QueryOption(e.URL, "table")
	_, hasQuery := connector.QueryOption(e.URL, "query")
	switch {
	case spec.CanStore() && isFolder(spec, e):
		return probeFolder(ctx, spec, e, res)
	case !hasTable && !hasQuery && serverProbes[spec.Name] != "":
		asked := e
		asked.URL += querySep(e.URL) + "query=" + url.QueryEscape(serverProbes[spec.Name])
		if err := probeServer(ctx, spec, asked, res); err != nil {
			// Name the endpoint as it is written, not with the probe's query.
			return errors.New(strings.ReplaceAll(err.Error(), asked.Redacted(), e.Redacted()))
		}
		return nil
	case spec.CanRead():
		s, err := openSource(ctx, spec, e)
		if err != nil {
			return err
		}
		defer func() { _ = s.Close(context.WithoutCancel(ctx)) }()
		sch, err := s.Schema(ctx)
		if err != nil {
			return fmt.Errorf("read the columns: %w", err)
		}
		res.Columns = make([]string, len(sch.Columns))
		for i, c := range sch.Columns {
			res.Columns[i] = fmt.Sprintf("%s %v", c.Name, c.Type)
		}
		return nil
	case spec.CanStore():
		return probeFolder(ctx, spec, e, res)
	}
	return fmt.Errorf("connector %s cannot be read, so there is nothing to test", spec.Name)
}

// isFolder reports whether a file endpoint names a folder rather than a file.
func isFolder(spec *connector.Spec, e connector.Endpoint) bool {
	if !spec.Paths && spec.Name != "file" {
		return true
	}
	p, err := file.PathOf(e.URL)
	if err != nil {
		return false
	}
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}

func probeFolder(ctx context.Context, spec *connector.Spec, e connector.Endpoint, res *probeResult) error {
	st, closeStore, err := spec.NewStore(ctx, e)
	if err != nil {
		return err
	}
	defer func() { _ = closeStore() }()
	entries, err := st.List(ctx, "")
	if err != nil {
		return fmt.Errorf("list the folder: %w", err)
	}
	n := len(entries)
	res.Objects = &n
	return nil
}

func probeServer(ctx context.Context, spec *connector.Spec, e connector.Endpoint, res *probeResult) error {
	s, err := openSource(ctx, spec, e)
	if err != nil {
		return err
	}
	defer func() { _ = s.Close(context.WithoutCancel(ctx)) }()
	b, _, err := s.Read(ctx)
	if err != nil && !errors.Is(err, connector.ErrEndOfInput) {
		return fmt.Errorf("ask the server its version: %w", err)
	}
	if b == nil || len(b.Rows) == 0 || len(b.Rows[0]) < 2 {
		return errors.New("ask the server its version: no answer")
	}
	res.Server = fmt.Sprint(b.Rows[0][0])
	var n int64
	if _, err := fmt.Sscan(fmt.Sprint(b.Rows[0][1]), &n); err == nil {
		res.Tables = &n
	}
	return nil
}

func openSource(ctx context.Context, spec *connector.Spec, e connector.Endpoint) (connector.Source, error) {
	s, err := spec.NewSource(ctx, e)
	if err != nil {
		return nil, err
	}
	if err := s.Open(ctx, nil); err != nil {
		_ = s.Close(context.WithoutCancel(ctx))
		return nil, err
	}
	return s, nil
}

func querySep(raw string) string {
	if strings.Contains(raw, "?") {
		return "&"
	}
	return "?"
}
