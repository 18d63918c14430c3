package pgstore

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"
)

// Bookkeeping are the tables every upload touches besides its data.
type Bookkeeping struct {
	RawIngestions  *Table
	Ingestions     *Table
	IngestionParts *Table
	RejectedPoints *Table
	FailedParts    *Table
}

// NewBookkeeping describes the bookkeeping tables. All are insert-only: a
// redelivery lands on the same key and adds nothing.
func NewBookkeeping() Bookkeeping {
	return Bookkeeping{
		RawIngestions: MustTable(Table{
			Name:        "raw_ingestions",
			Columns:     []string{"received_at", "ingestion_id", "part_id", "user_id", "key_id", "kind", "stream_seq", "headers", "payload"},
			Key:         []string{"received_at", "ingestion_id", "part_id"},
			PartitionBy: "received_at",
			InsertOnly:  true,
		}),
		Ingestions: MustTable(Table{
			Name:       "ingestions",
			Columns:    []string{"ingestion_id", "user_id", "key_id", "received_at", "parts", "accepted", "rejected", "headers", "manifest", "stream_seq"},
			Key:        []string{"ingestion_id"},
			InsertOnly: true,
		}),
		IngestionParts: MustTable(Table{
			Name:       "ingestion_parts",
			Columns:    []string{"ingestion_id", "part_id", "user_id", "kind", "items", "written", "rejected", "stream_seq"},
			Key:        []string{"ingestion_id", "part_id"},
			InsertOnly: true,
		}),
		RejectedPoints: MustTable(Table{
			Name:       "rejected_points",
			Columns:    []string{"user_id", "ingestion_id", "pointer", "kind", "part_id", "reason", "item", "stream_seq", "received_at"},
			Key:        []string{"user_id", "ingestion_id", "pointer"},
			InsertOnly: true,
		}),
		FailedParts: MustTable(Table{
			Name:       "failed_parts",
			Columns:    []string{"consumer", "stream_seq", "ingestion_id", "part_id", "user_id", "kind", "deliveries", "class", "error"},
			Key:        []string{"consumer", "stream_seq"},
			InsertOnly: true,
		}),
	}
}

// HighestSeq is the highest stream sequence any stored row came from. Every
// message leaves a row in one of these (indexed) tables, data rows included
// through ingestion_parts, written in the same transaction, and a message
// given up in failed_parts.
func HighestSeq(ctx context.Context, pool *pgxpool.Pool) (uint64, error) {
	var n int64
	err := pool.QueryRow(ctx, `SELECT greatest(
		(SELECT max(stream_seq) FROM raw_ingestions),
		(SELECT max(stream_seq) FROM ingestions),
		(SELECT max(stream_seq) FROM ingestion_parts),
		(SELECT max(stream_seq) FROM rejected_points),
		(SELECT max(stream_seq) FROM failed_parts), 0)`).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("highest stored stream sequence: %w", err)
	}
	return uint64(n), nil
}
