package notify

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/datahub-oss/datahub/internal/event"
	"github.com/datahub-oss/datahub/internal/store"
	"github.com/datahub-oss/datahub/internal/store/storetest"
)

// hook is a webhook receiver recording deliveries.
type hook struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []hookReq
	// respond picks the status of the n-th request (0-based); nil means 200.
	respond func(n int, w http.ResponseWriter) int
}

type hookReq struct {
	Header http.Header
	Body   []byte
	Path   string
}

func startHook(t *testing.T) *hook {
	h := &hook{}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		h.mu.Lock()
		n := len(h.reqs)
		h.reqs = append(h.reqs, hookReq{Header: r.Header.Clone(), Body: b, Path: r.URL.Path})
		respond := h.respond
		h.mu.Unlock()
		status := http.StatusOK
		if respond != nil {
			status = respond(n, w)
		}
		w.WriteHeader(status)
	}))
	t.Cleanup(h.Close)
	return h
}

func (h *hook) Requests() []hookReq {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]hookReq(nil), h.reqs...)
}

func listAll(t *testing.T, s *Service, f Filter) []Record {
	t.Helper()
	var out []Record
	for {
		page, next, err := s.List(context.Background(), f)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, page...)
		if next == "" {
			return out
		}
		f.Cursor = next
	}
}

func countStatus(rs []Record) map[Status]int {
	m := map[Status]int{}
	for _, r := range rs {
		m[r.Status]++
	}
	return m
}

// The first check: a failing run sends one email and one signed webhook to the right
// recipients.
func TestFailingRunSendsEmailAndSignedWebhook(t *testing.T) {
	ctx := context.Background()
	mailer := startSMTP(t)
	wh := startHook(t)
	const key = "whsec-0123456789"
	rule := Rule{
		Name: "prod-failures", Enabled: true,
		Match: Match{Types: []event.Type{event.RunFailed}, Envs: []string{"prod"}, MinSeverity: event.SeverityError},
		Channels: []Channel{
			{Type: ChannelEmail, To: []string{RoleOwner, RoleSystemContacts, "ops@example.org"}},
			{Type: ChannelWebhook, URL: wh.URL + "/hooks/datahub", Secret: fileRef(t, "whkey", key)},
		},
	}
	if err := rule.Validate(); err != nil {
		t.Fatal(err)
	}
	db := storetest.SQLite(t)
	svc := New(db, Options{Guard: loopback(t), Rules: StaticRules{rule}, Directory: directory, SMTP: smtpConfig(t, mailer), BaseURL: "https://hub.example.org/"})

	e := failedRun(time.Now().UTC())
	if err := svc.Handle(ctx, e); err != nil {
		t.Fatal(err)
	}
	// A succeeded run and a DEV failure do not match.
	ok := failedRun(time.Now())
	ok.Type = event.RunSucceeded
	dev := failedRun(time.Now())
	dev.Env = "DEV"
	for _, other := range []event.Event{ok, dev} {
		if err := svc.Handle(ctx, other); err != nil {
			t.Fatal(err)
		}
	}

	msgs := mailer.Messages()
	if len(msgs) != 1 {
		t.Fatalf("got %d emails, want 1", len(msgs))
	}
	m := msgs[0]
	wantTo := []string{"alice@example.org", "bob@example.org", "carol@example.org", "ops@example.org"}
	if !slices.Equal(m.Rcpt, wantTo) {
		t.Errorf("RCPT TO = %v, want %v", m.Rcpt, wantTo)
	}
	if got := m.Header.Get("To"); got != strings.Join(wantTo, ", ") {
		t.Errorf("To: %q", got)
	}
	if !m.TLS || m.AuthAs != "hub" {
		t.Errorf("want STARTTLS and AUTH: tls=%v auth=%q", m.TLS, m.AuthAs)
	}
	if m.Subject != "[Data Hub] FAILED: orders-sync in PROD" {
		t.Errorf("Subject = %q", m.Subject)
	}
	for _, h := range []string{"Date", "Message-Id", "Mime-Version", "From"} {
		if m.Header.Get(h) == "" {
			t.Errorf("no %s header", h)
		}
	}
	if ct := m.Header.Get("Content-Type"); ct != "text/plain; charset=UTF-8" {
		t.Errorf("Content-Type = %q", ct)
	}
	for _, want := range []string{"orders-sync failed in PROD", "connect erp-db: connection refused", "Run:         run-0001",
		"120 rows read, 100 written, 20 rejected", "https://hub.example.org/runs/run-0001", "Status:      failed", `rule "prod-failures"`} {
		if !strings.Contains(m.Body, want) {
			t.Errorf("body lacks %q:\n%s", want, m.Body)
		}
	}

	reqs := wh.Requests()
	if len(reqs) != 1 {
		t.Fatalf("got %d webhook calls, want 1", len(reqs))
	}
	r := reqs[0]
	if err := VerifySignature(key, r.Header.Get(HeaderTimestamp), r.Body, r.Header.Get(HeaderSignature)); err != nil {
		t.Errorf("signature: %v", err)
	}
	if r.Header.Get(HeaderEvent) != "run.failed" || r.Header.Get(HeaderDelivery) == "" {
		t.Errorf("headers: %v", r.Header)
	}
	got, err := event.Unmarshal(r.Body)
	if err != nil || got.ID != e.ID || got.Error != e.Error {
		t.Errorf("webhook body %s: %v", r.Body, err)
	}

	recs := listAll(t, svc, Filter{})
	if c := countStatus(recs); c[StatusSent] != 2 || len(recs) != 2 {
		t.Fatalf("records: %+v", recs)
	}
	for _, rec := range recs {
		if rec.EventID != e.ID || rec.Integration != "orders-sync" || rec.Attempts != 1 {
			t.Errorf("record %+v", rec)
		}
		if rec.ChannelType == ChannelWebhook && (rec.Recipients[0] != redactURL(wh.URL+"/x") || rec.ID != r.Header.Get(HeaderDelivery)) {
			t.Errorf("webhook record %+v", rec)
		}
	}
}

// The second check: fifty failures in a minute send a digest, not fifty mails.
func TestThrottleSendsDigest(t *testing.T) {
	ctx := context.Background()
	mailer := startSMTP(t)
	clk := newClock()
	rule := Rule{
		Name: "failures", Enabled: true, Match: Match{Types: []event.Type{event.RunFailed}},
		Channels: []Channel{{Name: "mail", Type: ChannelEmail, To: []string{RoleOwner}}},
		Throttle: Throttle{Window: Duration(10 * time.Minute), Max: 3},
	}
	db := storetest.SQLite(t)
	svc := New(db, Options{Guard: loopback(t), Rules: StaticRules{rule}, Directory: directory, SMTP: smtpConfig(t, mailer), Now: clk.Now})
	for i := 0; i < 50; i++ {
		if err := svc.Handle(ctx, failedRun(clk.Now())); err != nil {
			t.Fatal(err)
		}
		clk.Advance(time.Second)
	}
	if n := len(mailer.Messages()); n != 3 {
		t.Fatalf("got %d emails during the window, want 3", n)
	}
	if err := svc.FlushDue(ctx); err != nil {
		t.Fatal(err)
	}
	if n := len(mailer.Messages()); n != 3 {
		t.Fatalf("a digest went out before the window ended: %d emails", n)
	}
	clk.Advance(10 * time.Minute)
	for range 2 {
		if err := svc.FlushDue(ctx); err != nil {
			t.Fatal(err)
		}
	}
	msgs := mailer.Messages()
	if len(msgs) != 4 {
		t.Fatalf("got %d emails, want 3 and one digest", len(msgs))
	}
	d := msgs[3]
	if d.Subject != "[Data Hub] 47 notifications held for orders-sync (rule failures)" {
		t.Errorf("digest subject %q", d.Subject)
	}
	if n := strings.Count(d.Body, "run.failed PROD run run-0001"); n != 47 {
		t.Errorf("digest lists %d events, want 47:\n%s", n, d.Body)
	}
	if d.Header.Get("X-Datahub-Event") != "digest" {
		t.Errorf("digest header %q", d.Header.Get("X-Datahub-Event"))
	}

	recs := listAll(t, svc, Filter{Limit: 7})
	c := countStatus(recs)
	if c[StatusSent] != 3 || c[StatusSuppressed] != 47 || c[StatusDigested] != 1 || len(recs) != 51 {
		t.Fatalf("statuses %v of %d records", c, len(recs))
	}
	var digestID string
	for _, r := range recs {
		if r.Status == StatusDigested {
			digestID = r.ID
			if r.Events != 47 || r.EventType != "run.failed" {
				t.Errorf("digest record %+v", r)
			}
		}
	}
	for _, r := range recs {
		if r.Status == StatusSuppressed && r.DigestID != digestID {
			t.Errorf("suppressed record %s not tied to the digest: %q", r.ID, r.DigestID)
		}
	}
	if got := listAll(t, svc, Filter{Status: StatusSuppressed, Limit: 1000}); len(got) != 47 {
		t.Errorf("filter by status: %d", len(got))
	}

	// The next window starts afresh.
	if err := svc.Handle(ctx, failedRun(clk.Now())); err != nil {
		t.Fatal(err)
	}
	if n := len(mailer.Messages()); n != 5 {
		t.Errorf("after the digest: %d emails, want 5", n)
	}
}

// Two servers on one store share the throttle and send the digest once.
func TestTwoServersSendOneDigest(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		wh := startHook(t)
		clk := newClock()
		rule := Rule{
			Name: "failures", Enabled: true,
			Channels: []Channel{{Type: ChannelWebhook, URL: wh.URL, Secret: fileRef(t, "k", "key")}},
			Throttle: Throttle{Window: Duration(time.Minute), Max: 2},
		}
		a := New(db, Options{Guard: loopback(t), Rules: StaticRules{rule}, Now: clk.Now})
		b := New(db, Options{Guard: loopback(t), Rules: StaticRules{rule}, Now: clk.Now})
		var wg sync.WaitGroup
		for i := 0; i < 20; i++ {
			svc := a
			if i%2 == 1 {
				svc = b
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := svc.Handle(ctx, failedRun(clk.Now())); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		if n := len(wh.Requests()); n != 2 {
			t.Fatalf("%d deliveries in the window, want 2", n)
		}
		clk.Advance(2 * time.Minute)
		for i := 0; i < 6; i++ {
			svc := a
			if i%2 == 1 {
				svc = b
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := svc.FlushDue(ctx); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		reqs := wh.Requests()
		if len(reqs) != 3 {
			t.Fatalf("%d deliveries, want 2 and one digest", len(reqs))
		}
		var digest digestPayload
		if err := json.Unmarshal(reqs[2].Body, &digest); err != nil || digest.Type != "digest" || digest.Count != 18 || len(digest.Events) != 18 {
			t.Fatalf("digest %s: %v", reqs[2].Body, err)
		}
		if reqs[2].Header.Get(HeaderEvent) != "digest" {
			t.Errorf("digest event header %q", reqs[2].Header.Get(HeaderEvent))
		}
		c := countStatus(listAll(t, a, Filter{}))
		if c[StatusSent] != 2 || c[StatusSuppressed] != 18 || c[StatusDigested] != 1 {
			t.Errorf("statuses %v", c)
		}
	})
}

func TestSMTPFailureRetriesThenFails(t *testing.T) {
	ctx := context.Background()
	mailer := startSMTP(t)
	mailer.FailData = true
	var sl sleeps
	rule := Rule{Name: "r", Enabled: true, Channels: []Channel{{Type: ChannelEmail, To: []string{"ops@example.org"}}}}
	svc := New(storetest.SQLite(t), Options{Guard: loopback(t), Rules: StaticRules{rule}, SMTP: smtpConfig(t, mailer),
		Retry: Retry{Attempts: 3, Backoff: time.Second}, Sleep: sl.Sleep})
	if err := svc.Handle(ctx, failedRun(time.Now())); err != nil {
		t.Fatal(err)
	}
	if n := mailer.Attempts(); n != 3 {
		t.Errorf("%d attempts, want 3", n)
	}
	if !slices.Equal(sl.d, []time.Duration{time.Second, 2 * time.Second}) {
		t.Errorf("back-off %v", sl.d)
	}
	recs := listAll(t, svc, Filter{Status: StatusFailed})
	if len(recs) != 1 || recs[0].Attempts != 3 || !strings.Contains(recs[0].Error, "451") {
		t.Fatalf("records %+v", recs)
	}
	if strings.Contains(recs[0].Error, mailer.Pass) {
		t.Error("the SMTP password is in the recorded error")
	}
}

func TestSMTPRequiresTLS(t *testing.T) {
	// A relay that does not offer STARTTLS is refused unless insecure is set.
	l := startPlainSMTP(t)
	rule := Rule{Name: "r", Enabled: true, Channels: []Channel{{Type: ChannelEmail, To: []string{"ops@example.org"}}}}
	svc := New(storetest.SQLite(t), Options{Guard: loopback(t), Rules: StaticRules{rule}, SMTP: SMTP{Addr: l, From: "hub@example.org"}})
	if err := svc.Handle(context.Background(), failedRun(time.Now())); err != nil {
		t.Fatal(err)
	}
	recs := listAll(t, svc, Filter{})
	if len(recs) != 1 || recs[0].Status != StatusFailed || !strings.Contains(recs[0].Error, "STARTTLS") || recs[0].Attempts != 1 {
		t.Fatalf("records %+v", recs)
	}
}

func TestWebhookHonoursRetryAfter(t *testing.T) {
	wh := startHook(t)
	wh.respond = func(n int, w http.ResponseWriter) int {
		if n == 0 {
			w.Header().Set("Retry-After", "7")
			return http.StatusTooManyRequests
		}
		return http.StatusOK
	}
	var sl sleeps
	rule := Rule{Name: "r", Enabled: true, Channels: []Channel{{Type: ChannelSlack, URL: wh.URL + "/services/T1/B2/tok"}}}
	svc := New(storetest.SQLite(t), Options{Guard: loopback(t), Rules: StaticRules{rule}, Retry: Retry{Backoff: time.Second}, Sleep: sl.Sleep})
	if err := svc.Handle(context.Background(), failedRun(time.Now())); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(sl.d, []time.Duration{7 * time.Second}) {
		t.Errorf("waits %v, want [7s]", sl.d)
	}
	recs := listAll(t, svc, Filter{})
	if len(recs) != 1 || recs[0].Status != StatusSent || recs[0].Attempts != 2 {
		t.Fatalf("records %+v", recs)
	}
}

// Secrets (signing keys, tokens in chat URLs, the SMTP password) never reach the log table
// or errors.
func TestSecretsNeverRecorded(t *testing.T) {
	ctx := context.Background()
	wh := startHook(t)
	wh.respond = func(int, http.ResponseWriter) int { return http.StatusForbidden }
	const token, key = "tok-SECRET-123", "key-SECRET-456"
	rule := Rule{Name: "r", Enabled: true, Channels: []Channel{
		{Type: ChannelSlack, URL: wh.URL + "/services/T0/B0/" + token},
		{Type: ChannelTeams, URL: fileRef(t, "teams-url", wh.URL+"/webhookb2/"+token)},
		{Type: ChannelWebhook, URL: wh.URL + "/hook?token=" + token, Secret: fileRef(t, "key", key)},
		{Type: ChannelWebhook, Name: "nokey", URL: wh.URL, Secret: "env:DATAHUB_TEST_UNSET_KEY"},
		{Type: ChannelEmail, To: []string{"ops@example.org"}},
	}}
	db := storetest.SQLite(t)
	svc := New(db, Options{Guard: loopback(t), Rules: StaticRules{rule}, SMTP: SMTP{Addr: "127.0.0.1:1", From: "hub@example.org", Username: "u", Password: fileRef(t, "pw", key)},
		Retry: Retry{Attempts: 2}, Sleep: (&sleeps{}).Sleep})
	err := svc.Handle(ctx, failedRun(time.Now()))
	if err != nil && (strings.Contains(err.Error(), token) || strings.Contains(err.Error(), key)) {
		t.Errorf("error leaks a secret: %v", err)
	}
	if n := len(wh.Requests()); n != 3 {
		t.Errorf("%d webhook calls, want 3 (403 is not retried)", n)
	}
	rows, err := db.Query(ctx, `SELECT id, rule, channel, recipients, status, error, event FROM notify_log`)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = rows.Close() }()
	n := 0
	for rows.Next() {
		var cols [7]string
		if err := rows.Scan(&cols[0], &cols[1], &cols[2], &cols[3], &cols[4], &cols[5], &cols[6]); err != nil {
			t.Fatal(err)
		}
		n++
		row := strings.Join(cols[:], " | ")
		if strings.Contains(row, token) || strings.Contains(row, key) {
			t.Errorf("log row leaks a secret: %s", row)
		}
		if cols[4] != string(StatusFailed) {
			t.Errorf("row %s: want failed", row)
		}
	}
	if n != 5 {
		t.Errorf("%d log rows, want 5", n)
	}
}

func TestVerifySignature(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	ts := "1700000000"
	body := []byte(`{"id":"1"}`)
	good := Sign("k", ts, body)
	for _, tc := range []struct {
		name, key, ts, header string
		body                  []byte
		now                   time.Time
		ok                    bool
	}{
		{"good", "k", ts, good, body, now, true},
		{"wrong key", "x", ts, good, body, now, false},
		{"tampered body", "k", ts, good, []byte(`{"id":"2"}`), now, false},
		{"other timestamp", "k", "1700000001", good, body, now, false},
		{"too old", "k", ts, good, body, now.Add(MaxSignatureAge + time.Second), false},
		{"future", "k", ts, good, body, now.Add(-MaxSignatureAge - time.Second), false},
		{"no prefix", "k", ts, strings.TrimPrefix(good, "sha256="), body, now, false},
		{"bad timestamp", "k", "abc", good, body, now, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := verifySignatureAt(tc.now, tc.key, tc.ts, tc.body, tc.header)
			if (err == nil) != tc.ok {
				t.Errorf("err = %v, want ok=%v", err, tc.ok)
			}
		})
	}
	if err := VerifySignature("k", ts, body, good); err == nil {
		t.Error("a 2023 timestamp verified now")
	}
}

func TestRuleMatches(t *testing.T) {
	e := failedRun(time.Now())
	e.Labels = map[string]string{"domain": "sales", "tier": "1"}
	for _, tc := range []struct {
		name string
		m    Match
		want bool
	}{
		{"everything", Match{}, true},
		{"type", Match{Types: []event.Type{event.RunFailed, event.RunPartial}}, true},
		{"other type", Match{Types: []event.Type{event.RunSucceeded}}, false},
		{"integration pattern", Match{Integrations: []string{"orders-*"}}, true},
		{"other integration", Match{Integrations: []string{"billing"}}, false},
		{"system", Match{Systems: []string{"erp"}}, true},
		{"env any case", Match{Envs: []string{"prod"}}, true},
		{"other env", Match{Envs: []string{"DEV"}}, false},
		{"labels", Match{Labels: map[string]string{"domain": "sales"}}, true},
		{"label differs", Match{Labels: map[string]string{"domain": "hr"}}, false},
		{"label missing", Match{Labels: map[string]string{"owner": "x"}}, false},
		{"severity", Match{MinSeverity: event.SeverityWarning}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := Rule{Name: "r", Enabled: true, Match: tc.m}
			if got := r.Matches(e); got != tc.want {
				t.Errorf("Matches = %v, want %v", got, tc.want)
			}
		})
	}
	ok := failedRun(time.Now())
	ok.Type, ok.Severity = event.RunSucceeded, event.SeverityInfo
	if (&Rule{Enabled: true, Match: Match{MinSeverity: event.SeverityWarning}}).Matches(ok) {
		t.Error("an info event passed minSeverity warning")
	}
	if (&Rule{Match: Match{}}).Matches(e) {
		t.Error("a disabled rule matched")
	}
}

func TestRuleValidate(t *testing.T) {
	bad := Rule{Name: "r", Match: Match{Types: []event.Type{"run.exploded"}, MinSeverity: "fatal"}, Channels: []Channel{
		{Type: ChannelEmail, To: []string{"not an address"}},
		{Type: ChannelWebhook, URL: "https://x.example/h", Secret: "inline-key"},
		{Type: "pager"},
	}}
	err := bad.Validate()
	if err == nil {
		t.Fatal("want errors")
	}
	for _, want := range []string{"run.exploded", "fatal", "not an address", "channels[1].secret", "pager"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
	if strings.Contains(err.Error(), "inline-key") {
		t.Error("the error repeats an inline key")
	}
	var r Rule
	if err := json.Unmarshal([]byte(`{"name":"x","enabled":true,"throttle":{"window":"15m","max":2},
		"channels":[{"type":"email","to":["owner","role:oncall"]}]}`), &r); err != nil {
		t.Fatal(err)
	}
	if r.Throttle.window() != 15*time.Minute || r.Throttle.max() != 2 || r.Validate() != nil {
		t.Errorf("decoded %+v: %v", r, r.Validate())
	}
}

func TestResolveRecipients(t *testing.T) {
	p := directory["orders-sync"]
	for _, tc := range []struct {
		to   []string
		want []string
	}{
		{[]string{RoleOwner}, []string{"alice@example.org"}},
		{[]string{RoleSystemOwners}, []string{"crm@example.org"}}, // erp-team is not an address
		{[]string{"role:oncall", "Bob@Example.org"}, []string{"bob@example.org"}},
		{[]string{RoleSystemContacts}, []string{"bob@example.org", "carol@example.org"}},
	} {
		if got := resolveRecipients(tc.to, p); !slices.Equal(got, tc.want) {
			t.Errorf("%v: got %v, want %v", tc.to, got, tc.want)
		}
	}
}
