package catalog_test

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/datahub-oss/datahub/internal/catalog"
	"github.com/datahub-oss/datahub/internal/store"
	"github.com/datahub-oss/datahub/internal/store/storetest"
)

const ruleDoc = `apiVersion: datahub/v1
kind: NotificationRule
metadata:
  name: failures
  owner: ops@example.org
spec:
  match:
    types: [run.failed, run.partial]
    integrations: ["sales-*"]
    envs: [prod]
  channels:
    - type: email
      to: [owner, system-contacts, role:oncall, ops@example.org]
    - name: hook
      type: webhook
      url: https://hooks.example.org/datahub
      secret: secret:hook-key
    - type: slack
      url: env:SLACK_URL
  throttle:
    window: 15m
    max: 3
`

func TestNotificationRuleParses(t *testing.T) {
	rs := parse(t, ruleDoc)
	r := rs[0].NotificationRule()
	if r == nil || !r.IsEnabled() || len(r.Channels) != 3 || r.Throttle.Window != "15m" || r.Throttle.Max != 3 {
		t.Fatalf("%+v", rs[0].Spec)
	}
	// Environments are normalized like an Endpoint's.
	if r.Match.Envs[0] != "PROD" {
		t.Errorf("envs %v", r.Match.Envs)
	}
	for _, s := range []string{"notificationrules", "NotificationRule", "notificationrule"} {
		if k, err := catalog.ParseKind(s); err != nil || k != catalog.KindNotificationRule {
			t.Errorf("ParseKind(%q) = %q, %v", s, k, err)
		}
	}
	if catalog.Kinds[len(catalog.Kinds)-1] != catalog.KindNotificationRule {
		t.Errorf("NotificationRule is not the last kind: %v", catalog.Kinds)
	}
}

func TestNotificationRuleDisabled(t *testing.T) {
	rs := parse(t, strings.Replace(ruleDoc, "spec:\n", "spec:\n  enabled: false\n", 1))
	if rs[0].NotificationRule().IsEnabled() {
		t.Fatal("enabled: false reads as enabled")
	}
}

func TestNotificationRuleInlineSecretRefused(t *testing.T) {
	_, err := catalog.Parse([]byte(strings.Replace(ruleDoc, "secret:hook-key", "hunter2", 1)), "rule.yaml")
	wantErrors(t, err, "spec.channels[1].secret: must be a reference")
	if strings.Contains(err.Error(), "hunter2") {
		t.Errorf("the error repeats the secret: %v", err)
	}
}

func TestNotificationRuleApplyExportHistory(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		svc := catalog.New(db, catalog.Options{})
		if got := actions(apply(t, svc, parse(t, ruleDoc))); got != "created NotificationRule/failures v1" {
			t.Fatalf("apply: %s", got)
		}
		var buf bytes.Buffer
		if err := svc.Export(ctx, &buf); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(buf.String(), "kind: NotificationRule") || !strings.Contains(buf.String(), "window: 15m") {
			t.Fatalf("export:\n%s", buf.String())
		}
		re, err := catalog.Parse(buf.Bytes(), "export.yaml")
		if err != nil {
			t.Fatalf("re-parse export: %v", err)
		}
		if got := actions(apply(t, svc, re)); got != "unchanged NotificationRule/failures v1" {
			t.Fatalf("re-apply: %s", got)
		}
		changed := parse(t, strings.Replace(ruleDoc, "max: 3", "max: 4", 1))
		apply(t, svc, changed)
		hist, err := svc.History(ctx, catalog.KindNotificationRule, "failures")
		if err != nil || len(hist) != 2 {
			t.Fatalf("history: %d, %v", len(hist), err)
		}
		if d := catalog.Diff(hist[0].Resource, hist[1].Resource); !strings.Contains(d, "max: 4") && !strings.Contains(d, "max: 3") {
			t.Errorf("diff:\n%s", d)
		}
		list, _, err := svc.List(ctx, catalog.KindNotificationRule, catalog.ListOptions{})
		if err != nil || len(list) != 1 {
			t.Fatalf("list: %d, %v", len(list), err)
		}
	})
}
