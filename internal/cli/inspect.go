package cli

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/datahub-oss/datahub/connector"
	"github.com/datahub-oss/datahub/internal/format/jsonval"
	"github.com/datahub-oss/datahub/internal/infer"
)

// The commands that look before copying: ls, head and schema. They only read, and create
// nothing (no data folder, no transaction log).

func newLsCmd(g *globals) *cobra.Command {
	var o output
	cmd := &cobra.Command{
		Use:   "ls URL",
		Short: "List the tables of a database or the files of a folder",
		Long: `List what URL holds: the tables and views of a database (schema.table, with the
database's own row estimate, "-" where it keeps none), or the files of a folder (name, size,
modified).`,
		Example: `  datahub ls 'postgres://app@localhost/crm'
  datahub ls 'sqlite:app.db'
  datahub ls ./incoming -o json`,
		Args: exactArgs(1, "ls needs a URL"),
		RunE: func(cmd *cobra.Command, args []string) error {
			format, err := o.get()
			if err != nil {
				return err
			}
			return runLs(cmd.Context(), g, args[0], format)
		},
	}
	addOutputFlags(cmd.Flags(), &o)
	return cmd
}

func runLs(ctx context.Context, g *globals, url, format string) error {
	spec, err := connector.Resolve(url)
	if err != nil {
		return usageError("%v", err)
	}
	e := connector.Endpoint{URL: url}
	switch {
	case spec.ListTables != nil:
		tables, err := connector.ListTables(ctx, e)
		if err != nil {
			return &exitError{code: ExitFailed, err: err}
		}
		if format != outTable {
			return writeList(g.stdout, format, tables, "")
		}
		tw := newTable(g.stdout, "TABLE", "KIND", "ROWS (ESTIMATE)")
		for _, t := range tables {
			name := t.Name
			if t.Schema != "" {
				name = t.Schema + "." + t.Name
			}
			rows := "-"
			if t.Rows >= 0 {
				rows = groupInt(t.Rows)
			}
			tw.row(name, t.Kind, rows)
		}
		return tw.flush()
	case spec.CanStore():
		st, closeStore, err := connector.OpenStore(ctx, e)
		if err != nil {
			return &exitError{code: ExitFailed, err: err}
		}
		defer func() { _ = closeStore() }()
		entries, err := st.List(ctx, ".")
		if err != nil {
			return &exitError{code: ExitFailed, err: err}
		}
		slices.SortFunc(entries, func(a, b connector.Entry) int { return strings.Compare(a.Path, b.Path) })
		if format != outTable {
			return writeList(g.stdout, format, entries, "")
		}
		tw := newTable(g.stdout, "NAME", "SIZE", "MODIFIED")
		for _, en := range entries {
			name, size := en.Path, humanBytes(en.Size)
			if en.IsDir {
				name, size = name+"/", "-"
			}
			tw.row(name, size, when(&en.ModTime))
		}
		return tw.flush()
	}
	return usageError("connector %s has neither tables nor files to list", spec.Name)
}

// look is what a source shows before a copy: its schema, with the text columns typed as a
// copy into a new table would type them, and its first records.
type look struct {
	schema connector.Schema
	// inferred marks the columns whose type was inferred from the sample.
	inferred map[int]bool
	sample   int
	rows     [][]any
}

// lookAt opens the source, reads up to n records and infers the types of its text columns
// from them; keep is how many of the records to keep for showing.
func lookAt(ctx context.Context, e connector.Endpoint, n, keep int) (*look, error) {
	src, err := connector.NewSource(ctx, e)
	if err != nil {
		return nil, err
	}
	defer func() { _ = src.Close(context.WithoutCancel(ctx)) }()
	if err := src.Open(ctx, nil); err != nil {
		return nil, err
	}
	s, err := src.Schema(ctx)
	if err != nil {
		return nil, err
	}
	l := &look{schema: s, inferred: map[int]bool{}}
	sampled, err := infer.Sample(ctx, src, n)
	if err != nil {
		return nil, err
	}
	sampled.Each(func(row []any) {
		if len(l.rows) < keep {
			l.rows = append(l.rows, row)
		}
	})
	ts, text := src.(connector.TextSource)
	if !text {
		return l, nil
	}
	var idx []int
	for i, c := range s.Columns {
		if c.Type == connector.TypeString {
			idx = append(idx, i)
		}
	}
	typed, sample := sampled.Columns(idx, ts.SelfTyped())
	l.sample = sample
	for i, col := range typed {
		c := &l.schema.Columns[i]
		c.Type, c.Precision, c.Scale, c.Length, c.Native = col.Type, col.Precision, col.Scale, 0, ""
		l.inferred[i] = true
	}
	return l, nil
}

// typedRow converts a sampled row to the inferred types (values that fit nothing stay text).
func (l *look) typedRow(row []any) ([]any, []connector.Type) {
	out := make([]any, len(l.schema.Columns))
	types := make([]connector.Type, len(l.schema.Columns))
	for i, c := range l.schema.Columns {
		if i >= len(row) {
			types[i] = c.Type
			continue
		}
		out[i], types[i] = row[i], c.Type
		if s, ok := row[i].(string); ok && l.inferred[i] {
			c.Nullable = true
			v, err := connector.Convert(s, connector.TypeString, c)
			if s == "" || err != nil {
				v, types[i] = s, connector.TypeString
			}
			out[i] = v
		}
	}
	return out, types
}

type lookFlags struct {
	fromFormat string
	n          int
	o          output
}

func (f *lookFlags) add(cmd *cobra.Command, rowsHelp string, def int) {
	fl := cmd.Flags()
	fl.StringVar(&f.fromFormat, "from-format", "", "file format: csv, tsv, ndjson, json (default: from the extension)")
	fl.IntVarP(&f.n, "rows", "n", def, rowsHelp)
	addOutputFlags(fl, &f.o)
}

func newHeadCmd(g *globals) *cobra.Command {
	f := &lookFlags{}
	cmd := &cobra.Command{
		Use:   "head URL",
		Short: "Show the first records of a source, with their types",
		Long: `Show the first records of a file or a table as a table whose header gives each
column's type: a database's own, or for CSV and JSON files the type a copy into a new table
would infer from these records. -o json prints the records as JSON lines.`,
		Example: `  datahub head examples/quickstart/people.csv
  datahub head -n 5 'postgres://app@localhost/crm?table=public.people'
  datahub head people.csv -o json`,
		Args: exactArgs(1, "head needs a URL"),
		RunE: func(cmd *cobra.Command, args []string) error {
			format, err := f.o.get()
			if err != nil {
				return err
			}
			if f.n <= 0 {
				return usageError("-n must be positive")
			}
			if format == outYAML {
				// Records are data, printed as runs rejects prints them: JSON lines.
				return usageError("head prints a table or JSON lines (-o json), not YAML")
			}
			e := connector.Endpoint{URL: args[0], Format: f.fromFormat, BatchSize: f.n}
			l, err := lookAt(cmd.Context(), e, f.n, f.n)
			if err != nil {
				return &exitError{code: ExitFailed, err: err}
			}
			if format == outJSON {
				return l.writeLines(g.stdout)
			}
			return l.writeTable(g.stdout)
		},
	}
	f.add(cmd, "how many records to show", 20)
	return cmd
}

// writeTable prints the records under a header of names and a line of types.
func (l *look) writeTable(w io.Writer) error {
	names := l.schema.Names()
	tw := newTable(w, names...)
	types := make([]any, len(l.schema.Columns))
	for i, c := range l.schema.Columns {
		types[i] = c.Describe()
	}
	tw.row(types...)
	for _, row := range l.rows {
		cells := make([]any, len(names))
		for i := range cells {
			cells[i] = "NULL"
			if i < len(row) && row[i] != nil {
				cells[i] = connector.FormatTyped(row[i], l.schema.Columns[i].Type)
				if s, ok := row[i].(string); ok {
					cells[i] = s
				}
			}
		}
		tw.row(cells...)
	}
	return tw.flush()
}

// writeLines prints the records as JSON lines, typed as the header says.
func (l *look) writeLines(w io.Writer) error {
	keys := jsonval.Keys(l.schema)
	var b []byte
	for _, row := range l.rows {
		vals, types := l.typedRow(row)
		b = jsonval.AppendObject(b[:0], keys, types, vals)
		b = append(b, '\n')
		if _, err := w.Write(b); err != nil {
			return err
		}
	}
	return nil
}

// schemaColumn is one column as `datahub schema` prints it.
type schemaColumn struct {
	Name     string `json:"name"`
	Type     string `json:"type"`
	Nullable bool   `json:"nullable"`
	Key      bool   `json:"key,omitempty"`
	Native   string `json:"native,omitempty"`
	Inferred bool   `json:"inferred,omitempty"`
}

func newSchemaCmd(g *globals) *cobra.Command {
	f := &lookFlags{}
	cmd := &cobra.Command{
		Use:   "schema URL",
		Short: "Show the columns of a source: types, nullability, key",
		Long: `Show the columns of a table, a query or a file: name, type, whether it takes NULL,
whether it is part of the key, and the database's own spelling of the type. For CSV and JSON
files the types are those a copy into a new table would infer from the first records
(--rows, as the copy's --infer-rows).`,
		Example: `  datahub schema 'mysql://root@localhost/shop?table=orders'
  datahub schema examples/quickstart/people.csv -o json`,
		Args: exactArgs(1, "schema needs a URL"),
		RunE: func(cmd *cobra.Command, args []string) error {
			format, err := f.o.get()
			if err != nil {
				return err
			}
			if f.n <= 0 {
				return usageError("--rows must be positive")
			}
			l, err := lookAt(cmd.Context(), connector.Endpoint{URL: args[0], Format: f.fromFormat}, f.n, 0)
			if err != nil {
				return &exitError{code: ExitFailed, err: err}
			}
			cols := l.columns()
			if format != outTable {
				return writeList(g.stdout, format, cols, "")
			}
			tw := newTable(g.stdout, "COLUMN", "TYPE", "NULLABLE", "KEY", "NATIVE")
			for _, c := range cols {
				ty := c.Type
				if c.Inferred {
					ty += " (inferred)"
				}
				tw.row(c.Name, ty, yesNo(c.Nullable), yesNo(c.Key), dash(c.Native))
			}
			if err := tw.flush(); err != nil {
				return err
			}
			if l.sample > 0 {
				_, err = fmt.Fprintf(g.stderr, "types of text columns inferred from the first %s records\n", groupInt(int64(l.sample)))
			}
			return err
		},
	}
	f.add(cmd, "records sampled to infer the types of a CSV or JSON file", infer.DefaultRows)
	return cmd
}

func (l *look) columns() []schemaColumn {
	out := make([]schemaColumn, len(l.schema.Columns))
	for i, c := range l.schema.Columns {
		native := c.Native
		c.Native = ""
		out[i] = schemaColumn{Name: c.Name, Type: c.Describe(), Nullable: c.Nullable,
			Key: slices.Contains(l.schema.Key, c.Name), Native: native, Inferred: l.inferred[i]}
	}
	return out
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// exactArgs wants n arguments and says what is missing otherwise.
func exactArgs(n int, what string) cobra.PositionalArgs {
	return func(_ *cobra.Command, args []string) error {
		if len(args) != n {
			return usageError("%s, got %d argument(s)", what, len(args))
		}
		return nil
	}
}
