package auth

import (
	"testing"

	"github.com/datahub-oss/datahub/internal/store/storetest"
)

// TestOIDCProfileStripped: an identity provider's display name and e-mail cannot be sent
// back to be fixed, so their control and invisible formatting characters are dropped rather
// than the login refused.
func TestOIDCProfileStripped(t *testing.T) {
	s, _ := newTestService(t, storetest.SQLite(t))
	u, err := s.upsertOIDCUser(t.Context(), "https://idp.example", "sub-1", []string{"mallory"},
		"Mallory\x1b]0;admin\x07 \u202eetah", "mal\u200blory@example.org", []Role{RoleViewer})
	if err != nil {
		t.Fatal(err)
	}
	if u.DisplayName != "Mallory]0;admin etah" || u.Email != "mallory@example.org" {
		t.Errorf("stored profile %q <%s>", u.DisplayName, u.Email)
	}
}
