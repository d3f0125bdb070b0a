package cli

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/datahub-oss/datahub/internal/client"
)

func TestNotificationsList(t *testing.T) {
	var query string
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/v1/notifications" || r.Header.Get("Authorization") != "Bearer dht_test" {
			http.NotFound(w, r)
			return
		}
		query = r.URL.RawQuery
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"items":[
			{"id":"n2","time":"2026-01-31T08:01:00Z","rule":"fails","channel":"email#0","channelType":"email","recipients":["a@example.org","b@example.org"],
			 "eventType":"run.failed","integration":"orders","status":"digested","attempts":1,"events":47},
			{"id":"n1","time":"2026-01-31T08:00:00Z","rule":"fails","channel":"hook","channelType":"webhook","recipients":["hooks.example.org"],
			 "eventType":"run.failed","integration":"orders","status":"failed","error":"POST: 500\nInternal","attempts":3,"events":1}],"next":"c2"}`))
	}))
	t.Cleanup(hs.Close)
	t.Setenv("DATAHUB_SERVER", hs.URL)
	t.Setenv("DATAHUB_TOKEN", "dht_test")

	out, errOut := remoteRun(t, 0, "notifications", "list", "--status", "digested", "--rule", "fails", "--integration", "orders", "--limit", "2")
	if query != "integration=orders&limit=2&rule=fails&status=digested" {
		t.Errorf("query %q", query)
	}
	if !strings.HasPrefix(out, "AT") || !strings.Contains(out, "a@example.org,b@example.org") || !strings.Contains(out, "POST: 500 Internal") ||
		!strings.Contains(out, "47") || !strings.Contains(errOut, "--cursor 'c2'") {
		t.Errorf("table:\n%s\nstderr: %s", out, errOut)
	}
	out, _ = remoteRun(t, 0, "notifications", "list", "-o", "json")
	var p client.NotificationPage
	if err := json.Unmarshal([]byte(out), &p); err != nil || len(p.Items) != 2 || p.Items[1].Status != "failed" {
		t.Errorf("-o json: %v\n%s", err, out)
	}
	remoteRun(t, ExitUsage, "notifications", "list", "--status", "lost")
}
