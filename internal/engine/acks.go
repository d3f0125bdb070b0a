package engine

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"time"

	"github.com/datahub-oss/datahub/connector"
)

// nackTimeout bounds the nacks sent when a run fails or is cancelled: they go out on a context
// that outlives the run's, and a source whose broker is gone must not hold the run's end.
const nackTimeout = 10 * time.Second

// nopAck identifies connector.NopAck, whose batches need no settling.
var nopAck = reflect.ValueOf(connector.NopAck).Pointer()

// needsAck reports whether an AckFunc does anything: nil and connector.NopAck do not, and
// sources whose positions alone make them resumable (files, tables) return one of those.
func needsAck(f connector.AckFunc) bool {
	return f != nil && reflect.ValueOf(f).Pointer() != nopAck
}

// pendingAcks are the acknowledgements of batches written to the sink but not yet durable
// there. Only the AckFuncs are kept, never the batches; in append and upsert mode they are
// settled at the next flush, so at most one checkpoint's worth waits (Options.CheckpointRows
// and CheckpointInterval, tightened by an AckPacer source); in replace mode nothing is durable
// before Commit, so they wait for it.
type pendingAcks struct {
	fns []connector.AckFunc
	// used is set once the source returned an AckFunc that does something.
	used bool
}

func (a *pendingAcks) add(f connector.AckFunc) {
	if needsAck(f) {
		a.fns, a.used = append(a.fns, f), true
	}
}

// collect takes the batches the reader sent after the writer stopped, until the reader closes
// ch, then closes stop. It waits for the reader (which was cancelled) only when the source
// acknowledges, and at most nackTimeout.
func (a *pendingAcks) collect(ch <-chan prepared, stop chan<- struct{}) {
	defer close(stop)
	if !a.used {
		for {
			select {
			case p, ok := <-ch:
				if !ok {
					return
				}
				a.add(p.ack)
			default:
				return
			}
		}
	}
	timeout := time.NewTimer(nackTimeout)
	defer timeout.Stop()
	for {
		select {
		case p, ok := <-ch:
			if !ok {
				return
			}
			a.add(p.ack)
		case <-timeout.C:
			return
		}
	}
}

// ack tells the source that every pending batch is durable, in the order they were read. It
// acks them all even when one fails (they are durable either way) and returns the first error.
func (a *pendingAcks) ack(ctx context.Context) error {
	var first error
	for _, f := range a.fns {
		if err := f(ctx, nil); err != nil && first == nil {
			first = fmt.Errorf("acknowledge source: %w", err)
		}
	}
	a.fns = a.fns[:0]
	return first
}

// nack tells the source that every pending batch was not made durable, with the reason.
func (a *pendingAcks) nack(ctx context.Context, cause error, log func(msg string, args ...any)) {
	if len(a.fns) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), nackTimeout)
	defer cancel()
	if cause == nil {
		cause = errors.New("run ended before the batch was made durable")
	}
	for _, f := range a.fns {
		if err := f(ctx, cause); err != nil {
			// The source redelivers what it never heard of; a lost nack only delays that.
			log("negative acknowledgement failed", "err", err)
		}
	}
	a.fns = a.fns[:0]
}

// pace returns the flush bounds of a run: the options', tightened for a source that needs its
// acks sooner. Half the source's bounds leaves room for the batches read ahead and for the
// flush itself.
func (e *Engine) pace(src connector.Source) (rows int64, every time.Duration) {
	rows, every = e.opts.CheckpointRows, e.opts.CheckpointInterval
	p, ok := src.(connector.AckPacer)
	if !ok {
		return rows, every
	}
	wait, records := p.AckPace()
	if wait > 0 {
		every = min(every, max(wait/2, time.Millisecond))
	}
	if records > 0 {
		rows = min(rows, max(records/2, 1))
	}
	if e.opts.Mode == connector.ModeReplace && (wait > 0 || records > 0) {
		e.log.Warn("the source needs its batches acknowledged sooner than a replace can: nothing is durable before the swap, so acks wait for the end of the run")
	}
	return rows, every
}
