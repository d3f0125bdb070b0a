package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/datahub-oss/datahub/internal/client"
)

// pullAckTimeout bounds the ack of a printed batch, which is sent even after Ctrl-C.
const pullAckTimeout = 30 * time.Second

func newPullCmd(g *globals) *cobra.Command {
	var r remote
	var limit int
	var wait time.Duration
	var follow, noAck bool
	var o output
	cmd := &cobra.Command{
		Use:   "pull SUBSCRIPTION",
		Short: "Fetch messages of a pull subscription, print them as JSON lines and ack them",
		Long: `Fetch a batch of a Subscription with delivery type pull, print each message as one JSON
object a line (as subscribe -o json, with delivered and ack_token: the body is under data when
it is JSON, text when it is other UTF-8 text, data_base64 otherwise), then acknowledge the batch.
Messages are printed before they are acked: a message may be printed twice (after a crash, or
when the ack came too late), never lost. With --follow it fetches again until interrupted; with
--no-ack nothing is acknowledged and the messages are delivered again after the ack wait.`,
		Example: `  datahub pull orders-export
  datahub pull orders-export --follow --max 100 | ./process.sh`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			format, err := o.get()
			if err != nil {
				return err
			}
			if o.format == "" {
				// JSON lines are what pull prints unless told otherwise.
				format = outJSON
			}
			if limit < 1 || limit > 1000 {
				return usageError("--max must be 1 to 1000")
			}
			if wait < 0 || wait > time.Minute {
				return usageError("--wait must be at most 60s")
			}
			c, err := g.client(&r)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			for first := true; first || (follow && ctx.Err() == nil); first = false {
				msgs, err := c.FetchSubscription(ctx, args[0], limit, wait)
				if err != nil {
					if ctx.Err() != nil || errors.Is(err, context.Canceled) {
						return nil //nolint:nilerr // Ctrl-C ends the pull normally
					}
					return failure(err)
				}
				tokens := make([]string, 0, len(msgs))
				for _, m := range msgs {
					if err := printPulled(g.stdout, format, m); err != nil {
						return fmt.Errorf("print message %d: %w", m.Seq, err)
					}
					tokens = append(tokens, m.AckToken)
				}
				if !noAck && len(tokens) > 0 {
					// Printed, so acked even if Ctrl-C came meanwhile.
					actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), pullAckTimeout)
					_, err := c.AckSubscription(actx, args[0], tokens, "", 0)
					cancel()
					if err != nil {
						return failure(err)
					}
				}
			}
			return nil
		},
	}
	addRemoteFlags(cmd.Flags(), &r)
	cmd.Flags().IntVar(&limit, "max", 10, "fetch at most this many messages at a time (1-1000)")
	cmd.Flags().DurationVar(&wait, "wait", 10*time.Second, "wait at most this long for a first message (at most 60s)")
	cmd.Flags().BoolVar(&follow, "follow", false, "keep fetching until interrupted")
	cmd.Flags().BoolVar(&noAck, "no-ack", false, "print without acknowledging (the messages come back after the ack wait)")
	addOutputFlags(cmd.Flags(), &o)
	cmd.Flags().Lookup("output").Usage = "output format: json (default: one object a line), yaml (a document each), table (as subscribe, with the ack token)"
	return cmd
}

// printPulled writes one pulled message as subscribe does (printMessage), with its delivery
// count and ack token.
func printPulled(w io.Writer, format string, m client.PulledMessage) error {
	if format == outTable {
		_, err := fmt.Fprintf(w, "--- seq %d %s subject %s id %s delivered %d ack %s\n%s\n", m.Seq, m.Time.UTC().Format(time.RFC3339),
			safe(m.Subject), safe(m.MessageID), m.Delivered, safe(m.AckToken), m.Data)
		return err
	}
	p := printedPull{PulledMessage: m}
	p.Data, p.Text, p.DataBase64 = printedBody(m.Data)
	if format == outYAML {
		if _, err := io.WriteString(w, "---\n"); err != nil {
			return err
		}
	}
	return writeLine(w, format, p)
}

// printedPull is a pulled message as pull prints it (see printedMessage).
type printedPull struct {
	client.PulledMessage
	Data       json.RawMessage `json:"data,omitempty"`
	Text       *string         `json:"text,omitempty"`
	DataBase64 []byte          `json:"data_base64,omitempty"`
}
