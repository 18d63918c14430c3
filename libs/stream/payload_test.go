package stream_test

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/healthexport/libs/stream"
)

// Parts travel s2-compressed; consumers get the JSON back exactly, and
// what cannot be decoded is a bad message, not a crash.
func TestPartPayload(t *testing.T) {
	part := bytes.Repeat([]byte(`{"date":"2026-02-03 21:00:00 +0100","Min":60,"Avg":70,"Max":80,"source":"Watch"},`), 200)
	o := stream.Origin{UserID: "u", KeyID: "k", IngestionID: "i", ReceivedAt: time.Now()}
	sent := o.PartMsg("health.ingest.heart_rate.u", "heart_rate", "i:heart_rate:0-199", "/data/metrics/0/data/0", 200, part)
	if len(sent.Data) >= len(part)/4 {
		t.Errorf("%d bytes on the wire for %d of JSON: not compressed", len(sent.Data), len(part))
	}
	if n := stream.PartSize(sent.Header, sent.Data); n != len(part) {
		t.Errorf("PartSize %d, want %d", n, len(part))
	}
	with := func(enc string) nats.Header {
		h := nats.Header{}
		if enc != "" {
			h.Set(stream.HeaderEncoding, enc)
		}
		return h
	}
	tests := []struct {
		name    string
		header  nats.Header
		data    []byte
		want    []byte
		wantErr bool
	}{
		{"as the edge publishes", sent.Header, sent.Data, part, false},
		{"published before parts were compressed", with(""), part, part, false},
		{"corrupt s2", with("s2"), []byte("not s2 at all"), nil, true},
		{"truncated s2", sent.Header, sent.Data[:len(sent.Data)/2], nil, true},
		{"unknown encoding", with("zstd"), part, nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := stream.PartPayload(tc.header, tc.data)
			if tc.wantErr {
				if !errors.Is(err, stream.ErrBadHeaders) {
					t.Fatalf("err %v, want ErrBadHeaders", err)
				}
				return
			}
			if err != nil || !bytes.Equal(got, tc.want) {
				t.Fatalf("got %d bytes, err %v; want the %d bytes of JSON", len(got), err, len(tc.want))
			}
		})
	}
}
