package stream_test

import (
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/healthexport/libs/stream"
)

func TestMetaFromHeaders(t *testing.T) {
	const (
		user = "21cee0a9-e6a6-4090-9aab-1cfe0b6d4a69"
		part = "2fdd93f8:heart_rate:0-0"
	)
	full := func() nats.Header {
		h := nats.Header{}
		h.Set(stream.HeaderUserID, user)
		h.Set(stream.HeaderIngestionID, "2fdd93f8")
		h.Set(stream.HeaderKind, "heart_rate")
		h.Set(stream.HeaderReceivedAt, "2026-11-27T00:06:48.679436Z")
		h.Set(stream.HeaderPartID, part)
		h.Set(nats.MsgIdHdr, part)
		return h
	}
	tests := []struct {
		name     string
		edit     func(nats.Header)
		wantPart string
		wantErr  bool
		wantFrom string
	}{
		{"as the edge publishes", func(nats.Header) {}, part, false, stream.OriginUpload},
		{"an import of the Health app's export", func(h nats.Header) { h.Set(stream.HeaderOrigin, "import") }, part, false, stream.OriginImport},
		{"an unknown origin", func(h nats.Header) { h.Set(stream.HeaderOrigin, "fax") }, part, true, ""},
		{"published before Health-Part-Id: the Nats-Msg-Id names the part", func(h nats.Header) { h.Del(stream.HeaderPartID) }, part, false, stream.OriginUpload},
		{"no id at all", func(h nats.Header) { h.Del(stream.HeaderPartID); h.Del(nats.MsgIdHdr) }, "", true, ""},
		{"no user", func(h nats.Header) { h.Del(stream.HeaderUserID) }, part, true, ""},
		{"received time not RFC 3339", func(h nats.Header) { h.Set(stream.HeaderReceivedAt, "yesterday") }, part, true, ""},
		{"no kind", func(h nats.Header) { h.Del(stream.HeaderKind) }, part, true, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := full()
			tc.edit(h)
			m, err := stream.MetaFromHeaders(h, 7, "health.ingest.heart_rate."+user)
			if tc.wantErr {
				if !errors.Is(err, stream.ErrBadHeaders) {
					t.Fatalf("err %v, want ErrBadHeaders", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if m.PartID != tc.wantPart || m.From != tc.wantFrom || m.Seq != 7 || m.UserID.String() != user || !m.ReceivedAt.Equal(time.Date(2026, 11, 27, 0, 6, 48, 679436000, time.UTC)) {
				t.Errorf("meta %+v", m)
			}
		})
	}
}
