package catalog

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// MaxFileSize bounds one resource file; catalogs are text written by people, and a bigger
// input is a mistake (or an attack on the parser's memory).
const MaxFileSize = 8 << 20

// ParseFile reads every document of a YAML file. The resources come back normalized
// (environment names upper-case, defaults filled in) and checked on their own; references to
// other resources are checked by Apply. The error, when not nil, is Errors when the content is
// at fault.
func ParseFile(path string) ([]Resource, error) {
	data, err := readFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(data, path)
}

// ParseEndpointsFile reads a local endpoints file, the named connections of `datahub copy`:
// Endpoint documents only, checked as the hub checks them except that spec.system may be
// absent, since no System exists outside a hub. Other kinds are refused, so that a catalog
// given by mistake is not half read.
func ParseEndpointsFile(path string) ([]Resource, error) {
	data, err := readFile(path)
	if err != nil {
		return nil, err
	}
	return parse(data, path, true)
}

// readFile reads one resource file, bounded by MaxFileSize.
func readFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read resources: %w", err)
	}
	defer func() { _ = f.Close() }()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("read resources %s: %w", path, err)
	}
	if len(data) > MaxFileSize {
		return nil, Errors{{File: path, Problem: fmt.Sprintf("larger than %d MiB", MaxFileSize>>20)}}
	}
	return data, nil
}

// ParseDir reads every *.yaml and *.yml file under dir, recursively, in lexical path order
// (so a catalog applies the same way every time). Folders whose names start with '.' are
// skipped. Problems from every file are reported together.
func ParseDir(dir string) ([]Resource, error) {
	var files []string
	err := filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if e.IsDir() {
			if p != dir && strings.HasPrefix(e.Name(), ".") {
				return filepath.SkipDir
			}
			return nil
		}
		if ext := strings.ToLower(filepath.Ext(p)); ext == ".yaml" || ext == ".yml" {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read resources in %s: %w", dir, err)
	}
	var all []Resource
	var errs Errors
	for _, f := range files {
		rs, err := ParseFile(f)
		var es Errors
		switch {
		case errors.As(err, &es):
			errs = append(errs, es...)
		case err != nil:
			return nil, err
		}
		all = append(all, rs...)
	}
	errs = append(errs, checkDuplicates(all)...)
	return all, errs.sorted().err()
}

// yamlLine finds "line N" in a yaml.v3 error message.
var yamlLine = regexp.MustCompile(`^yaml: line (\d+): `)

// Parse reads the documents of one YAML (or JSON) text; name is the file for messages ("" for
// none). Empty documents are skipped but still counted, so document numbers match what an
// editor shows between the --- lines.
func Parse(data []byte, name string) ([]Resource, error) {
	return parse(data, name, false)
}

// parse is Parse; endpointsOnly reads a local endpoints file (see ParseEndpointsFile).
func parse(data []byte, name string, endpointsOnly bool) ([]Resource, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var out []Resource
	var errs Errors
	for doc := 1; len(errs) < maxErrors; doc++ {
		var n yaml.Node
		err := dec.Decode(&n)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			msg := err.Error()
			line := 0
			if m := yamlLine.FindStringSubmatch(msg); m != nil {
				line, _ = strconv.Atoi(m[1])
				msg = msg[len(m[0]):]
			}
			msg = strings.TrimPrefix(msg, "yaml: ")
			// The parser cannot resynchronise after a syntax error: stop at the first.
			errs = append(errs, &Error{File: name, Doc: doc, Line: line, Problem: "not valid YAML: " + msg})
			break
		}
		if len(n.Content) == 0 || isNull(n.Content[0]) {
			continue
		}
		r, es := decodeDocument(n.Content[0], Origin{File: name, Doc: doc, Line: n.Content[0].Line})
		if endpointsOnly && r.Kind != "" && r.Kind != KindEndpoint && len(es) == 0 {
			es = append(es, newError(&r, "kind", fmt.Sprintf("an endpoints file holds Endpoint resources only; a %s belongs on a hub (datahub apply)", r.Kind)))
		}
		if r.Spec != nil {
			es = append(es, unlessReported(checkResourceIn(&r, endpointsOnly), es)...)
		}
		if len(es) > 0 {
			errs = append(errs, es...)
			continue
		}
		out = append(out, r)
	}
	errs = append(errs, checkDuplicates(out)...)
	return out, errs.sorted().err()
}

// unlessReported drops the problems at or under a field that already has one: a field that
// could not be read would otherwise also be reported as missing.
func unlessReported(es, reported Errors) Errors {
	var out Errors
	for _, e := range es {
		dup := false
		for _, r := range reported {
			if under(e.Field, r.Field) || (r.covers != "" && under(e.Field, r.covers)) {
				dup = true
				break
			}
		}
		if !dup {
			out = append(out, e)
		}
	}
	return out
}

// under reports whether field path p is f or inside it.
func under(p, f string) bool {
	return p == f || strings.HasPrefix(p, f+".") || strings.HasPrefix(p, f+"[")
}

// checkDuplicates refuses a kind and name written twice in one input: one of the two would
// silently win.
func checkDuplicates(rs []Resource) Errors {
	var errs Errors
	seen := map[Key]*Resource{}
	for i := range rs {
		r := &rs[i]
		if o, dup := seen[r.Key()]; dup {
			errs = append(errs, newError(r, "metadata.name", fmt.Sprintf("%s is also defined in %s", r.Key(), where(o))))
			continue
		}
		seen[r.Key()] = r
	}
	return errs
}

// where names a document's place: "file document N (line L)".
func where(r *Resource) string {
	var parts []string
	if r.Origin.File != "" {
		parts = append(parts, r.Origin.File)
	}
	if r.Origin.Doc > 0 {
		parts = append(parts, fmt.Sprintf("document %d", r.Origin.Doc))
	}
	if r.Origin.Line > 0 {
		parts = append(parts, fmt.Sprintf("line %d", r.Origin.Line))
	}
	if len(parts) == 0 {
		return "the same batch"
	}
	return strings.Join(parts, " ")
}

// decodeDocument reads one document's top-level mapping.
func decodeDocument(root *yaml.Node, origin Origin) (Resource, Errors) {
	d := newDecoder()
	r := Resource{Origin: origin}
	// Read kind and name first so that every message can say which resource it is about,
	// even one about a field written before them.
	if root.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(root.Content); i += 2 {
			k, v := root.Content[i], root.Content[i+1]
			switch {
			case k.Value == "kind" && v.Kind == yaml.ScalarNode:
				r.Kind = Kind(v.Value)
			case k.Value == "metadata" && v.Kind == yaml.MappingNode:
				for j := 0; j+1 < len(v.Content); j += 2 {
					if v.Content[j].Value == "name" && v.Content[j+1].Kind == yaml.ScalarNode {
						r.Metadata.Name = v.Content[j+1].Value
					}
				}
			}
		}
	}
	finish := func() (Resource, Errors) {
		r.Origin.lines = d.lines
		var es Errors
		for _, fe := range d.errs {
			e := newError(&r, fe.path, fe.msg)
			e.covers = fe.covers
			if fe.line > 0 {
				e.Line = fe.line
			}
			es = append(es, e)
		}
		return r, es
	}
	if root.Kind != yaml.MappingNode {
		d.fail(root.Line, "", "a resource is a mapping with apiVersion, kind, metadata and spec, got %s", describe(root))
		return finish()
	}
	known := []string{"apiVersion", "kind", "metadata", "spec"}
	var spec *yaml.Node
	var sawAPI, sawKind, sawMeta bool
	for _, p := range d.pairs(root, "") {
		d.mark(p.key.Value, p.key.Line)
		switch p.key.Value {
		case "apiVersion":
			sawAPI = true
			d.decodeString(p.value, reflectOf(&r.APIVersion), "apiVersion")
		case "kind":
			sawKind = true
			d.decodeString(p.value, reflectOf(&r.Kind), "kind")
		case "metadata":
			sawMeta = true
			d.decode(p.value, reflectOf(&r.Metadata), "metadata")
		case "spec":
			spec = p.value
		default:
			d.fail(p.key.Line, p.key.Value, "%s", unknownField(p.key.Value, known))
		}
	}
	switch {
	case !sawAPI:
		d.fail(root.Line, "apiVersion", "missing (want %s)", APIVersion)
	case r.APIVersion != APIVersion:
		d.fail(d.lines["apiversion"], "apiVersion", "%s is not supported (want %s)", quote(r.APIVersion), APIVersion)
	}
	if !sawMeta {
		d.fail(root.Line, "metadata", "missing (a resource needs at least metadata.name)")
	}
	r.Spec = newSpec(r.Kind)
	switch {
	case !sawKind:
		d.fail(root.Line, "kind", "missing (want one of %s)", kindList())
	case r.Spec == nil:
		names := make([]string, len(Kinds))
		for i, k := range Kinds {
			names[i] = string(k)
		}
		d.fail(d.lines["kind"], "kind", "%s", notOneOf(string(r.Kind), names))
		r.Kind = ""
	case spec == nil:
		d.fail(root.Line, "spec", "missing")
	default:
		d.decode(spec, reflectOf(r.Spec), "spec")
	}
	return finish()
}

// newError places a problem with field path in resource r.
func newError(r *Resource, path, problem string) *Error {
	return &Error{
		File:    r.Origin.File,
		Doc:     r.Origin.Doc,
		Kind:    r.Kind,
		Name:    r.Metadata.Name,
		Line:    r.Origin.line(path),
		Field:   path,
		Problem: problem,
	}
}
