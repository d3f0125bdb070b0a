package client

import (
	"context"
	"net/http"
	"net/url"
	"time"
)

// Notification is one entry of the notification log: a notification sent, failed, held back
// by a rule's throttle (suppressed) or sent as a digest of held ones (digested).
type Notification struct {
	ID          string    `json:"id"`
	Time        time.Time `json:"time"`
	Rule        string    `json:"rule"`
	Channel     string    `json:"channel"`
	ChannelType string    `json:"channelType"`
	// Recipients are email addresses, or a webhook's host.
	Recipients  []string `json:"recipients"`
	EventID     string   `json:"eventId,omitempty"`
	EventType   string   `json:"eventType"`
	Integration string   `json:"integration,omitempty"`
	Status      string   `json:"status"`
	Error       string   `json:"error,omitempty"`
	Attempts    int      `json:"attempts"`
	// Events is how many events the notification covers (more than one for a digest).
	Events int `json:"events"`
	// DigestID names the digest that carried a suppressed notification.
	DigestID string `json:"digestId,omitempty"`
}

// NotificationFilter selects notifications.
type NotificationFilter struct {
	// Status is sent, failed, suppressed or digested ("" for all).
	Status      string
	Rule        string
	Integration string
	EventType   string
	// Since and Until bound the time (zero: unbounded).
	Since, Until time.Time
	Limit        int
	Cursor       string
}

// NotificationPage is one page of the notification log, newest first.
type NotificationPage struct {
	Items []Notification `json:"items"`
	Next  string         `json:"next"`
}

// Notifications returns one page of the notification log, newest first.
func (c *Client) Notifications(ctx context.Context, f NotificationFilter) (NotificationPage, error) {
	q := listQuery{}
	q.set("status", f.Status)
	q.set("rule", f.Rule)
	q.set("integration", f.Integration)
	q.set("event_type", f.EventType)
	q.window(f.Since, f.Until, f.Limit, f.Cursor)
	var p page[Notification]
	if err := c.do(ctx, request{method: http.MethodGet, path: "/notifications", query: url.Values(q)}, nil, &p); err != nil {
		return NotificationPage{}, err
	}
	if p.Items == nil {
		p.Items = []Notification{}
	}
	return NotificationPage{Items: p.Items, Next: string(p.Next)}, nil
}
