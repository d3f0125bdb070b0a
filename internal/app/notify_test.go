package app_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/datahub-oss/datahub/internal/config"
	"github.com/datahub-oss/datahub/internal/notify"
	"github.com/datahub-oss/datahub/internal/testutil"
)

// relay is an in-process SMTP server without TLS or authentication (the hub is configured
// with smtp.insecure for it), recording the messages it takes.
type relay struct {
	mu   sync.Mutex
	msgs []relayMsg
}

type relayMsg struct {
	From string
	Rcpt []string
	Data string
}

func (r *relay) messages() []relayMsg {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]relayMsg(nil), r.msgs...)
}

type relaySession struct {
	r   *relay
	msg relayMsg
}

func (s *relaySession) Mail(from string, _ *smtp.MailOptions) error { s.msg.From = from; return nil }
func (s *relaySession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.msg.Rcpt = append(s.msg.Rcpt, to)
	return nil
}

func (s *relaySession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.r.mu.Lock()
	defer s.r.mu.Unlock()
	m := s.msg
	m.Data = string(b)
	s.r.msgs = append(s.r.msgs, m)
	return nil
}

func (s *relaySession) Reset()        { s.msg = relayMsg{} }
func (s *relaySession) Logout() error { return nil }

type quietLog struct{}

func (quietLog) Printf(string, ...any) {}
func (quietLog) Println(...any)        {}

func startRelay(t *testing.T) (*relay, string) {
	t.Helper()
	r := &relay{}
	s := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &relaySession{r: r}, nil }))
	s.Domain = "localhost"
	s.ErrorLog = quietLog{}
	s.ReadTimeout, s.WriteTimeout = 5*time.Second, 5*time.Second
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = s.Serve(l) }()
	t.Cleanup(func() { _ = s.Close() })
	return r, l.Addr().String()
}

// hookCall is one webhook request, its signature checked when it arrived.
type hookCall struct {
	Event    string
	Verified error
	Body     []byte
}

type hookReceiver struct {
	mu    sync.Mutex
	calls []hookCall
}

func (h *hookReceiver) list() []hookCall {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]hookCall(nil), h.calls...)
}

const hookKey = "whsec-test-signing-key"

func notifyResources(owner, missing, dest string, window string) string {
	return fmt.Sprintf(`apiVersion: datahub/v1
kind: System
metadata: {name: shop}
spec:
  owner: shop-team
  contacts:
    - {name: Ann, email: ann@example.org, role: oncall}
    - {name: Bob, email: bob@example.org, role: steward}
---
apiVersion: datahub/v1
kind: Endpoint
metadata: {name: orders-csv}
spec:
  system: shop
  type: file
  environments: {DEV: {url: %s}}
---
apiVersion: datahub/v1
kind: Endpoint
metadata: {name: orders-db}
spec:
  system: shop
  type: sqlite
  environments: {DEV: {url: "sqlite:%s"}}
---
apiVersion: datahub/v1
kind: Integration
metadata: {name: orders, owner: %s}
spec:
  source: {endpoint: orders-csv}
  destination: {endpoint: orders-db, table: orders, mode: append}
  trigger: {type: manual}
  concurrency: 8
  environments: [DEV]
---
apiVersion: datahub/v1
kind: NotificationRule
metadata: {name: run-failures}
spec:
  match: {types: [run.failed]}
  channels:
    - {name: mail, type: email, to: [owner, system-contacts]}
    - {name: hook, type: webhook, url: "%%s", secret: "secret:hook-key"}
  throttle: {window: %s, max: 3}
`, missing, dest, owner, window)
}

// TestFailingRunNotifies is issue 4's check: a failing run sends one email to the right
// people and one signed webhook; fifty failures in a moment send three more and then a digest,
// not fifty mails; and every notification is listed.
func TestFailingRunNotifies(t *testing.T) {
	mails, relayAddr := startRelay(t)
	hooks := &hookReceiver{}
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		err := notify.VerifySignature(hookKey, r.Header.Get(notify.HeaderTimestamp), b, r.Header.Get(notify.HeaderSignature))
		hooks.mu.Lock()
		hooks.calls = append(hooks.calls, hookCall{Event: r.Header.Get(notify.HeaderEvent), Verified: err, Body: b})
		hooks.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(hs.Close)

	host, port, _ := net.SplitHostPort(relayAddr)
	data := t.TempDir()
	cfg := config.Default()
	cfg.Data, cfg.Addr = data, "127.0.0.1:0"
	cfg.SMTP = config.SMTP{Host: host, From: "hub@example.org", Insecure: true}
	fmt.Sscan(port, &cfg.SMTP.Port) //nolint:errcheck // the listener's own port
	cfg.BaseURL = "https://hub.example.org"
	cfg.Outbound.Allow = []string{"127.0.0.0/8", "::1/128"} // the receivers listen on loopback
	h, _ := start(t, cfg)
	token, err := os.ReadFile(filepath.Join(data, "admin.token"))
	if err != nil {
		t.Fatal(err)
	}
	c := client{t: t, base: "http://" + h.Addr, token: strings.TrimSpace(string(token))}

	if code, b := c.do("PUT", "/api/v1/secrets/hook-key", "application/json", []byte(`{"value":"`+hookKey+`"}`)); code/100 != 2 {
		t.Fatalf("put secret: %d %s", code, b)
	}
	const window = 6 * time.Second
	doc := fmt.Sprintf(notifyResources("owner@example.org", filepath.Join(t.TempDir(), "no-such-file.csv"), filepath.Join(t.TempDir(), "o.db"), window.String()), hs.URL)
	if code, b := c.do("POST", "/api/v1/apply", "application/yaml", []byte(doc)); code != 200 {
		t.Fatalf("apply: %d %s", code, b)
	}

	// One failing run: one email to the owner and the system's contacts, one signed webhook.
	code, b := c.do("POST", "/api/v1/integrations/orders/runs?wait=true", "application/json", []byte(`{"env":"dev"}`))
	if code != 200 || !strings.Contains(string(b), `"failed"`) {
		t.Fatalf("run: %d %s", code, b)
	}
	testutil.WaitFor(t, 10*time.Second, "the first email and webhook", func() bool { return len(mails.messages()) >= 1 && len(hooks.list()) >= 1 })
	// A second email for the one failure has no later event to show it: a short watch.
	testutil.Never(t, 300*time.Millisecond, 50*time.Millisecond, func() error {
		return testutil.Checkf(len(mails.messages()) == 1, "%d emails for one failure", len(mails.messages()))
	})
	ms := mails.messages()
	if len(ms) != 1 {
		t.Fatalf("%d emails for one failure", len(ms))
	}
	rcpt := slices.Sorted(slices.Values(ms[0].Rcpt))
	if want := []string{"ann@example.org", "bob@example.org", "owner@example.org"}; !slices.Equal(rcpt, want) {
		t.Errorf("recipients %v, want %v", rcpt, want)
	}
	if !strings.Contains(ms[0].Data, "orders") || ms[0].From != "hub@example.org" {
		t.Errorf("email from %s:\n%s", ms[0].From, ms[0].Data)
	}
	hc := hooks.list()
	if len(hc) != 1 || hc[0].Verified != nil || hc[0].Event != "run.failed" {
		t.Fatalf("webhooks: %+v", hc)
	}

	// Fifty failures at once: the throttle sends at most three per window, then one digest.
	began := time.Now()
	for i := range 50 {
		if code, b := c.do("POST", "/api/v1/integrations/orders/runs", "application/json", []byte(`{"env":"dev"}`)); code/100 != 2 {
			t.Fatalf("run %d: %d %s", i, code, b)
		}
	}
	digested := func(channelType string) (events int) {
		for _, r := range listNotifications(t, c, "status=digested") {
			if r.ChannelType == channelType {
				events += r.Events
			}
		}
		return events
	}
	sentOf := func(channelType string) (n int) {
		for _, r := range listNotifications(t, c, "status=sent") {
			if r.ChannelType == channelType {
				n++
			}
		}
		return n
	}
	// Every one of the 51 failures is either sent on its own or carried by a digest.
	testutil.WaitFor(t, 15*time.Second, "the digests", func() bool {
		return sentOf("email")+digested("email") == 51 && sentOf("webhook")+digested("webhook") == 51
	})
	t.Logf("51 failures notified in %s", time.Since(began).Round(time.Millisecond))
	ms = mails.messages()
	digests := 0
	for _, m := range ms {
		if strings.Contains(m.Data, "X-DataHub-Event: digest") {
			digests++
		}
	}
	sent := sentOf("email")
	if digests == 0 || len(ms) != sent+digests || sent > 3*digests+3 {
		t.Errorf("%d emails: %d sent one by one, %d digests", len(ms), sent, digests)
	}
	// When the burst fits the window the first failure opened (it does unless the machine is
	// very slow), that is the first email, two more, and one digest of the other 48.
	if digests == 1 && (sent != 3 || digested("email") != 48) {
		t.Errorf("one window: %d sent one by one, %d in the digest; want 3 and 48", sent, digested("email"))
	}
	t.Logf("%d emails, %d of them digests", len(ms), digests)
	for _, hcall := range hooks.list() {
		if hcall.Verified != nil {
			t.Errorf("webhook %s: signature: %v", hcall.Event, hcall.Verified)
		}
	}
	if last := hooks.list(); last[len(last)-1].Event != "digest" {
		t.Errorf("the last webhook is %q, want the digest", last[len(last)-1].Event)
	}

	// The log lists the sent, the suppressed (each carried by a digest) and the digests.
	suppressed := listNotifications(t, c, "status=suppressed&rule=run-failures&integration=orders")
	if len(suppressed) == 0 {
		t.Fatal("no suppressed notifications listed")
	}
	for _, r := range suppressed {
		if r.DigestID == "" {
			t.Errorf("suppressed %s carried by no digest", r.ID)
		}
	}
	if n := len(listNotifications(t, c, "status=failed")); n != 0 {
		t.Errorf("%d failed notifications", n)
	}
}

// listNotifications reads every page of GET /api/v1/notifications?query.
func listNotifications(t *testing.T, c client, query string) []notify.Record {
	t.Helper()
	var all []notify.Record
	cursor := ""
	for {
		q := "/api/v1/notifications?limit=1000&" + query
		if cursor != "" {
			q += "&cursor=" + cursor
		}
		code, b := c.do("GET", q, "", nil)
		if code != 200 {
			t.Fatalf("list notifications: %d %s", code, b)
		}
		var p struct {
			Items []notify.Record `json:"items"`
			Next  string          `json:"next"`
		}
		if err := json.Unmarshal(b, &p); err != nil {
			t.Fatal(err)
		}
		all = append(all, p.Items...)
		if p.Next == "" {
			return all
		}
		cursor = p.Next
	}
}
