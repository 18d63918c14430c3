package stream

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Pump delivers a consumer's messages into out until ctx ends, then drains:
// messages already pulled are still delivered, and out is closed. The
// client buffers at most maxBytes of messages (parts are up to 512 KiB
// each: a count would let a few hundred of them fill the memory); when out
// is full the callback waits, and pulling stops with it.
func Pump(ctx context.Context, log *slog.Logger, cons jetstream.Consumer, out chan<- jetstream.Msg, maxBytes int) error {
	defer close(out)
	cc, err := cons.Consume(func(m jetstream.Msg) { out <- m },
		jetstream.PullMaxBytes(maxBytes),
		jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
			log.Warn("consume", "consumer", cons.CachedInfo().Name, "err", err)
		}))
	if err != nil {
		return fmt.Errorf("consume %s: %w", cons.CachedInfo().Name, err)
	}
	<-ctx.Done()
	cc.Drain()
	<-cc.Closed()
	return nil
}

// Backoff is the redelivery delay after a failed attempt: 1 s doubling to
// a minute, so a database outage is retried steadily without hammering it.
func Backoff(delivered uint64) time.Duration {
	d := time.Second
	for i := uint64(1); i < delivered && d < time.Minute; i++ {
		d *= 2
	}
	return min(d, time.Minute)
}

// KeepAlive tells JetStream the messages are still being worked on, every
// interval, until the returned stop is called: a long flush must not make
// them redeliver to another instance. stop returns once the pinging has
// ended, so nothing touches the messages after their ack.
func KeepAlive(msgs []jetstream.Msg, interval time.Duration) (stop func()) {
	done, ended := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(ended)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				for _, m := range msgs {
					_ = m.InProgress()
				}
			}
		}
	}()
	return func() { close(done); <-ended }
}

// AckAll acknowledges messages whose effects are committed. A lost ack only
// means a redelivery, which the idempotent writes absorb.
func AckAll(msgs []jetstream.Msg) error {
	var first error
	for _, m := range msgs {
		if err := m.Ack(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// NakAll asks for redelivery later, backing off with each attempt.
func NakAll(msgs []jetstream.Msg) {
	for _, m := range msgs {
		var delivered uint64
		if md, err := m.Metadata(); err == nil {
			delivered = md.NumDelivered
		}
		_ = m.NakWithDelay(Backoff(delivered))
	}
}
