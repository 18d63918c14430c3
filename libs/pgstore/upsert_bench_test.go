package pgstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/healthexport/libs/pgstore"
	"github.com/healthexport/libs/testenv"
)

// BenchmarkUpsertHeartRate writes new heart-rate rows in batches of 10,000
// through the generic upsert (COPY into staging, INSERT ... ON CONFLICT):
// the writer's cost in PostgreSQL, without decoding.
func BenchmarkUpsertHeartRate(b *testing.B) {
	db := testenv.NewDatabase(b)
	parts := pgstore.NewPartitions(db.Pool)
	tb := hrTable(&testing.T{})
	user := pgtype.UUID{Bytes: uuid.New(), Valid: true}
	start := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	ctx := context.Background()
	const batch = 10000
	next := 0
	b.ResetTimer()
	for b.Loop() {
		rows := make([][]any, batch)
		for i := range rows {
			lo := float64(50 + next%40)
			rows[i] = []any{user, start.Add(time.Duration(next) * time.Minute), "w", lo, lo + 7.25, lo + 15, int16(-480), int64(next / 5000), int64(next)}
			next++
		}
		if err := parts.EnsureRows(ctx, tb, rows); err != nil {
			b.Fatal(err)
		}
		if err := pgx.BeginFunc(ctx, db.Pool, func(tx pgx.Tx) error {
			_, err := pgstore.Upsert(ctx, tx, tb, rows)
			return err
		}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "rows/s")
}
