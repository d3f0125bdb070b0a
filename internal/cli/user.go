package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/datahub-oss/datahub/internal/client"
)

func newUserCmd(g *globals) *cobra.Command {
	var r remote
	cmd := &cobra.Command{
		Use:   "user",
		Short: "Create and list local users and set their roles on the hub server",
		Long: `Local users of the hub server. Roles: admin, integrator, operator, approver, endpoint-owner,
viewer. A user created without a password is a service account: it acts through API tokens
only ('datahub token create NAME --user USER').`,
	}
	addRemoteFlags(cmd.PersistentFlags(), &r)

	var nu client.NewUser
	var roles []string
	var passwordStdin bool
	var co output
	create := &cobra.Command{
		Use:   "create NAME --role ROLE [--role ROLE] [--password-stdin]",
		Short: "Create a local user",
		Example: `  printf '%s' "$PASSWORD" | datahub user create ann --role integrator --password-stdin
  datahub user create ci-bot --role operator`,
		Args: oneName("user create", "NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			format, err := co.get()
			if err != nil {
				return err
			}
			nu.Name, nu.Roles = args[0], splitRoles(roles)
			if len(nu.Roles) == 0 {
				return usageError("user create needs at least one --role")
			}
			if passwordStdin {
				pw, err := readPassword(cmd, g, true, "")
				if err != nil {
					return usageError("--password-stdin: %v", err)
				}
				nu.Password = pw
			}
			c, err := g.client(&r)
			if err != nil {
				return err
			}
			u, err := c.CreateUser(cmd.Context(), nu)
			if err != nil {
				return failure(err)
			}
			if format != outTable {
				return writeAny(g.stdout, format, u)
			}
			_, err = fmt.Fprintf(g.stdout, "user %s created with roles %s\n", u.Name, strings.Join(u.Roles, ", "))
			if err == nil && !u.HasPassword {
				_, err = fmt.Fprintf(g.stderr, "%s has no password: it acts through tokens ('datahub token create NAME --user %s')\n", u.Name, u.Name)
			}
			return err
		},
	}
	create.Flags().StringArrayVar(&roles, "role", nil, "a role to give (repeatable, or comma-separated)")
	create.Flags().BoolVar(&passwordStdin, "password-stdin", false, "read the password from standard input (none: a service account)")
	create.Flags().StringVar(&nu.Email, "email", "", "e-mail address")
	create.Flags().StringVar(&nu.DisplayName, "display-name", "", "full name")

	var o output
	list := &cobra.Command{
		Use:   "list",
		Short: "List users and their roles",
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
			users, err := c.ListUsers(cmd.Context())
			if err != nil {
				return failure(err)
			}
			if format != outTable {
				return writeList(g.stdout, format, users, "")
			}
			tw := newTable(g.stdout, "NAME", "ROLES", "SOURCE", "PASSWORD", "DISABLED", "CREATED")
			for _, u := range users {
				tw.row(u.Name, dash(strings.Join(u.Roles, ",")), dash(u.Source), u.HasPassword, u.Disabled, when(&u.CreatedAt))
			}
			return tw.flush()
		},
	}
	addOutputFlags(list.Flags(), &o)

	var setRoles []string
	var so output
	set := &cobra.Command{
		Use:   "set-roles NAME --role ROLE [--role ROLE]",
		Short: "Replace a user's roles",
		Args:  oneName("user set-roles", "NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			format, err := so.get()
			if err != nil {
				return err
			}
			rs := splitRoles(setRoles)
			if len(rs) == 0 {
				return usageError("user set-roles needs at least one --role")
			}
			c, err := g.client(&r)
			if err != nil {
				return err
			}
			u, err := c.SetRoles(cmd.Context(), args[0], rs)
			if err != nil {
				return failure(err)
			}
			if format != outTable {
				return writeAny(g.stdout, format, u)
			}
			_, err = fmt.Fprintf(g.stdout, "user %s now has roles %s\n", u.Name, strings.Join(u.Roles, ", "))
			return err
		},
	}
	set.Flags().StringArrayVar(&setRoles, "role", nil, "a role the user is to hold (repeatable, or comma-separated)")
	addOutputFlags(set.Flags(), &so)
	addOutputFlags(create.Flags(), &co)
	cmd.AddCommand(create, list, set)
	return cmd
}

func oneName(cmd, what string) cobra.PositionalArgs {
	return func(_ *cobra.Command, args []string) error {
		if len(args) != 1 {
			return usageError("%s needs one %s", cmd, what)
		}
		return nil
	}
}

// splitRoles reads repeated and comma-separated --role values.
func splitRoles(vs []string) []string {
	var out []string
	for _, v := range vs {
		for _, r := range strings.Split(v, ",") {
			if r = strings.TrimSpace(r); r != "" {
				out = append(out, r)
			}
		}
	}
	return out
}
