package importer

import (
	"context"
	"crypto/rand"
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
// fsyncs every write and queues at most 2 MiB of a stream's input: sent as
// fast as Put publishes, the server refuses chunks (429) or Put gives up
// stalled; paced to what the stream has stored, the whole export is kept.
func TestPutKeepsPaceWithTheServer(t *testing.T) {
	const (
		exportBytes = 48 << 20
		serverQueue = 2 << 20
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
		{name: "paced", ahead: serverQueue / chunkSize / 2, wantErr: false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q.ahead = tc.ahead
			info, err := q.put(ctx, tc.name, io.LimitReader(rand.Reader, exportBytes))
			if tc.wantErr {
				if err == nil {
					t.Fatalf("stored %d bytes without pacing: the server kept up, so this test shows nothing", info.Size)
				}
				t.Logf("unpaced: %v", err)
				return
			}
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
