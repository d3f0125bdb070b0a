package cli

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/datahub-oss/datahub/connector"
)

func newConnectorsCmd(g *globals) *cobra.Command {
	var o output
	cmd := &cobra.Command{
		Use:   "connectors",
		Short: "List the connectors with their URL schemes and typed options",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			format, err := o.get()
			if err != nil {
				return err
			}
			specs := connector.Specs()
			all := make([]connector.Info, len(specs))
			for i, s := range specs {
				all[i] = s.Info()
			}
			if format != outTable {
				return writeList(g.stdout, format, all, "")
			}
			_, err = io.WriteString(g.stdout, connectorsText(all))
			return err
		},
	}
	addOutputFlags(cmd.Flags(), &o)
	return cmd
}

// connectorsText renders the connectors for people: one block each, an option a line with its
// type, default and allowed values.
func connectorsText(all []connector.Info) string {
	var b strings.Builder
	for i, s := range all {
		if i > 0 {
			b.WriteString("\n")
		}
		var dirs []string
		if s.Read {
			dirs = append(dirs, "source")
		}
		if s.Write {
			dirs = append(dirs, "destination")
		}
		if s.Store {
			dirs = append(dirs, "store")
		}
		schemes := make([]string, len(s.Schemes))
		for j, sc := range s.Schemes {
			schemes[j] = sc + ":"
		}
		if s.Paths {
			schemes = append(schemes, "plain paths")
		}
		fmt.Fprintf(&b, "%s  (%s; %s)\n  %s\n", s.Name, strings.Join(schemes, ", "), strings.Join(dirs, ", "), s.Summary)
		if s.Example != "" {
			fmt.Fprintf(&b, "  example: %s\n", s.Example)
		}
		for _, o := range s.Options {
			var extra []string
			if len(o.Enum) > 0 {
				extra = append(extra, "one of "+strings.Join(o.Enum, "|"))
			}
			if o.Range != nil {
				extra = append(extra, o.Range.String())
			}
			if o.Default != "" {
				extra = append(extra, "default "+o.Default)
			}
			if o.Required {
				extra = append(extra, "required")
			}
			if o.Secret {
				extra = append(extra, "set it under secrets:")
			}
			note := ""
			if len(extra) > 0 {
				note = " (" + strings.Join(extra, ", ") + ")"
			}
			fmt.Fprintf(&b, "    %-16s %-9s %s%s\n", o.Name, o.Type, o.Help, note)
		}
		if s.DriverParams {
			b.WriteString("    other URL parameters go to the driver\n")
		}
	}
	return b.String()
}
