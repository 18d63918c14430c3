package pgstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Partitions creates monthly range partitions on demand: any month a batch
// meets (1998 or this month alike), outside the data transaction, once per
// process thanks to a cache.
type Partitions struct {
	pool *pgxpool.Pool
	mu   sync.Mutex
	made map[string]bool
}

// NewPartitions returns a partition maker on pool.
func NewPartitions(pool *pgxpool.Pool) *Partitions {
	return &Partitions{pool: pool, made: map[string]bool{}}
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
		if err := p.Ensure(ctx, t.Name, m); err != nil {
			return err
		}
	}
	return nil
}

// Forget drops the cache, for when a partition vanished behind our back.
func (p *Partitions) Forget() {
	p.mu.Lock()
	p.made = map[string]bool{}
	p.mu.Unlock()
}

// Ensure creates the partition of parent for the month starting at m when
// it does not exist: under an advisory lock per parent, with a short
// lock_timeout, as CREATE TABLE ... (LIKE parent INCLUDING ALL) then ATTACH
// PARTITION, which locks the parent far less than CREATE ... PARTITION OF.
// "Already exists" is success.
func (p *Partitions) Ensure(ctx context.Context, parent string, m time.Time) error {
	m = MonthStart(m)
	child := PartitionName(parent, m)
	p.mu.Lock()
	done := p.made[child]
	p.mu.Unlock()
	if done {
		return nil
	}
	err := pgx.BeginFunc(ctx, p.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SET LOCAL lock_timeout = '5s'"); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock(hashtext('partition:' || $1))", parent); err != nil {
			return err
		}
		var attached bool
		err := tx.QueryRow(ctx, `SELECT EXISTS (
			SELECT 1 FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
			WHERE i.inhparent = $1::regclass AND c.relname = $2)`, parent, child).Scan(&attached)
		if err != nil || attached {
			return err
		}
		from, to := m, m.AddDate(0, 1, 0)
		stmts := []string{
			fmt.Sprintf("CREATE TABLE IF NOT EXISTS %s (LIKE %s INCLUDING ALL)", ident(child), ident(parent)),
			fmt.Sprintf("ALTER TABLE %s ATTACH PARTITION %s FOR VALUES FROM ('%s') TO ('%s')",
				ident(parent), ident(child), from.Format(time.RFC3339), to.Format(time.RFC3339)),
		}
		for _, s := range stmts {
			if _, err := tx.Exec(ctx, s); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("partition %s: %w", child, err)
	}
	p.mu.Lock()
	p.made[child] = true
	p.mu.Unlock()
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

// PartitionInfo describes one monthly partition.
type PartitionInfo struct {
	Parent, Name string
	From, To     time.Time
	Rows         int64 // the planner's estimate
	Bytes        int64
}

// List returns the partitions of parent, oldest first.
func (p *Partitions) List(ctx context.Context, parent string) ([]PartitionInfo, error) {
	rows, err := p.pool.Query(ctx, `SELECT c.relname, pg_get_expr(c.relpartbound, c.oid), greatest(c.reltuples, 0)::bigint,
			pg_total_relation_size(c.oid)
		FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
		WHERE i.inhparent = $1::regclass ORDER BY c.relname`, parent)
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
		pi.From, pi.To = parseBound(bound)
		out = append(out, pi)
	}
	return out, rows.Err()
}

// parseBound reads "FOR VALUES FROM ('2025-03-01 00:00:00+00') TO (...)".
func parseBound(s string) (from, to time.Time) {
	var a, b string
	parts := strings.Split(s, "'")
	if len(parts) >= 4 {
		a, b = parts[1], parts[3]
	}
	for _, layout := range []string{"2006-01-02 15:04:05-07", "2006-01-02 15:04:05+00"} {
		if t, err := time.Parse(layout, a); err == nil {
			from = t.UTC()
		}
		if t, err := time.Parse(layout, b); err == nil {
			to = t.UTC()
		}
	}
	return from, to
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
		if pi.To.IsZero() || pi.To.After(cutoff) {
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
		delete(p.made, pi.Name)
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
