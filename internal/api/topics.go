package api

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/google/uuid"

	"github.com/datahub-oss/datahub/internal/audit"
	"github.com/datahub-oss/datahub/internal/auth"
	"github.com/datahub-oss/datahub/internal/bus"
	"github.com/datahub-oss/datahub/internal/catalog"
	"github.com/datahub-oss/datahub/internal/delivery"
	"github.com/datahub-oss/datahub/internal/errcode"
)

// maxMessageSize is the largest message body published through the API (NATS' default
// maximum payload is 1 MiB, headers included).
const maxMessageSize = 1 << 20

// headerPassPrefix marks request headers that become the message's own headers:
// X-DataHub-Header-Region: eu is stored as Region: eu (and delivered as X-DataHub-Header-Region).
const headerPassPrefix = "X-DataHub-Header-" //nolint:gosec // a header name, not a credential

type publishInput struct {
	Name           string `path:"name" doc:"The Topic"`
	Subject        string `query:"subject" maxLength:"200" doc:"Subject suffix (dot-separated tokens; default \"default\"): subscriptions filter on it"`
	IdempotencyKey string `header:"Idempotency-Key" maxLength:"255" doc:"The message id: a second publish with the same key within 2 minutes stores nothing (duplicate: true)"`
	Key            string `header:"X-DataHub-Key" maxLength:"255" doc:"The message's ordering key, delivered as X-DataHub-Key"`

	body        io.Reader
	contentType string
	headers     map[string]string
}

// Resolve captures the body and the pass-through headers.
func (in *publishInput) Resolve(hctx huma.Context) []error {
	in.body = hctx.BodyReader()
	in.contentType = hctx.Header("Content-Type")
	in.headers = map[string]string{}
	hctx.EachHeader(func(name, value string) {
		if len(name) > len(headerPassPrefix) && strings.EqualFold(name[:len(headerPassPrefix)], headerPassPrefix) {
			in.headers[http.CanonicalHeaderKey(name[len(headerPassPrefix):])] = value
		}
	})
	return nil
}

type publishOutput struct {
	Status int
	Body   bus.PublishResult
}

type readTopicInput struct {
	Name  string `path:"name" doc:"The Topic"`
	After uint64 `query:"after" doc:"Return messages after this stream sequence (0: from the oldest kept)"`
	Limit int    `query:"limit" minimum:"1" maximum:"1000" default:"100"`
	Wait  string `query:"wait" doc:"How long to wait for a first message (a duration, at most 60s; default 0: answer at once)"`
}

type topicMessages struct {
	Items []bus.TopicMessage `json:"items"`
	// Last is the sequence to pass as after next time.
	Last uint64 `json:"last"`
}

type dlqListInput struct {
	Name  string `path:"name" doc:"The Subscription"`
	After uint64 `query:"after" doc:"Dead letters after this DLQ sequence"`
	Limit int    `query:"limit" minimum:"1" maximum:"1000" default:"100"`
}

type dlqItemInput struct {
	Name string `path:"name" doc:"The Subscription"`
	// Seq is parsed by the handler (seq()), after the subscription is found, so that a
	// malformed one answers 404 like a missing one.
	Seq string `path:"seq" doc:"The dead letter's sequence in the DLQ"`
}

func (in *dlqItemInput) seq() (uint64, error) {
	n, err := strconv.ParseUint(in.Seq, 10, 64)
	if err != nil || n == 0 {
		return 0, apiError(http.StatusNotFound, "no such dead letter")
	}
	return n, nil
}

type dlqNameInput struct {
	Name string `path:"name" doc:"The Subscription"`
}

type replayAllBody struct {
	Replayed int `json:"replayed"`
}

// topicRoutes are the service bus: publish to a topic, tail it, and the subscriptions'
// dead-letter queues. Publishing and replaying need runs.create (like starting a run, they
// set integrations moving); reading needs resources.read.
//
// A replay republishes the message on its topic with X-DataHub-Replay-For: <subscription>;
// every other subscription of the topic skips it, so it reaches only the one it is for.
func (s *server) topicRoutes() {
	register(s, auth.PermRunsCreate, huma.Operation{
		OperationID: "publish", Method: http.MethodPost, Path: BasePath + "/topics/{name}/messages", Tags: []string{"topics"},
		Summary:       "Publish a message to a topic",
		Description:   "The body (JSON or any bytes, at most 1 MiB) is the message; a topic with a schema takes only JSON matching it (else 422, nothing published). Headers named X-DataHub-Header-<name> become the message's headers.",
		DefaultStatus: http.StatusAccepted,
		RequestBody:   &huma.RequestBody{Content: map[string]*huma.MediaType{"application/json": {}, "application/octet-stream": {}}},
		Errors:        []int{http.StatusBadRequest, http.StatusNotFound, http.StatusRequestEntityTooLarge, http.StatusUnprocessableEntity, http.StatusServiceUnavailable},
	}, s.publish)
	register(s, auth.PermDataRead, huma.Operation{
		OperationID: "read-topic", Method: http.MethodGet, Path: BasePath + "/topics/{name}/messages", Tags: []string{"topics"},
		Summary: "Read a topic's messages after a sequence, waiting for new ones (long poll)",
		Errors:  []int{http.StatusNotFound, http.StatusServiceUnavailable},
	}, func(ctx context.Context, in *readTopicInput) (*struct{ Body topicMessages }, error) {
		if err := s.topicReady(ctx, in.Name); err != nil {
			return nil, err
		}
		wait := time.Duration(0)
		if in.Wait != "" {
			d, err := time.ParseDuration(in.Wait)
			if err != nil || d < 0 || d > time.Minute {
				return nil, apiError(http.StatusUnprocessableEntity, "wait must be a duration of at most 60s")
			}
			wait = d
		}
		msgs, err := s.d.Bus.ReadTopic(ctx, in.Name, in.After, in.Limit, wait)
		if err != nil {
			return nil, busError(err)
		}
		out := &struct{ Body topicMessages }{Body: topicMessages{Items: msgs, Last: in.After}}
		if out.Body.Items == nil {
			out.Body.Items = []bus.TopicMessage{}
		}
		if n := len(msgs); n > 0 {
			out.Body.Last = msgs[n-1].Seq
		}
		return out, nil
	})
	register(s, auth.PermResourcesRead, huma.Operation{
		OperationID: "list-dead-letters", Method: http.MethodGet, Path: BasePath + "/subscriptions/{name}/dlq", Tags: []string{"topics"},
		Summary: "List a subscription's dead letters (without bodies), oldest first",
		Errors:  []int{http.StatusNotFound, http.StatusServiceUnavailable},
	}, func(ctx context.Context, in *dlqListInput) (*struct{ Body page[bus.DeadLetter] }, error) {
		if err := s.subscriptionExists(ctx, in.Name); err != nil {
			return nil, err
		}
		ds, err := s.d.Bus.ListDeadLetters(ctx, in.Name, in.After, in.Limit)
		if err != nil {
			return nil, busError(err)
		}
		out := &struct{ Body page[bus.DeadLetter] }{}
		out.Body.Items = ds
		if out.Body.Items == nil {
			out.Body.Items = []bus.DeadLetter{}
		}
		if len(ds) == in.Limit {
			out.Body.Next = strconv.FormatUint(ds[len(ds)-1].Seq, 10)
		}
		return out, nil
	})
	register(s, auth.PermDataRead, huma.Operation{
		OperationID: "get-dead-letter", Method: http.MethodGet, Path: BasePath + "/subscriptions/{name}/dlq/{seq}", Tags: []string{"topics"},
		Summary: "Show a dead letter: its body, headers, deliveries and last error",
		Errors:  []int{http.StatusNotFound, http.StatusServiceUnavailable},
	}, func(ctx context.Context, in *dlqItemInput) (*struct{ Body bus.DeadLetter }, error) {
		if err := s.subscriptionExists(ctx, in.Name); err != nil {
			return nil, err
		}
		seq, err := in.seq()
		if err != nil {
			return nil, err
		}
		d, err := s.d.Bus.GetDeadLetter(ctx, in.Name, seq)
		if err != nil {
			return nil, busError(err)
		}
		return &struct{ Body bus.DeadLetter }{Body: d}, nil
	})
	register(s, auth.PermRunsCreate, huma.Operation{
		OperationID: "replay-dead-letter", Method: http.MethodPost, Path: BasePath + "/subscriptions/{name}/dlq/{seq}/replay", Tags: []string{"topics"},
		Summary:       "Replay a dead letter to its subscription (only) and remove it from the DLQ",
		DefaultStatus: http.StatusAccepted,
		Errors:        []int{http.StatusNotFound, http.StatusServiceUnavailable},
	}, func(ctx context.Context, in *dlqItemInput) (*publishOutput, error) {
		if err := s.subscriptionExists(ctx, in.Name); err != nil {
			return nil, err
		}
		seq, err := in.seq()
		if err != nil {
			return nil, err
		}
		res, err := s.d.Bus.ReplayDeadLetter(ctx, in.Name, seq)
		if err != nil {
			return nil, busError(err)
		}
		if err := s.appendAudit(ctx, audit.Entry{Actor: principal(ctx).Name, Action: "dlq.replay", TargetKind: string(catalog.KindSubscription),
			TargetName: in.Name, Details: detailsJSON(map[string]any{"seq": seq, "topic_seq": res.Seq})}); err != nil {
			return nil, err
		}
		return &publishOutput{Status: http.StatusAccepted, Body: res}, nil
	})
	register(s, auth.PermRunsCreate, huma.Operation{
		OperationID: "replay-dead-letters", Method: http.MethodPost, Path: BasePath + "/subscriptions/{name}/dlq/replay", Tags: []string{"topics"},
		Summary:       "Replay every dead letter of a subscription (to it only) and empty its DLQ",
		DefaultStatus: http.StatusAccepted,
		Errors:        []int{http.StatusNotFound, http.StatusServiceUnavailable},
	}, func(ctx context.Context, in *dlqNameInput) (*struct {
		Status int
		Body   replayAllBody
	}, error) {
		if err := s.subscriptionExists(ctx, in.Name); err != nil {
			return nil, err
		}
		n, err := s.d.Bus.ReplayAll(ctx, in.Name)
		if aerr := s.appendAudit(ctx, audit.Entry{Actor: principal(ctx).Name, Action: "dlq.replay", TargetKind: string(catalog.KindSubscription),
			TargetName: in.Name, Details: detailsJSON(map[string]any{"all": true, "replayed": n})}); aerr != nil && err == nil {
			err = aerr
		}
		if err != nil {
			return nil, busError(err)
		}
		return &struct {
			Status int
			Body   replayAllBody
		}{Status: http.StatusAccepted, Body: replayAllBody{Replayed: n}}, nil
	})
}

func (s *server) publish(ctx context.Context, in *publishInput) (*publishOutput, error) {
	topic, err := s.readyTopic(ctx, in.Name)
	if err != nil {
		return nil, err
	}
	data, err := io.ReadAll(io.LimitReader(in.body, maxMessageSize+1))
	if err != nil {
		return nil, apiError(http.StatusBadRequest, "could not read the body")
	}
	if len(data) > maxMessageSize {
		return nil, apiError(http.StatusRequestEntityTooLarge, "the message is larger than 1 MiB")
	}
	if err := s.checkMessage(topic, data); err != nil {
		return nil, err
	}
	headers := in.headers
	if in.contentType != "" {
		headers["Content-Type"] = in.contentType
	}
	if in.Key != "" {
		headers[bus.HeaderKey] = in.Key
	}
	// The message id is chosen before the first attempt, so that every attempt (this
	// server's, and the client's retry after a 503) carries the same one and the bus stores
	// the message once.
	id := in.IdempotencyKey
	if id == "" {
		id = uuid.NewString()
	}
	res, err := s.d.Bus.PublishTopic(ctx, in.Name, in.Subject, data, headers, id)
	if errors.Is(err, bus.ErrNoTopic) {
		// The stream was removed behind this server's back: create it again, once.
		if err := s.topicReady(ctx, in.Name); err != nil {
			return nil, err
		}
		res, err = s.d.Bus.PublishTopic(ctx, in.Name, in.Subject, data, headers, id)
	}
	if err != nil && errcode.Of(err) == errcode.Unavailable {
		return nil, unconfirmedPublish(ctx, id, err)
	}
	if err != nil {
		return nil, busError(err)
	}
	return &publishOutput{Status: http.StatusAccepted, Body: res}, nil
}

// unconfirmedPublish is the 503 of a publish the bus did not confirm. The message may still
// be stored (the bus client buffers it through a reconnect), so the answer names its id, in
// the message and in the Idempotency-Key header: a retry with that key within the duplicate
// window (2 minutes) is stored once whatever happened to the first attempt.
func unconfirmedPublish(ctx context.Context, id string, err error) *Error {
	loggerFrom(ctx).WarnContext(ctx, "publish not confirmed by the bus", "message_id", id, "err", err)
	e := apiError(http.StatusServiceUnavailable, fmt.Sprintf(
		"the service bus did not confirm the message, which may or may not be stored: retry with the header Idempotency-Key: %s within 2 minutes and it is stored once", id))
	e.headers = http.Header{"Idempotency-Key": {id}, "Retry-After": {"2"}}
	return e
}

// topicReady checks that the Topic exists in the catalog and that its stream does (the
// delivery engine creates streams every few seconds; a publish right after apply creates
// it here).
func (s *server) topicReady(ctx context.Context, name string) error {
	_, err := s.readyTopic(ctx, name)
	return err
}

// readyTopic is topicReady returning the Topic's catalog entry.
func (s *server) readyTopic(ctx context.Context, name string) (catalog.Entry, error) {
	if s.d.Bus == nil {
		return catalog.Entry{}, apiError(http.StatusServiceUnavailable, "the service bus is not configured on this server")
	}
	e, err := s.d.Catalog.Get(ctx, catalog.KindTopic, name)
	if err != nil {
		return catalog.Entry{}, err
	}
	t := e.Resource.Topic()
	if t == nil {
		return catalog.Entry{}, apiError(http.StatusNotFound, "no such topic")
	}
	return e, busError(s.d.Bus.EnsureTopic(ctx, delivery.TopicConfig(name, t)))
}

func (s *server) subscriptionExists(ctx context.Context, name string) error {
	if s.d.Bus == nil {
		return apiError(http.StatusServiceUnavailable, "the service bus is not configured on this server")
	}
	_, err := s.d.Catalog.Get(ctx, catalog.KindSubscription, name)
	return err
}

// busError maps the bus's errors onto the contract (others go through toError).
func busError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, bus.ErrNoDeadLetter):
		return apiError(http.StatusNotFound, "no such dead letter")
	case errors.Is(err, bus.ErrNoTopic):
		return apiError(http.StatusNotFound, "no such topic")
	}
	return err
}
