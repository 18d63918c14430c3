// Package writer is the metric-writer's worker: one per kind, it consumes
// that kind's parts, batches them, writes them through partwrite (rows,
// rejections and part bookkeeping in one transaction) and acknowledges only
// after COMMIT.
package writer

import (
	"context"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/healthexport/libs/kind"
	"github.com/healthexport/libs/partwrite"
	"github.com/healthexport/libs/pgstore"
	"github.com/healthexport/libs/stream"
)

// Worker writes one kind.
type Worker struct {
	log     *slog.Logger
	kind    *kind.Kind
	w       *partwrite.Writer
	batch   stream.BatchConfig
	metrics *Metrics
}

// New returns a worker for kind k.
func New(log *slog.Logger, k *kind.Kind, pool *pgxpool.Pool, parts *pgstore.Partitions, batch stream.BatchConfig, m *Metrics) *Worker {
	m.Init(k.Name)
	return &Worker{
		log:     log.With("kind", k.Name),
		kind:    k,
		w:       partwrite.New(log, k, pool, parts),
		batch:   batch,
		metrics: m,
	}
}

// message is a delivered part, decoded as soon as it arrives.
type message struct {
	msg jetstream.Msg
	d   *partwrite.Decoded
}

// Run consumes until ctx ends, then drains: messages already pulled are
// written and acknowledged before it returns.
func (w *Worker) Run(ctx context.Context, cons jetstream.Consumer) error {
	// Small channels: memory is bounded by bytes pulled, not by how many
	// messages JetStream may have unacknowledged.
	msgs := make(chan jetstream.Msg, 64)
	decoded := make(chan message, 16)
	pumpErr := make(chan error, 1)
	go func() { pumpErr <- stream.Pump(ctx, w.log, cons, msgs, 2*w.batch.MaxBytes) }()
	// Decoding runs beside the batcher so one batch is decoded while the
	// previous one is written.
	go func() {
		defer close(decoded)
		for m := range msgs {
			decoded <- message{msg: m, d: w.w.Decode(partwrite.FromMsg(m))}
		}
	}()
	stream.Batch(decoded, w.batch.Limits(),
		func(m message) (int, int) { return max(m.d.Rows(), 1), len(m.msg.Data()) },
		func(b []message) { w.flush(context.WithoutCancel(ctx), b) })
	return <-pumpErr
}

// flush writes one batch and settles its messages: ack after COMMIT, Term
// for undecodable parts once their rejection is stored, NakWithDelay when
// the database is unavailable.
func (w *Worker) flush(ctx context.Context, batch []message) {
	start := time.Now()
	msgs := make([]jetstream.Msg, len(batch))
	parts := make([]*partwrite.Decoded, len(batch))
	for i, m := range batch {
		msgs[i], parts[i] = m.msg, m.d
	}
	stop := stream.KeepAlive(msgs, w.batch.AckWait()/4)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, w.batch.FlushTimeout)
	defer cancel()

	res, err := w.w.Write(ctx, parts)
	w.metrics.FlushSeconds.WithLabelValues(w.kind.Name).Observe(time.Since(start).Seconds())
	if err != nil {
		w.metrics.Retries.WithLabelValues(w.kind.Name, "infrastructure").Inc()
		w.log.Error("batch not written; will be redelivered", "messages", len(batch), "err", err)
		stream.NakAll(msgs)
		return
	}
	w.metrics.Batches.WithLabelValues(w.kind.Name).Inc()
	w.metrics.RowsWritten.WithLabelValues(w.kind.Name).Add(float64(res.Written))
	w.metrics.RowsUnchanged.WithLabelValues(w.kind.Name).Add(float64(res.Rows - res.Written))
	w.metrics.Retries.WithLabelValues(w.kind.Name, "data").Add(float64(res.Refused))
	for class, n := range res.Reasons {
		w.metrics.Rejected.WithLabelValues(w.kind.Name, class).Add(float64(n))
	}
	var acks []jetstream.Msg
	for _, m := range batch {
		if m.d.Undecodable() {
			_ = m.msg.TermWithReason("undecodable part")
			continue
		}
		acks = append(acks, m.msg)
	}
	if err := stream.AckAll(acks); err != nil {
		w.log.Warn("ack after commit failed; the redelivery will change nothing", "err", err)
	}
	w.log.Debug("batch written", "messages", len(batch), "rows", res.Rows, "written", res.Written, "rejected", res.Rejected, "seconds", time.Since(start).Seconds())
}
