package api

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/datahub-oss/datahub/internal/auth"
	"github.com/datahub-oss/datahub/internal/event"
	"github.com/datahub-oss/datahub/internal/notify"
	"github.com/datahub-oss/datahub/internal/outbound"
)

func TestListNotifications(t *testing.T) {
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	t.Cleanup(hook.Close)
	t.Setenv("API_TEST_HOOK_KEY", "k")
	h := newHub(t, false)
	// A second service on the hub's store writes the log the API's service reads.
	rules := notify.StaticRules{{Name: "fails", Enabled: true, Match: notify.Match{Types: []event.Type{event.RunFailed}},
		Channels: []notify.Channel{{Type: notify.ChannelWebhook, URL: hook.URL, Secret: "env:API_TEST_HOOK_KEY"}},
		Throttle: notify.Throttle{Max: 1}}}
	loopback, err := outbound.New([]string{"127.0.0.0/8"}) // the hook listens on loopback
	if err != nil {
		t.Fatal(err)
	}
	ns := notify.New(h.db, notify.Options{Rules: rules, Guard: loopback})
	for range 3 {
		e := event.New(event.RunFailed)
		e.Integration = "orders"
		if err := ns.Handle(context.Background(), e); err != nil {
			t.Fatal(err)
		}
	}
	var all itemsJSON[notify.Record]
	h.must(http.StatusOK, h.do(http.MethodGet, BasePath+"/notifications", h.tokens[auth.RoleViewer], nil), "list").json(t, &all)
	if len(all.Items) != 3 || all.Next != "" {
		t.Fatalf("list: %+v", all)
	}
	var held itemsJSON[notify.Record]
	h.must(http.StatusOK, h.do(http.MethodGet, BasePath+"/notifications?status=suppressed&integration=orders&limit=1", h.admin(), nil), "suppressed").json(t, &held)
	if len(held.Items) != 1 || held.Items[0].Status != notify.StatusSuppressed || held.Next == "" {
		t.Fatalf("suppressed page: %+v", held)
	}
	var rest itemsJSON[notify.Record]
	h.must(http.StatusOK, h.do(http.MethodGet, BasePath+"/notifications?status=suppressed&limit=1&cursor="+held.Next, h.admin(), nil), "next page").json(t, &rest)
	if len(rest.Items) != 1 || rest.Items[0].ID == held.Items[0].ID {
		t.Fatalf("second page: %+v", rest)
	}
	h.must(http.StatusUnprocessableEntity, h.do(http.MethodGet, BasePath+"/notifications?cursor=!!", h.admin(), nil), "bad cursor")
	h.must(http.StatusUnprocessableEntity, h.do(http.MethodGet, BasePath+"/notifications?status=lost", h.admin(), nil), "bad status")
	h.must(http.StatusUnauthorized, h.do(http.MethodGet, BasePath+"/notifications", "", nil), "no token")
}
