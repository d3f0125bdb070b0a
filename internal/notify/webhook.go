package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/datahub-oss/datahub/internal/outbound"
	"github.com/datahub-oss/datahub/internal/secret"
)

// The headers of a webhook delivery.
const (
	HeaderEvent     = "X-DataHub-Event"
	HeaderDelivery  = "X-DataHub-Delivery"
	HeaderTimestamp = "X-DataHub-Timestamp"
	HeaderSignature = "X-DataHub-Signature"
)

// MaxSignatureAge is how old a signed delivery VerifySignature accepts, which bounds replays.
const MaxSignatureAge = 5 * time.Minute

// Sign returns the X-DataHub-Signature value of a body sent at timestamp (Unix seconds, as in
// X-DataHub-Timestamp): "sha256=" and the hex HMAC-SHA256, keyed with the shared secret, of
// the timestamp, a dot and the body.
func Sign(secretKey, timestamp string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secretKey))
	mac.Write([]byte(timestamp))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// VerifySignature checks a delivery as a receiver should: recompute Sign over the raw body
// and the X-DataHub-Timestamp header, compare it with X-DataHub-Signature in constant time,
// and refuse timestamps more than MaxSignatureAge away from now (replays). Receivers should
// also drop a X-DataHub-Delivery id they have already processed.
func VerifySignature(secretKey, timestamp string, body []byte, header string) error {
	return verifySignatureAt(time.Now(), secretKey, timestamp, body, header)
}

func verifySignatureAt(now time.Time, secretKey, timestamp string, body []byte, header string) error {
	ts, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil {
		return errors.New("verify webhook signature: bad timestamp")
	}
	age := now.Sub(time.Unix(ts, 0))
	if age > MaxSignatureAge || age < -MaxSignatureAge {
		return errors.New("verify webhook signature: timestamp too old or in the future")
	}
	if !strings.HasPrefix(header, "sha256=") {
		return errors.New("verify webhook signature: want sha256=<hex>")
	}
	want := Sign(secretKey, timestamp, body)
	if !hmac.Equal([]byte(want), []byte(header)) {
		return errors.New("verify webhook signature: signature does not match")
	}
	return nil
}

// httpSender posts to webhooks: signed JSON of the event, or a Teams or Slack message.
type httpSender struct {
	kind    string
	client  *http.Client
	secrets Resolver
	check   func(ctx context.Context, rule string, refs ...string) error
}

func (h *httpSender) send(ctx context.Context, d *delivery) error {
	if h.check != nil {
		if err := h.check(ctx, d.Rule, d.Channel.URL, d.Channel.Secret); err != nil {
			return permanent(fmt.Errorf("%s channel: %w", h.kind, err))
		}
	}
	target := d.Channel.URL
	if secret.IsRef(target) {
		u, err := h.secrets.Resolve(ctx, target)
		if err != nil {
			return permanent(fmt.Errorf("%s URL: %w", h.kind, err))
		}
		target = u
	}
	var body []byte
	var err error
	switch h.kind {
	case ChannelTeams:
		body, err = teamsPayload(d.Msg)
	case ChannelSlack:
		body, err = slackPayload(d.Msg)
	default:
		body = d.Payload
	}
	if err != nil {
		return permanent(err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return permanent(fmt.Errorf("post %s to %s: bad URL", h.kind, redactURL(target)))
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "datahub-notify")
	if h.kind == ChannelWebhook {
		key, err := h.secrets.Resolve(ctx, d.Channel.Secret)
		if err != nil {
			return permanent(fmt.Errorf("webhook signing key: %w", err))
		}
		ts := strconv.FormatInt(d.Time.Unix(), 10)
		req.Header.Set(HeaderEvent, d.Kind)
		req.Header.Set(HeaderDelivery, d.ID)
		req.Header.Set(HeaderTimestamp, ts)
		req.Header.Set(HeaderSignature, Sign(key, ts, body))
	}
	resp, err := h.client.Do(req)
	if err != nil {
		return httpError(d, "post "+h.kind+" to", target, err)
	}
	defer func() { _ = resp.Body.Close() }()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	err = fmt.Errorf("post %s to %s: HTTP %d", h.kind, redactURL(target), resp.StatusCode)
	switch {
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable:
		return &retryAfterError{err: err, after: retryAfter(resp.Header.Get("Retry-After"), d.Time)}
	case resp.StatusCode >= 500 || resp.StatusCode == http.StatusRequestTimeout:
		return err
	}
	return permanent(err)
}

// retryAfter reads a Retry-After header: seconds or an HTTP date.
func retryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && n > 0 {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// newHTTPClient is the default client: dialling through the guard, bounded, and not
// following redirects, which would carry a signed body to wherever a compromised receiver
// points.
func newHTTPClient(g *outbound.Guard) *http.Client {
	c := g.Client(15 * time.Second)
	c.CheckRedirect = outbound.NoRedirects
	return c
}

// teamsPayload is an Adaptive Card message, what Teams Workflows ("Post to a channel when a
// webhook request is received") and incoming webhooks accept.
func teamsPayload(m rendered) ([]byte, error) {
	card := map[string]any{
		"type": "message",
		"attachments": []any{map[string]any{
			"contentType": "application/vnd.microsoft.card.adaptive",
			"content": map[string]any{
				"$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
				"type":    "AdaptiveCard",
				"version": "1.4",
				"body": []any{
					map[string]any{"type": "TextBlock", "text": m.Subject, "weight": "Bolder", "size": "Medium", "wrap": true},
					map[string]any{"type": "TextBlock", "text": m.Chat, "wrap": true, "fontType": "Monospace"},
				},
			},
		}},
	}
	return marshal(card)
}

// slackPayload is an incoming-webhook message: text for notifications and clients without
// blocks, blocks for the header and the details.
func slackPayload(m rendered) ([]byte, error) {
	header := m.Subject
	if r := []rune(header); len(r) > 150 {
		header = string(r[:149]) + "…"
	}
	text := m.Chat
	if r := []rune(text); len(r) > 2900 {
		text = string(r[:2899]) + "…"
	}
	msg := map[string]any{
		"text": m.Subject,
		"blocks": []any{
			map[string]any{"type": "header", "text": map[string]any{"type": "plain_text", "text": header}},
			map[string]any{"type": "section", "text": map[string]any{"type": "mrkdwn", "text": text}},
		},
	}
	return marshal(msg)
}

func marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}
