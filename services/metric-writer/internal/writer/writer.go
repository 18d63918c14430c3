// Package writer is the metric-writer's worker: one per kind, it consumes
// that kind's parts, batches them, and upserts rows, rejections and part
// bookkeeping in one transaction, acknowledging only after COMMIT.
package writer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/healthexport/libs/kind"
	"github.com/healthexport/libs/pgstore"
	"github.com/healthexport/libs/stream"
)

// Worker writes one kind.
type Worker struct {
	log     *slog.Logger
	kind    *kind.Kind
	pool    *pgxpool.Pool
	parts   *pgstore.Partitions
	books   pgstore.Bookkeeping
	batch   stream.BatchConfig
	metrics *Metrics
}

// New returns a worker for kind k.
func New(log *slog.Logger, k *kind.Kind, pool *pgxpool.Pool, parts *pgstore.Partitions, batch stream.BatchConfig, m *Metrics) *Worker {
	return &Worker{
		log:     log.With("kind", k.Name),
		kind:    k,
		pool:    pool,
		parts:   parts,
		books:   pgstore.NewBookkeeping(),
		batch:   batch,
		metrics: m,
	}
}

// Run consumes until ctx ends, then drains: messages already pulled are
// written and acknowledged before it returns.
func (w *Worker) Run(ctx context.Context, cons jetstream.Consumer) error {
	msgs := make(chan jetstream.Msg, w.batch.MaxAckPending())
	decoded := make(chan *message, w.batch.MaxMessages)
	pumpErr := make(chan error, 1)
	go func() { pumpErr <- stream.Pump(ctx, w.log, cons, msgs, w.batch.MaxMessages) }()
	// Decoding runs beside the batcher so one batch is decoded while the
	// previous one is written.
	go func() {
		defer close(decoded)
		for m := range msgs {
			decoded <- decodeMessage(w.kind, m)
		}
	}()
	stream.Batch(decoded, w.batch.Limits(),
		func(m *message) (int, int) { return max(m.rows, 1), len(m.msg.Data()) },
		func(b []*message) { w.flush(context.WithoutCancel(ctx), b) })
	return <-pumpErr
}

// flush writes one batch and settles its messages: ack after COMMIT, Term
// for undecodable parts once their rejection is stored, NakWithDelay when
// the database is unavailable.
func (w *Worker) flush(ctx context.Context, batch []*message) {
	start := time.Now()
	msgs := make([]jetstream.Msg, len(batch))
	for i, m := range batch {
		msgs[i] = m.msg
	}
	stop := stream.KeepAlive(msgs, w.batch.AckWait()/4)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, w.batch.FlushTimeout)
	defer cancel()

	var (
		res *result
		err error
	)
	for attempt := 1; ; attempt++ {
		res, err = w.write(ctx, batch)
		if err == nil || pgstore.Classify(err) != pgstore.Conflict || attempt == 3 {
			break
		}
		w.metrics.Retries.WithLabelValues(w.kind.Name, "conflict").Inc()
	}
	w.metrics.FlushSeconds.WithLabelValues(w.kind.Name).Observe(time.Since(start).Seconds())
	if err != nil {
		if pgstore.IsNoPartition(err) {
			w.parts.Forget()
		}
		w.metrics.Retries.WithLabelValues(w.kind.Name, "infrastructure").Inc()
		w.log.Error("batch not written; will be redelivered", "messages", len(batch), "err", err)
		stream.NakAll(msgs)
		return
	}
	w.metrics.Batches.WithLabelValues(w.kind.Name).Inc()
	w.metrics.RowsWritten.WithLabelValues(w.kind.Name).Add(float64(res.written))
	w.metrics.RowsUnchanged.WithLabelValues(w.kind.Name).Add(float64(res.rows - res.written))
	w.metrics.Rejected.WithLabelValues(w.kind.Name).Add(float64(res.rejected))
	var acks []jetstream.Msg
	for _, m := range batch {
		if m.undecodable != nil {
			_ = m.msg.TermWithReason("undecodable part")
			continue
		}
		acks = append(acks, m.msg)
	}
	if err := stream.AckAll(acks); err != nil {
		w.log.Warn("ack after commit failed; the redelivery will change nothing", "err", err)
	}
	w.log.Debug("batch written", "messages", len(batch), "rows", res.rows, "written", res.written, "rejected", res.rejected, "seconds", time.Since(start).Seconds())
}

type result struct {
	rows, written, rejected int64
}

func (w *Worker) write(ctx context.Context, batch []*message) (*result, error) {
	var items []*itemResult
	for _, m := range batch {
		items = append(items, m.items...)
	}
	all := w.dataBatch(items)
	if err := all.EnsurePartitions(ctx, w.parts); err != nil {
		return nil, err
	}
	res := &result{rows: int64(all.Len())}
	err := pgx.BeginFunc(ctx, w.pool, func(tx pgx.Tx) error {
		refused, err := w.bisect(ctx, tx, items, res)
		if err != nil {
			return err
		}
		books, rejected := w.bookkeeping(batch, refused)
		res.rejected = int64(rejected)
		_, err = books.Write(ctx, tx)
		return err
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

func (w *Worker) dataBatch(items []*itemResult) *pgstore.Batch {
	b := &pgstore.Batch{}
	for _, it := range items {
		for _, r := range it.rows {
			b.Add(r.table, r.row)
		}
	}
	return b
}

// bisect writes the items' rows under a savepoint; when the database
// refuses the data (SQLSTATE class 22/23) it splits the items in halves
// until the refused ones are isolated, so one bad value never blocks a
// batch and nothing is retried forever. It returns the refused items with
// the database's reason.
func (w *Worker) bisect(ctx context.Context, tx pgx.Tx, items []*itemResult, res *result) (map[*itemResult]string, error) {
	refused := map[*itemResult]string{}
	var try func(items []*itemResult) error
	try = func(items []*itemResult) error {
		if len(items) == 0 {
			return nil
		}
		if _, err := tx.Exec(ctx, "SAVEPOINT bisect"); err != nil {
			return err
		}
		affected, err := w.dataBatch(items).Write(ctx, tx)
		if err == nil {
			for _, n := range affected {
				res.written += n
			}
			_, err = tx.Exec(ctx, "RELEASE SAVEPOINT bisect")
			return err
		}
		if _, rbErr := tx.Exec(ctx, "ROLLBACK TO SAVEPOINT bisect; RELEASE SAVEPOINT bisect"); rbErr != nil {
			return errors.Join(err, rbErr)
		}
		if pgstore.Classify(err) != pgstore.Data {
			return err
		}
		if len(items) == 1 {
			refused[items[0]] = fmt.Sprintf("the database refused it: %v", rootMessage(err))
			w.metrics.Retries.WithLabelValues(w.kind.Name, "data").Inc()
			return nil
		}
		half := len(items) / 2
		if err := try(items[:half]); err != nil {
			return err
		}
		return try(items[half:])
	}
	return refused, try(items)
}

// bookkeeping builds the rejected_points and ingestion_parts rows of a
// batch: every rejection keyed by its pointer, and each part marked done.
func (w *Worker) bookkeeping(batch []*message, refused map[*itemResult]string) (*pgstore.Batch, int) {
	b := &pgstore.Batch{}
	total := 0
	add := func(t *pgstore.Table, values ...any) {
		if t == w.books.RejectedPoints {
			total++
		}
		b.Add(t, append(values, int64(0)))
	}
	for _, m := range batch {
		meta := m.meta
		if m.undecodable != nil {
			if meta.UserID == uuid.Nil || meta.IngestionID == "" {
				w.log.Error("part without user or ingestion headers dropped", "seq", meta.Seq, "err", m.undecodable)
				continue
			}
			reason := fmt.Sprintf("part %s could not be decoded: %v", meta.PartID, m.undecodable)
			add(w.books.RejectedPoints, meta.UserID, meta.IngestionID, meta.Pointer, w.kind.Name, meta.PartID, reason, m.msg.Data(), int64(meta.Seq), meta.ReceivedAt)
			add(w.books.IngestionParts, meta.IngestionID, meta.PartID, meta.UserID, w.kind.Name, stream.Items(m.msg), 0, 1, int64(meta.Seq))
			continue
		}
		rejected := 0
		for _, it := range m.items {
			for _, r := range it.rejects {
				add(w.books.RejectedPoints, meta.UserID, meta.IngestionID, r.pointer, w.kind.Name, meta.PartID, r.reason, r.item, int64(meta.Seq), meta.ReceivedAt)
				rejected++
			}
			if reason, ok := refused[it]; ok {
				add(w.books.RejectedPoints, meta.UserID, meta.IngestionID, it.pointer, w.kind.Name, meta.PartID, reason, it.raw, int64(meta.Seq), meta.ReceivedAt)
				rejected++
			}
		}
		written := len(m.items) - m.rejectedItems()
		for _, it := range m.items {
			if _, ok := refused[it]; ok {
				written--
			}
		}
		add(w.books.IngestionParts, meta.IngestionID, meta.PartID, meta.UserID, w.kind.Name, len(m.items), written, rejected, int64(meta.Seq))
	}
	return b, total
}

func rootMessage(err error) string {
	for {
		u := errors.Unwrap(err)
		if u == nil {
			return err.Error()
		}
		err = u
	}
}
