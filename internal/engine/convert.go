package engine

import (
	"errors"
	"fmt"
	"strings"

	"github.com/datahub-oss/datahub/connector"
	"github.com/datahub-oss/datahub/internal/infer"
	"github.com/datahub-oss/datahub/internal/transform"
)

// colPlan says how one destination column is produced from a source row.
type colPlan struct {
	src     int
	srcType connector.Type
	// cast is the mapping's intermediate column when the mapping changes the type.
	cast   *connector.Column
	target connector.Column
	// direct columns need no conversion: only a NULL check when the target refuses NULLs.
	direct bool
	// noNUL refuses text holding a NUL byte, which the target cannot store.
	noNUL bool
	// inferred is the column's type when it was inferred from a sample of text values, which
	// every later value must fit by the sampling rules; sample is the sample's size.
	inferred *connector.Column
	sample   int
	rule     string // the column's --map rule, for the reason of a misfit (infer.Misfit)
}

// converter turns source rows into rows of the target's types, rejecting values that do not fit.
type converter struct {
	cols     []colPlan
	srcNames []string
}

// newConverter plans the conversion of p's rows to target's columns; refuseNUL rejects text
// values holding a NUL byte (see connector.NULRefuser).
func newConverter(p *transform.Plan, target connector.Schema, refuseNUL bool) (*converter, error) {
	if len(target.Columns) != len(p.Columns) {
		return nil, fmt.Errorf("the sink described %d columns for the %d it was given", len(target.Columns), len(p.Columns))
	}
	c := &converter{srcNames: p.Source.Names()}
	for i, pc := range p.Columns {
		srcCol := p.Source.Columns[pc.Src]
		cp := colPlan{src: pc.Src, srcType: srcCol.Type, target: target.Columns[i]}
		if pc.Cast {
			out := pc.Out
			out.Nullable = true
			cp.cast = &out
		}
		mid := srcCol
		if cp.cast != nil {
			mid = *cp.cast
		}
		if !pc.Out.Nullable && cp.target.Nullable {
			cp.target.Nullable = false // the mapping requires a value
		}
		cp.direct = cp.cast == nil && mid.SameType(cp.target)
		cp.noNUL = refuseNUL && cp.target.Type == connector.TypeString
		c.cols = append(c.cols, cp)
	}
	return c, nil
}

// inferred marks the columns whose types were inferred (nil: none).
func (c *converter) inferred(inf *inference) {
	if inf == nil {
		return
	}
	for i, col := range inf.typed {
		cp := &c.cols[i]
		cp.inferred, cp.sample, cp.rule = &col, inf.sample, c.srcNames[cp.src]+":"
		if col.Name != c.srcNames[cp.src] {
			cp.rule += col.Name
		}
	}
}

// convertBatch converts a source batch. Rows that fail become rejects; good rows keep their
// source line numbers. recs holds the source record number of each row of b.
func (c *converter) convertBatch(b *connector.Batch, recs []int64) (*connector.Batch, []int64, []connector.Reject) {
	n := len(b.Rows)
	records := make([]int64, 0, n)
	out := &connector.Batch{Rows: make([][]any, 0, n), Bytes: b.Bytes, Pos: b.Pos}
	if b.Lines != nil {
		out.Lines = make([]int64, 0, n)
	}
	// One backing array for the whole batch keeps allocations per batch, not per row.
	cells := make([]any, n*len(c.cols))
	var rejects []connector.Reject
	for r, row := range b.Rows {
		dst := cells[r*len(c.cols) : (r+1)*len(c.cols) : (r+1)*len(c.cols)]
		if col, err := c.convertRow(row, dst); err != nil {
			rej := connector.Reject{
				Record: recs[r],
				Column: c.cols[col].target.Name,
				Reason: err.Error(),
				Data:   c.rowData(row),
			}
			if v := row[c.cols[col].src]; v != nil {
				rej.Value = connector.FormatTyped(v, c.cols[col].srcType)
			}
			if b.Lines != nil {
				rej.Line = b.Lines[r]
			}
			rejects = append(rejects, rej)
			continue
		}
		out.Rows = append(out.Rows, dst)
		records = append(records, recs[r])
		if b.Lines != nil {
			out.Lines = append(out.Lines, b.Lines[r])
		}
	}
	return out, records, rejects
}

// convertRow fills dst from a source row and returns the failing column's index on error.
func (c *converter) convertRow(row, dst []any) (int, error) {
	for i := range c.cols {
		cp := &c.cols[i]
		if cp.src >= len(row) {
			return i, fmt.Errorf("record has %d fields, column %s is field %d", len(row), c.srcNames[cp.src], cp.src+1)
		}
		v := row[cp.src]
		if cp.direct {
			if v == nil && !cp.target.Nullable {
				return i, connector.ErrNull
			}
			if err := cp.checkNUL(v); err != nil {
				return i, err
			}
			dst[i] = v
			continue
		}
		from := cp.srcType
		if s, ok := v.(string); ok && cp.inferred != nil {
			if !infer.Fits(*cp.inferred, s) {
				return i, cp.misfit(s)
			}
			if s == "" {
				v = nil // no value of a typed column: NULL
			}
		}
		if cp.cast != nil && v != nil {
			cv, err := connector.Convert(v, from, *cp.cast)
			if err != nil {
				return i, err
			}
			v, from = cv, cp.cast.Type
		}
		cv, err := connector.Convert(v, from, cp.target)
		if err != nil {
			if errors.Is(err, connector.ErrNull) {
				return i, err
			}
			if s, ok := v.(string); ok && cp.inferred != nil {
				return i, cp.misfit(s)
			}
			return i, fmt.Errorf("%w (target column %s is %s)", err, cp.target.Name, cp.target.Describe())
		}
		if err := cp.checkNUL(cv); err != nil {
			return i, err
		}
		dst[i] = cv
	}
	return 0, nil
}

func (cp *colPlan) misfit(s string) error {
	return &infer.Misfit{Value: s, Column: *cp.inferred, Sample: cp.sample, Rule: cp.rule}
}

// checkNUL refuses a text value with a NUL byte when the target cannot store one.
func (cp *colPlan) checkNUL(v any) error {
	if !cp.noNUL {
		return nil
	}
	if s, ok := v.(string); ok {
		if at := strings.IndexByte(s, 0); at >= 0 {
			return fmt.Errorf("text value contains a NUL byte (\\x00) at byte %d of field %s; the destination cannot store it: remove it or map the field to bytes", at+1, cp.target.Name)
		}
	}
	return nil
}

// rowData renders a source row by column name for a reject record.
func (c *converter) rowData(row []any) map[string]any {
	m := make(map[string]any, len(row))
	for i, v := range row {
		if i >= len(c.srcNames) {
			break
		}
		if v == nil {
			m[c.srcNames[i]] = nil
			continue
		}
		m[c.srcNames[i]] = connector.FormatText(v)
	}
	return m
}

// targetData renders a converted row by destination column name for a reject record.
func (c *converter) targetData(row []any) map[string]any {
	m := make(map[string]any, len(row))
	for i, v := range row {
		if v == nil {
			m[c.cols[i].target.Name] = nil
			continue
		}
		m[c.cols[i].target.Name] = connector.FormatTyped(v, c.cols[i].target.Type)
	}
	return m
}
