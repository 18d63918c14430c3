package pgstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// The partition layout. Uploaders choose the times of their points, and
// every partition is a table with its indexes that each query over a whole
// table (an export) locks: a point a month since 1900 made 4,566 of them and
// then "out of shared memory" for everyone. So how many partitions there are
// must not depend on the data. Recent data, where the rows are, is
// partitioned by month; older years by year; everything before FarPastEnd
// (before any phone measured a step on its own) shares one partition. A
// table holds at most one partition for the far past, one per year since
// 2010, and twelve per year for the years that were recent at some time
// while the service ran: it grows with time, never with an upload.
var FarPastEnd = time.Date(2010, 1, 1, 0, 0, 0, 0, time.UTC)

// MonthlyYears is how many calendar years, this one included, are
// partitioned by month; older years get one partition each.
const MonthlyYears = 2

// Partitions creates range partitions on demand, outside the data
// transaction, for any time a batch meets (1998 or this month alike), in the
// layout above; a cache of the ranges that exist spares the catalog.
type Partitions struct {
	pool  *pgxpool.Pool
	now   func() time.Time
	mu    sync.Mutex
	spans map[string][]span // per parent table
}

// span is the range of one partition: [from, to); a zero from is MINVALUE.
type span struct {
	name     string
	from, to time.Time
}

func (s span) covers(t time.Time) bool {
	return (s.from.IsZero() || !t.Before(s.from)) && t.Before(s.to)
}

func (s span) overlaps(o span) bool {
	return (s.from.IsZero() || o.to.After(s.from)) && (o.from.IsZero() || s.to.After(o.from))
}

// NewPartitions returns a partition maker on pool.
func NewPartitions(pool *pgxpool.Pool) *Partitions {
	return &Partitions{pool: pool, now: time.Now, spans: map[string][]span{}}
}

// WithClock makes the maker take "now" (which years are recent) from now;
// tests pin it.
func (p *Partitions) WithClock(now func() time.Time) *Partitions {
	p.now = now
	return p
}

// MonthStart is the first instant of t's month in UTC: partitions have UTC
// bounds whatever offset the data was written in.
func MonthStart(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
}

// PartitionName is the child table holding month m of table.
func PartitionName(table string, m time.Time) string {
	return fmt.Sprintf("%s_p%04d_%02d", table, m.Year(), int(m.Month()))
}

func monthSpan(parent string, t time.Time) span {
	m := MonthStart(t)
	return span{name: PartitionName(parent, m), from: m, to: m.AddDate(0, 1, 0)}
}

func yearSpan(parent string, year int) span {
	y := time.Date(year, 1, 1, 0, 0, 0, 0, time.UTC)
	return span{name: fmt.Sprintf("%s_p%04d", parent, year), from: y, to: y.AddDate(1, 0, 0)}
}

func farPastSpan(parent string) span {
	return span{name: fmt.Sprintf("%s_before_%d", parent, FarPastEnd.Year()), to: FarPastEnd}
}

// choose is the partition to make for t, given the ones that exist: the
// coarsest the layout allows that overlaps none of them. A year that was
// recent keeps its monthly partitions, and gets more of them.
func choose(parent string, t, now time.Time, existing []span) span {
	t = t.UTC()
	var candidates []span
	switch {
	case t.Before(FarPastEnd):
		candidates = append(candidates, farPastSpan(parent))
	case t.Year() <= now.UTC().Year()-MonthlyYears:
		candidates = append(candidates, yearSpan(parent, t.Year()))
	}
	for _, c := range candidates {
		if !slices.ContainsFunc(existing, c.overlaps) {
			return c
		}
	}
	return monthSpan(parent, t)
}

// EnsureRows makes the partitions every row of rows needs.
func (p *Partitions) EnsureRows(ctx context.Context, t *Table, rows [][]any) error {
	idx := t.PartitionIndex()
	if idx < 0 {
		return nil
	}
	seen := map[time.Time]bool{}
	for _, row := range rows {
		ts, ok := row[idx].(time.Time)
		if !ok {
			return fmt.Errorf("table %s: partition column %s holds %T, want time.Time", t.Name, t.PartitionBy, row[idx])
		}
		m := MonthStart(ts)
		if seen[m] {
			continue
		}
		seen[m] = true
		if err := p.Ensure(ctx, t.Name, ts); err != nil {
			return err
		}
	}
	return nil
}

// Forget drops the cache, for when a partition vanished behind our back.
func (p *Partitions) Forget() {
	p.mu.Lock()
	p.spans = map[string][]span{}
	p.mu.Unlock()
}

func (p *Partitions) cached(parent string, t time.Time) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.ContainsFunc(p.spans[parent], func(s span) bool { return s.covers(t) })
}

// Ensure makes sure a partition of parent holds time t, creating the one
// the layout chooses when none does: under an advisory lock per parent,
// with a short lock_timeout, as CREATE TABLE ... (LIKE parent INCLUDING ALL)
// then ATTACH PARTITION, which locks the parent far less than CREATE ...
// PARTITION OF.
func (p *Partitions) Ensure(ctx context.Context, parent string, t time.Time) error {
	if p.cached(parent, t) {
		return nil
	}
	var existing []span
	err := p.locked(ctx, parent, func(tx pgx.Tx) error {
		var err error
		if existing, err = spansOf(ctx, tx, parent); err != nil {
			return err
		}
		if slices.ContainsFunc(existing, func(s span) bool { return s.covers(t) }) {
			return nil
		}
		s := choose(parent, t, p.now(), existing)
		if err := attach(ctx, tx, parent, s); err != nil {
			return err
		}
		existing = append(existing, s)
		return nil
	})
	if err != nil {
		return fmt.Errorf("partition of %s for %s: %w", parent, t.UTC().Format(time.RFC3339), err)
	}
	p.mu.Lock()
	p.spans[parent] = existing
	p.mu.Unlock()
	return nil
}

// CopyLayout gives dst (an empty table partitioned like src) partitions
// with the same bounds as src's, named after dst.
func (p *Partitions) CopyLayout(ctx context.Context, src, dst string) error {
	return p.locked(ctx, dst, func(tx pgx.Tx) error {
		list, err := spansOf(ctx, tx, src)
		if err != nil {
			return err
		}
		for _, s := range list {
			s.name = dst + strings.TrimPrefix(s.name, src)
			if err := attach(ctx, tx, dst, s); err != nil {
				return err
			}
		}
		return nil
	})
}

// locked runs fn in a transaction holding parent's partition lock.
func (p *Partitions) locked(ctx context.Context, parent string, fn func(pgx.Tx) error) error {
	return pgx.BeginFunc(ctx, p.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SET LOCAL lock_timeout = '5s'"); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock(hashtext('partition:' || $1))", parent); err != nil {
			return err
		}
		return fn(tx)
	})
}

// attach creates the partition s of parent.
func attach(ctx context.Context, tx pgx.Tx, parent string, s span) error {
	from := "MINVALUE"
	if !s.from.IsZero() {
		from = "'" + s.from.Format(time.RFC3339) + "'"
	}
	stmts := []string{
		fmt.Sprintf("CREATE TABLE IF NOT EXISTS %s (LIKE %s INCLUDING ALL)", ident(s.name), ident(parent)),
		fmt.Sprintf("ALTER TABLE %s ATTACH PARTITION %s FOR VALUES FROM (%s) TO ('%s')",
			ident(parent), ident(s.name), from, s.to.Format(time.RFC3339)),
	}
	for _, q := range stmts {
		if _, err := tx.Exec(ctx, q); err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
	}
	return nil
}

// EnsureAhead makes the partitions of the current and next month for every
// table, so the common case never waits on DDL.
func (p *Partitions) EnsureAhead(ctx context.Context, now time.Time, tables ...*Table) error {
	var errs []error
	for _, t := range tables {
		if t.PartitionBy == "" {
			continue
		}
		for _, m := range []time.Time{MonthStart(now), MonthStart(now).AddDate(0, 1, 0)} {
			errs = append(errs, p.Ensure(ctx, t.Name, m))
		}
	}
	return errors.Join(errs...)
}

// PartitionInfo describes one partition: a month, a year, or (From zero)
// everything before FarPastEnd.
type PartitionInfo struct {
	Parent, Name string
	From, To     time.Time
	Rows         int64 // the planner's estimate
	Bytes        int64
}

// rowQuerier is a pool or a transaction.
type rowQuerier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// list reads the partitions of parent from the catalog, oldest first.
func list(ctx context.Context, q rowQuerier, parent string) ([]PartitionInfo, error) {
	rows, err := q.Query(ctx, `SELECT c.relname, pg_get_expr(c.relpartbound, c.oid), greatest(c.reltuples, 0)::bigint,
			pg_total_relation_size(c.oid)
		FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
		WHERE i.inhparent = $1::regclass`, parent)
	if err != nil {
		return nil, fmt.Errorf("partitions of %s: %w", parent, err)
	}
	defer rows.Close()
	var out []PartitionInfo
	for rows.Next() {
		pi := PartitionInfo{Parent: parent}
		var bound string
		if err := rows.Scan(&pi.Name, &bound, &pi.Rows, &pi.Bytes); err != nil {
			return nil, err
		}
		var ok bool
		if pi.From, pi.To, ok = parseBound(bound); !ok {
			return nil, fmt.Errorf("partition %s: unexpected bound %q", pi.Name, bound)
		}
		out = append(out, pi)
	}
	slices.SortFunc(out, func(a, b PartitionInfo) int { return a.From.Compare(b.From) })
	return out, rows.Err()
}

func spansOf(ctx context.Context, q rowQuerier, parent string) ([]span, error) {
	infos, err := list(ctx, q, parent)
	if err != nil {
		return nil, err
	}
	out := make([]span, len(infos))
	for i, pi := range infos {
		out[i] = span{name: pi.Name, from: pi.From, to: pi.To}
	}
	return out, nil
}

// List returns the partitions of parent, oldest first.
func (p *Partitions) List(ctx context.Context, parent string) ([]PartitionInfo, error) {
	return list(ctx, p.pool, parent)
}

// boundRE reads "FOR VALUES FROM ('2025-03-01 00:00:00+00') TO (...)"; a
// bound may be MINVALUE.
var boundRE = regexp.MustCompile(`^FOR VALUES FROM \((MINVALUE|'[^']*')\) TO \('([^']*)'\)$`)

// parseBound reads a range partition's bound (in the session's time zone).
func parseBound(s string) (from, to time.Time, ok bool) {
	m := boundRE.FindStringSubmatch(s)
	if m == nil {
		return from, to, false
	}
	parse := func(v string) (time.Time, bool) {
		for _, layout := range []string{"2006-01-02 15:04:05-07", "2006-01-02 15:04:05-07:00", "2006-01-02 15:04:05-07:00:00"} {
			if t, err := time.Parse(layout, v); err == nil {
				return t.UTC(), true
			}
		}
		return time.Time{}, false
	}
	if m[1] != "MINVALUE" {
		if from, ok = parse(strings.Trim(m[1], "'")); !ok {
			return from, to, false
		}
	}
	to, ok = parse(m[2])
	return from, to, ok
}

// DropBefore detaches and drops the partitions of parent whose whole range
// ends at or before cutoff (retention), returning their names.
func (p *Partitions) DropBefore(ctx context.Context, parent string, cutoff time.Time) ([]string, error) {
	parts, err := p.List(ctx, parent)
	if err != nil {
		return nil, err
	}
	var dropped []string
	for _, pi := range parts {
		if pi.To.After(cutoff) {
			continue
		}
		err := pgx.BeginFunc(ctx, p.pool, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, "SET LOCAL lock_timeout = '5s'"); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, fmt.Sprintf("ALTER TABLE %s DETACH PARTITION %s", ident(parent), ident(pi.Name))); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, "DROP TABLE "+ident(pi.Name))
			return err
		})
		if err != nil {
			return dropped, fmt.Errorf("drop partition %s: %w", pi.Name, err)
		}
		p.mu.Lock()
		p.spans[parent] = slices.DeleteFunc(p.spans[parent], func(s span) bool { return s.name == pi.Name })
		p.mu.Unlock()
		dropped = append(dropped, pi.Name)
	}
	return dropped, nil
}

// Maintain makes the current and next month's partitions of tables now
// and every interval, and, when retain > 0, drops partitions of the
// retained tables older than that. It runs until ctx ends.
func (p *Partitions) Maintain(ctx context.Context, log *slog.Logger, every, retain time.Duration, tables []*Table, retained ...*Table) {
	run := func() {
		now := time.Now()
		if err := p.EnsureAhead(ctx, now, tables...); err != nil {
			log.Warn("partitions ahead of time", "err", err)
		}
		if retain <= 0 {
			return
		}
		for _, t := range retained {
			dropped, err := p.DropBefore(ctx, t.Name, now.Add(-retain))
			if len(dropped) > 0 {
				log.Info("retention: dropped old partitions", "table", t.Name, "partitions", dropped)
			}
			if err != nil {
				log.Warn("retention", "table", t.Name, "err", err)
			}
		}
	}
	run()
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			run()
		}
	}
}
