package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
)

// maxPages bounds a listing that follows cursors, against a server that never stops.
const maxPages = 10000

// collect fetches every page of a list, following the next cursors. Lists the server pages
// are asked for big pages (limit); the others are sent no paging parameter at all, so that a
// server that refuses unknown parameters still answers.
func collect[T any](ctx context.Context, c *Client, path string, q url.Values, paged bool) ([]T, error) {
	q = cloneValues(q)
	if paged {
		q.Set("limit", "1000")
	}
	all := []T{}
	for range maxPages {
		var p page[T]
		if err := c.do(ctx, request{method: http.MethodGet, path: path, query: q}, nil, &p); err != nil {
			return nil, err
		}
		all = append(all, p.Items...)
		if p.Next == "" {
			return all, nil
		}
		if string(p.Next) == q.Get("cursor") {
			return nil, fmt.Errorf("GET %s: the server repeats the page cursor %q", path, string(p.Next))
		}
		q.Set("cursor", string(p.Next))
	}
	return nil, fmt.Errorf("GET %s: more than %d pages", path, maxPages)
}

func cloneValues(q url.Values) url.Values {
	out := url.Values{}
	for k, v := range q {
		out[k] = append([]string(nil), v...)
	}
	return out
}

// Apply sends resource documents: body is multi-document YAML (contentType
// "application/yaml") or JSON {"documents": [...]} ("application/json"). With dryRun the
// server validates and reports what would change, writing nothing. Invalid documents give an
// *APIError (422, code invalid) whose FieldErrors list the problems.
func (c *Client) Apply(ctx context.Context, body []byte, contentType string, dryRun bool) (ApplyResult, error) {
	q := url.Values{}
	if dryRun {
		q.Set("dry_run", "true")
	}
	var out ApplyResult
	rq := request{method: http.MethodPost, path: "/apply", query: q, body: bytes.NewReader(body), contentType: contentType}
	if err := c.do(ctx, rq, nil, &out); err != nil {
		return ApplyResult{}, err
	}
	return out, nil
}

// ApplyResult is the answer to an apply: the change of every document, and warnings about
// what was applied but will not work yet (a secret reference to a secret that does not exist).
type ApplyResult struct {
	Changes  []Change  `json:"changes"`
	Warnings []Warning `json:"warnings,omitempty"`
}

// Warning is something applied that will not work as it stands.
type Warning struct {
	Kind    string `json:"kind"`
	Name    string `json:"name"`
	Field   string `json:"field"`
	Message string `json:"message"`
}

// ApplyDocuments sends JSON documents as {"documents": [...]} (see Apply). The server numbers
// them from 1 in FieldError.Document.
func (c *Client) ApplyDocuments(ctx context.Context, docs []json.RawMessage, dryRun bool) (ApplyResult, error) {
	body, err := json.Marshal(struct {
		Documents []json.RawMessage `json:"documents"`
	}{docs})
	if err != nil {
		return ApplyResult{}, fmt.Errorf("encode the documents: %w", err)
	}
	return c.Apply(ctx, body, "application/json", dryRun)
}

func resourcePath(kind, name string) string { return "/resources/" + seg(kind) + "/" + seg(name) }

// ListResources returns every live resource of a kind (System, Endpoint, Integration, Topic, Subscription, NotificationRule; any case,
// plural ok), optionally only those with a label ("key=value").
func (c *Client) ListResources(ctx context.Context, kind, label string) ([]Resource, error) {
	q := url.Values{}
	if label != "" {
		q.Set("label", label)
	}
	return collect[Resource](ctx, c, "/resources/"+seg(kind), q, true)
}

// GetResource returns a live resource.
func (c *Client) GetResource(ctx context.Context, kind, name string) (Resource, error) {
	var r Resource
	err := c.do(ctx, request{method: http.MethodGet, path: resourcePath(kind, name)}, nil, &r)
	return r, err
}

// DeleteResource deletes a resource (a new version that records the deletion).
func (c *Client) DeleteResource(ctx context.Context, kind, name string) (Change, error) {
	var ch Change
	err := c.do(ctx, request{method: http.MethodDelete, path: resourcePath(kind, name)}, nil, &ch)
	return ch, err
}

// History returns every version of a resource, oldest first.
func (c *Client) History(ctx context.Context, kind, name string) ([]Revision, error) {
	return collect[Revision](ctx, c, resourcePath(kind, name)+"/history", nil, false)
}

// Version returns the document of one version of a resource.
func (c *Client) Version(ctx context.Context, kind, name string, version int) (Resource, error) {
	var r Resource
	err := c.do(ctx, request{method: http.MethodGet, path: resourcePath(kind, name) + "/versions/" + itoa(version)}, nil, &r)
	return r, err
}

// Diff returns the unified diff between two versions of a resource ("" when equal). A zero
// to means the latest version, a zero from the one before to.
func (c *Client) Diff(ctx context.Context, kind, name string, from, to int) (string, error) {
	q := url.Values{}
	if from > 0 {
		q.Set("from", itoa(from))
	}
	if to > 0 {
		q.Set("to", itoa(to))
	}
	var out struct {
		Diff string `json:"diff"`
	}
	err := c.do(ctx, request{method: http.MethodGet, path: resourcePath(kind, name) + "/diff", query: q}, nil, &out)
	return out.Diff, err
}

// Export writes every live resource to w as multi-document YAML that applies back cleanly.
func (c *Client) Export(ctx context.Context, w io.Writer) error {
	return c.stream(ctx, request{method: http.MethodGet, path: "/export", accept: "application/yaml, text/yaml"}, w)
}
