package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/datahub-oss/datahub/internal/catalog"
)

// RuleFromResource converts a catalog NotificationRule into a Rule. The catalog's spec has
// Rule's JSON fields (the catalog cannot import this package, which imports it), so the
// conversion goes through that JSON; the name comes from metadata.name and a rule that does
// not say is enabled.
func RuleFromResource(r *catalog.Resource) (Rule, error) {
	spec := r.NotificationRule()
	if spec == nil {
		return Rule{}, fmt.Errorf("%s is not a NotificationRule", r.Key())
	}
	b, err := json.Marshal(spec)
	if err != nil {
		return Rule{}, fmt.Errorf("read %s: %w", r.Key(), err)
	}
	var rule Rule
	if err := json.Unmarshal(b, &rule); err != nil {
		return Rule{}, fmt.Errorf("read %s: %w", r.Key(), err)
	}
	rule.Name = r.Metadata.Name
	rule.Enabled = spec.IsEnabled()
	if err := rule.Validate(); err != nil {
		return Rule{}, err
	}
	return rule, nil
}

// DefaultRulesTTL is how long CatalogRules serves the rules it read: an edited rule takes
// effect within it, and a burst of events reads the catalog once.
const DefaultRulesTTL = 5 * time.Second

// CatalogRules is a RuleSource over the catalog's enabled NotificationRule resources, cached
// for TTL. A rule the catalog accepted but Rule.Validate refuses (they check the same things,
// so this means they drifted apart) is skipped with a warning rather than stopping every
// other rule.
type CatalogRules struct {
	Catalog interface {
		List(ctx context.Context, kind catalog.Kind, opts catalog.ListOptions) ([]catalog.Entry, string, error)
	}
	// TTL is how long the rules are cached (default DefaultRulesTTL; negative: not cached).
	TTL time.Duration
	Log *slog.Logger
	// Now is the clock, for tests.
	Now func() time.Time

	mu    sync.Mutex
	rules []Rule
	at    time.Time
	ok    bool
}

var _ RuleSource = (*CatalogRules)(nil)

// Rules implements RuleSource.
func (c *CatalogRules) Rules(ctx context.Context) ([]Rule, error) {
	now := time.Now
	if c.Now != nil {
		now = c.Now
	}
	ttl := c.TTL
	if ttl == 0 {
		ttl = DefaultRulesTTL
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ok && ttl > 0 && now().Sub(c.at) < ttl {
		return c.rules, nil
	}
	var rules []Rule
	cursor := ""
	for {
		entries, next, err := c.Catalog.List(ctx, catalog.KindNotificationRule, catalog.ListOptions{Limit: 1000, Cursor: cursor})
		if err != nil {
			return nil, fmt.Errorf("read notification rules: %w", err)
		}
		for i := range entries {
			r := &entries[i].Resource
			if spec := r.NotificationRule(); spec == nil || !spec.IsEnabled() {
				continue
			}
			rule, err := RuleFromResource(r)
			if err != nil {
				log := c.Log
				if log == nil {
					log = slog.Default()
				}
				log.Warn("skipping a notification rule", "rule", r.Metadata.Name, "error", err)
				continue
			}
			rules = append(rules, rule)
		}
		if next == "" {
			break
		}
		cursor = next
	}
	// No rules is not cached: the first rule applied then takes effect at once, even when
	// another event (such as the audit.anchor at start) was handled just before.
	c.rules, c.at, c.ok = rules, now(), len(rules) > 0
	return rules, nil
}
