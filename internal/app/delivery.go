package app

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/datahub-oss/datahub/connector"
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
		Owner: fmt.Sprintf("%s:%d", host, os.Getpid()),
		Endpoints: func(ctx context.Context, name, env, table string) (connector.Endpoint, []string, error) {
			return runs.ResolveEndpoint(ctx, h.Catalog, h.Secrets, name, env, table)
		}}
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		if err := eng.Run(dctx); err != nil && !errors.Is(err, context.Canceled) {
			log.Error("delivery engine stopped", "err", err)
		}
	}()
}

// deliveryInterval is how often the engine reads the catalog's Topics and Subscriptions.
var deliveryInterval = delivery.DefaultInterval
