package cli

import (
	"context"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/datahub-oss/datahub/connector"
	"github.com/datahub-oss/datahub/internal/catalog"
	"github.com/datahub-oss/datahub/internal/client"
)

// Shell completion: cobra's `datahub completion bash|zsh|fish|powershell` writes the script,
// which calls the hidden `datahub __complete ...` for every Tab. What is completed here: the
// values of enumerated flags, and names that only a hub server knows (integrations for `run`,
// run ids for `runs show`, resources for `get`) when a server is configured.

// completionTimeout bounds the server call behind one Tab: a slow or unreachable server
// gives no suggestions rather than a shell that hangs.
const completionTimeout = 2 * time.Second

// valuesAnnotation marks a flag with its fixed set of values (enumFlag), for completion.
const valuesAnnotation = "datahub_values"

// enumFlag declares the values flag name takes, so that Tab offers them.
func enumFlag(fs *pflag.FlagSet, name string, values ...string) {
	_ = fs.SetAnnotation(name, valuesAnnotation, values)
}

// addCompletion wires the completions into the command tree built by NewRoot.
func addCompletion(g *globals, root *cobra.Command) {
	byPath := map[string]*cobra.Command{}
	var collect func(c *cobra.Command)
	collect = func(c *cobra.Command) {
		byPath[strings.TrimPrefix(c.CommandPath(), root.Name()+" ")] = c
		for _, sub := range c.Commands() {
			collect(sub)
		}
	}
	collect(root)
	if c := byPath["copy"]; c != nil {
		formats := fileFormats()
		enumFlag(c.Flags(), "mode", string(connector.ModeAppend), string(connector.ModeReplace), string(connector.ModeUpsert))
		enumFlag(c.Flags(), "progress", "auto", "always", "never")
		enumFlag(c.Flags(), "from-format", formats...)
		enumFlag(c.Flags(), "to-format", formats...)
		enumFlag(c.Flags(), "env", catalog.Environments...)
		c.ValidArgsFunction = func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
			if len(args) >= 2 {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			if !strings.HasPrefix(toComplete, "@") {
				return nil, cobra.ShellCompDirectiveDefault // a file path or a URL
			}
			// No space after the name: a /TABLE-OR-PATH may follow.
			return endpointNames(cmd, "@"), cobra.ShellCompDirectiveNoFileComp | cobra.ShellCompDirectiveNoSpace
		}
	}
	if c := byPath["endpoints test"]; c != nil {
		enumFlag(c.Flags(), "env", catalog.Environments...)
		c.ValidArgsFunction = func(cmd *cobra.Command, args []string, _ string) ([]cobra.Completion, cobra.ShellCompDirective) {
			if len(args) > 0 {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			return endpointNames(cmd, ""), cobra.ShellCompDirectiveNoFileComp
		}
	}
	if c := byPath["run"]; c != nil {
		enumFlag(c.Flags(), "env", catalog.Environments...)
		c.ValidArgsFunction = serverNames(g, func(ctx context.Context, cl *client.Client, args []string) ([]string, error) {
			if len(args) > 0 {
				return nil, nil
			}
			return resourceNames(ctx, cl, string(catalog.KindIntegration))
		})
	}
	if c := byPath["runs show"]; c != nil {
		c.ValidArgsFunction = serverNames(g, func(ctx context.Context, cl *client.Client, args []string) ([]string, error) {
			if len(args) > 0 {
				return nil, nil
			}
			return runIDs(ctx, cl)
		})
	}
	if c := byPath["get"]; c != nil {
		names := serverNames(g, func(ctx context.Context, cl *client.Client, args []string) ([]string, error) {
			if len(args) != 1 {
				return nil, nil
			}
			kind, err := catalog.ParseKind(args[0])
			if err != nil {
				return nil, err
			}
			return resourceNames(ctx, cl, string(kind))
		})
		c.ValidArgsFunction = func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
			if len(args) == 0 {
				return kindNames(), cobra.ShellCompDirectiveNoFileComp
			}
			return names(cmd, args, toComplete)
		}
	}
	// Every flag declared with its values (here, or by addOutputFlags: -o) completes them.
	for _, c := range byPath {
		c.LocalFlags().VisitAll(func(f *pflag.Flag) {
			if vs := f.Annotations[valuesAnnotation]; len(vs) > 0 {
				_ = c.RegisterFlagCompletionFunc(f.Name, fixedValues(vs))
			}
		})
	}
}

func fixedValues(vs []string) cobra.CompletionFunc {
	return func(*cobra.Command, []string, string) ([]cobra.Completion, cobra.ShellCompDirective) {
		return slices.Clone(vs), cobra.ShellCompDirectiveNoFileComp
	}
}

// fileFormats are the values the file connector's format option takes.
func fileFormats() []string {
	if s, ok := connector.Lookup("file"); ok {
		if o := s.Option("format"); o != nil {
			return o.Enum
		}
	}
	return nil
}

// endpointNames are the names of the endpoints file the command's --endpoints flag (or the
// default) names, each after prefix; nothing when the file cannot be read.
func endpointNames(cmd *cobra.Command, prefix string) []cobra.Completion {
	flag := ""
	if f := cmd.Flags().Lookup("endpoints"); f != nil {
		flag = f.Value.String()
	}
	f, err := loadEndpoints(flag, nil)
	if err != nil {
		return nil
	}
	var out []cobra.Completion
	for _, n := range f.Names() {
		r, _ := f.Get(n)
		out = append(out, cobra.CompletionWithDesc(prefix+n, r.Endpoint().Type))
	}
	return out
}

// kindNames are the resource kinds as `get` takes them, lower case and plural.
func kindNames() []string {
	out := make([]string, len(catalog.Kinds))
	for i, k := range catalog.Kinds {
		out[i] = strings.ToLower(string(k)) + "s"
	}
	return out
}

// serverNames completes from the hub server the flags, the environment or a saved login
// name; without one it offers nothing (and no file names). Errors are silent: a completion
// that cannot reach its server just has no suggestions.
func serverNames(g *globals, list func(ctx context.Context, cl *client.Client, args []string) ([]string, error)) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, _ string) ([]cobra.Completion, cobra.ShellCompDirective) {
		none := cobra.ShellCompDirectiveNoFileComp
		if !serverGiven(cmd) {
			return nil, none
		}
		quiet := *g
		quiet.stderr = io.Discard // a warning would land in the middle of the command line
		var r remote
		if f := cmd.Flags().Lookup("server"); f != nil {
			r.server = f.Value.String()
		}
		if f := cmd.Flags().Lookup("token"); f != nil {
			r.token = f.Value.String()
		}
		cl, err := quiet.client(&r)
		if err != nil {
			return nil, none
		}
		parent := cmd.Context()
		if parent == nil {
			return nil, none
		}
		ctx, cancel := context.WithTimeout(parent, completionTimeout)
		defer cancel()
		names, err := list(ctx, cl, args)
		if err != nil {
			return nil, none
		}
		return names, none
	}
}

func resourceNames(ctx context.Context, cl *client.Client, kind string) ([]string, error) {
	rs, err := cl.ListResources(ctx, kind, "")
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(rs))
	for _, r := range rs {
		out = append(out, r.Metadata.Name)
	}
	return out, nil
}

// runIDs are the newest runs' ids, each described by its integration (or source) and status.
func runIDs(ctx context.Context, cl *client.Client) ([]string, error) {
	p, err := cl.ListRuns(ctx, client.RunFilter{Limit: 50})
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(p.Items))
	for _, r := range p.Items {
		what := firstOf(r.Integration, r.Source)
		out = append(out, cobra.CompletionWithDesc(r.ID, strings.TrimSpace(what+" "+string(r.Status))))
	}
	return out, nil
}
