package cli

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/datahub-oss/datahub/internal/client"
)

// waitEvery is how often 'datahub wait' asks again.
const waitEvery = 100 * time.Millisecond

func newWaitCmd(g *globals) *cobra.Command {
	var server string
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "wait [--server URL] [--timeout 1m]",
		Short: "Wait until the hub server is ready",
		Long: `Wait until the hub server answers that it is ready (its store and bus answer), for scripts
that start 'datahub serve &' and go on at once. A server that answers has written the first
admin's token to <data>/admin.token already.

Exit status: 0 ready, 1 not ready within --timeout.`,
		Example: `  datahub serve &
  datahub wait && export DATAHUB_TOKEN=$(cat datahub-data/admin.token)`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if timeout <= 0 {
				return usageError("--timeout must be positive")
			}
			// No token: readiness is public, and a token is not needed to know it.
			c, err := g.clientWith(server, "")
			if err != nil {
				return err
			}
			if err := waitReady(cmd.Context(), c, timeout); err != nil {
				return &exitError{code: ExitFailed, err: err}
			}
			_, err = fmt.Fprintf(g.stderr, "hub server ready at %s\n", c.BaseURL())
			return err
		},
	}
	cmd.Flags().StringVar(&server, "server", "", "hub server URL (env DATAHUB_SERVER; default "+defaultServer+")")
	cmd.Flags().DurationVar(&timeout, "timeout", time.Minute, "give up after this long")
	return cmd
}

// waitReady asks the server whether it is ready until it is or timeout has passed, and then
// says what it last answered (or why nothing answered).
func waitReady(ctx context.Context, c *client.Client, timeout time.Duration) error {
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(waitEvery)
	defer tick.Stop()
	last := errors.New("no answer yet")
	for {
		err := c.Ready(wctx)
		if err == nil {
			return nil
		}
		if wctx.Err() == nil {
			last = err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-wctx.Done():
			return fmt.Errorf("the hub server at %s was not ready within %s: %w", c.BaseURL(), timeout, last)
		case <-tick.C:
		}
	}
}
