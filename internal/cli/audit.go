package cli

import (
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/datahub-oss/datahub/internal/audit"
	"github.com/datahub-oss/datahub/internal/client"
	"github.com/datahub-oss/datahub/internal/days"
)

func newAuditCmd(g *globals) *cobra.Command {
	var r remote
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "List and verify the hub server's audit log",
		Long: `The hub server records every change, run request, login and token or secret operation in
an append-only audit log whose entries are chained by a keyed hash (HMAC-SHA256 under a key
derived from the master key): 'audit verify' detects an entry edited or deleted since, even by
someone who could write the store. The server also writes the chain's head out periodically
(an anchor, in <data>/audit-anchor.json and as an audit.anchor event); 'audit verify --anchor'
checks the chain still holds one, which catches a rollback of the last entries too.`,
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
			format, err := lo.get()
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
			if format != outTable {
				return writeList(g.stdout, format, p.Items, p.Next)
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
	addOutputFlags(fl, &lo)

	var vo output
	var anchorArg string
	verify := &cobra.Command{
		Use:   "verify",
		Short: "Check the audit log's chain (exit 1 when an entry was edited or deleted, or the tail rolled back)",
		Long: `Check the audit log's chain on the server. Without --anchor the server also checks it
against the latest anchor in its own anchor file; --anchor checks it against an anchor you
kept elsewhere: an anchor file (its latest anchor) or SEQ:HASH (e.g. from an audit.anchor event).`,
		Example: `  datahub audit verify
  datahub audit verify --anchor /backup/audit-anchor.json
  datahub audit verify --anchor 1042:3f5a...`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			format, err := vo.get()
			if err != nil {
				return err
			}
			anchor, err := anchorParam(anchorArg)
			if err != nil {
				return usageError("--anchor: %v", err)
			}
			c, err := g.client(&r)
			if err != nil {
				return err
			}
			rep, err := c.AuditVerifyAnchor(cmd.Context(), anchor)
			if err != nil {
				return failure(err)
			}
			if format != outTable {
				err = writeAny(g.stdout, format, rep)
			} else if rep.OK && rep.Anchor != "" {
				_, err = fmt.Fprintf(g.stdout, "audit log intact: %d entries verified, and it holds the anchor %s (from the %s)\n", rep.Entries, rep.Anchor, anchorFrom(rep.AnchorFrom))
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
	verify.Flags().StringVar(&anchorArg, "anchor", "", "also check against this anchor: an anchor file (its latest anchor) or SEQ:HASH")
	addOutputFlags(verify.Flags(), &vo)
	cmd.AddCommand(list, verify)
	return cmd
}

// anchorParam turns --anchor into the SEQ:HASH the server takes: as given, or the latest
// anchor of the file it names.
func anchorParam(arg string) (string, error) {
	if arg == "" {
		return "", nil
	}
	if a, err := audit.ParseAnchor(arg); err == nil {
		return a.String(), nil
	}
	af, err := audit.ReadAnchorFile(arg)
	if err != nil {
		return "", fmt.Errorf("%q is neither SEQ:HASH nor a readable anchor file: %w", arg, err)
	}
	a, ok := af.Latest("")
	if !ok {
		return "", fmt.Errorf("anchor file %s holds no anchor yet", arg)
	}
	return a.String(), nil
}

func anchorFrom(from string) string {
	if from == "file" {
		return "server's anchor file"
	}
	return "command line"
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
