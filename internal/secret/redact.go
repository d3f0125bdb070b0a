package secret

import (
	"net/url"
	"sort"
	"strings"
	"sync"

	"github.com/datahub-oss/datahub/connector"
)

// MinRedactLen is the shortest value a Redactor scrubs. Shorter values are ignored: scrubbing
// every "abc" or "42" would mangle logs and error messages while protecting nothing.
const MinRedactLen = 4

// Mask replaces a secret in redacted text, the same mask connector.Redact uses.
const Mask = "xxxxx"

// Redactor scrubs known secret values from text. It learns values through Add (a Service adds
// everything it decrypts or resolves). It is safe for concurrent use; a nil *Redactor redacts
// nothing.
type Redactor struct {
	mu     sync.RWMutex
	values map[string]struct{}
	rep    *strings.Replacer
}

// NewRedactor returns an empty Redactor.
func NewRedactor() *Redactor { return &Redactor{values: map[string]struct{}{}} }

// Add learns values to scrub, together with their URL-escaped forms (secrets often travel in
// URLs). Values shorter than MinRedactLen bytes are ignored.
func (r *Redactor) Add(values ...string) {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	changed := false
	for _, v := range values {
		if len(v) < MinRedactLen {
			continue
		}
		for _, form := range []string{v, url.QueryEscape(v), url.PathEscape(v)} {
			if _, ok := r.values[form]; !ok {
				r.values[form] = struct{}{}
				changed = true
			}
		}
	}
	if changed {
		r.rep = nil
	}
}

// Redact returns s with every known value replaced by "xxxxx".
func (r *Redactor) Redact(s string) string {
	rep := r.replacer()
	if rep == nil {
		return s
	}
	return rep.Replace(s)
}

// RedactBytes is Redact for bytes; b is not modified.
func (r *Redactor) RedactBytes(b []byte) []byte {
	rep := r.replacer()
	if rep == nil {
		return b
	}
	return []byte(rep.Replace(string(b)))
}

// RedactURL hides a URL's password and secret-looking query values (connector.Redact), then
// every known value.
func (r *Redactor) RedactURL(u string) string { return r.Redact(connector.Redact(u)) }

// Len is how many distinct forms the redactor scrubs.
func (r *Redactor) Len() int {
	if r == nil {
		return 0
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	return len(r.values)
}

func (r *Redactor) replacer() *strings.Replacer {
	if r == nil {
		return nil
	}
	r.mu.RLock()
	rep, n := r.rep, len(r.values)
	r.mu.RUnlock()
	if rep != nil || n == 0 {
		return rep
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.rep == nil {
		// Longest first: at one position the Replacer takes the first listed match, so a
		// secret that contains another is scrubbed whole.
		vals := make([]string, 0, len(r.values))
		for v := range r.values {
			vals = append(vals, v)
		}
		sort.Slice(vals, func(i, j int) bool {
			if len(vals[i]) != len(vals[j]) {
				return len(vals[i]) > len(vals[j])
			}
			return vals[i] < vals[j]
		})
		pairs := make([]string, 0, 2*len(vals))
		for _, v := range vals {
			pairs = append(pairs, v, Mask)
		}
		r.rep = strings.NewReplacer(pairs...)
	}
	return r.rep
}
