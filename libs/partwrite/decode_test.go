package partwrite_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"

	"github.com/healthexport/libs/partwrite"
	"github.com/healthexport/libs/stream"
)

// TestFromArchiveReadsEveryEncoding: an archived part reads back as the
// JSON it carried, whether the archive holds it s2-encoded as published
// (the headers say so) or plain (archives made before parts were kept
// as published); a payload its headers misname is undecodable, as the
// same message from the stream would be.
func TestFromArchiveReadsEveryEncoding(t *testing.T) {
	part := []byte(`{"kind":"heart_rate","groups":[]}`)
	o := stream.Origin{UserID: uuid.NewString(), KeyID: "k", IngestionID: "ing", ReceivedAt: time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)}
	published := o.PartMsg("health.ingest.heart_rate.u", "heart_rate", "ing:heart_rate:0-0", "/data/metrics/0/data/0", 1, part)
	plain := o.PartMsg("s", "heart_rate", "ing:heart_rate:0-0", "/data/metrics/0/data/0", 1, part).Header
	plain.Del(stream.HeaderEncoding)
	tests := []struct {
		name    string
		headers nats.Header
		stored  []byte
		ok      bool
	}{
		{"as published (s2)", published.Header, published.Data, true},
		{"plain JSON", plain, part, true},
		{"JSON its headers call s2", published.Header, part, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// Through the archive's JSON, as raw_ingestions.headers holds them.
			b, _ := json.Marshal(tc.headers)
			var h nats.Header
			if err := json.Unmarshal(b, &h); err != nil {
				t.Fatal(err)
			}
			p := partwrite.FromArchive(h, 7, "", tc.stored)
			if ok := p.MetaErr == nil; ok != tc.ok {
				t.Fatalf("readable %v (%v), want %v", ok, p.MetaErr, tc.ok)
			}
			if tc.ok && (string(p.Payload) != string(part) || p.Meta.Seq != 7 || p.Items != 1) {
				t.Fatalf("read %q seq %d items %d", p.Payload, p.Meta.Seq, p.Items)
			}
		})
	}
}
