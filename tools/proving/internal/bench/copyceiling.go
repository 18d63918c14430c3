package bench

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/healthexport/libs/kind"
	"github.com/healthexport/libs/pgstore"
)

// copyCeiling is what PostgreSQL alone does on this machine now: one
// pgx.CopyFrom of rows heart-rate rows in one transaction into the same
// partitioned table, with its production indexes. The pipeline is judged
// as a fraction of it.
func copyCeiling(ctx context.Context, pool *pgxpool.Pool, rows int) (float64, error) {
	k, _ := kind.New().Lookup("heart_rate")
	t := k.Tables[0]
	parts := pgstore.NewPartitions(pool)
	user := uuid.New()
	start := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	for m := start; m.Before(start.Add(time.Duration(rows)*time.Minute).AddDate(0, 1, 0)); m = m.AddDate(0, 1, 0) {
		if err := parts.Ensure(ctx, t.Name, m); err != nil {
			return 0, err
		}
	}
	i := 0
	// Rows shaped like the pipeline's: a device name as source, so the
	// ceiling is for the same bytes. The row is laid out as the writer
	// lays it (kind.FullRow), one message's worth (5000 rows) per stream
	// sequence.
	var env kind.Env
	src := pgx.CopyFromFunc(func() ([]any, error) {
		if i == rows {
			return nil, nil
		}
		if i%5000 == 0 {
			env = kind.Env{UserID: user, StreamSeq: int64(i / 5000)}
		}
		lo := float64(50 + i%40)
		row := kind.FullRow(&env, 0, []any{start.Add(time.Duration(i) * time.Minute), "Bench Watch 00", lo, lo + 7.25, lo + 15, int16(-480)})
		i++
		return row[:len(row)-1], nil // without the ordinal, which only staging has
	})
	t0 := time.Now()
	var n int64
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		var err error
		n, err = tx.CopyFrom(ctx, pgx.Identifier{t.Name}, t.Columns, src)
		return err
	})
	elapsed := time.Since(t0)
	if err != nil {
		return 0, fmt.Errorf("copy: %w", err)
	}
	// The benchmark's own, fresh database: the pipeline starts from an
	// empty table again.
	if _, err := pool.Exec(ctx, "TRUNCATE heart_rate_metrics"); err != nil {
		return 0, err
	}
	return float64(n) / elapsed.Seconds(), nil
}
