package client

import (
	"context"
	"net/http"
	"net/url"
)

// AuditList returns one page of audit entries, newest first.
func (c *Client) AuditList(ctx context.Context, f AuditFilter) (AuditPage, error) {
	q := listQuery{}
	q.set("actor", f.Actor)
	q.set("action", f.Action)
	q.set("kind", f.Kind)
	q.set("name", f.Name)
	q.window(f.Since, f.Until, f.Limit, f.Cursor)
	var p page[AuditEntry]
	if err := c.do(ctx, request{method: http.MethodGet, path: "/audit", query: url.Values(q)}, nil, &p); err != nil {
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
