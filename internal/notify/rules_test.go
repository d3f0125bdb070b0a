package notify

import (
	"context"
	"testing"
	"time"

	"github.com/datahub-oss/datahub/internal/catalog"
	"github.com/datahub-oss/datahub/internal/event"
	"github.com/datahub-oss/datahub/internal/store/storetest"
)

const ruleDocs = `
apiVersion: datahub/v1
kind: NotificationRule
metadata: {name: failures}
spec:
  match: {types: [run.failed], integrations: ["orders-*"]}
  channels:
    - {type: email, to: [owner, system-contacts]}
    - {name: hook, type: webhook, url: "https://hooks.example.org/x", secret: "secret:hook-key"}
  throttle: {window: 3s, max: 2}
---
apiVersion: datahub/v1
kind: NotificationRule
metadata: {name: off}
spec:
  enabled: false
  channels: [{type: email, to: [ops@example.org]}]
`

func TestCatalogRules(t *testing.T) {
	ctx := context.Background()
	db := storetest.SQLite(t)
	cat := catalog.New(db, catalog.Options{})
	docs, err := catalog.Parse([]byte(ruleDocs), "rules.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cat.Apply(ctx, docs, catalog.ApplyOptions{Actor: "test"}); err != nil {
		t.Fatal(err)
	}
	clk := newClock()
	src := &CatalogRules{Catalog: cat, Now: clk.Now}
	rules, err := src.Rules(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(rules) != 1 {
		t.Fatalf("want the one enabled rule, got %+v", rules)
	}
	r := rules[0]
	if r.Name != "failures" || !r.Enabled || len(r.Channels) != 2 || time.Duration(r.Throttle.Window) != 3*time.Second ||
		r.Throttle.Max != 2 || r.Channels[1].Secret != "secret:hook-key" || r.channelName(1) != "hook" {
		t.Fatalf("rule %+v", r)
	}
	e := event.New(event.RunFailed)
	e.Integration = "orders-sync"
	if !r.Matches(e) {
		t.Error("the rule does not match a failed run of orders-sync")
	}
	// Cached: a deleted rule is still served within the TTL, then no longer.
	if _, err := cat.Delete(ctx, catalog.KindNotificationRule, "failures", "test"); err != nil {
		t.Fatal(err)
	}
	if rules, _ := src.Rules(ctx); len(rules) != 1 {
		t.Errorf("within the TTL: %d rules", len(rules))
	}
	clk.Advance(DefaultRulesTTL)
	if rules, _ := src.Rules(ctx); len(rules) != 0 {
		t.Errorf("after the TTL: %d rules", len(rules))
	}
}
