package catalog

import (
	"fmt"
	"math"
	"reflect"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// The decoder walks yaml.v3 nodes into the resource types itself, rather than calling
// Node.Decode, because it must do what yaml.v3's decoder cannot: refuse unknown fields with a
// suggestion, report every problem (not only the first) with its field path and line, and
// read field names from the json tags the store and API already use (so transform.Mapping is
// reused as is).

// nodeBudget bounds the nodes one document may expand to, so that aliases of aliases (the
// "billion laughs") cannot exhaust memory.
const nodeBudget = 200_000

// maxPathLen bounds the field path, and so the nesting, of a value.
const maxPathLen = 1000

type fieldErr struct {
	path string
	line int
	msg  string
	// covers is a field this problem explains too: the field an unknown key was probably
	// meant to be, which is then not also reported missing.
	covers string
}

type decoder struct {
	lines  map[string]int
	errs   []fieldErr
	budget int
	spent  bool
	merges int // depth of merge keys being expanded
}

func newDecoder() *decoder { return &decoder{lines: map[string]int{}, budget: nodeBudget} }

func (d *decoder) fail(line int, path, format string, args ...any) {
	d.errs = append(d.errs, fieldErr{path: path, line: line, msg: fmt.Sprintf(format, args...)})
}

// mark remembers the line a field path was written on (the first time it is seen).
func (d *decoder) mark(path string, line int) {
	k := strings.ToLower(path)
	if _, ok := d.lines[k]; !ok && line > 0 {
		d.lines[k] = line
	}
}

// visit follows an alias and spends budget; nil means stop (the budget is spent).
func (d *decoder) visit(n *yaml.Node, path string) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode; i++ {
		if i > 100 {
			return nil
		}
		n = n.Alias
	}
	if n == nil || d.spent {
		return nil
	}
	// Catalog documents are a few levels deep; a deep one is an alias cycle (an anchor used
	// inside itself), whose ever longer paths would cost quadratic memory.
	if len(path) > maxPathLen {
		d.abort(n.Line, path, "nested too deeply (an alias used inside its own anchor?)")
		return nil
	}
	d.budget--
	if d.budget < 0 {
		d.abort(n.Line, path, fmt.Sprintf("the document expands to more than %d values (through aliases?)", nodeBudget))
		return nil
	}
	return n
}

// abort reports a problem that stops the document's decoding: after it, every visit is
// refused, so a pathological document costs no more.
func (d *decoder) abort(line int, path, msg string) {
	if len(path) > 80 {
		path = path[:80] + "..."
	}
	d.fail(line, path, "%s", msg)
	d.spent = true
}

// reflectOf is the addressable value p points to.
func reflectOf(p any) reflect.Value { return reflect.ValueOf(p).Elem() }

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// describe names a node's kind for "want X, got Y" messages without repeating its value,
// which could be a secret written in the wrong place.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!null":
			return "nothing"
		case "!!int", "!!float":
			return "a number"
		case "!!bool":
			return "true/false"
		}
		return "a string"
	}
	return "something else"
}

func join(path, field string) string {
	if path == "" {
		return field
	}
	return path + "." + field
}

type pair struct{ key, value *yaml.Node }

// pairs returns a mapping's entries with YAML merge keys (<<) expanded, explicit keys winning
// over merged ones; a key written twice is an error.
func (d *decoder) pairs(n *yaml.Node, path string) []pair {
	var explicit, merged []pair
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			d.fail(k.Line, path, "keys must be plain strings, got %s", describe(k))
			continue
		}
		if k.ShortTag() == "!!merge" {
			merged = append(merged, d.mergePairs(v, path, 0)...)
			continue
		}
		if l, dup := seen[k.Value]; dup {
			d.fail(k.Line, join(path, k.Value), "written twice (first on line %d)", l)
			continue
		}
		seen[k.Value] = k.Line
		explicit = append(explicit, pair{k, v})
	}
	for _, p := range merged {
		if _, ok := seen[p.key.Value]; !ok {
			seen[p.key.Value] = p.key.Line
			explicit = append(explicit, p)
		}
	}
	return explicit
}

func (d *decoder) mergePairs(v *yaml.Node, path string, depth int) []pair {
	v = d.visit(v, path)
	if v == nil {
		return nil
	}
	d.merges++
	defer func() { d.merges-- }()
	if depth > 10 || d.merges > 20 {
		d.abort(v.Line, path, "merges (<<) nested too deeply")
		return nil
	}
	switch v.Kind {
	case yaml.MappingNode:
		return d.pairs(v, path)
	case yaml.SequenceNode:
		var out []pair
		for _, e := range v.Content {
			out = append(out, d.mergePairs(e, path, depth+1)...)
		}
		return out
	}
	d.fail(v.Line, path, "a merge (<<) must name a mapping, got %s", describe(v))
	return nil
}

// nodeDecoder is implemented by types that read themselves from YAML (Trigger).
type nodeDecoder interface {
	decodeNode(d *decoder, n *yaml.Node, path string)
}

var nodeDecoderType = reflect.TypeFor[nodeDecoder]()

// decode reads n into v (addressable), recording problems under path.
func (d *decoder) decode(n *yaml.Node, v reflect.Value, path string) {
	n = d.visit(n, path)
	if n == nil {
		return
	}
	d.mark(path, n.Line)
	if v.CanAddr() && v.Addr().Type().Implements(nodeDecoderType) {
		if isNull(n) {
			v.SetZero()
			return
		}
		v.Addr().Interface().(nodeDecoder).decodeNode(d, n, path)
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		if isNull(n) {
			v.SetZero()
			return
		}
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		d.decode(n, v.Elem(), path)
	case reflect.Struct:
		d.decodeStruct(n, v, path)
	case reflect.Map:
		d.decodeMap(n, v, path)
	case reflect.Slice:
		d.decodeSlice(n, v, path)
	case reflect.String:
		d.decodeString(n, v, path)
	case reflect.Int:
		if isNull(n) {
			v.SetInt(0)
			return
		}
		var i int64
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" || n.Decode(&i) != nil || i < math.MinInt32 || i > math.MaxInt32 {
			d.fail(n.Line, path, "want a whole number, got %s", describe(n))
			return
		}
		v.SetInt(i)
	case reflect.Bool:
		if isNull(n) {
			v.SetBool(false)
			return
		}
		var b bool
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" || n.Decode(&b) != nil {
			d.fail(n.Line, path, "want true or false, got %s", describe(n))
			return
		}
		v.SetBool(b)
	case reflect.Interface:
		if x := d.toAny(n, path); x != nil {
			v.Set(reflect.ValueOf(x))
		}
	default:
		panic("catalog: no YAML decoding for " + v.Type().String())
	}
}

// decodeString takes any scalar as its text: option values such as port: 5432 or
// header: false are meant as written.
func (d *decoder) decodeString(n *yaml.Node, v reflect.Value, path string) {
	switch {
	case isNull(n):
		v.SetString("")
	case n.Kind == yaml.ScalarNode:
		v.SetString(n.Value)
	default:
		d.fail(n.Line, path, "want a string, got %s", describe(n))
	}
}

type structField struct {
	name  string
	index int
}

// fieldsOf lists a struct's fields by their json names.
func fieldsOf(t reflect.Type) []structField {
	var out []structField
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out = append(out, structField{name, i})
	}
	return out
}

// unknownField is the message for a key a struct does not have.
func unknownField(key string, known []string) string {
	if s := closest(key, known); s != "" {
		return fmt.Sprintf("unknown field (did you mean %q?)", s)
	}
	return "unknown field (known fields: " + strings.Join(known, ", ") + ")"
}

func (d *decoder) decodeStruct(n *yaml.Node, v reflect.Value, path string) {
	if isNull(n) {
		return
	}
	if n.Kind != yaml.MappingNode {
		d.fail(n.Line, path, "want a mapping (key: value lines), got %s", describe(n))
		return
	}
	fields := fieldsOf(v.Type())
	known := make([]string, len(fields))
	for i, f := range fields {
		known[i] = f.name
	}
	for _, p := range d.pairs(n, path) {
		fp := join(path, p.key.Value)
		idx := -1
		for _, f := range fields {
			if f.name == p.key.Value {
				idx = f.index
				break
			}
		}
		if idx < 0 {
			d.fail(p.key.Line, fp, "%s", unknownField(p.key.Value, known))
			if s := closest(p.key.Value, known); s != "" {
				d.errs[len(d.errs)-1].covers = join(path, s)
			}
			continue
		}
		d.mark(fp, p.key.Line)
		d.decode(p.value, v.Field(idx), fp)
	}
}

func (d *decoder) decodeMap(n *yaml.Node, v reflect.Value, path string) {
	if isNull(n) {
		v.SetZero()
		return
	}
	if n.Kind != yaml.MappingNode {
		d.fail(n.Line, path, "want a mapping (key: value lines), got %s", describe(n))
		return
	}
	if v.Type().Key().Kind() != reflect.String {
		panic("catalog: map keys must be strings")
	}
	m := reflect.MakeMap(v.Type())
	for _, p := range d.pairs(n, path) {
		fp := join(path, p.key.Value)
		d.mark(fp, p.key.Line)
		e := reflect.New(v.Type().Elem()).Elem()
		d.decode(p.value, e, fp)
		m.SetMapIndex(reflect.ValueOf(p.key.Value).Convert(v.Type().Key()), e)
	}
	v.Set(m)
}

func (d *decoder) decodeSlice(n *yaml.Node, v reflect.Value, path string) {
	if isNull(n) {
		v.SetZero()
		return
	}
	if n.Kind != yaml.SequenceNode {
		d.fail(n.Line, path, "want a list, got %s", describe(n))
		return
	}
	s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	for i, e := range n.Content {
		d.decode(e, s.Index(i), fmt.Sprintf("%s[%d]", path, i))
	}
	v.Set(s)
}

// toAny reads a free-form value into what encoding/json writes back the same way: maps with
// string keys, lists, strings, int64/uint64, finite float64, bool and nil.
func (d *decoder) toAny(n *yaml.Node, path string) any {
	n = d.visit(n, path)
	if n == nil {
		return nil
	}
	d.mark(path, n.Line)
	switch n.Kind {
	case yaml.MappingNode:
		m := map[string]any{}
		for _, p := range d.pairs(n, path) {
			fp := join(path, p.key.Value)
			d.mark(fp, p.key.Line)
			m[p.key.Value] = d.toAny(p.value, fp)
		}
		return m
	case yaml.SequenceNode:
		s := make([]any, len(n.Content))
		for i, e := range n.Content {
			s[i] = d.toAny(e, fmt.Sprintf("%s[%d]", path, i))
		}
		return s
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!null":
			return nil
		case "!!bool":
			var b bool
			if n.Decode(&b) == nil {
				return b
			}
		case "!!int":
			var i int64
			if n.Decode(&i) == nil {
				return i
			}
			var u uint64
			if n.Decode(&u) == nil {
				return u
			}
			d.fail(n.Line, path, "number out of range")
			return nil
		case "!!float":
			var f float64
			if n.Decode(&f) == nil && !math.IsInf(f, 0) && !math.IsNaN(f) {
				return f
			}
			d.fail(n.Line, path, "want a finite number")
			return nil
		}
		return n.Value
	}
	d.fail(n.Line, path, "unsupported YAML value")
	return nil
}

// decodeNode reads a trigger: type plus free-form settings.
func (t *Trigger) decodeNode(d *decoder, n *yaml.Node, path string) {
	if n.Kind != yaml.MappingNode {
		d.fail(n.Line, path, "want a mapping (key: value lines), got %s", describe(n))
		return
	}
	*t = Trigger{}
	for _, p := range d.pairs(n, path) {
		fp := join(path, p.key.Value)
		d.mark(fp, p.key.Line)
		if p.key.Value == "type" {
			d.decode(p.value, reflect.ValueOf(&t.Type).Elem(), fp)
			continue
		}
		if t.Settings == nil {
			t.Settings = map[string]any{}
		}
		t.Settings[p.key.Value] = d.toAny(p.value, fp)
	}
}

// sortedKeys returns a map's keys in order, for deterministic messages.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
