package app_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/datahub-oss/datahub/internal/config"
	"github.com/datahub-oss/datahub/internal/notify"
	"github.com/datahub-oss/datahub/internal/testutil"
)

// TestPublishThousandDelivered: apply a Topic and an http Subscription, publish 1,000
// messages through the API; every one arrives at the receiver, signed.
func TestPublishThousandDelivered(t *testing.T) {
	const key = "sub-signing-key"
	var mu sync.Mutex
	got := map[string]bool{}
	badSig := 0
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		if notify.VerifySignature(key, r.Header.Get(notify.HeaderTimestamp), b, r.Header.Get(notify.HeaderSignature)) != nil {
			badSig++
		}
		got[r.Header.Get("X-DataHub-Message-Id")] = true
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(rcv.Close)
	count := func(prefix string) int {
		mu.Lock()
		defer mu.Unlock()
		n := 0
		for id := range got {
			if strings.HasPrefix(id, prefix) {
				n++
			}
		}
		return n
	}

	data := t.TempDir()
	cfg := config.Default()
	cfg.Data, cfg.Addr = data, "127.0.0.1:0"
	cfg.Outbound.Allow = []string{"127.0.0.0/8", "::1/128"} // the receivers listen on loopback
	h, _ := start(t, cfg)
	token, err := os.ReadFile(filepath.Join(data, "admin.token"))
	if err != nil {
		t.Fatal(err)
	}
	c := client{t: t, base: "http://" + h.Addr, token: strings.TrimSpace(string(token))}
	if code, b := c.do("PUT", "/api/v1/secrets/sub-key", "application/json", []byte(`{"value":"`+key+`"}`)); code/100 != 2 {
		t.Fatalf("put secret: %d %s", code, b)
	}
	doc := `apiVersion: datahub/v1
kind: Topic
metadata: {name: orders}
spec: {retention: {maxAge: 1d}}
---
apiVersion: datahub/v1
kind: Subscription
metadata: {name: orders-erp}
spec:
  topic: orders
  delivery: {type: http, url: "` + rcv.URL + `", secret: "secret:sub-key"}
  retry: {initial: 100ms, max: 1s}
`
	if code, b := c.do("POST", "/api/v1/apply", "application/yaml", []byte(doc)); code != 200 {
		t.Fatalf("apply: %d %s", code, b)
	}
	// The subscription's consumer starts with the messages published after it: probe until
	// one arrives.
	testutil.Eventually(t, 15*time.Second, 200*time.Millisecond, func() error {
		if code, b := c.do("POST", "/api/v1/topics/orders/messages", "application/json", []byte(`{"probe":true}`)); code != http.StatusAccepted {
			t.Fatalf("publish probe: %d %s", code, b)
		}
		return testutil.Checkf(count("") > 0, "no probe message delivered")
	})
	const n = 1000
	for i := range n {
		req, _ := http.NewRequest(http.MethodPost, c.base+"/api/v1/topics/orders/messages?subject=created", strings.NewReader(fmt.Sprintf(`{"n":%d}`, i)))
		req.Header.Set("Authorization", "Bearer "+c.token)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Idempotency-Key", fmt.Sprintf("m-%d", i))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted {
			t.Fatalf("publish %d: %d", i, resp.StatusCode)
		}
	}
	testutil.WaitFor(t, 60*time.Second, "1,000 deliveries", func() bool { return count("m-") == n })
	mu.Lock()
	defer mu.Unlock()
	if badSig != 0 {
		t.Errorf("%d deliveries with a bad signature", badSig)
	}
}
