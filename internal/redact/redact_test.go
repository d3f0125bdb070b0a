package redact

import (
	"context"
	"strings"
	"testing"

	"github.com/datahub-oss/datahub/connector"
)

func TestSecretsAndScrub(t *testing.T) {
	connector.Register(connector.Spec{Name: "redacttest", Schemes: []string{"redacttest"},
		Options:   []connector.Option{{Name: "pin", Type: connector.OptSecret, Help: "the PIN"}, {Name: "table", Help: "a table"}},
		NewSource: func(context.Context, connector.Endpoint) (connector.Source, error) { return nil, nil }})
	tests := []struct {
		name, raw, text string
		leaks           []string
	}{
		{"password and token", "postgres://u:p%40ss@h/db?api_token=tok123", "failed for p@ss with tok123", []string{"p@ss", "tok123"}},
		{"escaped password", "postgres://u:p%40ss@h/db", "dsn postgres://u:p%40ss@h/db refused", []string{"p%40ss"}},
		{"declared secret", "redacttest://h/db?table=t&pin=839201", "pin 839201 refused for table t", []string{"839201"}},
		{"malformed URL", "postgres://u:s3cr3t@h:bad port/db", "parse postgres://u:s3cr3t@h", []string{"s3cr3t"}},
	}
	for _, tc := range tests {
		got := Scrub(tc.text, Secrets(tc.raw))
		for _, leak := range tc.leaks {
			if strings.Contains(got, leak) {
				t.Errorf("%s: %q left in %q (secrets %v)", tc.name, leak, got, Secrets(tc.raw))
			}
		}
	}
	if got := Secrets("redacttest://h/db?table=t&pin=839201"); len(got) != 1 || got[0] != "839201" {
		t.Errorf("Secrets = %v, want only the PIN", got)
	}
	if got := Secrets("a.csv"); got != nil {
		t.Errorf("a path has secrets %v", got)
	}
	if got := Scrub("ab and abc", []string{"ab"}); got != "ab and abc" {
		t.Errorf("a secret under 3 bytes is not scrubbed (it would shred the text): %q", got)
	}
}
