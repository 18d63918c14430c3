package importer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/healthexport/libs/ingestions"
	"github.com/healthexport/libs/kind"
)

// ErrNotFound is an import this user never sent.
var ErrNotFound = errors.New("no such import")

// Status is GET /v1/imports/{id}: where an import stands, as its importer
// recorded it, and what the writers did with it.
type Status struct {
	ImportID   string                 `json:"import_id"`
	State      string                 `json:"state"` // receiving, converting, done, failed
	File       string                 `json:"file"`
	Bytes      int64                  `json:"bytes"`
	ReceivedAt *time.Time             `json:"received_at"`
	UpdatedAt  *time.Time             `json:"updated_at"`
	Records    int64                  `json:"records_read"`
	Parts      int64                  `json:"parts_published"`
	Items      map[string]int64       `json:"items"`
	Skipped    map[string]int64       `json:"skipped"`
	Rows       int64                  `json:"rows_written"` // items the writers stored
	Rejected   int64                  `json:"rejected"`
	Errors     []ingestions.ItemError `json:"errors"`
	// Written is true once every part of a done import is archived and
	// written: its data is all in the tables.
	Written    bool    `json:"written"`
	Reason     *string `json:"reason"`
	XML        string  `json:"xml,omitempty"`
	ExportDate string  `json:"export_date,omitempty"`
}

// StatusStore reads imports' status from PostgreSQL.
type StatusStore struct {
	pool       *pgxpool.Pool
	ingestions *ingestions.Store
	queued     func(ctx context.Context, userID uuid.UUID, importID string) (bool, error)
}

// NewStatusStore reads statuses; queued (may be nil) says whether an
// import not recorded yet has its job on the stream (it is receiving).
func NewStatusStore(pool *pgxpool.Pool, queued func(ctx context.Context, userID uuid.UUID, importID string) (bool, error)) *StatusStore {
	return &StatusStore{pool: pool, ingestions: ingestions.NewStore(pool), queued: queued}
}

// Get returns one of the user's imports.
func (s *StatusStore) Get(ctx context.Context, userID uuid.UUID, importID string) (*Status, error) {
	st := &Status{ImportID: importID, Items: map[string]int64{}, Skipped: map[string]int64{}, Errors: []ingestions.ItemError{}}
	var (
		details               []byte
		bytes, records, parts *int64
	)
	err := s.pool.QueryRow(ctx, `SELECT state, file_name, file_bytes, records_read, parts_published, reason, received_at, updated_at, details
		FROM imports WHERE user_id = $1 AND import_id = $2`, userID, importID).
		Scan(&st.State, &st.File, &bytes, &records, &parts, &st.Reason, &st.ReceivedAt, &st.UpdatedAt, &details)
	if errors.Is(err, pgx.ErrNoRows) {
		if s.queued != nil {
			if ok, qerr := s.queued(ctx, userID, importID); qerr == nil && ok {
				st.State = kind.ImportReceiving
				return st, nil
			}
		}
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("import %s: %w", importID, err)
	}
	st.Bytes, st.Records, st.Parts = deref(bytes), deref(records), deref(parts)
	if len(details) > 0 {
		var d struct {
			Items      map[string]int64 `json:"items"`
			Skipped    map[string]int64 `json:"skipped"`
			XML        string           `json:"xml"`
			ExportDate string           `json:"export_date"`
		}
		if err := json.Unmarshal(details, &d); err != nil {
			return nil, fmt.Errorf("import %s: details: %w", importID, err)
		}
		if d.Items != nil {
			st.Items = d.Items
		}
		if d.Skipped != nil {
			st.Skipped = d.Skipped
		}
		st.XML, st.ExportDate = d.XML, d.ExportDate
	}
	// The upload's record first, then the parts' sums: once it says
	// complete every part has committed, so sums read after it count them
	// all (read the other way round, a part committing in between gave
	// written: true beside a short rejected count).
	ing, err := s.ingestions.Get(ctx, userID, importID)
	switch {
	case errors.Is(err, ingestions.ErrNotFound):
	case err != nil:
		return nil, err
	default:
		st.Errors = ing.Errors
		st.Written = st.State == kind.ImportDone && ing.Complete
	}
	// The import's own records are bookkeeping, not rows; its rejections
	// (elements it could not read) are rejections.
	if err := s.pool.QueryRow(ctx, `SELECT coalesce(sum(written) FILTER (WHERE kind <> $3), 0), coalesce(sum(rejected), 0)
		FROM ingestion_parts WHERE user_id = $1 AND ingestion_id = $2`, userID, importID, kindImport).Scan(&st.Rows, &st.Rejected); err != nil {
		return nil, fmt.Errorf("import %s: written parts: %w", importID, err)
	}
	return st, nil
}

func deref(p *int64) int64 {
	if p == nil {
		return 0
	}
	return *p
}
