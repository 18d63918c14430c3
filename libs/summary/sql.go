package summary

import (
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/healthexport/libs/kind"
)

// The statements below share their parameters:
//
//	$1 uuid[], $2 text[], $3 date[]  the (user, metric, day) keys, locked
//	$4 text[]                        the cumulative metrics (kind registry)
//	$5 text[]                        the default source priority
//
// and end in the same UPDATE of the locked daily_summaries rows: a key
// without data is left with count 0 and no sources. A row is only written
// when something changed, so replays and refreshes of unchanged days write
// nothing.

// keysCTE are the keys, and per user and metric the first and last day.
const keysCTE = `keys AS (
  SELECT DISTINCT k.user_id, k.metric, k.day FROM unnest($1::uuid[], $2::text[], $3::date[]) AS k(user_id, metric, day)
), bounds AS (
  SELECT user_id, metric, min(day) AS lo, max(day) AS hi FROM keys GROUP BY user_id, metric
), params AS (
  SELECT $4::text[] AS cumulative -- typed even where a statement does not use it
)`

// rankCTE ranks every source of the rows in "cand": its class is the
// position of the first priority fragment found (case-insensitively) in
// any of its members ("a|b" is a source the app joined), 1000000 when none
// matches (the other apps); a source of more members is HealthKit's own
// merged statistic over them, so it goes first within its class; then by
// name, so the choice is always the same.
const rankCTE = `srcs AS (
  SELECT DISTINCT user_id, source FROM cand
), ranked_src AS (
  SELECT s.user_id, s.source,
         coalesce((SELECT min(pp.i) FROM unnest(string_to_array(lower(s.source), '|')) AS m(name)
                   CROSS JOIN unnest(coalesce(sp.priority, $5::text[])) WITH ORDINALITY AS pp(pat, i)
                   WHERE pp.pat <> '' AND strpos(m.name, lower(pp.pat)) > 0), 1000000) AS class,
         cardinality(string_to_array(s.source, '|')) AS members
  FROM srcs s LEFT JOIN source_priorities sp ON sp.user_id = s.user_id
)`

// updateSQL writes the computed days ("agg") into the locked rows.
const updateSQL = `
UPDATE daily_summaries d SET units = a.units, total = a.total, min = a.min, avg = a.avg, max = a.max,
       count = coalesce(a.n, 0), asleep_hours = a.asleep_hours, core_hours = a.core_hours,
       deep_hours = a.deep_hours, rem_hours = a.rem_hours, awake_hours = a.awake_hours,
       in_bed_hours = a.in_bed_hours, sources = coalesce(a.sources, '{}')
FROM keys k LEFT JOIN agg a USING (user_id, metric, day)
WHERE d.user_id = k.user_id AND d.metric = k.metric AND d.day = k.day
  AND (d.units, d.total, d.min, d.avg, d.max, d.count, d.asleep_hours, d.core_hours, d.deep_hours,
       d.rem_hours, d.awake_hours, d.in_bed_hours, d.sources)
      IS DISTINCT FROM
      (a.units, a.total, a.min, a.avg, a.max, coalesce(a.n, 0), a.asleep_hours, a.core_hours, a.deep_hours,
       a.rem_hours, a.awake_hours, a.in_bed_hours, coalesce(a.sources, '{}'))`

// dayMargin widens the rows read around a day: an offset moves a local
// day by at most ±23:59 from UTC.
const dayMargin = "interval '1 day'"

// round6 keeps sums and averages to 6 decimals, so the same rows summed in
// another order store the same value (a replay changes nothing).
func round6(expr string) string { return "round((" + expr + ")::numeric, 6)::double precision" }

func ident(s string) string { return pgx.Identifier{s}.Sanitize() }

// samplesSQL recomputes the keys of a samples table.
//
// The moment a row covers is its interval: from its time to EndKey in
// Extra when the row has one (a sample of the Health app's export), else
// the minute from its time (the app's aggregation bucket, named by its
// start; at Hours or Days aggregation the sources' buckets share their
// start and compete as one moment).
//
// Cumulative: rows rank by origin (uploads, then imports), then by their
// source's rank; a row counts for the part of its interval that no
// better-ranked row of the day covers (all of it, none of it, or the
// uncovered share of its value). Discrete: every source counts, but an
// import row is left out where an upload covers its moment. Either way
// only the units of the best-ranked row are summarised.
func samplesSQL(s *kind.Samples) string {
	t := "r." + ident(s.Time)
	metric := "b.metric"
	join := ""
	if s.MetricColumn != "" {
		metric = "r." + ident(s.MetricColumn)
		join = " AND r." + ident(s.MetricColumn) + " = b.metric"
	}
	value := "r." + ident(s.Value)
	lo, hi := value, value
	if s.Min != "" {
		value = fmt.Sprintf("coalesce(r.%s, r.%s, r.%s)", ident(s.Value), ident(s.Min), ident(s.Max))
		lo = fmt.Sprintf("coalesce(r.%s, r.%s, r.%s)", ident(s.Min), ident(s.Value), ident(s.Max))
		hi = fmt.Sprintf("coalesce(r.%s, r.%s, r.%s)", ident(s.Max), ident(s.Value), ident(s.Min))
	}
	units := "'" + strings.ReplaceAll(s.FixedUnits, "'", "''") + "'::text"
	if s.Units != "" {
		units = "r." + ident(s.Units)
	}
	end := t + " + interval '1 minute'"
	if s.Extra != "" && s.EndKey != "" {
		// Only the export's own format is read ("2026-11-01 08:05:00
		// +0100"): anything else is a minute, never an error.
		e := fmt.Sprintf("(r.%s->>'%s')", ident(s.Extra), s.EndKey)
		end = fmt.Sprintf(`CASE WHEN %[1]s ~ '^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d{4}$' AND %[1]s::timestamptz > %[2]s
			THEN %[1]s::timestamptz ELSE %[3]s END`, e, t, end)
	}
	return fmt.Sprintf(`WITH %[1]s, raw AS (
  SELECT b.user_id, %[2]s AS metric,
         ((%[3]s AT TIME ZONE 'UTC') + make_interval(mins => coalesce(r.%[4]s, 0)::int))::date AS day,
         r.source, r.origin, %[5]s AS v, %[6]s AS lo, %[7]s AS hi, %[8]s AS units,
         tstzrange(%[3]s, %[9]s) AS iv
  FROM bounds b JOIN %[10]s r ON r.user_id = b.user_id%[11]s
   AND %[3]s >= (b.lo::timestamp AT TIME ZONE 'UTC') - %[12]s
   AND %[3]s < ((b.hi + 1)::timestamp AT TIME ZONE 'UTC') + %[12]s
  WHERE %[5]s IS NOT NULL
), cand AS (
  SELECT raw.* FROM raw JOIN keys USING (user_id, metric, day)
), %[13]s, ranked AS (
  SELECT cand.*, rs.class, rs.members,
         dense_rank() OVER (PARTITION BY cand.user_id, cand.metric, cand.day
                            ORDER BY cand.origin, rs.class, rs.members DESC, cand.source) AS rank
  FROM cand JOIN ranked_src rs USING (user_id, source)
), day_units AS (
  SELECT DISTINCT ON (user_id, metric, day) user_id, metric, day, units
  FROM ranked ORDER BY user_id, metric, day, rank, units
), r AS (
  SELECT ranked.* FROM ranked JOIN day_units u USING (user_id, metric, day)
  WHERE ranked.units IS NOT DISTINCT FROM u.units
), contested AS (
  -- the days where some rows may not count: several ranks (cumulative),
  -- uploads and imports (discrete); the others need no intervals
  SELECT user_id, metric, day FROM r GROUP BY user_id, metric, day
  HAVING CASE WHEN metric = ANY($4) THEN min(rank) <> max(rank) ELSE min(origin) <> max(origin) END
), levels AS (
  SELECT user_id, metric, day, rank, origin, range_agg(iv) AS m FROM r JOIN contested USING (user_id, metric, day)
  GROUP BY user_id, metric, day, rank, origin
), cover AS (
  -- per rank, what the better ranks cover (cumulative), or what the
  -- uploads cover (discrete: only imports are measured against it)
  SELECT a.user_id, a.metric, a.day, a.rank, range_agg(b.m) AS cov
  FROM levels a JOIN levels b ON b.user_id = a.user_id AND b.metric = a.metric AND b.day = a.day
   AND CASE WHEN a.metric = ANY($4) THEN b.rank < a.rank ELSE b.origin < a.origin END
  GROUP BY a.user_id, a.metric, a.day, a.rank
), part AS (
  SELECT r.user_id, r.metric, r.day, r.rank, r.source, r.units, r.v, r.lo, r.hi,
         CASE WHEN c.cov IS NULL OR NOT (r.iv && c.cov) THEN 1.0
              WHEN c.cov @> r.iv OR NOT (r.metric = ANY($4)) THEN 0.0
              ELSE (SELECT coalesce(sum(extract(epoch FROM upper(x) - lower(x))), 0) FROM unnest(tstzmultirange(r.iv) - c.cov) AS x)
                   / extract(epoch FROM upper(r.iv) - lower(r.iv))
         END AS f
  FROM r LEFT JOIN cover c USING (user_id, metric, day, rank)
), by_source AS (
  SELECT user_id, metric, day, source, min(rank) AS rank, min(units) AS units,
         sum(v * f) AS total, min(lo) FILTER (WHERE f > 0) AS lo, sum(v) FILTER (WHERE f > 0) AS vsum,
         max(hi) FILTER (WHERE f > 0) AS hi, count(*) FILTER (WHERE f > 0) AS n
  FROM part GROUP BY user_id, metric, day, source
), agg AS (
  SELECT user_id, metric, day, min(units) AS units,
         CASE WHEN metric = ANY($4) THEN %[14]s END AS total,
         CASE WHEN NOT metric = ANY($4) THEN min(lo) END AS min,
         CASE WHEN NOT metric = ANY($4) THEN %[15]s END AS avg,
         CASE WHEN NOT metric = ANY($4) THEN max(hi) END AS max,
         sum(n)::int AS n, array_agg(source ORDER BY rank) FILTER (WHERE n > 0) AS sources,
         NULL::double precision AS asleep_hours, NULL::double precision AS core_hours,
         NULL::double precision AS deep_hours, NULL::double precision AS rem_hours,
         NULL::double precision AS awake_hours, NULL::double precision AS in_bed_hours
  FROM by_source GROUP BY user_id, metric, day
)`+updateSQL,
		keysCTE, metric, t, ident(s.Offset), value, lo, hi, units, end,
		ident(s.Table.Name), join, dayMargin, rankCTE,
		round6("sum(total)"), round6("sum(vsum) / nullif(sum(n), 0)"))
}

// nightsSQL recomputes sleep's keys. A night's candidates are each
// source's segments (origin by origin) and each source's sessions; the best
// one by the source's rank, then uploads before imports, then sessions
// (the app's own totals) before segments is the night's one source. Naps
// add to their day's night.
func nightsSQL(n *kind.Nights) string {
	return fmt.Sprintf(`WITH %[1]s, seg AS (
  SELECT b.user_id, b.metric,
         ((s.ended_at AT TIME ZONE 'UTC') + make_interval(mins => coalesce(s.recorded_offset_min, 0)::int)
           + interval '%[4]d seconds')::date AS day,
         s.source, s.origin, 1 AS shape, lower(s.stage) AS stage,
         extract(epoch FROM s.ended_at - s.started_at) / 3600 AS hours
  FROM bounds b JOIN %[2]s s ON s.user_id = b.user_id
   AND s.started_at >= (b.lo::timestamp AT TIME ZONE 'UTC') - interval '3 days'
   AND s.started_at < ((b.hi + 1)::timestamp AT TIME ZONE 'UTC') + interval '1 day'
  WHERE b.metric = '%[5]s'
), nights AS (
  SELECT user_id, metric, day, source, origin, shape,
         sum(hours) FILTER (WHERE stage = 'core') AS core, sum(hours) FILTER (WHERE stage = 'deep') AS deep,
         sum(hours) FILTER (WHERE stage = 'rem') AS rem, sum(hours) FILTER (WHERE stage = 'awake') AS awake,
         sum(hours) FILTER (WHERE stage = 'inbed') AS in_bed,
         sum(hours) FILTER (WHERE stage IN ('core', 'deep', 'rem', 'asleep', 'asleepunspecified')) AS asleep,
         count(*) AS n
  FROM seg JOIN keys USING (user_id, metric, day) GROUP BY user_id, metric, day, source, origin, shape
  UNION ALL
  SELECT b.user_id, b.metric, s.sleep_date, s.source, s.origin, 0,
         sum(s.core_hours), sum(s.deep_hours), sum(s.rem_hours), sum(s.awake_hours), sum(s.in_bed_hours),
         sum(coalesce(s.total_sleep_hours,
             coalesce(s.asleep_hours, 0) + coalesce(s.core_hours, 0) + coalesce(s.deep_hours, 0) + coalesce(s.rem_hours, 0))),
         count(*)
  FROM bounds b JOIN %[3]s s ON s.user_id = b.user_id AND s.sleep_date BETWEEN b.lo AND b.hi
  JOIN keys k ON k.user_id = b.user_id AND k.metric = b.metric AND k.day = s.sleep_date
  WHERE b.metric = '%[5]s'
  GROUP BY b.user_id, b.metric, s.sleep_date, s.source, s.origin
), cand AS (
  SELECT * FROM nights
), %[6]s, best AS (
  SELECT DISTINCT ON (n.user_id, n.metric, n.day) n.*
  FROM nights n JOIN ranked_src rs USING (user_id, source)
  ORDER BY n.user_id, n.metric, n.day, rs.class, n.origin, n.shape, rs.members DESC, n.source
), agg AS (
  SELECT user_id, metric, day, 'hr'::text AS units, NULL::double precision AS total,
         NULL::double precision AS min, NULL::double precision AS avg, NULL::double precision AS max,
         n::int AS n, ARRAY[source] AS sources,
         %[7]s AS asleep_hours, %[8]s AS core_hours, %[9]s AS deep_hours, %[10]s AS rem_hours,
         %[11]s AS awake_hours, %[12]s AS in_bed_hours
  FROM best
)`+updateSQL,
		keysCTE, ident(n.Segments.Name), ident(n.Sessions.Name), int((24*3600)-kind.NightCutoff.Seconds()), kind.SleepMetric, rankCTE,
		round6("asleep"), round6("core"), round6("deep"), round6("rem"), round6("awake"), round6("in_bed"))
}
