// Package ingest turns one checked upload body into parts on the stream:
// it walks the body once, assigns kinds and ordinals, validates every item
// through the kind registry for the reply's counts, cuts parts and
// publishes them, then the manifest. 202 is earned by the manifest's PubAck.
package ingest

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/healthexport/libs/hae"
	"github.com/healthexport/libs/kind"
	"github.com/healthexport/libs/pgstore"
	"github.com/healthexport/libs/stream"
)

// Publisher is the part of JetStream the pipeline uses.
type Publisher interface {
	PublishMsgAsync(m *nats.Msg, opts ...jetstream.PublishOpt) (jetstream.PubAckFuture, error)
	PublishMsg(ctx context.Context, m *nats.Msg, opts ...jetstream.PublishOpt) (*jetstream.PubAck, error)
}

// Upload is an authenticated, fully received, syntactically valid body.
type Upload struct {
	UserID     uuid.UUID
	KeyID      string
	ReceivedAt time.Time
	Encoding   string
	AppHeaders map[string]string // the exporter's own headers, by lower-case name
	Body       []byte
	Digest     []byte // sha256(user_id ‖ 0x00 ‖ decoded body)
}

// IngestionID is hex(sha256(user_id ‖ 0x00 ‖ body)): the same body from
// the same user is the same upload, whenever it is resent.
func (u *Upload) IngestionID() string { return hex.EncodeToString(u.Digest) }

// ItemError is one rejected item, as the 202 lists the first few.
type ItemError struct {
	Pointer string `json:"pointer"`
	Reason  string `json:"reason"`
}

// Result is the 202's body.
type Result struct {
	IngestionID string         `json:"ingestion_id"`
	Duplicate   bool           `json:"duplicate"`
	Parts       int            `json:"parts"`
	Accepted    map[string]int `json:"accepted"`
	Rejected    int            `json:"rejected"`
	Errors      []ItemError    `json:"errors"`
}

// Errors the HTTP layer maps to statuses.
var (
	ErrNoData      = hae.ErrNoData                           // 400
	ErrUnavailable = errors.New("the stream is unavailable") // 503
	ErrStreamFull  = errors.New("the stream is full")        // 503, own code
)

// Config is the pipeline's settings.
type Config struct {
	PartMaxBytes int
	// MaxInFlight bounds unacknowledged parts per upload, which bounds the
	// memory a big upload holds while publishing.
	MaxInFlight    int
	PublishTimeout time.Duration
}

// maxErrors is how many rejected items the 202 lists.
const maxErrors = 10

// Pipeline processes uploads.
type Pipeline struct {
	js       Publisher
	registry *kind.Registry
	stream   stream.Config
	cfg      Config
	walkers  sync.Pool // walkers keep their scratch space between uploads
	metrics  metrics
}

// metrics are labelled by kind and outcome only.
type metrics struct {
	publish *prometheus.HistogramVec
	errors  *prometheus.CounterVec
	items   *prometheus.CounterVec
}

// New returns a pipeline publishing to the configured stream.
func New(js Publisher, registry *kind.Registry, sc stream.Config, cfg Config, reg prometheus.Registerer) *Pipeline {
	p := &Pipeline{js: js, registry: registry, stream: sc, cfg: cfg, metrics: metrics{
		publish: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "ingest_publish_seconds", Help: "Time from publishing a message to its PubAck (parts and manifests).",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16)}, []string{"message"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ingest_publish_errors_total", Help: "Uploads refused because publishing failed, by reason (unavailable, stream_full)."}, []string{"reason"}),
		items: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ingest_items_total", Help: "Items in accepted uploads, by kind and outcome (accepted, rejected)."}, []string{"kind", "outcome"}),
	}}
	reg.MustRegister(p.metrics.publish, p.metrics.errors, p.metrics.items)
	for _, r := range []string{"unavailable", "stream_full"} {
		p.metrics.errors.WithLabelValues(r)
	}
	for _, k := range registry.Kinds() {
		p.metrics.items.WithLabelValues(k.Name, "accepted")
		p.metrics.items.WithLabelValues(k.Name, "rejected")
	}
	p.walkers.New = func() any { return &hae.Walker{} }
	return p
}

// Process publishes an upload and returns the reply.
func (p *Pipeline) Process(ctx context.Context, up *Upload) (*Result, error) {
	id := up.IngestionID()
	res := &Result{IngestionID: id, Accepted: map[string]int{}, Errors: []ItemError{}}
	pub := &publisher{ctx: ctx, p: p, up: up, id: id, origin: stream.Origin{
		UserID: up.UserID.String(), KeyID: up.KeyID, IngestionID: id, ReceivedAt: up.ReceivedAt, AppHeaders: up.AppHeaders,
	}}
	cutter := hae.NewCutter(p.cfg.PartMaxBytes, pub.publish)
	tally := &tally{res: res, rejectedByKind: map[string]int{}}
	env := &kind.Env{UserID: up.UserID, IngestionID: id, ReceivedAt: up.ReceivedAt}
	walker := p.walkers.Get().(*hae.Walker)
	defer p.walkers.Put(walker)
	err := walker.Walk(up.Body, p.registry, func(it *hae.Item) error {
		k, ok := p.registry.Lookup(it.Kind)
		if !ok {
			return fmt.Errorf("walker routed an item to unknown kind %q", it.Kind)
		}
		if !k.HasWriter() {
			// Stored when its writer arrives; nothing to validate yet.
			res.Accepted[it.Kind]++
			_, err := cutter.Add(it)
			return err
		}
		tally.start(it)
		k.Decode(env, it, tally)
		tally.done(it.Kind)
		return k.Cut(cutter, it, p.cfg.PartMaxBytes, tally.selfRejected)
	})
	if err == nil {
		err = cutter.Flush()
	}
	if waitErr := pub.wait(); err == nil {
		err = waitErr
	}
	if err == nil {
		res.Parts = len(pub.parts)
		res.Duplicate, err = pub.manifest(res)
	}
	if err != nil {
		switch {
		case errors.Is(err, ErrStreamFull):
			p.metrics.errors.WithLabelValues("stream_full").Inc()
		case errors.Is(err, ErrUnavailable):
			p.metrics.errors.WithLabelValues("unavailable").Inc()
		}
		return nil, err
	}
	for k, n := range res.Accepted {
		p.metrics.items.WithLabelValues(k, "accepted").Add(float64(n))
	}
	for k, n := range tally.rejectedByKind {
		p.metrics.items.WithLabelValues(k, "rejected").Add(float64(n))
	}
	return res, nil
}

// tally is the edge's kind.Sink: it only counts, for the reply.
type tally struct {
	res            *Result
	item           *hae.Item
	selfRejected   bool
	rejectedByKind map[string]int
}

func (t *tally) start(it *hae.Item) { t.item, t.selfRejected = it, false }

func (t *tally) done(k string) {
	if !t.selfRejected {
		t.res.Accepted[k]++
	}
}

func (t *tally) Row(_ *pgstore.Table, _ int64, _ ...any) {}

func (t *tally) Reject(pointer, reason string, _ []byte) {
	// The item's own pointer is built only here: most items are accepted.
	if pointer == t.item.Pointer() {
		t.selfRejected = true
	}
	t.rejectedByKind[t.item.Kind]++
	t.res.Rejected++
	if len(t.res.Errors) < maxErrors {
		t.res.Errors = append(t.res.Errors, ItemError{Pointer: pointer, Reason: reason})
	}
}

// publisher sends parts asynchronously with a bounded window of
// unacknowledged ones, and remembers them for the manifest.
type publisher struct {
	ctx     context.Context
	p       *Pipeline
	up      *Upload
	id      string
	origin  stream.Origin
	parts   []stream.ManifestPart
	pending []pending
}

type pending struct {
	idx  int
	fut  jetstream.PubAckFuture
	sent time.Time
}

func (pb *publisher) publish(part *hae.Part) error {
	k, _ := pb.p.registry.Lookup(part.Kind)
	msgID := pb.id + ":" + part.Key()
	msg := pb.origin.PartMsg(k.Subject(pb.p.stream.SubjectPrefix, pb.up.UserID.String()), part.Kind, msgID, part.Pointer, part.Items, part.Payload)
	for len(pb.pending) >= pb.p.cfg.MaxInFlight {
		if err := pb.waitOne(); err != nil {
			return err
		}
	}
	// Many uploads at once share the connection's window of unacknowledged
	// publishes: a full window is backpressure (wait), not a failure.
	fut, err := pb.p.js.PublishMsgAsync(msg, jetstream.WithMsgID(msgID), jetstream.WithExpectStream(pb.p.stream.Name),
		jetstream.WithStallWait(pb.p.cfg.PublishTimeout))
	if err != nil {
		return classify(err)
	}
	pb.parts = append(pb.parts, stream.ManifestPart{ID: msgID, Kind: part.Kind, Items: part.Items, Bytes: len(part.Payload)})
	pb.pending = append(pb.pending, pending{idx: len(pb.parts) - 1, fut: fut, sent: time.Now()})
	return nil
}

func (pb *publisher) waitOne() error {
	next := pb.pending[0]
	pb.pending = pb.pending[1:]
	timeout := time.NewTimer(pb.p.cfg.PublishTimeout)
	defer timeout.Stop()
	select {
	case ack := <-next.fut.Ok():
		pb.parts[next.idx].Seq = ack.Sequence
		pb.p.metrics.publish.WithLabelValues("part").Observe(time.Since(next.sent).Seconds())
		return nil
	case err := <-next.fut.Err():
		return classify(err)
	case <-timeout.C:
		return fmt.Errorf("%w: no PubAck within %s", ErrUnavailable, pb.p.cfg.PublishTimeout)
	case <-pb.ctx.Done():
		return fmt.Errorf("%w: %w", ErrUnavailable, pb.ctx.Err())
	}
}

// wait collects every outstanding PubAck.
func (pb *publisher) wait() error {
	var first error
	for len(pb.pending) > 0 {
		if err := pb.waitOne(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// manifest publishes the upload's manifest; its PubAck's Duplicate flag
// says whether this exact upload was already taken.
func (pb *publisher) manifest(res *Result) (bool, error) {
	m := stream.Manifest{
		IngestionID: pb.id,
		UserID:      pb.up.UserID.String(),
		KeyID:       pb.up.KeyID,
		ReceivedAt:  pb.up.ReceivedAt,
		BodyBytes:   int64(len(pb.up.Body)),
		Encoding:    pb.up.Encoding,
		Parts:       pb.parts,
		Accepted:    res.Accepted,
		Rejected:    res.Rejected,
		Headers:     pb.up.AppHeaders,
	}
	if m.Parts == nil {
		m.Parts = []stream.ManifestPart{}
	}
	data, err := json.Marshal(m)
	if err != nil {
		return false, fmt.Errorf("manifest: %w", err)
	}
	msg := &nats.Msg{Subject: pb.p.stream.ManifestSubject(pb.up.UserID.String()), Data: data, Header: pb.origin.Headers(stream.ManifestKind, pb.id+":manifest")}
	ctx, cancel := context.WithTimeout(pb.ctx, pb.p.cfg.PublishTimeout)
	defer cancel()
	sent := time.Now()
	ack, err := pb.p.js.PublishMsg(ctx, msg, jetstream.WithMsgID(msg.Header.Get(stream.HeaderPartID)), jetstream.WithExpectStream(pb.p.stream.Name))
	if err != nil {
		return false, classify(err)
	}
	pb.p.metrics.publish.WithLabelValues("manifest").Observe(time.Since(sent).Seconds())
	return ack.Duplicate, nil
}

// classify maps publish errors: a full stream (DiscardNew) has its own
// answer; everything else is the stream being unavailable.
func classify(err error) error {
	if stream.IsFull(err) {
		return fmt.Errorf("%w: %w", ErrStreamFull, err)
	}
	return fmt.Errorf("%w: %w", ErrUnavailable, err)
}
