package cli

import (
	"fmt"
	"os"

	"github.com/datahub-oss/datahub/internal/client"

	"github.com/spf13/cobra"
)

func newSecretCmd(g *globals) *cobra.Command {
	var r remote
	cmd := &cobra.Command{
		Use:   "secret",
		Short: "Store, list and delete secrets on the hub server (or, --local, in the data folder)",
		Long: `Secrets are stored encrypted by the hub server and referenced from Endpoints as
secret:NAME. Their values are never shown again: not by the API, not in logs. With --local
they are kept in the data folder's own store, encrypted with its master key, for the
secret:NAME references of named connections (datahub copy @NAME).`,
	}
	addRemoteFlags(cmd.PersistentFlags(), &r)
	var local bool
	var data string
	cmd.PersistentFlags().BoolVar(&local, "local", false, "the data folder's own secret store, not the server's: for the secret:NAME references of named connections (datahub copy @NAME)")
	cmd.PersistentFlags().StringVar(&data, "data", "", "with --local: the data folder (default ./datahub-data, env DATAHUB_DATA)")

	var fromStdin bool
	var fromFile string
	var po output
	put := &cobra.Command{
		Use:   "put NAME (--from-stdin | --from-file FILE)",
		Short: "Create or replace a secret",
		Long: `Create or replace a secret. The value is read from standard input or a file, never from a
flag (flags show in the process list and shell history); one trailing newline is dropped.`,
		Example: `  printf '%s' "$PGPASSWORD" | datahub secret put crm.pg.password --from-stdin
  datahub secret put sftp.key --from-file ~/.ssh/id_ed25519`,
		Args: oneName("secret put", "NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			format, err := po.get()
			if err != nil {
				return err
			}
			if fromStdin == (fromFile != "") {
				return usageError("secret put needs exactly one of --from-stdin and --from-file")
			}
			in := cmd.InOrStdin()
			if fromFile != "" {
				f, err := os.Open(fromFile)
				if err != nil {
					return usageError("--from-file: %v", err)
				}
				defer func() { _ = f.Close() }()
				in = f
			}
			value, err := readSecretInput(in, "secret value")
			if err != nil {
				return usageError("%v", err)
			}
			if local {
				return putLocalSecret(cmd.Context(), g, dataDir(data), args[0], value, format)
			}
			c, err := g.client(&r)
			if err != nil {
				return err
			}
			s, err := c.PutSecret(cmd.Context(), args[0], value)
			if err != nil {
				return failure(err)
			}
			if format != outTable {
				return writeAny(g.stdout, format, s)
			}
			_, err = fmt.Fprintf(g.stdout, "secret %s stored; refer to it as secret:%s\n", s.Name, s.Name)
			return err
		},
	}
	put.Flags().BoolVar(&fromStdin, "from-stdin", false, "read the value from standard input")
	put.Flags().StringVar(&fromFile, "from-file", "", "read the value from this file")
	addOutputFlags(put.Flags(), &po)

	var o output
	list := &cobra.Command{
		Use:   "list",
		Short: "List the secrets' names and dates (never their values)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			format, err := o.get()
			if err != nil {
				return err
			}
			var secrets []client.Secret
			if local {
				if secrets, err = listLocalSecrets(cmd.Context(), dataDir(data)); err != nil {
					return &exitError{code: ExitFailed, err: err}
				}
			} else {
				c, err := g.client(&r)
				if err != nil {
					return err
				}
				if secrets, err = c.ListSecrets(cmd.Context()); err != nil {
					return failure(err)
				}
			}
			if format != outTable {
				return writeList(g.stdout, format, secrets, "")
			}
			if len(secrets) == 0 {
				_, err := fmt.Fprintln(g.stdout, "no secrets: add one with 'datahub secret put NAME --from-stdin'")
				return err
			}
			tw := newTable(g.stdout, "NAME", "UPDATED")
			for _, s := range secrets {
				tw.row(s.Name, when(&s.UpdatedAt))
			}
			return tw.flush()
		},
	}
	addOutputFlags(list.Flags(), &o)

	del := &cobra.Command{
		Use:   "delete NAME",
		Short: "Delete a secret",
		Args:  oneName("secret delete", "NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if local {
				if err := deleteLocalSecret(cmd.Context(), dataDir(data), args[0]); err != nil {
					return &exitError{code: ExitFailed, err: err}
				}
			} else {
				c, err := g.client(&r)
				if err != nil {
					return err
				}
				if err := c.DeleteSecret(cmd.Context(), args[0]); err != nil {
					return failure(err)
				}
			}
			_, err := fmt.Fprintf(g.stdout, "secret %s deleted\n", args[0])
			return err
		},
	}
	cmd.AddCommand(put, list, del)
	return cmd
}
