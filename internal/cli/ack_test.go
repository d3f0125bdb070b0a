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

// TestAckCommand checks what ack sends for each action against a stub API, and what it
// refuses before calling it.
func TestAckCommand(t *testing.T) {
	var mu sync.Mutex
	var acks []string
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer dht_test" {
			http.NotFound(w, r)
			return
		}
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		switch r.Method + " " + r.URL.Path {
		case "POST /api/v1/subscriptions/erp/ack":
			mu.Lock()
			acks = append(acks, string(b))
			mu.Unlock()
			var in struct{ Tokens []string }
			_ = json.Unmarshal(b, &in)
			_ = json.NewEncoder(w).Encode(map[string]int{"settled": len(in.Tokens)})
		case "POST /api/v1/subscriptions/other/ack":
			w.WriteHeader(http.StatusUnprocessableEntity)
			_, _ = w.Write([]byte(`{"code":"invalid","message":"ack token 1 is not a delivery of subscription other"}`))
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(hs.Close)
	t.Setenv("DATAHUB_SERVER", hs.URL)
	t.Setenv("DATAHUB_TOKEN", "dht_test")

	tests := []struct {
		name string
		args []string
		sent string // the request body
		out  string
	}{
		{"ack", []string{"t7", "t8"}, `{"tokens":["t7","t8"],"action":"ack"}`, "erp: 2 of 2 settled (ack)\n"},
		{"nak later", []string{"t7", "--action", "nak", "--delay", "10s"}, `{"tokens":["t7"],"action":"nak","delay":"10s"}`, "erp: 1 of 1 settled (nak)\n"},
		{"nak now", []string{"t7", "--action", "nak"}, `{"tokens":["t7"],"action":"nak"}`, "erp: 1 of 1 settled (nak)\n"},
		{"progress", []string{"t7", "--action", "progress"}, `{"tokens":["t7"],"action":"progress"}`, "erp: 1 of 1 settled (progress)\n"},
		{"term", []string{"t9", "--action", "term"}, `{"tokens":["t9"],"action":"term"}`, "erp: 1 of 1 settled (term)\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mu.Lock()
			acks = nil
			mu.Unlock()
			out, _ := remoteRun(t, 0, append([]string{"ack", "erp"}, tt.args...)...)
			mu.Lock()
			defer mu.Unlock()
			if len(acks) != 1 || acks[0] != tt.sent {
				t.Errorf("sent %q, want %q", acks, tt.sent)
			}
			if out != tt.out {
				t.Errorf("printed %q, want %q", out, tt.out)
			}
		})
	}

	mu.Lock()
	acks = nil
	mu.Unlock()
	for _, args := range [][]string{
		{"ack", "erp"},
		{"ack", "erp", "t7", "--action", "drop"},
		{"ack", "erp", "t7", "--delay", "10s"},
		{"ack", "erp", "t7", "--action", "nak", "--delay", "-1s"},
		{"ack", "erp", "t7", "--action", "nak", "--delay", "soon"},
	} {
		remoteRun(t, ExitUsage, args...)
	}
	mu.Lock()
	if len(acks) != 0 {
		t.Errorf("usage errors sent %q", acks)
	}
	mu.Unlock()
	_, errOut := remoteRun(t, ExitFailed, "ack", "other", "t1")
	if !strings.Contains(errOut, "is not a delivery of subscription other") {
		t.Errorf("refused ack said %q", errOut)
	}
}

// TestSubscribeJSONLines: subscribe -o json prints one compact JSON object a line.
func TestSubscribeJSONLines(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var mu sync.Mutex
	reads := 0
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet || r.URL.Path != "/api/v1/topics/orders/messages" {
			http.NotFound(w, r)
			return
		}
		mu.Lock()
		reads++
		n := reads
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if n > 1 {
			cancel() // Ctrl-C while waiting for more
			_, _ = w.Write([]byte(`{"items":[],"last":9}`))
			return
		}
		_, _ = w.Write([]byte(`{"items":[
			{"topic":"orders","subject":"created","seq":7,"time":"2026-01-31T08:00:00Z","data":"eyJpZCI6MX0=","headers":{"Region":"eu"}},
			{"topic":"orders","subject":"created","seq":8,"time":"2026-01-31T08:00:01Z","data":"PGI+"},
			{"topic":"orders","subject":"created","seq":9,"time":"2026-01-31T08:00:02Z","data":"/wA="}],"last":9}`))
	}))
	t.Cleanup(hs.Close)
	t.Setenv("DATAHUB_SERVER", hs.URL)
	t.Setenv("DATAHUB_TOKEN", "dht_test")

	code, out, errOut := runIn(ctx, t, "", "subscribe", "orders", "--after", "0", "-o", "json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 3 {
		t.Fatalf("printed %d lines:\n%s", len(lines), out)
	}
	// The body is JSON when it is JSON, text when it is text, base64 only when it is neither.
	bodies := []string{`{"id":1}`, "<b>", "\xff\x00"}
	for i, l := range lines {
		var m struct {
			Seq        uint64          `json:"seq"`
			Data       json.RawMessage `json:"data"`
			Text       *string         `json:"text"`
			DataBase64 []byte          `json:"data_base64"`
		}
		if err := json.Unmarshal([]byte(l), &m); err != nil || m.Seq != uint64(7+i) {
			t.Errorf("line %d %q: %+v %v", i, l, m, err)
		}
		got := string(m.Data) + string(m.DataBase64)
		if m.Text != nil {
			got += *m.Text
		}
		if got != bodies[i] || (m.Data != nil) != (i == 0) || (m.Text != nil) != (i == 1) {
			t.Errorf("line %d %q: body %q, want %q in its own field", i, l, got, bodies[i])
		}
		if strings.Contains(l, "  ") || strings.Contains(l, `\u003c`) {
			t.Errorf("line %d is not compact or escapes HTML: %q", i, l)
		}
	}
}
