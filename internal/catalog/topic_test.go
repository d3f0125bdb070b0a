package catalog_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/datahub-oss/datahub/internal/catalog"
	"github.com/datahub-oss/datahub/internal/store"
	"github.com/datahub-oss/datahub/internal/store/storetest"
)

const topicDocs = `apiVersion: datahub/v1
kind: Topic
metadata:
  name: orders
  owner: sales@example.org
spec:
  description: Orders as they are placed
  owner: sales-team
  classification: confidential
  retention: {maxAge: 3d, maxBytes: 1GiB, maxMessages: 100000}
  schema:
    type: object
    required: [id]
---
apiVersion: datahub/v1
kind: Topic
metadata: {name: orders-audit}
spec: {}
---
apiVersion: datahub/v1
kind: Subscription
metadata: {name: orders-erp}
spec:
  topic: orders
  filter:
    subject: "eu.>"
    headers: {Region: eu}
  delivery:
    type: http
    url: https://erp.example.org/in
    secret: secret:erp-key
    timeout: 10s
  retry: {maxDeliver: 5, initial: 2s, max: 1m}
  ordering: key
---
apiVersion: datahub/v1
kind: Subscription
metadata: {name: orders-copy}
spec:
  topic: orders
  delivery: {type: topic, topic: orders-audit}
`

func TestTopicSubscriptionParse(t *testing.T) {
	rs := parse(t, topicDocs)
	tp := rs[0].Topic()
	if tp == nil || tp.Retention.MaxAgeDuration() != 72*time.Hour || tp.Retention.MaxBytesValue() != 1<<30 || tp.Schema["type"] != "object" {
		t.Fatalf("topic %+v", rs[0].Spec)
	}
	if d := rs[1].Topic(); d.Classification != catalog.DefaultClassification || d.Retention.MaxAgeDuration() != catalog.DefaultTopicMaxAge {
		t.Errorf("defaults %+v", d)
	}
	s := rs[2].Subscription()
	if s == nil || s.Ordering != "key" || s.Retry.MaxDeliver != 5 || s.Delivery.TimeoutDuration() != 10*time.Second {
		t.Fatalf("subscription %+v", rs[2].Spec)
	}
	if i, m := s.Retry.Backoff(); i != 2*time.Second || m != time.Minute {
		t.Errorf("backoff %s %s", i, m)
	}
	if c := rs[3].Subscription(); c.Retry.MaxDeliver != catalog.DefaultMaxDeliver {
		t.Errorf("default maxDeliver %d", c.Retry.MaxDeliver)
	}
	for in, want := range map[string]catalog.Kind{"topics": catalog.KindTopic, "Subscription": catalog.KindSubscription} {
		if k, err := catalog.ParseKind(in); err != nil || k != want {
			t.Errorf("ParseKind(%q) = %q, %v", in, k, err)
		}
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"": 0, "10": 10, "1KB": 1000, "2 MiB": 2 << 20, "3GB": 3e9, "5B": 5} {
		if got, err := catalog.ParseSize(in); err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v", in, got, err)
		}
	}
	for _, in := range []string{"x", "-1", "1PB", "1.5GB"} {
		if _, err := catalog.ParseSize(in); err == nil {
			t.Errorf("ParseSize(%q): no error", in)
		}
	}
}

func TestSubscriptionApplyExport(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		svc := catalog.New(db, catalog.Options{})
		// A subscription to a topic that does not exist is refused.
		_, err := svc.Apply(ctx, parse(t, topicDocs)[2:3], catalog.ApplyOptions{Actor: "tester"})
		wantErrors(t, err, `spec.topic: no Topic "orders"`)

		got := actions(apply(t, svc, parse(t, topicDocs)))
		if got != "created Topic/orders v1\ncreated Topic/orders-audit v1\ncreated Subscription/orders-erp v1\ncreated Subscription/orders-copy v1" {
			t.Fatalf("apply: %s", got)
		}
		var buf bytes.Buffer
		if err := svc.Export(ctx, &buf); err != nil {
			t.Fatal(err)
		}
		out := buf.String()
		if !strings.Contains(out, "kind: Topic") || !strings.Contains(out, "maxAge: 3d") || strings.Index(out, "kind: Topic") > strings.Index(out, "kind: Subscription") {
			t.Fatalf("export:\n%s", out)
		}
		re, err := catalog.Parse(buf.Bytes(), "export.yaml")
		if err != nil {
			t.Fatalf("re-parse export: %v", err)
		}
		for _, c := range apply(t, svc, re) {
			if c.Action != "unchanged" {
				t.Errorf("re-apply: %s %s/%s", c.Action, c.Kind, c.Name)
			}
		}
	})
}
