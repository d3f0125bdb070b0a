package infer

import (
	"context"
	"errors"
	"time"

	"github.com/datahub-oss/datahub/connector"
)

// Sampled is a source that has read ahead: Read returns the sampled batches first, as they
// were read (with their positions and acknowledgements), then reads on.
type Sampled struct {
	connector.Source
	held []heldBatch
	n    int
	// end is the error that ended the sample early (ErrEndOfInput: the source is done), to be
	// returned once the held batches are replayed.
	end error
}

type heldBatch struct {
	b   *connector.Batch
	ack connector.AckFunc
}

var (
	_ connector.Source   = (*Sampled)(nil)
	_ connector.AckPacer = (*Sampled)(nil)
)

// Sample reads batches from an opened source until they hold at least n records or the
// source ends. Memory is bounded by the sample, not the source. An error other than the end
// of input is returned as it is; the batches read before it are nacked with it.
func Sample(ctx context.Context, src connector.Source, n int) (*Sampled, error) {
	s := &Sampled{Source: src, n: n}
	for rows := 0; rows < n; {
		b, ack, err := src.Read(ctx)
		if errors.Is(err, connector.ErrEndOfInput) {
			s.end = err
			break
		}
		if err != nil {
			for _, h := range s.held {
				_ = h.ack(ctx, err)
			}
			return nil, err
		}
		s.held = append(s.held, heldBatch{b, ack})
		rows += len(b.Rows)
	}
	return s, nil
}

// Each calls f with each of the first n rows sampled, and returns how many there were.
func (s *Sampled) Each(f func(row []any)) int {
	rows := 0
	for _, h := range s.held {
		for _, r := range h.b.Rows {
			if rows == s.n {
				return rows
			}
			f(r)
			rows++
		}
	}
	return rows
}

// Read replays the sample, then reads on.
func (s *Sampled) Read(ctx context.Context) (*connector.Batch, connector.AckFunc, error) {
	if len(s.held) > 0 {
		h := s.held[0]
		s.held[0] = heldBatch{}
		s.held = s.held[1:]
		return h.b, h.ack, nil
	}
	if s.end != nil {
		return nil, nil, s.end
	}
	return s.Source.Read(ctx)
}

// AckPace passes on the pace of a source that has one.
func (s *Sampled) AckPace() (time.Duration, int64) {
	if p, ok := s.Source.(connector.AckPacer); ok {
		return p.AckPace()
	}
	return 0, 0
}

// Columns infers the types of the source columns idx (text columns of the sampled rows) and
// returns the columns that take a type other than text, by source index, with how many records
// the sample held. selfTyped is the source's connector.TextSource answer.
func (s *Sampled) Columns(idx []int, selfTyped bool) (map[int]connector.Column, int) {
	cols := make([]Column, len(idx))
	for k := range cols {
		cols[k].SelfTyped = selfTyped
	}
	n := s.Each(func(row []any) {
		for k, j := range idx {
			if j < len(row) {
				if v, ok := row[j].(string); ok {
					cols[k].Add(v)
				}
			}
		}
	})
	out := map[int]connector.Column{}
	for k, j := range idx {
		if c, ok := cols[k].Type(); ok {
			out[j] = c
		}
	}
	return out, n
}
