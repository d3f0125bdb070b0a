package catalog

import (
	"fmt"
	"net/url"
	"path"
	"slices"
	"strings"
	"text/template"
	"time"

	"github.com/datahub-oss/datahub/internal/event"
)

// NotificationRuleSpec is a NotificationRule: which of the hub's events notify whom, through
// which channels, how often. Its JSON fields are those of notify.Rule (the rule's name is
// metadata.name): the notify package, which imports the catalog for its directory of owners and
// contacts, converts a stored resource into its Rule through this JSON, so the catalog does not
// import notify.
type NotificationRuleSpec struct {
	// Enabled turns the rule off when false; a rule that does not say is enabled.
	Enabled  *bool                 `json:"enabled,omitempty"`
	Match    NotificationMatch     `json:"match"`
	Channels []NotificationChannel `json:"channels"`
	Throttle NotificationThrottle  `json:"throttle"`
}

func (*NotificationRuleSpec) specKind() Kind { return KindNotificationRule }

// IsEnabled reports whether the rule is on (the default).
func (s *NotificationRuleSpec) IsEnabled() bool { return s.Enabled == nil || *s.Enabled }

// NotificationMatch selects events; every non-empty field must match. Integrations and
// Systems are names or path.Match patterns ("sales-*").
type NotificationMatch struct {
	Types        []event.Type      `json:"types,omitempty"`
	Integrations []string          `json:"integrations,omitempty"`
	Systems      []string          `json:"systems,omitempty"`
	Envs         []string          `json:"envs,omitempty"`
	Labels       map[string]string `json:"labels,omitempty"`
	MinSeverity  event.Severity    `json:"minSeverity,omitempty"`
}

// NotificationChannel is one destination of a rule's notifications.
type NotificationChannel struct {
	// Name identifies the channel in the notification log; default "<type>#<index>".
	Name string `json:"name,omitempty"`
	// Type is email, webhook, teams or slack.
	Type string `json:"type"`
	// To lists email recipients: addresses, or the roles owner, system-owners,
	// system-contacts and role:<contact role>.
	To []string `json:"to,omitempty"`
	// URL is where webhook, Teams and Slack channels post: an http(s) URL or a reference
	// (Teams and Slack URLs carry a token).
	URL string `json:"url,omitempty"`
	// Secret is a reference to a webhook's signing key.
	Secret string `json:"secret,omitempty"`
	// Template overrides the message body (text/template).
	Template string `json:"template,omitempty"`
}

// NotificationThrottle bounds how many notifications a channel sends per integration and
// window; the rest go out as one digest when the window ends.
type NotificationThrottle struct {
	// Window is a duration such as "10m" (default 10m).
	Window string `json:"window,omitempty"`
	// Max is how many notifications a window sends one by one (default 5).
	Max int `json:"max,omitempty"`
}

// Channel types and recipient roles of notification rules (notify's names).
var (
	channelTypes        = []string{"email", "webhook", "teams", "slack"}
	recipientRoles      = []string{"owner", "system-owners", "system-contacts"}
	severities          = []string{string(event.SeverityInfo), string(event.SeverityWarning), string(event.SeverityError)}
	maxThrottleWindow   = 7 * 24 * time.Hour
	recipientRolePrefix = "role:"
)

func (c *checker) notificationRule(s *NotificationRuleSpec) {
	m := &s.Match
	types := make([]string, len(event.Types))
	for i, t := range event.Types {
		types[i] = string(t)
	}
	for i, t := range m.Types {
		if !slices.Contains(types, string(t)) {
			c.fail(fmt.Sprintf("spec.match.types[%d]", i), "%s", notOneOf(string(t), types))
		}
	}
	if m.MinSeverity != "" && !slices.Contains(severities, string(m.MinSeverity)) {
		c.fail("spec.match.minSeverity", "%s", notOneOf(string(m.MinSeverity), severities))
	}
	for _, f := range []struct {
		field string
		pats  []string
	}{{"integrations", m.Integrations}, {"systems", m.Systems}} {
		field := f.field
		for i, p := range f.pats {
			if _, err := path.Match(p, ""); err != nil || p == "" {
				c.fail(fmt.Sprintf("spec.match.%s[%d]", field, i), "%s is not a name or a pattern such as sales-*", quote(p))
			}
		}
	}
	for i, e := range m.Envs {
		name, ok := normEnv(e)
		if !ok {
			c.fail(fmt.Sprintf("spec.match.envs[%d]", i), "%s", notOneOf(e, Environments))
			continue
		}
		m.Envs[i] = name
	}
	if len(m.Types) == 0 {
		m.Types = nil
	}
	if len(m.Labels) == 0 {
		m.Labels = nil
	}
	if len(s.Channels) == 0 {
		c.fail("spec.channels", "missing (at least one of %s)", strings.Join(channelTypes, ", "))
	}
	seen := map[string]int{}
	for i := range s.Channels {
		c.notificationChannel(fmt.Sprintf("spec.channels[%d]", i), i, &s.Channels[i], seen)
	}
	if w := s.Throttle.Window; w != "" {
		d, err := time.ParseDuration(w)
		switch {
		case err != nil:
			c.fail("spec.throttle.window", "%s is not a duration (e.g. 10m, 1h)", quote(w))
		case d <= 0 || d > maxThrottleWindow:
			c.fail("spec.throttle.window", "must be more than 0 and at most %s", "168h")
		}
	}
	if s.Throttle.Max < 0 {
		c.fail("spec.throttle.max", "must not be negative")
	}
}

func (c *checker) notificationChannel(p string, i int, ch *NotificationChannel, seen map[string]int) {
	name := ch.Name
	if name == "" {
		name = fmt.Sprintf("%s#%d", ch.Type, i)
	}
	if prev, dup := seen[name]; dup {
		c.fail(p+".name", "channel name %s is also used by channels[%d]", quote(name), prev)
	} else {
		seen[name] = i
	}
	switch ch.Type {
	case "":
		c.fail(p+".type", "missing (one of %s)", strings.Join(channelTypes, ", "))
	case "email":
		if len(ch.To) == 0 {
			c.fail(p+".to", "missing (addresses or the roles %s, role:NAME)", strings.Join(recipientRoles, ", "))
		}
		for j, to := range ch.To {
			role := slices.Contains(recipientRoles, to) || (strings.HasPrefix(to, recipientRolePrefix) && len(to) > len(recipientRolePrefix))
			if !role && !emailPattern.MatchString(to) {
				c.fail(fmt.Sprintf("%s.to[%d]", p, j), "%s is neither an email address nor a role (%s, role:NAME)", quote(to), strings.Join(recipientRoles, ", "))
			}
		}
		if ch.URL != "" {
			c.fail(p+".url", "an email channel has no URL (use to)")
		}
	case "webhook", "teams", "slack":
		c.channelURL(p+".url", ch.URL, ch.Type)
		if len(ch.To) > 0 {
			c.fail(p+".to", "only email channels have recipients")
		}
		if ch.Type == "webhook" && ch.Secret == "" {
			c.fail(p+".secret", "missing: a webhook is signed with a key given as a reference (secret:NAME, env:NAME or file:PATH)")
		}
	default:
		c.fail(p+".type", "%s", notOneOf(ch.Type, channelTypes))
	}
	if ch.Secret != "" {
		if problem := checkReference(ch.Secret); problem != "" {
			c.fail(p+".secret", "%s", problem)
		}
	}
	if ch.Template != "" {
		if _, err := template.New("").Parse(ch.Template); err != nil {
			c.fail(p+".template", "not a valid template: %v", err)
		}
	}
}

// channelURL checks a chat or webhook URL: a reference, or an http(s) URL without a password.
// Messages never repeat the value, which may carry a token.
func (c *checker) channelURL(p, raw, typ string) {
	switch {
	case raw == "":
		c.fail(p, "missing (where the %s channel posts)", typ)
		return
	case isReference(raw):
		if problem := checkReference(raw); problem != "" {
			c.fail(p, "%s", problem)
		}
		return
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		c.fail(p, "want an http(s) URL or a reference (secret:NAME, env:NAME or file:PATH)")
		return
	}
	if _, ok := u.User.Password(); ok {
		c.fail(p, "the URL carries a password; give the whole URL as a reference instead (secret:NAME)")
	}
}

func isReference(s string) bool {
	return strings.HasPrefix(s, "secret:") || strings.HasPrefix(s, "env:") || strings.HasPrefix(s, "file:")
}
