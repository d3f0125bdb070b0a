package cli

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/datahub-oss/datahub/internal/client"
	"github.com/datahub-oss/datahub/internal/engine"
	"github.com/datahub-oss/datahub/internal/runstatus"
	"github.com/datahub-oss/datahub/internal/txlog"
)

// lastRun is the RUN_ID that means the newest run.
const lastRun = "last"

// runsFlags are the flags every 'datahub runs' command shares.
type runsFlags struct {
	data  string
	local bool
	out   output
	r     remote
}

func newRunsCmd(g *globals) *cobra.Command {
	f := &runsFlags{}
	cmd := &cobra.Command{
		Use:   "runs",
		Short: "List, show, cancel, resume runs and print their rejects: of a hub server, or of the local transaction log",
		Long: `List and show runs and print their rejects. Where a hub server is named (--server,
DATAHUB_SERVER, or a token: --token, DATAHUB_TOKEN) they are the server's runs; otherwise, and
with --local or --data, those of the transaction log in the local data folder, which
'datahub copy' writes. 'cancel' and 'resume' are about a server's runs only. RUN_ID may be a
unique prefix of the id, or 'last' for the newest run.`,
	}
	pf := cmd.PersistentFlags()
	pf.StringVar(&f.data, "data", "", "local data folder (default ./datahub-data, env DATAHUB_DATA); implies --local")
	pf.BoolVar(&f.local, "local", false, "the runs of the local transaction log ('datahub copy'), even where a server is named")
	addOutputFlags(pf, &f.out)
	addRemoteFlags(pf, &f.r)
	cmd.AddCommand(newRunsListCmd(g, f), newRunsShowCmd(g, f), newRunsCancelCmd(g, f), newRunsResumeCmd(g, f), newRunsRejectsCmd(g, f))
	return cmd
}

func newRunsListCmd(g *globals, f *runsFlags) *cobra.Command {
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
			format, err := f.out.get()
			if err != nil {
				return err
			}
			remote, err := f.useServer(cmd)
			if err != nil {
				return err
			}
			page := txlog.Page{Runs: []txlog.Run{}}
			hint := "no runs yet: try 'datahub copy SOURCE DEST'"
			if remote {
				hint = "no runs yet: try 'datahub run INTEGRATION --env ENV'"
				c, err := g.client(&f.r)
				if err != nil {
					return err
				}
				p, err := c.ListRuns(cmd.Context(), client.RunFilter{Status: runstatus.Status(status), Integration: integration, Limit: limit, Cursor: cursor})
				if err != nil {
					return f.serverFailure(cmd, err)
				}
				page.Next = p.Next
				for _, run := range p.Items {
					page.Runs = append(page.Runs, txlogRun(run))
				}
			} else {
				tl, err := txlog.OpenExisting(cmd.Context(), dataDir(f.data))
				if errors.Is(err, txlog.ErrNoLog) {
					return printRunPage(g, format, page, hint)
				}
				if err != nil {
					return err
				}
				defer func() { _ = tl.Close() }()
				if page, err = tl.List(cmd.Context(), txlog.Filter{Status: runstatus.Status(status), Integration: integration, Limit: limit, Cursor: cursor}); err != nil {
					return err
				}
			}
			return printRunPage(g, format, page, hint)
		},
	}
	list.Flags().StringVar(&status, "status", "", "only runs with this status ("+strings.Join(runstatus.Strings(), ", ")+")")
	list.Flags().IntVar(&limit, "limit", 50, "at most this many runs")
	list.Flags().StringVar(&integration, "integration", "", "only runs of this integration")
	list.Flags().StringVar(&cursor, "cursor", "", "continue after the previous page (printed when there are more)")
	return list
}

// printRunPage writes a page of runs as a table, or in the one list shape (writeList).
func printRunPage(g *globals, format string, page txlog.Page, hint string) error {
	if format != outTable {
		return writeList(g.stdout, format, page.Runs, page.Next)
	}
	if err := printRuns(g.stdout, page.Runs, hint); err != nil {
		return err
	}
	if page.Next != "" {
		_, err := fmt.Fprintf(g.stderr, "more: --cursor '%s'\n", page.Next)
		return err
	}
	return nil
}

func newRunsShowCmd(g *globals, f *runsFlags) *cobra.Command {
	return &cobra.Command{
		Use:     "show RUN_ID|last",
		Short:   "Show one run (a unique prefix of the id is enough; 'last' is the newest run)",
		Example: "  datahub runs show 0193f0c2\n  datahub runs show last",
		Args:    oneRunID("show"),
		RunE: func(cmd *cobra.Command, args []string) error {
			format, err := f.out.get()
			if err != nil {
				return err
			}
			run, err := f.findRun(cmd, g, args[0])
			if err != nil {
				return err
			}
			if format != outTable {
				return writeAny(g.stdout, format, run)
			}
			printRun(g.stdout, run)
			return nil
		},
	}
}

func newRunsCancelCmd(g *globals, f *runsFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "cancel RUN_ID",
		Short: "Ask the hub server to stop a queued or running run",
		Args:  oneRunID("cancel"),
		RunE: func(cmd *cobra.Command, args []string) error {
			format, err := f.out.get()
			if err != nil {
				return err
			}
			c, err := f.serverOnly(cmd, g)
			if err != nil {
				return err
			}
			run, err := c.CancelRun(cmd.Context(), args[0])
			if err != nil {
				return failure(err)
			}
			if format != outTable {
				return writeAny(g.stdout, format, txlogRun(run))
			}
			_, err = fmt.Fprintf(g.stdout, "run %s %s\n", run.ID, strings.ToUpper(strings.ReplaceAll(string(run.Status), "_", " ")))
			return err
		},
	}
}

func newRunsResumeCmd(g *globals, f *runsFlags) *cobra.Command {
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
			format, err := f.out.get()
			if err != nil {
				return err
			}
			c, err := f.serverOnly(cmd, g)
			if err != nil {
				return err
			}
			run, err := c.ResumeRun(cmd.Context(), args[0])
			if err != nil {
				return failure(err)
			}
			return followRun(cmd, g, c, run, resumeWait, format)
		},
	}
	resume.Flags().BoolVar(&resumeWait, "wait", false, "wait for the run to end and exit with its status")
	return resume
}

func newRunsRejectsCmd(g *globals, f *runsFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "rejects RUN_ID|last",
		Short: "Print the records a run rejected, as NDJSON",
		Args:  oneRunID("rejects"),
		RunE: func(cmd *cobra.Command, args []string) error {
			// The rejects are data, one JSON record a line as the rejects file holds them:
			// -o json (--json) is what they are, and no other form is made of them.
			if format, err := f.out.get(); err != nil || format == outYAML {
				return cmp.Or(err, usageError("runs rejects prints the records as NDJSON; -o yaml does not apply"))
			}
			remote, err := f.useServer(cmd)
			if err != nil {
				return err
			}
			if !remote {
				return f.localRejects(cmd, g, args[0])
			}
			c, err := g.client(&f.r)
			if err != nil {
				return err
			}
			id := args[0]
			if id == lastRun {
				run, err := f.findRun(cmd, g, id)
				if err != nil {
					return err
				}
				id = run.ID
			}
			err = c.Rejects(cmd.Context(), id, g.stdout)
			if client.IsNotFound(err) {
				return f.notOnServer(cmd, c, id)
			}
			return failure(err)
		},
	}
}

// localRejects copies the rejects file of a run of the local transaction log to standard
// output. The file is looked for in the data folder's rejects/RUN_ID, where 'datahub copy'
// writes it, not where the run's record says: from another folder a relative path would
// point elsewhere.
func (f *runsFlags) localRejects(cmd *cobra.Command, g *globals, id string) error {
	run, err := f.findRun(cmd, g, id)
	if err != nil {
		return err
	}
	if run.RejectsPath == "" {
		return nil
	}
	path := filepath.Join(dataDir(f.data), "rejects", run.ID, engine.RejectsFile)
	in, err := os.Open(path) //nolint:gosec // the user's own data folder, on their own machine
	if errors.Is(err, fs.ErrNotExist) {
		return &exitError{code: ExitFailed, err: fmt.Errorf("the rejects of run %s are not in %s any more", run.ID, filepath.Dir(path))}
	}
	if err != nil {
		return fmt.Errorf("open the rejects of run %s: %w", run.ID, err)
	}
	defer func() { _ = in.Close() }()
	if _, err := io.Copy(g.stdout, in); err != nil {
		return fmt.Errorf("print the rejects of run %s: %w", run.ID, err)
	}
	return nil
}

func oneRunID(sub string) cobra.PositionalArgs {
	return func(_ *cobra.Command, args []string) error {
		if len(args) != 1 {
			return usageError("runs %s needs one RUN_ID", sub)
		}
		return nil
	}
}

// useServer is the one rule of where runs come from: --local and --data mean the local
// transaction log; otherwise a server wherever one is named, by --server, DATAHUB_SERVER, or
// a token (--token, DATAHUB_TOKEN: only a server takes one, the default one when no address
// is given); otherwise the local log.
func (f *runsFlags) useServer(cmd *cobra.Command) (bool, error) {
	server, local := cmd.Flags().Changed("server"), f.local || cmd.Flags().Changed("data")
	if server && local {
		return false, usageError("give --server, or --local (--data), not both")
	}
	if local {
		return false, nil
	}
	return serverGiven(cmd) || f.r.token != "" || os.Getenv("DATAHUB_TOKEN") != "", nil
}

// serverOnly is the client of a command that has no local meaning.
func (f *runsFlags) serverOnly(cmd *cobra.Command, g *globals) (*client.Client, error) {
	if f.local || cmd.Flags().Changed("data") {
		return nil, usageError("%s is about a hub server's runs: give --server (or set DATAHUB_SERVER), not --local or --data", cmd.CommandPath())
	}
	return g.client(&f.r)
}

// findRun looks a run up where useServer says, id being an id, a unique prefix of one, or
// "last"; a run not found is an error that says where it was looked for and where else to look.
func (f *runsFlags) findRun(cmd *cobra.Command, g *globals, id string) (txlog.Run, error) {
	ctx := cmd.Context()
	remote, err := f.useServer(cmd)
	if err != nil {
		return txlog.Run{}, err
	}
	if remote {
		c, err := g.client(&f.r)
		if err != nil {
			return txlog.Run{}, err
		}
		if id == lastRun {
			p, err := c.ListRuns(ctx, client.RunFilter{Limit: 1})
			if err != nil {
				return txlog.Run{}, f.serverFailure(cmd, err)
			}
			if len(p.Items) == 0 {
				return txlog.Run{}, &exitError{code: ExitFailed, err: fmt.Errorf("no runs on the hub server %s yet%s", c.BaseURL(), f.localHint(cmd, ""))}
			}
			return txlogRun(p.Items[0]), nil
		}
		got, err := c.GetRun(ctx, id)
		if client.IsNotFound(err) {
			return txlog.Run{}, f.notOnServer(cmd, c, id)
		}
		if err != nil {
			return txlog.Run{}, f.serverFailure(cmd, err)
		}
		return txlogRun(got), nil
	}
	dir := dataDir(f.data)
	elsewhere := "; a hub server's runs: give --server or set DATAHUB_SERVER"
	tl, err := txlog.OpenExisting(ctx, dir)
	if errors.Is(err, txlog.ErrNoLog) {
		what := "no run " + id
		if id == lastRun {
			what = "no runs yet"
		}
		return txlog.Run{}, &exitError{code: ExitFailed, err: fmt.Errorf(
			"%s: no local transaction log in %s yet (where 'datahub copy' records its runs)%s", what, dir, elsewhere)}
	}
	if err != nil {
		return txlog.Run{}, err
	}
	defer func() { _ = tl.Close() }()
	if id == lastRun {
		p, err := tl.List(ctx, txlog.Filter{Limit: 1})
		if err != nil {
			return txlog.Run{}, err
		}
		if len(p.Runs) == 0 {
			return txlog.Run{}, &exitError{code: ExitFailed, err: fmt.Errorf("no runs in the local transaction log in %s yet%s", dir, elsewhere)}
		}
		return p.Runs[0], nil
	}
	run, err := tl.Get(ctx, id)
	if errors.Is(err, txlog.ErrNotFound) {
		return txlog.Run{}, &exitError{code: ExitFailed, err: fmt.Errorf("no run %s in the local transaction log in %s%s", id, dir, elsewhere)}
	}
	return run, err
}

// notOnServer is the error of a run the server does not know, saying which server was asked
// and whether the local transaction log has the run.
func (f *runsFlags) notOnServer(cmd *cobra.Command, c *client.Client, id string) error {
	return &exitError{code: ExitFailed, err: fmt.Errorf("no run %s on the hub server %s%s", id, c.BaseURL(), f.localHint(cmd, id))}
}

// serverFailure is the failure of a call to the server; when it could not be reached, it
// also points to the local runs, for whoever has a token set but wanted those.
func (f *runsFlags) serverFailure(cmd *cobra.Command, err error) error {
	var ce *client.ConnError
	if errors.As(err, &ce) {
		if hint := f.localHint(cmd, ""); hint != "" {
			return failure(fmt.Errorf("%w%s", err, hint))
		}
	}
	return failure(err)
}

// localHint points to the local transaction log, if there is one, when a server had no such
// run: the run may be a 'datahub copy'. It reads the log only if it exists, creating nothing.
func (f *runsFlags) localHint(cmd *cobra.Command, id string) string {
	dir := dataDir(f.data)
	tl, err := txlog.OpenExisting(cmd.Context(), dir)
	if err != nil {
		return ""
	}
	defer func() { _ = tl.Close() }()
	if id != "" {
		if run, err := tl.Get(cmd.Context(), id); err == nil {
			return fmt.Sprintf("; run %s is in the local transaction log in %s (a 'datahub copy'): add --local", run.ID, dir)
		}
	}
	return fmt.Sprintf("; the local runs of 'datahub copy' are in %s: add --local", dir)
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
