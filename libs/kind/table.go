package kind

import (
	"slices"

	"github.com/jackc/pgx/v5/pgtype"

	"github.com/healthexport/libs/pgstore"
)

// dataTable describes a kind's table: user_id first, then the key columns
// after it and the value columns, then how and by which message the row
// was written (origin, sequence). Decoders supply key and value columns
// only (see Sink.Row). The sequence names the message, and
// ingestion_parts maps it to its ingestion, so rows do not repeat the
// ingestion's id (65 bytes of text a row).
func dataTable(name, partitionBy string, key, values []string) *pgstore.Table {
	cols := slices.Concat([]string{"user_id"}, key, values, []string{pgstore.OriginColumn, pgstore.SeqColumn})
	return pgstore.MustTable(pgstore.Table{
		Name:        name,
		Columns:     cols,
		Key:         slices.Concat([]string{"user_id"}, key),
		PartitionBy: partitionBy,
	})
}

// FullRow lays out a decoder's values as a row of t for the generic upsert:
// user, values, origin, sequence, then the ordinal used for
// dedupe.
//
// The user goes in as pgtype.UUID: uuid.UUID is a driver.Valuer, which pgx
// encodes through a slow fallback path for every row.
func FullRow(env *Env, ordinal int64, values []any) []any {
	return AppendFullRow(make([]any, 0, FullRowLen(values)), env, ordinal, values)
}

// FullRowLen is the length of the row FullRow makes of values.
func FullRowLen(values []any) int { return len(values) + 4 }

// AppendFullRow is FullRow into row's spare capacity (a writer's slab of
// rows, one allocation per part rather than per point).
func AppendFullRow(row []any, env *Env, ordinal int64, values []any) []any {
	if env.boxed == nil {
		env.boxed = &boxedEnv{user: pgtype.UUID{Bytes: env.UserID, Valid: true}, origin: env.Origin, seq: env.StreamSeq}
	}
	row = append(row, env.boxed.user)
	row = append(row, values...)
	return append(row, env.boxed.origin, env.boxed.seq, ordinal)
}
