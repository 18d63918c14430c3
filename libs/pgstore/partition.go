package pgstore

import (
	"context"
	"errors"
	"fmt"
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
