// Package bustest holds what the bus's tests and benchmarks share: the plain JetStream loop
// that the hub's delivery is compared to, the 1 KiB message they all send, and NATS JetStream
// clusters of nats-server processes for the tests that kill a node.
package bustest

import (
	"context"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Payload is the 1 KiB message of the benchmarks.
var Payload = func() []byte {
	p := make([]byte, 1024)
	for i := range p {
		p[i] = 'a' + byte(i%26)
	}
	return p
}()

// PlainLoop publishes n Payloads to a stream of its own on the NATS server at url (acked
// publishes, one at a time, as the hub's PublishTopic does) while a pull consumer consumes and
// acks them, and returns the messages per second from the first publish to the last ack.
func PlainLoop(ctx context.Context, url string, n int) (float64, error) {
	return PlainLoopWith(ctx, url, n, nil)
}

// PlainLoopWith is PlainLoop whose consumer calls handle with every message, one at a time in
// the stream's order, before it acks it (an error stops the loop).
func PlainLoopWith(ctx context.Context, url string, n int, handle func(data []byte) error) (float64, error) {
	nc, err := nats.Connect(url)
	if err != nil {
		return 0, err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return 0, err
	}
	id := "PLAIN_" + uuid.NewString()[:8]
	st, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: id, Subjects: []string{id + ".>"}, Storage: jetstream.FileStorage})
	if err != nil {
		return 0, err
	}
	defer func() { _ = js.DeleteStream(context.WithoutCancel(ctx), id) }()
	cons, err := st.CreateConsumer(ctx, jetstream.ConsumerConfig{Durable: "c", AckPolicy: jetstream.AckExplicitPolicy})
	if err != nil {
		return 0, err
	}
	var got atomic.Int64
	done := make(chan struct{})
	failed := make(chan error, 1)
	cc, err := cons.Consume(func(m jetstream.Msg) {
		if handle != nil {
			if err := handle(m.Data()); err != nil {
				select {
				case failed <- err:
				default:
				}
				return
			}
		}
		_ = m.Ack()
		if got.Add(1) == int64(n) {
			close(done)
		}
	})
	if err != nil {
		return 0, err
	}
	defer cc.Stop()
	start := time.Now()
	for i := range n {
		if _, err := js.Publish(ctx, id+".x", Payload, jetstream.WithMsgID(strconv.Itoa(i))); err != nil {
			return 0, err
		}
	}
	select {
	case <-done:
	case err := <-failed:
		return 0, fmt.Errorf("plain loop: %w", err)
	case <-time.After(5 * time.Minute):
		return 0, fmt.Errorf("plain loop: %d of %d consumed", got.Load(), n)
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	return float64(n) / time.Since(start).Seconds(), nil
}
