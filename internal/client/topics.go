package client

import (
	"bytes"
	"context"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/google/uuid"
)

// PublishOptions are a published message's subject, id, key, headers and content type.
type PublishOptions struct {
	// Subject is the subject suffix ("" for "default").
	Subject string
	// IdempotencyKey is the message id: publishing it again within 2 minutes stores nothing.
	IdempotencyKey string
	// Key is the ordering key (X-DataHub-Key).
	Key string
	// Headers become the message's headers (sent as X-DataHub-Header-<name>).
	Headers     map[string]string
	ContentType string
	// RetryFor, when set, retries through transient failures (the server or its bus is
	// down: 503, no connection) for that long, every try with the same message id: one is
	// chosen before the first try when IdempotencyKey is empty, so a try that was stored
	// although it was not confirmed makes the retries duplicates the bus drops. Keep it under
	// the duplicate window (2 minutes).
	RetryFor time.Duration
}

// PublishResult is where a message was stored.
type PublishResult struct {
	Seq       uint64 `json:"seq"`
	Duplicate bool   `json:"duplicate"`
	MessageID string `json:"message_id"`
}

// Publish stores a message on a topic (see PublishOptions.RetryFor for retries).
func (c *Client) Publish(ctx context.Context, topic string, data []byte, o PublishOptions) (PublishResult, error) {
	if o.RetryFor <= 0 {
		return c.publishOnce(ctx, topic, data, o)
	}
	if o.IdempotencyKey == "" {
		o.IdempotencyKey = uuid.NewString()
	}
	var res PublishResult
	err := retrying(ctx, c.clock, o.RetryFor, nil, func() error {
		var err error
		res, err = c.publishOnce(ctx, topic, data, o)
		return err
	})
	return res, err
}

func (c *Client) publishOnce(ctx context.Context, topic string, data []byte, o PublishOptions) (PublishResult, error) {
	q := url.Values{}
	if o.Subject != "" {
		q.Set("subject", o.Subject)
	}
	h := http.Header{}
	if o.IdempotencyKey != "" {
		h.Set("Idempotency-Key", o.IdempotencyKey)
	}
	if o.Key != "" {
		h.Set("X-DataHub-Key", o.Key)
	}
	for k, v := range o.Headers {
		h.Set("X-DataHub-Header-"+k, v)
	}
	ct := o.ContentType
	if ct == "" {
		ct = "application/octet-stream"
	}
	var out PublishResult
	err := c.do(ctx, request{method: http.MethodPost, path: "/topics/" + seg(topic) + "/messages", query: q,
		body: bytes.NewReader(data), contentType: ct, header: h}, nil, &out)
	return out, err
}

// TopicMessage is a message read from a topic.
type TopicMessage struct {
	Topic     string            `json:"topic"`
	Subject   string            `json:"subject"`
	Seq       uint64            `json:"seq"`
	Time      time.Time         `json:"time"`
	MessageID string            `json:"message_id,omitempty"`
	Headers   map[string]string `json:"headers,omitempty"`
	Data      []byte            `json:"data"`
}

// TopicMessages is a batch read from a topic; Last is the after of the next read.
type TopicMessages struct {
	Items []TopicMessage `json:"items"`
	Last  uint64         `json:"last"`
}

// ReadTopic returns up to limit messages after sequence after, waiting up to wait (at most
// 60s) for the first: call it in a loop to tail a topic.
func (c *Client) ReadTopic(ctx context.Context, topic string, after uint64, limit int, wait time.Duration) (TopicMessages, error) {
	q := url.Values{"after": {strconv.FormatUint(after, 10)}}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	if wait > 0 {
		q.Set("wait", wait.String())
	}
	var out TopicMessages
	err := c.do(ctx, request{method: http.MethodGet, path: "/topics/" + seg(topic) + "/messages", query: q, long: true}, nil, &out)
	return out, err
}

// DeadLetter is a message in a subscription's dead-letter queue.
type DeadLetter struct {
	Seq        uint64            `json:"seq"`
	Topic      string            `json:"topic"`
	Subject    string            `json:"subject"`
	TopicSeq   uint64            `json:"topic_seq"`
	MessageID  string            `json:"message_id,omitempty"`
	Deliveries uint64            `json:"deliveries"`
	Error      string            `json:"error"`
	Time       time.Time         `json:"time"`
	Headers    map[string]string `json:"headers,omitempty"`
	Data       []byte            `json:"data,omitempty"`
}

// DeadLetters lists a subscription's dead letters after DLQ sequence after (without bodies).
func (c *Client) DeadLetters(ctx context.Context, sub string, after uint64, limit int) ([]DeadLetter, string, error) {
	q := url.Values{"after": {strconv.FormatUint(after, 10)}}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	var p page[DeadLetter]
	if err := c.do(ctx, request{method: http.MethodGet, path: "/subscriptions/" + seg(sub) + "/dlq", query: q}, nil, &p); err != nil {
		return nil, "", err
	}
	return p.Items, string(p.Next), nil
}

// DeadLetter returns one dead letter with its body.
func (c *Client) DeadLetter(ctx context.Context, sub string, seq uint64) (DeadLetter, error) {
	var d DeadLetter
	err := c.do(ctx, request{method: http.MethodGet, path: "/subscriptions/" + seg(sub) + "/dlq/" + strconv.FormatUint(seq, 10)}, nil, &d)
	return d, err
}

// ReplayDeadLetter republishes one dead letter to its subscription and removes it.
func (c *Client) ReplayDeadLetter(ctx context.Context, sub string, seq uint64) (PublishResult, error) {
	var out PublishResult
	err := c.do(ctx, request{method: http.MethodPost, path: "/subscriptions/" + seg(sub) + "/dlq/" + strconv.FormatUint(seq, 10) + "/replay"}, nil, &out)
	return out, err
}

// ReplayDeadLetters replays every dead letter of a subscription and returns how many.
func (c *Client) ReplayDeadLetters(ctx context.Context, sub string) (int, error) {
	var out struct {
		Replayed int `json:"replayed"`
	}
	err := c.do(ctx, request{method: http.MethodPost, path: "/subscriptions/" + seg(sub) + "/dlq/replay", long: true}, nil, &out)
	return out.Replayed, err
}
