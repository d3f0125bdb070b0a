package catalog

import (
	"fmt"
	"slices"
)

// Field is one value of a resource at its path (spec.delivery.secret).
type Field struct {
	Path, Value string
}

// SecretFields lists the fields of r that may hold a secret reference (secret:NAME, env:NAME
// or file:PATH), with their values as written, in a stable order: an Endpoint's secrets and
// its environments' own, a webhook trigger's secret, a Subscription's delivery URL and secret,
// a NotificationRule's channel URLs and secrets. The apply check and the apply warnings read
// the same list.
func SecretFields(r *Resource) []Field {
	var out []Field
	add := func(path, v string) {
		if v != "" {
			out = append(out, Field{path, v})
		}
	}
	switch r.Kind {
	case KindEndpoint:
		s := r.Endpoint()
		for _, env := range sortedKeys(s.Environments) {
			sec := s.Environments[env].Secrets
			for _, o := range sortedKeys(sec) {
				add("spec.environments."+env+".secrets."+o, sec[o])
			}
		}
		for _, o := range sortedKeys(s.Secrets) {
			add("spec.secrets."+o, s.Secrets[o])
		}
	case KindIntegration:
		if v, _ := r.Integration().Trigger.Settings["secret"].(string); v != "" {
			add("spec.trigger.secret", v)
		}
	case KindSubscription:
		d := r.Subscription().Delivery
		add("spec.delivery.url", d.URL)
		add("spec.delivery.secret", d.Secret)
	case KindNotificationRule:
		for i, ch := range r.NotificationRule().Channels {
			add(fmt.Sprintf("spec.channels[%d].url", i), ch.URL)
			add(fmt.Sprintf("spec.channels[%d].secret", i), ch.Secret)
		}
	}
	return slices.Clip(out)
}
