package api

import (
	"net/http"
	"strings"
	"testing"
)

const schemaTopicYAML = `apiVersion: datahub/v1
kind: Topic
metadata: {name: payments}
spec:
  schema:
    type: object
    required: [id, amount]
    properties:
      id: {type: string}
      amount: {type: number}
---
apiVersion: datahub/v1
kind: Topic
metadata: {name: raw}
spec: {}
`

func TestPublishChecksSchema(t *testing.T) {
	t.Parallel()
	h, _ := newBusHub(t)
	admin := h.admin()
	h.must(http.StatusOK, h.do(http.MethodPost, BasePath+"/apply", admin, schemaTopicYAML), "apply")

	publish := func(topic, body, contentType string) response {
		return h.do(http.MethodPost, BasePath+"/topics/"+topic+"/messages", admin, []byte(body), contentType)
	}
	tests := []struct {
		name, topic, body, contentType string
		status                         int
		message                        string
		fields                         []FieldError
	}{
		{name: "good", topic: "payments", body: `{"id":"p-1","amount":12.5}`, contentType: "application/json", status: http.StatusAccepted},
		{name: "wrong type", topic: "payments", body: `{"id":"p-2","amount":"12"}`, contentType: "application/json", status: http.StatusUnprocessableEntity,
			message: "the message does not match the schema of topic payments",
			fields:  []FieldError{{Field: "/amount", Message: "got string, want number"}}},
		{name: "missing and wrong", topic: "payments", body: `{"amount":true}`, contentType: "application/json", status: http.StatusUnprocessableEntity,
			message: "the message does not match the schema of topic payments",
			fields:  []FieldError{{Field: "/", Message: "missing property 'id'"}, {Field: "/amount", Message: "got boolean, want number"}}},
		{name: "not JSON", topic: "payments", body: `id=p-3`, contentType: "application/octet-stream", status: http.StatusUnprocessableEntity,
			message: "topic payments takes JSON messages matching its schema"},
		{name: "no schema, any bytes", topic: "raw", body: `id=p-3`, contentType: "application/octet-stream", status: http.StatusAccepted},
	}
	for _, tt := range tests {
		r := publish(tt.topic, tt.body, tt.contentType)
		if r.status != tt.status {
			t.Fatalf("%s: %d %s", tt.name, r.status, r)
		}
		if tt.status == http.StatusAccepted {
			continue
		}
		var e Error
		r.json(t, &e)
		if e.Code != CodeInvalid || e.Message != tt.message {
			t.Errorf("%s: error %+v", tt.name, e)
		}
		if len(tt.fields) > 0 && (e.Details == nil || len(e.Details.Errors) != len(tt.fields)) {
			t.Fatalf("%s: details %s", tt.name, r)
		}
		for _, f := range tt.fields {
			found := false
			for _, g := range e.Details.Errors {
				found = found || g == f
			}
			if !found {
				t.Errorf("%s: %+v missing from %s", tt.name, f, r)
			}
		}
	}
	// Only the good messages were published.
	var got topicMessages
	h.must(http.StatusOK, h.do(http.MethodGet, BasePath+"/topics/payments/messages?after=0", admin, nil), "read").json(t, &got)
	if len(got.Items) != 1 || string(got.Items[0].Data) != `{"id":"p-1","amount":12.5}` {
		t.Fatalf("payments holds %+v", got.Items)
	}

	// A re-applied Topic is checked against its new schema (the cache follows the digest).
	h.must(http.StatusOK, h.do(http.MethodPost, BasePath+"/apply", admin,
		strings.Replace(schemaTopicYAML, "amount: {type: number}", "amount: {type: string}", 1)), "re-apply")
	h.must(http.StatusAccepted, publish("payments", `{"id":"p-2","amount":"12"}`, "application/json"), "publish after re-apply")
	h.must(http.StatusUnprocessableEntity, publish("payments", `{"id":"p-1","amount":12.5}`, "application/json"), "old shape after re-apply")
	h.must(http.StatusOK, h.do(http.MethodGet, BasePath+"/topics/payments/messages?after=0", admin, nil), "read").json(t, &got)
	if len(got.Items) != 2 {
		t.Fatalf("payments holds %d messages, want 2", len(got.Items))
	}
}
