package auth

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/datahub-oss/datahub/internal/outbound"
	"github.com/datahub-oss/datahub/internal/store/storetest"
)

// TestOIDCGuard: the issuer's own host and port are allowed (the hub's settings name them),
// but the key set and token endpoint the discovery document names pass the outbound guard:
// another spelling of a loopback address, or the metadata service, is refused.
func TestOIDCGuard(t *testing.T) {
	db := storetest.SQLite(t)
	s, _ := newTestService(t, db)
	for _, tc := range []struct {
		name string
		set  func(p *testProvider)
		want string
	}{
		{"keys on another spelling of the issuer's host", func(p *testProvider) {
			p.jwksURL = strings.Replace(p.srv.URL, "127.0.0.1", "localhost", 1) + "/jwks"
		}, "refused (loopback)"},
		{"token endpoint at the metadata service", func(p *testProvider) {
			p.tokenURL = "http://169.254.169.254/token"
		}, "outbound address 169.254.169.254:80 refused (link-local)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newTestProvider(t)
			p.set(tc.set)
			o := newTestOIDC(t, s, p)
			_, err := login(t, o, p, "")
			if !errors.Is(err, outbound.ErrRefused) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("login: %v, want a refusal %q", err, tc.want)
			}
		})
	}
}

// TestOIDCErrorsAreBounded: an issuer answering an error page does not get its whole body,
// nor its control characters, into the error (which the server logs).
func TestOIDCErrorsAreBounded(t *testing.T) {
	db := storetest.SQLite(t)
	s, _ := newTestService(t, db)
	page := "\x1b[2J" + strings.Repeat("SECRET-PAGE ", 200)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, page, http.StatusInternalServerError)
	}))
	defer srv.Close()
	_, err := NewOIDC(t.Context(), s, OIDCConfig{IssuerURL: srv.URL, ClientID: "x", RedirectURL: "http://x"})
	if err == nil {
		t.Fatal("accepted")
	}
	msg := err.Error()
	if len(msg) > 600 || strings.Contains(msg, "\x1b") || !strings.Contains(msg, "…[cut]") || !strings.Contains(msg, "500") {
		t.Fatalf("error of %d bytes: %q", len(msg), msg)
	}
}
