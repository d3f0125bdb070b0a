package delivery_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/datahub-oss/datahub/internal/bus"
	"github.com/datahub-oss/datahub/internal/delivery"
	"github.com/datahub-oss/datahub/internal/outbound"
	"github.com/datahub-oss/datahub/internal/testutil"
)

// runEngine runs an engine over one topic t1 and a subscription s1 posting to url, and
// returns the bus.
func runEngine(t *testing.T, url string, guard *outbound.Guard) *bus.Bus {
	t.Helper()
	b, err := bus.Open(t.Context(), bus.Config{DataDir: t.TempDir(), Name: t.Name()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close(context.Background()) })
	cat := &fakeCatalog{}
	cat.set(t, `apiVersion: datahub/v1
kind: Topic
metadata: {name: t1}
spec: {}
---
apiVersion: datahub/v1
kind: Subscription
metadata: {name: s1}
spec:
  topic: t1
  delivery: {type: http, url: "`+url+`", timeout: 2s}
  retry: {maxDeliver: 1, initial: 10ms, max: 10ms}
  ordering: none
`)
	eng := &delivery.Engine{Bus: b, Catalog: cat, Interval: time.Hour, Guard: guard}
	if err := eng.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); _ = eng.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	if _, err := b.PublishTopic(t.Context(), "t1", "", []byte(`{"x":1}`), nil, "m1"); err != nil {
		t.Fatal(err)
	}
	return b
}

func deadLetter(t *testing.T, b *bus.Bus) string {
	t.Helper()
	var msg string
	testutil.WaitFor(t, 10*time.Second, "the dead letter", func() bool {
		dl, _ := b.ListDeadLetters(t.Context(), "s1", 0, 10)
		if len(dl) == 1 {
			msg = dl[0].Error
		}
		return len(dl) == 1
	})
	return msg
}

// TestLoopbackNeedsAllowList: a subscription to a loopback listener is never delivered with
// no allow list (in any spelling of the address); the dead letter names the subscription and
// the refused address. With the listener's range allowed, it is delivered.
func TestLoopbackNeedsAllowList(t *testing.T) {
	t.Parallel()
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		hits.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	port := srv.URL[strings.LastIndex(srv.URL, ":")+1:]
	for _, host := range []string{"127.0.0.1", "localhost", "[::ffff:127.0.0.1]"} {
		t.Run(host, func(t *testing.T) {
			b := runEngine(t, "http://"+host+":"+port+"/in", nil)
			msg := deadLetter(t, b)
			want := `subscription "s1": outbound address 127.0.0.1:` + port + ` refused (loopback); allow it with outbound.allow`
			if !strings.Contains(msg, want) {
				t.Errorf("dead letter %q, want %q", msg, want)
			}
		})
	}
	if n := hits.Load(); n != 0 {
		t.Fatalf("%d deliveries reached the loopback listener", n)
	}
	runEngine(t, srv.URL+"/in", loopback(t))
	testutil.WaitFor(t, 10*time.Second, "the delivery", func() bool { return hits.Load() == 1 })
}

// TestNoTargetBytesInDeadLetter: a receiver that is not HTTP (a NATS port answering with its
// INFO banner) leaves a dead letter with a short reason, none of the bytes it sent.
func TestNoTargetBytesInDeadLetter(t *testing.T) {
	t.Parallel()
	addr := testutil.NotHTTP(t, "INFO {\"server_id\":\"NSECRETBANNER\",\"version\":\"2.10.0\",\"max_payload\":1048576}\r\n")
	b := runEngine(t, "http://"+addr+"/in?token=s3cr3t", loopback(t))
	msg := deadLetter(t, b)
	for _, leak := range []string{"INFO", "SECRETBANNER", "server_id", "s3cr3t", "malformed"} {
		if strings.Contains(msg, leak) {
			t.Errorf("the dead letter holds %q: %q", leak, msg)
		}
	}
	if !strings.Contains(msg, "the target's answer is not HTTP") {
		t.Errorf("dead letter %q", msg)
	}
}
