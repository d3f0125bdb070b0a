// Package delivery is the service bus's delivery engine: for every Subscription of the
// catalog it runs a durable JetStream consumer that delivers the topic's messages at least
// once, by an HTTP POST (signed with the subscription's secret) or by republishing them to
// another topic. Failed deliveries are retried with exponential back-off and jitter (a
// receiver's Retry-After is honoured); after retry.maxDeliver attempts a message is copied to
// the subscription's dead-letter queue and dropped from the consumer.
//
// Ordering: by default (ordering: key) a subscription is delivered by one process at a time, in
// lanes by message key, so every key's messages arrive in the topic's order, and a failed
// delivery is retried in place, holding back the same key's later messages (see
// bus.SubscriptionConfig.Ordered). ordering: topic uses one lane: the whole topic in order.
// ordering: none delivers in parallel from every process; a retried message then arrives after
// later ones.
//
// A message replayed from a dead-letter queue carries X-DataHub-Replay-For: <subscription>;
// every other subscription of the topic acks it without delivering it.
package delivery

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/datahub-oss/datahub/internal/bus"
	"github.com/datahub-oss/datahub/internal/catalog"
	"github.com/datahub-oss/datahub/internal/notify"
	"github.com/datahub-oss/datahub/internal/outbound"
)

// Headers of an http delivery (besides notify's X-DataHub-Timestamp and -Signature).
const (
	HeaderTopic     = "X-DataHub-Topic"
	HeaderSubject   = "X-DataHub-Subject"
	HeaderMessageID = bus.HeaderMessageID
	HeaderDelivery  = "X-DataHub-Delivery"
	// HeaderPrefix carries a message's own headers: Region: eu arrives as
	// X-DataHub-Header-Region: eu.
	HeaderPrefix = "X-DataHub-Header-"
)

// DefaultInterval is how often the engine reads the catalog.
const DefaultInterval = 3 * time.Second

// httpConcurrency is how many deliveries of one subscription a process makes at once (the
// lanes of an ordered one).
const httpConcurrency = 8

// The idle connections the http deliveries keep open: one a lane for several subscriptions to
// one receiver, and a bound on all (unused ones close after the transport's 90s).
const (
	maxIdleConnsPerHost = 8 * httpConcurrency
	maxIdleConns        = 256
)

// Catalog lists resources (catalog.Service).
type Catalog interface {
	List(ctx context.Context, kind catalog.Kind, opts catalog.ListOptions) ([]catalog.Entry, string, error)
}

// Secrets resolves references (secret.Service).
type Secrets interface {
	Resolve(ctx context.Context, ref string) (string, error)
}

// Engine keeps the bus in step with the catalog's Topics and Subscriptions and delivers.
type Engine struct {
	Bus     *bus.Bus
	Catalog Catalog
	Secrets Secrets
	// Guard checks the address of every http delivery when it is dialled (nil: loopback,
	// private, link-local and other non-global addresses are refused).
	Guard *outbound.Guard
	// Client posts http deliveries (default: through Guard, no redirects; each delivery has
	// its own timeout). A Client given here bypasses Guard: tests only.
	Client *http.Client
	// Interval between catalog reads (default 3s).
	Interval time.Duration
	Logger   *slog.Logger
	// Endpoints resolves the endpoints of table deliveries (nil: they fail and are retried).
	Endpoints EndpointFunc
	// Owner names this process in the leases of ordered subscriptions (host:pid, say).
	Owner string
	// CheckRefs, when set, says whether the author of a subscription (who last applied it)
	// may still use its secret references (the policy's privileges, with the author's current
	// roles); an http delivery whose references it refuses is dead-lettered.
	CheckRefs func(ctx context.Context, author string, refs ...string) error

	clientOnce sync.Once
	httpClient *http.Client

	mu     sync.Mutex
	topics map[string]string // name → digest ensured
	subs   map[string]*running
}

type running struct {
	digest string
	topic  string
	cancel context.CancelFunc
	done   chan struct{}
}

func (e *Engine) log() *slog.Logger {
	if e.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return e.Logger
}

// Run syncs every Interval until ctx ends, then stops the consumers and returns ctx's cause.
func (e *Engine) Run(ctx context.Context) error {
	interval := e.Interval
	if interval <= 0 {
		interval = DefaultInterval
	}
	defer e.stopAll()
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if err := e.Sync(ctx); err != nil && ctx.Err() == nil {
			e.log().Warn("sync topics and subscriptions", "err", err)
		}
		select {
		case <-ctx.Done():
			return context.Cause(ctx)
		case <-t.C:
		}
	}
}

func listAll(ctx context.Context, c Catalog, kind catalog.Kind) ([]catalog.Entry, error) {
	var out []catalog.Entry
	cursor := ""
	for {
		es, next, err := c.List(ctx, kind, catalog.ListOptions{Limit: 1000, Cursor: cursor})
		if err != nil {
			return nil, fmt.Errorf("list %ss: %w", kind, err)
		}
		out = append(out, es...)
		if next == "" {
			return out, nil
		}
		cursor = next
	}
}

// Sync ensures a stream for every Topic, and a consumer (and its delivery loop) for every
// Subscription; a changed Subscription restarts its loop, a deleted one stops it and removes
// its consumer (its dead-letter queue is kept). Streams of deleted Topics are kept too: their
// messages are not thrown away by a mistaken delete.
func (e *Engine) Sync(ctx context.Context) error {
	topics, err := listAll(ctx, e.Catalog, catalog.KindTopic)
	if err != nil {
		return err
	}
	subs, err := listAll(ctx, e.Catalog, catalog.KindSubscription)
	if err != nil {
		return err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.topics == nil {
		e.topics, e.subs = map[string]string{}, map[string]*running{}
	}
	var errs []error
	for _, t := range topics {
		name, spec := t.Resource.Metadata.Name, t.Resource.Topic()
		if spec == nil || e.topics[name] == t.Digest {
			continue
		}
		err := e.Bus.EnsureTopic(ctx, TopicConfig(name, spec))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		e.topics[name] = t.Digest
	}
	seen := map[string]bool{}
	for _, s := range subs {
		name, spec := s.Resource.Metadata.Name, s.Resource.Subscription()
		if spec == nil {
			continue
		}
		seen[name] = true
		if r := e.subs[name]; r != nil {
			if r.digest == s.Digest {
				continue
			}
			r.stop()
			delete(e.subs, name)
			if r.topic != spec.Topic {
				// Moved to another topic: its consumer on the old one goes (its DLQ stays).
				if err := e.Bus.DeleteSubscription(ctx, r.topic, name, false); err != nil {
					errs = append(errs, err)
				}
			}
		}
		if _, ok := e.topics[spec.Topic]; !ok {
			continue // its topic's stream is not there yet
		}
		r, err := e.start(ctx, s)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		r.digest = s.Digest
		e.subs[name] = r
	}
	for name, r := range e.subs {
		if !seen[name] {
			r.stop()
			delete(e.subs, name)
			if err := e.Bus.DeleteSubscription(ctx, r.topic, name, false); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

func (r *running) stop() {
	r.cancel()
	<-r.done
}

func (e *Engine) stopAll() {
	e.mu.Lock()
	defer e.mu.Unlock()
	for name, r := range e.subs {
		r.stop()
		delete(e.subs, name)
	}
}

// TopicConfig is the stream configuration of a Topic.
func TopicConfig(name string, t *catalog.TopicSpec) bus.TopicConfig {
	return bus.TopicConfig{Name: name, Description: t.Description, MaxAge: t.Retention.MaxAgeDuration(),
		MaxBytes: t.Retention.MaxBytesValue(), MaxMessages: int64(t.Retention.MaxMessages)}
}

// startMargin is how much before its last change a Subscription's new consumer starts: the
// clocks of the hub's processes and of the NATS servers may differ a little, and a message
// delivered twice is better than one missed.
const startMargin = 2 * time.Second

// ConfigFor is the consumer configuration of a Subscription entry of the catalog: Config, and
// a new consumer starts from the entry's last change, so that nothing published since it was
// applied is missed.
func ConfigFor(e catalog.Entry) bus.SubscriptionConfig {
	cfg := Config(e.Resource.Metadata.Name, e.Resource.Subscription())
	if !e.UpdatedAt.IsZero() {
		cfg.StartTime = e.UpdatedAt.Add(-startMargin)
	}
	return cfg
}

// Config is the consumer configuration of a subscription.
func Config(name string, s *catalog.SubscriptionSpec) bus.SubscriptionConfig {
	initial, maxDelay := s.Retry.Backoff()
	cfg := bus.SubscriptionConfig{Name: name, Topic: s.Topic, Filter: s.Filter.Subject, MaxDeliver: s.Retry.MaxDeliver,
		BackoffInitial: initial, BackoffMax: maxDelay, AckWait: 30 * time.Second}
	switch {
	case s.Delivery.Type == "table":
		cfg.Concurrency = tableBatchSize // rows keyed by message id: order does not matter
	case s.Delivery.Type == "pull":
		// clients fetch in the topic's order and settle as they like
	case s.Ordering == "none":
		cfg.Concurrency = httpConcurrency
	case s.Ordering == "topic":
		cfg.Ordered, cfg.Concurrency, cfg.AckWait = true, 1, bus.OrderedAckWait
	default: // "key"
		cfg.Ordered, cfg.Concurrency, cfg.AckWait = true, httpConcurrency, bus.OrderedAckWait
	}
	return cfg
}

// start ensures the subscription's consumer and, unless clients pull, runs its delivery loop.
func (e *Engine) start(ctx context.Context, entry catalog.Entry) (*running, error) {
	name, s := entry.Resource.Metadata.Name, entry.Resource.Subscription()
	cfg := ConfigFor(entry)
	cfg.Owner = e.Owner
	if _, err := e.Bus.EnsureSubscription(ctx, cfg); err != nil {
		return nil, err
	}
	rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	r := &running{topic: s.Topic, cancel: cancel, done: make(chan struct{})}
	if s.Delivery.Type == "pull" {
		close(r.done)
		return r, nil
	}
	cfg.OnDeadLetter = func(ctx context.Context, m bus.TopicMessage, err error) { e.deadLettered(ctx, name, m, err) }
	var h bus.TopicHandler
	var tw *tableWriter
	if s.Delivery.Type == "table" {
		tw = e.newTableWriter(name, s)
		h = e.filtered(s, tw.handle)
	} else {
		h = e.Handler(name, s)
		if s.Delivery.Type == "http" && e.CheckRefs != nil {
			h = e.checkedRefs(name, entry.UpdatedBy, s, h)
		}
	}
	go func() {
		defer close(r.done)
		if tw != nil {
			wctx, stop := context.WithCancel(rctx)
			done := make(chan struct{})
			go func() { defer close(done); tw.run(wctx) }()
			defer func() { stop(); <-done }()
		}
		if err := e.Bus.ConsumeSubscription(rctx, cfg, h); err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, bus.ErrClosed) {
			e.log().Error("subscription stopped", "subscription", name, "err", err)
		}
	}()
	return r, nil
}

// checkedRefs refuses an http delivery whose URL or key references its author may no
// longer use, before anything is resolved.
func (e *Engine) checkedRefs(name, author string, s *catalog.SubscriptionSpec, h bus.TopicHandler) bus.TopicHandler {
	return func(ctx context.Context, m bus.TopicMessage) error {
		if err := e.CheckRefs(ctx, author, s.Delivery.URL, s.Delivery.Secret); err != nil {
			return fmt.Errorf("subscription %s: %v: %w", name, err, bus.ErrPermanent)
		}
		return h(ctx, m)
	}
}

// Handler is the delivery of one subscription: the header filter, then http, topic or file.
func (e *Engine) Handler(name string, s *catalog.SubscriptionSpec) bus.TopicHandler {
	deliver := func(ctx context.Context, m bus.TopicMessage) error {
		return e.postHTTP(ctx, name, s, m)
	}
	if s.Delivery.Type == "topic" {
		deliver = func(ctx context.Context, m bus.TopicMessage) error {
			return e.forward(ctx, s.Delivery.Topic, m)
		}
	}
	if s.Delivery.Type == "file" {
		deliver = func(ctx context.Context, m bus.TopicMessage) error {
			return e.deliverFile(ctx, name, s, m)
		}
	}
	return e.filtered(s, deliver)
}

// filtered applies the subscription's header filter before deliver.
func (e *Engine) filtered(s *catalog.SubscriptionSpec, deliver bus.TopicHandler) bus.TopicHandler {
	return func(ctx context.Context, m bus.TopicMessage) error {
		for k, v := range s.Filter.Headers {
			if m.Headers[http.CanonicalHeaderKey(k)] != v {
				return nil // filtered out: acked without delivery
			}
		}
		return deliver(ctx, m)
	}
}

// userHeaders are a message's own headers (and its key).
func userHeaders(m bus.TopicMessage) map[string]string {
	out := map[string]string{}
	for k, v := range m.Headers {
		l := strings.ToLower(k)
		if !strings.HasPrefix(l, "x-datahub-") || strings.EqualFold(k, bus.HeaderKey) {
			out[k] = v
		}
	}
	return out
}

// forward republishes to another topic. The message id is kept, so a redelivered forward
// is stored once within the target's duplicate window.
func (e *Engine) forward(ctx context.Context, topic string, m bus.TopicMessage) error {
	_, err := e.Bus.PublishTopic(ctx, topic, m.Subject, m.Data, userHeaders(m), m.MessageID)
	if errors.Is(err, bus.ErrNoTopic) {
		return fmt.Errorf("forward to topic %s: %w", topic, err)
	}
	return err
}

func (e *Engine) client() *http.Client {
	if e.Client != nil {
		return e.Client
	}
	e.clientOnce.Do(func() {
		// A transport of the engine's own, which keeps a connection open for every lane: the
		// shared default keeps two idle per host, so the parallel lanes of a subscription
		// dialled a new connection for most deliveries (and left the old ones in TIME_WAIT).
		t := e.Guard.Transport()
		t.MaxIdleConns, t.MaxIdleConnsPerHost = maxIdleConns, maxIdleConnsPerHost
		// No redirects: they would carry a signed body wherever a compromised receiver points.
		e.httpClient = &http.Client{Transport: t, CheckRedirect: outbound.NoRedirects}
	})
	return e.httpClient
}

func (e *Engine) resolve(ctx context.Context, ref string) (string, error) {
	if !strings.HasPrefix(ref, "secret:") && !strings.HasPrefix(ref, "env:") && !strings.HasPrefix(ref, "file:") {
		return ref, nil
	}
	if e.Secrets == nil {
		return "", errors.New("no secret service to resolve references")
	}
	return e.Secrets.Resolve(ctx, ref)
}

// postHTTP makes one http delivery. 2xx is delivered; 408, 425, 429 and 5xx (and network
// errors) are retried, after Retry-After if the receiver sent one; other answers are
// permanent and dead-letter the message at once. Network errors, 429, 502, 503 and 504 say
// the receiver is down or overloaded: in ordered subscriptions they do not count against
// retry.maxDeliver, so an outage of any length ends with every message delivered.
func (e *Engine) postHTTP(ctx context.Context, name string, s *catalog.SubscriptionSpec, m bus.TopicMessage) error {
	target, err := e.resolve(ctx, s.Delivery.URL)
	if err != nil {
		return fmt.Errorf("subscription %s: resolve the url: %w", name, err)
	}
	key := ""
	if s.Delivery.Secret != "" {
		if key, err = e.resolve(ctx, s.Delivery.Secret); err != nil {
			return fmt.Errorf("subscription %s: resolve the secret: %w", name, err)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, s.Delivery.TimeoutDuration())
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(m.Data))
	if err != nil {
		return fmt.Errorf("subscription %s: bad url: %w", name, bus.ErrPermanent)
	}
	ct := "application/octet-stream"
	for k, v := range userHeaders(m) {
		if strings.EqualFold(k, "Content-Type") {
			ct = v
			continue
		}
		if strings.EqualFold(k, bus.HeaderKey) {
			req.Header.Set(bus.HeaderKey, v)
			continue
		}
		req.Header.Set(HeaderPrefix+k, v)
	}
	req.Header.Set("Content-Type", ct)
	req.Header.Set("User-Agent", "datahub-delivery")
	req.Header.Set(HeaderTopic, m.Topic)
	req.Header.Set(HeaderSubject, m.Subject)
	req.Header.Set(HeaderMessageID, m.MessageID)
	req.Header.Set(HeaderDelivery, strconv.FormatUint(m.Delivered, 10))
	if key != "" {
		ts := strconv.FormatInt(time.Now().Unix(), 10)
		req.Header.Set(notify.HeaderTimestamp, ts)
		req.Header.Set(notify.HeaderSignature, notify.Sign(key, ts, m.Data))
	}
	resp, err := e.client().Do(req)
	if err != nil {
		// Go's error quotes the URL, which may carry a token, and what the target answered
		// (a NATS port's INFO banner, say), which a viewer of the dead-letter queue must not
		// read: keep only a short reason.
		if errors.Is(err, outbound.ErrRefused) {
			// Refused until the settings change: dead-lettered at once, not retried.
			return fmt.Errorf("subscription %q: %s: %w", name, outbound.Reason(err), bus.ErrPermanent)
		}
		return fmt.Errorf("post to subscription %s's receiver: %s: %w", name, outbound.Reason(err), bus.ErrUnavailable)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	code := resp.StatusCode
	switch {
	case code >= 200 && code < 300:
		return nil
	case code == http.StatusRequestTimeout || code == http.StatusTooEarly || code == http.StatusTooManyRequests || code >= 500:
		err := fmt.Errorf("receiver answered %d", code)
		switch code {
		case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
			// Down or overloaded, not failing on this message: not counted (see bus.ErrUnavailable).
			err = fmt.Errorf("receiver answered %d: %w", code, bus.ErrUnavailable)
		}
		if d := retryAfter(resp.Header.Get("Retry-After"), time.Now()); d > 0 {
			return &bus.RetryAfterError{Err: err, After: d}
		}
		return err
	default:
		return fmt.Errorf("receiver answered %d: %w", code, bus.ErrPermanent)
	}
}

// retryAfter reads a Retry-After header: seconds or an HTTP date.
func retryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && n > 0 {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}
