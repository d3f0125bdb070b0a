package api

import (
	"net/http"
	"testing"

	"github.com/datahub-oss/datahub/internal/auth"
	"github.com/datahub-oss/datahub/internal/bus"
)

const pullYAML = `apiVersion: datahub/v1
kind: Topic
metadata: {name: orders}
spec: {retention: {maxAge: 1d}}
---
apiVersion: datahub/v1
kind: Subscription
metadata: {name: orders-pull}
spec:
  topic: orders
  delivery: {type: pull}
  filter: {headers: {Region: eu}}
---
apiVersion: datahub/v1
kind: Subscription
metadata: {name: orders-other}
spec:
  topic: orders
  delivery: {type: pull}
---
apiVersion: datahub/v1
kind: Subscription
metadata: {name: orders-http}
spec:
  topic: orders
  delivery: {type: http, url: "https://example.com/hook"}
`

type pulled struct {
	Items []bus.PulledMessage `json:"items"`
}

// TestPullContract: fetch and ack a pull subscription over the API: 404 for a missing one,
// 409 for one the hub delivers, header filters applied, a round trip, tokens of another
// subscription refused, runs.create needed.
func TestPullContract(t *testing.T) {
	t.Parallel()
	h, _ := newBusHub(t)
	admin := h.admin()
	h.must(http.StatusOK, h.do(http.MethodPost, BasePath+"/apply", admin, pullYAML), "apply")

	fetch := func(name string, body any) response {
		return h.do(http.MethodPost, BasePath+"/subscriptions/"+name+"/fetch", admin, body)
	}
	ack := func(name string, body any) response {
		return h.do(http.MethodPost, BasePath+"/subscriptions/"+name+"/ack", admin, body)
	}
	h.must(http.StatusNotFound, fetch("nope", map[string]any{}), "fetch unknown")
	h.must(http.StatusNotFound, ack("nope", map[string]any{"tokens": []string{"x"}}), "ack unknown")
	r := h.must(http.StatusConflict, fetch("orders-http", map[string]any{}), "fetch http subscription")
	if r.errorCode() != CodeConflict {
		t.Errorf("409 code %q", r.errorCode())
	}
	h.must(http.StatusConflict, ack("orders-http", map[string]any{"tokens": []string{"x"}}), "ack http subscription")
	h.must(http.StatusUnprocessableEntity, fetch("orders-pull", map[string]any{"wait": "2m"}), "wait too long")
	h.must(http.StatusUnprocessableEntity, fetch("orders-pull", map[string]any{"max": 1001}), "max too large")
	if r := h.do(http.MethodPost, BasePath+"/subscriptions/orders-pull/fetch", h.tokens[auth.RoleViewer], map[string]any{}); r.status != http.StatusForbidden {
		t.Errorf("viewer fetch: %d %s", r.status, r)
	}

	// The consumers exist from the first fetch on (the delivery engine is not running here).
	var got pulled
	h.must(http.StatusOK, fetch("orders-pull", map[string]any{}), "first fetch").json(t, &got)
	h.must(http.StatusOK, fetch("orders-other", map[string]any{}), "first fetch of other").json(t, &got)
	if len(got.Items) != 0 {
		t.Fatalf("empty subscription gave %+v", got)
	}
	for _, region := range []string{"us", "eu"} {
		h.must(http.StatusAccepted, h.sendWith(http.MethodPost, BasePath+"/topics/orders/messages", []byte(`{"region":"`+region+`"}`),
			map[string]string{"Authorization": "Bearer " + admin, "Content-Type": "application/json", "X-DataHub-Header-Region": region}), "publish")
	}
	h.must(http.StatusOK, fetch("orders-pull", map[string]any{"max": 10, "wait": "5s"}), "fetch").json(t, &got)
	if len(got.Items) != 1 || string(got.Items[0].Data) != `{"region":"eu"}` || got.Items[0].AckToken == "" || got.Items[0].Delivered != 1 {
		t.Fatalf("fetch (the us one is filtered out) %+v", got)
	}
	mine := got.Items[0].AckToken
	var other pulled
	h.must(http.StatusOK, fetch("orders-other", map[string]any{"max": 10, "wait": "5s"}), "fetch other").json(t, &other)
	if len(other.Items) != 2 {
		t.Fatalf("other subscription %+v", other)
	}

	r = h.must(http.StatusUnprocessableEntity, ack("orders-pull", map[string]any{"tokens": []string{mine, other.Items[0].AckToken}}), "foreign token")
	if r.errorCode() != CodeInvalid {
		t.Errorf("foreign token code %q", r.errorCode())
	}
	h.must(http.StatusUnprocessableEntity, ack("orders-pull", map[string]any{"tokens": []string{"garbage!"}}), "garbage token")
	h.must(http.StatusUnprocessableEntity, ack("orders-pull", map[string]any{"tokens": []string{mine}, "action": "drop"}), "unknown action")
	h.must(http.StatusUnprocessableEntity, ack("orders-pull", map[string]any{"tokens": []string{}}), "no tokens")

	var settled struct {
		Settled int `json:"settled"`
	}
	h.must(http.StatusOK, ack("orders-pull", map[string]any{"tokens": []string{mine}, "action": "nak"}), "nak").json(t, &settled)
	h.must(http.StatusOK, fetch("orders-pull", map[string]any{"wait": "5s"}), "fetch after nak").json(t, &got)
	if len(got.Items) != 1 || got.Items[0].Delivered != 2 {
		t.Fatalf("after nak %+v", got)
	}
	h.must(http.StatusOK, ack("orders-pull", map[string]any{"tokens": []string{got.Items[0].AckToken}}), "ack").json(t, &settled)
	if settled.Settled != 1 {
		t.Errorf("settled %d", settled.Settled)
	}
	h.must(http.StatusOK, fetch("orders-pull", map[string]any{"wait": "500ms"}), "fetch after ack").json(t, &got)
	if len(got.Items) != 0 {
		t.Fatalf("acked message came back: %+v", got)
	}
	tokens := []string{other.Items[0].AckToken, other.Items[1].AckToken}
	h.must(http.StatusOK, ack("orders-other", map[string]any{"tokens": tokens, "action": "progress"}), "progress").json(t, &settled)
	h.must(http.StatusOK, ack("orders-other", map[string]any{"tokens": tokens}), "ack other").json(t, &settled)
	if settled.Settled != 2 {
		t.Errorf("settled %d", settled.Settled)
	}
}
