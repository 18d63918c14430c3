// Package ingest turns one checked upload body into parts on the stream:
// it walks the body once, assigns kinds and ordinals, validates every item
// through the kind registry for the reply's counts, cuts parts and
// publishes them, then the manifest. 202 is earned by the manifest's PubAck.
//
// Its Sender is the one way anything publishes an ingestion's parts and
// manifest: uploads here, and the Health app's exports (libs/importer).
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
	snd := p.Sender(ctx, stream.Origin{
		UserID: up.UserID.String(), KeyID: up.KeyID, IngestionID: id, ReceivedAt: up.ReceivedAt, AppHeaders: up.AppHeaders,
	})
	cutter := hae.NewCutter(p.cfg.PartMaxBytes, snd.Part)
	tally := &tally{res: res, rejectedByKind: map[string]int{}}
	env := &kind.Env{UserID: up.UserID, ReceivedAt: up.ReceivedAt, Validating: true}
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
	if waitErr := snd.Wait(); err == nil {
		err = waitErr
	}
	if err == nil {
		res.Parts = len(snd.parts)
		res.Duplicate, err = snd.Manifest(stream.Manifest{
			BodyBytes: int64(len(up.Body)),
			Encoding:  up.Encoding,
			Accepted:  res.Accepted,
			Rejected:  res.Rejected,
		})
	}
	if err != nil {
		return nil, p.counted(err)
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

// Sender publishes one ingestion: its parts asynchronously, with a bounded
// window of unacknowledged ones, then its manifest listing them. Every
// message carries the ingestion's origin headers; a part's Nats-Msg-Id is
// <ingestion_id>:<part key>, so a retry of the same ingestion is absorbed.
type Sender struct {
	ctx     context.Context
	p       *Pipeline
	origin  stream.Origin
	parts   []stream.ManifestPart
	pending []pending
}

type pending struct {
	idx  int
	fut  jetstream.PubAckFuture
	sent time.Time
}

// Sender starts publishing an ingestion; o names its user, key,
// ingestion id, receive time and origin.
func (p *Pipeline) Sender(ctx context.Context, o stream.Origin) *Sender {
	return &Sender{ctx: ctx, p: p, origin: o}
}

// Part publishes one part (a hae.Cutter's emit function). A publish that
// fails is ErrStreamFull or ErrUnavailable.
func (s *Sender) Part(part *hae.Part) error {
	k, ok := s.p.registry.Lookup(part.Kind)
	if !ok {
		return fmt.Errorf("a part of unknown kind %q", part.Kind)
	}
	msgID := s.origin.IngestionID + ":" + part.Key()
	msg := s.origin.PartMsg(k.Subject(s.p.stream.SubjectPrefix, s.origin.UserID), part.Kind, msgID, part.Pointer, part.Items, part.Payload)
	for len(s.pending) >= s.p.cfg.MaxInFlight {
		if err := s.waitOne(); err != nil {
			return err
		}
	}
	// Many uploads at once share the connection's window of unacknowledged
	// publishes: a full window is backpressure (wait), not a failure.
	fut, err := s.p.js.PublishMsgAsync(msg, jetstream.WithMsgID(msgID), jetstream.WithExpectStream(s.p.stream.Name),
		jetstream.WithStallWait(s.p.cfg.PublishTimeout))
	if err != nil {
		return classify(err)
	}
	s.parts = append(s.parts, stream.ManifestPart{ID: msgID, Kind: part.Kind, Items: part.Items, Bytes: len(part.Payload)})
	s.pending = append(s.pending, pending{idx: len(s.parts) - 1, fut: fut, sent: time.Now()})
	return nil
}

// Aside publishes a part that belongs to the ingestion but not to its
// manifest (an import's progress records), and waits for its PubAck. Its
// Nats-Msg-Id is <ingestion_id>:<part key>, like any part's.
func (s *Sender) Aside(part *hae.Part) error {
	k, ok := s.p.registry.Lookup(part.Kind)
	if !ok {
		return fmt.Errorf("a part of unknown kind %q", part.Kind)
	}
	msgID := s.origin.IngestionID + ":" + part.Key()
	msg := s.origin.PartMsg(k.Subject(s.p.stream.SubjectPrefix, s.origin.UserID), part.Kind, msgID, part.Pointer, part.Items, part.Payload)
	ctx, cancel := context.WithTimeout(s.ctx, s.p.cfg.PublishTimeout)
	defer cancel()
	if _, err := s.p.js.PublishMsg(ctx, msg, jetstream.WithMsgID(msgID), jetstream.WithExpectStream(s.p.stream.Name)); err != nil {
		return classify(err)
	}
	return nil
}

// Published is how many parts were sent so far.
func (s *Sender) Published() int { return len(s.parts) }

func (s *Sender) waitOne() error {
	next := s.pending[0]
	s.pending = s.pending[1:]
	timeout := time.NewTimer(s.p.cfg.PublishTimeout)
	defer timeout.Stop()
	select {
	case ack := <-next.fut.Ok():
		s.parts[next.idx].Seq = ack.Sequence
		s.p.metrics.publish.WithLabelValues("part").Observe(time.Since(next.sent).Seconds())
		return nil
	case err := <-next.fut.Err():
		return classify(err)
	case <-timeout.C:
		return fmt.Errorf("%w: no PubAck within %s", ErrUnavailable, s.p.cfg.PublishTimeout)
	case <-s.ctx.Done():
		return fmt.Errorf("%w: %w", ErrUnavailable, s.ctx.Err())
	}
}

// Wait collects every outstanding PubAck.
func (s *Sender) Wait() error {
	var first error
	for len(s.pending) > 0 {
		if err := s.waitOne(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// Manifest publishes the ingestion's manifest, once every part's PubAck is
// in (Wait): m's identity, parts and headers are filled from the
// ingestion. Its PubAck's Duplicate flag says whether this exact
// ingestion was already taken.
func (s *Sender) Manifest(m stream.Manifest) (bool, error) {
	m.IngestionID = s.origin.IngestionID
	m.UserID = s.origin.UserID
	m.KeyID = s.origin.KeyID
	m.ReceivedAt = s.origin.ReceivedAt
	if s.origin.From != stream.OriginUpload {
		m.Origin = s.origin.From
	}
	m.Headers = s.origin.AppHeaders
	m.Parts = s.parts
	if m.Parts == nil {
		m.Parts = []stream.ManifestPart{}
	}
	data, err := json.Marshal(m)
	if err != nil {
		return false, fmt.Errorf("manifest: %w", err)
	}
	msg := &nats.Msg{Subject: s.p.stream.ManifestSubject(s.origin.UserID), Data: data, Header: s.origin.Headers(stream.ManifestKind, s.origin.IngestionID+":manifest")}
	ctx, cancel := context.WithTimeout(s.ctx, s.p.cfg.PublishTimeout)
	defer cancel()
	sent := time.Now()
	ack, err := s.p.js.PublishMsg(ctx, msg, jetstream.WithMsgID(msg.Header.Get(stream.HeaderPartID)), jetstream.WithExpectStream(s.p.stream.Name))
	if err != nil {
		return false, classify(err)
	}
	s.p.metrics.publish.WithLabelValues("manifest").Observe(time.Since(sent).Seconds())
	return ack.Duplicate, nil
}

// counted counts an upload refused because publishing failed, by reason,
// and returns its error.
func (p *Pipeline) counted(err error) error {
	switch {
	case errors.Is(err, ErrStreamFull):
		p.metrics.errors.WithLabelValues("stream_full").Inc()
	case errors.Is(err, ErrUnavailable):
		p.metrics.errors.WithLabelValues("unavailable").Inc()
	}
	return err
}

// classify maps publish errors: a full stream (DiscardNew) has its own
// answer; everything else is the stream being unavailable.
func classify(err error) error {
	if stream.IsFull(err) {
		return fmt.Errorf("%w: %w", ErrStreamFull, err)
	}
	return fmt.Errorf("%w: %w", ErrUnavailable, err)
}
