package users_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/healthexport/libs/apikey"
	"github.com/healthexport/libs/kind"
	"github.com/healthexport/libs/pgstore"
	"github.com/healthexport/libs/termtext"
	"github.com/healthexport/libs/testenv"
	"github.com/healthexport/libs/users"
)

// TestDelete: a user's rows go from every table, another user's stay; a
// second run deletes nothing; a rebuild's table is cleaned too.
func TestDelete(t *testing.T) {
	db := testenv.NewDatabase(t)
	ctx := context.Background()
	us := users.NewStore(db.Pool)
	keys := apikey.NewStore(db.Pool, apikey.StoreConfig{Params: apikey.Params{MemoryKiB: 64, Time: 1, Threads: 1, KeyLen: 32, SaltLen: 16}})
	var tables []string
	for _, tb := range kind.New().Tables() {
		tables = append(tables, tb.Name)
	}
	march := time.Date(2025, 3, 1, 16, 0, 0, 0, time.UTC)
	if err := pgstore.NewPartitions(db.Pool).Ensure(ctx, "heart_rate_metrics", march); err != nil {
		t.Fatal(err)
	}
	if err := pgstore.NewPartitions(db.Pool).Ensure(ctx, "raw_ingestions", march); err != nil {
		t.Fatal(err)
	}
	exec := func(sql string, args ...any) {
		t.Helper()
		if _, err := db.Pool.Exec(ctx, sql, args...); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	// A rebuild under way has its own copy of a table.
	exec(`CREATE TABLE workouts_rebuild (LIKE workouts INCLUDING ALL)`)
	ids := map[string]uuid.UUID{}
	for _, email := range []string{"ana@example.org", "bob@example.org"} {
		id, _, err := us.Ensure(ctx, email)
		if err != nil {
			t.Fatal(err)
		}
		ids[email] = id
		if _, _, err := keys.Create(ctx, id, apikey.NewKey{Name: "phone"}); err != nil {
			t.Fatal(err)
		}
		exec(`INSERT INTO heart_rate_metrics VALUES ($1, $2, '', 60, 70, 80, -480, 1)`, id, march)
		exec(`INSERT INTO workouts (user_id, workout_key, name, started_at, ended_at, stream_seq) VALUES ($1, 'w', 'Walk', $2, $2, 1)`, id, march)
		exec(`INSERT INTO workouts_rebuild (user_id, workout_key, name, started_at, ended_at, stream_seq) VALUES ($1, 'w', 'Walk', $2, $2, 1)`, id, march)
		exec(`INSERT INTO rejected_points VALUES ($1, $2, '/data', 'heart_rate', 'p', 'bad', NULL, 1, $3)`, id, email, march)
		exec(`INSERT INTO ingestion_parts VALUES ($1, 'p', $2, 'heart_rate', 1, 1, 0, 1)`, email, id)
		exec(`INSERT INTO failed_parts (consumer, stream_seq, ingestion_id, part_id, user_id, kind, deliveries, class, error) VALUES ('writer-heart_rate', $1, $2, 'p', $3, 'heart_rate', 10, 'unexpected', 'e')`, len(ids), email, id)
		exec(`INSERT INTO ingestions VALUES ($1, $2, 'k', $3, 1, '{}', 0, '{}', '{}', 1)`, email, id, march)
		exec(`INSERT INTO raw_ingestions VALUES ($1, $2, 'p', $3, 'k', 'heart_rate', 1, '{}', '\x7b7d')`, march, email, id)
	}
	ana, bob := ids["ana@example.org"], ids["bob@example.org"]

	before, err := us.Count(ctx, ana, tables)
	if err != nil {
		t.Fatal(err)
	}
	deleted, err := us.Delete(ctx, ana, tables)
	if err != nil {
		t.Fatal(err)
	}
	if len(deleted) != len(before) {
		t.Fatalf("Delete reported %d tables, Count %d", len(deleted), len(before))
	}
	want := map[string]int64{"heart_rate_metrics": 1, "workouts": 1, "workouts_rebuild": 1, "rejected_points": 1,
		"ingestion_parts": 1, "failed_parts": 1, "ingestions": 1, "raw_ingestions": 1, "api_keys": 1, "users": 1}
	for i, d := range deleted {
		if d.Rows != want[d.Table] || before[i] != d {
			t.Errorf("%s: deleted %d, counted %d before, want %d", d.Table, d.Rows, before[i].Rows, want[d.Table])
		}
	}
	for _, d := range deleted {
		col := "user_id"
		if d.Table == "users" {
			col = "id"
		}
		for uid, want := range map[uuid.UUID]int64{ana: 0, bob: want[d.Table]} {
			var n int64
			if err := db.Pool.QueryRow(ctx, "SELECT count(*) FROM "+d.Table+" WHERE "+col+" = $1", uid).Scan(&n); err != nil {
				t.Fatal(err)
			}
			if n != want {
				t.Errorf("%s: %d rows of %s after deleting ana, want %d", d.Table, n, uid, want)
			}
		}
	}
	if _, err := us.ByID(ctx, ana); !errors.Is(err, users.ErrNotFound) {
		t.Errorf("ByID after delete: %v", err)
	}
	if email, err := us.ByID(ctx, bob); err != nil || email != "bob@example.org" {
		t.Errorf("ByID(bob) = %q, %v", email, err)
	}
	// Again: nothing left, nothing deleted, no error.
	again, err := us.Delete(ctx, ana, tables)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range again {
		if d.Rows != 0 {
			t.Errorf("second delete: %s lost %d rows", d.Table, d.Rows)
		}
	}
}

// TestEnsureValidatesEmail: an address is trimmed and lower-cased, and one
// holding control characters (printed by healthctl users list) is refused.
func TestEnsureValidatesEmail(t *testing.T) {
	db := testenv.NewDatabase(t)
	us := users.NewStore(db.Pool)
	ctx := context.Background()
	tests := []struct {
		give string
		ok   bool
	}{
		{" Ana@Example.org ", true},
		{"zoë@example.org", true},
		{"no-at-sign", false},
		{"", false},
		{"ana\x1b[2J@example.org", false},
		{"ana\u202e@example.org", false},
		{"ana\n@example.org", false},
	}
	for _, tt := range tests {
		_, _, err := us.Ensure(ctx, tt.give)
		if tt.ok != (err == nil) || !tt.ok && errors.Is(err, termtext.ErrUnsafe) != strings.ContainsAny(tt.give, "\x1b\u202e\n") {
			t.Errorf("Ensure(%q) = %v, want ok=%v", tt.give, err, tt.ok)
		}
	}
}

// TestDeleteWaitsForHolders: a writer holding a user (Hold, in its
// transaction) delays the deletion until it commits, and the deletion then
// removes what it wrote; a writer coming after the deletion finds the user
// gone. Without it, rows committed during the deletion would outlive it.
func TestDeleteWaitsForHolders(t *testing.T) {
	db := testenv.NewDatabase(t)
	ctx := context.Background()
	us := users.NewStore(db.Pool)
	ana, _, err := us.Ensure(ctx, "ana@example.org")
	if err != nil {
		t.Fatal(err)
	}
	march := time.Date(2025, 3, 1, 16, 0, 0, 0, time.UTC)
	if err := pgstore.NewPartitions(db.Pool).Ensure(ctx, "heart_rate_metrics", march); err != nil {
		t.Fatal(err)
	}
	writer, err := db.Pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer writer.Rollback(ctx) //nolint:errcheck
	found, err := users.Hold(ctx, writer, []uuid.UUID{ana, uuid.New()})
	if err != nil || len(found) != 1 || !found[ana] {
		t.Fatalf("Hold = %v, %v; want ana only", found, err)
	}

	deleted := make(chan error, 1)
	go func() {
		_, err := us.Delete(ctx, ana, []string{"heart_rate_metrics"})
		deleted <- err
	}()
	// The deletion waits for the writer's lock on the user's row.
	deadline := time.Now().Add(10 * time.Second)
	for waiting := false; !waiting; {
		if err := db.Pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock')`).Scan(&waiting); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-deleted:
			t.Fatalf("the deletion did not wait for the writer: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("the deletion neither waits nor ends")
		}
	}
	if _, err := writer.Exec(ctx, `INSERT INTO heart_rate_metrics VALUES ($1, $2, '', 60, 70, 80, 0, 1)`, ana, march); err != nil {
		t.Fatal(err)
	}
	if err := writer.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-deleted; err != nil {
		t.Fatal(err)
	}
	var left int
	if err := db.Pool.QueryRow(ctx, `SELECT count(*) FROM heart_rate_metrics WHERE user_id = $1`, ana).Scan(&left); err != nil || left != 0 {
		t.Errorf("%d rows written during the deletion outlive it (%v)", left, err)
	}

	late, err := db.Pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer late.Rollback(ctx) //nolint:errcheck
	if found, err := users.Hold(ctx, late, []uuid.UUID{ana}); err != nil || found[ana] {
		t.Errorf("Hold after the deletion = %v, %v; want the user gone", found, err)
	}
}
