package connector

import (
	"context"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"sync"
)

// Endpoint is what a connector is opened with: the URL as given (it may carry a password;
// never print it, use Redacted) and the settings that apply to every connector.
type Endpoint struct {
	URL string
	// Format overrides the format a file connector would take from the path's extension.
	Format string
	// BatchSize is the number of records per batch a source should aim for (0: its default).
	BatchSize int
	// Root confines file paths: when set, a path outside it (through .. or a symlink) is refused.
	Root string
	// Options are connector options given outside the URL; the URL's query wins over them.
	Options map[string]string
}

// Redacted is the endpoint's URL with its password replaced, safe to show and store.
func (e Endpoint) Redacted() string { return Redact(e.URL) }

// Option returns the named option from the URL's query or Options ("" when absent).
//
// The query is split on '&' only (a ';' in SQL is data, unlike in url.ParseQuery) and each
// value decoded as a form value: "+" is a space, so a plus sign in ?query= SQL is written %2B,
// and '&' and '#' inside a value are written %26 and %23.
func (e Endpoint) Option(name string) string {
	if v, ok := QueryOption(e.URL, name); ok {
		return v
	}
	return e.Options[name]
}

// QueryOption returns the value of the named parameter in raw's query, decoded as Option does.
func QueryOption(raw, name string) (string, bool) {
	_, rest, ok := strings.Cut(raw, "?")
	if !ok {
		return "", false
	}
	for _, part := range strings.Split(rest, "&") {
		k, v, _ := strings.Cut(part, "=")
		if dk, err := url.QueryUnescape(k); err == nil {
			k = dk
		}
		if k != name {
			continue
		}
		if dv, err := url.QueryUnescape(v); err == nil {
			v = dv
		}
		return v, true
	}
	return "", false
}

// Option documents one setting of a connector. The spec drives validation, `datahub
// connectors` and the documentation.
type Option struct {
	Name string `json:"name"`
	// Type is how the value is parsed and checked (string when empty; see OptionType).
	Type    OptionType `json:"type,omitempty"`
	Help    string     `json:"help"`
	Default string     `json:"default,omitempty"`
	// Required options must be given (in the URL's query or the endpoint's options, or its
	// secrets for a secret): ParseOptions refuses an endpoint without one. A required option
	// has no default.
	Required bool `json:"required,omitempty"`
	// Secret options are set through the Endpoint's secrets: references and never shown;
	// the same as Type secret.
	Secret bool `json:"secret,omitempty"`
	// Enum lists the allowed values of an enum option.
	Enum []string `json:"enum,omitempty"`
	// Aliases are other spellings of an enum's values that the option also accepts and reads
	// as the value they map to, e.g. "1" for "true" where a driver always took both.
	Aliases map[string]string `json:"aliases,omitempty"`
	// Range bounds the value of an int option (nil: any whole number).
	Range *IntRange `json:"range,omitempty"`
}

// Spec declares a connector.
type Spec struct {
	Name string `json:"name"`
	// Schemes are the URL schemes the connector serves (without ':').
	Schemes []string `json:"schemes"`
	Summary string   `json:"summary"`
	// Example is a sample URL shown in help.
	Example string   `json:"example,omitempty"`
	Options []Option `json:"options,omitempty"`
	// Paths makes this the connector for URLs without a scheme (plain file paths).
	Paths bool `json:"paths,omitempty"`
	// DriverParams: the URL query may carry parameters of the connector's driver besides the
	// declared options (PostgreSQL's application_name, say); they are passed through unchecked.
	DriverParams bool `json:"driver_params,omitempty"`

	// NewStore opens the endpoint as an object store (a folder, a bucket), for file triggers
	// and file deliveries. The store is closed with the returned func.
	NewStore func(ctx context.Context, e Endpoint) (Store, func() error, error) `json:"-"`

	// ListTables lists the tables of a database endpoint (its table or query option, if any,
	// ignored), for `datahub ls`; nil for connectors without tables.
	ListTables func(ctx context.Context, e Endpoint) ([]TableInfo, error) `json:"-"`

	NewSource func(ctx context.Context, e Endpoint) (Source, error) `json:"-"`
	NewSink   func(ctx context.Context, e Endpoint) (Sink, error)   `json:"-"`
}

// CanRead and CanWrite report the directions the connector supports.
func (s *Spec) CanRead() bool  { return s.NewSource != nil }
func (s *Spec) CanWrite() bool { return s.NewSink != nil }

// CanStore reports whether the connector opens object stores.
func (s *Spec) CanStore() bool { return s.NewStore != nil }

var (
	regMu    sync.RWMutex
	byName   = map[string]*Spec{}
	byScheme = map[string]*Spec{}
	pathSpec *Spec
)

// Register adds a connector. It panics on a duplicate name or scheme, or a spec without a
// name or direction: these are programming errors found at start-up.
func Register(s Spec) {
	regMu.Lock()
	defer regMu.Unlock()
	if s.Name == "" || (s.NewSource == nil && s.NewSink == nil && s.NewStore == nil) {
		panic(fmt.Sprintf("connector: incomplete spec %q", s.Name))
	}
	s.checkOptions()
	if _, dup := byName[s.Name]; dup {
		panic("connector: duplicate connector " + s.Name)
	}
	sp := &s
	for _, sc := range s.Schemes {
		sc = strings.ToLower(sc)
		if _, dup := byScheme[sc]; dup {
			panic("connector: duplicate scheme " + sc)
		}
		byScheme[sc] = sp
	}
	if s.Paths {
		if pathSpec != nil {
			panic("connector: two connectors claim plain paths")
		}
		pathSpec = sp
	}
	byName[s.Name] = sp
}

// Specs returns the registered connectors sorted by name.
func Specs() []*Spec {
	regMu.RLock()
	defer regMu.RUnlock()
	out := make([]*Spec, 0, len(byName))
	for _, s := range byName {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Lookup returns the connector registered under name.
func Lookup(name string) (*Spec, bool) {
	regMu.RLock()
	defer regMu.RUnlock()
	s, ok := byName[name]
	return s, ok
}

// Scheme returns the URL scheme of raw, or "" for a plain path. A single letter before ':'
// is a Windows drive, not a scheme.
func Scheme(raw string) string {
	i := strings.IndexByte(raw, ':')
	if i < 2 {
		return ""
	}
	for j, c := range raw[:i] {
		alpha := (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
		other := (c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.'
		if !alpha && (j == 0 || !other) {
			return ""
		}
	}
	return strings.ToLower(raw[:i])
}

// Resolve finds the connector that serves raw.
func Resolve(raw string) (*Spec, error) {
	sc := Scheme(raw)
	regMu.RLock()
	s, ok := byScheme[sc]
	if sc == "" {
		s, ok = pathSpec, pathSpec != nil
	}
	known := make([]string, 0, len(byScheme))
	for k := range byScheme {
		known = append(known, k)
	}
	regMu.RUnlock()
	// Redact reads the registry too: the lock is released before the errors are made.
	switch {
	case ok:
		return s, nil
	case sc == "":
		return nil, Errorf(CodeUsage, Redact(raw), "", fmt.Errorf("no connector handles plain paths"))
	}
	sort.Strings(known)
	return nil, Errorf(CodeUsage, Redact(raw), "run `datahub connectors` for the list",
		fmt.Errorf("no connector for URL scheme %q (known: %s)", sc, strings.Join(known, ", ")))
}

// SecretOption reports whether the connector serving URL scheme sc declares the option name
// as a secret, so that its value is redacted and scrubbed like a password.
func SecretOption(sc, name string) bool {
	regMu.RLock()
	s := byScheme[strings.ToLower(sc)]
	regMu.RUnlock()
	if s == nil {
		return false
	}
	o := s.Option(name)
	return o != nil && o.IsSecret()
}

// SecretParam reports whether query parameter k of a URL with scheme sc holds a secret: by
// its name (password, secret, token, key, sig) or by its connector's declaration. Redact
// masks the values of exactly these.
func SecretParam(sc, k string) bool {
	lk := strings.ToLower(k)
	if lk != "key_columns" {
		for _, w := range []string{"password", "passwd", "secret", "token", "key", "sig"} {
			if strings.Contains(lk, w) {
				return true
			}
		}
	}
	return SecretOption(sc, k)
}

// NewSource resolves e.URL and opens a source object (not yet Open).
func NewSource(ctx context.Context, e Endpoint) (Source, error) {
	s, err := Resolve(e.URL)
	if err != nil {
		return nil, err
	}
	if s.NewSource == nil {
		return nil, Errorf(CodeUnsupported, e.Redacted(), "", fmt.Errorf("connector %s cannot be read from", s.Name))
	}
	return s.NewSource(ctx, e)
}

// NewSink resolves e.URL and makes a sink object (not yet Open).
func NewSink(ctx context.Context, e Endpoint) (Sink, error) {
	s, err := Resolve(e.URL)
	if err != nil {
		return nil, err
	}
	if s.NewSink == nil {
		return nil, Errorf(CodeUnsupported, e.Redacted(), "", fmt.Errorf("connector %s cannot be written to", s.Name))
	}
	return s.NewSink(ctx, e)
}

// OpenStore resolves e.URL (e.Root, when set, names the store's folder) and opens it as an
// object store. The caller checks the endpoint against the hub's policy first.
func OpenStore(ctx context.Context, e Endpoint) (Store, func() error, error) {
	raw := e.URL
	if e.Root != "" {
		raw = e.Root
	}
	s, err := Resolve(raw)
	if err != nil {
		return nil, nil, err
	}
	if s.NewStore == nil {
		return nil, nil, Errorf(CodeUnsupported, Redact(raw), "", fmt.Errorf("connector %s is not an object store", s.Name))
	}
	return s.NewStore(ctx, e)
}

// ListTables lists the tables of the database e names.
func ListTables(ctx context.Context, e Endpoint) ([]TableInfo, error) {
	s, err := Resolve(e.URL)
	if err != nil {
		return nil, err
	}
	if s.ListTables == nil {
		return nil, Errorf(CodeUnsupported, e.Redacted(), "", fmt.Errorf("connector %s has no tables to list", s.Name))
	}
	return s.ListTables(ctx, e)
}

// Redact replaces the password of a URL (user:password@) and the values of query parameters
// that look secret (password, secret, token, key, sig) with "xxxxx".
func Redact(raw string) string {
	sc := Scheme(raw)
	if sc == "" {
		return raw
	}
	rest := raw[len(sc)+1:]
	if strings.HasPrefix(rest, "//") {
		auth := rest[2:]
		end := strings.IndexAny(auth, "/?#")
		if end < 0 {
			end = len(auth)
		}
		if at := strings.LastIndexByte(auth[:end], '@'); at >= 0 {
			if colon := strings.IndexByte(auth[:at], ':'); colon >= 0 {
				raw = raw[:len(sc)+3] + auth[:colon] + ":xxxxx" + auth[at:]
			}
		}
	}
	base, query, ok := strings.Cut(raw, "?")
	if !ok {
		return raw
	}
	parts := strings.Split(query, "&")
	for i, p := range parts {
		k, _, _ := strings.Cut(p, "=")
		dk, err := url.QueryUnescape(k)
		if err != nil {
			dk = k
		}
		if SecretParam(sc, dk) {
			parts[i] = k + "=xxxxx"
		}
	}
	return base + "?" + strings.Join(parts, "&")
}
