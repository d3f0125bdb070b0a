// Package schema compiles the JSON schemas of Topics and validates messages against them.
//
// Schemas are self-contained: a $ref may point inside the schema (or to the JSON Schema
// meta-schemas, which the library embeds) but never to a URL or a file, so applying a Topic
// cannot make the hub fetch anything (no SSRF, no local file read from the catalog).
package schema

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

// MaxProblems bounds the problems a validation error lists.
const MaxProblems = 10

// resourceURL is where the schema being compiled lives for the library: relative $refs
// resolve against it, to URLs the loader refuses.
const (
	resourceBase = "https://schema.datahub.invalid/"
	resourceURL  = resourceBase + "topic.json"
)

var printer = message.NewPrinter(language.English)

// Schema is a compiled JSON schema, safe for concurrent use.
type Schema struct {
	s *jsonschema.Schema
}

// refuseLoader loads nothing: remote ($ref to http, https) and local (file) documents are
// refused on purpose, so that a schema written in the catalog cannot reach the network or
// the disk of the hub.
type refuseLoader struct{}

func (refuseLoader) Load(string) (any, error) {
	return nil, errors.New("a schema cannot load other documents ($refs must point inside it)")
}

// Compile compiles doc, a JSON schema decoded from JSON or YAML. It is draft 2020-12 unless
// its own $schema says otherwise.
func Compile(doc map[string]any) (*Schema, error) {
	// A round trip through JSON turns YAML's ints and floats into the json.Numbers the
	// library expects and drops anything that is not JSON.
	raw, err := json.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("the schema is not JSON: %w", err)
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("the schema is not JSON: %w", err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.UseLoader(refuseLoader{})
	if err := c.AddResource(resourceURL, v); err != nil {
		return nil, fmt.Errorf("adding the schema: %w", err)
	}
	s, err := c.Compile(resourceURL)
	if err != nil {
		return nil, compileError(err)
	}
	return &Schema{s: s}, nil
}

// compileError shortens the library's errors: the made-up resource URL says nothing to
// the user, and a schema that breaks its meta-schema lists where and why.
func compileError(err error) error {
	var se *jsonschema.SchemaValidationError
	if errors.As(err, &se) {
		var ve *jsonschema.ValidationError
		if errors.As(se.Err, &ve) {
			return newError("not a valid JSON schema", problems(ve))
		}
	}
	return errors.New(strings.ReplaceAll(err.Error(), resourceBase, ""))
}

// Problem is one reason a document does not match a schema.
type Problem struct {
	// Location is a JSON pointer into the document ("" for the whole of it).
	Location string `json:"location"`
	Reason   string `json:"reason"`
}

func (p Problem) String() string {
	loc := p.Location
	if loc == "" {
		loc = "/"
	}
	return loc + ": " + p.Reason
}

// Error is a document that does not match a schema (or is not JSON): at most MaxProblems
// problems, and how many more there were.
type Error struct {
	Problems []Problem
	// More counts the problems left out.
	More int
	// NotJSON is set when the document is not JSON at all (Problems is then empty).
	NotJSON bool
	prefix  string
}

func newError(prefix string, ps []Problem) *Error {
	e := &Error{Problems: ps, prefix: prefix}
	if len(ps) > MaxProblems {
		e.Problems, e.More = ps[:MaxProblems], len(ps)-MaxProblems
	}
	return e
}

func (e *Error) Error() string {
	if len(e.Problems) == 0 {
		return e.prefix
	}
	return e.prefix + ": " + e.List()
}

// List is the problems on one line: "/amount: got string, want number; /: missing
// property 'id'" and how many more there were.
func (e *Error) List() string {
	var b strings.Builder
	for i, p := range e.Problems {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(p.String())
	}
	if e.More > 0 {
		fmt.Fprintf(&b, " (and %d more)", e.More)
	}
	return b.String()
}

// Validate checks that data is one JSON document matching the schema. Its errors are *Error.
func (s *Schema) Validate(data []byte) error {
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		return &Error{NotJSON: true, prefix: "not JSON: " + err.Error()}
	}
	if ps := checkNumbers(v, nil, nil); len(ps) > 0 {
		return newError("does not match the schema", ps)
	}
	if err := s.validate(v); err != nil {
		return err
	}
	return nil
}

// validate runs the library's validation, turning a panic (it has had some on odd
// numbers) into an error rather than a crash of the server.
func (s *Schema) validate(v any) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("validating: %v", r)
		}
	}()
	err = s.s.Validate(v)
	if err == nil {
		return nil
	}
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return fmt.Errorf("validating: %w", err)
	}
	return newError("does not match the schema", problems(ve))
}

// Limits on the numbers of a validated document. The library does exact arithmetic
// (math/big) on numbers as written: 1e9999999 would take minutes (a bigger exponent makes it
// panic), so such numbers are refused before it sees them. Every float64 fits.
const (
	maxNumberLength   = 100
	maxNumberExponent = 400
)

// checkNumbers lists the numbers of v that are too long, too big or too small.
func checkNumbers(v any, loc []string, out []Problem) []Problem {
	switch v := v.(type) {
	case json.Number:
		if problem := numberProblem(string(v)); problem != "" {
			out = append(out, Problem{Location: pointer(loc), Reason: problem})
		}
	case map[string]any:
		for _, k := range slices.Sorted(maps.Keys(v)) {
			out = checkNumbers(v[k], append(loc, k), out)
		}
	case []any:
		for i, e := range v {
			out = checkNumbers(e, append(loc, strconv.Itoa(i)), out)
		}
	}
	return out
}

func numberProblem(s string) string {
	if len(s) > maxNumberLength {
		return fmt.Sprintf("a number of more than %d characters", maxNumberLength)
	}
	if _, err := strconv.ParseFloat(s, 64); err != nil {
		return "a number out of range"
	}
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		if e, err := strconv.Atoi(s[i+1:]); err != nil || e > maxNumberExponent || e < -maxNumberExponent {
			return "a number out of range"
		}
	}
	return ""
}

// problems lists the leaves of a validation error (the causes of "allOf failed" and the
// like), each once.
func problems(ve *jsonschema.ValidationError) []Problem {
	var out []Problem
	seen := map[Problem]bool{}
	var walk func(e *jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		if len(e.Causes) == 0 {
			p := Problem{Location: pointer(e.InstanceLocation), Reason: e.ErrorKind.LocalizedString(printer)}
			if !seen[p] {
				seen[p] = true
				out = append(out, p)
			}
			return
		}
		for _, c := range e.Causes {
			walk(c)
		}
	}
	walk(ve)
	return out
}

// pointer is the JSON pointer (RFC 6901) of a location.
func pointer(tokens []string) string {
	var b strings.Builder
	r := strings.NewReplacer("~", "~0", "/", "~1")
	for _, t := range tokens {
		b.WriteByte('/')
		b.WriteString(r.Replace(t))
	}
	return b.String()
}
