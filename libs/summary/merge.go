package summary

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/healthexport/libs/kind"
	"github.com/healthexport/libs/pgstore"
)

// Add is what new rows add to one day's summary: their count, sum, least
// and greatest value, and what decides whether the day can take them
// without being recomputed (units, origin, sources).
type Add struct {
	Units   string
	NoUnits bool
	Origin  int16
	Sources []string
	N       int64
	Sum     float64
	Lo, Hi  float64
	// Mixed: the rows differ in units or origin, or hold a value Sample
	// could not read; the day is recomputed.
	Mixed bool
}

// Adds are the Adds of a batch, by day.
type Adds map[Key]*Add

// CollectNew is Collect for a row that did not exist before (written by a
// COPY that met no existing key): it also adds what the row adds to its
// day, for Merge.
func CollectNew(k *kind.Kind, t *pgstore.Table, row []any, keys Keys, adds Adds) {
	Collect(k, t, row, keys)
	if k.Summary == nil || k.Summary.Samples == nil {
		return
	}
	smp, ok := k.Summary.Samples.RowSample(t, row)
	if !ok {
		return
	}
	u, ok := row[0].(pgtype.UUID)
	if !ok {
		return
	}
	key := Key{User: u.Bytes, Metric: smp.Metric, Day: smp.Day}
	a := adds[key]
	if a == nil {
		adds[key] = &Add{Units: smp.Units, NoUnits: smp.NoUnits, Origin: smp.Origin, Sources: []string{smp.Source},
			N: 1, Sum: smp.V, Lo: smp.Lo, Hi: smp.Hi, Mixed: smp.Unread}
		return
	}
	a.Mixed = a.Mixed || smp.Unread || a.Units != smp.Units || a.NoUnits != smp.NoUnits || a.Origin != smp.Origin
	if !slices.Contains(a.Sources, smp.Source) {
		a.Sources = append(a.Sources, smp.Source)
	}
	a.N++
	a.Sum += smp.V
	a.Lo = min(a.Lo, smp.Lo)
	a.Hi = max(a.Hi, smp.Hi)
}

// mergeSQL adds new rows to days whose summary stays what the plain path
// of samplesSQL makes of it (one units, one origin and, for a total, one
// source), and returns the days it changed: a day with nothing counted
// yet takes the rows of one source; a day with a sum (vsum) takes rows of
// its origin and units and, for a total, of its one source, or, for
// min/avg/max, of sources it already has. Every other day is left for the
// caller to recompute. The rows are locked already (lock).
//
//	$1 uuid[], $2 text[], $3 date[]  the keys
//	$4 text[] units, $5 int2[] origin, $6 float8[] sum, $7 float8[] least,
//	$8 float8[] greatest, $9 int8[] count, $10 text[] sources (JSON arrays)
//	$11 text[]                       the cumulative metrics
const mergeSQL = `
WITH k AS (
  SELECT k.*, k.metric = ANY($11) AS cum,
         ARRAY(SELECT jsonb_array_elements_text(k.src::jsonb)) AS sources
  FROM unnest($1::uuid[], $2::text[], $3::date[], $4::text[], $5::int2[], $6::float8[], $7::float8[], $8::float8[],
              $9::int8[], $10::text[]) AS k(user_id, metric, day, units, origin, vsum, lo, hi, n, src)
), m AS (
  SELECT d.user_id, d.metric, d.day, k.cum, k.units, k.origin,
         CASE WHEN d.count = 0 THEN k.vsum ELSE d.vsum + k.vsum END AS vsum,
         CASE WHEN d.count = 0 THEN k.lo ELSE least(d.min, k.lo) END AS lo,
         CASE WHEN d.count = 0 THEN k.hi ELSE greatest(d.max, k.hi) END AS hi,
         d.count + k.n AS n,
         CASE WHEN d.count = 0 THEN k.sources ELSE d.sources END AS sources
  FROM daily_summaries d JOIN k USING (user_id, metric, day)
  WHERE CASE WHEN d.count = 0 THEN d.sources = '{}' AND cardinality(k.sources) = 1
             ELSE d.vsum IS NOT NULL AND d.origin = k.origin AND d.units IS NOT DISTINCT FROM k.units
                  AND CASE WHEN k.cum THEN d.sources = k.sources ELSE d.sources @> k.sources END
        END
)
UPDATE daily_summaries d SET units = m.units, origin = m.origin, vsum = m.vsum, count = m.n,
       total = CASE WHEN m.cum THEN round(m.vsum::numeric, 6)::double precision END,
       min = CASE WHEN NOT m.cum THEN m.lo END,
       avg = CASE WHEN NOT m.cum THEN round((m.vsum / m.n)::numeric, 6)::double precision END,
       max = CASE WHEN NOT m.cum THEN m.hi END,
       sources = m.sources
FROM m
WHERE d.user_id = m.user_id AND d.metric = m.metric AND d.day = m.day
RETURNING d.user_id, d.metric, d.day`

// Merge brings keys up to date after a batch whose rows were all new
// (adds, from CollectNew): it locks the keys as Refresh does, adds the new
// rows to the days that can take them without reading their rows again
// (mergeSQL), and recomputes the others. merged is how many days took
// their rows.
func (m *Maintainer) Merge(ctx context.Context, tx pgx.Tx, keys Keys, adds Adds) (merged int, err error) {
	locked, err := m.lock(ctx, tx, keys, false)
	if err != nil {
		return 0, err
	}
	var (
		users          []pgtype.UUID
		metrics, srcs  []string
		unitsOK        []pgtype.Text
		days           []time.Time
		origins        []int16
		sums, los, his []float64
		ns             []int64
	)
	for s, ks := range locked {
		if s.kind.Summary.Samples == nil {
			continue
		}
		for k := range ks {
			a := adds[k]
			if a == nil || a.Mixed || (len(a.Sources) > 1 && slices.Contains(m.cumulative, k.Metric)) {
				continue
			}
			src, err := json.Marshal(a.Sources)
			if err != nil {
				return 0, fmt.Errorf("summaries: merge: %w", err)
			}
			users = append(users, pgtype.UUID{Bytes: k.User, Valid: true})
			metrics = append(metrics, k.Metric)
			days = append(days, k.Day.Time())
			unitsOK = append(unitsOK, pgtype.Text{String: a.Units, Valid: !a.NoUnits})
			origins = append(origins, a.Origin)
			sums, los, his, ns = append(sums, a.Sum), append(los, a.Lo), append(his, a.Hi), append(ns, a.N)
			srcs = append(srcs, string(src))
		}
	}
	if len(users) > 0 {
		rows, err := tx.Query(ctx, mergeSQL, users, metrics, days, unitsOK, origins, sums, los, his, ns, srcs, m.cumulative)
		if err != nil {
			return 0, fmt.Errorf("summaries: merge: %w", err)
		}
		var (
			u      pgtype.UUID
			metric string
			day    time.Time
		)
		_, err = pgx.ForEachRow(rows, []any{&u, &metric, &day}, func() error {
			if s := m.of(metric); s != nil {
				delete(locked[s], Key{User: u.Bytes, Metric: metric, Day: kind.DayOf(day)})
			}
			merged++
			return nil
		})
		if err != nil {
			return 0, fmt.Errorf("summaries: merge: %w", err)
		}
	}
	return merged, m.recompute(ctx, tx, locked)
}
