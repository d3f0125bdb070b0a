package connector

import (
	"fmt"
	"math"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// OptionType is the kind of value an option takes. The registry parses every option by its
// type, so connectors read typed values instead of parsing text themselves.
type OptionType string

// The option types. An option without a type is a string.
const (
	OptString   OptionType = "string"
	OptInt      OptionType = "int"
	OptBool     OptionType = "bool"
	OptDuration OptionType = "duration" // Go form: 500ms, 10s, 1h30m
	OptSize     OptionType = "size"     // bytes: 1048576, 64KB, 16MiB (KB and KiB are both 1024)
	OptEnum     OptionType = "enum"     // one of Option.Enum, matched without case
	OptPath     OptionType = "path"     // a local path, seen by the hub's confinement policy
	OptSecret   OptionType = "secret"   // set through the Endpoint's secrets: references, never echoed
	// OptChar is one character, or the names tab, comma, semicolon, pipe and space.
	OptChar OptionType = "char"
)

// IntRange is the values an int option allows, from Min to Max, both included; math.MinInt64
// or math.MaxInt64 leaves that end open.
type IntRange struct {
	Min int64 `json:"min"`
	Max int64 `json:"max"`
}

// Contains reports whether n is in the range.
func (r *IntRange) Contains(n int64) bool { return n >= r.Min && n <= r.Max }

// String shows the range: "0 to 100", "0 or more", "100 or less", "any".
func (r *IntRange) String() string {
	switch {
	case r.Min == math.MinInt64 && r.Max == math.MaxInt64:
		return "any"
	case r.Max == math.MaxInt64:
		return fmt.Sprintf("%d or more", r.Min)
	case r.Min == math.MinInt64:
		return fmt.Sprintf("%d or less", r.Max)
	}
	return fmt.Sprintf("%d to %d", r.Min, r.Max)
}

// describe is what a value in the range is, after "a whole number".
func (r *IntRange) describe() string {
	switch {
	case r.Min == math.MinInt64 && r.Max == math.MaxInt64:
		return ""
	case r.Min == math.MinInt64 || r.Max == math.MaxInt64:
		return ", " + r.String()
	}
	return " from " + r.String()
}

// Kind returns the option's type, string when none was declared and enum when only values were.
func (o *Option) Kind() OptionType {
	switch {
	case o.Type != "":
		return o.Type
	case o.Secret:
		return OptSecret
	case len(o.Enum) > 0:
		return OptEnum
	}
	return OptString
}

// IsSecret reports whether the option's value is a secret.
func (o *Option) IsSecret() bool { return o.Secret || o.Type == OptSecret }

// Parse reads one value of the option. The error names the option, the value (unless it is a
// secret) and what is allowed: option bulk: "fast" is not one of load, insert.
func (o *Option) Parse(v string) (any, error) {
	val, what := o.parse(v)
	if what == "" {
		return val, nil
	}
	if o.IsSecret() {
		return nil, &OptionError{Option: o.Name, Problem: "the value is not " + what}
	}
	return nil, &OptionError{Option: o.Name, Problem: fmt.Sprintf("%q is not %s", truncate(v, 60), what)}
}

// OptionError is an option value that does not parse. Problem says what is wrong without the
// option's name, for messages that name the option's field already.
type OptionError struct {
	Option  string
	Problem string
}

func (e *OptionError) Error() string { return "option " + e.Option + ": " + e.Problem }

// parse returns the typed value, or a description of what a good value is.
func (o *Option) parse(v string) (any, string) {
	switch o.Kind() {
	case OptInt:
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if o.Range != nil && (err != nil || !o.Range.Contains(n)) {
			return nil, "a whole number" + o.Range.describe()
		}
		if err != nil {
			return nil, "a whole number"
		}
		return n, ""
	case OptBool:
		b, err := ParseBool(v)
		if err != nil {
			return nil, "true or false"
		}
		return b, ""
	case OptDuration:
		d, err := time.ParseDuration(strings.TrimSpace(v))
		if err != nil || d < 0 {
			return nil, "a duration such as 500ms, 10s or 1h30m"
		}
		return d, ""
	case OptSize:
		n, ok := parseSize(v)
		if !ok {
			return nil, "a size such as 1048576, 64KB or 16MiB"
		}
		return n, ""
	case OptEnum:
		v = strings.TrimSpace(v)
		for a, e := range o.Aliases {
			if strings.EqualFold(v, a) {
				v = e
				break
			}
		}
		for _, e := range o.Enum {
			if strings.EqualFold(v, e) {
				return e, ""
			}
		}
		return nil, "one of " + strings.Join(o.Enum, ", ")
	case OptChar:
		c, ok := parseChar(v)
		if !ok {
			return nil, "one character (or tab, comma, semicolon, pipe, space)"
		}
		return c, ""
	case OptPath:
		if strings.TrimSpace(v) == "" || strings.ContainsRune(v, 0) {
			return nil, "a path"
		}
		return v, ""
	}
	return v, ""
}

// parseSize reads a byte count with an optional unit (B, K, KB, KiB, M, ..., T); units are
// powers of 1024, because that is what buffers and files are measured in here.
func parseSize(v string) (int64, bool) {
	s := strings.ToUpper(strings.TrimSpace(v))
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	if i == 0 || i > 18 {
		return 0, false
	}
	n, err := strconv.ParseInt(s[:i], 10, 64)
	if err != nil {
		return 0, false
	}
	unit := strings.TrimSpace(s[i:])
	unit = strings.TrimSuffix(strings.TrimSuffix(unit, "B"), "I")
	shift := map[string]uint{"": 0, "K": 10, "M": 20, "G": 30, "T": 40}
	sh, ok := shift[unit]
	if !ok || (strings.HasSuffix(s, "IB") && unit == "") {
		return 0, false
	}
	if n > (1<<62)>>sh {
		return 0, false
	}
	return n << sh, true
}

// parseChar reads one character, or a name for one that is awkward to write in a URL.
func parseChar(v string) (rune, bool) {
	switch strings.ToLower(v) {
	case "tab", `\t`:
		return '\t', true
	case "comma":
		return ',', true
	case "semicolon":
		return ';', true
	case "pipe":
		return '|', true
	case "space":
		return ' ', true
	}
	r, n := utf8.DecodeRuneInString(v)
	if n == 0 || n != len(v) || r == utf8.RuneError {
		return 0, false
	}
	return r, true
}

// Options are an endpoint's options parsed by the connector's spec: every declared option has
// a value, its default when the endpoint does not set it. The getters panic on a name the spec
// does not declare with that type: that is a programming error in the connector.
type Options struct {
	spec *Spec
	vals map[string]any
	set  map[string]bool
}

// ParseOptions reads e's options (the URL query, which wins, then e.Options) by the spec.
// An undeclared option is refused unless the spec passes its URL query to a driver
// (DriverParams); a value of the wrong type is refused naming the option, the value and what
// is allowed; a required option that is not given (or given empty) is refused naming it.
func (s *Spec) ParseOptions(e Endpoint) (Options, error) {
	o := Options{spec: s, vals: make(map[string]any, len(s.Options)), set: map[string]bool{}}
	given := map[string]string{}
	var order []string
	for k, v := range e.Options {
		given[k] = v
		order = append(order, k)
	}
	pairs, err := QueryOptions(e.URL)
	if err != nil {
		return o, Errorf(CodeUsage, e.Redacted(), "percent-encode & # + and % in option values (%26 %23 %2B %25)", err)
	}
	for _, p := range pairs {
		if _, dup := given[p[0]]; !dup {
			order = append(order, p[0])
		}
		given[p[0]] = p[1]
	}
	slices.Sort(order)
	for _, k := range order {
		if err := s.CheckOption(k, given[k]); err != nil {
			return o, Errorf(CodeUsage, e.Redacted(), "run `datahub connectors` for the options of "+s.Name, err)
		}
	}
	for i := range s.Options {
		opt := &s.Options[i]
		v, ok := given[opt.Name]
		if !ok || (v == "" && opt.Kind() != OptString) {
			v = opt.Default
		} else {
			o.set[opt.Name] = true
		}
		if opt.Required && v == "" {
			hint := fmt.Sprintf("add %s=VALUE to the URL's query or %s under the endpoint's options", opt.Name, opt.Name)
			if opt.IsSecret() {
				hint = "set it under the endpoint's secrets: as secret:NAME or env:NAME"
			}
			return o, Errorf(CodeUsage, e.Redacted(), hint, &OptionError{Option: opt.Name, Problem: "required but not set"})
		}
		if v == "" && opt.Kind() != OptString && opt.Kind() != OptSecret {
			continue // no default: the getter gives the zero value
		}
		val, err := opt.Parse(v)
		if err != nil {
			return o, Errorf(CodeUsage, e.Redacted(), "", err)
		}
		o.vals[opt.Name] = val
	}
	return o, nil
}

// CheckOption checks one option by the spec: declared (or a driver parameter), and well
// typed. An empty value is "not set" and always allowed.
func (s *Spec) CheckOption(name, value string) error {
	opt := s.Option(name)
	if opt == nil {
		if s.DriverParams {
			return nil
		}
		names := s.OptionNames()
		if len(names) == 0 {
			return fmt.Errorf("connector %s has no option %q (it takes none)", s.Name, name)
		}
		return fmt.Errorf("connector %s has no option %q (options: %s)", s.Name, name, strings.Join(names, ", "))
	}
	if value == "" {
		return nil
	}
	_, err := opt.Parse(value)
	return err
}

// Option returns the declared option called name, nil when there is none.
func (s *Spec) Option(name string) *Option {
	for i := range s.Options {
		if s.Options[i].Name == name {
			return &s.Options[i]
		}
	}
	return nil
}

// OptionNames lists the declared options in declaration order.
func (s *Spec) OptionNames() []string {
	names := make([]string, len(s.Options))
	for i, o := range s.Options {
		names[i] = o.Name
	}
	return names
}

// checkOptions panics on a declaration that cannot work: a duplicate, an enum without values,
// a default of the wrong type.
func (s *Spec) checkOptions() {
	seen := map[string]bool{}
	for i := range s.Options {
		o := &s.Options[i]
		if o.Name == "" || seen[o.Name] {
			panic(fmt.Sprintf("connector %s: option %q is empty or declared twice", s.Name, o.Name))
		}
		seen[o.Name] = true
		if o.Kind() == OptEnum && len(o.Enum) == 0 {
			panic(fmt.Sprintf("connector %s: enum option %s has no values", s.Name, o.Name))
		}
		for a, e := range o.Aliases {
			if o.Kind() != OptEnum || !slices.Contains(o.Enum, e) {
				panic(fmt.Sprintf("connector %s: option %s: alias %q names %q, which is not one of its values", s.Name, o.Name, a, e))
			}
		}
		if o.Range != nil && (o.Kind() != OptInt || o.Range.Min > o.Range.Max) {
			panic(fmt.Sprintf("connector %s: option %s: a range is for an int option, from its min to its max", s.Name, o.Name))
		}
		if o.Required && o.Default != "" {
			panic(fmt.Sprintf("connector %s: option %s is required, so it has no default", s.Name, o.Name))
		}
		if o.Default != "" {
			if _, err := o.Parse(o.Default); err != nil {
				panic(fmt.Sprintf("connector %s: default: %v", s.Name, err))
			}
		}
	}
}

// QueryOptions returns the name-value pairs of raw's query in order, decoded as Option does.
func QueryOptions(raw string) ([][2]string, error) {
	_, rest, ok := strings.Cut(raw, "?")
	if !ok || rest == "" {
		return nil, nil
	}
	if i := strings.IndexByte(rest, '#'); i >= 0 {
		rest = rest[:i]
	}
	var out [][2]string
	for _, part := range strings.Split(rest, "&") {
		if part == "" {
			continue
		}
		k, v, _ := strings.Cut(part, "=")
		dk, err := url.QueryUnescape(k)
		if err != nil {
			return nil, fmt.Errorf("option name %q is not percent-encoded correctly", truncate(k, 40))
		}
		dv, err := url.QueryUnescape(v)
		if err != nil {
			return nil, fmt.Errorf("the value of option %s is not percent-encoded correctly", dk)
		}
		out = append(out, [2]string{dk, dv})
	}
	return out, nil
}

// IsSet reports whether the endpoint gave the option (rather than it taking its default).
func (o Options) IsSet(name string) bool { o.must(name, ""); return o.set[name] }

// String returns a string, path, secret or enum option ("" when unset without default).
func (o Options) String(name string) string {
	opt := o.must(name, "")
	switch opt.Kind() {
	case OptString, OptPath, OptSecret, OptEnum:
	default:
		panic(fmt.Sprintf("connector %s: option %s is a %s, not a string", o.spec.Name, name, opt.Kind()))
	}
	s, _ := o.vals[name].(string)
	return s
}

// Int returns an int option.
func (o Options) Int(name string) int64 { o.must(name, OptInt); n, _ := o.vals[name].(int64); return n }

// Bool returns a bool option.
func (o Options) Bool(name string) bool { o.must(name, OptBool); b, _ := o.vals[name].(bool); return b }

// Duration returns a duration option.
func (o Options) Duration(name string) time.Duration {
	o.must(name, OptDuration)
	d, _ := o.vals[name].(time.Duration)
	return d
}

// Size returns a size option in bytes.
func (o Options) Size(name string) int64 {
	o.must(name, OptSize)
	n, _ := o.vals[name].(int64)
	return n
}

// Char returns a char option (0 when unset without default).
func (o Options) Char(name string) rune { o.must(name, OptChar); r, _ := o.vals[name].(rune); return r }

func (o Options) must(name string, t OptionType) *Option {
	if o.spec == nil {
		panic("connector: Options used before ParseOptions")
	}
	opt := o.spec.Option(name)
	if opt == nil {
		panic(fmt.Sprintf("connector %s: no option %s declared", o.spec.Name, name))
	}
	if t != "" && opt.Kind() != t {
		panic(fmt.Sprintf("connector %s: option %s is a %s, not a %s", o.spec.Name, name, opt.Kind(), t))
	}
	return opt
}

// OptionsOf parses e's options by the spec of the connector that serves e.URL: what a
// connector's constructor calls when it does not keep its spec at hand.
func OptionsOf(e Endpoint) (Options, error) {
	s, err := Resolve(e.URL)
	if err != nil {
		return Options{}, err
	}
	return s.ParseOptions(e)
}
