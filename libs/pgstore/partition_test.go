package pgstore_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/healthexport/libs/pgstore"
	"github.com/healthexport/libs/testenv"
)

// december2026 is "now" for the layout tests: 2025 and 2026 are monthly.
func december2026() time.Time { return time.Date(2026, 12, 4, 17, 0, 0, 0, time.UTC) }

// partitionOf names the partition holding t in table.
func partitionOf(t *testing.T, db *testenv.Database, table string, at time.Time) string {
	t.Helper()
	var name string
	q := fmt.Sprintf("SELECT tableoid::regclass::text FROM %s WHERE recorded_at = $1", table)
	if err := db.Pool.QueryRow(context.Background(), q, at).Scan(&name); err != nil {
		t.Fatalf("the row at %v: %v", at, err)
	}
	return name
}

// TestPartitionsLayout: any time gets a partition on demand, in the layout:
// months of this year and last, a year each before, one partition for
// everything before 2010; a year that already has monthly partitions gets
// more months.
func TestPartitionsLayout(t *testing.T) {
	db := testenv.NewDatabase(t)
	now := december2026()
	parts := pgstore.NewPartitions(db.Pool).WithClock(func() time.Time { return now })
	tb := hrTable(t)
	user := uuid.New()
	ctx := context.Background()
	// A month of 2024 made while 2024 was recent (by an earlier clock).
	if err := pgstore.NewPartitions(db.Pool).WithClock(func() time.Time { return time.Date(2024, 7, 1, 0, 0, 0, 0, time.UTC) }).
		Ensure(ctx, "heart_rate_metrics", time.Date(2024, 3, 10, 0, 0, 0, 0, time.UTC)); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		at   time.Time
		want string
	}{
		{time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC), "heart_rate_metrics_before_2010"},
		{time.Date(1998, 6, 30, 23, 59, 59, 0, time.UTC), "heart_rate_metrics_before_2010"},
		{time.Date(2009, 12, 31, 23, 59, 59, 999999000, time.UTC), "heart_rate_metrics_before_2010"},
		{time.Date(2010, 1, 1, 0, 0, 0, 0, time.UTC), "heart_rate_metrics_p2010"},
		{time.Date(2019, 7, 4, 12, 0, 0, 0, time.UTC), "heart_rate_metrics_p2019"},
		// Midnight of New Year in +02:00 is still 2023 by UTC bounds.
		{time.Date(2024, 1, 1, 1, 0, 0, 0, time.FixedZone("", 2*3600)), "heart_rate_metrics_p2023"},
		{time.Date(2024, 3, 31, 0, 0, 0, 0, time.UTC), "heart_rate_metrics_p2024_03"},
		{time.Date(2024, 9, 1, 0, 0, 0, 0, time.UTC), "heart_rate_metrics_p2024_09"}, // 2024 has months already
		{time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), "heart_rate_metrics_p2025_01"},
		// In -08:00 this is still February; by UTC bounds it is March.
		{time.Date(2025, 2, 28, 20, 0, 0, 0, time.FixedZone("", -8*3600)), "heart_rate_metrics_p2025_03"},
		{time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC), "heart_rate_metrics_p2026_12"},
		{time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC), "heart_rate_metrics_p2027_01"},
	}
	var rows [][]any
	for i, tt := range tests {
		rows = append(rows, []any{user, tt.at, fmt.Sprint(i), nil, 70.0, nil, int16(0), int64(1), int64(i)})
	}
	if n := write(t, db, parts, tb, rows); n != int64(len(rows)) {
		t.Fatalf("wrote %d rows, want %d", n, len(rows))
	}
	for _, tt := range tests {
		if got := partitionOf(t, db, "heart_rate_metrics", tt.at); got != tt.want {
			t.Errorf("%v is in %s, want %s", tt.at, got, tt.want)
		}
	}
	list, err := parts.List(ctx, "heart_rate_metrics")
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 10 || list[0].Name != "heart_rate_metrics_before_2010" || !list[0].From.IsZero() || !list[0].To.Equal(pgstore.FarPastEnd) ||
		list[1].Name != "heart_rate_metrics_p2010" || !list[1].To.Equal(time.Date(2011, 1, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("partitions, oldest first: %+v", list)
	}
}

// TestPartitionsBounded: a point a month from 1900 to now, in every
// partitioned table at once, makes a few dozen partitions, not thousands;
// and a second such upload makes none.
func TestPartitionsBounded(t *testing.T) {
	db := testenv.NewDatabase(t)
	now := december2026()
	parts := pgstore.NewPartitions(db.Pool).WithClock(func() time.Time { return now })
	ctx := context.Background()
	tables := []string{"raw_ingestions", "heart_rate_metrics", "blood_pressure_metrics", "quantity_metrics", "sleep_segments", "workout_route_points", "workout_samples"}
	count := func() int {
		var n int
		if err := db.Pool.QueryRow(ctx, `SELECT count(*) FROM pg_inherits WHERE inhparent = ANY($1::regclass[])`, tables).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	for range 2 {
		for _, table := range tables {
			for m := time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC); m.Before(now.AddDate(0, 1, 0)); m = m.AddDate(0, 1, 0) {
				if err := parts.Ensure(ctx, table, m); err != nil {
					t.Fatal(err)
				}
			}
		}
		// Per table: before 2010, 2010..2024 by year, 2025 and 2026 by month, January 2027.
		if n, want := count(), len(tables)*(1+15+24+1); n != want {
			t.Fatalf("%d partitions, want %d", n, want)
		}
	}
}

// The layout follows the clock: a year stops being recent, and its data
// then goes to a partition of its own year, never overlapping the months
// made while it was recent.
func TestPartitionsAsYearsPass(t *testing.T) {
	db := testenv.NewDatabase(t)
	ctx := context.Background()
	clock := time.Date(2026, 12, 31, 23, 0, 0, 0, time.UTC)
	parts := pgstore.NewPartitions(db.Pool).WithClock(func() time.Time { return clock })
	for _, m := range []time.Time{time.Date(2025, 5, 1, 0, 0, 0, 0, time.UTC), time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC)} {
		if err := parts.Ensure(ctx, "quantity_metrics", m); err != nil {
			t.Fatal(err)
		}
	}
	clock = clock.AddDate(0, 0, 1) // 2027: 2025 is no longer recent
	for _, m := range []time.Time{time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC), time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC)} {
		if err := parts.Ensure(ctx, "quantity_metrics", m); err != nil {
			t.Fatal(err)
		}
	}
	list, err := parts.List(ctx, "quantity_metrics")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range list {
		names = append(names, p.Name)
	}
	if want := "[quantity_metrics_p2024 quantity_metrics_p2025_05 quantity_metrics_p2025_06]"; fmt.Sprint(names) != want {
		t.Errorf("partitions %v, want %s", names, want)
	}
}
