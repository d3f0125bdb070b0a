// Package redact holds the hub's helpers that keep secrets out of text it did not write
// itself (a driver's error, a log line): the secrets of an endpoint URL, and scrubbing them.
// They were in the public SDK (connector.Secrets, connector.Scrub); connectors redact their
// endpoint with connector.Endpoint.Redacted and need neither.
package redact

import (
	"net/url"
	"strings"

	"github.com/datahub-oss/datahub/connector"
)

// Secrets returns the secret strings in raw (the URL password and secret-looking query
// values), decoded, so callers can scrub them from text they did not produce themselves.
func Secrets(raw string) []string {
	var out []string
	if connector.Scheme(raw) == "" {
		return nil
	}
	u, err := url.Parse(raw)
	if err != nil {
		// Fall back to the text between "user:" and "@" so a malformed URL still gets scrubbed.
		if i := strings.Index(raw, "://"); i >= 0 {
			auth := raw[i+3:]
			if at := strings.LastIndexByte(auth, '@'); at >= 0 {
				if c := strings.IndexByte(auth[:at], ':'); c >= 0 && c+1 < at {
					out = append(out, auth[c+1:at])
				}
			}
		}
		return out
	}
	if u.User != nil {
		if p, ok := u.User.Password(); ok && p != "" {
			out = append(out, p)
			if esc := url.QueryEscape(p); esc != p {
				out = append(out, esc)
			}
		}
	}
	for k, vs := range u.Query() {
		if connector.SecretParam(u.Scheme, k) {
			for _, v := range vs {
				if v != "" {
					out = append(out, v)
				}
			}
		}
	}
	return out
}

// Scrub replaces every secret in s with "xxxxx".
func Scrub(s string, secrets []string) string {
	for _, sec := range secrets {
		if len(sec) >= 3 {
			s = strings.ReplaceAll(s, sec, "xxxxx")
		}
	}
	return s
}
