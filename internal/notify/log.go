package notify

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/datahub-oss/datahub/internal/store"
)

func init() {
	store.Register(store.Migration{Component: "notify", Version: 1, SQL: `
CREATE TABLE notify_log (
	id TEXT PRIMARY KEY,
	time TEXT NOT NULL,
	rule TEXT NOT NULL,
	channel TEXT NOT NULL,
	channel_type TEXT NOT NULL,
	recipients TEXT NOT NULL,
	event_id TEXT NOT NULL,
	event_type TEXT NOT NULL,
	integration TEXT NOT NULL,
	status TEXT NOT NULL,
	error TEXT NOT NULL,
	attempts INTEGER NOT NULL,
	events INTEGER NOT NULL,
	throttle_key TEXT NOT NULL,
	digest_id TEXT NOT NULL,
	event TEXT NOT NULL
);
CREATE INDEX notify_log_time ON notify_log (time, id);
CREATE INDEX notify_log_held ON notify_log (throttle_key, status, digest_id);
CREATE TABLE notify_throttle (
	key TEXT PRIMARY KEY,
	rule TEXT NOT NULL,
	channel TEXT NOT NULL,
	integration TEXT NOT NULL,
	window_start TEXT NOT NULL,
	window_end TEXT NOT NULL,
	sent INTEGER NOT NULL,
	held INTEGER NOT NULL
);
CREATE INDEX notify_throttle_due ON notify_throttle (window_end)`})
}

// Status is what became of a notification.
type Status string

// The statuses.
const (
	// StatusSent: delivered.
	StatusSent Status = "sent"
	// StatusFailed: not delivered after the retries, or not deliverable at all.
	StatusFailed Status = "failed"
	// StatusSuppressed: held back by the throttle; DigestID names the digest that carried it
	// once it is sent.
	StatusSuppressed Status = "suppressed"
	// StatusDigested: a digest of suppressed notifications, delivered.
	StatusDigested Status = "digested"
)

// Record is one entry of the notification log.
type Record struct {
	ID          string    `json:"id"`
	Time        time.Time `json:"time"`
	Rule        string    `json:"rule"`
	Channel     string    `json:"channel"`
	ChannelType string    `json:"channelType"`
	// Recipients are email addresses, or the webhook's host (the rest of a URL may be a token).
	Recipients  []string `json:"recipients"`
	EventID     string   `json:"eventId,omitempty"`
	EventType   string   `json:"eventType"`
	Integration string   `json:"integration,omitempty"`
	Status      Status   `json:"status"`
	Error       string   `json:"error,omitempty"`
	Attempts    int      `json:"attempts"`
	// Events is how many events the notification covers: more than one for a digest.
	Events   int    `json:"events"`
	DigestID string `json:"digestId,omitempty"`

	throttleKey string
	event       string
}

// insertRecord writes a record with '?' placeholders through db or a transaction.
func insertRecord(ctx context.Context, exec func(ctx context.Context, q string, args ...any) (sql.Result, error), r *Record) error {
	to, err := json.Marshal(r.Recipients)
	if err != nil {
		return err
	}
	_, err = exec(ctx, `INSERT INTO notify_log (id, time, rule, channel, channel_type, recipients, event_id, event_type,
		integration, status, error, attempts, events, throttle_key, digest_id, event)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		r.ID, store.Time(r.Time), r.Rule, r.Channel, r.ChannelType, string(to), r.EventID, r.EventType,
		r.Integration, string(r.Status), r.Error, r.Attempts, r.Events, r.throttleKey, r.DigestID, r.event)
	if err != nil {
		return fmt.Errorf("record notification: %w", err)
	}
	return nil
}

// Filter selects and pages List's records.
type Filter struct {
	Rule        string
	Integration string
	Status      Status
	EventType   string
	// Since and Until bound the time (Since inclusive, Until exclusive); zero is unbounded.
	Since, Until time.Time
	// Limit is the page size (default 100, at most 1000).
	Limit int
	// Cursor continues after the previous page.
	Cursor string
}

// List returns records newest first, and the cursor of the next page ("" on the last).
func (s *Service) List(ctx context.Context, f Filter) ([]Record, string, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	limit = min(limit, 1000)
	var where []string
	var args []any
	add := func(cond string, v any) { where = append(where, cond); args = append(args, v) }
	if f.Rule != "" {
		add("rule = ?", f.Rule)
	}
	if f.Integration != "" {
		add("integration = ?", f.Integration)
	}
	if f.Status != "" {
		add("status = ?", string(f.Status))
	}
	if f.EventType != "" {
		add("event_type = ?", f.EventType)
	}
	if !f.Since.IsZero() {
		add("time >= ?", store.Time(f.Since))
	}
	if !f.Until.IsZero() {
		add("time < ?", store.Time(f.Until))
	}
	if f.Cursor != "" {
		t, id, err := decodeCursor(f.Cursor)
		if err != nil {
			return nil, "", err
		}
		where = append(where, "(time < ? OR (time = ? AND id < ?))")
		args = append(args, t, t, id)
	}
	q := `SELECT id, time, rule, channel, channel_type, recipients, event_id, event_type, integration, status, error,
		attempts, events, digest_id FROM notify_log`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += fmt.Sprintf(" ORDER BY time DESC, id DESC LIMIT %d", limit+1)
	rows, err := s.db.Query(ctx, q, args...)
	if err != nil {
		return nil, "", fmt.Errorf("list notifications: %w", err)
	}
	defer func() { _ = rows.Close() }()
	var out []Record
	for rows.Next() {
		var r Record
		var t, to, st string
		if err := rows.Scan(&r.ID, &t, &r.Rule, &r.Channel, &r.ChannelType, &to, &r.EventID, &r.EventType,
			&r.Integration, &st, &r.Error, &r.Attempts, &r.Events, &r.DigestID); err != nil {
			return nil, "", fmt.Errorf("list notifications: %w", err)
		}
		if r.Time, err = store.ParseTime(t); err != nil {
			return nil, "", fmt.Errorf("list notifications: %s: %w", r.ID, err)
		}
		if err := json.Unmarshal([]byte(to), &r.Recipients); err != nil {
			return nil, "", fmt.Errorf("list notifications: %s: %w", r.ID, err)
		}
		r.Status = Status(st)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("list notifications: %w", err)
	}
	next := ""
	if len(out) > limit {
		out = out[:limit]
		last := out[limit-1]
		next = encodeCursor(store.Time(last.Time), last.ID)
	}
	return out, next, nil
}

func encodeCursor(t, id string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(t + " " + id))
}

func decodeCursor(c string) (t, id string, err error) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err == nil {
		var ok bool
		if t, id, ok = strings.Cut(string(b), " "); ok {
			return t, id, nil
		}
	}
	return "", "", ErrBadCursor
}

// ErrBadCursor is List's error for a cursor it did not write.
var ErrBadCursor = errors.New("list notifications: bad cursor")
