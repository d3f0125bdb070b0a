package engine

import (
	"context"
	"fmt"
	"strings"

	"github.com/datahub-oss/datahub/connector"
	"github.com/datahub-oss/datahub/internal/infer"
	"github.com/datahub-oss/datahub/internal/transform"
)

// inference is what an attempt inferred of a text source's columns.
type inference struct {
	// sample is how many records the types were inferred from.
	sample int
	// typed holds the destination columns (plan indexes) given a type other than text.
	typed map[int]connector.Column
}

// inferTypes types the destination columns of a table the sink may create from a sample of a
// text source's values (see package infer): it returns the source to read from (the sample
// replayed first) and what it inferred, or src and nil when inference does not apply: turned
// off, a typed source, a sink that creates no tables, or a resumed run (whose table exists).
// Only the columns the mapping leaves as text are typed; an existing table keeps its types.
func (e *Engine) inferTypes(ctx context.Context, src connector.Source, sink connector.Sink, plan *transform.Plan, dst *connector.Schema, from connector.Position) (connector.Source, *inference, error) {
	ts, text := src.(connector.TextSource)
	_, creates := sink.(connector.TableCreator)
	if e.opts.NoInfer || !text || !creates || from != nil {
		return src, nil, nil
	}
	n := e.opts.InferRows
	if n <= 0 {
		n = infer.DefaultRows
	}
	sampled, err := infer.Sample(ctx, src, n)
	if err != nil {
		return src, nil, fmt.Errorf("read the sample to infer column types from: %w", err)
	}
	var idx []int
	for _, c := range plan.Columns {
		if !c.Cast && plan.Source.Columns[c.Src].Type == connector.TypeString {
			idx = append(idx, c.Src)
		}
	}
	typed, sample := sampled.Columns(idx, ts.SelfTyped())
	inf := &inference{sample: sample, typed: map[int]connector.Column{}}
	for i, c := range plan.Columns {
		col, ok := typed[c.Src]
		if !ok || c.Cast {
			continue
		}
		d := &dst.Columns[i]
		d.Type, d.Precision, d.Scale, d.Length, d.Native = col.Type, col.Precision, col.Scale, 0, ""
		inf.typed[i] = *d
	}
	return sampled, inf, nil
}

// inferredSchema renders a created table's columns for the run's summary.
func inferredSchema(target connector.Schema) []SchemaColumn {
	out := make([]SchemaColumn, len(target.Columns))
	for i, c := range target.Columns {
		c.Native = ""
		out[i] = SchemaColumn{Name: c.Name, Type: c.Describe()}
	}
	return out
}

// describeColumns renders columns as "name type, ..." for a log line.
func describeColumns(cols []SchemaColumn) string {
	var b strings.Builder
	for i, c := range cols {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(c.Name + " " + c.Type)
	}
	return b.String()
}

// SchemaColumn is one column of a table a run created, as the summary shows it.
type SchemaColumn struct {
	Name string `json:"name"`
	Type string `json:"type"`
}
