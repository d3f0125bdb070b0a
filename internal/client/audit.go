package client

import (
	"context"
	"net/http"
	"net/url"
	"time"
)

// AuditList returns one page of audit entries, newest first.
func (c *Client) AuditList(ctx context.Context, f AuditFilter) (AuditPage, error) {
	q := url.Values{}
	set := func(k, v string) {
		if v != "" {
			q.Set(k, v)
		}
	}
	set("actor", f.Actor)
	set("action", f.Action)
	set("kind", f.Kind)
	set("name", f.Name)
	if !f.Since.IsZero() {
		q.Set("since", f.Since.UTC().Format(time.RFC3339Nano))
	}
	if !f.Until.IsZero() {
		q.Set("until", f.Until.UTC().Format(time.RFC3339Nano))
	}
	if f.Limit > 0 {
		q.Set("limit", itoa(f.Limit))
	}
	set("cursor", f.Cursor)
	var p page[AuditEntry]
	if err := c.do(ctx, request{method: http.MethodGet, path: "/audit", query: q}, nil, &p); err != nil {
		return AuditPage{}, err
	}
	if p.Items == nil {
		p.Items = []AuditEntry{}
	}
	return AuditPage{Items: p.Items, Next: string(p.Next)}, nil
}

// AuditVerify checks the audit log's hash chain on the server.
func (c *Client) AuditVerify(ctx context.Context) (VerifyReport, error) {
	var v VerifyReport
	// Verification reads the whole log: it may take longer than an ordinary call.
	err := c.do(ctx, request{method: http.MethodGet, path: "/audit/verify", long: true}, nil, &v)
	return v, err
}
