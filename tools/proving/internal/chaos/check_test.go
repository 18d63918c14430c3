package chaos

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/healthexport/libs/testenv"
	"github.com/healthexport/tools/proving/internal/fleet"
)

// The checker is what makes the harness mean anything: each kind of
// damage done to a correct database must be counted as what it is.
func TestCheck(t *testing.T) {
	tests := []struct {
		name   string
		damage string // SQL run after the correct state is in place
		want   tally
	}{
		{name: "correct", want: tally{}},
		{name: "an acknowledged point missing",
			damage: `DELETE FROM heart_rate_metrics WHERE recorded_at = '2026-10-01 00:05:00+00'`,
			want:   tally{lost: 1}},
		{name: "an update lost: the first value stayed",
			damage: `UPDATE heart_rate_metrics SET avg_bpm = 60 WHERE recorded_at = '2026-10-01 00:00:00+00'`,
			want:   tally{wrongValue: 1}},
		{name: "a row nobody sent",
			damage: `INSERT INTO heart_rate_metrics (user_id, recorded_at, source, avg_bpm, stream_seq)
				SELECT user_id, '2026-10-01 09:00:00+00', source, 70, 99 FROM heart_rate_metrics LIMIT 1`,
			want: tally{unexpected: 1}},
		{name: "a row under another source",
			damage: `UPDATE quantity_metrics SET source = 'Somebody else' WHERE recorded_at = '2026-10-01 00:01:00+00'`,
			want:   tally{unexpected: 1, lost: 1}},
		{name: "a part archived twice",
			damage: `INSERT INTO raw_ingestions (received_at, ingestion_id, part_id, user_id, key_id, kind, stream_seq, headers, payload)
				SELECT received_at + interval '1 second', ingestion_id, part_id, user_id, key_id, kind, stream_seq + 100, headers, payload
				FROM raw_ingestions WHERE part_id = 'heart_rate:0'  AND ingestion_id = 'up-1'`,
			want: tally{archivedTwice: 1}},
		{name: "a part not archived",
			damage: `DELETE FROM raw_ingestions WHERE ingestion_id = 'up-2' AND part_id = 'step_count:0'`,
			want:   tally{archiveLost: 1}},
		{name: "a manifest missing",
			damage: `DELETE FROM ingestions WHERE ingestion_id = 'up-1'`,
			want:   tally{archiveLost: 1}},
		{name: "a valid upload with a rejection",
			damage: `INSERT INTO rejected_points (user_id, ingestion_id, pointer, kind, part_id, reason, stream_seq, received_at)
				SELECT user_id, 'up-1', '/data/metrics/0/data/0', 'heart_rate', 'heart_rate:0', 'out of range', 5, now() FROM ingestions LIMIT 1`,
			want: tally{unexpected: 1}},
		{name: "a poison item not rejected",
			damage: `DELETE FROM rejected_points WHERE pointer = '/data/metrics/0/data/1'`,
			want:   tally{rejectLost: 1}},
		{name: "the unacknowledged upload landed",
			damage: `INSERT INTO heart_rate_metrics (user_id, recorded_at, source, avg_bpm, stream_seq)
				SELECT user_id, '2026-10-01 00:10:00+00', source, 99, 50 FROM heart_rate_metrics LIMIT 1`,
			want: tally{unknownLanded: 1}},
		{name: "the unacknowledged upload's update landed",
			damage: `UPDATE heart_rate_metrics SET avg_bpm = 60.75 WHERE recorded_at = '2026-10-01 00:00:00+00'`,
			want:   tally{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			db := testenv.NewDatabase(t)
			devs, err := fleet.Make(ctx, db.Pool, 1, "chaos", "Chaos Watch")
			if err != nil {
				t.Fatal(err)
			}
			l := correctState(t, ctx, db.Pool, devs[0])
			if tc.damage != "" {
				if _, err := db.Pool.Exec(ctx, tc.damage); err != nil {
					t.Fatalf("%s: %v", tc.damage, err)
				}
			}
			got, err := check(ctx, db.Pool, l, devs)
			if err != nil {
				t.Fatal(err)
			}
			got.points, got.rejections = 0, 0 // counts for the report
			if got != tc.want {
				t.Fatalf("tally %+v, want %+v", got, tc.want)
			}
		})
	}
}

// correctState is a database as it must be after three uploads of one
// device: up-1 (acknowledged) heart rate at 00:00 and 00:05 and steps at
// 00:01; up-2 (acknowledged, poison) sends 00:00 again with a new value
// and carries two rejected items; up-3 (never acknowledged, not stored)
// sends 00:00 once more and a point at 00:10.
func correctState(t *testing.T, ctx context.Context, pool *pgxpool.Pool, d fleet.Device) *ledger {
	t.Helper()
	hr := func(minute int) pointKey { return pointKey{d.N, "heart_rate", minute} }
	steps := func(minute int) pointKey { return pointKey{d.N, "step_count", minute} }
	l := &ledger{byStatus: map[string]int{}}
	l.add(&upload{device: d.N, seq: 0, outcome: acked, ingestionID: "up-1", answeredID: "up-1", parts: 2,
		points: map[pointKey]float64{hr(0): 60, hr(5): 65, steps(1): 11}})
	l.add(&upload{device: d.N, seq: 1, outcome: acked, poison: true, ingestionID: "up-2", answeredID: "up-2", parts: 2,
		points: map[pointKey]float64{hr(0): 60.25}})
	l.add(&upload{device: d.N, seq: 2, outcome: unknown, ingestionID: "up-3",
		points: map[pointKey]float64{hr(0): 60.75, hr(10): 99}})
	at := func(minute int) time.Time { return epoch.Add(time.Duration(minute) * time.Minute) }
	stmts := []struct {
		sql  string
		args []any
	}{
		{`CREATE TABLE hr_default PARTITION OF heart_rate_metrics DEFAULT`, nil},
		{`CREATE TABLE q_default PARTITION OF quantity_metrics DEFAULT`, nil},
		{`CREATE TABLE raw_default PARTITION OF raw_ingestions DEFAULT`, nil},
		{`INSERT INTO heart_rate_metrics (user_id, recorded_at, source, avg_bpm, stream_seq)
			VALUES ($1, $2, $3, 60.25, 4), ($1, $4, $3, 65, 1)`, []any{d.UserID, at(0), d.Source, at(5)}},
		{`INSERT INTO quantity_metrics (user_id, metric, recorded_at, source, qty, stream_seq)
			VALUES ($1, 'step_count', $2, $3, 11, 2)`, []any{d.UserID, at(1), d.Source}},
	}
	for _, id := range []string{"up-1", "up-2"} {
		stmts = append(stmts, struct {
			sql  string
			args []any
		}{`INSERT INTO ingestions (ingestion_id, user_id, key_id, received_at, parts, accepted, rejected, headers, manifest, stream_seq)
			VALUES ($1, $2, 'k', now(), 2, '{}', 0, '{}', '{}', 3)`, []any{id, d.UserID}})
	}
	for _, p := range [][2]string{{"up-1", "heart_rate:0"}, {"up-1", "step_count:0"}, {"up-2", "heart_rate:0"}, {"up-2", "step_count:0"}} {
		stmts = append(stmts, struct {
			sql  string
			args []any
		}{`INSERT INTO raw_ingestions (received_at, ingestion_id, part_id, user_id, key_id, kind, stream_seq, headers, payload)
			VALUES ('2026-11-01', $1, $2, $3, 'k', 'heart_rate', 1, '{}', '\x00')`, []any{p[0], p[1], d.UserID}})
	}
	for i := range 2 {
		stmts = append(stmts, struct {
			sql  string
			args []any
		}{`INSERT INTO rejected_points (user_id, ingestion_id, pointer, kind, part_id, reason, stream_seq, received_at)
			VALUES ($1, 'up-2', $2, 'heart_rate', 'heart_rate:0', 'refused', 4, now())`, []any{d.UserID, fmt.Sprintf("/data/metrics/0/data/%d", i)}})
	}
	for _, s := range stmts {
		if _, err := pool.Exec(ctx, s.sql, s.args...); err != nil {
			t.Fatalf("%s: %v", s.sql, err)
		}
	}
	return l
}
