package cli

import (
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
)

// TestPublishAndDLQCommands checks what the commands send and print against a stub API.
func TestPublishAndDLQCommands(t *testing.T) {
	var got *http.Request
	var body string
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer dht_test" {
			http.NotFound(w, r)
			return
		}
		b, _ := io.ReadAll(r.Body)
		got, body = r, string(b)
		w.Header().Set("Content-Type", "application/json")
		switch r.Method + " " + r.URL.Path {
		case "POST /api/v1/topics/orders/messages":
			w.WriteHeader(http.StatusAccepted)
			_, _ = w.Write([]byte(`{"seq":7,"duplicate":true,"message_id":"order-42"}`))
		case "GET /api/v1/subscriptions/erp/dlq":
			_, _ = w.Write([]byte(`{"items":[{"seq":3,"topic":"orders","subject":"created","topic_seq":9,"message_id":"m-1","deliveries":10,
				"error":"receiver answered 500","time":"2026-01-31T08:00:00Z"}],"next":""}`))
		case "GET /api/v1/subscriptions/erp/dlq/3":
			_, _ = w.Write([]byte(`{"seq":3,"topic":"orders","subject":"created","topic_seq":9,"deliveries":10,"error":"receiver answered 500",
				"time":"2026-01-31T08:00:00Z","headers":{"Region":"eu"},"data":"eyJpZCI6NDJ9"}`))
		case "POST /api/v1/subscriptions/erp/dlq/3/replay":
			w.WriteHeader(http.StatusAccepted)
			_, _ = w.Write([]byte(`{"seq":12,"duplicate":false,"message_id":"m-1"}`))
		case "POST /api/v1/subscriptions/erp/dlq/replay":
			w.WriteHeader(http.StatusAccepted)
			_, _ = w.Write([]byte(`{"replayed":4}`))
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(hs.Close)
	t.Setenv("DATAHUB_SERVER", hs.URL)
	t.Setenv("DATAHUB_TOKEN", "dht_test")

	file := filepath.Join(t.TempDir(), "order.json")
	writeFile(t, file, `{"id":42}`)
	out, _ := remoteRun(t, 0, "publish", "orders", "--file", file, "--key", "c-7", "--id", "order-42", "--subject", "eu.created", "--header", "Region=eu")
	if got.URL.RawQuery != "subject=eu.created" || got.Header.Get("Idempotency-Key") != "order-42" || got.Header.Get("X-DataHub-Key") != "c-7" ||
		got.Header.Get("X-DataHub-Header-Region") != "eu" || got.Header.Get("Content-Type") != "application/json" || body != `{"id":42}` {
		t.Errorf("publish sent %s %v %q", got.URL, got.Header, body)
	}
	if !strings.Contains(out, "seq 7") || !strings.Contains(out, "duplicate") {
		t.Errorf("publish printed %q", out)
	}
	remoteRun(t, ExitUsage, "publish", "orders", "--file", file, "--header", "novalue")

	out, _ = remoteRun(t, 0, "dlq", "list", "erp")
	if !strings.HasPrefix(out, "SEQ") || !strings.Contains(out, "receiver answered 500") || !strings.Contains(out, "m-1") {
		t.Errorf("dlq list:\n%s", out)
	}
	out, _ = remoteRun(t, 0, "dlq", "show", "erp", "3")
	if !strings.Contains(out, `{"id":42}`) || !strings.Contains(out, "Region: eu") || !strings.Contains(out, "deliveries:  10") {
		t.Errorf("dlq show:\n%s", out)
	}
	out, _ = remoteRun(t, 0, "dlq", "replay", "erp", "3")
	if !strings.Contains(out, "topic seq 12") {
		t.Errorf("dlq replay one: %q", out)
	}
	out, _ = remoteRun(t, 0, "dlq", "replay", "erp")
	if !strings.Contains(out, "replayed 4") {
		t.Errorf("dlq replay all: %q", out)
	}
	remoteRun(t, ExitUsage, "dlq", "show", "erp", "x")
}
