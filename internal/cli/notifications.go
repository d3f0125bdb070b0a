package cli

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/datahub-oss/datahub/internal/client"
)

var notificationStatuses = []string{"sent", "failed", "suppressed", "digested"}

func newNotificationsCmd(g *globals) *cobra.Command {
	var r remote
	cmd := &cobra.Command{
		Use:   "notifications",
		Short: "List the notifications the hub server sent, failed to send, or held back",
		Long: `NotificationRule resources turn the hub's events (run.failed, ...) into emails, signed
webhooks and chat messages. Every notification is recorded: sent, failed (after retries),
suppressed (held back by the rule's throttle) or digested (a digest of the suppressed ones,
sent when the throttle window ends).`,
	}
	addRemoteFlags(cmd.PersistentFlags(), &r)

	var f client.NotificationFilter
	var since, until string
	var lo output
	list := &cobra.Command{
		Use:   "list",
		Short: "List notifications, newest first",
		Example: `  datahub notifications list --status failed --since 24h
  datahub notifications list --rule run-failures --integration orders -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			format, err := lo.get()
			if err != nil {
				return err
			}
			if f.Status != "" && !slices.Contains(notificationStatuses, f.Status) {
				return usageError("--status: %q is not one of %s", f.Status, strings.Join(notificationStatuses, ", "))
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
			p, err := c.Notifications(cmd.Context(), f)
			if err != nil {
				return failure(err)
			}
			if format != outTable {
				return writeList(g.stdout, format, p.Items, p.Next)
			}
			if len(p.Items) == 0 {
				_, err := fmt.Fprintln(g.stdout, "no notifications match")
				return err
			}
			tw := newTable(g.stdout, "AT", "STATUS", "RULE", "CHANNEL", "EVENT", "INTEGRATION", "EVENTS", "RECIPIENTS", "ERROR")
			for _, n := range p.Items {
				tw.row(when(&n.Time), n.Status, n.Rule, n.Channel,
					dash(n.EventType), dash(n.Integration), strconv.Itoa(n.Events), dash(strings.Join(n.Recipients, ",")), dash(oneLine(n.Error)))
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
	fl.StringVar(&f.Status, "status", "", "only notifications in this state: "+strings.Join(notificationStatuses, ", "))
	fl.StringVar(&f.Rule, "rule", "", "only notifications of this NotificationRule")
	fl.StringVar(&f.Integration, "integration", "", "only notifications about this integration")
	fl.StringVar(&f.EventType, "event-type", "", "only notifications of this event type (run.failed, ...)")
	fl.StringVar(&since, "since", "", "only notifications since this time: RFC 3339, a date (2026-01-31) or an age (24h, 7d)")
	fl.StringVar(&until, "until", "", "only notifications before this time (same forms as --since)")
	fl.IntVar(&f.Limit, "limit", 50, "at most this many notifications")
	fl.StringVar(&f.Cursor, "cursor", "", "continue after the previous page (printed when there are more)")
	addOutputFlags(fl, &lo)
	cmd.AddCommand(list)
	return cmd
}

// oneLine keeps a table row on one line.
func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 80 {
		s = s[:77] + "..."
	}
	return s
}
