package catalog

import (
	"errors"
	"fmt"
	"sort"
	"strings"
)

// ErrNotFound is returned (wrapped) for a resource or version that does not exist.
var ErrNotFound = errors.New("not found")

// Error is one problem with one document. Its text names what is known of the place:
//
//	examples/x.yaml: document 2 (Integration "orders") line 14: spec.destination.mode: "sideways" is not one of append, replace, upsert
//
// Messages never carry secret values: URLs are redacted and secret-looking values are not
// repeated.
type Error struct {
	File  string
	Doc   int
	Kind  Kind
	Name  string
	Line  int
	Field string
	// Problem is what is wrong, without the location.
	Problem string
	// covers is another field the problem explains (see fieldErr.covers).
	covers string
}

func (e *Error) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		b.WriteString(": ")
	}
	place := make([]string, 0, 3)
	if e.Doc > 0 {
		place = append(place, fmt.Sprintf("document %d", e.Doc))
	}
	switch {
	case e.Kind != "" && e.Name != "" && e.Doc > 0:
		place = append(place, fmt.Sprintf("(%s %q)", e.Kind, e.Name))
	case e.Kind != "" && e.Name != "":
		place = append(place, fmt.Sprintf("%s %q", e.Kind, e.Name))
	case e.Kind != "" && e.Doc > 0:
		place = append(place, "("+string(e.Kind)+")")
	case e.Kind != "":
		place = append(place, string(e.Kind))
	}
	if e.Line > 0 {
		place = append(place, fmt.Sprintf("line %d", e.Line))
	}
	if len(place) > 0 {
		b.WriteString(strings.Join(place, " "))
		b.WriteString(": ")
	}
	if e.Field != "" {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	b.WriteString(e.Problem)
	return b.String()
}

// Errors is every problem found in a set of documents, in file and line order.
type Errors []*Error

func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// sorted orders the problems by file, document and line (stably, so problems on one line
// keep the order they were found in) and keeps the first maxErrors.
func (es Errors) sorted() Errors {
	sort.SliceStable(es, func(i, j int) bool {
		a, b := es[i], es[j]
		if a.File != b.File {
			return a.File < b.File
		}
		if a.Doc != b.Doc {
			return a.Doc < b.Doc
		}
		return a.Line < b.Line
	})
	if len(es) > maxErrors {
		es = es[:maxErrors]
	}
	return es
}

// err returns es as an error, nil when empty.
func (es Errors) err() error {
	if len(es) == 0 {
		return nil
	}
	return es
}

// maxErrors bounds the problems reported for one input, so that a wrong file does not bury
// the first (usually most useful) messages.
const maxErrors = 100

// quote renders a user value for a message: quoted, and cut short when long.
func quote(s string) string {
	const max = 60
	if len(s) > max {
		return fmt.Sprintf("%q...", s[:max])
	}
	return fmt.Sprintf("%q", s)
}

// notOneOf is the message for a value outside a fixed set, with a suggestion when one is close.
func notOneOf(got string, want []string) string {
	msg := fmt.Sprintf("%s is not one of %s", quote(got), strings.Join(want, ", "))
	if s := closest(got, want); s != "" {
		msg += fmt.Sprintf(" (did you mean %q?)", s)
	}
	return msg
}

// Closest returns the candidate nearest to s by edit distance (ignoring case), or "" when
// none is near enough to be a plausible typo: for "did you mean" in messages about names.
func Closest(s string, candidates []string) string { return closest(s, candidates) }

// closest returns the candidate nearest to s by edit distance (ignoring case), or "" when
// none is near enough to be a plausible typo.
func closest(s string, candidates []string) string {
	best, bestD := "", -1
	ls := strings.ToLower(s)
	for _, c := range candidates {
		d := editDistance(ls, strings.ToLower(c))
		if bestD < 0 || d < bestD {
			best, bestD = c, d
		}
	}
	limit := 2
	if n := len([]rune(s)) / 3; n > limit {
		limit = n
	}
	if bestD < 0 || bestD > limit || bestD >= len([]rune(s)) {
		return ""
	}
	return best
}

// editDistance is the Levenshtein distance between a and b, in runes.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	if len(ra) > 64 || len(rb) > 64 {
		// Typos are short; long inputs are not worth a quadratic comparison.
		if a == b {
			return 0
		}
		return len(ra) + len(rb)
	}
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}
