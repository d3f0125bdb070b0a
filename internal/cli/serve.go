package cli

import (
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/datahub-oss/datahub/internal/app"
	"github.com/datahub-oss/datahub/internal/config"
)

func newServeCmd(g *globals) *cobra.Command {
	var cfgPath string
	d := config.Default()
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the hub server: API, workers, embedded NATS JetStream and SQLite, in one process",
		Long: `Run the hub server. With no configuration it serves the API on 127.0.0.1:8080, keeps its
metadata in SQLite in the data folder, runs an embedded NATS JetStream server in-process and
executes runs with its own workers. On first start it creates an admin and writes its API token
to <data>/admin.token (mode 0600).

Local file and SQLite endpoints may only point into <data>/files and the folders given with
--file-root (repeatable, or DATAHUB_FILE_ROOTS as a path list); never into the rest of the data
folder.

Settings come from defaults, then --config FILE (YAML), then DATAHUB_* environment variables,
then flags. Scale out with --store postgres://... and --nats nats://a,nats://b,nats://c
(with --nats-replicas 3 on a three-node cluster) on several processes.
SIGTERM or Ctrl-C stops gracefully: running transfers keep their checkpoint and resume.

It logs at info unless --log-level says otherwise: its start, its runs and its problems; a
line per request only at debug. 'datahub wait' returns once it is ready.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.Load(cfgPath, os.Environ(), cobraFlags{cmd})
			if err != nil {
				return usageError("%v", err)
			}
			log := serverLogger(g, cfg)
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			hub, err := app.Start(ctx, cfg, log)
			if err != nil {
				return &exitError{code: ExitFailed, err: err}
			}
			if err := hub.Serve(ctx); err != nil {
				return &exitError{code: ExitFailed, err: err}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfgPath, "config", "", "YAML configuration file")
	f.String("addr", d.Addr, "address of the API (env DATAHUB_ADDR)")
	f.String("data", d.Data, "data folder (env DATAHUB_DATA)")
	f.String("store", "", "PostgreSQL URL for the metadata store (default: SQLite in the data folder; env DATAHUB_STORE)")
	f.String("nats", "", "external NATS JetStream URL (default: embedded server; env DATAHUB_NATS)")
	f.Int("nats-replicas", d.NATSReplicas, "copies of every stream and KV bucket on a NATS cluster, 1-5 (env DATAHUB_NATS_REPLICAS)")
	f.String("nats-listen", "", "expose the embedded NATS server on this address (env DATAHUB_NATS_LISTEN)")
	f.String("roles", strings.Join(d.Roles, ","), "roles of this process: api, scheduler, worker (env DATAHUB_ROLES)")
	f.Int("workers", d.Workers, "runs executed at once by this process (env DATAHUB_WORKERS)")
	f.String("log-format", d.LogFormat, "log format: text or json (env DATAHUB_LOG_FORMAT)")
	fileRootFlag(f)
	return cmd
}

// fileRootFlag adds --file-root, repeatable, to serve and worker.
func fileRootFlag(f *pflag.FlagSet) {
	f.StringArray("file-root", nil, "a folder local file and SQLite endpoints may use, besides <data>/files; repeatable (env DATAHUB_FILE_ROOTS, a path list)")
}

// cobraFlags lets config.Load see the serve command's flags, and the root's --log-level.
type cobraFlags struct{ cmd *cobra.Command }

func (c cobraFlags) lookup(name string) *pflag.Flag {
	if f := c.cmd.Flags().Lookup(name); f != nil {
		return f
	}
	return c.cmd.InheritedFlags().Lookup(name)
}

func (c cobraFlags) Changed(name string) bool {
	f := c.lookup(name)
	return f != nil && f.Changed
}

// Values returns every value of a repeatable flag (--file-root).
func (c cobraFlags) Values(name string) ([]string, bool) {
	f := c.lookup(name)
	if f == nil || f.Value.Type() != "stringArray" {
		return nil, false
	}
	vals, err := c.cmd.Flags().GetStringArray(name)
	return vals, err == nil
}

func (c cobraFlags) Value(name string) string {
	if f := c.lookup(name); f != nil {
		return f.Value.String()
	}
	return ""
}

func serverLogger(g *globals, cfg config.Config) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel))
	opts := &slog.HandlerOptions{Level: level}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(g.stderr, opts))
	}
	return slog.New(slog.NewTextHandler(g.stderr, opts))
}
