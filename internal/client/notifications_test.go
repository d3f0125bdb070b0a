package client_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/datahub-oss/datahub/internal/client"
)

func TestNotifications(t *testing.T) {
	var query string
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/v1/notifications" {
			http.NotFound(w, r)
			return
		}
		query = r.URL.RawQuery
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"items":[{"id":"n1","time":"2026-01-31T08:00:00Z","rule":"fails","channel":"email#0","channelType":"email",
			"recipients":["a@example.org"],"eventType":"digest","integration":"orders","status":"digested","attempts":1,"events":47}],"next":"c2"}`))
	}))
	t.Cleanup(hs.Close)
	c := newClient(t, hs.URL, "dht_test")
	p, err := c.Notifications(context.Background(), client.NotificationFilter{Status: "digested", Rule: "fails", Integration: "orders", Limit: 5, Cursor: "c1"})
	if err != nil {
		t.Fatal(err)
	}
	if query != "cursor=c1&integration=orders&limit=5&rule=fails&status=digested" {
		t.Errorf("query %q", query)
	}
	if len(p.Items) != 1 || p.Next != "c2" || p.Items[0].Events != 47 || p.Items[0].Recipients[0] != "a@example.org" || p.Items[0].Time.IsZero() {
		t.Fatalf("%+v", p)
	}
}
