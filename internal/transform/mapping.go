// Package transform maps source records onto destination columns: select, rename and cast.
package transform

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/datahub-oss/datahub/connector"
)

// Rule maps one source column onto a destination column, optionally casting it.
type Rule struct {
	From string `json:"from"`
	// To is the destination name; empty keeps the source name.
	To string `json:"to,omitempty"`
	// Type casts the values; empty keeps the source type.
	Type string `json:"type,omitempty"`
	// Required makes a NULL in this column a reject even where the target would take it.
	Required bool `json:"required,omitempty"`
}

// Mapping is an ordered set of rules. Columns without a rule pass through unchanged unless
// Only is set, in which case they are dropped.
type Mapping struct {
	Rules []Rule `json:"columns"`
	Only  bool   `json:"only,omitempty"`
	// Drop names source columns to leave out.
	Drop []string `json:"drop,omitempty"`
}

// Empty reports whether the mapping changes nothing.
func (m *Mapping) Empty() bool { return m == nil || (len(m.Rules) == 0 && !m.Only && len(m.Drop) == 0) }

// ParseRule reads "src:dst", "src:dst:type", "src::type" or "src" (select only).
func ParseRule(s string) (Rule, error) {
	parts := strings.Split(strings.TrimSpace(s), ":")
	if len(parts) > 3 || parts[0] == "" {
		return Rule{}, fmt.Errorf("mapping %q: want SOURCE[:DEST[:TYPE]]", s)
	}
	r := Rule{From: strings.TrimSpace(parts[0])}
	if len(parts) > 1 {
		r.To = strings.TrimSpace(parts[1])
	}
	if len(parts) > 2 {
		r.Type = strings.TrimSpace(parts[2])
		if _, err := connector.ParseType(r.Type); err != nil {
			return Rule{}, fmt.Errorf("mapping %q: %w", s, err)
		}
	}
	return r, nil
}

// ParseArgs turns --map flag values (each may hold several comma-separated rules) into a mapping.
func ParseArgs(args []string) (*Mapping, error) {
	m := &Mapping{}
	for _, a := range args {
		for _, part := range strings.Split(a, ",") {
			if strings.TrimSpace(part) == "" {
				continue
			}
			r, err := ParseRule(part)
			if err != nil {
				return nil, err
			}
			m.Rules = append(m.Rules, r)
		}
	}
	return m, nil
}

// Load reads a mapping file: JSON ({"columns":[{"from":"a","to":"b","type":"int64"}],
// "only":true}) or text with one SOURCE[:DEST[:TYPE]] rule per line, '#' comments, and an
// optional "only" line meaning unmapped columns are dropped.
func Load(path string) (*Mapping, error) {
	f, err := os.Open(path) //nolint:gosec // the path is the user's own mapping file argument
	if err != nil {
		return nil, fmt.Errorf("open mapping file: %w", err)
	}
	defer func() { _ = f.Close() }()
	return Parse(f, path)
}

// Parse reads a mapping in either format from r; name is used in errors.
func Parse(r io.Reader, name string) (*Mapping, error) {
	br := bufio.NewReader(r)
	first, _ := br.Peek(64)
	if strings.HasPrefix(strings.TrimSpace(string(first)), "{") {
		m := &Mapping{}
		dec := json.NewDecoder(br)
		dec.DisallowUnknownFields()
		if err := dec.Decode(m); err != nil {
			return nil, fmt.Errorf("mapping file %s: %w", name, err)
		}
		for i, rule := range m.Rules {
			if rule.From == "" {
				return nil, fmt.Errorf("mapping file %s: column %d has no \"from\"", name, i+1)
			}
			if rule.Type != "" {
				if _, err := connector.ParseType(rule.Type); err != nil {
					return nil, fmt.Errorf("mapping file %s: column %q: %w", name, rule.From, err)
				}
			}
		}
		return m, nil
	}
	m := &Mapping{}
	sc := bufio.NewScanner(br)
	line := 0
	for sc.Scan() {
		line++
		t := strings.TrimSpace(sc.Text())
		if i := strings.IndexByte(t, '#'); i >= 0 {
			t = strings.TrimSpace(t[:i])
		}
		switch {
		case t == "":
		case t == "only":
			m.Only = true
		case strings.HasPrefix(t, "drop "):
			m.Drop = append(m.Drop, strings.TrimSpace(strings.TrimPrefix(t, "drop ")))
		default:
			r, err := ParseRule(t)
			if err != nil {
				return nil, fmt.Errorf("mapping file %s line %d: %w", name, line, err)
			}
			m.Rules = append(m.Rules, r)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read mapping file %s: %w", name, err)
	}
	return m, nil
}

// Column is one destination column of a plan: where it comes from and what it becomes.
type Column struct {
	// Src is the index of the source column.
	Src int
	// Out is the destination column (name and, when cast, type).
	Out connector.Column
	// Cast is true when values change type.
	Cast bool
}

// Plan is a mapping applied to a source schema.
type Plan struct {
	Source  connector.Schema
	Columns []Column
}

// Schema is the destination schema the plan produces; the key follows renames.
func (p *Plan) Schema() connector.Schema {
	s := connector.Schema{Columns: make([]connector.Column, len(p.Columns))}
	rename := map[string]string{}
	for i, c := range p.Columns {
		s.Columns[i] = c.Out
		rename[p.Source.Columns[c.Src].Name] = c.Out.Name
	}
	for _, k := range p.Source.Key {
		if to, ok := rename[k]; ok {
			s.Key = append(s.Key, to)
		} else {
			return connector.Schema{Columns: s.Columns} // a dropped key column: no key
		}
	}
	return s
}

// Identity reports whether the plan passes columns through unchanged in type (renames and
// selection allowed), which keeps native fast paths possible.
func (p *Plan) Identity() bool {
	for _, c := range p.Columns {
		if c.Cast {
			return false
		}
	}
	return true
}

// SourceNames returns the source column name of each destination column.
func (p *Plan) SourceNames() []string {
	out := make([]string, len(p.Columns))
	for i, c := range p.Columns {
		out[i] = p.Source.Columns[c.Src].Name
	}
	return out
}

// Apply resolves the mapping against a source schema. Unknown source columns are errors that
// list the columns that exist.
func (m *Mapping) Apply(src connector.Schema) (*Plan, error) {
	p := &Plan{Source: src}
	ruleFor := map[int]Rule{}
	var order []int
	if m != nil {
		for _, r := range m.Rules {
			i := src.Index(r.From)
			if i < 0 {
				return nil, fmt.Errorf("mapping names source column %q, which the source does not have (columns: %s)", r.From, strings.Join(src.Names(), ", "))
			}
			if _, dup := ruleFor[i]; dup {
				return nil, fmt.Errorf("mapping names source column %q twice", r.From)
			}
			ruleFor[i] = r
			order = append(order, i)
		}
		for _, d := range m.Drop {
			i := src.Index(d)
			if i < 0 {
				return nil, fmt.Errorf("mapping drops column %q, which the source does not have (columns: %s)", d, strings.Join(src.Names(), ", "))
			}
			ruleFor[i] = Rule{From: d, To: "\x00drop"}
		}
	}
	// Mapped columns keep the source order unless Only is set, in which case the rules'
	// order is the destination order.
	if m == nil || !m.Only {
		order = order[:0]
		for i := range src.Columns {
			order = append(order, i)
		}
	}
	seen := map[string]bool{}
	for _, i := range order {
		r, hasRule := ruleFor[i]
		if r.To == "\x00drop" {
			continue
		}
		col := src.Columns[i]
		c := Column{Src: i, Out: col}
		if hasRule {
			if r.To != "" {
				c.Out.Name = r.To
			}
			if r.Type != "" {
				ty, _ := connector.ParseType(r.Type)
				if ty != col.Type {
					c.Out.Type, c.Cast = ty, true
					c.Out.Length, c.Out.Precision, c.Out.Scale, c.Out.Native = 0, 0, 0, ""
				}
			}
			if r.Required {
				c.Out.Nullable = false
			}
		}
		k := strings.ToLower(c.Out.Name)
		if seen[k] {
			return nil, fmt.Errorf("mapping produces destination column %q twice", c.Out.Name)
		}
		seen[k] = true
		p.Columns = append(p.Columns, c)
	}
	if len(p.Columns) == 0 {
		return nil, fmt.Errorf("mapping leaves no columns")
	}
	return p, nil
}
