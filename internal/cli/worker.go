package cli

import (
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/datahub-oss/datahub/internal/app"
	"github.com/datahub-oss/datahub/internal/config"
)

// newWorkerCmd is `datahub worker`: a process that only executes runs, on another machine than
// the hub's API and scheduler. It is `serve --roles worker` with the shared store and NATS
// required, since a worker on an embedded NATS and its own SQLite would wait for work forever.
func newWorkerCmd(g *globals) *cobra.Command {
	var cfgPath string
	d := config.Default()
	cmd := &cobra.Command{
		Use:   "worker",
		Short: "Run a worker that executes the runs queued on a hub (shared PostgreSQL store and NATS)",
		Long: `Run a worker: it pulls run requests from the hub's NATS JetStream work queue, executes them
with heartbeats and checkpoints, and records them in the hub's store. It serves no API and
fires no triggers. Give it the hub's store and NATS, and the hub's master key (DATAHUB_MASTER_KEY
or a copy of master.key in its data folder) so it can read the endpoints' secrets:

  DATAHUB_MASTER_KEY=... datahub worker --store postgres://hub-db/datahub --nats nats://nats:4222

A worker killed mid-run leaves the run to another worker, which resumes it from its checkpoint.
SIGTERM or Ctrl-C stops gracefully.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.Load(cfgPath, os.Environ(), cobraFlags{cmd})
			if err != nil {
				return usageError("%v", err)
			}
			if cfg.Store == "" || cfg.NATS == "" {
				return usageError("a worker joins a hub: give it the hub's --store postgres://... and --nats nats://... (or DATAHUB_STORE and DATAHUB_NATS)")
			}
			cfg.Roles = []string{config.RoleWorker}
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
	f.StringVar(&cfgPath, "config", "", "YAML configuration file (the hub's may be used as it is)")
	f.String("data", d.Data, "data folder, for rejects and the master key file (env DATAHUB_DATA)")
	f.String("store", "", "PostgreSQL URL of the hub's metadata store (env DATAHUB_STORE)")
	f.String("nats", "", "URL of the hub's NATS JetStream (env DATAHUB_NATS)")
	f.Int("nats-replicas", d.NATSReplicas, "copies of every stream and KV bucket on a NATS cluster, 1-5 (env DATAHUB_NATS_REPLICAS)")
	f.Int("workers", d.Workers, "runs executed at once by this process (env DATAHUB_WORKERS)")
	f.String("log-format", d.LogFormat, "log format: text or json (env DATAHUB_LOG_FORMAT)")
	fileRootFlag(f)
	return cmd
}
