package api

import (
	"net/http"
	"strings"
	"testing"
)

// TestControlCharactersInNames is finding 13 of issue 8: user names, display names, e-mail
// addresses and token names holding control or invisible formatting characters are refused
// with a 422 naming the field, and the message does not echo the character.
func TestControlCharactersInNames(t *testing.T) {
	t.Parallel()
	h := newHub(t, false)
	tests := []struct {
		name, path string
		body       map[string]any
		field      string
	}{
		{"user name with ESC", "/users", map[string]any{"name": "eve\x1b[2J", "roles": []string{"viewer"}}, "user name"},
		{"user name with RLO", "/users", map[string]any{"name": "eve\u202egpj", "roles": []string{"viewer"}}, "user name"},
		{"display name with a title sequence", "/users", map[string]any{"name": "eve1", "display_name": "Eve\x1b]0;pwned\x07", "roles": []string{"viewer"}}, "display_name"},
		{"display name with RLO", "/users", map[string]any{"name": "eve2", "display_name": "Eve \u202enimda", "roles": []string{"viewer"}}, "display_name"},
		{"display name with a newline", "/users", map[string]any{"name": "eve3", "display_name": "Eve\nadmin", "roles": []string{"viewer"}}, "display_name"},
		{"email with C1 CSI", "/users", map[string]any{"name": "eve4", "email": "eve\u009b31m@example.org", "roles": []string{"viewer"}}, "email"},
		{"email with a zero-width space", "/users", map[string]any{"name": "eve5", "email": "ad\u200bmin@example.org", "roles": []string{"viewer"}}, "email"},
		{"token name with ESC", "/tokens", map[string]any{"name": "ci\x1b[1A\x1b[2Kdeploy"}, "token name"},
		{"token name with DEL", "/tokens", map[string]any{"name": "ci\x7f"}, "token name"},
		{"token name with an isolate", "/tokens", map[string]any{"name": "ci\u2066x\u2069"}, "token name"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := h.do(http.MethodPost, BasePath+tc.path, h.admin(), tc.body)
			if r.status != http.StatusUnprocessableEntity && r.status != http.StatusBadRequest {
				t.Fatalf("%d %s, want 422", r.status, r)
			}
			if !strings.Contains(r.String(), tc.field) {
				t.Errorf("the refusal does not name %s: %s", tc.field, r)
			}
			if strings.ContainsAny(string(r.body), "\x1b\u202e\u009b\u200b\x7f\u2066") {
				t.Errorf("the refusal echoes the character: %q", r.body)
			}
		})
	}
	// What people's names look like is accepted.
	h.must(http.StatusCreated, h.do(http.MethodPost, BasePath+"/users", h.admin(),
		map[string]any{"name": "zoe", "display_name": "Zoë Ångström-山田 👩\u200d💻", "email": "zoe@example.org", "roles": []string{"viewer"}}), "a printable profile")
	h.must(http.StatusCreated, h.do(http.MethodPost, BasePath+"/tokens", h.admin(), map[string]any{"name": "CI – déploiement"}), "a printable token name")
}
