package api

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/datahub-oss/datahub/internal/bus"
	"github.com/datahub-oss/datahub/internal/event"
)

// TestResourceChangedEvents: a committed apply or delete publishes resource.changed; a dry
// run and an unchanged document publish nothing.
func TestResourceChangedEvents(t *testing.T) {
	var b *bus.Bus
	h := newHub(t, false, func(d *Deps, _ string) { d.Bus = d.Runs.Bus; b = d.Runs.Bus })
	admin := h.admin()
	doc := "apiVersion: datahub/v1\nkind: System\nmetadata: {name: crm, labels: {domain: sales}}\nspec: {owner: team}\n"
	h.must(http.StatusOK, h.do(http.MethodPost, BasePath+"/apply?dry_run=true", admin, doc, "application/yaml"), "dry run")
	h.must(http.StatusOK, h.do(http.MethodPost, BasePath+"/apply", admin, doc, "application/yaml"), "apply")
	h.must(http.StatusOK, h.do(http.MethodPost, BasePath+"/apply", admin, doc, "application/yaml"), "apply unchanged")
	h.must(http.StatusOK, h.do(http.MethodDelete, BasePath+"/resources/system/crm", admin, nil), "delete")

	msgs, err := b.ReadEvents(context.Background(), "resource.>", 10, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range msgs {
		e, err := event.Unmarshal(m.Data)
		if err != nil {
			t.Fatal(err)
		}
		if e.Type != event.ResourceChanged || e.Resource != "System/crm" || e.Actor == "" {
			t.Errorf("event %+v", e)
		}
		got = append(got, e.Object)
	}
	if len(got) != 2 || got[0] != "created" || got[1] != "deleted" {
		t.Fatalf("resource.changed events %v, want [created deleted]", got)
	}
}
