package partwrite

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/healthexport/libs/kind"
	"github.com/healthexport/libs/pgstore"
	"github.com/healthexport/libs/summary"
	"github.com/healthexport/libs/users"
)

// Writer writes one kind's parts.
type Writer struct {
	log     *slog.Logger
	kind    *kind.Kind
	pool    *pgxpool.Pool
	parts   *pgstore.Partitions
	books   pgstore.Bookkeeping
	renamed map[*pgstore.Table]*pgstore.Table
	// sums refreshes the daily summaries of the days a batch touched, in
	// its transaction (nil: the kind has none, or the writer fills a
	// rebuild's fresh tables, summarised once they are swapped in).
	sums *summary.Maintainer
}

// New returns a writer for kind k into its live tables.
func New(log *slog.Logger, k *kind.Kind, pool *pgxpool.Pool, parts *pgstore.Partitions) *Writer {
	w := &Writer{log: log.With("kind", k.Name), kind: k, pool: pool, parts: parts, books: pgstore.NewBookkeeping()}
	if k.Summary != nil {
		w.sums = summary.New(kind.New())
	}
	return w
}

// Into returns a writer that puts the kind's rows into tables named with
// suffix instead (a rebuild's fresh tables); bookkeeping stays shared, it
// is idempotent.
func (w *Writer) Into(suffix string) *Writer {
	c := *w
	c.sums = nil
	c.renamed = map[*pgstore.Table]*pgstore.Table{}
	for _, t := range w.kind.Tables {
		c.renamed[t] = t.Renamed(t.Name + suffix)
	}
	return &c
}

// WithoutSummaries returns a writer that keeps no summaries: what the
// writer costs without them (BenchmarkWriterSummaries in libs/summary).
func (w *Writer) WithoutSummaries() *Writer {
	c := *w
	c.sums = nil
	return &c
}

func (w *Writer) target(t *pgstore.Table) *pgstore.Table {
	if r, ok := w.renamed[t]; ok {
		return r
	}
	return t
}

// Kind is the kind written.
func (w *Writer) Kind() *kind.Kind { return w.kind }

// Result is what a batch did.
type Result struct {
	Rows     int64            // rows the parts yielded
	Written  int64            // rows inserted or changed
	Rejected int64            // rejected items recorded
	Reasons  map[string]int64 // rejections by kind.ReasonClass
	Refused  int64            // items the database refused (isolated by bisection)
	// UnknownTerms counts localised text without a canonical value, by
	// vocabulary field (stored with a NULL canonical value).
	UnknownTerms map[string]int64
	// Skipped counts parts of users deleted meanwhile: nothing of theirs is
	// written, and the parts are settled like the others.
	Skipped int64
	// Summaries is how many daily summaries the batch touched; Merged, how
	// many of them took the batch's new rows without being recomputed.
	Summaries, Merged int
	// staged: some rows may have existed (not one direct COPY of new rows).
	staged bool
}

// Write stores a batch in one transaction: the rows (a data error is
// isolated by bisection and recorded as a rejection), the rejected items
// and each part's ingestion_parts row. Deadlocks are retried at once; any
// other error means nothing was written and the batch should be retried
// later.
func (w *Writer) Write(ctx context.Context, batch []*Decoded) (*Result, error) {
	var (
		res *Result
		err error
	)
	for attempt := 1; attempt <= 3; attempt++ {
		res, err = w.write(ctx, batch)
		if err == nil || pgstore.Classify(err) != pgstore.Conflict {
			break
		}
	}
	if err != nil && pgstore.IsNoPartition(err) {
		w.parts.Forget() // a partition vanished under the cache: make it again next time
	}
	return res, err
}

func (w *Writer) write(ctx context.Context, batch []*Decoded) (*Result, error) {
	if err := dataBatch(itemsOf(batch)).EnsurePartitions(ctx, w.parts); err != nil {
		return nil, err
	}
	res := &Result{Reasons: map[string]int64{}, UnknownTerms: map[string]int64{}}
	err := pgx.BeginFunc(ctx, w.pool, func(tx pgx.Tx) error {
		live, err := w.holdUsers(ctx, tx, batch)
		if err != nil {
			return err
		}
		res.Skipped = int64(len(batch) - len(live))
		items := itemsOf(live)
		res.Rows = int64(dataBatch(items).Len())
		for _, d := range live {
			for field, n := range d.unknown {
				res.UnknownTerms[field] += n
			}
		}
		return w.writeIn(ctx, tx, live, items, res)
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

// holdUsers holds the batch's users against deletion until the
// transaction ends (users.Hold) and returns the parts of those that still
// exist: a user deleted while its parts waited in the stream gets nothing
// written, then or ever. Parts without a user stay, for bookkeeping to drop.
func (w *Writer) holdUsers(ctx context.Context, tx pgx.Tx, batch []*Decoded) ([]*Decoded, error) {
	var ids []uuid.UUID
	seen := map[uuid.UUID]bool{}
	for _, d := range batch {
		if id := d.Part.Meta.UserID; id != uuid.Nil && !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	found, err := users.Hold(ctx, tx, ids)
	if err != nil {
		return nil, err
	}
	live := make([]*Decoded, 0, len(batch))
	for _, d := range batch {
		if id := d.Part.Meta.UserID; id == uuid.Nil || found[id] {
			live = append(live, d)
		}
	}
	return live, nil
}

func itemsOf(batch []*Decoded) []*itemResult {
	var items []*itemResult
	for _, d := range batch {
		items = append(items, d.items...)
	}
	return items
}

// WriteIn writes a batch within the caller's transaction (whose
// partitions exist), without retries.
func (w *Writer) WriteIn(ctx context.Context, tx pgx.Tx, batch []*Decoded) error {
	return w.writeIn(ctx, tx, batch, itemsOf(batch), &Result{Reasons: map[string]int64{}})
}

func (w *Writer) writeIn(ctx context.Context, tx pgx.Tx, batch []*Decoded, items []*itemResult, res *Result) error {
	refused, err := bisect(ctx, tx, items, res)
	if err != nil {
		return err
	}
	if _, err = w.bookkeeping(batch, refused, res).Write(ctx, tx); err != nil {
		return err
	}
	// Last, so the summary rows are locked only for the end of the
	// transaction.
	return w.summarise(ctx, tx, items, res)
}

// summarise brings the summaries of the days the batch's rows fall on up
// to date (refused rows included: recomputing a day is harmless).
func (w *Writer) summarise(ctx context.Context, tx pgx.Tx, items []*itemResult, res *Result) error {
	if w.sums == nil {
		return nil
	}
	keys := summary.Keys{}
	if !res.staged && res.Refused == 0 {
		// Every row is new (one direct COPY met no existing key): most days
		// take the rows' count and sum without reading the day again.
		adds := summary.Adds{}
		for _, it := range items {
			for _, r := range it.rows {
				summary.CollectNew(w.kind, r.table, r.row, keys, adds)
			}
		}
		res.Summaries = len(keys)
		merged, err := w.sums.Merge(ctx, tx, keys, adds)
		res.Merged = merged
		return err
	}
	if res.Written == 0 {
		// Rows sent again unchanged (the app resends the day so far):
		// nothing a summary counts changed.
		return nil
	}
	for _, it := range items {
		for _, r := range it.rows {
			summary.Collect(w.kind, r.table, r.row, keys)
		}
	}
	res.Summaries = len(keys)
	// A row that existed may have moved to another local day (sent again
	// in another offset): then the neighbouring days are refreshed too.
	return w.sums.Refresh(ctx, tx, keys, res.staged)
}

func dataBatch(items []*itemResult) *pgstore.Batch {
	b := &pgstore.Batch{}
	for _, it := range items {
		for _, r := range it.rows {
			b.Add(r.table, r.row)
		}
	}
	return b
}

// bisect writes the items' rows, isolating the ones the database refuses
// (pgstore.Bisect), so one bad value never blocks a batch and nothing is
// retried forever. It returns the refused items with the database's reason.
func bisect(ctx context.Context, tx pgx.Tx, items []*itemResult, res *Result) (map[*itemResult]string, error) {
	refused := map[*itemResult]string{}
	err := pgstore.Bisect(ctx, tx, items,
		func(items []*itemResult) error {
			b := dataBatch(items)
			affected, err := b.Write(ctx, tx)
			res.staged = res.staged || b.Staged()
			if err != nil {
				return err // rolled back: nothing of it counts
			}
			for _, n := range affected {
				res.Written += n
			}
			return nil
		},
		func(it *itemResult, err error) {
			refused[it] = fmt.Sprintf("the database refused it: %v", rootMessage(err))
			res.Refused++
		})
	return refused, err
}

// bookkeeping builds the rejected_points and ingestion_parts rows of a
// batch: every rejection keyed by its pointer, and each part marked done.
func (w *Writer) bookkeeping(batch []*Decoded, refused map[*itemResult]string, res *Result) *pgstore.Batch {
	b := &pgstore.Batch{}
	reject := func(meta *Part, pointer, reason string, item []byte) {
		m := meta.Meta
		b.Add(w.books.RejectedPoints, []any{pgUUID(m.UserID), m.IngestionID, pointer, w.kind.Name, m.PartID, reason, item, int64(m.Seq), m.ReceivedAt, int64(0)})
		res.Rejected++
		res.Reasons[kind.ReasonClass(reason)]++
	}
	done := func(p *Part, items, written, rejected int) {
		m := p.Meta
		b.Add(w.books.IngestionParts, []any{m.IngestionID, m.PartID, pgUUID(m.UserID), w.kind.Name, items, written, rejected, int64(m.Seq), int64(0)})
	}
	for _, d := range batch {
		p := d.Part
		if d.undecodable != nil {
			if p.Meta.UserID == uuid.Nil || p.Meta.IngestionID == "" || p.Meta.PartID == "" {
				w.log.Error("part without user, ingestion or part id dropped", "seq", p.Meta.Seq, "err", d.undecodable)
				continue
			}
			reject(p, p.Meta.Pointer, fmt.Sprintf("part %s could not be decoded: %v", p.Meta.PartID, d.undecodable), p.Payload)
			done(p, p.Items, 0, 1)
			continue
		}
		rejected, written := 0, len(d.items)-d.rejectedItems()
		for _, it := range d.items {
			for _, r := range it.rejects {
				reject(p, r.pointer, r.reason, r.item)
				rejected++
			}
			if reason, ok := refused[it]; ok {
				reject(p, it.pointer(), reason, it.raw)
				rejected++
				written--
			}
		}
		done(p, len(d.items), written, rejected)
	}
	return b
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

// pgUUID is how pgx encodes a UUID without its driver.Valuer fallback.
func pgUUID(u uuid.UUID) pgtype.UUID { return pgtype.UUID{Bytes: u, Valid: true} }
