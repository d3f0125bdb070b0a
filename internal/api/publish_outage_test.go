package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"

	"github.com/datahub-oss/datahub/internal/bus"
	"github.com/datahub-oss/datahub/internal/store/storetest"
	"github.com/datahub-oss/datahub/internal/testutil"
)

// Fault 4: a publish during a bus outage (a private nats-server, stopped) answers 503 naming
// the message id to retry with; the hub chooses it when the client gave none. Retried with it
// once the bus is back, the message is on the topic once.
func TestPublishDuringBusOutage(t *testing.T) {
	opts := natsserver.Options{Host: "127.0.0.1", Port: storetest.SparePort(t), JetStream: true, StoreDir: t.TempDir(), NoSigs: true, NoLog: true}
	start := func() *natsserver.Server {
		o := opts
		s, err := natsserver.NewServer(&o)
		if err != nil {
			t.Fatal(err)
		}
		s.Start()
		if !s.ReadyForConnections(10 * time.Second) {
			t.Fatal("private NATS did not start")
		}
		return s
	}
	srv := start()
	defer func() { srv.Shutdown() }()
	b, err := bus.Open(t.Context(), bus.Config{URL: fmt.Sprintf("nats://127.0.0.1:%d", opts.Port)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close(context.Background()) })
	h := newHub(t, false, func(d *Deps, _ string) { d.Bus = b })
	admin := h.admin()
	h.must(http.StatusOK, h.do(http.MethodPost, BasePath+"/apply", admin,
		"apiVersion: datahub/v1\nkind: Topic\nmetadata: {name: orders}\nspec: {retention: {maxAge: 1d}}\n"), "apply")
	path := BasePath + "/topics/orders/messages"
	headers := map[string]string{"Authorization": "Bearer " + admin, "Content-Type": "application/json"}
	h.must(http.StatusAccepted, h.sendWith(http.MethodPost, path, []byte(`{"n":0}`), headers), "publish before the outage")

	srv.Shutdown()
	srv.WaitForShutdown()
	r := h.sendWith(http.MethodPost, path, []byte(`{"n":1}`), headers)
	key := r.header.Get("Idempotency-Key")
	if r.status != http.StatusServiceUnavailable || key == "" || !strings.Contains(r.String(), "Idempotency-Key: "+key) {
		t.Fatalf("publish during the outage: %d %s (key %q)", r.status, r, key)
	}

	srv = start()
	headers["Idempotency-Key"] = key
	testutil.Eventually(t, 20*time.Second, 100*time.Millisecond, func() error {
		r = h.sendWith(http.MethodPost, path, []byte(`{"n":1}`), headers)
		return testutil.Checkf(r.status == http.StatusAccepted, "publish after the outage: %d %s", r.status, r)
	})
	var res bus.PublishResult
	if err := json.Unmarshal(r.body, &res); err != nil || res.MessageID != key {
		t.Fatalf("retry answered %s (%v)", r, err)
	}
	msgs, err := b.ReadTopic(t.Context(), "orders", 0, 10, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 2 {
		t.Fatalf("the topic holds %d messages, want 2 (one before the outage, the retried one once)", len(msgs))
	}
}
