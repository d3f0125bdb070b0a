package catalog

import (
	"fmt"
	"strings"
)

// requirement is one term of a label selector.
type requirement struct {
	key, value string
	// op is "=", "!=", "exists" or "!exists".
	op string
}

type selector []requirement

// parseSelector reads a label selector: comma-separated terms k=v (or k==v), k!=v, k (the
// label is set) and !k (it is not). A k!=v term also matches resources without the label.
func parseSelector(s string) (selector, error) {
	var sel selector
	for _, term := range strings.Split(s, ",") {
		t := strings.TrimSpace(term)
		if t == "" {
			continue
		}
		var r requirement
		switch {
		case strings.Contains(t, "!="):
			k, v, _ := strings.Cut(t, "!=")
			r = requirement{key: strings.TrimSpace(k), value: strings.TrimSpace(v), op: "!="}
		case strings.Contains(t, "="):
			k, v, _ := strings.Cut(t, "=")
			r = requirement{key: strings.TrimSpace(k), value: strings.TrimSpace(strings.TrimPrefix(v, "=")), op: "="}
		case strings.HasPrefix(t, "!"):
			r = requirement{key: strings.TrimSpace(t[1:]), op: "!exists"}
		default:
			r = requirement{key: t, op: "exists"}
		}
		if !labelKeyPattern.MatchString(r.key) || !labelValuePattern.MatchString(r.value) {
			return nil, fmt.Errorf("label selector %s: want comma-separated key=value, key!=value, key or !key", quote(s))
		}
		sel = append(sel, r)
	}
	return sel, nil
}

func (sel selector) matches(labels map[string]string) bool {
	for _, r := range sel {
		v, ok := labels[r.key]
		switch r.op {
		case "=":
			if !ok || v != r.value {
				return false
			}
		case "!=":
			if ok && v == r.value {
				return false
			}
		case "exists":
			if !ok {
				return false
			}
		case "!exists":
			if ok {
				return false
			}
		}
	}
	return true
}
