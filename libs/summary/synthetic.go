package summary

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/healthexport/libs/kind"
)

// BenchmarkMetrics are ten metrics of the three aggregations, as a phone
// that counts, measures and sleeps every day has them.
var BenchmarkMetrics = []string{"step_count", "active_energy", "apple_exercise_time", "basal_energy_burned",
	"heart_rate", "resting_heart_rate", "heart_rate_variability", "blood_oxygen_saturation", "weight_body_mass", kind.SleepMetric}

// Execer runs a statement (a pool, a connection, a transaction).
type Execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// Synthetic stores days of summaries of metrics for a user from the first
// day on, shaped as the writers make them (a total, min/avg/max/count, or a
// night's stages, from a Watch and an iPhone): what ten years of minute
// data leave in daily_summaries, for the read benchmarks (the reads never
// touch the rows summarised).
func Synthetic(ctx context.Context, db Execer, user uuid.UUID, first time.Time, days int, metrics []string) error {
	reg := kind.New()
	for _, m := range metrics {
		var sql string
		switch reg.Aggregation(m) {
		case kind.Cumulative:
			sql = `INSERT INTO daily_summaries (user_id, metric, day, units, total, count, sources)
				SELECT $1, $2, $3::date + d, 'count', 4000 + (d * 7919) % 9000, 600 + d % 400, '{Apple Watch,iPhone}'
				FROM generate_series(0, $4 - 1) d ON CONFLICT DO NOTHING`
		case kind.Nightly:
			sql = `INSERT INTO daily_summaries (user_id, metric, day, units, count, asleep_hours, core_hours, deep_hours,
				rem_hours, awake_hours, in_bed_hours, sources)
				SELECT $1, $2, $3::date + d, 'hr', 12, 7 + (d % 9) / 10.0, 4 + (d % 7) / 10.0, 1.2, 1.6 + (d % 3) / 10.0, 0.3, 7.8,
				       '{Apple Watch}' FROM generate_series(0, $4 - 1) d ON CONFLICT DO NOTHING`
		default:
			sql = `INSERT INTO daily_summaries (user_id, metric, day, units, min, avg, max, count, sources)
				SELECT $1, $2, $3::date + d, 'count/min', 48 + d % 5, 66.5 + (d % 13) / 3.0, 150 - d % 30, 1440,
				       '{Apple Watch}' FROM generate_series(0, $4 - 1) d ON CONFLICT DO NOTHING`
		}
		if _, err := db.Exec(ctx, sql, user, m, first, days); err != nil {
			return fmt.Errorf("synthetic summaries of %s: %w", m, err)
		}
	}
	return nil
}
