package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/datahub-oss/datahub/internal/auth"
	"github.com/datahub-oss/datahub/internal/bus"
	"github.com/datahub-oss/datahub/internal/catalog"
	"github.com/datahub-oss/datahub/internal/delivery"
)

// maxPullWait bounds a fetch's long poll.
const maxPullWait = time.Minute

type fetchInput struct {
	Name string `path:"name" doc:"The Subscription (its delivery type must be pull)"`
	Body struct {
		Max  int    `json:"max,omitempty" minimum:"0" maximum:"1000" doc:"At most this many messages (default 10)"`
		Wait string `json:"wait,omitempty" doc:"How long to wait for a first message (a duration, at most 60s; default 0: answer at once)"`
	}
}

type fetchOutput struct {
	Body struct {
		Items []bus.PulledMessage `json:"items"`
	}
}

type ackInput struct {
	Name string `path:"name" doc:"The Subscription (its delivery type must be pull)"`
	Body struct {
		Tokens []string `json:"tokens" minItems:"1" maxItems:"1000" doc:"The ack_token of each message settled"`
		Action string   `json:"action,omitempty" enum:"ack,nak,progress,term" doc:"ack (default): done; nak: deliver again (after delay); progress: still working, restart the ack wait; term: never deliver again"`
		Delay  string   `json:"delay,omitempty" doc:"With nak: redeliver after this duration (default at once)"`
	}
}

type ackOutput struct {
	Body struct {
		Settled int `json:"settled"`
	}
}

// pullRoutes let clients consume a pull Subscription: fetch a batch, then settle each message
// by its token. Both consume the subscription, so both need runs.create, like publishing.
func (s *server) pullRoutes() {
	register(s, auth.PermRunsCreate, huma.Operation{
		OperationID: "fetch-subscription", Method: http.MethodPost, Path: BasePath + "/subscriptions/{name}/fetch", Tags: []string{"topics"},
		Summary: "Fetch messages of a pull subscription",
		Description: "Returns up to max messages, waiting at most wait for the first. Settle each with the ack operation " +
			"before the subscription's ack wait (30s) or it is delivered again; after retry.maxDeliver deliveries it goes to " +
			"the dead-letter queue. Fetching consumes the subscription, so it needs runs.create (like publishing).",
		Errors: []int{http.StatusNotFound, http.StatusConflict, http.StatusServiceUnavailable},
	}, s.fetchSubscription)
	register(s, auth.PermRunsCreate, huma.Operation{
		OperationID: "ack-subscription", Method: http.MethodPost, Path: BasePath + "/subscriptions/{name}/ack", Tags: []string{"topics"},
		Summary: "Settle fetched messages of a pull subscription: ack, nak, progress or term",
		Description: "Every token must be one the fetch operation returned for this subscription, or nothing is settled (422). " +
			"Acking consumes the subscription, so it needs runs.create (like publishing).",
		Errors: []int{http.StatusNotFound, http.StatusConflict, http.StatusUnprocessableEntity, http.StatusServiceUnavailable},
	}, s.ackSubscription)
}

func (s *server) fetchSubscription(ctx context.Context, in *fetchInput) (*fetchOutput, error) {
	entry, spec, err := s.pullSubscription(ctx, in.Name)
	if err != nil {
		return nil, err
	}
	limit := in.Body.Max
	if limit == 0 {
		limit = 10
	}
	wait := time.Duration(0)
	if in.Body.Wait != "" {
		d, err := time.ParseDuration(in.Body.Wait)
		if err != nil || d < 0 || d > maxPullWait {
			return nil, apiError(http.StatusUnprocessableEntity, "wait must be a duration of at most 60s")
		}
		wait = d
	}
	cfg := delivery.ConfigFor(entry)
	msgs, err := s.d.Bus.FetchSubscription(ctx, cfg, limit, wait)
	if errors.Is(err, bus.ErrNoTopic) {
		// Right after apply, before the delivery engine's next pass: create the stream here.
		if err := s.topicReady(ctx, spec.Topic); err != nil {
			return nil, err
		}
		msgs, err = s.d.Bus.FetchSubscription(ctx, cfg, limit, wait)
	}
	if err != nil {
		return nil, busError(err)
	}
	out := &fetchOutput{}
	out.Body.Items = []bus.PulledMessage{}
	var skipped []string
	for _, m := range msgs {
		if matchHeaders(spec.Filter.Headers, m.Headers) {
			out.Body.Items = append(out.Body.Items, m)
		} else {
			skipped = append(skipped, m.AckToken)
		}
	}
	if len(skipped) > 0 {
		// Filtered out: acked without delivery, as the hub does for its own deliveries.
		if _, err := s.d.Bus.SettleSubscription(ctx, spec.Topic, in.Name, skipped, bus.SettleAck, 0); err != nil {
			return nil, busError(err)
		}
	}
	return out, nil
}

func (s *server) ackSubscription(ctx context.Context, in *ackInput) (*ackOutput, error) {
	_, spec, err := s.pullSubscription(ctx, in.Name)
	if err != nil {
		return nil, err
	}
	action := in.Body.Action
	if action == "" {
		action = bus.SettleAck
	}
	delay := time.Duration(0)
	if in.Body.Delay != "" {
		d, err := time.ParseDuration(in.Body.Delay)
		if err != nil || d < 0 {
			return nil, apiError(http.StatusUnprocessableEntity, "delay must be a positive duration")
		}
		delay = d
	}
	n, err := s.d.Bus.SettleSubscription(ctx, spec.Topic, in.Name, in.Body.Tokens, action, delay)
	if err != nil {
		return nil, busError(err)
	}
	out := &ackOutput{}
	out.Body.Settled = n
	return out, nil
}

// pullSubscription is the Subscription's entry and spec; 404 when it does not exist, 409 when the hub
// delivers it itself.
func (s *server) pullSubscription(ctx context.Context, name string) (catalog.Entry, *catalog.SubscriptionSpec, error) {
	if s.d.Bus == nil {
		return catalog.Entry{}, nil, apiError(http.StatusServiceUnavailable, "the service bus is not configured on this server")
	}
	e, err := s.d.Catalog.Get(ctx, catalog.KindSubscription, name)
	if err != nil {
		return catalog.Entry{}, nil, err
	}
	spec := e.Resource.Subscription()
	if spec == nil {
		return catalog.Entry{}, nil, apiError(http.StatusNotFound, "no such subscription")
	}
	if spec.Delivery.Type != "pull" {
		return catalog.Entry{}, nil, apiError(http.StatusConflict, fmt.Sprintf("subscription %s is delivered by the hub over %s; only pull subscriptions are fetched", name, spec.Delivery.Type))
	}
	return e, spec, nil
}

// matchHeaders reports whether a message has every header of the subscription's filter.
func matchHeaders(want, got map[string]string) bool {
	for k, v := range want {
		if got[http.CanonicalHeaderKey(k)] != v {
			return false
		}
	}
	return true
}
