package notify

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/datahub-oss/datahub/internal/outbound"
)

// delivery is one message on its way to one channel.
type delivery struct {
	// ID is the notify_log id, sent as X-DataHub-Delivery.
	ID      string
	Rule    string
	Channel Channel
	// To are the resolved email addresses.
	To  []string
	Msg rendered
	// Kind is the event type, or "digest".
	Kind string
	// Payload is the JSON a webhook posts.
	Payload []byte
	Time    time.Time
}

// sender delivers to one type of channel. Errors are retried unless permanent.
type sender interface {
	send(ctx context.Context, d *delivery) error
}

// permanentError is a failure that retrying cannot fix (a rejected address, a 4xx status).
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

func permanent(err error) error { return &permanentError{err} }

// retryAfterError is a failure whose server said when to retry (HTTP 429 or 503).
type retryAfterError struct {
	err   error
	after time.Duration
}

func (e *retryAfterError) Error() string { return e.err.Error() }
func (e *retryAfterError) Unwrap() error { return e.err }

// Retry bounds how a failed delivery is retried.
type Retry struct {
	// Attempts is how many times a delivery is tried in all (default 4).
	Attempts int
	// Backoff is the wait after the first failure, doubled after each next (default 2s).
	Backoff time.Duration
	// MaxWait caps one wait, including a server's Retry-After (default 1m).
	MaxWait time.Duration
}

func (r Retry) withDefaults() Retry {
	if r.Attempts <= 0 {
		r.Attempts = 4
	}
	if r.Backoff <= 0 {
		r.Backoff = 2 * time.Second
	}
	if r.MaxWait <= 0 {
		r.MaxWait = time.Minute
	}
	return r
}

// deliver sends with retries and returns how many attempts were made.
func (s *Service) deliver(ctx context.Context, snd sender, d *delivery) (int, error) {
	r := s.opts.Retry
	wait := r.Backoff
	var err error
	for attempt := 1; ; attempt++ {
		err = snd.send(ctx, d)
		var perm *permanentError
		if err == nil || errors.As(err, &perm) || attempt >= r.Attempts || ctx.Err() != nil {
			return attempt, err
		}
		w := wait
		var ra *retryAfterError
		if errors.As(err, &ra) && ra.after > w {
			w = ra.after
		}
		w = min(w, r.MaxWait)
		if serr := s.opts.Sleep(ctx, w); serr != nil {
			return attempt, err
		}
		wait *= 2
	}
}

// sleep waits d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// redactURL keeps a URL's scheme and host only: Slack and Teams URLs carry their token in the
// path, and webhook URLs may carry one in the query.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "(url)"
	}
	out := u.Scheme + "://" + u.Host
	if u.Path != "" && u.Path != "/" || u.RawQuery != "" {
		out += "/..."
	}
	return out
}

// httpError names the channel and the host, and keeps a short reason of what failed: the
// error of Go's client quotes the URL (it may hold a token) and what the target answered (a
// NATS port's INFO banner, say), which the notification log must not show. A refused
// address is permanent: retrying cannot change the settings.
func httpError(d *delivery, what, rawURL string, err error) error {
	err2 := fmt.Errorf("%s %s: %s", what, redactURL(rawURL), outbound.Reason(err))
	if d.Channel.Name != "" {
		err2 = fmt.Errorf("channel %q: %w", d.Channel.Name, err2)
	}
	if errors.Is(err, outbound.ErrRefused) {
		return permanent(err2)
	}
	return err2
}
