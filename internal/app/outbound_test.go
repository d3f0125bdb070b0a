package app_test

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/datahub-oss/datahub/internal/config"
)

// TestApplyChecksOutboundURLs: the server refuses, at apply, a Subscription or notification
// URL whose host is a literal address the outbound guard refuses and no receiver lives at, or
// a loopback address in another spelling: a 422 naming the field. Plain loopback passes
// apply (the running server's allow list decides when it dials), and so does an address the
// allow list allows.
func TestApplyChecksOutboundURLs(t *testing.T) {
	cfg := config.Default()
	cfg.Data, cfg.Addr = t.TempDir(), "127.0.0.1:0"
	cfg.Outbound.Allow = []string{"10.20.0.0/16"}
	h, _ := start(t, cfg)
	token, _ := os.ReadFile(filepath.Join(cfg.Data, "admin.token"))
	c := client{t: t, base: "http://" + h.Addr, token: strings.TrimSpace(string(token))}
	doc := func(url string) []byte {
		return []byte(`apiVersion: datahub/v1
kind: Topic
metadata: {name: t1}
spec: {owner: ops}
---
apiVersion: datahub/v1
kind: Subscription
metadata: {name: s1}
spec:
  topic: t1
  delivery: {type: http, url: "` + url + `"}
---
apiVersion: datahub/v1
kind: NotificationRule
metadata: {name: r1}
spec:
  match: {types: [run.failed]}
  channels:
    - type: slack
      url: "` + url + `/services/T/B/x"
`)
	}
	for _, u := range []string{"http://169.254.169.254", "http://[::ffff:169.254.169.254]", "http://0x7f000001:8080", "http://2130706433"} {
		code, body := c.do("POST", "/api/v1/apply?dry_run=true", "application/yaml", doc(u))
		if code != http.StatusUnprocessableEntity || !strings.Contains(string(body), `"spec.delivery.url"`) ||
			!strings.Contains(string(body), `"spec.channels[0].url"`) || !strings.Contains(string(body), "allow it with outbound.allow") {
			t.Errorf("%s: %d %s", u, code, body)
		}
	}
	for _, u := range []string{"http://127.0.0.1:8080", "http://localhost:8080", "https://hooks.example.org", "http://10.20.1.2", "http://0x0a140102"} {
		if code, body := c.do("POST", "/api/v1/apply?dry_run=true", "application/yaml", doc(u)); code != http.StatusOK {
			t.Errorf("%s: %d %s", u, code, body)
		}
	}
}
