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

// AuditVerify checks the audit log's chain on the server (and against the server's own
// anchor file, when it has one).
func (c *Client) AuditVerify(ctx context.Context) (VerifyReport, error) {
	return c.AuditVerifyAnchor(ctx, "")
}

// AuditVerifyAnchor checks the audit log's chain on the server and that it still holds anchor
// (SEQ:HASH; "" for the server's own anchor file).
func (c *Client) AuditVerifyAnchor(ctx context.Context, anchor string) (VerifyReport, error) {
	var v VerifyReport
	var q url.Values
	if anchor != "" {
		q = url.Values{"anchor": {anchor}}
	}
	// Verification reads the whole log: it may take longer than an ordinary call.
	err := c.do(ctx, request{method: http.MethodGet, path: "/audit/verify", query: q, long: true}, nil, &v)
	return v, err
}
