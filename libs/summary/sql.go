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
const keysCTE = `keys AS MATERIALIZED (
  SELECT DISTINCT k.user_id, k.metric, k.day FROM unnest($1::uuid[], $2::text[], $3::date[]) AS k(user_id, metric, day)
), bounds AS (
  SELECT user_id, metric, min(day) AS lo, max(day) AS hi, metric = ANY($4) AS cum FROM keys GROUP BY user_id, metric
)`

// rankCTE ranks every source in "src": its class is the
// position of the first priority fragment found (case-insensitively) in
// any of its members ("a|b" is a source the app joined), 1000000 when none
// matches (the other apps); a source of more members is HealthKit's own
// merged statistic over them, so it goes first within its class; then by
// name, so the choice is always the same.
const rankCTE = `srcs AS MATERIALIZED (
  SELECT DISTINCT user_id, source FROM src
), ranked_src AS MATERIALIZED (
  SELECT s.user_id, s.source,
         coalesce((SELECT min(pp.i) FROM unnest(string_to_array(lower(s.source), '|')) AS m(name)
                   CROSS JOIN unnest(coalesce(sp.priority, $5::text[])) WITH ORDINALITY AS pp(pat, i)
                   WHERE pp.pat <> '' AND strpos(m.name, lower(pp.pat)) > 0), 1000000) AS class,
         cardinality(string_to_array(s.source, '|')) AS members
  FROM srcs s LEFT JOIN source_priorities sp ON sp.user_id = s.user_id
), ranked_pos AS MATERIALIZED (
  -- the same order as one number per source
  SELECT *, row_number() OVER (PARTITION BY user_id ORDER BY class, members DESC, source)::float8 AS pos FROM ranked_src
)`

// updateSQL writes the computed days ("agg") into the locked rows.
const updateSQL = `
UPDATE daily_summaries d SET units = a.units, total = a.total, min = a.min, avg = a.avg, max = a.max,
       count = coalesce(a.n, 0), asleep_hours = a.asleep_hours, core_hours = a.core_hours,
       deep_hours = a.deep_hours, rem_hours = a.rem_hours, awake_hours = a.awake_hours,
       in_bed_hours = a.in_bed_hours, sources = coalesce(a.sources, '{}'), vsum = a.vsum, origin = a.origin
FROM keys k LEFT JOIN agg a USING (user_id, metric, day)
WHERE d.user_id = k.user_id AND d.metric = k.metric AND d.day = k.day
  AND ((d.units, d.total, d.min, d.avg, d.max, d.count, d.asleep_hours, d.core_hours, d.deep_hours,
        d.rem_hours, d.awake_hours, d.in_bed_hours, d.sources, d.origin, d.vsum IS NULL)
       IS DISTINCT FROM
       (a.units, a.total, a.min, a.avg, a.max, coalesce(a.n, 0), a.asleep_hours, a.core_hours, a.deep_hours,
        a.rem_hours, a.awake_hours, a.in_bed_hours, coalesce(a.sources, '{}'), a.origin, a.vsum IS NULL)
       -- vsum as far as its rounding (total, avg) cannot show: sums of the
       -- same rows in another order differ in their last bits
       OR abs(d.vsum - a.vsum) > 1e-9 * greatest(1, abs(a.vsum)))`

// dayMargin widens the rows read around a day: an offset moves a local
// day by at most ±23:59 from UTC.
const dayMargin = "interval '1 day'"

// round6 keeps sums and averages to 6 decimals, so the same rows summed in
// another order store the same value (a replay changes nothing).
func round6(expr string) string { return "round((" + expr + ")::numeric, 6)::double precision" }

func ident(s string) string { return pgx.Identifier{s}.Sanitize() }

// samplesSQL recomputes the keys of a samples table. Every day takes one
// of three paths (the rules are in docs/summaries.md):
//
//   - a: one units, one origin and, for a total, one source (most days):
//     every row counts, a plain aggregate;
//   - b: a total of uploads from several sources: per moment (the app's
//     bucket, named by its start time) the best-ranked source's row counts;
//   - c: the rest (imports of the Health app's export beside uploads or
//     beside each other, several units): each row covers an interval, from
//     its time to EndKey in Extra (an exported sample's end) or else the
//     minute from its time; rows rank by origin (uploads first), then by
//     source; a total counts each row for the share of its interval that no
//     better-ranked row covers; a discrete metric counts every source but
//     leaves out an import where an upload covers its moment; only the
//     units of the best-ranked row are summarised.
func samplesSQL(s *kind.Samples) string {
	metricJoin := ""
	if s.MetricColumn != "" {
		metricJoin = " AND r." + ident(s.MetricColumn) + " = b.metric"
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
	endText := "NULL::text"
	if s.Extra != "" && s.EndKey != "" {
		endText = fmt.Sprintf("r.%s->>'%s'", ident(s.Extra), s.EndKey)
	}
	return strings.NewReplacer(
		"{keys}", keysCTE, "{rank}", rankCTE, "{table}", ident(s.Table.Name), "{metricJoin}", metricJoin,
		"{t}", "r."+ident(s.Time), "{off}", "r."+ident(s.Offset), "{value}", value, "{lo}", lo, "{hi}", hi,
		"{units}", units, "{endtxt}", endText, "{margin}", dayMargin,
		"{total_c}", round6("sum(total)"), "{avg_c}", round6("sum(vsum) / nullif(sum(n), 0)"),
		"{total_ab}", round6("total"), "{avg_ab}", round6("avg"),
	).Replace(strings.ReplaceAll(samplesTemplate, "{rows}", rowsTemplate)) + updateSQL
}

// samplesTemplate is samplesSQL's statement before its names are filled in.
const samplesTemplate = `WITH {keys}, cand AS MATERIALIZED (
  -- each user and metric's rows on the keys' days, one index range scan each
  SELECT b.user_id, b.metric, b.cum, x.*
  FROM bounds b CROSS JOIN LATERAL ({rows}) x
  WHERE x.day BETWEEN b.lo AND b.hi
), src AS MATERIALIZED (
  SELECT user_id, metric, day, source, bool_and(cum) AS cum, count(*) AS n, count(units) AS nu,
         min(units) AS umin, max(units) AS umax, min(origin) AS omin, max(origin) AS omax,
         sum(v) AS total, min(lo) AS lo, max(hi) AS hi
  FROM cand GROUP BY user_id, metric, day, source
), {rank}, days AS MATERIALIZED (
  SELECT user_id, metric, day, bool_and(cum) AS cum, min(umin) AS units,
         CASE WHEN (sum(nu) = 0 OR (sum(nu) = sum(n) AND min(umin) = max(umax)))
                   AND min(omin) = max(omax) AND (NOT bool_and(cum) OR count(*) = 1) THEN 'a'
              WHEN (sum(nu) = 0 OR (sum(nu) = sum(n) AND min(umin) = max(umax))) AND max(omax) = 0 THEN 'b'
              ELSE 'c' END AS path
  FROM src GROUP BY user_id, metric, day
), a AS (
  SELECT s.user_id, s.metric, s.day, bool_and(s.cum) AS cum, min(s.umin) AS units, sum(s.total) AS total,
         min(s.lo) AS lo, sum(s.total) / sum(s.n) AS avg, max(s.hi) AS hi, sum(s.n) AS n,
         array_agg(s.source ORDER BY rs.pos) AS sources, sum(s.total) AS vsum, min(s.omin) AS origin
  FROM src s JOIN days d USING (user_id, metric, day) JOIN ranked_pos rs USING (user_id, source)
  WHERE d.path = 'a' GROUP BY s.user_id, s.metric, s.day
), hard AS MATERIALIZED (
  -- the rows of the days on paths b and c, with their source's place
  SELECT d.path, c.*, rs.pos
  FROM cand c JOIN days d USING (user_id, metric, day) JOIN ranked_pos rs USING (user_id, source)
  WHERE d.path <> 'a'
), b_best AS (
  -- path b: per moment, the best-ranked source's row
  SELECT DISTINCT ON (user_id, metric, day, t) user_id, metric, day, source, v, pos
  FROM hard WHERE path = 'b'
  ORDER BY user_id, metric, day, t, pos
), b_src AS (
  SELECT user_id, metric, day, source, min(pos) AS pos, sum(v) AS total, count(*) AS n
  FROM b_best GROUP BY user_id, metric, day, source
), b AS (
  SELECT s.user_id, s.metric, s.day, true AS cum, min(d.units) AS units, sum(s.total) AS total,
         NULL::double precision AS lo, NULL::double precision AS avg, NULL::double precision AS hi, sum(s.n) AS n,
         array_agg(s.source ORDER BY s.pos) AS sources, NULL::double precision AS vsum, NULL::smallint AS origin
  FROM b_src s JOIN days d USING (user_id, metric, day) GROUP BY s.user_id, s.metric, s.day
), ranked AS MATERIALIZED (
  -- path c: the rank of each row, and the units of the day's best row
  SELECT h.*, dense_rank() OVER w AS rank, first_value(h.units) OVER w AS day_units
  FROM hard h WHERE h.path = 'c'
  WINDOW w AS (PARTITION BY h.user_id, h.metric, h.day ORDER BY h.origin, h.pos, h.units)
), r AS MATERIALIZED (
  SELECT ranked.*,
         tstzrange(t, CASE WHEN endtxt ~ '^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d{4}$' AND endtxt::timestamptz > t
                           THEN endtxt::timestamptz ELSE t + interval '1 minute' END) AS iv
  FROM ranked WHERE units IS NOT DISTINCT FROM day_units
), levels AS MATERIALIZED (
  SELECT user_id, metric, day, rank, origin, bool_and(cum) AS cum, range_agg(iv) AS m FROM r
  GROUP BY user_id, metric, day, rank, origin
), cover AS MATERIALIZED (
  -- per rank, what the better ranks cover (a total), or what the uploads
  -- cover (discrete: only imports are measured against it)
  SELECT a.user_id, a.metric, a.day, a.rank, range_agg(b.m) AS cov
  FROM levels a JOIN levels b ON b.user_id = a.user_id AND b.metric = a.metric AND b.day = a.day
   AND CASE WHEN a.cum THEN b.rank < a.rank ELSE b.origin < a.origin END
  GROUP BY a.user_id, a.metric, a.day, a.rank
), part AS (
  SELECT r.user_id, r.metric, r.day, r.cum, r.rank, r.source, r.units, r.v, r.lo, r.hi,
         CASE WHEN c.cov IS NULL OR NOT (r.iv && c.cov) THEN 1.0
              WHEN c.cov @> r.iv OR NOT r.cum THEN 0.0
              ELSE (SELECT coalesce(sum(extract(epoch FROM upper(x) - lower(x))), 0) FROM unnest(tstzmultirange(r.iv) - c.cov) AS x)
                   / extract(epoch FROM upper(r.iv) - lower(r.iv))
         END AS f
  FROM r LEFT JOIN cover c USING (user_id, metric, day, rank)
), c_src AS (
  SELECT user_id, metric, day, bool_and(cum) AS cum, source, min(rank) AS rank, min(units) AS units,
         sum(v * f) AS total, min(lo) FILTER (WHERE f > 0) AS lo, sum(v) FILTER (WHERE f > 0) AS vsum,
         max(hi) FILTER (WHERE f > 0) AS hi, count(*) FILTER (WHERE f > 0) AS n
  FROM part GROUP BY user_id, metric, day, source
), c AS (
  SELECT user_id, metric, day, bool_and(cum) AS cum, min(units) AS units, {total_c} AS total, min(lo) AS lo,
         {avg_c} AS avg, max(hi) AS hi, sum(n) AS n, array_agg(source ORDER BY rank) FILTER (WHERE n > 0) AS sources,
         NULL::double precision AS vsum, NULL::smallint AS origin
  FROM c_src GROUP BY user_id, metric, day
), agg AS MATERIALIZED (
  SELECT user_id, metric, day, units,
         CASE WHEN cum THEN total END AS total, CASE WHEN NOT cum THEN lo END AS min,
         CASE WHEN NOT cum THEN avg END AS avg, CASE WHEN NOT cum THEN hi END AS max, n::int AS n, sources,
         NULL::double precision AS asleep_hours, NULL::double precision AS core_hours,
         NULL::double precision AS deep_hours, NULL::double precision AS rem_hours,
         NULL::double precision AS awake_hours, NULL::double precision AS in_bed_hours, vsum, origin
  FROM (SELECT user_id, metric, day, cum, units, {total_ab} AS total, lo, {avg_ab} AS avg, hi, n, sources, vsum, origin FROM a
        UNION ALL SELECT user_id, metric, day, cum, units, {total_ab}, lo, avg, hi, n, sources, vsum, origin FROM b
        UNION ALL SELECT * FROM c) x
)`

// rowsTemplate reads one user's rows of one metric from b.lo to b.hi
// (local days), with a day's margin for the offsets.
const rowsTemplate = `SELECT ({t} AT TIME ZONE 'UTC' + coalesce({off}, 0) * interval '1 minute')::date AS day,
           r.source, r.origin, {value} AS v, {lo} AS lo, {hi} AS hi, {units} AS units, {t} AS t, {endtxt} AS endtxt
    FROM {table} r WHERE r.user_id = b.user_id{metricJoin}
     AND {t} >= (b.lo::timestamp AT TIME ZONE 'UTC') - {margin}
     AND {t} < ((b.hi + 1)::timestamp AT TIME ZONE 'UTC') + {margin}
     AND {value} IS NOT NULL
    OFFSET 0` // OFFSET 0: run per user and metric as an index range scan, never flattened into a join over every partition

// nightsSQL recomputes sleep's keys. A night's candidates are each
// source's segments (origin by origin) and each source's sessions; the best
// one by the source's rank, then uploads before imports, then sessions
// (the app's own totals) before segments is the night's one source. Naps
// add to their day's night.
func nightsSQL(n *kind.Nights) string {
	return fmt.Sprintf(`WITH %[1]s, seg AS MATERIALIZED (
  SELECT b.user_id, b.metric, s.*
  FROM bounds b CROSS JOIN LATERAL (
    SELECT ((s.ended_at AT TIME ZONE 'UTC') + make_interval(mins => coalesce(s.recorded_offset_min, 0)::int)
             + interval '%[4]d seconds')::date AS day,
           s.source, s.origin, 1 AS shape, lower(s.stage) AS stage,
           extract(epoch FROM s.ended_at - s.started_at) / 3600 AS hours
    FROM %[2]s s WHERE s.user_id = b.user_id
     AND s.started_at >= (b.lo::timestamp AT TIME ZONE 'UTC') - interval '3 days'
     AND s.started_at < ((b.hi + 1)::timestamp AT TIME ZONE 'UTC') + interval '1 day'
    OFFSET 0) s
  WHERE b.metric = '%[5]s' AND s.day BETWEEN b.lo AND b.hi
), nights AS (
  SELECT user_id, metric, day, source, origin, shape,
         sum(hours) FILTER (WHERE stage = 'core') AS core, sum(hours) FILTER (WHERE stage = 'deep') AS deep,
         sum(hours) FILTER (WHERE stage = 'rem') AS rem, sum(hours) FILTER (WHERE stage = 'awake') AS awake,
         sum(hours) FILTER (WHERE stage = 'inbed') AS in_bed,
         sum(hours) FILTER (WHERE stage IN ('core', 'deep', 'rem', 'asleep', 'asleepunspecified')) AS asleep,
         count(*) AS n
  FROM seg GROUP BY user_id, metric, day, source, origin, shape
  UNION ALL
  SELECT b.user_id, b.metric, s.sleep_date, s.source, s.origin, 0,
         sum(s.core_hours), sum(s.deep_hours), sum(s.rem_hours), sum(s.awake_hours), sum(s.in_bed_hours),
         sum(coalesce(s.total_sleep_hours,
             coalesce(s.asleep_hours, 0) + coalesce(s.core_hours, 0) + coalesce(s.deep_hours, 0) + coalesce(s.rem_hours, 0))),
         count(*)
  FROM bounds b JOIN %[3]s s ON s.user_id = b.user_id AND s.sleep_date BETWEEN b.lo AND b.hi
  WHERE b.metric = '%[5]s'
  GROUP BY b.user_id, b.metric, s.sleep_date, s.source, s.origin
), src AS (
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
         %[11]s AS awake_hours, %[12]s AS in_bed_hours, NULL::double precision AS vsum, NULL::smallint AS origin
  FROM best
)`+updateSQL,
		keysCTE, ident(n.Segments.Name), ident(n.Sessions.Name), int((24*3600)-kind.NightCutoff.Seconds()), kind.SleepMetric, rankCTE,
		round6("asleep"), round6("core"), round6("deep"), round6("rem"), round6("awake"), round6("in_bed"))
}
