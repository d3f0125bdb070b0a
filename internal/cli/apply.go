package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/datahub-oss/datahub/internal/catalog"
	"github.com/datahub-oss/datahub/internal/client"
)

func newApplyCmd(g *globals) *cobra.Command {
	var r remote
	var files []string
	var dryRun bool
	var o output
	cmd := &cobra.Command{
		Use:   "apply -f FILE|DIR [-f ...]",
		Short: "Create or update resources on the hub server from YAML files",
		Long: `Create or update resources (System, Endpoint, Integration, Topic, Subscription, NotificationRule) from YAML files: a folder
means every *.yaml and *.yml file under it, in path order; '-' reads standard input.

The documents are checked here first, so problems are reported with their file, document,
line and field before anything is sent; then they are applied together, in one transaction:
if any is refused, none is applied. Every change is a new version (see 'datahub history').
--dry-run changes nothing and shows, per resource, whether it would be created, updated or
left unchanged, and for an update the fields that would change (~ changed, + added, - removed).
-o json and -o yaml print the changes as a list (kind, name, action, version, digests).

Exit status: 0 applied, 1 invalid or refused, 2 usage error.`,
		Example: `  datahub apply -f examples/quickstart
  datahub apply -f systems.yaml -f integrations/ --dry-run   # what would change, field by field`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(files) == 0 {
				return usageError("apply needs -f FILE or -f DIR")
			}
			format, err := o.get()
			if err != nil {
				return err
			}
			docs, err := readResources(cmd.InOrStdin(), files)
			var ces catalog.Errors
			if errors.As(err, &ces) {
				for _, e := range ces {
					_, _ = fmt.Fprintln(g.stderr, e.Error())
				}
				return &exitError{code: ExitFailed, err: fmt.Errorf("%s; nothing was applied", problems(len(ces)))}
			}
			if err != nil {
				return failure(err)
			}
			if len(docs) == 0 {
				return usageError("no resources in %s", strings.Join(files, ", "))
			}
			bodies := make([]json.RawMessage, len(docs))
			for i := range docs {
				if bodies[i], err = docs[i].Canonical(); err != nil {
					return &exitError{code: ExitFailed, err: err}
				}
			}
			c, err := g.client(&r)
			if err != nil {
				return err
			}
			res, err := c.ApplyDocuments(cmd.Context(), bodies, dryRun)
			var ae *client.APIError
			if errors.As(err, &ae) && len(ae.FieldErrors()) > 0 {
				fes := ae.FieldErrors()
				for _, fe := range fes {
					_, _ = fmt.Fprintln(g.stderr, placeFieldError(fe, docs))
				}
				return &exitError{code: ExitFailed, err: fmt.Errorf("%s: %s; nothing was applied", ae.Message, problems(len(fes)))}
			}
			if err != nil {
				return failure(err)
			}
			for _, w := range res.Warnings {
				_, _ = fmt.Fprintf(g.stderr, "Warning: %s %q %s: %s\n", w.Kind, w.Name, w.Field, w.Message)
			}
			if format != outTable {
				return writeList(g.stdout, format, res.Changes, "")
			}
			return printChanges(cmd.Context(), g.stdout, c, res.Changes, docs, bodies, dryRun)
		},
	}
	addRemoteFlags(cmd.Flags(), &r)
	cmd.Flags().StringArrayVarP(&files, "filename", "f", nil, "a YAML file, a folder of them, or - for standard input; repeatable")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "check and show what would change, changing nothing")
	addOutputFlags(cmd.Flags(), &o)
	return cmd
}

func problems(n int) string {
	if n == 1 {
		return "1 problem"
	}
	return fmt.Sprintf("%d problems", n)
}

// readResources parses every input, reporting the problems of all of them together, and
// refuses a resource defined twice across inputs (each input checks its own).
func readResources(stdin io.Reader, inputs []string) ([]catalog.Resource, error) {
	var all []catalog.Resource
	var errs catalog.Errors
	for _, in := range inputs {
		var rs []catalog.Resource
		var err error
		switch st, statErr := os.Stat(in); {
		case in == "-":
			var data []byte
			data, err = io.ReadAll(io.LimitReader(stdin, catalog.MaxFileSize+1))
			if err == nil {
				rs, err = catalog.Parse(data, "<stdin>")
			}
		case statErr != nil:
			return nil, usageError("-f %s: %v", in, statErr)
		case st.IsDir():
			rs, err = catalog.ParseDir(in)
		default:
			rs, err = catalog.ParseFile(in)
		}
		var ces catalog.Errors
		switch {
		case errors.As(err, &ces):
			errs = append(errs, ces...)
		case err != nil:
			return nil, err
		}
		all = append(all, rs...)
	}
	seen := map[catalog.Key]*catalog.Resource{}
	for i := range all {
		r := &all[i]
		if o, dup := seen[r.Key()]; dup {
			errs = append(errs, &catalog.Error{File: r.Origin.File, Doc: r.Origin.Doc, Kind: r.Kind, Name: r.Metadata.Name,
				Line: r.Origin.Line, Field: "metadata.name",
				Problem: fmt.Sprintf("%s is also defined in %s document %d", r.Key(), o.Origin.File, o.Origin.Doc)})
			continue
		}
		seen[r.Key()] = r
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return all, nil
}

// placeFieldError names the file and document a server-side problem is about: the server saw
// the documents numbered in the order they were sent. Its line numbers refer to text it
// made, so the document's own line stands instead.
func placeFieldError(fe client.FieldError, docs []catalog.Resource) string {
	if fe.Document < 1 || fe.Document > len(docs) {
		return fe.String()
	}
	r := docs[fe.Document-1]
	e := &catalog.Error{File: r.Origin.File, Doc: r.Origin.Doc, Kind: r.Kind, Name: r.Metadata.Name,
		Line: r.Origin.Line, Field: fe.Field, Problem: fe.Message}
	return e.Error()
}
