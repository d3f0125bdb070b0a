package cli

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/datahub-oss/datahub/internal/client"
	"github.com/datahub-oss/datahub/internal/errcode"
	"github.com/datahub-oss/datahub/internal/runstatus"
	"github.com/datahub-oss/datahub/internal/txlog"
)

func newRunCmd(g *globals) *cobra.Command {
	var r remote
	var env string
	var wait bool
	var o output
	cmd := &cobra.Command{
		Use:   "run INTEGRATION [--env ENV] [--wait]",
		Short: "Run an integration on the hub server",
		Long: `Ask the hub server to run an integration in an environment (DEV, SIT, UAT, MPE, PROD).
--env may be left out when the integration runs in one environment only: that one is taken.
Without --wait the run is queued and its id printed alone on standard output (how to follow it
on standard error); with --wait the command follows it to its end and prints the same summary
as 'datahub copy' (-o json, --json: the same JSON object, on one line; -o yaml: as YAML).

Ctrl-C while waiting stops the waiting, not the run: 'datahub runs show ID' follows it up and
'datahub runs cancel ID' stops it.

Exit status: 0 succeeded (or queued, without --wait), 1 failed or canceled, 2 usage error,
3 finished with rejected rows.`,
		Example: `  datahub run quickstart --wait
  RUN=$(datahub run quickstart --env dev) && datahub runs show $RUN
  datahub run orders-to-dwh --env PROD --json`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageError("run needs one INTEGRATION, e.g. 'datahub run quickstart --env dev'")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			format, err := o.get()
			if err != nil {
				return err
			}
			c, err := g.client(&r)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			if env == "" {
				if env, err = onlyEnvironment(cmd, g, c, args[0]); err != nil {
					return err
				}
			}
			// Queue first, then wait: the run's id is known before any interrupt.
			run, err := c.RequestRun(ctx, args[0], env, false)
			if err != nil {
				return failure(err)
			}
			return followRun(cmd, g, c, run, wait, format)
		},
	}
	addRemoteFlags(cmd.Flags(), &r)
	cmd.Flags().StringVar(&env, "env", "", "environment to run in: DEV, SIT, UAT, MPE or PROD (any case)")
	cmd.Flags().BoolVar(&wait, "wait", false, "wait for the run to end and exit with its status")
	addOutputFlags(cmd.Flags(), &o)
	return cmd
}

// followRun reports a queued run: with wait it follows it to its end first (printing its id
// at once on standard error), then prints the summary (in format: one JSON line, YAML, or the
// text of a table) and exits as 'datahub copy' does.
func followRun(cmd *cobra.Command, g *globals, c *client.Client, run client.Run, wait bool, format string) error {
	ctx := cmd.Context()
	var err error
	if wait && !run.Final() {
		waitCtx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
		defer stop()
		// The id first, on standard error whatever it is, so that a script that
		// loses the wait (the server cut for longer than the patience) still has it
		// and follows the run up rather than request a second one; standard output
		// keeps the one summary (or JSON object).
		_, _ = fmt.Fprintf(g.stderr, "run %s %s; waiting for its end (Ctrl-C stops waiting, not the run)\n", run.ID, run.Status)
		last := run
		run, err = c.WaitRun(waitCtx, run.ID, 0)
		if err != nil && waitCtx.Err() != nil {
			if run.ID == "" {
				run = last
			}
			return &exitError{code: ExitFailed, err: fmt.Errorf(
				"stopped waiting; run %s goes on on the server (%s when last seen)\nFollow it with: datahub runs show %s\nStop it with:   datahub runs cancel %s",
				run.ID, run.Status, run.ID, run.ID)}
		}
		if err != nil {
			return &exitError{code: ExitFailed, err: fmt.Errorf(
				"stopped waiting for run %s: %w\nThe run goes on on the server; do not request it again.\nFollow it with: datahub runs show %s",
				last.ID, err, last.ID)}
		}
	}
	if !wait && format == outTable && !run.Final() {
		return printQueued(g, run)
	}
	s := runSummary(run)
	if format != outTable {
		if err := writeLine(g.stdout, format, s); err != nil {
			return err
		}
	} else {
		printSummary(g.stdout, s)
	}
	if !run.Final() {
		_, _ = fmt.Fprintf(g.stderr, "Follow it with: datahub runs show %s\n", run.ID)
		return nil
	}
	return runExit(run)
}

// runExit is the exit of a finished run, as 'datahub copy' exits.
func runExit(run client.Run) error {
	switch run.Status {
	case runstatus.Succeeded:
		return nil
	case runstatus.Partial:
		return &exitError{code: ExitRejected}
	}
	msg := run.Error
	if msg == "" {
		msg = "no error recorded"
	}
	return &exitError{code: errcode.ExitStatus(errcode.Code(run.ErrorCode)), err: fmt.Errorf("run %s %s: %s", run.ID, run.Status, msg)}
}

// runSummary is a server's run as 'datahub copy' reports its own.
func runSummary(r client.Run) summary {
	s := summary{
		RunID: r.ID, Status: r.Status, Source: r.Source, Destination: r.Destination, Mode: r.Mode,
		RowsRead: r.RowsRead, RowsWritten: r.RowsWritten, RowsRejected: r.RowsRejected,
		BytesRead: r.BytesRead, BytesWritten: r.BytesWritten, DurationMS: r.DurationMS,
		RowsPerSecond: r.RowsPerSecond, RejectsPath: r.RejectsPath, FastPath: r.FastPath, Attempts: r.Attempts,
		Error: r.Error, ErrorCode: r.ErrorCode, Part: txlog.Stats(r.Part), Resumed: r.Resumes > 0,
	}
	if !r.StartedAt.IsZero() {
		s.StartedAt = r.StartedAt.UTC().Format(time.RFC3339Nano)
	}
	if r.FinishedAt != nil {
		s.FinishedAt = r.FinishedAt.UTC().Format(time.RFC3339Nano)
	}
	return s
}
