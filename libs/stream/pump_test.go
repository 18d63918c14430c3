package stream_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/healthexport/libs/stream"
	"github.com/healthexport/libs/testenv"
)

// A reader slower than the stream (the writer flushing a batch) makes the
// consumer's callback wait; every message must still arrive, none lost to
// the client's slow-consumer limits, and memory stays bounded by bytes.
func TestPumpWithSlowReader(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	names := testenv.NewNames()
	cfg := stream.Config{URL: testenv.NATSServer(t), Name: names.Stream, SubjectPrefix: names.SubjectPrefix, Replicas: 1,
		MaxAge: time.Hour, MaxBytes: 1 << 30, DuplicateWindow: time.Minute}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	nc, js, err := stream.Connect(ctx, log, cfg, "test")
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if _, err := stream.Ensure(ctx, js, cfg, func(context.Context) (uint64, error) { return 0, nil }); err != nil {
		t.Fatal(err)
	}
	const n = 600
	payload := make([]byte, 400<<10)
	for range n {
		if _, err := js.PublishMsgAsync(&nats.Msg{Subject: cfg.SubjectPrefix + ".ingest.x.u", Data: payload}); err != nil {
			t.Fatal(err)
		}
	}
	<-js.PublishAsyncComplete()
	cons, err := stream.EnsureConsumer(ctx, js, cfg.Name, stream.ConsumerSpec{Durable: "slow", Filters: []string{cfg.IngestSubjects()},
		AckWait: time.Minute, MaxAckPending: 1000})
	if err != nil {
		t.Fatal(err)
	}
	out := make(chan jetstream.Msg, 64)
	go stream.Pump(ctx, log, cons, out, 32<<20) //nolint:errcheck
	got := 0
	deadline := time.After(90 * time.Second)
	for got < n {
		select {
		case m := <-out:
			got++
			if got%50 == 0 {
				time.Sleep(500 * time.Millisecond) // a flush
			}
			_ = m.Ack()
		case <-deadline:
			t.Fatalf("%d of %d messages after 90 s", got, n)
		}
	}
}
