// Package event defines the hub's own lifecycle events: what happened to which integration,
// system and environment, with the run's statistics. The worker and the API publish them on
// the bus (subject datahub.events.<type>); notification rules and subscribers consume them.
package event

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"
)

// Type names an event.
type Type string

// The event types.
const (
	RunQueued    Type = "run.queued"
	RunStarted   Type = "run.started"
	RunSucceeded Type = "run.succeeded"
	RunFailed    Type = "run.failed"
	RunPartial   Type = "run.partial"
	// RunParked: a run request failed on every delivery (the metadata store is down, say) and
	// is now offered only every few minutes until it can run; the run stays queued.
	RunParked              Type = "run.parked"
	ObjectReceived         Type = "object.received"
	ConnectionFailed       Type = "connection.failed"
	SubscriptionDeadLetter Type = "subscription.dead_lettered"
	ResourceChanged        Type = "resource.changed"
	// AuditAnchor carries the audit chain's head (Anchor), published periodically so that a
	// copy of it lives outside the metadata store.
	AuditAnchor Type = "audit.anchor"
)

// Types lists every event type.
var Types = []Type{RunQueued, RunStarted, RunSucceeded, RunFailed, RunPartial, RunParked, ObjectReceived,
	ConnectionFailed, SubscriptionDeadLetter, ResourceChanged, AuditAnchor}

// Severity ranks events for notification rules.
type Severity string

// The severities.
const (
	SeverityInfo    Severity = "info"
	SeverityWarning Severity = "warning"
	SeverityError   Severity = "error"
)

// SeverityOf is the default severity of an event type.
func SeverityOf(t Type) Severity {
	switch t {
	case RunFailed, RunParked, ConnectionFailed, SubscriptionDeadLetter:
		return SeverityError
	case RunPartial:
		return SeverityWarning
	}
	return SeverityInfo
}

// Stats are a run's counters, as in the transaction log.
type Stats struct {
	RowsRead     int64 `json:"rows_read"`
	RowsWritten  int64 `json:"rows_written"`
	RowsRejected int64 `json:"rows_rejected"`
	BytesRead    int64 `json:"bytes_read"`
	BytesWritten int64 `json:"bytes_written"`
	DurationMS   int64 `json:"duration_ms"`
}

// Event is one thing that happened. It never carries secrets: endpoints are redacted and
// errors scrubbed before an event is made.
type Event struct {
	ID          string            `json:"id"`
	Type        Type              `json:"type"`
	Time        time.Time         `json:"time"`
	Severity    Severity          `json:"severity"`
	Integration string            `json:"integration,omitempty"`
	System      string            `json:"system,omitempty"`
	Env         string            `json:"env,omitempty"`
	Labels      map[string]string `json:"labels,omitempty"`
	RunID       string            `json:"run_id,omitempty"`
	Stats       *Stats            `json:"stats,omitempty"`
	// Object names a file or object, for object.received.
	Object string `json:"object,omitempty"`
	// Resource names a changed resource as Kind/name, for resource.changed.
	Resource string `json:"resource,omitempty"`
	Error    string `json:"error,omitempty"`
	// Actor is who caused it, when a person did.
	Actor string `json:"actor,omitempty"`
	// Anchor is the audit chain's head, for audit.anchor.
	Anchor *Anchor `json:"anchor,omitempty"`
}

// Anchor is the audit chain's head at a time: its last seq and that entry's hash, the chain's
// scheme and the id of the master key it is keyed with.
type Anchor struct {
	Seq    int64  `json:"seq"`
	Hash   string `json:"hash"`
	Scheme string `json:"scheme"`
	KeyID  string `json:"key_id,omitempty"`
}

// New makes an event of type t now, with a fresh id and the type's default severity.
func New(t Type) Event {
	return Event{ID: uuid.Must(uuid.NewV7()).String(), Type: t, Time: time.Now().UTC(), Severity: SeverityOf(t)}
}

// Publisher puts events on the bus (subject datahub.events.<type>), deduplicated by their id.
// Events are best effort for most callers, who ignore the error once it is logged; a caller
// that retries or reports (the audit anchorer, the file trigger) gets it.
type Publisher interface {
	Publish(ctx context.Context, e Event) error
}

// Subject is the bus subject suffix of the event (its type).
func (e Event) Subject() string { return string(e.Type) }

// Marshal renders the event as JSON.
func (e Event) Marshal() ([]byte, error) { return json.Marshal(e) }

// Unmarshal reads an event, checking it has an id and a known type.
func Unmarshal(b []byte) (Event, error) {
	var e Event
	if err := json.Unmarshal(b, &e); err != nil {
		return e, fmt.Errorf("read event: %w", err)
	}
	if e.ID == "" {
		return e, fmt.Errorf("read event: no id")
	}
	known := false
	for _, t := range Types {
		known = known || t == e.Type
	}
	if !known {
		return e, fmt.Errorf("read event %s: unknown type %q", e.ID, e.Type)
	}
	return e, nil
}
