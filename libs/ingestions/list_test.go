package ingestions_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/healthexport/libs/ingestions"
	"github.com/healthexport/libs/stream"
	"github.com/healthexport/libs/testenv"
)

// The list walks a user's uploads newest first in pages, each with its
// status and rejections, and never shows another user's.
func TestList(t *testing.T) {
	ctx := context.Background()
	db := testenv.NewDatabase(t)
	ana, bob := uuid.New(), uuid.New()
	base := time.Date(2026, 11, 27, 3, 0, 0, 0, time.UTC)
	exec := func(sql string, args ...any) {
		t.Helper()
		if _, err := db.Pool.Exec(ctx, sql, args...); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	exec(`CREATE TABLE raw_default PARTITION OF raw_ingestions DEFAULT`)
	upload := func(id string, user uuid.UUID, at time.Time, origin string, rejected int) {
		part := stream.ManifestPart{ID: id + ":heart_rate:0-1", Kind: "heart_rate", Items: 2}
		m, err := json.Marshal(stream.Manifest{IngestionID: id, UserID: user.String(), ReceivedAt: at, Parts: []stream.ManifestPart{part},
			Accepted: map[string]int{"heart_rate": 2 - rejected}, Rejected: rejected, Headers: map[string]string{"automation-name": "<b>" + id}, Origin: origin})
		if err != nil {
			t.Fatal(err)
		}
		exec(`INSERT INTO ingestions (ingestion_id, user_id, key_id, received_at, parts, accepted, rejected, headers, manifest, stream_seq)
			VALUES ($1, $2, 'k', $3, 1, '{}', $4, '{}', $5, 3)`, id, user, at, rejected, m)
		exec(`INSERT INTO raw_ingestions (received_at, ingestion_id, part_id, user_id, key_id, kind, stream_seq, headers, payload)
			VALUES ($1, $2, $3, $4, 'k', 'heart_rate', 1, '{}', '\x00')`, at, id, part.ID, user)
		exec(`INSERT INTO ingestion_parts (ingestion_id, part_id, user_id, kind, items, written, rejected, stream_seq)
			VALUES ($1, $2, $3, 'heart_rate', 2, $4, $5, 1)`, id, part.ID, user, 2-rejected, rejected)
		if rejected > 0 {
			exec(`INSERT INTO rejected_points (user_id, ingestion_id, pointer, kind, part_id, reason, stream_seq, received_at)
				VALUES ($1, $2, '/data/metrics/0/data/1', 'heart_rate', $3, 'heart rate 999 out of range 20–300', 1, $4)`, user, id, part.ID, at)
		}
	}
	upload("a1", ana, base, "", 0)
	upload("a2", ana, base.Add(time.Minute), stream.OriginImport, 1)
	upload("a3", ana, base.Add(2*time.Minute), "", 0)
	upload("b1", bob, base.Add(3*time.Minute), "", 0)
	store := ingestions.NewStore(db.Pool)

	var ids []string
	cursor := ""
	for pages := 0; ; pages++ {
		if pages > 3 {
			t.Fatal("the pages do not end")
		}
		p, err := store.List(ctx, ana, 2, cursor)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range p.Ingestions {
			ids = append(ids, s.IngestionID)
			if !s.Complete || s.Parts != 1 || s.Headers["automation-name"] != "<b>"+s.IngestionID {
				t.Errorf("%s: %+v %+v", s.IngestionID, s, s.Status)
			}
			if s.IngestionID == "a2" {
				if s.Origin != stream.OriginImport || s.Rejected != 1 || len(s.Errors) != 1 || s.Errors[0].Pointer != "/data/metrics/0/data/1" ||
					s.Errors[0].Reason != "heart rate 999 out of range 20–300" {
					t.Errorf("a2: origin %q, rejected %d, errors %+v", s.Origin, s.Rejected, s.Errors)
				}
			} else if s.Origin != stream.OriginUpload || len(s.Errors) != 0 {
				t.Errorf("%s: origin %q, errors %+v", s.IngestionID, s.Origin, s.Errors)
			}
		}
		if p.Next == nil {
			break
		}
		cursor = *p.Next
	}
	if want := []string{"a3", "a2", "a1"}; !slices.Equal(ids, want) {
		t.Errorf("ana's uploads %v, want %v", ids, want)
	}
	if p, err := store.List(ctx, uuid.New(), 10, ""); err != nil || len(p.Ingestions) != 0 || p.Next != nil {
		t.Errorf("a user without uploads: %+v, %v", p, err)
	}
	if _, err := store.List(ctx, ana, 10, "bm90IGEgY3Vyc29y"); !errors.Is(err, ingestions.ErrBadCursor) {
		t.Errorf("a made-up cursor: %v, want ErrBadCursor", err)
	}
}
