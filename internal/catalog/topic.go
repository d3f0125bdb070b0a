package catalog

import (
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/datahub-oss/datahub/connector"
	"github.com/datahub-oss/datahub/internal/days"
	"github.com/datahub-oss/datahub/internal/schema"
)

// TopicSpec is a Topic: a named, durable stream of messages that publishers write and
// Subscriptions read. The bus keeps one JetStream stream per topic, with the retention below.
type TopicSpec struct {
	Description string `json:"description,omitempty"`
	// Owner is an email address or a team name (default metadata.owner).
	Owner     string         `json:"owner,omitempty"`
	Retention TopicRetention `json:"retention"`
	// Classification is the most sensitive data the topic carries.
	Classification string `json:"classification"`
	// Schema is a JSON schema of the messages (draft 2020-12 unless its $schema says
	// otherwise; $refs only inside it). The API refuses a message published through it that
	// is not JSON or does not match; messages published straight on the NATS subject bypass
	// the API and are not checked.
	Schema map[string]any `json:"schema,omitempty"`
}

func (*TopicSpec) specKind() Kind { return KindTopic }

// TopicRetention bounds what a topic keeps; the oldest messages go first. Zero values mean
// the defaults (7 days, no size or count limit).
type TopicRetention struct {
	// MaxAge is a duration: 72h, 30m or 7d (default 7d, at most 365d).
	MaxAge string `json:"maxAge,omitempty"`
	// MaxBytes is a size: 1048576, 500MB, 1GiB (default: no limit).
	MaxBytes string `json:"maxBytes,omitempty"`
	// MaxMessages is a count (default: no limit).
	MaxMessages int `json:"maxMessages,omitempty"`
}

// DefaultTopicMaxAge is how long a topic keeps messages when its retention does not say.
const DefaultTopicMaxAge = 7 * 24 * time.Hour

// MaxAgeDuration is the retention's age limit (the default when unset; 0 if invalid).
func (r TopicRetention) MaxAgeDuration() time.Duration {
	if r.MaxAge == "" {
		return DefaultTopicMaxAge
	}
	d, _ := days.Parse(r.MaxAge)
	return d
}

// MaxBytesValue is the retention's size limit (0: none or invalid).
func (r TopicRetention) MaxBytesValue() int64 {
	n, _ := ParseSize(r.MaxBytes)
	return n
}

// SubscriptionSpec is a Subscription: which messages of a topic go where, and how hard the
// hub tries. Each subscription has its own durable consumer and its own dead-letter queue.
type SubscriptionSpec struct {
	// Topic names the Topic read.
	Topic    string               `json:"topic"`
	Filter   SubscriptionFilter   `json:"filter"`
	Delivery SubscriptionDelivery `json:"delivery"`
	Retry    SubscriptionRetry    `json:"retry"`
	// Ordering of http, topic and file deliveries: "key" (the default, also written "") delivers
	// every key's messages (X-DataHub-Key, else the subject) in the topic's order, different keys
	// in parallel, by one hub process at a time; "topic" delivers the whole topic in order, one
	// message at a time; "none" delivers in parallel from every process, a retried message after
	// later ones. Table and pull deliveries ignore it.
	Ordering string `json:"ordering,omitempty"`
}

func (*SubscriptionSpec) specKind() Kind { return KindSubscription }

// SubscriptionFilter selects messages; every non-empty field must match.
type SubscriptionFilter struct {
	// Subject is a NATS pattern on the subject suffix a message was published with
	// ("orders.*", "orders.>"; default ">": all).
	Subject string `json:"subject,omitempty"`
	// Headers must all be present with these exact values.
	Headers map[string]string `json:"headers,omitempty"`
}

// SubscriptionDelivery says where messages go.
type SubscriptionDelivery struct {
	// Type is http (POST to url), topic (republish to another topic), pull (a client pulls),
	// table (one row per message, upserted by message id into a table of an Endpoint) or
	// file (one file per message, named by path, in the folder of a file Endpoint).
	Type string `json:"type"`
	// URL is the http receiver: an http(s) URL or a reference.
	URL string `json:"url,omitempty"`
	// Secret is a reference to the key that signs http deliveries (X-DataHub-Signature).
	Secret string `json:"secret,omitempty"`
	// Timeout bounds one http delivery (default 30s, at most 15m).
	Timeout string `json:"timeout,omitempty"`
	// Topic is the topic a topic delivery republishes to.
	Topic string `json:"topic,omitempty"`
	// Endpoint, Env and Table are where a table delivery writes: the Endpoint resource, the
	// environment whose URL is used, and the table (created when missing). A file delivery
	// names its Endpoint and Env the same way.
	Endpoint string `json:"endpoint,omitempty"`
	Env      string `json:"env,omitempty"`
	Table    string `json:"table,omitempty"`
	// Path is a file delivery's path template, relative to the endpoint's folder, with the
	// tokens of FileDeliveryTokens (default DefaultFileDeliveryPath).
	Path string `json:"path,omitempty"`
}

// SubscriptionRetry is the redelivery policy: MaxDeliver attempts with exponential back-off
// from Initial to Max (with jitter); then the message goes to the dead-letter queue.
type SubscriptionRetry struct {
	MaxDeliver int    `json:"maxDeliver,omitempty"`
	Initial    string `json:"initial,omitempty"`
	Max        string `json:"max,omitempty"`
}

// Retry defaults.
const (
	DefaultMaxDeliver     = 10
	DefaultBackoffInitial = time.Second
	DefaultBackoffMax     = 5 * time.Minute
	DefaultHTTPTimeout    = 30 * time.Second
)

// Backoff returns the initial and maximum back-off (defaults when unset).
func (r SubscriptionRetry) Backoff() (initial, maxDelay time.Duration) {
	initial, maxDelay = DefaultBackoffInitial, DefaultBackoffMax
	if d, err := time.ParseDuration(r.Initial); err == nil && d > 0 {
		initial = d
	}
	if d, err := time.ParseDuration(r.Max); err == nil && d > 0 {
		maxDelay = d
	}
	return initial, max(initial, maxDelay)
}

// TimeoutDuration is the http delivery timeout (default 30s).
func (d SubscriptionDelivery) TimeoutDuration() time.Duration {
	if t, err := time.ParseDuration(d.Timeout); err == nil && t > 0 {
		return t
	}
	return DefaultHTTPTimeout
}

// Topic is the resource's spec when it is a Topic (else nil).
func (r *Resource) Topic() *TopicSpec { s, _ := r.Spec.(*TopicSpec); return s }

// Subscription is the resource's spec when it is a Subscription (else nil).
func (r *Resource) Subscription() *SubscriptionSpec { s, _ := r.Spec.(*SubscriptionSpec); return s }

var (
	deliveryTypes = []string{"http", "topic", "pull", "table", "file"}
	orderings     = []string{"", "key", "topic", "none"}
	maxTopicAge   = 365 * 24 * time.Hour
	maxTimeout    = 15 * time.Minute
)

// ParseSize reads a byte size: a number with an optional KB, MB, GB, TB (powers of 1000)
// or KiB, MiB, GiB, TiB (powers of 1024) unit. "" is 0.
func ParseSize(s string) (int64, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, nil
	}
	units := []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12}, {"B", 1}}
	mult := int64(1)
	for _, u := range units {
		if n, ok := strings.CutSuffix(s, u.suffix); ok {
			s, mult = strings.TrimSpace(n), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || n > (1<<62)/mult {
		return 0, fmt.Errorf("bad size")
	}
	return n * mult, nil
}

func (c *checker) topic(s *TopicSpec) {
	if s.Owner != "" && !emailPattern.MatchString(s.Owner) && !teamPattern.MatchString(s.Owner) {
		c.fail("spec.owner", "%s is neither an email address nor a team name", quote(s.Owner))
	}
	r := &s.Retention
	if r.MaxAge != "" {
		d, err := days.Parse(r.MaxAge)
		switch {
		case err != nil:
			c.fail("spec.retention.maxAge", "%s is not a duration (e.g. 72h, 7d)", quote(r.MaxAge))
		case d <= 0 || d > maxTopicAge:
			c.fail("spec.retention.maxAge", "must be more than 0 and at most 365d")
		}
	}
	if _, err := ParseSize(r.MaxBytes); err != nil {
		c.fail("spec.retention.maxBytes", "%s is not a size (e.g. 1048576, 500MB, 1GiB)", quote(r.MaxBytes))
	}
	if r.MaxMessages < 0 {
		c.fail("spec.retention.maxMessages", "must not be negative")
	}
	c.classification("spec.classification", &s.Classification)
	if len(s.Schema) == 0 {
		s.Schema = nil
	} else if _, err := schema.Compile(s.Schema); err != nil {
		c.fail("spec.schema", "%s", err)
	}
}

func (c *checker) subscription(s *SubscriptionSpec) {
	if s.Topic == "" {
		c.fail("spec.topic", "missing (the name of the Topic to read)")
	} else if !namePattern.MatchString(s.Topic) {
		c.fail("spec.topic", "%s %s", quote(s.Topic), nameRule)
	}
	if f := s.Filter.Subject; f != "" && !validPattern(f) {
		c.fail("spec.filter.subject", "%s is not a subject pattern (dot-separated tokens, * for one, > at the end for the rest)", quote(f))
	}
	for _, k := range sortedKeys(s.Filter.Headers) {
		if !headerNamePattern.MatchString(k) {
			c.fail("spec.filter.headers."+k, "header names are letters, digits and '-'")
		}
	}
	if len(s.Filter.Headers) == 0 {
		s.Filter.Headers = nil
	}
	d := &s.Delivery
	p := "spec.delivery"
	switch d.Type {
	case "":
		c.fail(p+".type", "missing (one of %s)", strings.Join(deliveryTypes, ", "))
	case "http":
		c.subscriptionURL(p+".url", d.URL)
		if d.Topic != "" {
			c.fail(p+".topic", "only topic deliveries name a topic")
		}
	case "topic":
		switch d.Topic {
		case "":
			c.fail(p+".topic", "missing (the Topic messages are republished to)")
		case s.Topic:
			c.fail(p+".topic", "a subscription cannot republish to the topic it reads")
		}
		if d.URL != "" || d.Secret != "" {
			c.fail(p, "a topic delivery has no url nor secret")
		}
	case "pull":
		if d.URL != "" || d.Topic != "" || d.Secret != "" {
			c.fail(p, "a pull delivery has no url, secret nor topic")
		}
	case "table":
		c.tableDelivery(p, d)
	case "file":
		c.fileDelivery(p, d)
	default:
		c.fail(p+".type", "%s", notOneOf(d.Type, deliveryTypes))
	}
	if d.Secret != "" {
		if problem := checkReference(d.Secret); problem != "" {
			c.fail(p+".secret", "%s", problem)
		}
	}
	if d.Timeout != "" {
		t, err := time.ParseDuration(d.Timeout)
		if err != nil || t <= 0 || t > maxTimeout {
			c.fail(p+".timeout", "%s is not a duration between 0 and 15m", quote(d.Timeout))
		}
	}
	r := &s.Retry
	if r.MaxDeliver == 0 {
		r.MaxDeliver = DefaultMaxDeliver
	}
	if r.MaxDeliver < 1 || r.MaxDeliver > 1000 {
		c.fail("spec.retry.maxDeliver", "must be between 1 and 1000")
	}
	for _, f := range []struct{ name, v string }{{"initial", r.Initial}, {"max", r.Max}} {
		if f.v == "" {
			continue
		}
		if t, err := time.ParseDuration(f.v); err != nil || t <= 0 || t > 24*time.Hour {
			c.fail("spec.retry."+f.name, "%s is not a duration between 0 and 24h", quote(f.v))
		}
	}
	if !slices.Contains(orderings, s.Ordering) {
		c.fail("spec.ordering", "%s", notOneOf(s.Ordering, orderings[1:]))
	}
}

// tableDelivery checks a table delivery's own fields (subscriptionRefs checks the endpoint).
func (c *checker) tableDelivery(p string, d *SubscriptionDelivery) {
	if d.URL != "" || d.Topic != "" || d.Secret != "" || d.Path != "" {
		c.fail(p, "a table delivery has no url, secret, topic nor path")
	}
	c.deliveryEndpoint(p, d, "the Endpoint the table is in")
	if strings.TrimSpace(d.Table) == "" {
		c.fail(p+".table", "missing (the table messages are written to)")
	}
}

// subscriptionURL checks an http receiver: a reference, or an http(s) URL without a password.
func (c *checker) subscriptionURL(p, raw string) {
	switch {
	case raw == "":
		c.fail(p, "missing (where messages are posted)")
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

// validPattern reports whether s is a NATS subject pattern: non-empty tokens of printable
// characters, "*" for a whole token, ">" only as the last token.
func validPattern(s string) bool {
	toks := strings.Split(s, ".")
	for i, t := range toks {
		switch {
		case t == "":
			return false
		case t == ">":
			if i != len(toks)-1 {
				return false
			}
		case t == "*":
		case strings.ContainsAny(t, " \t\r\n*>"):
			return false
		}
	}
	return true
}

// subscriptionRefs checks that a Subscription's topics exist.
func (c *checker) subscriptionRefs(s *SubscriptionSpec, lookup lookupFunc) error {
	for _, ref := range []struct{ path, name string }{{"spec.topic", s.Topic}, {"spec.delivery.topic", s.Delivery.Topic}} {
		if ref.name == "" {
			continue
		}
		t, err := lookup(Key{KindTopic, ref.name})
		if err != nil {
			return err
		}
		if t == nil {
			c.fail(ref.path, "no Topic %q (apply it first or in the same batch)", ref.name)
		}
	}
	d := &s.Delivery
	if (d.Type != "table" && d.Type != "file") || d.Endpoint == "" {
		return nil
	}
	r, err := lookup(Key{KindEndpoint, d.Endpoint})
	if err != nil {
		return err
	}
	if r == nil {
		c.fail("spec.delivery.endpoint", "no Endpoint %q (apply it first or in the same batch)", d.Endpoint)
		return nil
	}
	ep := r.Endpoint()
	if _, ok := ep.Environments[d.Env]; d.Env != "" && !ok {
		c.fail("spec.delivery.env", "endpoint %q has no %s URL", d.Endpoint, d.Env)
	}
	if cs, ok := connector.Lookup(ep.Type); ok && d.Type == "file" {
		if cs.Name != "file" {
			c.fail("spec.delivery.endpoint", "endpoint %q (%s) is not a file endpoint (a file delivery writes to a local folder)", d.Endpoint, cs.Name)
		}
	} else if ok {
		if !cs.CanWrite() {
			c.fail("spec.delivery.endpoint", "endpoint %q (%s) cannot be written to", d.Endpoint, cs.Name)
		} else if findOption(cs, "table") == nil {
			c.fail("spec.delivery.table", "endpoint %q (%s) has no tables", d.Endpoint, cs.Name)
		}
	}
	return nil
}
