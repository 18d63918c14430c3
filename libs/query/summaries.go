package query

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/healthexport/libs/hae"
	"github.com/healthexport/libs/kind"
)

// ErrNoMetric is a summaries request without a metric.
var ErrNoMetric = errors.New("name at least one metric")

// MaxSummaryMetrics bounds the metrics of one summaries request.
const MaxSummaryMetrics = 50

// summaryListName is the list of GET /v1/summaries/daily.
const summaryListName = "days"

// summaryKey is its keyset order: the table's primary key after user_id.
var summaryKey = &list{name: summaryListName, key: []keyCol{textKey("metric"), textKey("day")}}

// DailySummaries reads a user's daily summaries of metrics (names or
// aliases; sleep_analysis is sleep) on local days from (inclusive) to to
// (exclusive; zero times are unbounded), ordered by metric then day. Days
// with nothing counted are left out.
func (s *Store) DailySummaries(ctx context.Context, uid uuid.UUID, metrics []string, from, to time.Time, p Page) (*Result, error) {
	if len(metrics) == 0 {
		return nil, ErrNoMetric
	}
	var names []string
	for _, m := range metrics {
		c := s.reg.CanonicalMetric(m)
		if s.reg.MetricKind(c) == "sleep" {
			c = kind.SleepMetric
		}
		if !slices.Contains(names, c) {
			names = append(names, c)
		}
	}
	slices.Sort(names)
	c, err := decodeCursor(p.Cursor, summaryKey)
	if err != nil {
		return nil, err
	}
	pos := c[summaryListName]
	res := &Result{Lists: []List{{Name: summaryListName, Items: []byte("[]")}}}
	if pos != nil && pos.Done {
		return res, nil
	}
	afterMetric, afterDay := "", time.Time{}
	if pos != nil && pos.Key != nil {
		d, err := time.Parse(time.DateOnly, pos.Key[1])
		if err != nil {
			return nil, fmt.Errorf("%w: not one of this endpoint's", ErrBadCursor)
		}
		afterMetric, afterDay = pos.Key[0], d
	}
	rows, err := s.pool.Query(ctx, `SELECT metric, day, units, total, min, avg, max, count, asleep_hours, core_hours,
		deep_hours, rem_hours, awake_hours, in_bed_hours, sources
		FROM daily_summaries
		WHERE user_id = $1 AND metric = ANY($2) AND count > 0
		  AND ($3::date IS NULL OR day >= $3) AND ($4::date IS NULL OR day < $4)
		  AND (metric, day) > ($5, $6::date)
		ORDER BY metric, day LIMIT $7`,
		uid, names, nullDate(from), nullDate(to), afterMetric, keysetDay(afterDay), p.Limit+1)
	if err != nil {
		return nil, fmt.Errorf("read daily_summaries: %w", err)
	}
	items := []byte{'['}
	var (
		d    summaryRow
		n    int
		last []string
		more bool
	)
	_, err = pgx.ForEachRow(rows, d.dest(), func() error {
		if n == p.Limit {
			more = true
			return nil
		}
		if n > 0 {
			items = append(items, ',')
		}
		items = d.appendJSON(items, s.reg.Aggregation(d.metric))
		last = []string{d.metric, d.day.Format(time.DateOnly)}
		n++
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read daily_summaries: %w", err)
	}
	if n > 0 {
		res.Lists[0].Items = append(items, ']')
		res.Lists[0].Count = n
	}
	if more {
		res.Next = cursor{summaryListName: {Key: last}}.encode()
	}
	return res, nil
}

// nullDate is a date parameter, NULL for the zero time.
func nullDate(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// keysetDay is the day after which a page starts: t, or a day before every
// day for the first page.
func keysetDay(t time.Time) time.Time {
	if t.IsZero() {
		return time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	return t
}

// summaryRow is one row of daily_summaries.
type summaryRow struct {
	metric                                string
	day                                   time.Time
	units                                 *string
	total, min, avg, max                  *float64
	count                                 int32
	asleep, core, deep, rem, awake, inBed *float64
	sources                               []string
}

func (d *summaryRow) dest() []any {
	return []any{&d.metric, &d.day, &d.units, &d.total, &d.min, &d.avg, &d.max, &d.count,
		&d.asleep, &d.core, &d.deep, &d.rem, &d.awake, &d.inBed, &d.sources}
}

// appendJSON renders a day: {"date", "metric", "units", "sources"} and the
// values of its aggregation.
func (d *summaryRow) appendJSON(b []byte, agg kind.Aggregation) []byte {
	b = append(b, `{"date":"`...)
	b = d.day.AppendFormat(b, time.DateOnly)
	b = append(b, `","metric":`...)
	b = hae.AppendString(b, d.metric)
	b = append(b, `,"units":`...)
	if d.units == nil {
		b = append(b, "null"...)
	} else {
		b = hae.AppendString(b, *d.units)
	}
	b = append(b, `,"sources":[`...)
	for i, s := range d.sources {
		if i > 0 {
			b = append(b, ',')
		}
		b = hae.AppendString(b, s)
	}
	b = append(b, ']')
	field := func(name string, v *float64) {
		b = append(b, ',', '"')
		b = append(b, name...)
		b = append(b, '"', ':')
		if v == nil {
			b = append(b, "null"...)
		} else {
			b = appendFloat(b, *v)
		}
	}
	switch agg {
	case kind.Cumulative:
		field("total", d.total)
	case kind.Nightly:
		field("asleep_hours", d.asleep)
		field("core_hours", d.core)
		field("deep_hours", d.deep)
		field("rem_hours", d.rem)
		field("awake_hours", d.awake)
		field("in_bed_hours", d.inBed)
	default:
		field("min", d.min)
		field("avg", d.avg)
		field("max", d.max)
		b = append(b, `,"count":`...)
		b = strconv.AppendInt(b, int64(d.count), 10)
	}
	return append(b, '}')
}
