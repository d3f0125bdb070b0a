package catalog_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/datahub-oss/datahub/internal/catalog"
	"github.com/datahub-oss/datahub/internal/store"
	"github.com/datahub-oss/datahub/internal/store/storetest"
)

// integrityDocs: a topic read by a subscription, republished to by another, and read by an
// event trigger; a table delivery and a file delivery on two endpoints.
const integrityDocs = `apiVersion: datahub/v1
kind: System
metadata: {name: sys}
spec: {owner: team}
---
apiVersion: datahub/v1
kind: Endpoint
metadata: {name: warehouse}
spec: {system: sys, type: postgres, environments: {DEV: {url: "postgres://u@db/dw"}}}
---
apiVersion: datahub/v1
kind: Endpoint
metadata: {name: outbox}
spec: {system: sys, type: file, environments: {DEV: {url: /var/lib/outbox}}}
---
apiVersion: datahub/v1
kind: Endpoint
metadata: {name: inbox}
spec: {system: sys, type: file, environments: {DEV: {url: /var/lib/inbox/in.csv}}}
---
apiVersion: datahub/v1
kind: Topic
metadata: {name: orders}
spec: {}
---
apiVersion: datahub/v1
kind: Topic
metadata: {name: audit}
spec: {}
---
apiVersion: datahub/v1
kind: Topic
metadata: {name: loads}
spec: {}
---
apiVersion: datahub/v1
kind: Subscription
metadata: {name: orders-log}
spec:
  topic: orders
  delivery: {type: table, endpoint: warehouse, env: DEV, table: orders_log}
---
apiVersion: datahub/v1
kind: Subscription
metadata: {name: orders-files}
spec:
  topic: orders
  delivery: {type: file, endpoint: outbox, env: DEV}
---
apiVersion: datahub/v1
kind: Subscription
metadata: {name: orders-audit}
spec:
  topic: orders
  delivery: {type: topic, topic: audit}
---
apiVersion: datahub/v1
kind: Integration
metadata: {name: on-load}
spec:
  source: {endpoint: inbox}
  destination: {endpoint: warehouse, table: loaded}
  trigger: {type: event, env: DEV, topic: loads}
`

func TestDeleteRefusesUsedTopicsAndEndpoints(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		svc := catalog.New(db, catalog.Options{})
		apply(t, svc, parse(t, integrityDocs))
		for _, tc := range []struct {
			kind  catalog.Kind
			name  string
			users string
		}{
			{catalog.KindTopic, "orders", `Subscription "orders-audit", Subscription "orders-files", Subscription "orders-log"`},
			{catalog.KindTopic, "audit", `Subscription "orders-audit"`},
			{catalog.KindTopic, "loads", `Integration "on-load"`},
			{catalog.KindEndpoint, "warehouse", `Integration "on-load", Subscription "orders-log"`},
			{catalog.KindEndpoint, "outbox", `Subscription "orders-files"`},
		} {
			_, err := svc.Delete(ctx, tc.kind, tc.name, "tester")
			if !errors.Is(err, catalog.ErrInUse) || !strings.Contains(err.Error(), "in use by "+tc.users+";") {
				t.Errorf("delete %s %s: %v (want in use by %s)", tc.kind, tc.name, err, tc.users)
			}
		}
		// Users gone, each deletion goes through.
		for _, k := range []struct {
			kind catalog.Kind
			name string
		}{
			{catalog.KindSubscription, "orders-log"}, {catalog.KindSubscription, "orders-files"},
			{catalog.KindSubscription, "orders-audit"}, {catalog.KindIntegration, "on-load"},
			{catalog.KindTopic, "orders"}, {catalog.KindTopic, "audit"}, {catalog.KindTopic, "loads"},
			{catalog.KindEndpoint, "warehouse"}, {catalog.KindEndpoint, "outbox"},
		} {
			if _, err := svc.Delete(ctx, k.kind, k.name, "tester"); err != nil {
				t.Fatalf("delete %s %s: %v", k.kind, k.name, err)
			}
		}
		// A subscription alone cannot come back without its topics.
		var sub []catalog.Resource
		for _, r := range parse(t, integrityDocs) {
			if r.Metadata.Name == "orders-audit" {
				sub = append(sub, r)
			}
		}
		_, err := svc.Apply(ctx, sub, catalog.ApplyOptions{Actor: "tester"})
		wantErrors(t, err, `spec.topic: no Topic "orders"`, `spec.delivery.topic: no Topic "audit"`)
		// Re-applying the whole set in one batch brings everything back, versions continuing.
		cs := apply(t, svc, parse(t, integrityDocs))
		for _, c := range cs {
			want := catalog.Created
			if c.Name == "sys" || c.Name == "inbox" {
				want = catalog.Unchanged
			}
			if c.Action != want || (want == catalog.Created && c.Version != 3) {
				t.Errorf("re-apply: %s %s %s v%d", c.Action, c.Kind, c.Name, c.Version)
			}
		}
	})
}

func TestEndpointChangeBreakingSubscriptionRefused(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		svc := catalog.New(db, catalog.Options{})
		apply(t, svc, parse(t, integrityDocs))
		changed := parse(t, `apiVersion: datahub/v1
kind: Endpoint
metadata: {name: outbox}
spec: {system: sys, type: postgres, environments: {DEV: {url: "postgres://u@db/out"}}}
---
apiVersion: datahub/v1
kind: Endpoint
metadata: {name: warehouse}
spec: {system: sys, type: postgres, environments: {PROD: {url: "postgres://u@db/dw"}}}
`)
		_, err := svc.Apply(ctx, changed, catalog.ApplyOptions{Actor: "tester", DryRun: true})
		wantErrors(t, err,
			`(Endpoint "outbox") line 4: spec: this change would break Subscription "orders-files": spec.delivery.endpoint: endpoint "outbox" (postgres) is not a file endpoint`,
			`(Endpoint "warehouse") line 9: spec: this change would break Subscription "orders-log": spec.delivery.env: endpoint "warehouse" has no DEV URL`)
	})
}

func TestCheckTrigger(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		var seen []string
		svc := catalog.New(db, catalog.Options{CheckTrigger: func(tr catalog.Trigger) error {
			seen = append(seen, tr.Type)
			if tr.Type == "schedule" && tr.Settings["cron"] != "@hourly" {
				return errors.New("schedule trigger: bad cron")
			}
			return nil
		}})
		doc := func(trigger string) []catalog.Resource {
			return parse(t, strings.ReplaceAll(integrityDocs, "{type: event, env: DEV, topic: loads}", trigger))
		}
		for _, dry := range []bool{true, false} {
			seen = nil
			_, err := svc.Apply(ctx, doc(`{type: schedule, cron: "not a cron"}`), catalog.ApplyOptions{Actor: "tester", DryRun: dry})
			wantErrors(t, err, `(Integration "on-load") line 63: spec.trigger: schedule trigger: bad cron`)
			if strings.Join(seen, ",") != "schedule" {
				t.Errorf("checked %v", seen)
			}
			if r, v := countRows(t, db); r != 0 || v != 0 {
				t.Fatalf("wrote %d resources, %d versions", r, v)
			}
		}
		apply(t, svc, doc(`{type: schedule, cron: "@hourly"}`))
		// Integrations without a trigger are checked with the default type.
		seen = nil
		apply(t, svc, doc(`{}`))
		if strings.Join(seen, ",") != "manual" {
			t.Errorf("checked %v", seen)
		}
	})
}

const outboundDocs = `apiVersion: datahub/v1
kind: Topic
metadata: {name: t1}
spec: {owner: ops}
---
apiVersion: datahub/v1
kind: Subscription
metadata: {name: s1}
spec:
  topic: t1
  delivery: {type: http, url: "URL1"}
---
apiVersion: datahub/v1
kind: NotificationRule
metadata: {name: r1}
spec:
  match: {types: [run.failed]}
  channels:
    - type: email
      to: [ops@example.org]
    - type: webhook
      url: "URL2"
      secret: secret:hook-key
    - type: slack
      url: secret:slack-url
`

// TestCheckOutbound: the http URLs of Subscriptions and NotificationRules go through
// Options.CheckOutbound at apply (and dry run), and its refusal names the field.
func TestCheckOutbound(t *testing.T) {
	db := storetest.SQLite(t)
	var seen []string
	svc := catalog.New(db, catalog.Options{CheckOutbound: func(raw string) error {
		seen = append(seen, raw)
		if strings.Contains(raw, "169.254") {
			return errors.New("outbound address 169.254.169.254:80 refused (link-local); allow it with outbound.allow")
		}
		return nil
	}})
	docs := strings.NewReplacer("URL1", "http://169.254.169.254/latest", "URL2", "http://169.254.169.254/hook").Replace(outboundDocs)
	for _, dry := range []bool{true, false} {
		seen = nil
		_, err := svc.Apply(context.Background(), parse(t, docs), catalog.ApplyOptions{Actor: "tester", DryRun: dry})
		wantErrors(t, err,
			`(Subscription "s1") line 11: spec.delivery.url: outbound address 169.254.169.254:80 refused (link-local)`,
			`(NotificationRule "r1") line 22: spec.channels[1].url: outbound address 169.254.169.254:80 refused (link-local)`)
		if strings.Join(seen, " ") != "http://169.254.169.254/latest http://169.254.169.254/hook" {
			t.Errorf("checked %v", seen)
		}
	}
	apply(t, svc, parse(t, strings.NewReplacer("URL1", "https://erp.example.org/in", "URL2", "https://hooks.example.org/x").Replace(outboundDocs)))
}
