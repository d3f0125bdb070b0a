package notify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/google/uuid"

	"github.com/datahub-oss/datahub/internal/event"
	"github.com/datahub-oss/datahub/internal/outbound"
	"github.com/datahub-oss/datahub/internal/secret"
	"github.com/datahub-oss/datahub/internal/store"
)

// RuleSource provides the notification rules; the catalog's NotificationRule resources will,
// tests use StaticRules.
type RuleSource interface {
	Rules(ctx context.Context) ([]Rule, error)
}

// StaticRules is a fixed list of rules.
type StaticRules []Rule

// Rules implements RuleSource.
func (r StaticRules) Rules(context.Context) ([]Rule, error) { return r, nil }

// Resolver resolves secret references (*secret.Service does).
type Resolver interface {
	Resolve(ctx context.Context, ref string) (string, error)
}

var _ Resolver = (*secret.Service)(nil)

// Options configure a Service.
type Options struct {
	Rules     RuleSource
	Directory Directory
	// Secrets resolves SMTP passwords, webhook signing keys and chat webhook URLs.
	Secrets Resolver
	// CheckRefs, when set, is asked before a channel's secret references (its URL and
	// signing key) are resolved for a post, with the rule's name: the hub's policy checks them
	// against the current rights of whoever last applied the rule. An error fails the post.
	CheckRefs func(ctx context.Context, rule string, refs ...string) error
	// SMTP is the relay for email channels.
	SMTP SMTP
	// Guard checks the address of every webhook, Teams and Slack post when it is dialled
	// (nil: loopback, private, link-local and other non-global addresses are refused).
	Guard *outbound.Guard
	// HTTPClient posts webhooks (default: through Guard, 15s timeout, no redirects). A client
	// given here bypasses Guard: tests only.
	HTTPClient *http.Client
	// BaseURL is the hub's public address, for links to runs.
	BaseURL string
	Retry   Retry
	// FlushInterval is how often Run sends due digests (default 5s).
	FlushInterval time.Duration
	// Redact scrubs error texts before they are recorded or logged (the secret service's
	// Redactor.Redact knows every value it resolved).
	Redact func(string) string
	Log    *slog.Logger
	// Now and Sleep are the clock, for tests.
	Now   func() time.Time
	Sleep func(ctx context.Context, d time.Duration) error
}

// Service sends notifications for events.
type Service struct {
	db      *store.DB
	opts    Options
	senders map[string]sender
}

// New returns a notification service keeping its log and throttle state in db (migrated by the
// caller).
func New(db *store.DB, opts Options) *Service {
	if opts.Rules == nil {
		opts.Rules = StaticRules(nil)
	}
	if opts.HTTPClient == nil {
		opts.HTTPClient = newHTTPClient(opts.Guard)
	}
	if opts.FlushInterval <= 0 {
		opts.FlushInterval = 5 * time.Second
	}
	if opts.Redact == nil {
		opts.Redact = func(s string) string { return s }
	}
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Sleep == nil {
		opts.Sleep = sleep
	}
	if opts.Secrets == nil {
		// env: and file: references still resolve without a secret store.
		opts.Secrets = (*secret.Service)(nil)
	}
	opts.Retry = opts.Retry.withDefaults()
	s := &Service{db: db, opts: opts}
	s.senders = map[string]sender{
		ChannelEmail:   &emailSender{cfg: opts.SMTP, secrets: opts.Secrets},
		ChannelWebhook: &httpSender{kind: ChannelWebhook, client: opts.HTTPClient, secrets: opts.Secrets, check: opts.CheckRefs},
		ChannelTeams:   &httpSender{kind: ChannelTeams, client: opts.HTTPClient, secrets: opts.Secrets, check: opts.CheckRefs},
		ChannelSlack:   &httpSender{kind: ChannelSlack, client: opts.HTTPClient, secrets: opts.Secrets, check: opts.CheckRefs},
	}
	return s
}

func newID() string { return uuid.Must(uuid.NewV7()).String() }

// Handle notifies every enabled rule's channels that match the event. Deliveries are tried
// (with retries) before it returns, or held by the throttle for a digest; each is recorded.
// A failed delivery is recorded, not returned: the error is for what stops notifying at all
// (the store, the rules, the directory), so that a caller retrying the event does not send
// the deliveries that worked twice.
func (s *Service) Handle(ctx context.Context, e event.Event) error {
	rules, err := s.opts.Rules.Rules(ctx)
	if err != nil {
		return fmt.Errorf("notify %s %s: read rules: %w", e.Type, e.ID, err)
	}
	var parties *Parties
	var errs []error
	for i := range rules {
		r := &rules[i]
		if !r.Matches(e) {
			continue
		}
		for c := range r.Channels {
			if err := s.notify(ctx, r, c, e, &parties); err != nil {
				errs = append(errs, fmt.Errorf("notify %s %s by rule %q: %w", e.Type, e.ID, r.Name, err))
			}
		}
	}
	return errors.Join(errs...)
}

func (s *Service) notify(ctx context.Context, r *Rule, c int, e event.Event, parties **Parties) error {
	ch := r.Channels[c]
	name := r.channelName(c)
	rec := &Record{
		ID: newID(), Time: s.opts.Now().UTC(), Rule: r.Name, Channel: name, ChannelType: ch.Type,
		EventID: e.ID, EventType: string(e.Type), Integration: e.Integration, Events: 1,
		throttleKey: throttleKey(r.Name, name, e.Integration),
	}
	to, err := s.recipients(ctx, ch, e.Integration, e.System, parties)
	rec.Recipients = to
	if err != nil {
		rec.Status, rec.Error = StatusFailed, s.opts.Redact(err.Error())
		return errors.Join(err, insertRecord(ctx, s.db.Exec, rec))
	}
	held, err := s.admit(ctx, r, name, e, rec)
	if err != nil || held {
		return err
	}
	msg, err := renderEvent(e, r.Name, s.opts.BaseURL, ch.Template)
	var payload []byte
	if err == nil {
		payload, err = e.Marshal()
	}
	d := &delivery{ID: rec.ID, Rule: r.Name, Channel: ch, To: to, Msg: msg, Kind: string(e.Type), Payload: payload, Time: rec.Time}
	return s.finish(ctx, rec, d, err, StatusSent)
}

// finish delivers d (unless preparing it failed with prepErr) and records the outcome.
func (s *Service) finish(ctx context.Context, rec *Record, d *delivery, prepErr error, ok Status) error {
	err := prepErr
	if err == nil {
		snd := s.senders[d.Channel.Type]
		if snd == nil {
			err = fmt.Errorf("unknown channel type %q", d.Channel.Type)
		} else {
			rec.Attempts, err = s.deliver(ctx, snd, d)
		}
	}
	rec.Status = ok
	if err != nil {
		rec.Status, rec.Error = StatusFailed, s.opts.Redact(err.Error())
		s.opts.Log.Warn("notification failed", "rule", rec.Rule, "channel", rec.Channel, "event", rec.EventID, "error", rec.Error)
	}
	// The outcome is recorded even when the caller's context ended during the delivery.
	return insertRecord(context.WithoutCancel(ctx), s.db.Exec, rec)
}

// recipients resolves an email channel's addresses; other channels are described by their
// (redacted) target.
func (s *Service) recipients(ctx context.Context, ch Channel, integration, system string, parties **Parties) ([]string, error) {
	if ch.Type != ChannelEmail {
		if secret.IsRef(ch.URL) {
			return []string{ch.URL}, nil
		}
		return []string{redactURL(ch.URL)}, nil
	}
	p := Parties{}
	if needsDirectory(ch.To) {
		if *parties == nil {
			if s.opts.Directory == nil {
				return nil, errors.New("the channel names roles but no directory is configured")
			}
			got, err := s.opts.Directory.Parties(ctx, integration, system)
			if err != nil {
				return nil, err
			}
			*parties = &got
		}
		p = **parties
	}
	to := resolveRecipients(ch.To, p)
	if len(to) == 0 {
		return nil, fmt.Errorf("no recipient addresses: %v resolved to none", ch.To)
	}
	return to, nil
}

func throttleKey(rule, channel, integration string) string {
	return rule + "\x1f" + channel + "\x1f" + integration
}

// admit applies the throttle: it counts the notification against its window, or holds it
// (recording it as suppressed) for the window's digest. The conditional UPDATEs make the
// decision atomic across servers sharing the store.
func (s *Service) admit(ctx context.Context, r *Rule, channel string, e event.Event, rec *Record) (held bool, err error) {
	now := rec.Time
	end := store.Time(now.Add(r.Throttle.window()))
	at := store.Time(now)
	key := rec.throttleKey
	for attempt := 0; ; attempt++ {
		held, err = s.admitOnce(ctx, r, channel, e, rec, key, at, end)
		// The window was pruned (Prune) between this transaction's statements: start again,
		// which creates a fresh one, rather than hold a notification no digest would send.
		if !errors.Is(err, errWindowGone) || attempt == 2 {
			break
		}
	}
	if err != nil {
		return false, fmt.Errorf("throttle: %w", err)
	}
	return held, nil
}

// errWindowGone is admitOnce's answer when the throttle window vanished under it.
var errWindowGone = errors.New("throttle window pruned meanwhile")

func (s *Service) admitOnce(ctx context.Context, r *Rule, channel string, e event.Event, rec *Record, key, at, end string) (held bool, err error) {
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		held = false
		if _, err := tx.Exec(ctx, `INSERT INTO notify_throttle (key, rule, channel, integration, window_start, window_end, sent, held)
			VALUES (?, ?, ?, ?, ?, ?, 0, 0) ON CONFLICT (key) DO NOTHING`, key, r.Name, channel, e.Integration, at, end); err != nil {
			return err
		}
		// A window that ended with nothing held starts afresh; one with events held waits for
		// its digest, which starts the next window.
		if _, err := tx.Exec(ctx, `UPDATE notify_throttle SET window_start = ?, window_end = ?, sent = 0
			WHERE key = ? AND window_end <= ? AND held = 0`, at, end, key, at); err != nil {
			return err
		}
		res, err := tx.Exec(ctx, `UPDATE notify_throttle SET sent = sent + 1 WHERE key = ? AND sent < ? AND window_end > ?`,
			key, r.Throttle.max(), at)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 1 {
			return err
		}
		held = true
		res, err = tx.Exec(ctx, `UPDATE notify_throttle SET held = held + 1 WHERE key = ?`, key)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return errWindowGone
		}
		b, err := e.Marshal()
		if err != nil {
			return err
		}
		hr := *rec
		hr.Status, hr.event = StatusSuppressed, string(b)
		return insertRecord(ctx, tx.Exec, &hr)
	})
	return held, err
}

// Run sends due digests every FlushInterval until ctx ends.
func (s *Service) Run(ctx context.Context) error {
	t := time.NewTicker(s.opts.FlushInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
			if err := s.FlushDue(ctx); err != nil && ctx.Err() == nil {
				s.opts.Log.Warn("send notification digests", "error", s.opts.Redact(err.Error()))
			}
		}
	}
}

// dueWindow is a throttle window whose held events await their digest.
type dueWindow struct {
	key, rule, channel, integration, start, end string
}

// FlushDue sends the digest of every window that has ended with events held. Each digest is
// claimed by a conditional UPDATE, so of several servers flushing at once exactly one sends it.
func (s *Service) FlushDue(ctx context.Context) error {
	rows, err := s.db.Query(ctx, `SELECT key, rule, channel, integration, window_start, window_end FROM notify_throttle
		WHERE held > 0 AND window_end <= ? ORDER BY window_end`, store.Time(s.opts.Now()))
	if err != nil {
		return fmt.Errorf("find due digests: %w", err)
	}
	var due []dueWindow
	for rows.Next() {
		var w dueWindow
		if err := rows.Scan(&w.key, &w.rule, &w.channel, &w.integration, &w.start, &w.end); err != nil {
			_ = rows.Close()
			return fmt.Errorf("find due digests: %w", err)
		}
		due = append(due, w)
	}
	_ = rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("find due digests: %w", err)
	}
	var errs []error
	for _, w := range due {
		if err := s.flush(ctx, w); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (s *Service) flush(ctx context.Context, w dueWindow) error {
	rules, err := s.opts.Rules.Rules(ctx)
	if err != nil {
		return fmt.Errorf("send digest of rule %q: read rules: %w", w.rule, err)
	}
	var rule *Rule
	for i := range rules {
		if rules[i].Name == w.rule {
			rule = &rules[i]
		}
	}
	window := DefaultWindow
	if rule != nil {
		window = rule.Throttle.window()
	}
	now := s.opts.Now().UTC()
	rec := &Record{ID: newID(), Time: now, Rule: w.rule, Channel: w.channel, Integration: w.integration, throttleKey: w.key}
	var events []event.Event
	claimed := false
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		events, claimed = nil, false
		res, err := tx.Exec(ctx, `UPDATE notify_throttle SET held = 0, sent = 0, window_start = ?, window_end = ?
			WHERE key = ? AND held > 0 AND window_end = ?`, store.Time(now), store.Time(now.Add(window)), w.key, w.end)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return err
		}
		claimed = true
		rows, err := tx.Query(ctx, `SELECT event FROM notify_log WHERE throttle_key = ? AND status = ? AND digest_id = ''
			ORDER BY time, id`, w.key, string(StatusSuppressed))
		if err != nil {
			return err
		}
		defer func() { _ = rows.Close() }()
		for rows.Next() {
			var raw string
			if err := rows.Scan(&raw); err != nil {
				return err
			}
			e, err := event.Unmarshal([]byte(raw))
			if err != nil {
				return err
			}
			events = append(events, e)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE notify_log SET digest_id = ? WHERE throttle_key = ? AND status = ? AND digest_id = ''`,
			rec.ID, w.key, string(StatusSuppressed))
		return err
	})
	if err != nil {
		return fmt.Errorf("claim digest of rule %q: %w", w.rule, err)
	}
	if !claimed || len(events) == 0 {
		return nil
	}
	rec.Events = len(events)
	rec.EventType = string(events[0].Type)
	for _, e := range events {
		if string(e.Type) != rec.EventType {
			rec.EventType = "mixed"
		}
	}
	if rule == nil {
		rec.Status, rec.Error = StatusFailed, "the rule no longer exists"
		return insertRecord(ctx, s.db.Exec, rec)
	}
	ch, ok := rule.channel(w.channel)
	if !ok {
		rec.Status, rec.Error = StatusFailed, "the rule no longer has this channel"
		return insertRecord(ctx, s.db.Exec, rec)
	}
	rec.ChannelType = ch.Type
	var parties *Parties
	to, err := s.recipients(ctx, ch, w.integration, events[0].System, &parties)
	rec.Recipients = to
	if err != nil {
		rec.Status, rec.Error = StatusFailed, s.opts.Redact(err.Error())
		return errors.Join(err, insertRecord(ctx, s.db.Exec, rec))
	}
	msg, err := renderDigest(rule.Name, w.integration, window, events, s.opts.BaseURL, ch.Template)
	var payload []byte
	if err == nil {
		payload, err = marshal(digestPayload{Type: "digest", ID: rec.ID, Rule: rule.Name, Integration: w.integration, Count: len(events), Events: events})
	}
	d := &delivery{ID: rec.ID, Rule: rule.Name, Channel: ch, To: to, Msg: msg, Kind: "digest", Payload: payload, Time: now}
	return s.finish(ctx, rec, d, err, StatusDigested)
}

// digestPayload is the JSON a webhook receives for a digest (X-DataHub-Event: digest).
type digestPayload struct {
	Type        string        `json:"type"`
	ID          string        `json:"id"`
	Rule        string        `json:"rule"`
	Integration string        `json:"integration,omitempty"`
	Count       int           `json:"count"`
	Events      []event.Event `json:"events"`
}
