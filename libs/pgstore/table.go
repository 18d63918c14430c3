package pgstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Table describes a table the generic upsert writes. Writers never carry
// per-table SQL: everything is derived from this description.
type Table struct {
	Name        string
	Columns     []string // every column a row supplies, in row order
	Key         []string // the ON CONFLICT key (a unique index), a subset of Columns
	PartitionBy string   // a timestamptz column partitioned by month, or ""
	// InsertOnly tables keep the first row for a key (ON CONFLICT DO
	// NOTHING); the others take a later row when its stream_seq is not older
	// and its values differ.
	InsertOnly bool

	partIdx   int
	stageName string
	createSQL string
	insertSQL string
	// skipDirect counts batches left before trying a direct COPY again
	// after one met an existing key (shared by every copy of the table).
	skipDirect *atomic.Int64
	// types caches the columns' type OIDs for the direct COPY encoding.
	types *atomic.Pointer[[]uint32]
}

// SeqColumn orders versions of a row: the stream sequence of the message
// that wrote it.
const SeqColumn = "stream_seq"

// OriginColumn records how a row's data arrived (an upload, an import of
// the Health app's export). It is bookkeeping, like the sequence: a row
// whose values arrive again the other way is unchanged.
const OriginColumn = "origin"

// ordColumn is a staging-only column: the item's position in its message,
// so a later item of the same message wins over an earlier one.
const ordColumn = "_ord"

// NewTable validates a description and prepares its SQL once.
func NewTable(t Table) (*Table, error) {
	if t.Name == "" || len(t.Columns) == 0 || len(t.Key) == 0 {
		return nil, fmt.Errorf("table %q: name, columns and key are required", t.Name)
	}
	for _, k := range t.Key {
		if !slices.Contains(t.Columns, k) {
			return nil, fmt.Errorf("table %s: key column %s is not a column", t.Name, k)
		}
	}
	t.partIdx = -1
	if t.PartitionBy != "" {
		t.partIdx = slices.Index(t.Columns, t.PartitionBy)
		if t.partIdx < 0 {
			return nil, fmt.Errorf("table %s: partition column %s is not a column", t.Name, t.PartitionBy)
		}
	}
	if !t.InsertOnly && !slices.Contains(t.Columns, SeqColumn) {
		return nil, fmt.Errorf("table %s: an upserted table needs a %s column", t.Name, SeqColumn)
	}
	t.skipDirect = new(atomic.Int64)
	t.types = new(atomic.Pointer[[]uint32])
	t.stageName = "stage_" + t.Name
	t.createSQL = fmt.Sprintf(
		"CREATE TEMP TABLE IF NOT EXISTS %s (LIKE %s INCLUDING DEFAULTS, %s bigint NOT NULL) ON COMMIT DELETE ROWS",
		ident(t.stageName), ident(t.Name), ordColumn)
	t.insertSQL = t.buildInsert()
	return &t, nil
}

// MustTable is NewTable for descriptions fixed in code.
func MustTable(t Table) *Table {
	nt, err := NewTable(t)
	if err != nil {
		panic(err)
	}
	return nt
}

// PartitionIndex is the position of the partition column in a row, or -1.
func (t *Table) PartitionIndex() int { return t.partIdx }

// ValueColumns are the columns compared to decide whether a row changed:
// everything but the key and the bookkeeping of who wrote it.
func (t *Table) ValueColumns() []string {
	var out []string
	for _, c := range t.Columns {
		if slices.Contains(t.Key, c) || c == SeqColumn || c == OriginColumn {
			continue
		}
		out = append(out, c)
	}
	return out
}

func (t *Table) buildInsert() string {
	cols := joinIdents(t.Columns)
	key := joinIdents(t.Key)
	var b strings.Builder
	// DISTINCT ON keeps one row per key: the later message, and within a
	// message the later item. ORDER BY key gives every writer the same lock
	// order.
	fmt.Fprintf(&b, "INSERT INTO %s AS stored (%s) SELECT DISTINCT ON (%s) %s FROM %s ORDER BY %s",
		ident(t.Name), cols, key, cols, ident(t.stageName), key)
	if slices.Contains(t.Columns, SeqColumn) {
		fmt.Fprintf(&b, ", %s DESC", SeqColumn)
	}
	fmt.Fprintf(&b, ", %s DESC ON CONFLICT (%s) ", ordColumn, key)
	values := t.ValueColumns()
	if t.InsertOnly || len(values) == 0 {
		b.WriteString("DO NOTHING")
		return b.String()
	}
	b.WriteString("DO UPDATE SET ")
	var sets []string
	for _, c := range t.Columns {
		if slices.Contains(t.Key, c) {
			continue
		}
		sets = append(sets, fmt.Sprintf("%s = excluded.%s", ident(c), ident(c)))
	}
	b.WriteString(strings.Join(sets, ", "))
	stored, excluded := make([]string, len(values)), make([]string, len(values))
	for i, c := range values {
		stored[i], excluded[i] = "stored."+ident(c), "excluded."+ident(c)
	}
	fmt.Fprintf(&b, " WHERE stored.%s <= excluded.%s AND (%s) IS DISTINCT FROM (%s)",
		SeqColumn, SeqColumn, strings.Join(stored, ", "), strings.Join(excluded, ", "))
	return b.String()
}

// Rows collects rows for one table; each row's last value is its ordinal.
type Rows struct {
	Table *Table
	rows  [][]any
}

// Add appends a row: values in Table.Columns order, then the item's ordinal
// within its message.
func (r *Rows) Add(ordinal int, values ...any) {
	row := make([]any, 0, len(values)+1)
	row = append(row, values...)
	r.rows = append(r.rows, append(row, int64(ordinal)))
}

// AddRow appends a row already laid out as values + ordinal.
func (r *Rows) AddRow(row []any) { r.rows = append(r.rows, row) }

// Len is the number of rows collected.
func (r *Rows) Len() int { return len(r.rows) }

// All returns the collected rows (values then ordinal).
func (r *Rows) All() [][]any { return r.rows }

// Upsert writes rows into t within the caller's transaction: COPY into a
// per-session staging table, then one INSERT ... SELECT ... ON CONFLICT.
// COPY has no bind-parameter limit, so batches of any size are safe. It
// returns the number of rows inserted or changed.
func Upsert(ctx context.Context, q Querier, t *Table, rows [][]any) (int64, error) {
	n, _, err := upsert(ctx, q, t, rows)
	return n, err
}

// upsert is Upsert, also saying whether the rows went in by a direct COPY
// (every one of them new).
func upsert(ctx context.Context, q Querier, t *Table, rows [][]any) (int64, bool, error) {
	if len(rows) == 0 {
		return 0, true, nil
	}
	if n, ok, err := copyDirect(ctx, q, t, rows); ok || err != nil {
		return n, ok, err
	}
	if _, err := q.Exec(ctx, t.createSQL); err != nil {
		return 0, false, fmt.Errorf("stage %s: %w", t.Name, err)
	}
	cols := append(slices.Clone(t.Columns), ordColumn)
	if _, err := copyRows(ctx, q, t, t.stageName, cols, true, rows); err != nil {
		return 0, false, fmt.Errorf("copy into %s: %w", t.stageName, err)
	}
	tag, err := q.Exec(ctx, t.insertSQL)
	if err != nil {
		return 0, false, fmt.Errorf("upsert %s: %w", t.Name, err)
	}
	// The staging rows must not leak into a later statement of the same
	// transaction (bisection retries under savepoints).
	if _, err := q.Exec(ctx, "TRUNCATE "+ident(t.stageName)); err != nil {
		return 0, false, fmt.Errorf("truncate %s: %w", t.stageName, err)
	}
	return tag.RowsAffected(), false, nil
}

func ident(s string) string { return pgx.Identifier{s}.Sanitize() }

func joinIdents(cols []string) string {
	out := make([]string, len(cols))
	for i, c := range cols {
		out[i] = ident(c)
	}
	return strings.Join(out, ", ")
}

// Renamed describes the same table under another name (a rebuild's fresh
// copy), with its own staging table and SQL.
func (t *Table) Renamed(name string) *Table {
	return MustTable(Table{Name: name, Columns: t.Columns, Key: t.Key, PartitionBy: t.PartitionBy, InsertOnly: t.InsertOnly})
}

// directBackoff is how many batches go through staging after a direct COPY
// met an existing key: uploads that overlap earlier ones (the app resends
// the previous day) then skip the attempt that would fail.
const directBackoff = 16

// copyDirect tries the cheapest write there is: COPY straight into the
// table, which is what new data (a backfill, the bulk of every upload)
// needs. It is all or nothing under a savepoint: any key already there,
// or twice in the batch, makes it fail with a unique violation, and the
// caller falls back to the staged upsert, which dedupes and keeps later
// values. ok reports that the rows are written.
func copyDirect(ctx context.Context, q Querier, t *Table, rows [][]any) (n int64, ok bool, err error) {
	if t.skipDirect.Load() > 0 {
		t.skipDirect.Add(-1)
		return 0, false, nil
	}
	if _, err := q.Exec(ctx, "SAVEPOINT copy_direct"); err != nil {
		return 0, false, err
	}
	// Without the ordinal, a staging-only column.
	n, err = copyRows(ctx, q, t, t.Name, t.Columns, false, rows)
	if err == nil {
		_, err = q.Exec(ctx, "RELEASE SAVEPOINT copy_direct")
		return n, err == nil, err
	}
	if _, rbErr := q.Exec(ctx, "ROLLBACK TO SAVEPOINT copy_direct; RELEASE SAVEPOINT copy_direct"); rbErr != nil {
		return 0, false, errors.Join(err, rbErr)
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" {
		t.skipDirect.Store(directBackoff)
		return 0, false, nil
	}
	// Any other refusal is the staged path's to report (and bisect).
	return 0, false, nil
}
