// Package archive is the raw-archiver's worker: it stores every part in
// raw_ingestions and every manifest in ingestions, exactly as published, so
// any table can be rebuilt once the stream has aged out.
package archive

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/healthexport/libs/pgstore"
	"github.com/healthexport/libs/settle"
	"github.com/healthexport/libs/stream"
	"github.com/healthexport/libs/users"
)

// Archiver consumes parts and manifests.
type Archiver struct {
	log     *slog.Logger
	pool    *pgxpool.Pool
	parts   *pgstore.Partitions
	books   pgstore.Bookkeeping
	batch   stream.BatchConfig
	metrics *Metrics
	retry   settle.Retry[archived]
	// afterCommit runs between COMMIT and the acks (a failpoint in tests).
	afterCommit func()
}

// Metrics count what the archiver did.
type Metrics struct {
	Archived     *prometheus.CounterVec
	Batches      prometheus.Counter
	Retries      prometheus.Counter
	GivenUp      *prometheus.CounterVec
	Dropped      prometheus.Counter
	Skipped      prometheus.Counter
	FlushSeconds prometheus.Histogram
}

// NewMetrics registers the archiver's metrics; the series of manifests and
// of the kinds named start at zero, so rates and alerts see them at once.
func NewMetrics(reg prometheus.Registerer, kinds ...string) *Metrics {
	m := &Metrics{
		Archived: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "messages_total", Help: "Messages archived, by kind (manifest for manifests)."}, []string{"kind"}),
		Batches: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "batches_total", Help: "Batches committed."}),
		Retries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "retries_total", Help: "Batches left for redelivery after a database error."}),
		GivenUp: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "messages_given_up_total", Help: "Messages given up after WRITE_MAX_ATTEMPTS failed deliveries, recorded in failed_parts, by reason (unexpected, data)."}, []string{"kind", "reason"}),
		Dropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "unreadable_total", Help: "Messages without the edge's headers, terminated."}),
		Skipped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "messages_skipped_total", Help: "Messages of users deleted meanwhile, acknowledged without archiving."}),
		FlushSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "flush_seconds", Help: "Time to write one batch.", Buckets: prometheus.ExponentialBuckets(0.005, 2, 14)}),
	}
	reg.MustRegister(m.Archived, m.Batches, m.Retries, m.GivenUp, m.Dropped, m.Skipped, m.FlushSeconds)
	for _, k := range append([]string{stream.ManifestKind}, kinds...) {
		m.Archived.WithLabelValues(k)
		for _, c := range []pgstore.Class{pgstore.Unexpected, pgstore.Data} {
			m.GivenUp.WithLabelValues(k, c.String())
		}
	}
	return m
}

// Options are how the archiver batches and settles its messages.
type Options struct {
	Batch  stream.BatchConfig
	Settle settle.Config
	// AfterCommit runs after every committed batch, before its acks (the
	// crash failpoint); nil for nothing.
	AfterCommit func()
}

// New returns an archiver.
func New(log *slog.Logger, pool *pgxpool.Pool, parts *pgstore.Partitions, o Options, m *Metrics) *Archiver {
	if o.AfterCommit == nil {
		o.AfterCommit = func() {}
	}
	a := &Archiver{log: log, pool: pool, parts: parts, books: pgstore.NewBookkeeping(), batch: o.Batch,
		metrics: m, afterCommit: o.AfterCommit}
	a.retry = settle.Retry[archived]{
		Config:   o.Settle,
		Recorder: settle.NewRecorder(log, pool, m.GivenUp),
		Timeout:  o.Batch.FlushTimeout,
		Msg:      func(r archived) jetstream.Msg { return r.msg },
		Meta:     func(r archived) stream.Meta { return r.meta },
		Alone: func(ctx context.Context, r archived) error {
			written, skipped, refused, err := a.write(ctx, []archived{r})
			if err == nil {
				a.committed(written, skipped)
				a.retry.GiveUp(ctx, refused)
			}
			return err
		},
	}
	return a
}

// Run consumes until ctx ends, then drains: what was pulled is archived
// (with drain, which outlives ctx by SHUTDOWN_GRACE) before it returns.
func (a *Archiver) Run(ctx, drain context.Context, cons jetstream.Consumer) error {
	msgs := make(chan jetstream.Msg, 64)
	pumpErr := make(chan error, 1)
	go func() { pumpErr <- stream.Pump(ctx, a.log, cons, msgs, 2*a.batch.MaxBytes) }()
	stream.Batch(msgs, a.batch.Limits(),
		func(m jetstream.Msg) (int, int) { return 1, stream.PartSize(m.Headers(), m.Data()) },
		func(b []jetstream.Msg) { a.flush(drain, b) })
	return <-pumpErr
}

// archived is a message read for archiving.
type archived struct {
	msg  jetstream.Msg
	meta stream.Meta
	row  []any
	t    *pgstore.Table
}

// flush archives one batch and settles its messages: ack after COMMIT;
// messages our edge cannot have sent are terminated at once.
func (a *Archiver) flush(ctx context.Context, msgs []jetstream.Msg) {
	start := time.Now()
	stop := stream.KeepAlive(msgs, a.batch.AckWait()/4)
	defer stop()

	var good []archived
	for _, m := range msgs {
		r, err := a.read(m)
		if err != nil {
			a.log.Error("message without the edge's headers terminated", "subject", m.Subject(), "err", err)
			a.metrics.Dropped.Inc()
			_ = m.TermWithReason("missing Health-* headers")
			continue
		}
		good = append(good, r)
	}
	written, skipped, refused, err := a.write(ctx, good)
	a.metrics.FlushSeconds.Observe(time.Since(start).Seconds())
	if err != nil {
		a.failed(ctx, good, err)
		return
	}
	a.committed(written, skipped)
	// Refused at their first delivery: a replay after the cause is fixed
	// brings them back.
	a.retry.GiveUp(ctx, refused)
}

// write stores the messages in one transaction. A message the database
// refuses (a value it cannot hold: a NUL in a header's JSON, say) is
// isolated by bisection and returned with the error, the rest written: it
// would fail the same on every delivery, and must not hold back the other
// users' messages of its batch while it does. The messages of users
// deleted meanwhile are skipped: the batch's users are held against
// deletion until the COMMIT (users.Hold), so nothing is archived for a user
// after its deletion.
func (a *Archiver) write(ctx context.Context, rs []archived) (written, skipped []archived, refused []settle.Failure, err error) {
	if len(rs) == 0 {
		return nil, nil, nil, nil
	}
	ctx, cancel := context.WithTimeout(ctx, a.batch.FlushTimeout)
	defer cancel()
	b := &pgstore.Batch{}
	var ids []uuid.UUID
	for _, r := range rs {
		b.Add(r.t, r.row)
		ids = append(ids, r.meta.UserID)
	}
	err = b.EnsurePartitions(ctx, a.parts)
	if err == nil {
		err = pgx.BeginFunc(ctx, a.pool, func(tx pgx.Tx) error {
			found, err := users.Hold(ctx, tx, ids)
			if err != nil {
				return err
			}
			var live []*archived
			skipped = skipped[:0]
			for i := range rs {
				if found[rs[i].meta.UserID] {
					live = append(live, &rs[i])
				} else {
					skipped = append(skipped, rs[i])
				}
			}
			bad := map[*archived]bool{}
			refused = refused[:0]
			err = pgstore.Bisect(ctx, tx, live,
				func(rs []*archived) error {
					b := &pgstore.Batch{}
					for _, r := range rs {
						b.Add(r.t, r.row)
					}
					_, err := b.Write(ctx, tx)
					return err
				},
				func(r *archived, err error) {
					bad[r] = true
					refused = append(refused, settle.Failure{Msg: r.msg, Meta: r.meta, Err: err})
				})
			written = written[:0]
			for _, r := range live {
				if !bad[r] {
					written = append(written, *r)
				}
			}
			return err
		})
	}
	if pgstore.IsNoPartition(err) {
		a.parts.Forget()
	}
	if err != nil {
		return nil, nil, nil, err
	}
	return written, skipped, refused, nil
}

// committed counts committed messages, and those of deleted users skipped,
// and acknowledges them all.
func (a *Archiver) committed(written, skipped []archived) {
	if len(written)+len(skipped) == 0 {
		return
	}
	a.metrics.Batches.Inc()
	for _, r := range written {
		a.metrics.Archived.WithLabelValues(r.meta.Kind).Inc()
	}
	if len(skipped) > 0 {
		a.metrics.Skipped.Add(float64(len(skipped)))
		a.log.Info("messages of deleted users skipped", "messages", len(skipped))
	}
	a.afterCommit()
	if err := stream.AckAll(append(msgsOf(written), msgsOf(skipped)...)); err != nil {
		a.log.Warn("ack after commit failed; the redelivery will change nothing", "err", err)
	}
}

// failed counts a batch that was not archived and settles it as the
// writers do (settle.Retry).
func (a *Archiver) failed(ctx context.Context, rs []archived, err error) {
	a.metrics.Retries.Inc()
	a.retry.Failed(ctx, a.log, rs, err)
}

// read turns one message into its row.
func (a *Archiver) read(m jetstream.Msg) (archived, error) {
	meta, err := stream.ReadMeta(m)
	if err != nil {
		return archived{}, err
	}
	r := archived{msg: m, meta: meta}
	if meta.Kind == stream.ManifestKind {
		var man stream.Manifest
		if err := json.Unmarshal(m.Data(), &man); err != nil {
			return archived{}, fmt.Errorf("manifest: %w", err)
		}
		accepted, _ := json.Marshal(man.Accepted)
		headers, _ := json.Marshal(man.Headers)
		r.t, r.row = a.books.Ingestions, []any{meta.IngestionID, pgtype.UUID{Bytes: meta.UserID, Valid: true}, meta.KeyID, meta.ReceivedAt,
			len(man.Parts), string(accepted), man.Rejected, string(headers), string(m.Data()), int64(meta.Seq), int64(0)}
		return r, nil
	}
	// The archive keeps the part exactly as published: its payload in the
	// stream's encoding (s2, named by Health-Part-Encoding in the stored
	// headers), which readers decode (partwrite.FromArchive). Decoding it
	// here only for PostgreSQL to compress it again cost the archiver
	// 40 % of its CPU, and the database more bytes to compress and log.
	headers, _ := json.Marshal(m.Headers())
	r.t, r.row = a.books.RawIngestions, []any{meta.ReceivedAt, meta.IngestionID, meta.PartID, pgtype.UUID{Bytes: meta.UserID, Valid: true}, meta.KeyID,
		meta.Kind, int64(meta.Seq), string(headers), m.Data(), int64(0)}
	return r, nil
}

func msgsOf(rs []archived) []jetstream.Msg {
	out := make([]jetstream.Msg, len(rs))
	for i, r := range rs {
		out[i] = r.msg
	}
	return out
}
