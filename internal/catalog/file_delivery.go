package catalog

import (
	"fmt"
	"slices"
	"strings"
	"unicode"
)

// DefaultFileDeliveryPath is the path template of a file delivery that gives none.
const DefaultFileDeliveryPath = "{topic}/{date}/{message_id}"

// FileDeliveryTokens are the tokens a file delivery's path template may use: the topic, the
// subject suffix, the message id, the stream sequence and the UTC date (YYYY-MM-DD) of the
// message. The delivery engine replaces each with its value made a safe file name.
var FileDeliveryTokens = []string{"{topic}", "{subject}", "{message_id}", "{seq}", "{date}"}

// fileDelivery checks a file delivery's own fields (subscriptionRefs checks the endpoint).
func (c *checker) fileDelivery(p string, d *SubscriptionDelivery) {
	if d.URL != "" || d.Topic != "" || d.Secret != "" || d.Table != "" {
		c.fail(p, "a file delivery has no url, secret, topic nor table")
	}
	c.deliveryEndpoint(p, d, "the file Endpoint whose folder files are written to")
	if d.Path != "" {
		if problem := checkFilePath(d.Path); problem != "" {
			c.fail(p+".path", "%s", problem)
		}
	}
}

// deliveryEndpoint checks the endpoint and env fields that table and file deliveries share.
func (c *checker) deliveryEndpoint(p string, d *SubscriptionDelivery, what string) {
	if d.Endpoint == "" {
		c.fail(p+".endpoint", "missing (%s)", what)
	} else if !namePattern.MatchString(d.Endpoint) {
		c.fail(p+".endpoint", "%s %s", quote(d.Endpoint), nameRule)
	}
	d.Env = strings.ToUpper(strings.TrimSpace(d.Env))
	if d.Env == "" {
		c.fail(p+".env", "missing (one of %s)", strings.Join(Environments, ", "))
	} else if !slices.Contains(Environments, d.Env) {
		c.fail(p+".env", "%s", notOneOf(d.Env, Environments))
	}
}

// checkFilePath checks a file delivery's path template: slash-separated, relative, no empty,
// "." or ".." element, braces only around known tokens, and {message_id} or {seq} somewhere
// so that each message has its own file. It returns the problem, "" when there is none.
func checkFilePath(tmpl string) string {
	var literal strings.Builder
	hasID := false
	for rest := tmpl; rest != ""; {
		i := strings.IndexAny(rest, "{}")
		if i < 0 {
			literal.WriteString(rest)
			break
		}
		literal.WriteString(rest[:i])
		if rest[i] == '}' {
			return fmt.Sprintf("%s: '}' without '{' (tokens are %s)", quote(tmpl), strings.Join(FileDeliveryTokens, ", "))
		}
		j := strings.IndexByte(rest[i:], '}')
		if j < 0 {
			return fmt.Sprintf("%s: '{' without '}' (tokens are %s)", quote(tmpl), strings.Join(FileDeliveryTokens, ", "))
		}
		tok := rest[i : i+j+1]
		if !slices.Contains(FileDeliveryTokens, tok) {
			return fmt.Sprintf("%s: %s", quote(tmpl), notOneOf(tok, FileDeliveryTokens))
		}
		hasID = hasID || tok == "{message_id}" || tok == "{seq}"
		// A token always stands for a non-empty, safe name: "x" keeps the checks below honest.
		literal.WriteString("x")
		rest = rest[i+j+1:]
	}
	lit := literal.String()
	switch {
	case strings.HasPrefix(lit, "/"):
		return fmt.Sprintf("%s: must be relative to the endpoint's folder", quote(tmpl))
	case strings.ContainsRune(lit, '\\'):
		return fmt.Sprintf("%s: separate folders with '/'", quote(tmpl))
	case strings.ContainsFunc(lit, unicode.IsControl):
		return fmt.Sprintf("%s: control characters are not allowed", quote(tmpl))
	case !hasID:
		return fmt.Sprintf("%s: use {message_id} or {seq} so that each message has its own file", quote(tmpl))
	}
	for _, el := range strings.Split(lit, "/") {
		if el == "" || el == "." || el == ".." {
			return fmt.Sprintf("%s: empty, . and .. path elements are not allowed", quote(tmpl))
		}
	}
	return ""
}
