package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/datahub-oss/datahub/connector"
	"github.com/datahub-oss/datahub/internal/txlog"
)

func newRunsCmd(g *globals) *cobra.Command {
	var data string
	var jsonOut bool
	cmd := &cobra.Command{
		Use:   "runs",
		Short: "List and show transfers recorded in the transaction log",
	}
	cmd.PersistentFlags().StringVar(&data, "data", "", "data folder (default ./datahub-data, env DATAHUB_DATA)")
	cmd.PersistentFlags().BoolVar(&jsonOut, "json", false, "print JSON")

	var status, integration, cursor string
	var limit int
	list := &cobra.Command{
		Use:   "list",
		Short: "List runs, newest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			tl, err := txlog.Open(cmd.Context(), dataDir(data))
			if err != nil {
				return err
			}
			defer func() { _ = tl.Close() }()
			page, err := tl.List(cmd.Context(), txlog.Filter{Status: status, Integration: integration, Limit: limit, Cursor: cursor})
			if err != nil {
				return err
			}
			if jsonOut {
				return writeJSON(g.stdout, page)
			}
			if err := printRuns(g.stdout, page.Runs); err != nil {
				return err
			}
			if page.Next != "" {
				_, err = fmt.Fprintf(g.stderr, "more: --cursor '%s'\n", page.Next)
			}
			return err
		},
	}
	list.Flags().StringVar(&status, "status", "", "only runs with this status (running, succeeded, partial, failed, canceled)")
	list.Flags().IntVar(&limit, "limit", 50, "at most this many runs")
	list.Flags().StringVar(&integration, "integration", "", "only runs of this integration")
	list.Flags().StringVar(&cursor, "cursor", "", "continue after the previous page (printed when there are more)")

	show := &cobra.Command{
		Use:   "show RUN_ID",
		Short: "Show one run (a unique prefix of the id is enough)",
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageError("runs show needs one RUN_ID")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			tl, err := txlog.Open(cmd.Context(), dataDir(data))
			if err != nil {
				return err
			}
			defer func() { _ = tl.Close() }()
			r, err := tl.Get(cmd.Context(), args[0])
			if errors.Is(err, txlog.ErrNotFound) {
				return &exitError{code: ExitFailed, err: err}
			}
			if err != nil {
				return err
			}
			if jsonOut {
				return writeJSON(g.stdout, r)
			}
			printRun(g.stdout, r)
			return nil
		},
	}
	cmd.AddCommand(list, show)
	return cmd
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func printRuns(w io.Writer, runs []txlog.Run) error {
	if len(runs) == 0 {
		_, err := fmt.Fprintln(w, "no runs yet: try 'datahub copy SOURCE DEST'")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	_, _ = fmt.Fprintln(tw, "RUN ID\tSTATUS\tSTARTED\tDURATION\tREAD\tWRITTEN\tREJECTED\tSOURCE -> DESTINATION")
	for _, r := range runs {
		_, _ = fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s -> %s\n", r.ID, r.Status,
			r.StartedAt.Local().Format("2006-01-02 15:04:05"), (time.Duration(r.DurationMS) * time.Millisecond).String(),
			groupInt(r.RowsRead), groupInt(r.RowsWritten), groupInt(r.RowsRejected),
			shorten(r.Source, 50), shorten(r.Destination, 50))
	}
	return tw.Flush()
}

func printRun(w io.Writer, r txlog.Run) {
	var b strings.Builder
	fmt.Fprintf(&b, "run %s %s\n", r.ID, strings.ToUpper(r.Status))
	fmt.Fprintf(&b, "  kind         %s\n", r.Kind)
	fmt.Fprintf(&b, "  source       %s\n", r.Source)
	fmt.Fprintf(&b, "  destination  %s (%s)\n", r.Destination, r.Mode)
	fmt.Fprintf(&b, "  started      %s\n", r.StartedAt.Local().Format(time.RFC3339))
	if r.FinishedAt != nil {
		fmt.Fprintf(&b, "  finished     %s (%s)\n", r.FinishedAt.Local().Format(time.RFC3339), time.Duration(r.DurationMS)*time.Millisecond)
	}
	fmt.Fprintf(&b, "  rows         read %s, written %s, rejected %s\n", groupInt(r.RowsRead), groupInt(r.RowsWritten), groupInt(r.RowsRejected))
	fmt.Fprintf(&b, "  bytes        read %s, written %s\n", humanBytes(r.BytesRead), humanBytes(r.BytesWritten))
	if r.DurationMS > 0 {
		fmt.Fprintf(&b, "  throughput   %s rows/s\n", groupInt(r.RowsWritten*1000/r.DurationMS))
	}
	fmt.Fprintf(&b, "  attempts     %d  fast path %v  checkpoint %v\n", r.Attempts, r.FastPath, r.HasCheckpoint)
	fmt.Fprintf(&b, "  host         %s (pid %d)\n", r.Host, r.PID)
	if r.RejectsPath != "" {
		fmt.Fprintf(&b, "  rejects      %s\n", r.RejectsPath)
	}
	if r.Error != "" {
		fmt.Fprintf(&b, "  error        [%s] %s\n", r.ErrorCode, r.Error)
	}
	_, _ = io.WriteString(w, b.String())
}

func shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-1] + "…"
}

func newConnectorsCmd(g *globals) *cobra.Command {
	var jsonOut bool
	cmd := &cobra.Command{
		Use:   "connectors",
		Short: "List the connectors with their URL schemes and options",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			specs := connector.Specs()
			if jsonOut {
				type out struct {
					*connector.Spec
					Read  bool `json:"read"`
					Write bool `json:"write"`
				}
				all := make([]out, len(specs))
				for i, s := range specs {
					all[i] = out{Spec: s, Read: s.CanRead(), Write: s.CanWrite()}
				}
				return writeJSON(g.stdout, all)
			}
			var b strings.Builder
			for i, s := range specs {
				if i > 0 {
					b.WriteString("\n")
				}
				dirs := []string{}
				if s.CanRead() {
					dirs = append(dirs, "source")
				}
				if s.CanWrite() {
					dirs = append(dirs, "destination")
				}
				schemes := make([]string, len(s.Schemes))
				for j, sc := range s.Schemes {
					schemes[j] = sc + ":"
				}
				if s.Paths {
					schemes = append(schemes, "plain paths")
				}
				fmt.Fprintf(&b, "%s  (%s; %s)\n  %s\n", s.Name, strings.Join(schemes, ", "), strings.Join(dirs, " and "), s.Summary)
				if s.Example != "" {
					fmt.Fprintf(&b, "  example: %s\n", s.Example)
				}
				for _, o := range s.Options {
					extra := []string{}
					if o.Default != "" {
						extra = append(extra, "default "+o.Default)
					}
					if o.Required {
						extra = append(extra, "required")
					}
					if o.Secret {
						extra = append(extra, "secret")
					}
					if len(o.Enum) > 0 {
						extra = append(extra, "one of "+strings.Join(o.Enum, "|"))
					}
					note := ""
					if len(extra) > 0 {
						note = " (" + strings.Join(extra, ", ") + ")"
					}
					fmt.Fprintf(&b, "    %-12s %s%s\n", o.Name, o.Help, note)
				}
			}
			_, err := io.WriteString(g.stdout, b.String())
			return err
		},
	}
	cmd.Flags().BoolVar(&jsonOut, "json", false, "print JSON")
	return cmd
}
