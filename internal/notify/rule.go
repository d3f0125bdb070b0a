// Package notify turns the hub's lifecycle events into notifications. NotificationRule
// resources match events (by type, integration, system, environment, labels and severity) and
// name channels: email over SMTP, signed webhooks, and Microsoft Teams and Slack incoming
// webhooks. Recipients are addresses or roles resolved from the catalog (the integration's
// owner, its systems' owners and contacts). Messages are rendered from per-event-type templates.
//
// A failing schedule must not send a thousand mails: each rule, channel and integration may send
// at most Throttle.Max notifications per Throttle.Window; later events are held and sent as one
// digest when the window ends. The throttle state lives in the metadata store so that several
// servers share it, and every notification sent, failed, held or digested is recorded in
// notify_log, listable with List.
package notify

import (
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"strings"
	"time"

	"github.com/datahub-oss/datahub/internal/event"
	"github.com/datahub-oss/datahub/internal/secret"
)

// Channel types.
const (
	ChannelEmail   = "email"
	ChannelWebhook = "webhook"
	ChannelTeams   = "teams"
	ChannelSlack   = "slack"
)

// Recipient roles a channel's To may name besides plain addresses.
const (
	// RoleOwner is the integration's owner (metadata.owner), when it is an address.
	RoleOwner = "owner"
	// RoleSystemOwners are the owners of the systems involved (the integration's source and
	// destination systems, or the event's system).
	RoleSystemOwners = "system-owners"
	// RoleSystemContacts are every contact of the systems involved.
	RoleSystemContacts = "system-contacts"
	// RolePrefix selects the systems' contacts with one role: "role:oncall".
	RolePrefix = "role:"
)

// Default throttle, used when a rule does not set one: a schedule failing every minute sends
// five mails, then one digest per ten minutes.
const (
	DefaultWindow = 10 * time.Minute
	DefaultMax    = 5
)

// Rule is a NotificationRule's spec: which events, to which channels, how often.
type Rule struct {
	Name     string    `json:"name"`
	Enabled  bool      `json:"enabled"`
	Match    Match     `json:"match"`
	Channels []Channel `json:"channels"`
	Throttle Throttle  `json:"throttle"`
}

// Match selects events. Every non-empty field must match; empty fields match everything.
// Integrations and Systems are names or path.Match patterns ("sales-*").
type Match struct {
	Types        []event.Type      `json:"types,omitempty"`
	Integrations []string          `json:"integrations,omitempty"`
	Systems      []string          `json:"systems,omitempty"`
	Envs         []string          `json:"envs,omitempty"`
	Labels       map[string]string `json:"labels,omitempty"`
	MinSeverity  event.Severity    `json:"minSeverity,omitempty"`
}

// Channel is one destination of a rule's notifications.
type Channel struct {
	// Name identifies the channel in the log and the throttle; default "<type>#<index>".
	Name string `json:"name,omitempty"`
	// Type is email, webhook, teams or slack.
	Type string `json:"type"`
	// To lists email recipients: addresses, or the roles owner, system-owners,
	// system-contacts and role:<contact role>.
	To []string `json:"to,omitempty"`
	// URL is where webhook, Teams and Slack channels post. Teams and Slack URLs carry a
	// token, so they may be given as a secret reference (secret:NAME, env:NAME, file:PATH).
	URL string `json:"url,omitempty"`
	// Secret is a reference to the webhook's HMAC signing key; required for webhooks.
	Secret string `json:"secret,omitempty"`
	// Template overrides the body (email) or text (chat) template; text/template syntax with
	// the same data as the defaults.
	Template string `json:"template,omitempty"`
}

// Throttle bounds how many notifications a rule's channel sends per integration.
type Throttle struct {
	// Window is the throttling period (default 10m).
	Window Duration `json:"window,omitempty"`
	// Max is how many notifications are sent individually per window (default 5); the rest
	// are sent as one digest when the window ends.
	Max int `json:"max,omitempty"`
}

// window and max return the throttle with defaults applied.
func (t Throttle) window() time.Duration {
	if t.Window <= 0 {
		return DefaultWindow
	}
	return time.Duration(t.Window)
}

func (t Throttle) max() int {
	if t.Max <= 0 {
		return DefaultMax
	}
	return t.Max
}

// Duration is a time.Duration written as "10m" in JSON.
type Duration time.Duration

// MarshalJSON writes the duration as a string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON reads "10m" (or a number of nanoseconds).
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		var n int64
		if err2 := json.Unmarshal(b, &n); err2 != nil {
			return fmt.Errorf("duration: want a string like \"10m\"")
		}
		*d = Duration(n)
		return nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("duration %q: %w", s, err)
	}
	*d = Duration(v)
	return nil
}

// channelName is the channel's name in the log and the throttle key.
func (r *Rule) channelName(i int) string {
	if n := r.Channels[i].Name; n != "" {
		return n
	}
	return fmt.Sprintf("%s#%d", r.Channels[i].Type, i)
}

// channel finds a channel by its name.
func (r *Rule) channel(name string) (Channel, bool) {
	for i := range r.Channels {
		if r.channelName(i) == name {
			return r.Channels[i], true
		}
	}
	return Channel{}, false
}

// Validate checks a rule: names, channel types, addresses and roles, secret references.
func (r *Rule) Validate() error {
	var errs []error
	fail := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if r.Name == "" {
		fail("name: required")
	}
	for _, t := range r.Match.Types {
		if !knownType(t) {
			fail("match.types: unknown event type %q", t)
		}
	}
	if s := r.Match.MinSeverity; s != "" && severityRank(s) < 0 {
		fail("match.minSeverity: %q is not info, warning or error", s)
	}
	for _, p := range append(append([]string(nil), r.Match.Integrations...), r.Match.Systems...) {
		if _, err := path.Match(p, ""); err != nil {
			fail("match: bad pattern %q", p)
		}
	}
	if len(r.Channels) == 0 {
		fail("channels: at least one is required")
	}
	seen := map[string]bool{}
	for i, c := range r.Channels {
		p := fmt.Sprintf("channels[%d]", i)
		if n := r.channelName(i); seen[n] {
			fail("%s.name: duplicate channel name %q", p, n)
		} else {
			seen[n] = true
		}
		switch c.Type {
		case ChannelEmail:
			if len(c.To) == 0 {
				fail("%s.to: an email channel needs recipients", p)
			}
			for _, to := range c.To {
				if !isRole(to) && !validAddress(to) {
					fail("%s.to: %q is neither an address nor a role (owner, system-owners, system-contacts, role:NAME)", p, to)
				}
			}
		case ChannelWebhook, ChannelTeams, ChannelSlack:
			if c.URL == "" {
				fail("%s.url: required for a %s channel", p, c.Type)
			} else if !secret.IsRef(c.URL) && !strings.HasPrefix(c.URL, "https://") && !strings.HasPrefix(c.URL, "http://") {
				fail("%s.url: want an http(s) URL or a secret reference", p)
			}
			if c.Type == ChannelWebhook && !secret.IsRef(c.Secret) {
				fail("%s.secret: a webhook needs a signing key given as a reference (secret:NAME, env:NAME or file:PATH)", p)
			}
		default:
			fail("%s.type: %q is not email, webhook, teams or slack", p, c.Type)
		}
		if c.Secret != "" && !secret.IsRef(c.Secret) {
			fail("%s.secret: must be a reference (secret:NAME, env:NAME or file:PATH), not the key itself", p)
		}
	}
	if r.Throttle.Window < 0 || r.Throttle.Max < 0 {
		fail("throttle: window and max must not be negative")
	}
	if len(errs) > 0 {
		return fmt.Errorf("notification rule %q: %w", r.Name, errors.Join(errs...))
	}
	return nil
}

func isRole(s string) bool {
	switch s {
	case RoleOwner, RoleSystemOwners, RoleSystemContacts:
		return true
	}
	return strings.HasPrefix(s, RolePrefix) && len(s) > len(RolePrefix)
}

func knownType(t event.Type) bool {
	for _, k := range event.Types {
		if k == t {
			return true
		}
	}
	return false
}

// severityRank orders severities; -1 for an unknown one.
func severityRank(s event.Severity) int {
	switch s {
	case event.SeverityInfo:
		return 0
	case event.SeverityWarning:
		return 1
	case event.SeverityError:
		return 2
	}
	return -1
}

// Matches reports whether the rule selects the event (disabled rules select nothing).
func (r *Rule) Matches(e event.Event) bool {
	if !r.Enabled {
		return false
	}
	m := r.Match
	if len(m.Types) > 0 && !contains(m.Types, e.Type) {
		return false
	}
	if len(m.Integrations) > 0 && !matchAny(m.Integrations, e.Integration) {
		return false
	}
	if len(m.Systems) > 0 && !matchAny(m.Systems, e.System) {
		return false
	}
	if len(m.Envs) > 0 {
		ok := false
		for _, env := range m.Envs {
			ok = ok || strings.EqualFold(env, e.Env)
		}
		if !ok {
			return false
		}
	}
	for k, v := range m.Labels {
		if got, ok := e.Labels[k]; !ok || got != v {
			return false
		}
	}
	if m.MinSeverity != "" {
		sev := e.Severity
		if sev == "" {
			sev = event.SeverityOf(e.Type)
		}
		if severityRank(sev) < severityRank(m.MinSeverity) {
			return false
		}
	}
	return true
}

func contains[T comparable](xs []T, x T) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

// matchAny matches a name against names or patterns; an empty name matches nothing.
func matchAny(patterns []string, name string) bool {
	if name == "" {
		return false
	}
	for _, p := range patterns {
		if ok, _ := path.Match(p, name); ok {
			return true
		}
	}
	return false
}
