package stream_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/healthexport/libs/stream"
	"github.com/healthexport/libs/testenv"
)

// TestFullMatchesServer: the code and descriptions IsFull matches are the
// server's own.
func TestFullMatchesServer(t *testing.T) {
	if got := server.ApiErrors[server.JSStreamStoreFailedF].ErrCode; got != uint16(stream.ErrCodeStoreFailed) {
		t.Errorf("ErrCodeStoreFailed = %d, the server's JSStreamStoreFailedF is %d", stream.ErrCodeStoreFailed, got)
	}
	cases := []struct {
		err  error
		full bool
	}{
		{server.ErrMaxBytes, true},
		{server.ErrMaxMsgs, true},
		{server.ErrMsgTooLarge, false},
		{server.ErrStoreClosed, false},
	}
	for _, c := range cases {
		apiErr := &jetstream.APIError{Code: 503, ErrorCode: stream.ErrCodeStoreFailed, Description: c.err.Error()}
		if got := stream.IsFull(fmt.Errorf("publish: %w", apiErr)); got != c.full {
			t.Errorf("IsFull(%q) = %v, want %v", c.err, got, c.full)
		}
	}
	if stream.IsFull(errors.New("maximum bytes exceeded")) {
		t.Error("IsFull of a plain error")
	}
}

// TestIsFullFromServer fills a real stream (DiscardNew, as Ensure makes it)
// by bytes and by messages and recognises the refusals.
func TestIsFullFromServer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	url := testenv.NATSServer(t)
	nc, js, err := stream.Connect(ctx, slog.New(slog.NewTextHandler(io.Discard, nil)), stream.Config{URL: url}, "test")
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	cases := []struct {
		name string
		cfg  jetstream.StreamConfig
	}{
		{"bytes", jetstream.StreamConfig{MaxBytes: 4096}},
		{"messages", jetstream.StreamConfig{MaxMsgs: 3}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.cfg.Name, c.cfg.Subjects, c.cfg.Discard = "FULL_"+c.name, []string{"full." + c.name}, jetstream.DiscardNew
			if _, err := js.CreateStream(ctx, c.cfg); err != nil {
				t.Fatal(err)
			}
			var last error
			for i := 0; i < 100 && last == nil; i++ {
				_, last = js.Publish(ctx, "full."+c.name, make([]byte, 512))
			}
			if last == nil || !stream.IsFull(last) {
				t.Fatalf("publishing into a full stream: %v, want IsFull", last)
			}
		})
	}
}
