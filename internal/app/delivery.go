package app

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/datahub-oss/datahub/connector"
	"github.com/datahub-oss/datahub/internal/catalog"
	"github.com/datahub-oss/datahub/internal/delivery"
	"github.com/datahub-oss/datahub/internal/runs"
)

// startDelivery runs the service bus's delivery engine: every few seconds it creates or
// updates a stream per Topic and a durable consumer per Subscription, and delivers. It runs
// with the scheduler role; several processes may: each subscription's durable consumer is
// shared, so each message goes to one of them, and an ordered subscription (the default) is
// delivered by one process at a time, the holder of its lease.
func (h *Hub) startDelivery(ctx context.Context) {
	dctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	h.stopBus = cancel
	log := h.log.With("component", "delivery")
	host, _ := os.Hostname()
	eng := &delivery.Engine{Bus: h.Bus, Catalog: h.Catalog, Secrets: h.Secrets, Guard: h.Outbound, Interval: deliveryInterval, Logger: log,
		Owner:     fmt.Sprintf("%s:%d", host, os.Getpid()),
		Endpoints: h.deliveryEndpoint, CheckRefs: h.Policy.CheckAuthorRefs}
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		if err := eng.Run(dctx); err != nil && !errors.Is(err, context.Canceled) {
			log.Error("delivery engine stopped", "err", err)
		}
	}()
}

// deliveryEndpoint resolves the endpoint of a table or file delivery through the same policy
// as a run's: confined like a run's endpoints (a table delivery into the hub's own store is
// the same escalation), its secret references checked against its author, then injected.
func (h *Hub) deliveryEndpoint(ctx context.Context, name, env, table string) (connector.Endpoint, []string, error) {
	ep, ref, err := runs.PlanEndpoint(ctx, h.Catalog, name, env, table)
	if err != nil {
		return connector.Endpoint{}, nil, err
	}
	if err := h.Policy.CheckEndpointUse(ctx, ref, ep); err != nil {
		return connector.Endpoint{}, nil, err
	}
	secrets, err := runs.InjectEndpointSecrets(ctx, h.Secrets, ref, &ep)
	return ep, secrets, err
}

// deliveryInterval is how often the engine reads the catalog's Topics and Subscriptions.
var deliveryInterval = delivery.DefaultInterval

// checkRuleRefs is the notification service's check of a channel's secret references before
// a post: against the current rights of whoever last applied NotificationRule rule (nobody's,
// when the rule is gone, so only secret: references still resolve for its pending digests).
func (h *Hub) checkRuleRefs(ctx context.Context, rule string, refs ...string) error {
	author := ""
	e, err := h.Catalog.Get(ctx, catalog.KindNotificationRule, rule)
	switch {
	case err == nil:
		author = e.UpdatedBy
	case !errors.Is(err, catalog.ErrNotFound):
		return fmt.Errorf("notification rule %q: %w", rule, err)
	}
	return h.Policy.CheckAuthorRefs(ctx, author, refs...)
}
