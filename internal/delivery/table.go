package delivery

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/datahub-oss/datahub/connector"
	"github.com/datahub-oss/datahub/internal/bus"
	"github.com/datahub-oss/datahub/internal/catalog"
	"github.com/datahub-oss/datahub/internal/event"
	"github.com/datahub-oss/datahub/internal/redact"
)

// Table deliveries write messages in batches: a batch is closed at tableBatchSize messages
// or tableBatchWait after its first one. The subscription's consumer runs tableBatchSize
// handlers at once, each waiting for its message's batch to be flushed.
const (
	tableBatchSize = 500
	tableBatchWait = 200 * time.Millisecond
)

// EndpointFunc resolves an Endpoint resource in an environment, with a table and its secrets
// injected (runs.ResolveEndpoint); it returns the secret values too, for scrubbing errors.
type EndpointFunc func(ctx context.Context, name, env, table string) (connector.Endpoint, []string, error)

// TableSchema is the table a table delivery writes: one row per message, keyed by the
// message id so that a redelivered message overwrites its row instead of adding one. body
// holds the payload as sent; body_json holds it too when it is valid JSON (else NULL).
var TableSchema = connector.Schema{
	Columns: []connector.Column{
		{Name: "message_id", Type: connector.TypeString},
		{Name: "topic", Type: connector.TypeString},
		{Name: "subject", Type: connector.TypeString},
		{Name: "published_at", Type: connector.TypeTimestampTZ},
		{Name: "headers", Type: connector.TypeJSON, Nullable: true},
		{Name: "body", Type: connector.TypeBytes, Nullable: true},
		{Name: "body_json", Type: connector.TypeJSON, Nullable: true},
	},
	Key: []string{"message_id"},
}

// TableRow is the row of a message, in TableSchema's column order.
func TableRow(m bus.TopicMessage) []any {
	var headers any
	if h := userHeaders(m); len(h) > 0 {
		if b, err := json.Marshal(h); err == nil {
			headers = json.RawMessage(b)
		}
	}
	var body, bodyJSON any
	if m.Data != nil {
		body = m.Data
		if json.Valid(m.Data) {
			bodyJSON = json.RawMessage(m.Data)
		}
	}
	id := m.MessageID
	if id == "" {
		// Published outside the hub's API without an id: the stream sequence is stable.
		id = fmt.Sprintf("%s-%d", m.Topic, m.Seq)
	}
	return []any{id, m.Topic, m.Subject, m.Time.UTC(), headers, body, bodyJSON}
}

type tableReq struct {
	m    bus.TopicMessage
	done chan error
}

// tableWriter is a table subscription's batcher: it keeps one sink open and writes, then
// flushes, each batch; a message's handler returns (and the bus acks it) only after the
// flush that made its row durable.
type tableWriter struct {
	e    *Engine
	name string
	spec *catalog.SubscriptionSpec
	reqs chan tableReq

	sink    connector.Sink
	target  connector.Schema
	secrets []string
}

func (e *Engine) newTableWriter(name string, s *catalog.SubscriptionSpec) *tableWriter {
	return &tableWriter{e: e, name: name, spec: s, reqs: make(chan tableReq)}
}

// handle queues m in the current batch and waits for the batch's outcome.
func (w *tableWriter) handle(ctx context.Context, m bus.TopicMessage) error {
	r := tableReq{m: m, done: make(chan error, 1)}
	select {
	case w.reqs <- r:
	case <-ctx.Done():
		return context.Cause(ctx)
	}
	select {
	case err := <-r.done:
		return err
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

// run collects batches until ctx ends, then commits and closes the sink.
func (w *tableWriter) run(ctx context.Context) {
	defer w.close()
	for {
		var batch []tableReq
		select {
		case <-ctx.Done():
			return
		case r := <-w.reqs:
			batch = append(batch, r)
		}
		timer := time.NewTimer(tableBatchWait)
	collect:
		for len(batch) < tableBatchSize {
			select {
			case r := <-w.reqs:
				batch = append(batch, r)
			case <-timer.C:
				break collect
			case <-ctx.Done():
				break collect
			}
		}
		timer.Stop()
		if ctx.Err() != nil {
			for _, r := range batch {
				r.done <- context.Cause(ctx)
			}
			return
		}
		errs := w.write(ctx, batch)
		for i, r := range batch {
			r.done <- errs[i]
		}
	}
}

// write stores a batch and returns each message's outcome: nil once flushed; a refused row's
// error as permanent (it would be refused again); any other failure for every message, with
// the sink closed so that the next batch reopens it.
func (w *tableWriter) write(ctx context.Context, batch []tableReq) []error {
	out := make([]error, len(batch))
	all := func(err error) []error {
		w.close()
		err = errors.New(redact.Scrub(err.Error(), w.secrets))
		for i := range out {
			out[i] = fmt.Errorf("subscription %s: %w", w.name, err)
		}
		return out
	}
	if err := w.open(ctx); err != nil {
		return all(err)
	}
	rows := make([][]any, 0, len(batch))
	idx := make([]int, 0, len(batch)) // batch index of each row
	for i, r := range batch {
		row, err := w.convert(TableRow(r.m))
		if err != nil {
			out[i] = fmt.Errorf("subscription %s: %v: %w", w.name, err, bus.ErrPermanent)
			continue
		}
		rows = append(rows, row)
		idx = append(idx, i)
	}
	if len(rows) > 0 {
		if err := w.sink.Write(ctx, &connector.Batch{Rows: rows}); err != nil {
			var rec connector.RecordErrors
			if !errors.As(err, &rec) {
				return all(err)
			}
			for _, re := range rec {
				if re.Index >= 0 && re.Index < len(idx) {
					msg := redact.Scrub(re.Error(), w.secrets)
					out[idx[re.Index]] = fmt.Errorf("subscription %s: %s: %w", w.name, msg, bus.ErrPermanent)
				}
			}
		}
	}
	if err := w.sink.Flush(ctx, nil); err != nil {
		return all(err)
	}
	return out
}

// convert makes a row's values the target's types where they differ (an existing table).
func (w *tableWriter) convert(row []any) ([]any, error) {
	for i, c := range TableSchema.Columns {
		if i >= len(w.target.Columns) || row[i] == nil || c.SameType(w.target.Columns[i]) {
			continue
		}
		v, err := connector.Convert(row[i], c.Type, w.target.Columns[i])
		if err != nil {
			return nil, fmt.Errorf("column %s: %w", c.Name, err)
		}
		row[i] = v
	}
	return row, nil
}

func (w *tableWriter) open(ctx context.Context) error {
	if w.sink != nil {
		return nil
	}
	if w.e.Endpoints == nil {
		return errors.New("no endpoint resolver for table deliveries")
	}
	d := w.spec.Delivery
	ep, secrets, err := w.e.Endpoints(ctx, d.Endpoint, d.Env, d.Table)
	if err != nil {
		return fmt.Errorf("resolve endpoint %s: %w", d.Endpoint, err)
	}
	w.secrets = secrets
	sink, err := connector.NewSink(ctx, ep)
	if err != nil {
		return err
	}
	target, err := sink.Open(ctx, TableSchema, connector.SinkOptions{Mode: connector.ModeUpsert, Key: TableSchema.Key, RunID: "subscription-" + w.name})
	if err != nil {
		_ = sink.Close(ctx)
		return err
	}
	w.sink, w.target = sink, target
	return nil
}

func (w *tableWriter) close() {
	if w.sink == nil {
		return
	}
	// Every batch is flushed before its messages are acked, so nothing is pending here: Close
	// discards at most a failed batch's rows, which are redelivered.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = w.sink.Close(ctx)
	w.sink = nil
}

// deadLettered publishes subscription.dead_lettered once a message is in the subscription's
// dead-letter queue.
func (e *Engine) deadLettered(ctx context.Context, name string, m bus.TopicMessage, cause error) {
	ev := event.New(event.SubscriptionDeadLetter)
	ev.Resource = "Subscription/" + name
	ev.Object = m.Topic + "/" + m.MessageID
	if m.MessageID == "" {
		ev.Object = fmt.Sprintf("%s/%d", m.Topic, m.Seq)
	}
	if cause != nil {
		ev.Error = cause.Error()
	}
	_ = bus.Events{Bus: e.Bus, Logger: e.log()}.Publish(ctx, ev)
}
