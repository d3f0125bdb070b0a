package cli

import (
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/datahub-oss/datahub/internal/client"
	"github.com/datahub-oss/datahub/internal/days"
)

func newAuditCmd(g *globals) *cobra.Command {
	var r remote
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "List and verify the hub server's audit log",
		Long: `The hub server records every change, run request, login and token or secret operation in
an append-only audit log whose entries are chained by hashes: 'audit verify' detects an entry
edited or deleted since.`,
	}
	addRemoteFlags(cmd.PersistentFlags(), &r)

	var f client.AuditFilter
	var since, until string
	var lo output
	list := &cobra.Command{
		Use:   "list",
		Short: "List audit entries, newest first",
		Example: `  datahub audit list --since 24h
  datahub audit list --action 'resource.*' --kind Integration --name quickstart -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			format, err := lo.get(outTable)
			if err != nil {
				return err
			}
			now := time.Now()
			if f.Since, err = parseTimeArg(since, now); err != nil {
				return usageError("--since: %v", err)
			}
			if f.Until, err = parseTimeArg(until, now); err != nil {
				return usageError("--until: %v", err)
			}
			c, err := g.client(&r)
			if err != nil {
				return err
			}
			p, err := c.AuditList(cmd.Context(), f)
			if err != nil {
				return failure(err)
			}
			if format == outJSON {
				return writeJSON(g.stdout, p)
			}
			if len(p.Items) == 0 {
				_, err := fmt.Fprintln(g.stdout, "no audit entries match")
				return err
			}
			tw := newTable(g.stdout, "SEQ", "AT", "ACTOR", "ACTION", "TARGET", "REMOTE")
			for _, e := range p.Items {
				target := strings.Trim(e.TargetKind+"/"+e.TargetName, "/")
				tw.row(e.Seq, when(&e.At), e.Actor, e.Action, dash(target), dash(e.Remote))
			}
			if err := tw.flush(); err != nil {
				return err
			}
			if p.Next != "" {
				_, err = fmt.Fprintf(g.stderr, "more: --cursor '%s'\n", p.Next)
			}
			return err
		},
	}
	fl := list.Flags()
	fl.StringVar(&f.Actor, "actor", "", "only entries by this user or token")
	fl.StringVar(&f.Action, "action", "", "only this action (e.g. run.request), or a prefix ending in * (resource.*)")
	fl.StringVar(&f.Kind, "kind", "", "only entries about this kind of target (Integration, Secret, User, ...)")
	fl.StringVar(&f.Name, "name", "", "only entries about the target of this name")
	fl.StringVar(&since, "since", "", "only entries since this time: RFC 3339, a date (2026-01-31) or an age (24h, 7d)")
	fl.StringVar(&until, "until", "", "only entries before this time (same forms as --since)")
	fl.IntVar(&f.Limit, "limit", 50, "at most this many entries")
	fl.StringVar(&f.Cursor, "cursor", "", "continue after the previous page (printed when there are more)")
	addOutputFlags(fl, &lo, "", true, outTable, outJSON)

	var vo output
	verify := &cobra.Command{
		Use:   "verify",
		Short: "Check the audit log's hash chain (exit 1 when an entry was edited or deleted)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			format, err := vo.get(outTable)
			if err != nil {
				return err
			}
			c, err := g.client(&r)
			if err != nil {
				return err
			}
			rep, err := c.AuditVerify(cmd.Context())
			if err != nil {
				return failure(err)
			}
			if format == outJSON {
				err = writeJSON(g.stdout, rep)
			} else if rep.OK {
				_, err = fmt.Fprintf(g.stdout, "audit log intact: %d entries verified\n", rep.Entries)
			} else {
				_, err = fmt.Fprintf(g.stdout, "audit log BROKEN at seq %d: %s (%d entries verified before it)\n", rep.FirstBadSeq, dash(rep.Reason), rep.Entries)
			}
			if err != nil {
				return err
			}
			if !rep.OK {
				return &exitError{code: ExitFailed}
			}
			return nil
		},
	}
	addOutputFlags(verify.Flags(), &vo, "", true, outTable, outJSON)
	cmd.AddCommand(list, verify)
	return cmd
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// parseTimeArg reads a point in time: RFC 3339, a date (midnight local time), or an age
// before now ("90m", "24h", "7d"). "" is the zero time.
func parseTimeArg(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if t, err := time.ParseInLocation("2006-01-02", s, time.Local); err == nil {
		return t, nil
	}
	d, err := parseAge(s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is not a time (2026-01-31T08:00:00Z), a date (2026-01-31) or an age (24h, 7d)", s)
	}
	return now.Add(-d), nil
}

// parseAge reads a positive duration in Go's form (90m, 36h) or in days (7d).
func parseAge(s string) (time.Duration, error) {
	d, err := days.Parse(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%q: want a duration such as 90d or 36h", s)
	}
	return d, nil
}
