package notify

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/datahub-oss/datahub/internal/outbound"
	"github.com/datahub-oss/datahub/internal/store/storetest"
	"github.com/datahub-oss/datahub/internal/testutil"
)

// loopback is a guard that allows the test receivers, which listen on 127.0.0.1.
func loopback(t *testing.T) *outbound.Guard {
	t.Helper()
	g, err := outbound.New([]string{"127.0.0.0/8", "::1/128"})
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// TestWebhookGuard: with no allow list, webhook, Slack and Teams posts to loopback and to the
// metadata service's address are refused (at once, not retried), nothing reaches the
// listener, and the notification log names the channel and the refused address.
func TestWebhookGuard(t *testing.T) {
	wh := startHook(t)
	port := wh.URL[strings.LastIndex(wh.URL, ":")+1:]
	rule := Rule{Name: "r", Enabled: true, Channels: []Channel{
		{Name: "loop", Type: ChannelWebhook, URL: wh.URL + "/hook", Secret: "env:NOTIFY_GUARD_KEY"},
		{Name: "meta", Type: ChannelWebhook, URL: "http://169.254.169.254/latest/meta-data/", Secret: "env:NOTIFY_GUARD_KEY"},
		{Name: "mapped", Type: ChannelSlack, URL: "http://[::ffff:169.254.169.254]/services/T/B/tok"},
		{Name: "local", Type: ChannelTeams, URL: "http://localhost:" + port + "/webhookb2/tok"},
	}}
	t.Setenv("NOTIFY_GUARD_KEY", "k")
	var sl sleeps
	svc := New(storetest.SQLite(t), Options{Rules: StaticRules{rule}, Sleep: sl.Sleep})
	if err := svc.Handle(context.Background(), failedRun(time.Now())); err != nil {
		t.Fatal(err)
	}
	if n := len(wh.Requests()); n != 0 {
		t.Fatalf("%d posts reached the loopback listener", n)
	}
	if len(sl.d) != 0 {
		t.Errorf("refusals were retried: waits %v", sl.d)
	}
	want := map[string]string{
		"loop":   `channel "loop": post webhook to http://127.0.0.1:` + port + `/...: outbound address 127.0.0.1:` + port + ` refused (loopback); allow it with outbound.allow`,
		"meta":   `outbound address 169.254.169.254:80 refused (link-local)`,
		"mapped": `outbound address 169.254.169.254:80 refused (link-local)`,
		"local":  `refused (loopback)`,
	}
	recs := listAll(t, svc, Filter{})
	if len(recs) != len(want) {
		t.Fatalf("records %+v", recs)
	}
	for _, r := range recs {
		if r.Status != StatusFailed || r.Attempts != 1 || !strings.Contains(r.Error, want[r.Channel]) || strings.Contains(r.Error, "tok") {
			t.Errorf("channel %s: %s after %d attempts: %q, want %q", r.Channel, r.Status, r.Attempts, r.Error, want[r.Channel])
		}
	}
}

// TestWebhookNoTargetBytes: a receiver that answers with something other than HTTP (a NATS
// port's INFO banner) leaves a short reason in the notification log, none of its bytes.
func TestWebhookNoTargetBytes(t *testing.T) {
	addr := testutil.NotHTTP(t, "INFO {\"server_id\":\"NSECRETBANNER\",\"jetstream\":true}\r\n")
	rule := Rule{Name: "r", Enabled: true, Channels: []Channel{{Name: "nats", Type: ChannelSlack, URL: "http://" + addr + "/services/T/B/tok"}}}
	var sl sleeps
	svc := New(storetest.SQLite(t), Options{Guard: loopback(t), Rules: StaticRules{rule}, Sleep: sl.Sleep})
	if err := svc.Handle(context.Background(), failedRun(time.Now())); err != nil {
		t.Fatal(err)
	}
	recs := listAll(t, svc, Filter{})
	if len(recs) != 1 || recs[0].Status != StatusFailed {
		t.Fatalf("records %+v", recs)
	}
	for _, leak := range []string{"INFO", "SECRETBANNER", "server_id", "malformed", "tok"} {
		if strings.Contains(recs[0].Error, leak) {
			t.Errorf("the log holds %q: %q", leak, recs[0].Error)
		}
	}
	if !strings.Contains(recs[0].Error, "the target's answer is not HTTP") {
		t.Errorf("error %q", recs[0].Error)
	}
}
