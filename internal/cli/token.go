package cli

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/datahub-oss/datahub/internal/client"
)

func newTokenCmd(g *globals) *cobra.Command {
	var r remote
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Create, list and revoke API tokens on the hub server",
	}
	addRemoteFlags(cmd.PersistentFlags(), &r)

	var user, expires string
	create := &cobra.Command{
		Use:   "create NAME [--user USER] [--expires 90d]",
		Short: "Create an API token and print it, once, alone on standard output",
		Long: `Create an API token named NAME for yourself (or, with tokens.manage, for --user) and print
it alone on standard output, so that it can be captured; it cannot be shown again.`,
		Example: `  export DATAHUB_TOKEN=$(datahub token create laptop --expires 30d)
  datahub token create ci --user ci-bot > ci.token`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageError("token create needs one NAME")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			nt := client.NewToken{Name: args[0], User: user}
			switch expires {
			case "":
			case "never":
				// Only for service accounts, by holders of tokens.manage: the server decides.
				nt.ExpiresIn = expires
			default:
				d, err := parseAge(expires)
				if err != nil {
					return usageError("--expires %v", err)
				}
				nt.ExpiresIn = goDuration(d)
			}
			c, err := g.client(&r)
			if err != nil {
				return err
			}
			tok, err := c.CreateToken(cmd.Context(), nt)
			if err != nil {
				return failure(err)
			}
			if _, err := fmt.Fprintln(g.stdout, tok.Token); err != nil {
				return err
			}
			until := "never expires"
			if tok.ExpiresAt != nil {
				until = "expires " + when(tok.ExpiresAt)
			}
			_, err = fmt.Fprintf(g.stderr, "token %s (%s) created; it %s and is shown only this once\n", tok.ID, args[0], until)
			return err
		},
	}
	create.Flags().StringVar(&user, "user", "", "create the token for this user (needs tokens.manage)")
	create.Flags().StringVar(&expires, "expires", "", "lifetime: days (90d), a duration (36h) or never (service accounts); default: the server's, 90 days")

	var listUser string
	var o output
	list := &cobra.Command{
		Use:   "list",
		Short: "List your API tokens (or --user's); never the tokens themselves",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			format, err := o.get()
			if err != nil {
				return err
			}
			c, err := g.client(&r)
			if err != nil {
				return err
			}
			toks, err := c.ListTokens(cmd.Context(), listUser)
			if err != nil {
				return failure(err)
			}
			if format != outTable {
				return writeList(g.stdout, format, toks, "")
			}
			if len(toks) == 0 {
				_, err := fmt.Fprintln(g.stdout, "no tokens")
				return err
			}
			tw := newTable(g.stdout, "ID", "NAME", "USER ID", "PREFIX", "CREATED", "EXPIRES", "LAST USED", "STATE")
			now := time.Now()
			for _, t := range toks {
				state := "active"
				switch {
				case t.RevokedAt != nil:
					state = "revoked"
				case t.ExpiresAt != nil && t.ExpiresAt.Before(now):
					state = "expired"
				}
				tw.row(t.ID, t.Name, dash(t.UserID), dash(t.Prefix), when(&t.CreatedAt), when(t.ExpiresAt), when(t.LastUsedAt), state)
			}
			return tw.flush()
		},
	}
	list.Flags().StringVar(&listUser, "user", "", "list this user's tokens, or '*' for everyone's (needs tokens.manage)")
	addOutputFlags(list.Flags(), &o)

	revoke := &cobra.Command{
		Use:   "revoke ID",
		Short: "Revoke an API token by its id (see 'datahub token list')",
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageError("token revoke needs one token ID")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client(&r)
			if err != nil {
				return err
			}
			if err := c.RevokeToken(cmd.Context(), args[0]); err != nil {
				return failure(err)
			}
			_, err = fmt.Fprintf(g.stdout, "token %s revoked\n", args[0])
			return err
		},
	}
	cmd.AddCommand(create, list, revoke)
	return cmd
}

// goDuration writes d as Go's time.ParseDuration reads it, in whole hours when it is.
func goDuration(d time.Duration) string {
	if d%time.Hour == 0 {
		return fmt.Sprintf("%dh", d/time.Hour)
	}
	return d.String()
}
