package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/datahub-oss/datahub/internal/catalog"
	"github.com/datahub-oss/datahub/internal/client"
)

// kindArg checks a kind as typed (any case, plural ok) and returns its proper name.
func kindArg(s string) (string, error) {
	k, err := catalog.ParseKind(s)
	if err != nil {
		return "", usageError("%v", err)
	}
	return string(k), nil
}

func newGetCmd(g *globals) *cobra.Command {
	var r remote
	var o output
	var label string
	var version int
	cmd := &cobra.Command{
		Use:   "get KIND [NAME]",
		Short: "Show resources on the hub server: a list of a kind, or one resource",
		Long: `Show the resources of a kind (System, Endpoint, Integration, Topic, Subscription, NotificationRule; any case, plural ok) as a
table, or one resource as YAML. The YAML of one resource applies back as it is: the server's
bookkeeping (version, digest, who changed it last) is in a comment above it. A list in JSON or
YAML (-o json, -o yaml) has the shape of every list: {"items": [...], "next": ""}; 'datahub
export' writes every resource as YAML documents that apply back.`,
		Example: `  datahub get integrations
  datahub get endpoint people-db
  datahub get integration quickstart --version 1 -o json`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) < 1 || len(args) > 2 {
				return usageError("get needs KIND and optionally NAME, e.g. 'datahub get integrations'")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			kind, err := kindArg(args[0])
			if err != nil {
				return err
			}
			format, err := o.get()
			if o.format == "" && !o.jsonOut && len(args) == 2 {
				format = outYAML
			}
			if err != nil {
				return err
			}
			if version != 0 && len(args) != 2 {
				return usageError("--version needs a NAME")
			}
			c, err := g.client(&r)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			if len(args) == 2 {
				var res client.Resource
				if version != 0 {
					res, err = c.Version(ctx, kind, args[1], version)
				} else {
					res, err = c.GetResource(ctx, kind, args[1])
				}
				if err != nil {
					return failure(err)
				}
				return printResources(g.stdout, format, []client.Resource{res}, true)
			}
			list, err := c.ListResources(ctx, kind, label)
			if err != nil {
				return failure(err)
			}
			return printResources(g.stdout, format, list, false)
		},
	}
	addRemoteFlags(cmd.Flags(), &r)
	addOutputFlags(cmd.Flags(), &o)
	cmd.Flags().StringVarP(&label, "label", "l", "", "only resources with these labels: k=v[,k2=v2], k!=v, k, !k")
	cmd.Flags().IntVar(&version, "version", 0, "show this version of the resource (see 'datahub history')")
	return cmd
}

// printResources writes resources as a table, or the one resource asked for as JSON or as a
// YAML document that applies back, or a list in the one list shape (writeList).
func printResources(w io.Writer, format string, rs []client.Resource, one bool) error {
	switch {
	case one && format == outJSON:
		return writeJSON(w, rs[0])
	case one && format == outYAML:
		return writeResourceYAML(w, rs[0], false)
	case format != outTable:
		return writeList(w, format, rs, "")
	}
	if len(rs) == 0 {
		_, err := fmt.Fprintln(w, "no resources: add some with 'datahub apply -f FILE'")
		return err
	}
	tw := newTable(w, "KIND", "NAME", "VERSION", "UPDATED", "BY", "LABELS")
	for _, r := range rs {
		ver, updated, by := "-", "-", "-"
		if st := r.Status; st != nil {
			ver, updated, by = strconv.Itoa(st.Version), when(&st.UpdatedAt), st.UpdatedBy
		}
		tw.row(r.Kind, r.Metadata.Name, ver, updated, by, labels(r.Metadata.Labels))
	}
	return tw.flush()
}

func labels(m map[string]string) string {
	if len(m) == 0 {
		return "-"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for i, k := range keys {
		keys[i] = k + "=" + m[k]
	}
	return strings.Join(keys, ",")
}

// writeResourceYAML writes one resource as a YAML document that applies back: the status,
// which apply would refuse, goes in a comment.
func writeResourceYAML(w io.Writer, r client.Resource, separator bool) error {
	var b bytes.Buffer
	if separator {
		b.WriteString("---\n")
	}
	if st := r.Status; st != nil {
		fmt.Fprintf(&b, "# %s/%s version %d, updated %s by %s, digest %s\n", r.Kind, r.Metadata.Name,
			st.Version, when(&st.UpdatedAt), st.UpdatedBy, st.Digest)
	}
	raw, err := withoutStatus(r)
	if err != nil {
		return err
	}
	if err := writeYAML(&b, raw); err != nil {
		return err
	}
	_, err = w.Write(b.Bytes())
	return err
}

// withoutStatus is the document's JSON without its status: apiVersion, kind, metadata and
// spec in that order, then any other field the server added, by name.
func withoutStatus(r client.Resource) ([]byte, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(r.Raw, &fields); err != nil || len(r.Raw) == 0 {
		r.Status, r.Raw = nil, nil
		return json.Marshal(r)
	}
	delete(fields, "status")
	keys := []string{"apiVersion", "kind", "metadata", "spec"}
	var rest []string
	for k := range fields {
		if !slices.Contains(keys, k) {
			rest = append(rest, k)
		}
	}
	sort.Strings(rest)
	var b bytes.Buffer
	b.WriteByte('{')
	n := 0
	for _, k := range append(keys, rest...) {
		v, ok := fields[k]
		if !ok {
			continue
		}
		if n > 0 {
			b.WriteByte(',')
		}
		kb, _ := json.Marshal(k)
		b.Write(kb)
		b.WriteByte(':')
		b.Write(v)
		n++
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

func newDeleteCmd(g *globals) *cobra.Command {
	var r remote
	var o output
	cmd := &cobra.Command{
		Use:   "delete KIND NAME",
		Short: "Delete a resource on the hub server (its history stays)",
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) != 2 {
				return usageError("delete needs KIND and NAME, e.g. 'datahub delete integration quickstart'")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			kind, err := kindArg(args[0])
			if err != nil {
				return err
			}
			format, err := o.get()
			if err != nil {
				return err
			}
			c, err := g.client(&r)
			if err != nil {
				return err
			}
			ch, err := c.DeleteResource(cmd.Context(), kind, args[1])
			if err != nil {
				return failure(err)
			}
			if format != outTable {
				return writeAny(g.stdout, format, ch)
			}
			_, err = fmt.Fprintf(g.stdout, "%s/%s %s (v%d)\n", ch.Kind, ch.Name, ch.Action, ch.Version)
			return err
		},
	}
	addRemoteFlags(cmd.Flags(), &r)
	addOutputFlags(cmd.Flags(), &o)
	return cmd
}

func newExportCmd(g *globals) *cobra.Command {
	var r remote
	var out string
	cmd := &cobra.Command{
		Use:   "export [-f OUT]",
		Short: "Write every resource on the hub server as YAML that applies back cleanly",
		Example: `  datahub export > catalog.yaml
  datahub export -f backup/catalog.yaml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := g.client(&r)
			if err != nil {
				return err
			}
			if out == "" || out == "-" {
				return failure(c.Export(cmd.Context(), g.stdout))
			}
			// Into a temporary file renamed at the end, so a failed export leaves no half file.
			tmp, err := os.CreateTemp(filepath.Dir(out), "."+filepath.Base(out)+".*")
			if err != nil {
				return &exitError{code: ExitFailed, err: fmt.Errorf("export: %w", err)}
			}
			defer func() { _ = os.Remove(tmp.Name()) }()
			err = c.Export(cmd.Context(), tmp)
			if cerr := tmp.Close(); err == nil && cerr != nil {
				err = fmt.Errorf("export: %w", cerr)
			}
			if err != nil {
				return failure(err)
			}
			if err := os.Rename(tmp.Name(), out); err != nil {
				return &exitError{code: ExitFailed, err: fmt.Errorf("export: %w", err)}
			}
			return nil
		},
	}
	addRemoteFlags(cmd.Flags(), &r)
	cmd.Flags().StringVarP(&out, "file", "f", "", "write to this file instead of standard output")
	return cmd
}

func newHistoryCmd(g *globals) *cobra.Command {
	var r remote
	var o output
	var diff bool
	cmd := &cobra.Command{
		Use:   "history KIND NAME [--diff [V1 [V2]]]",
		Short: "List the versions of a resource, or show what changed between two",
		Long: `List every version of a resource (deletions included), or with --diff show a unified
diff between versions V1 and V2 (V2 defaults to the latest, V1 to the one before V2).`,
		Example: `  datahub history integration quickstart
  datahub history integration quickstart --diff 1 3
  datahub history integration quickstart --diff`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) < 2 || len(args) > 4 || (!diff && len(args) > 2) {
				return usageError("history needs KIND and NAME (and with --diff up to two versions)")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			kind, err := kindArg(args[0])
			if err != nil {
				return err
			}
			format, err := o.get()
			if err != nil {
				return err
			}
			var vs [2]int
			for i, a := range args[2:] {
				if vs[i], err = strconv.Atoi(a); err != nil || vs[i] < 1 {
					return usageError("--diff: version %q is not a positive number", a)
				}
			}
			c, err := g.client(&r)
			if err != nil {
				return err
			}
			if diff {
				d, err := c.Diff(cmd.Context(), kind, args[1], vs[0], vs[1])
				if err != nil {
					return failure(err)
				}
				if d == "" {
					_, err = fmt.Fprintln(g.stderr, "no differences")
					return err
				}
				_, err = io.WriteString(g.stdout, d)
				return err
			}
			hist, err := c.History(cmd.Context(), kind, args[1])
			if err != nil {
				return failure(err)
			}
			if format != outTable {
				return writeList(g.stdout, format, hist, "")
			}
			tw := newTable(g.stdout, "VERSION", "CHANGE", "CREATED", "BY", "DIGEST")
			for _, h := range hist {
				tw.row(h.Version, h.Change, when(&h.CreatedAt), h.CreatedBy, shorten(h.Digest, 19))
			}
			return tw.flush()
		},
	}
	addRemoteFlags(cmd.Flags(), &r)
	addOutputFlags(cmd.Flags(), &o)
	cmd.Flags().BoolVar(&diff, "diff", false, "show the diff between two versions given as arguments")
	return cmd
}
