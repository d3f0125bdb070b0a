package api

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/datahub-oss/datahub/internal/auth"
	"github.com/datahub-oss/datahub/internal/bus"
	"github.com/datahub-oss/datahub/internal/testutil"
)

const topicYAML = `apiVersion: datahub/v1
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
  retry: {maxDeliver: 1}
`

// newBusHub is a test hub on an embedded bus of its own.
func newBusHub(t *testing.T) (*hub, *bus.Bus) {
	t.Helper()
	b, err := bus.Open(t.Context(), bus.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close(context.Background()) })
	return newHub(t, false, func(d *Deps, _ string) { d.Bus = b }), b
}

func TestTopicsContract(t *testing.T) {
	t.Parallel()
	h, b := newBusHub(t)
	admin := h.admin()
	h.must(http.StatusOK, h.do(http.MethodPost, BasePath+"/apply", admin, topicYAML), "apply")

	publish := func(body, key string, hdr map[string]string) response {
		req := map[string]string{"Idempotency-Key": key, "X-DataHub-Key": "k1"}
		for k, v := range hdr {
			req[k] = v
		}
		req["Authorization"], req["Content-Type"] = "Bearer "+admin, "application/json"
		return h.sendWith(http.MethodPost, BasePath+"/topics/orders/messages?subject=eu.created", []byte(body), req)
	}
	var r1, r2 bus.PublishResult
	h.must(http.StatusAccepted, publish(`{"id":1}`, "order-1", map[string]string{"X-DataHub-Header-Region": "eu"}), "publish").json(t, &r1)
	h.must(http.StatusAccepted, publish(`{"id":1}`, "order-1", nil), "publish again").json(t, &r2)
	if r1.Duplicate || !r2.Duplicate || r1.Seq != r2.Seq || r1.MessageID != "order-1" {
		t.Fatalf("publish %+v then %+v", r1, r2)
	}
	h.must(http.StatusNotFound, h.do(http.MethodPost, BasePath+"/topics/nope/messages", admin, []byte("x")), "unknown topic")
	if r := h.do(http.MethodPost, BasePath+"/topics/orders/messages", h.tokens[auth.RoleViewer], []byte("x")); r.status != http.StatusForbidden {
		t.Errorf("viewer publish: %d %s", r.status, r)
	}

	var got topicMessages
	h.must(http.StatusOK, h.do(http.MethodGet, BasePath+"/topics/orders/messages?after=0&wait=1s", admin, nil), "read").json(t, &got)
	if len(got.Items) != 1 || got.Last != r1.Seq {
		t.Fatalf("read %+v", got)
	}
	m := got.Items[0]
	if string(m.Data) != `{"id":1}` || m.Subject != "eu.created" || m.Headers["Region"] != "eu" || m.Headers[bus.HeaderKey] != "k1" ||
		m.Headers["Content-Type"] != "application/json" {
		t.Errorf("message %+v", m)
	}

	// Dead-letter a message through the pull subscription's consumer, then list, show, replay.
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = b.ConsumeSubscription(ctx, bus.SubscriptionConfig{Name: "orders-pull", Topic: "orders", MaxDeliver: 1},
			func(context.Context, bus.TopicMessage) error { return errors.New("nope") })
	}()
	defer func() { cancel(); <-done }()
	// The consumer starts with the messages published after it: publish until one is
	// dead-lettered.
	var dl itemsJSON[bus.DeadLetter]
	testutil.Eventually(t, 5*time.Second, 200*time.Millisecond, func() error {
		h.must(http.StatusAccepted, publish(`{"id":2}`, "order-2-"+time.Now().String(), nil), "publish 2")
		h.must(http.StatusOK, h.do(http.MethodGet, BasePath+"/subscriptions/orders-pull/dlq", admin, nil), "list dlq").json(t, &dl)
		return testutil.Checkf(len(dl.Items) > 0, "no dead letter yet")
	})
	if len(dl.Items) == 0 || dl.Items[0].Error != "nope" || dl.Items[0].Data != nil {
		t.Fatalf("dlq %+v", dl)
	}
	seq := dl.Items[0].Seq
	var d bus.DeadLetter
	h.must(http.StatusOK, h.do(http.MethodGet, BasePath+"/subscriptions/orders-pull/dlq/"+itoa(seq), admin, nil), "show").json(t, &d)
	if string(d.Data) != `{"id":2}` || d.Topic != "orders" {
		t.Errorf("show %+v", d)
	}
	h.must(http.StatusNotFound, h.do(http.MethodGet, BasePath+"/subscriptions/orders-pull/dlq/9999", admin, nil), "show missing")
	h.must(http.StatusNotFound, h.do(http.MethodGet, BasePath+"/subscriptions/nope/dlq", admin, nil), "unknown subscription")
	cancel()
	<-done
	h.must(http.StatusAccepted, h.do(http.MethodPost, BasePath+"/subscriptions/orders-pull/dlq/"+itoa(seq)+"/replay", admin, nil), "replay")
	var all replayAllBody
	h.must(http.StatusAccepted, h.do(http.MethodPost, BasePath+"/subscriptions/orders-pull/dlq/replay", admin, nil), "replay all").json(t, &all)
	h.must(http.StatusOK, h.do(http.MethodGet, BasePath+"/topics/orders/messages?after="+itoa(r1.Seq), admin, nil), "read replays").json(t, &got)
	replays := 0
	for _, m := range got.Items {
		if m.Headers[bus.HeaderReplayFor] == "orders-pull" {
			replays++
		}
	}
	if replays != 1+all.Replayed {
		t.Errorf("%d replays on the topic, want %d", replays, 1+all.Replayed)
	}
	if n := len(h.auditEntries("action=dlq.replay")); n != 2 {
		t.Errorf("%d audit entries", n)
	}
	if !strings.Contains(h.do(http.MethodGet, BasePath+"/openapi.json", "", nil).String(), "/topics/{name}/messages") {
		t.Error("publish is not in the OpenAPI document")
	}
}

func itoa(n uint64) string { return strconv.FormatUint(n, 10) }

// sendWith sends a request with exactly the headers given.
func (h *hub) sendWith(method, path string, body []byte, headers map[string]string) response {
	h.t.Helper()
	req, err := http.NewRequest(method, h.url+path, bytes.NewReader(body))
	if err != nil {
		h.t.Fatal(err)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, _ := io.ReadAll(resp.Body)
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}
