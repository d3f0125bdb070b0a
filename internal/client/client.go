// Package client is a typed HTTP client of the hub server's REST API (/api/v1, see
// `datahub serve`): what the datahub command line uses to talk to a server.
//
// Every method takes the caller's context. Calls that answer quickly get a timeout (30 s by
// default, WithTimeout changes it); a run request that waits for the run's end has none, so
// that only the caller's context bounds it. Errors from the server are *APIError; a server
// that cannot be reached gives *ConnError. The token is sent in the Authorization header and
// nowhere else: no error or message of this package contains it.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/datahub-oss/datahub/internal/clock"
)

// DefaultTimeout bounds a call that is not a run waiting for its end.
const DefaultTimeout = 30 * time.Second

// maxJSON bounds a JSON answer read into memory (a page holds at most 1000 items).
const maxJSON = 64 << 20

// APIPrefix is the path under which the server serves the API.
const APIPrefix = "/api/v1"

// Client talks to one hub server with one token. It is safe for concurrent use.
type Client struct {
	base      *url.URL
	token     string
	http      *http.Client
	timeout   time.Duration
	userAgent string
	patience  time.Duration
	// clock paces the polls and the retries (the timeout of a call is the system's).
	clock clock.Clock
}

// Option configures a Client.
type Option func(*Client)

// WithHTTPClient sets the HTTP client (for TLS settings or a proxy). Its own Timeout, if any,
// applies on top of the client's.
func WithHTTPClient(h *http.Client) Option { return func(c *Client) { c.http = h } }

// WithTimeout sets the timeout of ordinary calls (DefaultTimeout when not given; 0 for none).
func WithTimeout(d time.Duration) Option { return func(c *Client) { c.timeout = d } }

// DefaultPatience is how long WaitRun polls through transient failures (the server restarting,
// its store or bus down) before it gives up.
const DefaultPatience = 10 * time.Minute

// WithPatience sets how long WaitRun keeps polling through transient failures (503, no
// connection) in a row before it returns the last one (DefaultPatience when not given).
func WithPatience(d time.Duration) Option { return func(c *Client) { c.patience = d } }

// WithClock sets the clock that paces WaitRun's polls and the retries through transient
// failures (clock.Real when not given): tests move a clock.Fake on instead of waiting.
func WithClock(clk clock.Clock) Option { return func(c *Client) { c.clock = clk } }

// WithUserAgent sets the User-Agent header.
func WithUserAgent(ua string) Option { return func(c *Client) { c.userAgent = ua } }

// New returns a client of the server at baseURL ("http://host:port"; a missing scheme means
// http, a trailing /api/v1 is accepted) that authenticates with token ("" for none).
func New(baseURL, token string, opts ...Option) (*Client, error) {
	raw := strings.TrimSpace(baseURL)
	if raw == "" {
		return nil, errors.New("no server URL given")
	}
	if !strings.Contains(raw, "://") {
		raw = "http://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("server URL %q: %w", redactURL(baseURL), err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("server URL %q: want http:// or https://", redactURL(baseURL))
	}
	if u.Host == "" {
		return nil, fmt.Errorf("server URL %q: no host", redactURL(baseURL))
	}
	if u.User != nil {
		// Credentials go in the token, never in a URL that ends up in messages.
		return nil, fmt.Errorf("server URL %q: give credentials with the token, not in the URL", redactURL(baseURL))
	}
	u.RawQuery, u.Fragment = "", ""
	u.Path = strings.TrimSuffix(strings.TrimSuffix(u.Path, "/"), APIPrefix)
	u.RawPath = ""
	c := &Client{base: u, token: strings.TrimSpace(token), http: http.DefaultClient, timeout: DefaultTimeout, userAgent: "datahub-client", patience: DefaultPatience,
		clock: clock.Real}
	for _, o := range opts {
		o(c)
	}
	return c, nil
}

// BaseURL is the server's URL as the client uses it.
func (c *Client) BaseURL() string { return c.base.String() }

// HasToken reports whether the client sends a token.
func (c *Client) HasToken() bool { return c.token != "" }

// request is one call.
type request struct {
	method string
	// path is under /api/v1, with its segments already escaped (see seg).
	path        string
	query       url.Values
	body        io.Reader
	contentType string
	accept      string
	// long drops the timeout: the call lasts as long as the server works on it.
	long bool
	// stream stops the timeout once the answer starts: the caller copies a body that may
	// take long to arrive.
	stream bool
	// header are extra request headers (Idempotency-Key, ...).
	header http.Header
	// root puts path at the server's root instead of under /api/v1 (the health checks).
	root bool
}

// seg escapes one path segment.
func seg(s string) string { return url.PathEscape(s) }

// errTimeout is the cause of a call cancelled by the client's timeout.
var errTimeout = errors.New("timed out")

// send makes a call and returns the response of a successful one (2xx), whose body the
// caller closes, and a function to call after that, which stops the call's timer. For a
// non-2xx answer it returns the *APIError the body describes.
func (c *Client) send(ctx context.Context, rq request) (*http.Response, func(), error) {
	callCtx, cancel := context.WithCancelCause(ctx)
	var timer *time.Timer
	if !rq.long && c.timeout > 0 {
		timer = time.AfterFunc(c.timeout, func() { cancel(errTimeout) })
	}
	release := func() {
		if timer != nil {
			timer.Stop()
		}
		cancel(nil)
	}
	target := c.base.String() + APIPrefix + rq.path
	if rq.root {
		target = c.base.String() + rq.path
	}
	if len(rq.query) > 0 {
		target += "?" + rq.query.Encode()
	}
	req, err := http.NewRequestWithContext(callCtx, rq.method, target, rq.body)
	if err != nil {
		release()
		return nil, nil, fmt.Errorf("%s %s: %w", rq.method, rq.path, err)
	}
	if rq.body != nil {
		ct := rq.contentType
		if ct == "" {
			ct = "application/json"
		}
		req.Header.Set("Content-Type", ct)
	}
	accept := rq.accept
	if accept == "" {
		accept = "application/json"
	}
	req.Header.Set("Accept", accept)
	for k, v := range rq.header {
		req.Header[k] = v
	}
	req.Header.Set("User-Agent", c.userAgent)
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		release()
		return nil, nil, c.callError(ctx, callCtx, rq, err)
	}
	if rq.stream && timer != nil && resp.StatusCode < 300 {
		timer.Stop()
	}
	if resp.StatusCode >= 300 {
		defer release()
		defer func() { _ = resp.Body.Close() }()
		return nil, nil, readAPIError(resp, c.token == "")
	}
	return resp, release, nil
}

// stream copies the body of a successful answer to w as it arrives.
func (c *Client) stream(ctx context.Context, rq request, w io.Writer) error {
	rq.stream = true
	resp, release, err := c.send(ctx, rq)
	if err != nil {
		return err
	}
	defer release()
	defer func() { _ = resp.Body.Close() }()
	return c.copyBody(ctx, rq, w, resp)
}

func (c *Client) copyBody(ctx context.Context, rq request, w io.Writer, resp *http.Response) error {
	if _, err := io.Copy(w, resp.Body); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("%s %s: read the answer: %w", rq.method, rq.path, err)
	}
	return nil
}

// callError explains a call that got no answer.
func (c *Client) callError(parent, callCtx context.Context, rq request, err error) error {
	if parent.Err() != nil {
		return parent.Err()
	}
	if errors.Is(context.Cause(callCtx), errTimeout) {
		return &ConnError{URL: c.BaseURL(), Err: fmt.Errorf("no answer within %s", c.timeout)}
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		// url.Error repeats the method and URL; the message says which server already.
		err = ue.Err
	}
	return &ConnError{URL: c.BaseURL(), Err: err}
}

// do makes a call with an optional JSON body (in) and decodes a JSON answer into out (nil to
// ignore it).
func (c *Client) do(ctx context.Context, rq request, in, out any) error {
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("%s %s: encode the request: %w", rq.method, rq.path, err)
		}
		rq.body = bytes.NewReader(b)
	}
	resp, release, err := c.send(ctx, rq)
	if err != nil {
		return err
	}
	defer release()
	defer func() { _ = resp.Body.Close() }()
	if out == nil {
		return nil
	}
	dec := json.NewDecoder(io.LimitReader(resp.Body, maxJSON))
	if err := dec.Decode(out); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("%s %s: read the answer: %w", rq.method, rq.path, err)
	}
	return nil
}

// redactURL drops the user information from a URL for messages.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		if i := strings.Index(s, "@"); i >= 0 && err != nil {
			return "…" + s[i:]
		}
		return s
	}
	u.User = nil
	return u.String()
}

// retryBase and retryMax bound the pause between two tries through transient errors.
const (
	retryBase = 250 * time.Millisecond
	retryMax  = 5 * time.Second
)

// retrying calls fn until it succeeds, fails with an error that is not Transient, or keeps
// failing transiently for longer than patience (then the last error is returned). The pause
// between tries doubles from retryBase to retryMax, with jitter. onRetry, if set, hears of
// every transient failure.
func retrying(ctx context.Context, clk clock.Clock, patience time.Duration, onRetry func(error), fn func() error) error {
	var since time.Time
	pause := retryBase
	for {
		err := fn()
		if err == nil || !Transient(err) || ctx.Err() != nil {
			return err
		}
		if since.IsZero() {
			since = clk.Now()
		}
		if clk.Now().Sub(since) >= patience {
			return err
		}
		if onRetry != nil {
			onRetry(err)
		}
		t := clk.NewTimer(pause/2 + rand.N(pause/2+1)) //nolint:gosec // jitter, not security
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C():
		}
		pause = min(pause*2, retryMax)
	}
}
