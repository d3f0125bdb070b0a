package catalog

import "fmt"

// eventTriggerTopic is the setting of an event trigger that names its Topic (trigger.ParseEvent
// reads it; catalog cannot import the trigger package, which imports catalog).
const eventTriggerTopic = "topic"

// TriggerTopic is the Topic an Integration's event trigger reads, "" for other triggers or
// when the setting is not a string.
func (s *IntegrationSpec) TriggerTopic() string {
	if s.Trigger.Type != "event" {
		return ""
	}
	t, _ := s.Trigger.Settings[eventTriggerTopic].(string)
	return t
}

// triggerTopicRef checks that the Topic an event trigger reads exists, like a
// Subscription's (a missing or malformed setting is the trigger check's business).
func (c *checker) triggerTopicRef(s *IntegrationSpec, lookup lookupFunc) error {
	name := s.TriggerTopic()
	if name == "" {
		return nil
	}
	t, err := lookup(Key{KindTopic, name})
	if err != nil {
		return err
	}
	if t == nil {
		c.fail("spec.trigger.topic", "no Topic %q (apply it first or in the same batch)", name)
	}
	return nil
}

// topicUsers names the live Subscriptions that read or republish to Topic name and the
// Integrations whose event trigger reads it.
func topicUsers(v *view, name string) ([]string, error) {
	var users []string
	subs, err := v.liveOfKind(KindSubscription)
	if err != nil {
		return nil, err
	}
	for _, r := range subs {
		if s := r.Subscription(); s != nil && (s.Topic == name || s.Delivery.Topic == name) {
			users = append(users, r.Key().String())
		}
	}
	ins, err := v.liveOfKind(KindIntegration)
	if err != nil {
		return nil, err
	}
	for _, r := range ins {
		if s := r.Integration(); s != nil && s.TriggerTopic() == name {
			users = append(users, r.Key().String())
		}
	}
	return users, nil
}

// writesTo is the Endpoint a Subscription's table or file delivery writes to ("" for
// the other deliveries).
func (s *SubscriptionSpec) writesTo() string {
	if s.Delivery.Type == "table" || s.Delivery.Type == "file" {
		return s.Delivery.Endpoint
	}
	return ""
}

// endpointSubscriptions returns the live Subscriptions whose delivery writes to Endpoint name.
func endpointSubscriptions(v *view, name string) ([]*Resource, error) {
	subs, err := v.liveOfKind(KindSubscription)
	if err != nil {
		return nil, err
	}
	var out []*Resource
	for _, r := range subs {
		if s := r.Subscription(); s != nil && s.writesTo() == name {
			out = append(out, r)
		}
	}
	return out, nil
}

// checkChangedEndpointSubscriptions reports, against each changed Endpoint, the stored
// Subscriptions outside the batch that the change would break (an endpoint that is no longer
// a file endpoint, or lost the environment a delivery uses).
func checkChangedEndpointSubscriptions(v *view, changed map[string]*Resource) (Errors, error) {
	var errs Errors
	for name, ep := range changed {
		users, err := endpointSubscriptions(v, name)
		if err != nil {
			return nil, err
		}
		for _, u := range users {
			if _, inBatch := v.batch[u.Key()]; inBatch {
				continue
			}
			es, err := checkRefs(u, v.lookup)
			if err != nil {
				return nil, err
			}
			for _, e := range es {
				errs = append(errs, newError(ep, "spec", fmt.Sprintf("this change would break Subscription %q: %s: %s", u.Metadata.Name, e.Field, e.Problem)))
			}
		}
	}
	return errs, nil
}

// checkTrigger runs Options.CheckTrigger on an Integration's (normalized) trigger.
func (s *Service) checkTrigger(r *Resource) Errors {
	is := r.Integration()
	if s.opts.CheckTrigger == nil || is == nil {
		return nil
	}
	if err := s.opts.CheckTrigger(is.Trigger); err != nil {
		return Errors{newError(r, "spec.trigger", err.Error())}
	}
	return nil
}

// checkOutbound runs Options.CheckOutbound on the URLs a Subscription's http delivery and a
// NotificationRule's webhook, Teams and Slack channels post to (references are left alone).
func (s *Service) checkOutbound(r *Resource) Errors {
	if s.opts.CheckOutbound == nil {
		return nil
	}
	var errs Errors
	check := func(field, raw string) {
		if raw == "" || isReference(raw) {
			return
		}
		if err := s.opts.CheckOutbound(raw); err != nil {
			errs = append(errs, newError(r, field, err.Error()))
		}
	}
	if sub := r.Subscription(); sub != nil && sub.Delivery.Type == "http" {
		check("spec.delivery.url", sub.Delivery.URL)
	}
	if nr := r.NotificationRule(); nr != nil {
		for i, ch := range nr.Channels {
			if ch.Type != "email" {
				check(fmt.Sprintf("spec.channels[%d].url", i), ch.URL)
			}
		}
	}
	return errs
}
