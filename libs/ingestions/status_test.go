package ingestions_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/healthexport/libs/ingestions"
	"github.com/healthexport/libs/stream"
	"github.com/healthexport/libs/testenv"
)

// An upload of two parts (heart rate and steps), through every state it
// can be in: complete once both parts are archived and written; a part a
// consumer gave up on counts as failed until a replay has done its work.
func TestStatus(t *testing.T) {
	ctx := context.Background()
	db := testenv.NewDatabase(t)
	user := uuid.New()
	received := time.Date(2026, 11, 27, 3, 0, 0, 0, time.UTC)
	parts := []stream.ManifestPart{{ID: "up:heart_rate:0-1", Kind: "heart_rate", Items: 2}, {ID: "up:quantity:2-2", Kind: "quantity", Items: 1}}
	manifest, err := json.Marshal(stream.Manifest{IngestionID: "up", UserID: user.String(), ReceivedAt: received, Parts: parts})
	if err != nil {
		t.Fatal(err)
	}
	exec := func(sql string, args ...any) {
		t.Helper()
		if _, err := db.Pool.Exec(ctx, sql, args...); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	exec(`CREATE TABLE raw_default PARTITION OF raw_ingestions DEFAULT`)
	exec(`INSERT INTO ingestions (ingestion_id, user_id, key_id, received_at, parts, accepted, rejected, headers, manifest, stream_seq)
		VALUES ('up', $1, 'k', $2, 2, '{}', 0, '{}', $3, 3)`, user, received, manifest)
	archive := func(part, kind string) func() {
		return func() {
			exec(`INSERT INTO raw_ingestions (received_at, ingestion_id, part_id, user_id, key_id, kind, stream_seq, headers, payload)
				VALUES ($1, 'up', $2, $3, 'k', $4, 1, '{}', '\x00')`, received, part, user, kind)
		}
	}
	write := func(part, kind string, written, rejected int) func() {
		return func() {
			exec(`INSERT INTO ingestion_parts (ingestion_id, part_id, user_id, kind, items, written, rejected, stream_seq)
				VALUES ('up', $1, $2, $3, $4, $5, $6, 1)`, part, user, kind, written+rejected, written, rejected)
		}
	}
	giveUp := func(consumer, part, kind string) func() {
		return func() {
			exec(`INSERT INTO failed_parts (consumer, stream_seq, ingestion_id, part_id, user_id, kind, deliveries, class, error)
				VALUES ($1, 1, 'up', $2, $3, $4, 10, 'unexpected', 'boom')`, consumer, part, user, kind)
		}
	}
	// Each step changes the database, then the status must read as given;
	// the steps build on one another.
	steps := []struct {
		name                               string
		do                                 []func()
		complete                           bool
		archived, written, failed, hrWrote int
	}{
		{"nothing done yet", nil, false, 0, 0, 0, 0},
		{"both archived, heart rate written", []func(){archive(parts[0].ID, "heart_rate"), archive(parts[1].ID, "quantity"), write(parts[0].ID, "heart_rate", 1, 1)}, false, 2, 1, 0, 1},
		{"the steps writer gave up", []func(){giveUp("writer-quantity", parts[1].ID, "quantity")}, false, 2, 1, 1, 1},
		{"a replay wrote the steps", []func(){write(parts[1].ID, "quantity", 1, 0)}, true, 2, 2, 0, 1},
	}
	store := ingestions.NewStore(db.Pool)
	for _, step := range steps {
		for _, f := range step.do {
			f()
		}
		st, err := store.Get(ctx, user, "up")
		if err != nil {
			t.Fatalf("%s: %v", step.name, err)
		}
		if st.Complete != step.complete || st.Parts != 2 || st.Archived != step.archived || st.Written != step.written ||
			st.Failed != step.failed || st.Kinds["heart_rate"].Written != step.hrWrote {
			t.Errorf("%s: status %+v", step.name, st)
		}
	}
	if _, err := store.Get(ctx, uuid.New(), "up"); !errors.Is(err, ingestions.ErrNotFound) {
		t.Errorf("another user's upload: %v, want ErrNotFound", err)
	}
}
