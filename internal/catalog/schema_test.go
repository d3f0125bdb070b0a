package catalog_test

import (
	"context"
	"strings"
	"testing"

	"github.com/datahub-oss/datahub/internal/catalog"
	"github.com/datahub-oss/datahub/internal/store"
	"github.com/datahub-oss/datahub/internal/store/storetest"
)

func TestTopicSchemaChecked(t *testing.T) {
	doc := func(schema string) string {
		return "apiVersion: datahub/v1\nkind: Topic\nmetadata: {name: orders}\nspec:\n  schema: " + schema + "\n"
	}
	tests := []struct {
		name   string
		schema string
		want   string // "" when the Topic is valid
	}{
		{"good", `{type: object, required: [id], properties: {amount: {type: number, minimum: 0}}}`, ""},
		{"own draft", `{$schema: "http://json-schema.org/draft-07/schema#", type: string}`, ""},
		{"empty", `{}`, ""},
		{"bad type", `{type: nope}`, `spec.schema: not a valid JSON schema: /type: value must be one of`},
		{"bad regex", `{properties: {id: {pattern: "("}}}`, `spec.schema: not a valid JSON schema: /properties/id/pattern:`},
		{"remote ref", `{$ref: "https://example.com/order.json"}`, `spec.schema: failing loading "https://example.com/order.json": a schema cannot load other documents`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := catalog.Parse([]byte(doc(tt.schema)), "test.yaml")
			if tt.want == "" {
				if err != nil {
					t.Fatalf("parse: %v", err)
				}
				return
			}
			wantErrors(t, err, `(Topic "orders") line`, tt.want)
		})
	}
}

// TestEventTriggerNeedsTopic: an event trigger names an existing Topic, stored or in the batch.
func TestEventTriggerNeedsTopic(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		svc := catalog.New(db, catalog.Options{})
		var withoutTopic, topic []catalog.Resource
		for _, r := range parse(t, integrityDocs) {
			if r.Metadata.Name == "loads" {
				topic = append(topic, r)
			} else {
				withoutTopic = append(withoutTopic, r)
			}
		}
		for _, dry := range []bool{true, false} {
			_, err := svc.Apply(ctx, withoutTopic, catalog.ApplyOptions{Actor: "tester", DryRun: dry})
			wantErrors(t, err, `(Integration "on-load") line 63: spec.trigger.topic: no Topic "loads" (apply it first or in the same batch)`)
			if r, v := countRows(t, db); r != 0 || v != 0 {
				t.Fatalf("wrote %d resources, %d versions", r, v)
			}
		}
		// The Topic stored first, then the rest.
		apply(t, svc, topic)
		apply(t, svc, withoutTopic)
		// A change to another missing topic is refused; a manual trigger names none.
		other := parse(t, strings.ReplaceAll(integrityDocs, "{type: event, env: DEV, topic: loads}", "{type: event, env: DEV, topic: gone}"))
		_, err := svc.Apply(ctx, other, catalog.ApplyOptions{Actor: "tester"})
		wantErrors(t, err, `spec.trigger.topic: no Topic "gone"`)
		apply(t, svc, parse(t, strings.ReplaceAll(integrityDocs, "{type: event, env: DEV, topic: loads}", "{type: manual}")))
	})
}
