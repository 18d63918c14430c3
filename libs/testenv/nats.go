package testenv

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/healthexport/libs/stream"
)

// NATSServer starts an in-process nats-server with JetStream on a random
// port, storing in the test's temp dir, configured like production
// (sync always, 8 MiB payloads). It stops when the test ends.
func NATSServer(t testing.TB) string {
	t.Helper()
	return NATSServerWith(t, nil)
}

// NATSServerWith is NATSServer with its options changed by configure
// first (authentication, say).
func NATSServerWith(t testing.TB, configure func(*server.Options)) string {
	t.Helper()
	opts := &server.Options{
		Host:       "127.0.0.1",
		Port:       server.RANDOM_PORT,
		JetStream:  true,
		StoreDir:   t.TempDir(),
		MaxPayload: 8 << 20,
		SyncAlways: true,
		NoLog:      true,
		NoSigs:     true,
	}
	if configure != nil {
		configure(opts)
	}
	s, err := server.NewServer(opts)
	if err != nil {
		t.Fatalf("nats server: %v", err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats server did not start")
	}
	t.Cleanup(func() {
		s.Shutdown()
		s.WaitForShutdown()
	})
	return s.ClientURL()
}

// NATSURL is the running nats-server of `make deps` (TEST_NATS_URL, else
// NATS_URL). Tests using it must use their own Names and remove their
// stream with DeleteStreamOnCleanup.
func NATSURL(t testing.TB) string {
	t.Helper()
	if u := Getenv()("TEST_NATS_URL"); u != "" {
		return u
	}
	return Require(t, "NATS_URL")
}

// DeleteStreamOnCleanup removes a test's stream from a shared server.
func DeleteStreamOnCleanup(t testing.TB, url, name string) {
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := stream.DeleteStream(ctx, stream.Config{URL: url, Name: name}); err != nil {
			t.Logf("cleanup stream %s: %v", name, err)
		}
	})
}
