package stream_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/healthexport/libs/stream"

	"io"
	"log/slog"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/healthexport/libs/testenv"
)

func TestConfigValidate(t *testing.T) {
	base := stream.Config{URL: "nats://x", Name: "HEALTH", SubjectPrefix: "health", Replicas: 1,
		MaxAge: 720 * time.Hour, MaxBytes: 1 << 30, DuplicateWindow: 24 * time.Hour}
	if err := base.Validate(); err != nil {
		t.Fatalf("default config invalid: %v", err)
	}
	bad := base
	bad.DuplicateWindow = 800 * time.Hour
	if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), "STREAM_MAX_AGE") {
		t.Fatalf("window > max age: err = %v", err)
	}
}

func TestEnsureCreatesPastStoredSequenceAndIsIdempotent(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	names := testenv.NewNames()
	cfg := stream.Config{URL: testenv.NATSServer(t), Name: names.Stream, SubjectPrefix: names.SubjectPrefix, Replicas: 1,
		MaxAge: time.Hour, MaxBytes: 64 << 20, DuplicateWindow: time.Minute}
	nc, js, err := stream.Connect(ctx, slog.New(slog.NewTextHandler(io.Discard, nil)), cfg, "test")
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	calls := 0
	highest := func(context.Context) (uint64, error) { calls++; return 41, nil }
	s, err := stream.Ensure(ctx, js, cfg, highest)
	if err != nil {
		t.Fatal(err)
	}
	info := s.CachedInfo()
	if info.Config.FirstSeq != 42 || info.Config.Retention != jetstream.LimitsPolicy || info.Config.Discard != jetstream.DiscardNew ||
		!info.Config.DenyDelete || !info.Config.DenyPurge || info.Config.MaxMsgSize != stream.MaxMessageBytes {
		t.Fatalf("stream config %+v", info.Config)
	}
	ack, err := js.Publish(ctx, cfg.ManifestSubject("u"), []byte("{}"))
	if err != nil {
		t.Fatal(err)
	}
	if ack.Sequence != 42 {
		t.Fatalf("first message got sequence %d, want 42", ack.Sequence)
	}
	// A second start updates in place and does not ask for the sequence.
	if _, err := stream.Ensure(ctx, js, cfg, highest); err != nil {
		t.Fatal(err)
	}
	if calls != 1 {
		t.Fatalf("highest stored sequence asked %d times, want 1", calls)
	}
	cons, err := stream.EnsureConsumer(ctx, js, cfg.Name, stream.ConsumerSpec{Durable: names.DurablePrefix + "c", Filters: []string{cfg.IngestSubjects(), cfg.ManifestSubjects()}, AckWait: time.Minute, MaxAckPending: 10})
	if err != nil {
		t.Fatal(err)
	}
	ci := cons.CachedInfo().Config
	if ci.MaxDeliver != -1 || ci.AckPolicy != jetstream.AckExplicitPolicy || len(ci.FilterSubjects) != 2 {
		t.Fatalf("consumer config %+v", ci)
	}
}
