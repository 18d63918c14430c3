package importer

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/healthexport/libs/stream"
	"github.com/healthexport/libs/testenv"
)

// TestPutKeepsPaceWithTheServer stores an export on a nats-server that
// fsyncs every write and queues at most one and a half chunks of a stream's
// input: sent as fast as Put publishes, the server refuses chunks (429) or
// Put gives up stalled; paced to what the stream has stored, the whole
// export is kept. The queue is that small so that the unpaced control fails
// even when a busy machine slows the client more than the server.
func TestPutKeepsPaceWithTheServer(t *testing.T) {
	const (
		exportBytes = 48 << 20
		serverQueue = chunkSize + chunkSize/2
		// controlTries: the unpaced control must be refused at least once.
		controlTries = 3
	)
	url := testenv.NATSServerWith(t, func(o *server.Options) { o.StreamMaxBufferedSize = serverQueue })
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	q, err := OpenQueue(ctx, js, stream.Config{Name: "PACE", Replicas: 1}, Settings{MaxBytes: exportBytes, StoreMaxBytes: 4 * exportBytes, Keep: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		ahead   int
		wantErr bool
	}{
		{name: "unpaced", ahead: 0, wantErr: true},
		{name: "paced", ahead: 1, wantErr: false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q.ahead = tc.ahead
			if tc.wantErr {
				for try := range controlTries {
					_, err := q.put(ctx, fmt.Sprintf("%s-%d", tc.name, try), io.LimitReader(rand.Reader, exportBytes))
					if err != nil {
						t.Logf("unpaced, try %d: %v", try+1, err)
						return
					}
				}
				t.Fatalf("stored %d bytes %d times without pacing: the server kept up, so this test shows nothing", exportBytes, controlTries)
			}
			info, err := q.put(ctx, tc.name, io.LimitReader(rand.Reader, exportBytes))
			if err != nil {
				t.Fatalf("paced: %v", err)
			}
			if info.Size != exportBytes {
				t.Fatalf("stored %d bytes, want %d", info.Size, exportBytes)
			}
			got, err := q.store.GetInfo(ctx, tc.name)
			if err != nil || got.Size != exportBytes || got.Chunks == 0 {
				t.Fatalf("the stored object: %+v, %v", got, err)
			}
		})
	}
}
