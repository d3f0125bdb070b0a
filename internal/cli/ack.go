package cli

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/datahub-oss/datahub/internal/client"
)

// maxAckTokens is how many tokens the API settles in one call.
const maxAckTokens = 1000

var ackActions = []string{client.AckAck, client.AckNak, client.AckProgress, client.AckTerm}

func newAckCmd(g *globals) *cobra.Command {
	var r remote
	var action string
	var delay time.Duration
	var o output
	cmd := &cobra.Command{
		Use:   "ack SUBSCRIPTION TOKEN...",
		Short: "Settle messages of a pull subscription by their ack tokens",
		Long: `Settle messages fetched with "datahub pull --no-ack" by the ack_token it printed: ack (the
default: done), nak (deliver again, after --delay), progress (still working: the ack wait starts
again) or term (never deliver again), before the subscription's ack wait (30s) runs out. A
token of another subscription refuses the whole call.`,
		Example: `  datahub pull orders-export --no-ack --max 1 > msg.json
  datahub ack orders-export "$(jq -r .ack_token msg.json)"
  datahub ack orders-export "$TOKEN1" "$TOKEN2" --action nak --delay 30s`,
		Args: cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			format, err := o.get()
			if err != nil {
				return err
			}
			if !slices.Contains(ackActions, action) {
				return usageError("--action must be one of %s", strings.Join(ackActions, ", "))
			}
			if delay < 0 {
				return usageError("--delay must not be negative")
			}
			if delay > 0 && action != client.AckNak {
				return usageError("--delay goes with --action nak")
			}
			tokens := args[1:]
			if len(tokens) > maxAckTokens {
				return usageError("at most %d tokens at a time", maxAckTokens)
			}
			c, err := g.client(&r)
			if err != nil {
				return err
			}
			n, err := c.AckSubscription(cmd.Context(), args[0], tokens, action, delay)
			if err != nil {
				return failure(err)
			}
			if format != outTable {
				// The API's answer, {"settled": n}.
				return writeAny(g.stdout, format, map[string]int{"settled": n})
			}
			_, err = fmt.Fprintf(g.stdout, "%s: %d of %d settled (%s)\n", args[0], n, len(tokens), action)
			return err
		},
	}
	addRemoteFlags(cmd.Flags(), &r)
	cmd.Flags().StringVar(&action, "action", client.AckAck, "ack, nak, progress or term")
	cmd.Flags().DurationVar(&delay, "delay", 0, "with --action nak: deliver again after this long (default at once)")
	addOutputFlags(cmd.Flags(), &o)
	return cmd
}
