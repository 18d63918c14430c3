package pgstore

import (
	"context"
)

// Batch gathers rows for several tables to write in one transaction, in a
// fixed table order (the order tables were first added), so concurrent
// writers lock tables in the same order.
type Batch struct {
	order []*Table
	rows  map[*Table][][]any
	// staged: some table's rows went through the staged upsert (keys that
	// may have existed), not a direct COPY of new rows only.
	staged bool
}

// Add appends a row (values in t.Columns order, then the ordinal).
func (b *Batch) Add(t *Table, row []any) {
	if b.rows == nil {
		b.rows = map[*Table][][]any{}
	}
	if _, ok := b.rows[t]; !ok {
		b.order = append(b.order, t)
	}
	b.rows[t] = append(b.rows[t], row)
}

// Len counts rows over all tables.
func (b *Batch) Len() int {
	n := 0
	for _, r := range b.rows {
		n += len(r)
	}
	return n
}

// EnsurePartitions makes every partition the rows need, outside the data
// transaction.
func (b *Batch) EnsurePartitions(ctx context.Context, p *Partitions) error {
	for _, t := range b.order {
		if err := p.EnsureRows(ctx, t, b.rows[t]); err != nil {
			return err
		}
	}
	return nil
}

// Write upserts every table's rows within q's transaction and returns the
// rows inserted or changed per table name.
func (b *Batch) Write(ctx context.Context, q Querier) (map[string]int64, error) {
	affected := make(map[string]int64, len(b.order))
	for _, t := range b.order {
		n, direct, err := upsert(ctx, q, t, b.rows[t])
		if err != nil {
			return affected, err
		}
		b.staged = b.staged || !direct
		affected[t.Name] += n
	}
	return affected, nil
}

// Staged reports whether a Write met, or may have met, rows that existed
// already (it took the staged upsert): only then can a stored row have
// changed, say, its offset.
func (b *Batch) Staged() bool { return b.staged }
