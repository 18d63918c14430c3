package bench

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Storage is what a table's rows cost in PostgreSQL: heap (with its TOAST
// and free-space maps) and indexes over every partition, per row.
type Storage struct {
	Rows          int64   `json:"rows"`
	HeapBytes     int64   `json:"heap_bytes"`
	IndexBytes    int64   `json:"index_bytes"`
	BytesPerPoint float64 `json:"bytes_per_point"`
}

// storageTables are the tables whose cost per point the benchmark reports:
// what minute-level data (heart rate, and steps and energy as quantities)
// costs a user.
var storageTables = []string{"heart_rate_metrics", "quantity_metrics"}

// storage measures each table's bytes per stored point, over its
// partitions, as the benchmark's writers left them (rows from many devices
// interleaved, as a server with many users has them).
func storage(ctx context.Context, pool *pgxpool.Pool, tables []string) (map[string]*Storage, error) {
	out := map[string]*Storage{}
	for _, t := range tables {
		s := &Storage{}
		err := pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM `+pgx.Identifier{t}.Sanitize()+`),
			coalesce(sum(pg_table_size(i.inhrelid)), 0)::bigint, coalesce(sum(pg_indexes_size(i.inhrelid)), 0)::bigint
			FROM pg_inherits i WHERE i.inhparent = $1::regclass`, t).Scan(&s.Rows, &s.HeapBytes, &s.IndexBytes)
		if err != nil {
			return nil, fmt.Errorf("size of %s: %w", t, err)
		}
		if s.Rows > 0 {
			s.BytesPerPoint = float64(s.HeapBytes+s.IndexBytes) / float64(s.Rows)
		}
		out[t] = s
	}
	return out, nil
}
