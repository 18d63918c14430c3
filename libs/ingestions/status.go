// Package ingestions answers what happened to an upload: whether every
// part of its manifest was archived and written, and what was rejected.
package ingestions

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/healthexport/libs/stream"
)

// ErrNotFound is an upload this user never made, or one not archived yet.
var ErrNotFound = errors.New("no such ingestion")

// KindStatus is what the writers did with one kind's items.
type KindStatus struct {
	Written  int `json:"written"`
	Rejected int `json:"rejected"`
}

// ItemError is one rejected item.
type ItemError struct {
	Pointer string `json:"pointer"`
	Reason  string `json:"reason"`
}

// Status is GET /v1/ingestions/{id}. Failed are parts a consumer gave up
// on (failed_parts) that are still not both archived and written: the
// upload will not complete until an operator replays them, so a client
// can stop waiting.
type Status struct {
	Complete   bool                  `json:"complete"`
	Parts      int                   `json:"parts"`
	Archived   int                   `json:"archived"`
	Written    int                   `json:"written"` // parts the writers have committed
	Failed     int                   `json:"failed"`
	Kinds      map[string]KindStatus `json:"kinds"`
	Errors     []ItemError           `json:"errors"`
	ReceivedAt time.Time             `json:"received_at"`
}

// maxErrors is how many rejected items a status lists.
const maxErrors = 20

// Store reads statuses from PostgreSQL.
type Store struct{ pool *pgxpool.Pool }

// NewStore returns a status reader.
func NewStore(pool *pgxpool.Pool) *Store { return &Store{pool: pool} }

// Get returns the status of one of the user's uploads. It is complete once
// every part the manifest lists is archived and written.
func (s *Store) Get(ctx context.Context, userID uuid.UUID, ingestionID string) (*Status, error) {
	var (
		raw        []byte
		receivedAt time.Time
	)
	err := s.pool.QueryRow(ctx, `SELECT manifest, received_at FROM ingestions WHERE ingestion_id = $1 AND user_id = $2`,
		ingestionID, userID).Scan(&raw, &receivedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("ingestion %s: %w", ingestionID, err)
	}
	m, err := manifest(ingestionID, raw)
	if err != nil {
		return nil, err
	}
	m.IngestionID = ingestionID
	return s.status(ctx, userID, m, receivedAt)
}

func manifest(ingestionID string, raw []byte) (*stream.Manifest, error) {
	var m stream.Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("ingestion %s: manifest: %w", ingestionID, err)
	}
	return &m, nil
}

// status reads how far the writers and the archiver got with the parts m
// lists.
func (s *Store) status(ctx context.Context, userID uuid.UUID, m *stream.Manifest, receivedAt time.Time) (*Status, error) {
	ingestionID := m.IngestionID
	st := &Status{Kinds: map[string]KindStatus{}, Errors: []ItemError{}, ReceivedAt: receivedAt}
	ids := make([]string, len(m.Parts))
	for i, p := range m.Parts {
		ids[i] = p.ID
	}
	st.Parts = len(ids)
	// received_at pins raw_ingestions to one partition.
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM raw_ingestions
		WHERE received_at = $1 AND ingestion_id = $2 AND part_id = ANY($3)`, m.ReceivedAt, ingestionID, ids).Scan(&st.Archived); err != nil {
		return nil, fmt.Errorf("ingestion %s: archived parts: %w", ingestionID, err)
	}
	rows, err := s.pool.Query(ctx, `SELECT kind, count(*), sum(written), sum(rejected) FROM ingestion_parts
		WHERE ingestion_id = $1 AND user_id = $2 AND part_id = ANY($3) GROUP BY kind`, ingestionID, userID, ids)
	if err != nil {
		return nil, fmt.Errorf("ingestion %s: written parts: %w", ingestionID, err)
	}
	for rows.Next() {
		var (
			k              string
			parts          int
			written, rejct int
		)
		if err := rows.Scan(&k, &parts, &written, &rejct); err != nil {
			rows.Close()
			return nil, err
		}
		st.Written += parts
		st.Kinds[k] = KindStatus{Written: written, Rejected: rejct}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	errs, err := s.pool.Query(ctx, `SELECT pointer, reason FROM rejected_points
		WHERE user_id = $1 AND ingestion_id = $2 ORDER BY pointer LIMIT $3`, userID, ingestionID, maxErrors)
	if err != nil {
		return nil, fmt.Errorf("ingestion %s: rejections: %w", ingestionID, err)
	}
	list, err := pgx.CollectRows(errs, pgx.RowToStructByPos[ItemError])
	if err != nil {
		return nil, fmt.Errorf("ingestion %s: rejections: %w", ingestionID, err)
	}
	st.Errors = append(st.Errors, list...)
	if err := s.pool.QueryRow(ctx, `SELECT count(DISTINCT f.part_id) FROM failed_parts f
		WHERE f.ingestion_id = $1 AND f.user_id = $2 AND f.part_id = ANY($3)
		  AND (NOT EXISTS (SELECT 1 FROM raw_ingestions r WHERE r.received_at = $4 AND r.ingestion_id = f.ingestion_id AND r.part_id = f.part_id)
		    OR NOT EXISTS (SELECT 1 FROM ingestion_parts p WHERE p.ingestion_id = f.ingestion_id AND p.part_id = f.part_id))`,
		ingestionID, userID, ids, m.ReceivedAt).Scan(&st.Failed); err != nil {
		return nil, fmt.Errorf("ingestion %s: given-up parts: %w", ingestionID, err)
	}
	st.Complete = st.Archived == st.Parts && st.Written == st.Parts
	return st, nil
}
