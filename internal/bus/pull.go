package bus

import (
	"context"
	"errors"
	"sync"

	"github.com/nats-io/nats.go/jetstream"
)

// pullLoop runs concurrency pullers on a durable consumer, each fetching one message at a
// time when it is free (so nothing waits in a client buffer while its AckWait runs out) and
// handing it to handle, until ctx ends or the bus closes. Run requests, events and topic
// subscriptions all consume this way.
func (b *Bus) pullLoop(ctx context.Context, cons jetstream.Consumer, concurrency int, what string, handle func(ctx context.Context, msg jetstream.Msg)) error {
	ctx, cancel := b.untilClosed(ctx)
	defer cancel()
	var wg sync.WaitGroup
	for range max(concurrency, 1) {
		wg.Go(func() {
			for ctx.Err() == nil {
				if msg := b.fetchOne(ctx, cons, what); msg != nil {
					handle(ctx, msg)
				}
			}
		})
	}
	wg.Wait()
	select {
	case <-b.closing:
		return ErrClosed
	default:
		return context.Cause(ctx)
	}
}

// untilClosed is ctx, also cancelled when the bus closes.
func (b *Bus) untilClosed(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(ctx)
	go func() {
		select {
		case <-b.closing:
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, cancel
}

// fetchOne pulls at most one message, waiting up to fetchWait; a failure is logged and
// paused on (see pause), and nil returned.
func (b *Bus) fetchOne(ctx context.Context, cons jetstream.Consumer, what string) jetstream.Msg {
	fctx, cancel := context.WithTimeout(ctx, fetchWait)
	defer cancel()
	batch, err := cons.Fetch(1, jetstream.FetchContext(fctx))
	if err != nil {
		b.pause(ctx, what, err)
		return nil
	}
	var msg jetstream.Msg
	for m := range batch.Messages() {
		msg = m
	}
	if msg == nil {
		if err := batch.Error(); err != nil && ctx.Err() == nil && !errors.Is(err, context.DeadlineExceeded) {
			b.pause(ctx, what, err)
		}
	}
	return msg
}
