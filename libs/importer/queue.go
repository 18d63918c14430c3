package importer

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/healthexport/libs/stream"
)

// A received export is durable before it is answered: its bytes are
// streamed into a JetStream object store (in chunks, never whole in
// memory), then its job is published on the stream. Any process running a
// Runner takes the job, converts the file and deletes it.

// Errors the receiving side maps to statuses.
var (
	ErrTooLarge    = errors.New("the export is larger than IMPORT_MAX_BYTES") // 413
	ErrUnavailable = errors.New("the import queue is unavailable")            // 503
)

// Queue holds received exports and their jobs.
type Queue struct {
	js    jetstream.JetStream
	cfg   stream.Config
	store jetstream.ObjectStore
	max   int64
	ahead int // chunks Put may have unstored (paced)
}

// chunkSize is the object store's chunk: small enough that the edge holds
// a few of them while a 500 MB export arrives.
const chunkSize = 128 << 10

// defaultAhead is how many chunks Put may have sent that the server has
// not stored yet (16 MiB): nats.go's Put publishes chunks without waiting,
// up to 4,000, and then fails after a short stall ("too many outstanding
// async published messages"), and a nats-server refuses a stream's input
// past 128 MiB queued (429 "too many requests"); a server that fsyncs every
// write falls that far behind a body arriving over loopback.
const defaultAhead = 256

// paceEvery is how often a paced body asks the server how far it is.
const paceEvery = 2 * time.Millisecond

// OpenQueue makes sure the object store exists (file storage, the
// stream's replicas, objects kept at most Keep) and returns the queue.
func OpenQueue(ctx context.Context, js jetstream.JetStream, cfg stream.Config, s Settings) (*Queue, error) {
	store, err := js.CreateOrUpdateObjectStore(ctx, jetstream.ObjectStoreConfig{
		Bucket:      cfg.ImportBucket(),
		Description: "Health Export: received exports of the Health app, until converted",
		TTL:         s.Keep,
		MaxBytes:    s.StoreMaxBytes,
		Storage:     jetstream.FileStorage,
		Replicas:    cfg.Replicas,
	})
	if err != nil {
		return nil, fmt.Errorf("import store %s: %w", cfg.ImportBucket(), err)
	}
	return &Queue{js: js, cfg: cfg, store: store, max: s.MaxBytes, ahead: defaultAhead}, nil
}

// Store is the object store (for a Runner).
func (q *Queue) Store() jetstream.ObjectStore { return q.store }

// jobMsg is a received export's job, as published on the stream.
type jobMsg struct {
	Job
	Object      string `json:"object"`
	ContentType string `json:"content_type,omitempty"`
}

// Received is an export stored and queued.
type Received struct {
	Job
	Duplicate bool // this user sent this very file before; nothing new was queued
}

// Receive stores body (read to its end, at most IMPORT_MAX_BYTES: past it
// ErrTooLarge without reading the rest) and queues its job. The import's
// id is hex(sha256(user_id ‖ 0x00 ‖ body)). record publishes the import's
// first record before the job, so its state starts at receiving.
func (q *Queue) Receive(ctx context.Context, job Job, contentType string, body io.Reader, record func(Job) error) (Received, error) {
	h := sha256.New()
	h.Write([]byte(job.UserID.String()))
	h.Write([]byte{0})
	lim := &limited{r: io.TeeReader(body, h), n: q.max + 1}
	name := job.UserID.String() + "/" + uuid.NewString()
	info, err := q.put(ctx, name, lim)
	if err != nil {
		q.forget(name)
		switch {
		case lim.n <= 0:
			return Received{}, ErrTooLarge
		case lim.readErr != nil:
			return Received{}, lim.readErr
		}
		return Received{}, fmt.Errorf("%w: store the export: %w", ErrUnavailable, err)
	}
	if lim.n <= 0 {
		q.forget(name)
		return Received{}, ErrTooLarge
	}
	job.Bytes = int64(info.Size)
	job.ImportID = hex.EncodeToString(h.Sum(nil))
	if err := record(job); err != nil {
		q.forget(name)
		return Received{}, err
	}
	msg, _ := json.Marshal(jobMsg{Job: job, Object: name, ContentType: contentType})
	ack, err := q.js.PublishMsg(ctx, &nats.Msg{Subject: q.cfg.ImportSubject(job.UserID.String(), job.ImportID), Data: msg},
		jetstream.WithMsgID(job.ImportID+":job"), jetstream.WithExpectStream(q.cfg.Name))
	if err != nil {
		q.forget(name)
		return Received{}, fmt.Errorf("%w: queue the export: %w", ErrUnavailable, err)
	}
	if ack.Duplicate {
		// The same file within the duplicate window: its first copy is
		// queued or converted already.
		q.forget(name)
	}
	return Received{Job: job, Duplicate: ack.Duplicate}, nil
}

// put stores r as the object name, paced to what the server stores.
func (q *Queue) put(ctx context.Context, name string, r io.Reader) (*jetstream.ObjectInfo, error) {
	meta := jetstream.ObjectMeta{Name: name, Opts: &jetstream.ObjectMetaOptions{ChunkSize: chunkSize}}
	if q.ahead <= 0 {
		return q.store.Put(ctx, meta, r)
	}
	st, err := q.js.Stream(ctx, "OBJ_"+q.cfg.ImportBucket())
	if err != nil {
		return nil, fmt.Errorf("the import store's stream: %w", err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		return nil, fmt.Errorf("the import store's stream: %w", err)
	}
	return q.store.Put(ctx, meta, &paced{ctx: ctx, r: r, stream: st, base: info.State.LastSeq, ahead: uint64(q.ahead)})
}

// paced hands Put a body no faster than the object store's stream stores
// it. Put reads a chunk and publishes it, so reads count chunks sent; the
// stream's last sequence, which deletions never lower, counts chunks
// stored (other writers' messages only make the pacing looser).
type paced struct {
	ctx    context.Context
	r      io.Reader
	stream jetstream.Stream
	base   uint64 // the stream's last sequence before the first chunk
	sent   uint64
	stored uint64
	ahead  uint64
}

func (p *paced) Read(b []byte) (int, error) {
	for p.sent-p.stored >= p.ahead {
		info, err := p.stream.Info(p.ctx)
		if err != nil {
			return 0, fmt.Errorf("pace the export: %w", err)
		}
		if last := info.State.LastSeq; last > p.base {
			p.stored = min(last-p.base, p.sent)
		}
		if p.sent-p.stored < p.ahead {
			break
		}
		t := time.NewTimer(paceEvery)
		select {
		case <-p.ctx.Done():
			t.Stop()
			return 0, p.ctx.Err()
		case <-t.C:
		}
	}
	n, err := p.r.Read(b)
	if n > 0 {
		p.sent++
	}
	return n, err
}

// forget deletes an object that will not be converted.
func (q *Queue) forget(name string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = q.store.Delete(ctx, name)
}

// Queued reports whether an import's job is on the stream (its record may
// not be written yet).
func (q *Queue) Queued(ctx context.Context, userID uuid.UUID, importID string) (bool, error) {
	s, err := q.js.Stream(ctx, q.cfg.Name)
	if err != nil {
		return false, err
	}
	_, err = s.GetLastMsgForSubject(ctx, q.cfg.ImportSubject(userID.String(), importID))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return false, nil
	}
	return err == nil, err
}

// limited reads at most n bytes; past them it reports EOF (Put then ends
// the object, and the caller sees n ≤ 0). A read error is kept.
type limited struct {
	r       io.Reader
	n       int64
	readErr error
}

func (l *limited) Read(p []byte) (int, error) {
	if l.n <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	n, err := l.r.Read(p)
	l.n -= int64(n)
	if err != nil && !errors.Is(err, io.EOF) {
		l.readErr = err
	}
	return n, err
}

// Intake is what the edge does with exports: receive one (stored, its
// first record published, its job queued) and answer where it stands.
type Intake struct {
	q  *Queue
	im *Importer
	st *StatusStore
}

// NewIntake joins a queue, an importer (for the records) and the statuses.
func NewIntake(q *Queue, im *Importer, st *StatusStore) *Intake { return &Intake{q: q, im: im, st: st} }

// Receive stores and queues an export (see Queue.Receive).
func (in *Intake) Receive(ctx context.Context, job Job, contentType string, body io.Reader) (Received, error) {
	return in.q.Receive(ctx, job, contentType, body, func(j Job) error {
		if err := in.im.Received(ctx, j); err != nil {
			return fmt.Errorf("%w: record the export: %w", ErrUnavailable, err)
		}
		return nil
	})
}

// Status is where one of the user's imports stands.
func (in *Intake) Status(ctx context.Context, userID uuid.UUID, importID string) (*Status, error) {
	return in.st.Get(ctx, userID, importID)
}
