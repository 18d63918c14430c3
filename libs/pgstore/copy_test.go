package pgstore_test

import (
	"context"
	"encoding/json"
	"math"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/healthexport/libs/pgstore"
	"github.com/healthexport/libs/testenv"
)

// TestDirectCopyStoresWhatPgxStores: rows written through the direct
// binary COPY encoding read back exactly as the same rows written through
// pgx's CopyFrom, for every Go type the writers put in rows, NULLs
// included; a value it does not know (a float32, a map) sends the batch
// through pgx, with the same result.
func TestDirectCopyStoresWhatPgxStores(t *testing.T) {
	db := testenv.NewDatabase(t)
	ctx := context.Background()
	const columns = `(k bigint PRIMARY KEY, u uuid, at timestamptz, s text, v varchar, f double precision,
		i2 smallint, i4 integer, i8 bigint, b bytea, ok boolean, j jsonb, stream_seq bigint NOT NULL DEFAULT 0)`
	for _, name := range []string{"direct", "via_pgx"} {
		if _, err := db.Pool.Exec(ctx, "CREATE TABLE "+name+" "+columns); err != nil {
			t.Fatal(err)
		}
	}
	cols := []string{"k", "u", "at", "s", "v", "f", "i2", "i4", "i8", "b", "ok", "j"}
	id := uuid.MustParse("0f6c2a9e-8b1d-4c3e-9a7f-2d5e8c1b4a60")
	at := time.Date(2025, 3, 1, 8, 0, 0, 123456789, time.FixedZone("", -8*3600))
	before2000 := time.Date(1912, 6, 23, 23, 59, 59, 999999999, time.UTC)
	tests := []struct {
		name string
		row  []any
	}{
		{"every type", []any{int64(1), pgtype.UUID{Bytes: id, Valid: true}, at, "Ana’s Apple Watch|iPhone", "v", 72.25,
			int16(-480), int32(7), int64(1 << 40), []byte{0, 1, 255}, true, `{"a": [1, "x"]}`}},
		{"NULLs", []any{int64(2), pgtype.UUID{}, nil, nil, nil, nil, nil, nil, nil, []byte(nil), nil, nil}},
		{"other Go types", []any{3, id, &at, "", "", math.Inf(-1), int16(32767), 123, 9, []byte{}, false, []byte(`{"b":null}`)}},
		{"before 2000, raw JSON", []any{int64(4), id, before2000, "tab\there", "é", -0.0, int16(0), int16(-5), int32(-9), []byte("z"), false, json.RawMessage(`[1]`)}},
		{"a nil time pointer", []any{int64(5), id, (*time.Time)(nil), "s", "v", 1e300, int16(1), int32(1), int64(-1), nil, true, "null"}},
		{"a float32 (pgx's)", []any{int64(6), id, at, "s", "v", float32(1.5), int16(1), int32(1), int64(1), nil, true, nil}},
		{"a map for JSON (pgx's)", []any{int64(7), id, at, "s", "v", 2.0, int16(1), int32(1), int64(1), nil, true, map[string]int{"n": 1}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			direct := pgstore.MustTable(pgstore.Table{Name: "direct", Columns: cols, Key: []string{"k"}, InsertOnly: true})
			err := pgx.BeginFunc(ctx, db.Pool, func(tx pgx.Tx) error {
				_, err := pgstore.Upsert(ctx, tx, direct, [][]any{append(append([]any{}, tc.row...), int64(0))})
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := db.Pool.CopyFrom(ctx, pgx.Identifier{"via_pgx"}, cols, pgx.CopyFromRows([][]any{tc.row})); err != nil {
				t.Fatal(err)
			}
			var got, want string
			if err := db.Pool.QueryRow(ctx, "SELECT (t.*)::text FROM direct t WHERE k = $1", tc.row[0]).Scan(&got); err != nil {
				t.Fatal(err)
			}
			if err := db.Pool.QueryRow(ctx, "SELECT (t.*)::text FROM via_pgx t WHERE k = $1", tc.row[0]).Scan(&want); err != nil {
				t.Fatal(err)
			}
			if got != want {
				t.Fatalf("direct COPY stored %s, pgx stored %s", got, want)
			}
		})
	}
}
