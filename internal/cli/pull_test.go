package cli

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// TestPullCommand checks what pull sends and prints against a stub API: one JSON line a
// message, then one ack of the batch; --no-ack acks nothing; --follow fetches until
// interrupted; a refused subscription fails.
func TestPullCommand(t *testing.T) {
	var mu sync.Mutex
	var fetches, acks []string
	var onFetch func(n int)
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer dht_test" {
			http.NotFound(w, r)
			return
		}
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		switch r.Method + " " + r.URL.Path {
		case "POST /api/v1/subscriptions/erp/fetch":
			fetches = append(fetches, string(b))
			if onFetch != nil {
				onFetch(len(fetches))
			}
			_, _ = w.Write([]byte(`{"items":[
				{"topic":"orders","subject":"created","seq":7,"time":"2026-01-31T08:00:00Z","data":"eyJpZCI6MX0=","delivered":1,"ack_token":"t7"},
				{"topic":"orders","subject":"created","seq":8,"time":"2026-01-31T08:00:01Z","data":"eyJpZCI6Mn0=","delivered":2,"ack_token":"t8"}]}`))
		case "POST /api/v1/subscriptions/erp/ack":
			acks = append(acks, string(b))
			_, _ = w.Write([]byte(`{"settled":2}`))
		case "POST /api/v1/subscriptions/hooked/fetch":
			w.WriteHeader(http.StatusConflict)
			_, _ = w.Write([]byte(`{"code":"conflict","message":"subscription hooked is delivered by the hub over http; only pull subscriptions are fetched"}`))
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(hs.Close)
	t.Setenv("DATAHUB_SERVER", hs.URL)
	t.Setenv("DATAHUB_TOKEN", "dht_test")
	reset := func() {
		mu.Lock()
		defer mu.Unlock()
		fetches, acks, onFetch = nil, nil, nil
	}

	out, _ := remoteRun(t, 0, "pull", "erp", "--max", "5", "--wait", "2s")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 {
		t.Fatalf("pull printed %d lines:\n%s", len(lines), out)
	}
	var m struct {
		Seq       uint64          `json:"seq"`
		Data      json.RawMessage `json:"data"`
		Delivered uint64          `json:"delivered"`
		AckToken  string          `json:"ack_token"`
	}
	// A JSON body is printed as JSON, not base64.
	if err := json.Unmarshal([]byte(lines[1]), &m); err != nil || m.Seq != 8 || string(m.Data) != `{"id":2}` || m.Delivered != 2 || m.AckToken != "t8" {
		t.Errorf("line %q: %+v %v", lines[1], m, err)
	}
	if len(fetches) != 1 || fetches[0] != `{"max":5,"wait":"2s"}` {
		t.Errorf("fetches %q", fetches)
	}
	if len(acks) != 1 || acks[0] != `{"tokens":["t7","t8"]}` {
		t.Errorf("acks %q", acks)
	}

	reset()
	remoteRun(t, 0, "pull", "erp", "--no-ack")
	if len(fetches) != 1 || len(acks) != 0 {
		t.Errorf("--no-ack: fetches %q acks %q", fetches, acks)
	}

	reset()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	mu.Lock()
	onFetch = func(n int) {
		if n == 3 {
			cancel() // Ctrl-C during the third fetch
		}
	}
	mu.Unlock()
	code, out, errOut := runIn(ctx, t, "", "pull", "erp", "--follow")
	if code != 0 {
		t.Fatalf("--follow: exit %d: %s", code, errOut)
	}
	mu.Lock()
	if n := strings.Count(out, "\n"); n < 4 || len(fetches) != 3 || len(acks) < 2 {
		t.Errorf("--follow: %d lines, fetches %d, acks %d", n, len(fetches), len(acks))
	}
	mu.Unlock()

	remoteRun(t, ExitUsage, "pull", "erp", "--max", "0")
	remoteRun(t, ExitUsage, "pull", "erp", "--wait", "2m")
	_, errOut = remoteRun(t, ExitFailed, "pull", "hooked")
	if !strings.Contains(errOut, "only pull subscriptions are fetched") {
		t.Errorf("refused pull said %q", errOut)
	}
}
