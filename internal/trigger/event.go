package trigger

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/datahub-oss/datahub/internal/bus"
	"github.com/datahub-oss/datahub/internal/catalog"
	"github.com/datahub-oss/datahub/internal/runs"
)

// TypeEvent is the trigger fired by messages on a Topic.
const TypeEvent = "event"

// ActorEvent is the actor of runs an event trigger requests.
const ActorEvent = "trigger:event"

// Defaults and limits of the event trigger's batch.
const (
	DefaultEventBatchMax  = 1
	DefaultEventBatchWait = 5 * time.Second
	MaxEventBatchMax      = 10_000
)

// EventConsumerPrefix starts the name of an event trigger's durable consumer on its topic:
// trigger-<integration>.
const EventConsumerPrefix = "trigger-"

// EventSettings are the settings of an event trigger:
//
//	trigger:
//	  type: event
//	  env: DEV
//	  topic: orders            # a Topic's name
//	  subject: "eu.>"          # optional filter on the message subject
//	  batch: {max: 100, wait: 5s}   # one run per batch (default max 1, wait 5s)
//	  body: data               # default: the messages are the run's data; or ignore
//
// With body: data the batch is stored under <data>/hooks/<integration>/ and read instead of
// the source endpoint: as NDJSON, one line per message, when every message is a JSON object;
// otherwise a batch of one message whose Content-Type header says text/csv or
// application/json is stored as it is (.csv, .json). Any other batch cannot be data: it is
// dropped with an error in the log rather than retried for ever (use batch max 1 for CSV
// messages).
type EventSettings struct {
	Env     string
	Topic   string
	Subject string
	Max     int
	Wait    time.Duration
	Body    string
}

// ParseEvent reads an event trigger.
func ParseEvent(t catalog.Trigger) (EventSettings, error) {
	s := &settings{m: t.Settings}
	out := EventSettings{Env: s.env(), Topic: s.str("topic", true), Subject: s.str("subject", false), Body: s.str("body", false),
		Max: DefaultEventBatchMax, Wait: DefaultEventBatchWait}
	if out.Topic != "" && !topicName.MatchString(out.Topic) {
		s.errs = append(s.errs, fmt.Sprintf("topic %q: not a Topic name", out.Topic))
	}
	if out.Subject != "" && (strings.ContainsAny(out.Subject, " \t\r\n") || strings.HasPrefix(out.Subject, ".") ||
		strings.HasSuffix(out.Subject, ".") || strings.Contains(out.Subject, "..")) {
		s.errs = append(s.errs, fmt.Sprintf("subject %q: want dot-separated tokens, * or > as wildcards", out.Subject))
	}
	switch out.Body {
	case "":
		out.Body = HookBodyData
	case HookBodyIgnore, HookBodyData:
	default:
		s.errs = append(s.errs, fmt.Sprintf("body: %q is not one of data, ignore", out.Body))
	}
	if v, ok := s.m["batch"]; ok && v != nil {
		m, ok := v.(map[string]any)
		if !ok {
			s.errs = append(s.errs, "batch: want a mapping {max: N, wait: 5s}")
		} else {
			b := &settings{m: m}
			out.Max = int(b.size("max", DefaultEventBatchMax, 1, MaxEventBatchMax))
			out.Wait = b.duration("wait", DefaultEventBatchWait, 100*time.Millisecond)
			if err := b.done("batch of an event", "max", "wait"); err != nil {
				s.errs = append(s.errs, strings.TrimPrefix(err.Error(), "batch of an event trigger: "))
			}
		}
	}
	return out, s.done(TypeEvent, "env", "topic", "subject", "batch", "body")
}

// topicName is a Topic resource name (the catalog's rule).
var topicName = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$`)

// eventRun is one event-triggered integration's consumer.
type eventRun struct {
	sig    string
	cancel context.CancelFunc
	done   chan struct{}
}

// runEvents keeps one consumer per event-triggered integration, following the catalog, until
// ctx ends. Only the leader runs them (see lead), so batches stay whole and in topic order.
func (s *Scheduler) runEvents(ctx context.Context) {
	running := map[string]*eventRun{}
	defer func() {
		for _, r := range running {
			r.cancel()
			<-r.done
		}
	}()
	ticker := s.cfg.Clock.NewTicker(s.cfg.ReloadEvery)
	defer ticker.Stop()
	for {
		if want, err := s.loadEvents(ctx); err != nil {
			if ctx.Err() == nil {
				s.log.Error("read the catalog, keeping the event triggers known", "err", err)
			}
		} else {
			for name, r := range running {
				if w, ok := want[name]; !ok || w.sig != r.sig {
					r.cancel()
					<-r.done
					delete(running, name)
				}
			}
			for name, w := range want {
				if running[name] != nil {
					continue
				}
				rctx, cancel := context.WithCancel(ctx)
				r := &eventRun{sig: w.sig, cancel: cancel, done: make(chan struct{})}
				running[name] = r
				go func() {
					defer close(r.done)
					s.consumeEvents(rctx, name, w)
				}()
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-ticker.C():
		}
	}
}

type eventEntry struct {
	sig   string
	set   EventSettings
	since time.Time
}

func (s *Scheduler) loadEvents(ctx context.Context) (map[string]eventEntry, error) {
	out := map[string]eventEntry{}
	cursor := ""
	for {
		es, next, err := s.cfg.Catalog.List(ctx, catalog.KindIntegration, catalog.ListOptions{Limit: 1000, Cursor: cursor})
		if err != nil {
			return nil, fmt.Errorf("event triggers: list integrations: %w", err)
		}
		for _, ce := range es {
			spec := ce.Resource.Integration()
			if spec == nil || spec.Trigger.Type != TypeEvent {
				continue
			}
			set, err := ParseEvent(spec.Trigger)
			if err != nil {
				s.log.Debug("integration's event trigger is not valid: it does not fire", "integration", ce.Resource.Metadata.Name, "err", err)
				continue
			}
			sig, _ := json.Marshal(spec.Trigger)
			out[ce.Resource.Metadata.Name] = eventEntry{sig: string(sig), set: set, since: ce.UpdatedAt}
		}
		if next == "" {
			return out, nil
		}
		cursor = next
	}
}

// consumeEvents runs one integration's consumer until ctx ends, starting again after errors
// (the topic not created yet, the server away).
func (s *Scheduler) consumeEvents(ctx context.Context, name string, e eventEntry) {
	cfg := bus.BatchConfig{Name: EventConsumerPrefix + name, Topic: e.set.Topic, Filter: e.set.Subject, Since: e.since,
		Max: e.set.Max, Wait: e.set.Wait}
	for ctx.Err() == nil {
		err := s.cfg.Topics.ConsumeBatches(ctx, cfg, func(ctx context.Context, msgs []bus.TopicMessage) error {
			return s.fireEvent(ctx, name, e.set, msgs)
		})
		if ctx.Err() != nil || errors.Is(err, bus.ErrClosed) {
			return
		}
		s.log.Warn("event trigger consumer stopped, will retry", "integration", name, "topic", e.set.Topic, "err", err)
		s.sleep(ctx, s.cfg.RetryEvery*5)
	}
}

// fireEvent requests the run of a batch. The batch's key is its first message's stream
// sequence, recorded in trigger_hooks: a batch delivered again (the ack was lost) maps to the
// run already requested.
func (s *Scheduler) fireEvent(ctx context.Context, name string, set EventSettings, msgs []bus.TopicMessage) error {
	if len(msgs) == 0 {
		return nil
	}
	hooks := NewHooks(s.cfg.DB)
	key := HookKey("event:" + set.Topic + ":" + strconv.FormatUint(msgs[0].Seq, 10))
	claimed, runID, err := hooks.Claim(ctx, name, key)
	if err != nil {
		return err
	}
	if !claimed {
		if runID == "" {
			return errors.New("the batch is being requested by another process")
		}
		s.log.Info("event batch delivered again: its run was already requested", "integration", name, "run", runID)
		return nil
	}
	params := map[string]string{"topic": set.Topic, "seq": strconv.FormatUint(msgs[0].Seq, 10), "messages": strconv.Itoa(len(msgs))}
	var file string
	if set.Body == HookBodyData {
		data, ext, derr := eventData(msgs)
		if derr != nil {
			// Retrying would not make the messages readable: drop the batch, loudly.
			s.log.Error("event batch dropped: its messages cannot be the run's data", "integration", name, "seq", msgs[0].Seq, "err", derr)
			return nil
		}
		dir := filepath.Join(s.cfg.HooksDir, name)
		if err = os.MkdirAll(dir, 0o700); err == nil {
			file, err = filepath.Abs(filepath.Join(dir, "event-"+set.Topic+"-"+strconv.FormatUint(msgs[0].Seq, 10)+"."+ext))
		}
		if err == nil {
			err = os.WriteFile(file, data, 0o600)
		}
		if err != nil {
			_ = hooks.Release(context.WithoutCancel(ctx), name, key)
			return fmt.Errorf("store the event batch of %s: %w", name, err)
		}
		params[runs.ParamFile] = file
	}
	qctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), requestTimeout)
	defer cancel()
	run, err := s.cfg.Requester.Request(qctx, runs.Request{Integration: name, Env: set.Env, Actor: ActorEvent, Trigger: runs.TriggerEvent, Params: params})
	if err != nil {
		if file != "" {
			_ = os.Remove(file)
		}
		_ = hooks.Release(qctx, name, key)
		return fmt.Errorf("request the run of %s: %w", name, err)
	}
	if err := hooks.SetRun(qctx, name, key, run.ID); err != nil {
		s.log.Warn("note the run of an event batch", "integration", name, "err", err)
	}
	s.log.Info("event trigger fired", "integration", name, "topic", set.Topic, "messages", len(msgs), "run", run.ID)
	return nil
}

// eventData is a batch as a file's content and extension: NDJSON when every message is a
// JSON object, else a single message stored as it is when its Content-Type is CSV or JSON.
func eventData(msgs []bus.TopicMessage) ([]byte, string, error) {
	var buf bytes.Buffer
	for _, m := range msgs {
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(m.Data, &obj); err != nil {
			if len(msgs) == 1 {
				ct, _, _ := mime.ParseMediaType(headerValue(m.Headers, "Content-Type"))
				switch ct {
				case "text/csv":
					return m.Data, "csv", nil
				case "application/json":
					return m.Data, "json", nil
				}
			}
			return nil, "", fmt.Errorf("message %d is not a JSON object (a batch of one message may also be CSV or JSON with that Content-Type header)", m.Seq)
		}
		if err := json.Compact(&buf, m.Data); err != nil {
			return nil, "", fmt.Errorf("message %d: %w", m.Seq, err)
		}
		buf.WriteByte('\n')
	}
	return buf.Bytes(), "ndjson", nil
}

func headerValue(h map[string]string, key string) string {
	for k, v := range h {
		if strings.EqualFold(k, key) {
			return v
		}
	}
	return ""
}
