package client

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/datahub-oss/datahub/internal/runstatus"
)

// Change is what applying or deleting did to one resource.
type Change struct {
	Kind string `json:"kind"`
	Name string `json:"name"`
	// Action is created, updated, unchanged or deleted.
	Action       string `json:"action"`
	Version      int    `json:"version"`
	BeforeDigest string `json:"before_digest,omitempty"`
	AfterDigest  string `json:"after_digest,omitempty"`
}

// Metadata names and describes a resource.
type Metadata struct {
	Name        string            `json:"name"`
	Labels      map[string]string `json:"labels,omitempty"`
	Owner       string            `json:"owner,omitempty"`
	Description string            `json:"description,omitempty"`
}

// ResourceStatus is the server's bookkeeping of a live resource.
type ResourceStatus struct {
	Version   int       `json:"version"`
	Digest    string    `json:"digest"`
	UpdatedAt time.Time `json:"updated_at"`
	UpdatedBy string    `json:"updated_by"`
}

// Resource is a resource document as the server returns it.
type Resource struct {
	APIVersion string          `json:"apiVersion"`
	Kind       string          `json:"kind"`
	Metadata   Metadata        `json:"metadata"`
	Spec       json.RawMessage `json:"spec"`
	Status     *ResourceStatus `json:"status,omitempty"`
	// Raw is the document exactly as received (field order included), for printing.
	Raw json.RawMessage `json:"-"`
}

// UnmarshalJSON keeps the document as received in Raw.
func (r *Resource) UnmarshalJSON(b []byte) error {
	type plain Resource
	var p plain
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	*r = Resource(p)
	r.Raw = append(json.RawMessage(nil), b...)
	return nil
}

// MarshalJSON writes the document as received when there is one.
func (r Resource) MarshalJSON() ([]byte, error) {
	if len(r.Raw) > 0 {
		return r.Raw, nil
	}
	type plain Resource
	return json.Marshal(plain(r))
}

// Revision is one version of a resource.
type Revision struct {
	Version int `json:"version"`
	// Change is created, updated or deleted.
	Change    string    `json:"change"`
	Digest    string    `json:"digest"`
	CreatedAt time.Time `json:"created_at"`
	CreatedBy string    `json:"created_by"`
}

// Run is one run as the server reports it: the transaction log's record (txlog.Run) plus
// rows_per_second.
type Run struct {
	ID           string           `json:"run_id"`
	Kind         string           `json:"kind,omitempty"`
	Integration  string           `json:"integration,omitempty"`
	Env          string           `json:"env,omitempty"`
	Status       runstatus.Status `json:"status"`
	RequestedBy  string           `json:"requested_by,omitempty"`
	Source       string           `json:"source"`
	Destination  string           `json:"destination"`
	Mode         string           `json:"mode"`
	RowsRead     int64            `json:"rows_read"`
	RowsWritten  int64            `json:"rows_written"`
	RowsRejected int64            `json:"rows_rejected"`
	BytesRead    int64            `json:"bytes_read"`
	BytesWritten int64            `json:"bytes_written"`
	// Part is the share of the run's latest start (the last resume or takeover) in the
	// counters above, which are the run's totals.
	Part          RunStats   `json:"part"`
	Resumes       int        `json:"resumes,omitempty"`
	DurationMS    int64      `json:"duration_ms"`
	RowsPerSecond float64    `json:"rows_per_second"`
	RejectsPath   string     `json:"rejects_path"`
	FastPath      bool       `json:"fast_path"`
	Attempts      int        `json:"attempts"`
	StartedAt     time.Time  `json:"started_at"`
	FinishedAt    *time.Time `json:"finished_at,omitempty"`
	Error         string     `json:"error,omitempty"`
	ErrorCode     string     `json:"error_code,omitempty"`
	Host          string     `json:"host,omitempty"`
	PID           int        `json:"pid,omitempty"`
	HasCheckpoint bool       `json:"has_checkpoint,omitempty"`
}

// RunStats are a run's counters.
type RunStats struct {
	RowsRead     int64 `json:"rows_read"`
	RowsWritten  int64 `json:"rows_written"`
	RowsRejected int64 `json:"rows_rejected"`
	BytesRead    int64 `json:"bytes_read"`
	BytesWritten int64 `json:"bytes_written"`
}

// Final reports whether the run has ended (succeeded, partial, failed or canceled).
func (r Run) Final() bool { return r.Status.Final() }

// RunFilter selects runs for ListRuns.
type RunFilter struct {
	Status      runstatus.Status
	Integration string
	// Limit is the page size (the server's default, 50, when 0).
	Limit int
	// Cursor continues after the previous page (RunPage.Next).
	Cursor string
}

// RunPage is one page of runs, newest first.
type RunPage struct {
	Items []Run `json:"items"`
	// Next is the cursor of the following page, "" on the last one.
	Next string `json:"next"`
}

// Secret is a secret's name and dates; the API never returns a value.
type Secret struct {
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at,omitzero"`
	UpdatedAt time.Time `json:"updated_at"`
	CreatedBy string    `json:"created_by,omitempty"`
}

// User is a user account (never its password hash).
type User struct {
	ID          string    `json:"id,omitempty"`
	Name        string    `json:"name"`
	DisplayName string    `json:"display_name,omitempty"`
	Email       string    `json:"email,omitempty"`
	Roles       []string  `json:"roles"`
	Disabled    bool      `json:"disabled,omitempty"`
	Source      string    `json:"source,omitempty"`
	HasPassword bool      `json:"has_password"`
	CreatedAt   time.Time `json:"created_at,omitzero"`
	UpdatedAt   time.Time `json:"updated_at,omitzero"`
}

// NewUser is what CreateUser sends. A user without a password is a service account: it acts
// through tokens only.
type NewUser struct {
	Name        string   `json:"name"`
	Password    string   `json:"password,omitempty"`
	Roles       []string `json:"roles"`
	Email       string   `json:"email,omitempty"`
	DisplayName string   `json:"display_name,omitempty"`
}

// Token is an API token as listed: never the token itself.
type Token struct {
	ID     string `json:"id"`
	UserID string `json:"user_id,omitempty"`
	Name   string `json:"name"`
	// Prefix is the token's first characters, to recognise it.
	Prefix     string     `json:"prefix,omitempty"`
	CreatedAt  time.Time  `json:"created_at,omitzero"`
	ExpiresAt  *time.Time `json:"expires_at,omitempty"`
	LastUsedAt *time.Time `json:"last_used_at,omitempty"`
	RevokedAt  *time.Time `json:"revoked_at,omitempty"`
}

// NewToken is what CreateToken sends.
type NewToken struct {
	Name string `json:"name"`
	// User is whose token it is ("" for the caller's own).
	User string `json:"user,omitempty"`
	// ExpiresIn is the lifetime: a Go duration ("2160h"), days ("90d"), seconds ("3600") or
	// "never"; "" for the server's default.
	ExpiresIn string `json:"expires_in,omitempty"`
}

// CreatedToken is a new token: Token is shown this once and never again.
type CreatedToken struct {
	Token     string     `json:"token"`
	ID        string     `json:"id"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
}

// Principal is the authenticated caller.
type Principal struct {
	UserID string   `json:"user_id"`
	Name   string   `json:"name"`
	Roles  []string `json:"roles"`
	// Via is how the caller proved who it is: token, password or oidc.
	Via string `json:"via,omitempty"`
}

// Session is a login's token.
type Session struct {
	Token     string     `json:"token"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
	// User is who logged in, as the server describes them (a user object or a name).
	User json.RawMessage `json:"user,omitempty"`
}

// UserName returns the name of the user who logged in, "" when the answer does not say.
func (s Session) UserName() string {
	var u struct {
		Name string `json:"name"`
	}
	if json.Unmarshal(s.User, &u) == nil && u.Name != "" {
		return u.Name
	}
	var name string
	if json.Unmarshal(s.User, &name) == nil {
		return name
	}
	return ""
}

// AuditEntry is one record of the audit log.
type AuditEntry struct {
	Seq        int64     `json:"seq"`
	At         time.Time `json:"at"`
	Actor      string    `json:"actor"`
	Action     string    `json:"action"`
	TargetKind string    `json:"target_kind,omitempty"`
	TargetName string    `json:"target_name,omitempty"`
	Remote     string    `json:"remote,omitempty"`
	// Details is whatever else the entry records, as sent (an object or a JSON string).
	Details      json.RawMessage `json:"details,omitempty"`
	BeforeDigest string          `json:"before_digest,omitempty"`
	AfterDigest  string          `json:"after_digest,omitempty"`
	PrevHash     string          `json:"prev_hash,omitempty"`
	Hash         string          `json:"hash,omitempty"`
}

// AuditFilter selects audit entries.
type AuditFilter struct {
	Actor string
	// Action matches exactly, or by prefix when it ends in '*' ("resource.*").
	Action string
	Kind   string
	Name   string
	// Since and Until bound the entries' time (zero: unbounded).
	Since, Until time.Time
	Limit        int
	Cursor       string
}

// AuditPage is one page of audit entries, newest first.
type AuditPage struct {
	Items []AuditEntry `json:"items"`
	Next  string       `json:"next"`
}

// VerifyReport is the result of checking the audit log's hash chain.
type VerifyReport struct {
	OK      bool  `json:"ok"`
	Entries int64 `json:"entries"`
	// FirstBadSeq is the first entry found broken and Reason what is wrong (when not OK).
	FirstBadSeq int64  `json:"first_bad_seq,omitempty"`
	Reason      string `json:"reason,omitempty"`
	// HeadSeq and HeadHash are the chain's head; Scheme and KeyID how it is chained.
	HeadSeq  int64  `json:"head_seq"`
	HeadHash string `json:"head_hash,omitempty"`
	Scheme   string `json:"scheme,omitempty"`
	KeyID    string `json:"key_id,omitempty"`
	// Anchor is the anchor (SEQ:HASH) the chain was checked against, AnchorFrom "request" or
	// "file" (the server's anchor file); empty when none was.
	Anchor     string `json:"anchor,omitempty"`
	AnchorFrom string `json:"anchor_from,omitempty"`
}

// UnmarshalJSON reads the contract's report, and the audit package's own report shape
// (checked, broken_seq, problem, detail) should a server send that.
func (v *VerifyReport) UnmarshalJSON(b []byte) error {
	var r struct {
		OK          bool            `json:"ok"`
		Entries     *int64          `json:"entries"`
		FirstBadSeq int64           `json:"first_bad_seq"`
		Reason      string          `json:"reason"`
		Checked     int64           `json:"checked"`
		BrokenSeq   int64           `json:"broken_seq"`
		Problem     string          `json:"problem"`
		Detail      string          `json:"detail"`
		HeadSeq     int64           `json:"head_seq"`
		HeadHash    string          `json:"head_hash"`
		Scheme      string          `json:"scheme"`
		KeyID       string          `json:"key_id"`
		Anchor      json.RawMessage `json:"anchor"` // SEQ:HASH; the audit package's shape is an object
		AnchorFrom  string          `json:"anchor_from"`
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return err
	}
	*v = VerifyReport{OK: r.OK, Entries: r.Checked, FirstBadSeq: r.FirstBadSeq, Reason: r.Reason,
		HeadSeq: r.HeadSeq, HeadHash: r.HeadHash, Scheme: r.Scheme, KeyID: r.KeyID, AnchorFrom: r.AnchorFrom}
	var a struct {
		Seq  int64  `json:"seq"`
		Hash string `json:"hash"`
	}
	if err := json.Unmarshal(r.Anchor, &v.Anchor); err != nil && json.Unmarshal(r.Anchor, &a) == nil && a.Hash != "" {
		v.Anchor = fmt.Sprintf("%d:%s", a.Seq, a.Hash)
	}
	if r.Entries != nil {
		v.Entries = *r.Entries
	}
	if v.FirstBadSeq == 0 {
		v.FirstBadSeq = r.BrokenSeq
	}
	if v.Reason == "" {
		switch {
		case r.Problem != "" && r.Detail != "":
			v.Reason = r.Problem + ": " + r.Detail
		default:
			v.Reason = r.Problem + r.Detail
		}
	}
	return nil
}

// cursor is a page cursor that the server may send as a string or a number.
type cursor string

func (c *cursor) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case string(b) == "null":
		*c = ""
	case len(b) > 0 && b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*c = cursor(s)
	default:
		var n json.Number
		if err := json.Unmarshal(b, &n); err != nil {
			return fmt.Errorf("page cursor: %w", err)
		}
		if n == "0" {
			*c = ""
		} else {
			*c = cursor(n)
		}
	}
	return nil
}

// page is one page of a list: {"items": [...], "next": "..."}, or a bare array (a list the
// server does not page).
type page[T any] struct {
	Items []T
	Next  cursor
}

func (p *page[T]) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '[' {
		p.Next = ""
		return json.Unmarshal(b, &p.Items)
	}
	var obj struct {
		Items []T    `json:"items"`
		Next  cursor `json:"next"`
	}
	if err := json.Unmarshal(b, &obj); err != nil {
		return err
	}
	p.Items, p.Next = obj.Items, obj.Next
	return nil
}

func itoa(n int) string { return strconv.Itoa(n) }
