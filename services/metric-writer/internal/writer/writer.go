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
	"github.com/healthexport/libs/settle"
	"github.com/healthexport/libs/stream"
)

// Worker writes one kind.
type Worker struct {
	log     *slog.Logger
	kind    *kind.Kind
	w       *partwrite.Writer
	batch   stream.BatchConfig
	metrics *Metrics
	retry   settle.Retry[message]
	// afterCommit runs between COMMIT and the acks (a failpoint in tests).
	afterCommit func()
}

// Options are how a worker batches and settles its messages.
type Options struct {
	Batch  stream.BatchConfig
	Settle settle.Config
	// AfterCommit runs after every committed batch, before its acks (the
	// crash failpoint); nil for nothing.
	AfterCommit func()
}

// New returns a worker for kind k.
func New(log *slog.Logger, k *kind.Kind, pool *pgxpool.Pool, parts *pgstore.Partitions, o Options, m *Metrics) *Worker {
	m.Init(k.Name)
	log = log.With("kind", k.Name)
	if o.AfterCommit == nil {
		o.AfterCommit = func() {}
	}
	w := &Worker{
		log:         log,
		kind:        k,
		w:           partwrite.New(log, k, pool, parts),
		batch:       o.Batch,
		metrics:     m,
		afterCommit: o.AfterCommit,
	}
	w.retry = settle.Retry[message]{
		Config:   o.Settle,
		Recorder: settle.NewRecorder(log, pool, m.GivenUp),
		Timeout:  o.Batch.FlushTimeout,
		Msg:      func(m message) jetstream.Msg { return m.msg },
		Meta:     func(m message) stream.Meta { return m.d.Part.Meta },
		Alone: func(ctx context.Context, m message) error {
			res, err := w.write(ctx, []message{m})
			if err == nil {
				w.committed([]message{m}, res)
			}
			return err
		},
	}
	return w
}

// message is a delivered part, decoded as soon as it arrives.
type message struct {
	msg jetstream.Msg
	d   *partwrite.Decoded
}

// Run consumes until ctx ends, then drains: messages already pulled are
// written (with drain, which outlives ctx by SHUTDOWN_GRACE) and
// acknowledged before it returns.
func (w *Worker) Run(ctx, drain context.Context, cons jetstream.Consumer) error {
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
		func(m message) (int, int) { return max(m.d.Rows(), 1), stream.PartSize(m.msg.Headers(), m.msg.Data()) },
		func(b []message) { w.flush(drain, b) })
	return <-pumpErr
}

// flush writes one batch and settles its messages: ack after COMMIT, Term
// for undecodable parts once their rejection is stored; after a failure,
// NakWithDelay, or give up the parts whose deliveries are used up.
func (w *Worker) flush(ctx context.Context, batch []message) {
	start := time.Now()
	stop := stream.KeepAlive(msgsOf(batch), w.batch.AckWait()/4)
	defer stop()
	res, err := w.write(ctx, batch)
	w.metrics.FlushSeconds.WithLabelValues(w.kind.Name).Observe(time.Since(start).Seconds())
	if err != nil {
		w.failed(ctx, batch, err)
		return
	}
	w.committed(batch, res)
	w.log.Debug("batch written", "messages", len(batch), "rows", res.Rows, "written", res.Written, "rejected", res.Rejected, "seconds", time.Since(start).Seconds())
}

func (w *Worker) write(ctx context.Context, batch []message) (*partwrite.Result, error) {
	ctx, cancel := context.WithTimeout(ctx, w.batch.FlushTimeout)
	defer cancel()
	parts := make([]*partwrite.Decoded, len(batch))
	for i, m := range batch {
		parts[i] = m.d
	}
	return w.w.Write(ctx, parts)
}

// committed counts a committed batch and acknowledges it.
func (w *Worker) committed(batch []message, res *partwrite.Result) {
	w.metrics.Batches.WithLabelValues(w.kind.Name).Inc()
	w.metrics.RowsWritten.WithLabelValues(w.kind.Name).Add(float64(res.Written))
	w.metrics.RowsUnchanged.WithLabelValues(w.kind.Name).Add(float64(res.Rows - res.Written))
	w.metrics.Retries.WithLabelValues(w.kind.Name, "data").Add(float64(res.Refused))
	if res.Skipped > 0 {
		w.metrics.Skipped.WithLabelValues(w.kind.Name).Add(float64(res.Skipped))
		w.log.Info("parts of deleted users skipped", "parts", res.Skipped)
	}
	for class, n := range res.Reasons {
		w.metrics.Rejected.WithLabelValues(w.kind.Name, class).Add(float64(n))
	}
	for field, n := range res.UnknownTerms {
		w.metrics.UnknownTerms.WithLabelValues(w.kind.Name, field).Add(float64(n))
	}
	w.afterCommit()
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
}

// failed counts a batch that was not written and settles it (settle.Retry).
func (w *Worker) failed(ctx context.Context, batch []message, err error) {
	w.metrics.Retries.WithLabelValues(w.kind.Name, pgstore.Classify(err).String()).Inc()
	w.retry.Failed(ctx, w.log, batch, err)
}

func msgsOf(batch []message) []jetstream.Msg {
	out := make([]jetstream.Msg, len(batch))
	for i, m := range batch {
		out[i] = m.msg
	}
	return out
}
