package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/datahub-oss/datahub/internal/client"
	"github.com/datahub-oss/datahub/internal/runstatus"
	"github.com/datahub-oss/datahub/internal/txlog"
)

func newRunsCmd(g *globals) *cobra.Command {
	var data string
	var jsonOut bool
	var r remote
	cmd := &cobra.Command{
		Use:   "runs",
		Short: "List, show, cancel, resume runs: of the local transaction log, or of a hub server",
		Long: `List and show runs. With --server (or DATAHUB_SERVER set) they are the hub server's runs;
otherwise those of the transaction log in the local data folder (--data), which 'datahub copy'
writes. 'cancel', 'resume' and 'rejects' are about a server's runs only.`,
	}
	cmd.PersistentFlags().StringVar(&data, "data", "", "data folder (default ./datahub-data, env DATAHUB_DATA)")
	cmd.PersistentFlags().BoolVar(&jsonOut, "json", false, "print JSON")
	addRemoteFlags(cmd.PersistentFlags(), &r)

	var status, integration, cursor string
	var limit int
	list := &cobra.Command{
		Use:   "list",
		Short: "List runs, newest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if _, err := runstatus.Parse(status); status != "" && err != nil {
				return usageError("--status: %v", err)
			}
			remote, err := useServer(cmd)
			if err != nil {
				return err
			}
			var page txlog.Page
			hint := "no runs yet: try 'datahub copy SOURCE DEST'"
			if remote {
				hint = "no runs yet: try 'datahub run INTEGRATION --env ENV'"
				c, err := g.client(&r)
				if err != nil {
					return err
				}
				p, err := c.ListRuns(cmd.Context(), client.RunFilter{Status: runstatus.Status(status), Integration: integration, Limit: limit, Cursor: cursor})
				if err != nil {
					return failure(err)
				}
				page.Runs, page.Next = make([]txlog.Run, len(p.Items)), p.Next
				for i, run := range p.Items {
					page.Runs[i] = txlogRun(run)
				}
			} else {
				tl, err := txlog.Open(cmd.Context(), dataDir(data))
				if err != nil {
					return err
				}
				defer func() { _ = tl.Close() }()
				page, err = tl.List(cmd.Context(), txlog.Filter{Status: runstatus.Status(status), Integration: integration, Limit: limit, Cursor: cursor})
				if err != nil {
					return err
				}
			}
			if jsonOut {
				return writeJSON(g.stdout, page)
			}
			if err := printRuns(g.stdout, page.Runs, hint); err != nil {
				return err
			}
			if page.Next != "" {
				_, err = fmt.Fprintf(g.stderr, "more: --cursor '%s'\n", page.Next)
			}
			return err
		},
	}
	list.Flags().StringVar(&status, "status", "", "only runs with this status ("+strings.Join(runstatus.Strings(), ", ")+")")
	list.Flags().IntVar(&limit, "limit", 50, "at most this many runs")
	list.Flags().StringVar(&integration, "integration", "", "only runs of this integration")
	list.Flags().StringVar(&cursor, "cursor", "", "continue after the previous page (printed when there are more)")

	show := &cobra.Command{
		Use:   "show RUN_ID",
		Short: "Show one run (a unique prefix of the id is enough)",
		Args:  oneRunID("show"),
		RunE: func(cmd *cobra.Command, args []string) error {
			remote, err := useServer(cmd)
			if err != nil {
				return err
			}
			var run txlog.Run
			if remote {
				c, err := g.client(&r)
				if err != nil {
					return err
				}
				got, err := c.GetRun(cmd.Context(), args[0])
				if err != nil {
					return failure(err)
				}
				run = txlogRun(got)
			} else {
				tl, err := txlog.Open(cmd.Context(), dataDir(data))
				if err != nil {
					return err
				}
				defer func() { _ = tl.Close() }()
				run, err = tl.Get(cmd.Context(), args[0])
				if errors.Is(err, txlog.ErrNotFound) {
					return &exitError{code: ExitFailed, err: err}
				}
				if err != nil {
					return err
				}
			}
			if jsonOut {
				return writeJSON(g.stdout, run)
			}
			printRun(g.stdout, run)
			return nil
		},
	}

	cancel := &cobra.Command{
		Use:   "cancel RUN_ID",
		Short: "Ask the hub server to stop a queued or running run",
		Args:  oneRunID("cancel"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := serverOnly(cmd, g, &r)
			if err != nil {
				return err
			}
			run, err := c.CancelRun(cmd.Context(), args[0])
			if err != nil {
				return failure(err)
			}
			if jsonOut {
				return writeJSON(g.stdout, txlogRun(run))
			}
			_, err = fmt.Fprintf(g.stdout, "run %s %s\n", run.ID, strings.ToUpper(strings.ReplaceAll(string(run.Status), "_", " ")))
			return err
		},
	}

	var resumeWait bool
	resume := &cobra.Command{
		Use:   "resume RUN_ID [--wait]",
		Short: "Continue a failed or cancelled run on the hub server from its checkpoint",
		Long: `Queue a failed or cancelled run of the hub server again: a worker continues it from its
last checkpoint instead of copying everything again, after the same rights and policy checks
as a new run (you need the right to run the integration in the run's environment). A run
without a checkpoint, a replace, and a run whose integration changed since (source,
destination, mode, key or mapping) are refused: request a new run with 'datahub run'.
--wait follows it to its end as 'datahub run --wait' does.`,
		Example: `  datahub runs resume 0193f0c2 --wait`,
		Args:    oneRunID("resume"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := serverOnly(cmd, g, &r)
			if err != nil {
				return err
			}
			run, err := c.ResumeRun(cmd.Context(), args[0])
			if err != nil {
				return failure(err)
			}
			return followRun(cmd, g, c, run, resumeWait, jsonOut)
		},
	}
	resume.Flags().BoolVar(&resumeWait, "wait", false, "wait for the run to end and exit with its status")

	rejects := &cobra.Command{
		Use:   "rejects RUN_ID",
		Short: "Print the records a run on the hub server rejected, as NDJSON",
		Args:  oneRunID("rejects"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := serverOnly(cmd, g, &r)
			if err != nil {
				return err
			}
			return failure(c.Rejects(cmd.Context(), args[0], g.stdout))
		},
	}
	cmd.AddCommand(list, show, cancel, resume, rejects)
	return cmd
}

func oneRunID(sub string) cobra.PositionalArgs {
	return func(_ *cobra.Command, args []string) error {
		if len(args) != 1 {
			return usageError("runs %s needs one RUN_ID", sub)
		}
		return nil
	}
}

// useServer tells where the runs come from: --server means the server, --data the local
// folder; with neither, the server when DATAHUB_SERVER is set.
func useServer(cmd *cobra.Command) (bool, error) {
	server, data := cmd.Flags().Changed("server"), cmd.Flags().Changed("data")
	if server && data {
		return false, usageError("give --server or --data, not both")
	}
	return !data && serverGiven(cmd), nil
}

// serverOnly is the client of a command that has no local meaning.
func serverOnly(cmd *cobra.Command, g *globals, r *remote) (*client.Client, error) {
	if cmd.Flags().Changed("data") {
		return nil, usageError("%s is about a hub server's runs: give --server (or set DATAHUB_SERVER), not --data", cmd.CommandPath())
	}
	return g.client(r)
}

// txlogRun is a server's run in the transaction log's form, so that both print alike.
func txlogRun(r client.Run) txlog.Run {
	return txlog.Run{
		ID: r.ID, Kind: r.Kind, Integration: r.Integration, Env: r.Env, RequestedBy: r.RequestedBy,
		Source: r.Source, Destination: r.Destination, Mode: r.Mode, Status: r.Status,
		Stats: txlog.Stats{RowsRead: r.RowsRead, RowsWritten: r.RowsWritten, RowsRejected: r.RowsRejected,
			BytesRead: r.BytesRead, BytesWritten: r.BytesWritten},
		Part: txlog.Stats(r.Part), Resumes: r.Resumes,
		StartedAt: r.StartedAt, FinishedAt: r.FinishedAt, DurationMS: r.DurationMS, Error: r.Error, ErrorCode: r.ErrorCode,
		RejectsPath: r.RejectsPath, FastPath: r.FastPath, Attempts: r.Attempts, Host: r.Host, PID: r.PID,
		HasCheckpoint: r.HasCheckpoint,
	}
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// printRuns writes runs as a table; hint is what to say when there are none.
func printRuns(w io.Writer, runs []txlog.Run, hint string) error {
	if len(runs) == 0 {
		_, err := fmt.Fprintln(w, hint)
		return err
	}
	tw := newTable(w, "RUN ID", "STATUS", "STARTED", "DURATION", "READ", "WRITTEN", "REJECTED", "SOURCE -> DESTINATION")
	for _, r := range runs {
		tw.row(r.ID, r.Status,
			r.StartedAt.Local().Format("2006-01-02 15:04:05"), (time.Duration(r.DurationMS) * time.Millisecond).String(),
			groupInt(r.RowsRead), groupInt(r.RowsWritten), groupInt(r.RowsRejected),
			shorten(r.Source, 50)+" -> "+shorten(r.Destination, 50))
	}
	return tw.flush()
}

func printRun(w io.Writer, r txlog.Run) {
	var b strings.Builder
	fmt.Fprintf(&b, "run %s %s\n", r.ID, strings.ToUpper(string(r.Status)))
	fmt.Fprintf(&b, "  kind         %s\n", safe(r.Kind))
	if r.Integration != "" {
		fmt.Fprintf(&b, "  integration  %s in %s", safe(r.Integration), safe(r.Env))
		if r.RequestedBy != "" {
			fmt.Fprintf(&b, ", requested by %s", safe(r.RequestedBy))
		}
		b.WriteString("\n")
	}
	fmt.Fprintf(&b, "  source       %s\n", safe(r.Source))
	fmt.Fprintf(&b, "  destination  %s (%s)\n", safe(r.Destination), safe(r.Mode))
	fmt.Fprintf(&b, "  started      %s\n", r.StartedAt.Local().Format(time.RFC3339))
	if r.FinishedAt != nil {
		fmt.Fprintf(&b, "  finished     %s (%s)\n", r.FinishedAt.Local().Format(time.RFC3339), time.Duration(r.DurationMS)*time.Millisecond)
	}
	fmt.Fprintf(&b, "  rows         read %s, written %s, rejected %s\n", groupInt(r.RowsRead), groupInt(r.RowsWritten), groupInt(r.RowsRejected))
	if r.Resumes > 0 {
		fmt.Fprintf(&b, "  last part    read %s, written %s, rejected %s (after %d resume(s); the rows above are the run's totals)\n",
			groupInt(r.Part.RowsRead), groupInt(r.Part.RowsWritten), groupInt(r.Part.RowsRejected), r.Resumes)
	}
	fmt.Fprintf(&b, "  bytes        read %s, written %s\n", humanBytes(r.BytesRead), humanBytes(r.BytesWritten))
	if r.DurationMS > 0 {
		fmt.Fprintf(&b, "  throughput   %s rows/s\n", groupInt(r.Part.RowsWritten*1000/r.DurationMS))
	}
	fmt.Fprintf(&b, "  attempts     %d  fast path %v  checkpoint %v\n", r.Attempts, r.FastPath, r.HasCheckpoint)
	if r.Host != "" {
		fmt.Fprintf(&b, "  host         %s (pid %d)\n", safe(r.Host), r.PID)
	}
	if r.RejectsPath != "" {
		fmt.Fprintf(&b, "  rejects      %s\n", safe(r.RejectsPath))
	}
	if r.Error != "" {
		fmt.Fprintf(&b, "  error        [%s] %s\n", safe(r.ErrorCode), safe(r.Error))
	}
	_, _ = io.WriteString(w, b.String())
}

func shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-1] + "…"
}
