package client

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// RequestRun asks for a run of an integration in an environment (DEV, SIT, UAT, MPE, PROD).
// Without wait it returns the queued run at once. With wait it returns once the run has
// ended, however long that takes: the server answers within 10 minutes, and past that the
// client polls; only ctx stops the waiting (the run goes on).
func (c *Client) RequestRun(ctx context.Context, integration, env string, wait bool) (Run, error) {
	rq := request{method: http.MethodPost, path: "/integrations/" + seg(integration) + "/runs"}
	if wait {
		rq.query = url.Values{"wait": {"true"}}
		rq.long = true
	}
	var r Run
	if err := c.do(ctx, rq, map[string]string{"env": strings.ToUpper(env)}, &r); err != nil {
		return Run{}, err
	}
	if wait && !r.Final() {
		return c.WaitRun(ctx, r.ID, 0)
	}
	return r, nil
}

// GetRun returns a run.
func (c *Client) GetRun(ctx context.Context, id string) (Run, error) {
	var r Run
	err := c.do(ctx, request{method: http.MethodGet, path: "/runs/" + seg(id)}, nil, &r)
	return r, err
}

// maxPoll is the longest pause between two looks at a run.
const maxPoll = 2 * time.Second

// WaitRun polls a run until it has ended and returns it; every is the first pause (it grows
// to 2 s), 200 ms when 0. It polls on through transient failures (the server restarting, its
// store or bus cut: 502, 503, 504, no connection) with back-off, giving up only when they
// last longer than the client's patience (WithPatience); otherwise only ctx stops it.
func (c *Client) WaitRun(ctx context.Context, id string, every time.Duration) (Run, error) {
	if every <= 0 {
		every = 200 * time.Millisecond
	}
	for {
		var r Run
		err := retrying(ctx, c.clock, c.patience, nil, func() error {
			var err error
			r, err = c.GetRun(ctx, id)
			return err
		})
		if err != nil {
			return r, err
		}
		if r.Final() {
			return r, nil
		}
		t := c.clock.NewTimer(every)
		select {
		case <-ctx.Done():
			t.Stop()
			return r, ctx.Err()
		case <-t.C():
		}
		every = min(every*3/2, maxPoll)
	}
}

// ListRuns returns one page of runs, newest first.
func (c *Client) ListRuns(ctx context.Context, f RunFilter) (RunPage, error) {
	q := url.Values{}
	if f.Status != "" {
		q.Set("status", string(f.Status))
	}
	if f.Integration != "" {
		q.Set("integration", f.Integration)
	}
	if f.Limit > 0 {
		q.Set("limit", itoa(f.Limit))
	}
	if f.Cursor != "" {
		q.Set("cursor", f.Cursor)
	}
	var p page[Run]
	if err := c.do(ctx, request{method: http.MethodGet, path: "/runs", query: q}, nil, &p); err != nil {
		return RunPage{}, err
	}
	if p.Items == nil {
		p.Items = []Run{}
	}
	return RunPage{Items: p.Items, Next: string(p.Next)}, nil
}

// CancelRun asks for a run to stop and returns it (status cancel_requested, or canceled when
// it had not started).
func (c *Client) CancelRun(ctx context.Context, id string) (Run, error) {
	var r Run
	err := c.do(ctx, request{method: http.MethodPost, path: "/runs/" + seg(id) + "/cancel"}, nil, &r)
	return r, err
}

// ResumeRun queues a failed or cancelled run again, to continue from its checkpoint, and
// returns it (status queued).
func (c *Client) ResumeRun(ctx context.Context, id string) (Run, error) {
	var r Run
	err := c.do(ctx, request{method: http.MethodPost, path: "/runs/" + seg(id) + "/resume"}, nil, &r)
	return r, err
}

// Rejects writes a run's rejected records to w as NDJSON (nothing when there are none).
func (c *Client) Rejects(ctx context.Context, id string, w io.Writer) error {
	return c.stream(ctx, request{method: http.MethodGet, path: "/runs/" + seg(id) + "/rejects", accept: "application/x-ndjson"}, w)
}
