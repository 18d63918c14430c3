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
		exec(`INSERT INTO heart_rate_metrics VALUES ($1, $2, 's', 60, 70, 80, 0, 'i', $3)`, user, at, i)
		exec(`INSERT INTO raw_ingestions (received_at, ingestion_id, part_id, user_id, key_id, kind, stream_seq, headers, payload) VALUES ($1, 'i', $2, $3, 'k', 'heart_rate', $4, '{}', '\x7b7d')`, at, fmt.Sprint(i), user, i)
	}
	checksum := func() string {
		var sum string
		if err := db.Pool.QueryRow(ctx, `SELECT md5(string_agg(t::text, ',' ORDER BY recorded_at)) FROM heart_rate_metrics t`).Scan(&sum); err != nil {
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
