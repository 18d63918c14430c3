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

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/healthexport/libs/pgstore"
	"github.com/healthexport/libs/stream"
)

// Archiver consumes parts and manifests.
type Archiver struct {
	log     *slog.Logger
	pool    *pgxpool.Pool
	parts   *pgstore.Partitions
	books   pgstore.Bookkeeping
	batch   stream.BatchConfig
	metrics *Metrics
}

// Metrics count what the archiver did.
type Metrics struct {
	Archived     *prometheus.CounterVec
	Batches      prometheus.Counter
	Retries      prometheus.Counter
	Dropped      prometheus.Counter
	FlushSeconds prometheus.Histogram
}

// NewMetrics registers the archiver's metrics.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Archived: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "archiver_messages_total", Help: "Messages archived, by kind (manifest for manifests)."}, []string{"kind"}),
		Batches: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "archiver_batches_total", Help: "Batches committed."}),
		Retries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "archiver_retries_total", Help: "Batches left for redelivery after a database error."}),
		Dropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "archiver_unreadable_total", Help: "Messages without the edge's headers, terminated."}),
		FlushSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "archiver_flush_seconds", Help: "Time to write one batch.", Buckets: prometheus.ExponentialBuckets(0.005, 2, 14)}),
	}
	reg.MustRegister(m.Archived, m.Batches, m.Retries, m.Dropped, m.FlushSeconds)
	m.Archived.WithLabelValues("manifest")
	return m
}

// New returns an archiver.
func New(log *slog.Logger, pool *pgxpool.Pool, parts *pgstore.Partitions, batch stream.BatchConfig, m *Metrics) *Archiver {
	return &Archiver{log: log, pool: pool, parts: parts, books: pgstore.NewBookkeeping(), batch: batch, metrics: m}
}

// Run consumes until ctx ends, then drains.
func (a *Archiver) Run(ctx context.Context, cons jetstream.Consumer) error {
	msgs := make(chan jetstream.Msg, 64)
	pumpErr := make(chan error, 1)
	go func() { pumpErr <- stream.Pump(ctx, a.log, cons, msgs, 2*a.batch.MaxBytes) }()
	stream.Batch(msgs, a.batch.Limits(),
		func(m jetstream.Msg) (int, int) { return 1, len(m.Data()) },
		func(b []jetstream.Msg) { a.flush(context.WithoutCancel(ctx), b) })
	return <-pumpErr
}

func (a *Archiver) flush(ctx context.Context, msgs []jetstream.Msg) {
	start := time.Now()
	stop := stream.KeepAlive(msgs, a.batch.AckWait()/4)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, a.batch.FlushTimeout)
	defer cancel()

	b := &pgstore.Batch{}
	var good, unreadable []jetstream.Msg
	kinds := map[string]int{}
	for _, m := range msgs {
		if err := a.add(b, m); err != nil {
			a.log.Error("message without the edge's headers terminated", "subject", m.Subject(), "err", err)
			unreadable = append(unreadable, m)
			continue
		}
		good = append(good, m)
		kinds[m.Headers().Get(stream.HeaderKind)]++
	}
	err := b.EnsurePartitions(ctx, a.parts)
	if err == nil {
		err = pgx.BeginFunc(ctx, a.pool, func(tx pgx.Tx) error {
			_, err := b.Write(ctx, tx)
			return err
		})
	}
	a.metrics.FlushSeconds.Observe(time.Since(start).Seconds())
	if err != nil {
		if pgstore.IsNoPartition(err) {
			a.parts.Forget()
		}
		a.metrics.Retries.Inc()
		a.log.Error("batch not archived; will be redelivered", "messages", len(msgs), "err", err)
		stream.NakAll(msgs)
		return
	}
	a.metrics.Batches.Inc()
	for k, n := range kinds {
		a.metrics.Archived.WithLabelValues(k).Add(float64(n))
	}
	for _, m := range unreadable {
		a.metrics.Dropped.Inc()
		_ = m.TermWithReason("missing Health-* headers")
	}
	if err := stream.AckAll(good); err != nil {
		a.log.Warn("ack after commit failed; the redelivery will change nothing", "err", err)
	}
}

// add turns one message into its row.
func (a *Archiver) add(b *pgstore.Batch, m jetstream.Msg) error {
	meta, err := stream.ReadMeta(m)
	if err != nil {
		return err
	}
	if meta.Kind == stream.ManifestKind {
		var man stream.Manifest
		if err := json.Unmarshal(m.Data(), &man); err != nil {
			return fmt.Errorf("manifest: %w", err)
		}
		accepted, _ := json.Marshal(man.Accepted)
		headers, _ := json.Marshal(man.Headers)
		b.Add(a.books.Ingestions, []any{meta.IngestionID, pgtype.UUID{Bytes: meta.UserID, Valid: true}, meta.KeyID, meta.ReceivedAt,
			len(man.Parts), string(accepted), man.Rejected, string(headers), string(m.Data()), int64(meta.Seq), int64(0)})
		return nil
	}
	headers, _ := json.Marshal(m.Headers())
	b.Add(a.books.RawIngestions, []any{meta.ReceivedAt, meta.IngestionID, meta.PartID, pgtype.UUID{Bytes: meta.UserID, Valid: true}, meta.KeyID,
		meta.Kind, int64(meta.Seq), string(headers), m.Data(), int64(0)})
	return nil
}
