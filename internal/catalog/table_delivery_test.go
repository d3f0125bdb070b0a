package catalog_test

import (
	"context"
	"testing"

	"github.com/datahub-oss/datahub/internal/catalog"
	"github.com/datahub-oss/datahub/internal/store"
	"github.com/datahub-oss/datahub/internal/store/storetest"
)

// deliveryBase is what the delivery tests' Subscriptions refer to: a file and a postgres
// Endpoint, and a Topic.
const deliveryBase = `apiVersion: datahub/v1
kind: System
metadata: {name: sys}
spec: {owner: team}
---
apiVersion: datahub/v1
kind: Endpoint
metadata: {name: outbox}
spec: {system: sys, type: file, environments: {DEV: {url: /var/lib/outbox}}}
---
apiVersion: datahub/v1
kind: Endpoint
metadata: {name: warehouse}
spec: {system: sys, type: postgres, environments: {DEV: {url: "postgres://u@db/dw"}}}
---
apiVersion: datahub/v1
kind: Topic
metadata: {name: orders}
spec: {}
`

// subscriptionDoc is a Subscription of topic orders with the given delivery (flow YAML).
func subscriptionDoc(name, delivery string) string {
	return "---\napiVersion: datahub/v1\nkind: Subscription\nmetadata: {name: " + name + "}\nspec:\n  topic: orders\n  delivery: " + delivery + "\n"
}

func TestTableDeliveryValidation(t *testing.T) {
	sub := func(delivery string) string { return subscriptionDoc("orders-log", delivery) }
	// Field checks, before references.
	for _, tc := range []struct{ delivery, want string }{
		{`{type: table, env: DEV, table: t}`, "spec.delivery.endpoint: missing"},
		{`{type: table, endpoint: warehouse, table: t}`, "spec.delivery.env: missing"},
		{`{type: table, endpoint: warehouse, env: QA, table: t}`, "spec.delivery.env"},
		{`{type: table, endpoint: warehouse, env: DEV}`, "spec.delivery.table: missing"},
		{`{type: table, endpoint: warehouse, env: DEV, table: t, url: "https://x.example"}`, "a table delivery has no url"},
	} {
		_, err := catalog.Parse([]byte(deliveryBase+sub(tc.delivery)), "test.yaml")
		if err == nil {
			t.Errorf("%s: accepted", tc.delivery)
			continue
		}
		wantErrors(t, err, tc.want)
	}
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		svc := catalog.New(db, catalog.Options{})
		for _, tc := range []struct{ delivery, want string }{
			{`{type: table, endpoint: nowhere, env: DEV, table: t}`, `spec.delivery.endpoint: no Endpoint "nowhere"`},
			{`{type: table, endpoint: warehouse, env: PROD, table: t}`, `spec.delivery.env: endpoint "warehouse" has no PROD URL`},
		} {
			_, err := svc.Apply(ctx, parse(t, deliveryBase+sub(tc.delivery)), catalog.ApplyOptions{Actor: "tester"})
			wantErrors(t, err, tc.want)
		}
		rs := apply(t, svc, parse(t, deliveryBase+sub(`{type: table, endpoint: warehouse, env: dev, table: public.orders_log}`)))
		if len(rs) != 5 { // the base's four documents and the Subscription
			t.Fatalf("apply: %v", actions(rs))
		}
		e, err := svc.Get(ctx, catalog.KindSubscription, "orders-log")
		if err != nil {
			t.Fatal(err)
		}
		if d := e.Resource.Subscription().Delivery; d.Env != "DEV" || d.Table != "public.orders_log" || d.Endpoint != "warehouse" {
			t.Errorf("stored delivery %+v", d)
		}
	})
}
