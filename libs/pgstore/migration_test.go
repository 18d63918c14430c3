package pgstore_test

import (
	"context"
	"fmt"
	"io/fs"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/healthexport/libs/pgstore"
	"github.com/healthexport/libs/testenv"
	"github.com/healthexport/migrations"
)

// stepsDownToBefore is how many steps down from the latest schema undo the
// migration named name (and every later one).
func stepsDownToBefore(t *testing.T, url, name string) int {
	t.Helper()
	found, err := fs.Glob(migrations.Files(), "*_"+name+".up.sql")
	if err != nil || len(found) != 1 {
		t.Fatalf("migration %s: %v %v", name, found, err)
	}
	version, err := strconv.Atoi(strings.SplitN(found[0], "_", 2)[0])
	if err != nil {
		t.Fatal(err)
	}
	st, err := migrations.Current(url)
	if err != nil {
		t.Fatal(err)
	}
	return int(st.Latest) - version + 1
}

// TestMigrationBoundsPartitions: migration bounded_partitions moves a database made
// under the old layout (a partition per month, whatever the month) into the
// bounded one, keeping every row; down splits it back into months.
func TestMigrationBoundsPartitions(t *testing.T) {
	db := testenv.NewDatabase(t)
	ctx := context.Background()
	exec := func(sql string, args ...any) {
		t.Helper()
		if _, err := db.Pool.Exec(ctx, sql, args...); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	toBefore := stepsDownToBefore(t, db.URL, "bounded_partitions")
	if err := migrations.Down(db.URL, toBefore); err != nil {
		t.Fatal(err)
	}
	// The old layout, as a hostile upload left it: a month in 1900, every
	// month of 1999, two of 2015, and recent months.
	lastYear := time.Now().UTC().Year() - 1
	var months []time.Time
	months = append(months, time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC))
	for m := 1; m <= 12; m++ {
		months = append(months, time.Date(1999, time.Month(m), 1, 0, 0, 0, 0, time.UTC))
	}
	months = append(months, time.Date(2015, 3, 1, 0, 0, 0, 0, time.UTC), time.Date(2015, 4, 1, 0, 0, 0, 0, time.UTC),
		time.Date(lastYear, 6, 1, 0, 0, 0, 0, time.UTC), time.Date(lastYear, 7, 1, 0, 0, 0, 0, time.UTC))
	user := uuid.New()
	for i, m := range months {
		for _, table := range []string{"heart_rate_metrics", "raw_ingestions"} {
			name := pgstore.PartitionName(table, m)
			exec(fmt.Sprintf("CREATE TABLE %s (LIKE %s INCLUDING ALL)", name, table))
			exec(fmt.Sprintf("ALTER TABLE %s ATTACH PARTITION %s FOR VALUES FROM ('%s') TO ('%s')", table, name, m.Format(time.RFC3339), m.AddDate(0, 1, 0).Format(time.RFC3339)))
		}
		at := m.Add(36 * time.Hour)
		exec(`INSERT INTO heart_rate_metrics (user_id, recorded_at, source, min_bpm, avg_bpm, max_bpm, recorded_offset_min, ingestion_id, stream_seq)
			VALUES ($1, $2, 's', 60, 70, 80, 0, 'i', $3)`, user, at, i)
		exec(`INSERT INTO raw_ingestions (received_at, ingestion_id, part_id, user_id, key_id, kind, stream_seq, headers, payload) VALUES ($1, 'i', $2, $3, 'k', 'heart_rate', $4, '{}', '\x7b7d')`, at, fmt.Sprint(i), user, i)
	}
	// The columns every schema since has (a later migration drops the
	// rows' ingestion_id, and its down adds it back at the end).
	checksum := func() string {
		var sum string
		if err := db.Pool.QueryRow(ctx, `SELECT md5(string_agg(concat_ws('|', user_id, recorded_at, source, min_bpm, avg_bpm, max_bpm,
			recorded_offset_min, stream_seq, origin), ',' ORDER BY recorded_at)) FROM heart_rate_metrics t`).Scan(&sum); err != nil {
			t.Fatal(err)
		}
		return sum
	}
	names := func(table string) []string {
		list, err := pgstore.NewPartitions(db.Pool).List(ctx, table)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, p := range list {
			out = append(out, p.Name)
		}
		return out
	}
	before := checksum()

	if err := migrations.Up(db.URL); err != nil {
		t.Fatal(err)
	}
	for _, table := range []string{"heart_rate_metrics", "raw_ingestions"} {
		want := fmt.Sprintf("[%[1]s_before_2010 %[1]s_p2015 %[1]s_p%[2]d_06 %[1]s_p%[2]d_07]", table, lastYear)
		if got := fmt.Sprint(names(table)); got != want {
			t.Errorf("%s after the migration: %s, want %s", table, got, want)
		}
	}
	if checksum() != before {
		t.Error("the rows changed in the move")
	}
	var raw int
	if err := db.Pool.QueryRow(ctx, `SELECT count(*) FROM raw_ingestions`).Scan(&raw); err != nil || raw != len(months) {
		t.Errorf("%d archived parts after the migration, want %d (%v)", raw, len(months), err)
	}
	// Writers go on in the new layout: 1950 and 2015 have their partitions.
	parts := pgstore.NewPartitions(db.Pool)
	for _, at := range []time.Time{time.Date(1950, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2015, 12, 1, 0, 0, 0, 0, time.UTC)} {
		if err := parts.Ensure(ctx, "heart_rate_metrics", at); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(names("heart_rate_metrics")); n != 4 {
		t.Errorf("%d partitions after writes into the moved ranges, want 4", n)
	}

	if err := migrations.Down(db.URL, toBefore); err != nil {
		t.Fatal(err)
	}
	if got := len(names("heart_rate_metrics")); got != len(months) {
		t.Errorf("down: %d partitions, want the %d months with rows: %v", got, len(months), names("heart_rate_metrics"))
	}
	if checksum() != before {
		t.Error("the rows changed going down")
	}
}

// TestRowsWithoutIngestionID: data rows name their message by stream_seq
// only; the ingestion's id lives in the bookkeeping tables. Going down, the
// migration that dropped it gives every row its id back from the part its
// sequence wrote, as the writers before it stored it.
func TestRowsWithoutIngestionID(t *testing.T) {
	db := testenv.NewDatabase(t)
	ctx := context.Background()
	exec := func(sql string, args ...any) {
		t.Helper()
		if _, err := db.Pool.Exec(ctx, sql, args...); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	withColumn := func() string {
		t.Helper()
		var tables string
		if err := db.Pool.QueryRow(ctx, `SELECT coalesce(string_agg(c.relname, ' ' ORDER BY c.relname), '')
			FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
			WHERE a.attname = 'ingestion_id' AND NOT a.attisdropped AND c.relkind IN ('r', 'p') AND NOT c.relispartition
			  AND c.relnamespace = current_schema()::regnamespace`).Scan(&tables); err != nil {
			t.Fatal(err)
		}
		return tables
	}
	// Only bookkeeping: a data table with the column would cost every row
	// 65 bytes again.
	const bookkeeping = "failed_parts ingestion_parts ingestions raw_ingestions rejected_points"
	if got := withColumn(); got != bookkeeping {
		t.Fatalf("tables with ingestion_id: %q, want %q", got, bookkeeping)
	}

	user := uuid.New()
	at := time.Date(2025, 3, 1, 8, 0, 0, 0, time.UTC)
	parts := pgstore.NewPartitions(db.Pool)
	for _, table := range []string{"heart_rate_metrics", "raw_ingestions"} {
		if err := parts.Ensure(ctx, table, at); err != nil {
			t.Fatal(err)
		}
	}
	// Sequence 1 wrote a part (ingestion_parts), 2 is only archived (its
	// part's ingestion_parts row is an earlier sequence's), 3 is in neither.
	exec(`INSERT INTO ingestion_parts (ingestion_id, part_id, user_id, kind, items, written, rejected, stream_seq) VALUES ('written', 'p', $1, 'heart_rate', 1, 1, 0, 1)`, user)
	exec(`INSERT INTO raw_ingestions (received_at, ingestion_id, part_id, user_id, key_id, kind, stream_seq, headers, payload) VALUES ($1, 'archived', 'p', $2, 'k', 'heart_rate', 2, '{}', '\x7b7d')`, at, user)
	for seq := 1; seq <= 3; seq++ {
		exec(`INSERT INTO heart_rate_metrics (user_id, recorded_at, source, avg_bpm, stream_seq) VALUES ($1, $2, 's', 70, $3)`, user, at.Add(time.Duration(seq)*time.Minute), seq)
	}

	if err := migrations.Down(db.URL, stepsDownToBefore(t, db.URL, "rows_without_ingestion_id")); err != nil {
		t.Fatal(err)
	}
	var ids string
	if err := db.Pool.QueryRow(ctx, `SELECT string_agg(ingestion_id, ',' ORDER BY stream_seq) FROM heart_rate_metrics`).Scan(&ids); err != nil {
		t.Fatal(err)
	}
	if ids != "written,archived," {
		t.Errorf("ingestion ids after down: %q, want written,archived,", ids)
	}
	// A writer of that schema stores the id with every row.
	exec(`INSERT INTO heart_rate_metrics (user_id, recorded_at, source, avg_bpm, ingestion_id, stream_seq) VALUES ($1, $2, 's', 70, 'old', 4)`, user, at)

	if err := migrations.Up(db.URL); err != nil {
		t.Fatal(err)
	}
	if got := withColumn(); got != bookkeeping {
		t.Errorf("tables with ingestion_id after up again: %q, want %q", got, bookkeeping)
	}
	var n int
	if err := db.Pool.QueryRow(ctx, `SELECT count(*) FROM heart_rate_metrics WHERE user_id = $1`, user).Scan(&n); err != nil || n != 4 {
		t.Errorf("%d rows after up again, want 4 (%v)", n, err)
	}
}
