package cli

import (
	"fmt"

	"github.com/spf13/cobra"
)

func newLoginCmd(g *globals) *cobra.Command {
	var server, user string
	var passwordStdin bool
	cmd := &cobra.Command{
		Use:   "login --user USER [--password-stdin]",
		Short: "Log in to the hub server as a local user and print a session token",
		Long: `Log in with a local user's password and print the session token alone on standard output
(valid for 12 hours): set DATAHUB_TOKEN to it. Without --password-stdin the password is asked
for on the terminal, without echo.`,
		Example: `  export DATAHUB_TOKEN=$(datahub login --user ann)`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if user == "" {
				return usageError("login needs --user")
			}
			pw, err := readPassword(cmd, g, passwordStdin, "Password for "+user+": ")
			if err != nil {
				return err
			}
			// No token: logging in is how one gets one.
			c, err := g.clientWith(server, "")
			if err != nil {
				return err
			}
			s, err := c.Login(cmd.Context(), user, pw)
			if err != nil {
				return failure(err)
			}
			if _, err := fmt.Fprintln(g.stdout, s.Token); err != nil {
				return err
			}
			who := s.UserName()
			if who == "" {
				who = user
			}
			until := ""
			if s.ExpiresAt != nil {
				until = " until " + when(s.ExpiresAt)
			}
			_, err = fmt.Fprintf(g.stderr, "logged in as %s%s: set DATAHUB_TOKEN to the token printed\n", safe(who), until)
			return err
		},
	}
	cmd.Flags().StringVar(&server, "server", "", "hub server URL (env DATAHUB_SERVER; default "+defaultServer+")")
	cmd.Flags().StringVar(&user, "user", "", "local user name")
	cmd.Flags().BoolVar(&passwordStdin, "password-stdin", false, "read the password from standard input")
	return cmd
}
