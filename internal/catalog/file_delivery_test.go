package catalog_test

import (
	"context"
	"strings"
	"testing"

	"github.com/datahub-oss/datahub/internal/catalog"
	"github.com/datahub-oss/datahub/internal/store"
	"github.com/datahub-oss/datahub/internal/store/storetest"
)

func TestFileDeliveryValidation(t *testing.T) {
	sub := func(delivery string) string { return subscriptionDoc("orders-files", delivery) }
	// Field checks, before references.
	for _, tc := range []struct{ delivery, want string }{
		{`{type: file, env: DEV}`, "spec.delivery.endpoint: missing"},
		{`{type: file, endpoint: outbox}`, "spec.delivery.env: missing"},
		{`{type: file, endpoint: outbox, env: QA}`, "spec.delivery.env"},
		{`{type: file, endpoint: outbox, env: DEV, table: t}`, "a file delivery has no url, secret, topic nor table"},
		{`{type: file, endpoint: outbox, env: DEV, path: "{topic}/{id}"}`, `spec.delivery.path: "{topic}/{id}": "{id}" is not one of {topic}`},
		{`{type: file, endpoint: outbox, env: DEV, path: "{topic/{seq}"}`, `spec.delivery.path: "{topic/{seq}": "{topic/{seq}" is not one of`},
		{`{type: file, endpoint: outbox, env: DEV, path: "x}/{seq}"}`, "'}' without '{'"},
		{`{type: file, endpoint: outbox, env: DEV, path: "out/{seq"}`, "'{' without '}'"},
		{`{type: file, endpoint: outbox, env: DEV, path: "/abs/{seq}"}`, "must be relative"},
		{`{type: file, endpoint: outbox, env: DEV, path: "../up/{seq}"}`, "path elements are not allowed"},
		{`{type: file, endpoint: outbox, env: DEV, path: "a//{seq}"}`, "path elements are not allowed"},
		{`{type: file, endpoint: outbox, env: DEV, path: "a/./{seq}"}`, "path elements are not allowed"},
		{`{type: file, endpoint: outbox, env: DEV, path: 'a\{seq}'}`, "separate folders with '/'"},
		{`{type: file, endpoint: outbox, env: DEV, path: "{topic}/{date}.json"}`, "use {message_id} or {seq}"},
		{`{type: table, endpoint: warehouse, env: DEV, table: t, path: "{seq}"}`, "a table delivery has no url, secret, topic nor path"},
	} {
		_, err := catalog.Parse([]byte(deliveryBase+sub(tc.delivery)), "test.yaml")
		if err == nil {
			t.Errorf("%s: accepted", tc.delivery)
			continue
		}
		wantErrors(t, err, tc.want)
	}
	for _, ok := range []string{
		`{type: file, endpoint: outbox, env: dev}`,
		`{type: file, endpoint: outbox, env: DEV, path: "{topic}/{date}/{subject}-{seq}.json"}`,
		`{type: file, endpoint: outbox, env: DEV, path: "in..{message_id}"}`,
	} {
		if _, err := catalog.Parse([]byte(deliveryBase+sub(ok)), "test.yaml"); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		svc := catalog.New(db, catalog.Options{})
		for _, tc := range []struct{ delivery, want string }{
			{`{type: file, endpoint: nowhere, env: DEV}`, `spec.delivery.endpoint: no Endpoint "nowhere"`},
			{`{type: file, endpoint: outbox, env: PROD}`, `spec.delivery.env: endpoint "outbox" has no PROD URL`},
			{`{type: file, endpoint: warehouse, env: DEV}`, `spec.delivery.endpoint: endpoint "warehouse" (postgres) is not a file endpoint`},
		} {
			_, err := svc.Apply(ctx, parse(t, deliveryBase+sub(tc.delivery)), catalog.ApplyOptions{Actor: "tester"})
			wantErrors(t, err, tc.want)
		}
		rs := apply(t, svc, parse(t, deliveryBase+sub(`{type: file, endpoint: outbox, env: dev, path: "{topic}/{seq}.bin"}`)))
		if len(rs) != 5 {
			t.Fatalf("apply: %v", actions(rs))
		}
		e, err := svc.Get(ctx, catalog.KindSubscription, "orders-files")
		if err != nil {
			t.Fatal(err)
		}
		if d := e.Resource.Subscription().Delivery; d.Env != "DEV" || d.Path != "{topic}/{seq}.bin" || d.Endpoint != "outbox" {
			t.Errorf("stored delivery %+v", d)
		}
		var b strings.Builder
		if err := svc.Export(ctx, &b); err != nil || !strings.Contains(b.String(), "path: '{topic}/{seq}.bin'") {
			t.Errorf("export: %v\n%s", err, b.String())
		}
	})
}
