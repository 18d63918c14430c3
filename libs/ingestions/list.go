package ingestions

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/healthexport/libs/stream"
)

// ErrBadCursor is a cursor this store did not make.
var ErrBadCursor = errors.New("bad cursor")

// Summary is one upload (or import) in the list of a user's latest ones:
// what the edge accepted, and its status now.
type Summary struct {
	IngestionID string            `json:"ingestion_id"`
	Origin      string            `json:"origin"`
	BodyBytes   int64             `json:"body_bytes"`
	Accepted    map[string]int    `json:"accepted"`
	Rejected    int               `json:"rejected"`
	Headers     map[string]string `json:"headers"`
	*Status
}

// Page is a page of summaries, newest first; Next is the cursor of the
// next (older) page, nil after the oldest.
type Page struct {
	Ingestions []Summary `json:"ingestions"`
	Next       *string   `json:"next"`
}

// listCursor is where a page ended: the last upload's receipt and id
// (the list's keyset order, newest first).
type listCursor struct {
	ReceivedAt time.Time `json:"t"`
	ID         string    `json:"id"`
}

// List returns the user's latest uploads, newest first, at most limit, after
// cursor (the Next of the previous page, "" for the newest). Each carries
// its status, as Get gives it.
func (s *Store) List(ctx context.Context, userID uuid.UUID, limit int, cursor string) (*Page, error) {
	after := listCursor{ReceivedAt: time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)}
	if cursor != "" {
		b, err := base64.RawURLEncoding.DecodeString(cursor)
		if err != nil || json.Unmarshal(b, &after) != nil || after.ID == "" {
			return nil, ErrBadCursor
		}
	}
	// ingestions_user_idx (user_id, received_at) walks them newest first.
	rows, err := s.pool.Query(ctx, `SELECT ingestion_id, manifest, received_at FROM ingestions
		WHERE user_id = $1 AND (received_at, ingestion_id) < ($2, $3)
		ORDER BY received_at DESC, ingestion_id DESC LIMIT $4`, userID, after.ReceivedAt, after.ID, limit+1)
	if err != nil {
		return nil, fmt.Errorf("list ingestions: %w", err)
	}
	type row struct {
		m          *stream.Manifest
		receivedAt time.Time
	}
	var list []row
	for rows.Next() {
		var (
			id  string
			raw []byte
			r   row
		)
		if err := rows.Scan(&id, &raw, &r.receivedAt); err != nil {
			rows.Close()
			return nil, fmt.Errorf("list ingestions: %w", err)
		}
		if r.m, err = manifest(id, raw); err != nil {
			rows.Close()
			return nil, err
		}
		r.m.IngestionID = id
		list = append(list, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list ingestions: %w", err)
	}
	page := &Page{Ingestions: []Summary{}}
	if len(list) > limit {
		list = list[:limit]
		last := list[limit-1]
		b, _ := json.Marshal(listCursor{ReceivedAt: last.receivedAt, ID: last.m.IngestionID}) // plain struct: cannot fail
		next := base64.RawURLEncoding.EncodeToString(b)
		page.Next = &next
	}
	for _, r := range list {
		st, err := s.status(ctx, userID, r.m, r.receivedAt)
		if err != nil {
			return nil, err
		}
		sum := Summary{IngestionID: r.m.IngestionID, Origin: r.m.Origin, BodyBytes: r.m.BodyBytes,
			Accepted: r.m.Accepted, Rejected: r.m.Rejected, Headers: r.m.Headers, Status: st}
		if sum.Origin == "" {
			sum.Origin = stream.OriginUpload
		}
		if sum.Accepted == nil {
			sum.Accepted = map[string]int{}
		}
		if sum.Headers == nil {
			sum.Headers = map[string]string{}
		}
		page.Ingestions = append(page.Ingestions, sum)
	}
	return page, nil
}
