package client

import (
	"context"
	"net/http"
	"time"
)

// PulledMessage is a message fetched from a pull subscription, with the token that settles it.
type PulledMessage struct {
	TopicMessage
	// Delivered is how many times the subscription delivered it, this time included.
	Delivered uint64 `json:"delivered,omitempty"`
	// AckToken settles the message (AckSubscription).
	AckToken string `json:"ack_token"`
}

// Settle actions of AckSubscription.
const (
	AckAck      = "ack"
	AckNak      = "nak"
	AckProgress = "progress"
	AckTerm     = "term"
)

// FetchSubscription returns up to limit (1..1000; 0 for the server's 10) messages of a pull
// subscription, waiting up to wait (at most 60s) for the first. Settle each with
// AckSubscription before the subscription's ack wait, or it is delivered again.
func (c *Client) FetchSubscription(ctx context.Context, sub string, limit int, wait time.Duration) ([]PulledMessage, error) {
	in := struct {
		Max  int    `json:"max,omitempty"`
		Wait string `json:"wait,omitempty"`
	}{Max: limit}
	if wait > 0 {
		in.Wait = wait.String()
	}
	var out struct {
		Items []PulledMessage `json:"items"`
	}
	err := c.do(ctx, request{method: http.MethodPost, path: "/subscriptions/" + seg(sub) + "/fetch", long: true}, in, &out)
	return out.Items, err
}

// AckSubscription settles fetched messages by their tokens: action is AckAck (""), AckNak
// (delivered again after delay), AckProgress (still working: the ack wait restarts) or
// AckTerm (never delivered again). A token not of this subscription refuses the whole batch.
// It returns how many were settled.
func (c *Client) AckSubscription(ctx context.Context, sub string, tokens []string, action string, delay time.Duration) (int, error) {
	in := struct {
		Tokens []string `json:"tokens"`
		Action string   `json:"action,omitempty"`
		Delay  string   `json:"delay,omitempty"`
	}{Tokens: tokens, Action: action}
	if delay > 0 {
		in.Delay = delay.String()
	}
	var out struct {
		Settled int `json:"settled"`
	}
	err := c.do(ctx, request{method: http.MethodPost, path: "/subscriptions/" + seg(sub) + "/ack"}, in, &out)
	return out.Settled, err
}
