package stream

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/klauspost/compress/s2"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Message headers the edge sets on every part and manifest.
const (
	HeaderUserID      = "Health-User-Id"
	HeaderKeyID       = "Health-Key-Id"
	HeaderIngestionID = "Health-Ingestion-Id"
	HeaderReceivedAt  = "Health-Received-At"
	HeaderKind        = "Health-Kind"
	// HeaderPartID repeats the Nats-Msg-Id: the part's id does not depend
	// on the header JetStream uses for its duplicate window.
	HeaderPartID  = "Health-Part-Id"
	HeaderPointer = "Health-Part-Pointer" // JSON Pointer of the part's first item
	HeaderItems   = "Health-Items"
	// HeaderEncoding says how a part's payload is compressed ("s2"); absent,
	// it is the part's JSON as cut from the body.
	HeaderEncoding = "Health-Part-Encoding"
	// HeaderAppPrefix prefixes the exporter app's own headers
	// (automation-name, session-id, ...), kept with the raw ingestion.
	HeaderAppPrefix = "Health-App-"
	// HeaderOrigin says how the data arrived: absent for an upload
	// (OriginUpload), OriginImport for the Health app's own export.
	HeaderOrigin = "Health-Origin"
)

// Origins: how an ingestion's data arrived. Every row records it.
const (
	OriginUpload = "upload" // POST /v1/ingest: Health Auto Export or tagged JSON
	OriginImport = "import" // the Health app's export.zip (POST /v1/imports, healthctl import)
)

// ManifestKind is the Health-Kind of a manifest message.
const ManifestKind = "manifest"

// FormatTime renders Health-Received-At: UTC with microseconds, the
// precision PostgreSQL keeps, so the value round-trips exactly.
func FormatTime(t time.Time) string {
	return t.UTC().Truncate(time.Microsecond).Format(time.RFC3339Nano)
}

// Meta is what a consumer reads off a message.
type Meta struct {
	UserID      uuid.UUID
	KeyID       string
	IngestionID string
	ReceivedAt  time.Time
	Kind        string
	PartID      string // the part's id, also its Nats-Msg-Id
	Pointer     string
	Seq         uint64 // stream sequence
	Delivered   uint64 // delivery attempts so far
	Subject     string
	From        string // OriginUpload or OriginImport
}

// ErrBadHeaders marks a message our edge cannot have published.
var ErrBadHeaders = errors.New("message headers")

// ReadMeta parses a message's headers and JetStream metadata.
func ReadMeta(msg jetstream.Msg) (Meta, error) {
	md, err := msg.Metadata()
	if err != nil {
		return Meta{}, fmt.Errorf("metadata: %w", err)
	}
	m, err := MetaFromHeaders(msg.Headers(), md.Sequence.Stream, msg.Subject())
	m.Delivered = md.NumDelivered
	return m, err
}

// MetaFromHeaders reads what a message's headers say, for a message from
// the stream or one stored in raw_ingestions.
func MetaFromHeaders(h nats.Header, seq uint64, subject string) (Meta, error) {
	var (
		errs []error
		err  error
	)
	m := Meta{
		KeyID:       h.Get(HeaderKeyID),
		IngestionID: h.Get(HeaderIngestionID),
		Kind:        h.Get(HeaderKind),
		PartID:      h.Get(HeaderPartID),
		Pointer:     h.Get(HeaderPointer),
		Seq:         seq,
		Subject:     subject,
		From:        OriginUpload,
	}
	switch from := h.Get(HeaderOrigin); from {
	case "", OriginUpload:
	case OriginImport:
		m.From = from
	default:
		errs = append(errs, fmt.Errorf("%s: unknown origin %q", HeaderOrigin, from))
	}
	if m.PartID == "" {
		// Parts published before Health-Part-Id existed carry their id
		// only in the Nats-Msg-Id; they are still in streams and archives.
		m.PartID = h.Get(nats.MsgIdHdr)
	}
	if m.UserID, err = uuid.Parse(h.Get(HeaderUserID)); err != nil {
		errs = append(errs, fmt.Errorf("%s: %w", HeaderUserID, err))
	}
	if m.ReceivedAt, err = time.Parse(time.RFC3339Nano, h.Get(HeaderReceivedAt)); err != nil {
		errs = append(errs, fmt.Errorf("%s: %w", HeaderReceivedAt, err))
	}
	if m.IngestionID == "" || m.PartID == "" || m.Kind == "" {
		errs = append(errs, errors.New("missing ingestion id, message id or kind"))
	}
	if err := errors.Join(errs...); err != nil {
		return m, fmt.Errorf("%w: %w", ErrBadHeaders, err)
	}
	return m, nil
}

// Items reads the Health-Items header (0 when absent).
func Items(msg jetstream.Msg) int {
	n, _ := strconv.Atoi(msg.Headers().Get(HeaderItems))
	return n
}

// AppHeaders returns the exporter app's headers of a message, unprefixed.
func AppHeaders(h nats.Header) map[string]string {
	out := map[string]string{}
	for k, v := range h {
		if name, ok := cutPrefixFold(k, HeaderAppPrefix); ok && len(v) > 0 {
			out[name] = v[0]
		}
	}
	return out
}

func cutPrefixFold(s, prefix string) (string, bool) {
	if len(s) < len(prefix) || !strings.EqualFold(s[:len(prefix)], prefix) {
		return s, false
	}
	return s[len(prefix):], true
}

// Origin is who sent an upload and when: the headers every message of it
// carries.
type Origin struct {
	UserID      string
	KeyID       string
	IngestionID string
	ReceivedAt  time.Time
	AppHeaders  map[string]string
	// From is OriginImport for the Health app's export; "" (or
	// OriginUpload) for an upload, whose messages carry no origin header.
	From string
}

// Headers returns the headers of one of the upload's messages.
func (o Origin) Headers(kind, partID string) nats.Header {
	h := nats.Header{}
	h.Set(HeaderUserID, o.UserID)
	h.Set(HeaderKeyID, o.KeyID)
	h.Set(HeaderIngestionID, o.IngestionID)
	h.Set(HeaderReceivedAt, FormatTime(o.ReceivedAt))
	h.Set(HeaderKind, kind)
	h.Set(HeaderPartID, partID)
	if o.From != "" && o.From != OriginUpload {
		h.Set(HeaderOrigin, o.From)
	}
	for k, v := range o.AppHeaders {
		h.Set(HeaderAppPrefix+k, v)
	}
	return h
}

// PartMsg is the message carrying one part. The part's JSON travels s2
// compressed: the stream stores it (fsync'd) and delivers it to two
// consumers, and bytes are most of what JetStream spends CPU on.
func (o Origin) PartMsg(subject, kind, partID, pointer string, items int, payload []byte) *nats.Msg {
	h := o.Headers(kind, partID)
	h.Set(HeaderPointer, pointer)
	h.Set(HeaderItems, strconv.Itoa(items))
	h.Set(HeaderEncoding, encodingS2)
	return &nats.Msg{Subject: subject, Data: s2.Encode(nil, payload), Header: h}
}

const encodingS2 = "s2"

// PartSize is the size of a part's JSON (batches are cut on it), read
// without decoding it.
func PartSize(h nats.Header, data []byte) int {
	if h.Get(HeaderEncoding) == encodingS2 {
		if n, err := s2.DecodedLen(data); err == nil {
			return n
		}
	}
	return len(data)
}

// PartPayload is a part's JSON, whatever encoding it travelled in.
func PartPayload(h nats.Header, data []byte) ([]byte, error) {
	switch enc := h.Get(HeaderEncoding); enc {
	case "":
		return data, nil
	case encodingS2:
		out, err := s2.Decode(nil, data)
		if err != nil {
			return nil, fmt.Errorf("%w: s2 payload: %w", ErrBadHeaders, err)
		}
		return out, nil
	default:
		return nil, fmt.Errorf("%w: unknown %s %q", ErrBadHeaders, HeaderEncoding, enc)
	}
}
