package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/spf13/cobra"

	"github.com/datahub-oss/datahub/internal/client"
)

// maxPublishSize is the largest message the API takes.
const maxPublishSize = 1 << 20

func newPublishCmd(g *globals) *cobra.Command {
	var r remote
	var file, subject, key, idem, contentType string
	var headers []string
	var retryFor time.Duration
	var o output
	cmd := &cobra.Command{
		Use:   "publish TOPIC",
		Short: "Publish a message to a topic of the service bus",
		Long: `Publish one message (a file, or standard input) to a Topic. Every Subscription of the
topic whose filter matches delivers it. --id makes the publish idempotent: the same id again
within 2 minutes stores nothing. When the server or its bus is down (503, no connection), the
publish is retried for --retry-for (default 1m) with the same id, so it is stored once.`,
		Example: `  echo '{"id": 42}' | datahub publish orders --subject eu.created --header Region=eu
  datahub publish orders --file order.json --key customer-7 --id order-42`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			format, err := o.get()
			if err != nil {
				return err
			}
			if retryFor < 0 || retryFor > 2*time.Minute {
				return usageError("--retry-for %s: give 0 to 2m (a retry after the 2-minute duplicate window could store the message twice)", retryFor)
			}
			hdr := map[string]string{}
			for _, h := range headers {
				k, v, ok := strings.Cut(h, "=")
				if !ok || k == "" {
					return usageError("--header %q: want NAME=VALUE", h)
				}
				hdr[k] = v
			}
			in := cmd.InOrStdin()
			if file != "" && file != "-" {
				f, err := os.Open(file) //nolint:gosec // the user names the file to publish
				if err != nil {
					return usageError("--file: %v", err)
				}
				defer func() { _ = f.Close() }()
				in = f
			}
			data, err := io.ReadAll(io.LimitReader(in, maxPublishSize+1))
			if err != nil {
				return fmt.Errorf("read the message: %w", err)
			}
			if len(data) > maxPublishSize {
				return usageError("the message is larger than 1 MiB")
			}
			if contentType == "" && strings.HasSuffix(file, ".json") {
				contentType = "application/json"
			}
			c, err := g.client(&r)
			if err != nil {
				return err
			}
			if idem == "" {
				// Chosen once, before the first try: every retry carries it, so a try stored
				// although unconfirmed makes the retries duplicates the bus drops.
				idem = uuid.NewString()
			}
			res, err := c.Publish(cmd.Context(), args[0], data, client.PublishOptions{Subject: subject, IdempotencyKey: idem, Key: key,
				Headers: hdr, ContentType: contentType, RetryFor: retryFor})
			if err != nil {
				return failure(err)
			}
			if format != outTable {
				return writeAny(g.stdout, format, res)
			}
			note := ""
			if res.Duplicate {
				note = " (duplicate: already published)"
			}
			_, err = fmt.Fprintf(g.stdout, "published %s seq %d id %s%s\n", args[0], res.Seq, res.MessageID, note)
			return err
		},
	}
	addRemoteFlags(cmd.Flags(), &r)
	fl := cmd.Flags()
	fl.StringVarP(&file, "file", "f", "", "the message's file (default: standard input)")
	fl.StringVar(&subject, "subject", "", "subject suffix subscriptions filter on (default \"default\")")
	fl.StringVar(&key, "key", "", "ordering key (X-DataHub-Key)")
	fl.StringVar(&idem, "id", "", "message id / idempotency key (default: a random one, the same for every retry)")
	fl.DurationVar(&retryFor, "retry-for", time.Minute, "retry through 503s and connection failures this long, with the same id (0: no retry; at most 2m, the duplicate window)")
	fl.StringVar(&contentType, "content-type", "", "content type (default application/json for .json files, else application/octet-stream)")
	fl.StringArrayVar(&headers, "header", nil, "a message header NAME=VALUE (repeatable)")
	addOutputFlags(fl, &o)
	return cmd
}

func newSubscribeCmd(g *globals) *cobra.Command {
	var r remote
	var after uint64
	var lo output
	cmd := &cobra.Command{
		Use:   "subscribe TOPIC",
		Short: "Print a topic's new messages as they arrive, until Ctrl-C",
		Long: `Tail a Topic: print each new message (or, with --after, the kept ones after a sequence)
until interrupted. It reads the topic without a subscription: nothing is acknowledged and no
subscription's delivery is affected.`,
		Example: `  datahub subscribe orders
  datahub subscribe orders --after 0 -o json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			format, err := lo.get()
			if err != nil {
				return err
			}
			c, err := g.client(&r)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			if !cmd.Flags().Changed("after") {
				// From now: skip what the topic keeps.
				for {
					b, err := c.ReadTopic(ctx, args[0], after, 1000, 0)
					if err != nil {
						return failure(err)
					}
					if len(b.Items) == 0 {
						break
					}
					after = b.Last
				}
			}
			for ctx.Err() == nil {
				b, err := c.ReadTopic(ctx, args[0], after, 100, 30*time.Second)
				if err != nil {
					if ctx.Err() != nil || errors.Is(err, context.Canceled) {
						return nil //nolint:nilerr // Ctrl-C ends the tail normally
					}
					return failure(err)
				}
				for _, m := range b.Items {
					if err := printMessage(g.stdout, format, m); err != nil {
						return err
					}
				}
				after = b.Last
			}
			return nil
		},
	}
	addRemoteFlags(cmd.Flags(), &r)
	cmd.Flags().Uint64Var(&after, "after", 0, "start after this sequence (default: only new messages)")
	addOutputFlags(cmd.Flags(), &lo)
	return cmd
}

// printMessage writes one message: a header line and the body, one JSON object a line, or
// one YAML document (after a "---" line, so that a stream of them reads back).
func printMessage(w io.Writer, format string, m client.TopicMessage) error {
	if format != outTable {
		p := printedMessage{TopicMessage: m}
		p.Data, p.Text, p.DataBase64 = printedBody(m.Data)
		if format == outYAML {
			if _, err := io.WriteString(w, "---\n"); err != nil {
				return err
			}
		}
		return writeLine(w, format, p)
	}
	_, err := fmt.Fprintf(w, "--- seq %d %s subject %s id %s\n%s\n", m.Seq, m.Time.UTC().Format(time.RFC3339), safe(m.Subject), safe(m.MessageID), m.Data)
	return err
}

func newDLQCmd(g *globals) *cobra.Command {
	var r remote
	cmd := &cobra.Command{
		Use:   "dlq",
		Short: "List, show and replay a subscription's dead letters",
		Long: `A message a Subscription failed to deliver retry.maxDeliver times (or that its receiver
refused for good) is copied to the subscription's dead-letter queue with the delivery count and
the last error. A replay publishes it again to its topic for that subscription only.`,
	}
	addRemoteFlags(cmd.PersistentFlags(), &r)
	var lo output
	var after uint64
	list := &cobra.Command{
		Use:   "list SUBSCRIPTION",
		Short: "List dead letters, oldest first",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			format, err := lo.get()
			if err != nil {
				return err
			}
			c, err := g.client(&r)
			if err != nil {
				return err
			}
			ds, next, err := c.DeadLetters(cmd.Context(), args[0], after, 1000)
			if err != nil {
				return failure(err)
			}
			if format != outTable {
				return writeList(g.stdout, format, ds, next)
			}
			if len(ds) == 0 {
				_, err := fmt.Fprintln(g.stdout, "no dead letters")
				return err
			}
			tw := newTable(g.stdout, "SEQ", "AT", "TOPIC", "SUBJECT", "MESSAGE ID", "DELIVERIES", "ERROR")
			for _, d := range ds {
				tw.row(d.Seq, when(&d.Time), d.Topic, d.Subject, dash(d.MessageID), d.Deliveries, dash(oneLine(d.Error)))
			}
			if err := tw.flush(); err != nil {
				return err
			}
			if next != "" {
				_, err = fmt.Fprintf(g.stderr, "more: --after %s\n", next)
			}
			return err
		},
	}
	list.Flags().Uint64Var(&after, "after", 0, "list the dead letters after this sequence")
	addOutputFlags(list.Flags(), &lo)

	var so output
	show := &cobra.Command{
		Use:   "show SUBSCRIPTION SEQ",
		Short: "Show a dead letter: its body, headers, deliveries and last error",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			format, err := so.get()
			if err != nil {
				return err
			}
			seq, err := parseSeq(args[1])
			if err != nil {
				return err
			}
			c, err := g.client(&r)
			if err != nil {
				return err
			}
			d, err := c.DeadLetter(cmd.Context(), args[0], seq)
			if err != nil {
				return failure(err)
			}
			if format != outTable {
				return writeAny(g.stdout, format, d)
			}
			_, err = fmt.Fprintf(g.stdout, "seq:         %d\ntopic:       %s (seq %d, subject %s)\nmessage id:  %s\ndeliveries:  %d\nerror:       %s\nat:          %s\n",
				d.Seq, d.Topic, d.TopicSeq, safe(d.Subject), safe(dash(d.MessageID)), d.Deliveries, safe(d.Error), when(&d.Time))
			if err != nil {
				return err
			}
			for k, v := range d.Headers {
				_, _ = fmt.Fprintf(g.stdout, "header:      %s: %s\n", safe(k), safe(fmt.Sprint(v)))
			}
			_, err = fmt.Fprintf(g.stdout, "\n%s\n", d.Data)
			return err
		},
	}
	addOutputFlags(show.Flags(), &so)

	var ro output
	replay := &cobra.Command{
		Use:   "replay SUBSCRIPTION [SEQ]",
		Short: "Replay one dead letter, or all of them, to the subscription",
		Args:  cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			format, err := ro.get()
			if err != nil {
				return err
			}
			c, err := g.client(&r)
			if err != nil {
				return err
			}
			if len(args) == 1 {
				n, err := c.ReplayDeadLetters(cmd.Context(), args[0])
				if err != nil {
					return failure(err)
				}
				if format != outTable {
					// The API's answer, {"replayed": n}.
					return writeAny(g.stdout, format, map[string]int{"replayed": n})
				}
				_, err = fmt.Fprintf(g.stdout, "replayed %d dead letters of %s\n", n, args[0])
				return err
			}
			seq, err := parseSeq(args[1])
			if err != nil {
				return err
			}
			res, err := c.ReplayDeadLetter(cmd.Context(), args[0], seq)
			if err != nil {
				return failure(err)
			}
			if format != outTable {
				return writeAny(g.stdout, format, res)
			}
			_, err = fmt.Fprintf(g.stdout, "replayed dead letter %d of %s as topic seq %d\n", seq, args[0], res.Seq)
			return err
		},
	}
	addOutputFlags(replay.Flags(), &ro)
	cmd.AddCommand(list, show, replay)
	return cmd
}

func parseSeq(s string) (uint64, error) {
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil || n == 0 {
		return 0, usageError("sequence %q: want a positive whole number", s)
	}
	return n, nil
}

// printedMessage is a message as the CLI prints it as JSON: the body as JSON when it is JSON
// (data), else as text when it is UTF-8 (text), else in base64 (data_base64); the API's own
// answer always has it in base64.
type printedMessage struct {
	client.TopicMessage
	Data       json.RawMessage `json:"data,omitempty"`
	Text       *string         `json:"text,omitempty"`
	DataBase64 []byte          `json:"data_base64,omitempty"`
}

// printedBody splits a body into the one printed field it fits.
func printedBody(b []byte) (data json.RawMessage, text *string, raw []byte) {
	switch {
	case len(b) > 0 && json.Valid(b):
		return json.RawMessage(b), nil, nil
	case utf8.Valid(b):
		s := string(b)
		return nil, &s, nil
	}
	return nil, nil, b
}
