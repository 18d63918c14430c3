package kind

import (
	"slices"
	"time"

	"github.com/jackc/pgx/v5/pgtype"

	"github.com/healthexport/libs/pgstore"
)

// Aggregation is how a day of a metric is summarised.
type Aggregation string

// The aggregations (docs/summaries.md).
const (
	// Discrete metrics (heart rate, HRV, SpO2, weight, ...) are summarised
	// as min, average, max and count over every source.
	Discrete Aggregation = "discrete"
	// Cumulative metrics (steps, energy, distances, ...) are summarised as
	// a total that counts each moment once: where sources overlap, the
	// user's source priority decides whose samples count.
	Cumulative Aggregation = "cumulative"
	// Nightly is sleep: per night, the hours in each stage, from one
	// source.
	Nightly Aggregation = "nightly"
)

// SleepMetric is the name sleep's summaries go by.
const SleepMetric = "sleep"

// cumulativeMetrics is the one table of the metrics whose day is a total
// (by canonical name). Every other metric a kind summarises is discrete;
// sleep is nightly. A metric missing here is summarised as discrete, which
// is never a wrong total, only a less useful one.
var cumulativeMetrics = []string{
	"active_energy",
	"apple_exercise_time",
	"apple_move_time",
	"apple_stand_hour",
	"apple_stand_time",
	"basal_energy_burned",
	"cycling_distance",
	"distance_downhill_snow_sports",
	"downhill_snow_sports",
	"flights_climbed",
	"nike_fuel",
	"number_of_alcoholic_beverages",
	"number_of_times_fallen",
	"physical_effort_minutes",
	"step_count",
	"swim_stroke_count",
	"swimming_distance",
	"time_in_daylight",
	"walking_running_distance",
	"wheelchair_distance",
	"wheelchair_push_count",
	"inhaler_usage",
	"insulin_delivery",
	"sexual_activity",
	"toothbrushing",
	"handwashing",
	"mindful_minutes",
	// What was eaten and drunk: a day's intake is a total.
	"dietary_biotin", "dietary_caffeine", "dietary_cholesterol", "dietary_energy",
	"dietary_sugar", "dietary_water", "calcium", "carbohydrates", "chloride",
	"chromium", "copper", "fiber", "folate", "iodine", "iron", "magnesium",
	"manganese", "molybdenum", "monounsaturated_fat", "niacin", "pantothenic_acid",
	"phosphorus", "polyunsaturated_fat", "potassium", "protein", "riboflavin",
	"saturated_fat", "selenium", "sodium", "thiamin", "total_fat", "vitamin_a",
	"vitamin_b12", "vitamin_b6", "vitamin_c", "vitamin_d", "vitamin_e", "vitamin_k", "zinc",
}

// Aggregation says how a metric (any name or alias) is summarised.
func (r *Registry) Aggregation(metric string) Aggregation {
	m := r.CanonicalMetric(metric)
	switch {
	case m == SleepMetric:
		return Nightly
	case slices.Contains(cumulativeMetrics, m):
		return Cumulative
	}
	return Discrete
}

// CumulativeMetrics lists the metrics summarised as totals.
func (r *Registry) CumulativeMetrics() []string { return slices.Clone(cumulativeMetrics) }

// Summary says how a kind's rows are summarised per local day: as samples
// of one metric or of the metric a column names (heart rate, quantities),
// or as nights of sleep. Kinds without one (workouts, ECG, events, blood
// pressure) have no daily summary.
type Summary struct {
	Samples *Samples
	Nights  *Nights
}

// Samples are rows with a time, its offset, a value (or min/avg/max) and
// a source: a quantity, or heart rate.
type Samples struct {
	Table *pgstore.Table
	// Metric is the metric the rows are of, or "" when MetricColumn names
	// it per row.
	Metric       string
	MetricColumn string
	// Time and Offset are the columns of the sample's time and the offset
	// it was recorded in (its local day).
	Time, Offset string
	// Value is the column summed (cumulative) or averaged (discrete); Min
	// and Max, when set, are the columns of the smallest and largest value
	// (heart rate's minute rows carry all three).
	Value, Min, Max string
	// Units is the units column, or "" for FixedUnits.
	Units, FixedUnits string
	// Extra is a jsonb column that may hold EndKey: the end of a sample
	// with a duration (the Health app's export), in its wire format.
	Extra, EndKey string

	metricIx, timeIx, offsetIx                         int
	valueIx, minIx, maxIx, unitsIx, sourceIx, originIx int
}

// Nights are sleep: segments (a stage from start to end) and sessions (a
// night's totals as the app summed them, on the date it gives).
type Nights struct {
	Segments, Sessions *pgstore.Table

	segEndIx, segOffsetIx, sesDateIx int
}

// NightCutoff is when a night ends: sleep ending before 18:00 local time
// belongs to that day's night (the night across midnight, the afternoon
// nap); after it, to the next day's.
const NightCutoff = 18 * time.Hour

func newSamples(s Samples) *Summary {
	s.metricIx, s.timeIx, s.offsetIx = colIndex(s.Table, s.MetricColumn), colIndex(s.Table, s.Time), colIndex(s.Table, s.Offset)
	s.valueIx, s.minIx, s.maxIx = colIndex(s.Table, s.Value), colIndex(s.Table, s.Min), colIndex(s.Table, s.Max)
	s.unitsIx, s.sourceIx, s.originIx = colIndex(s.Table, s.Units), colIndex(s.Table, "source"), colIndex(s.Table, pgstore.OriginColumn)
	return &Summary{Samples: &s}
}

func newNights(segments, sessions *pgstore.Table) *Summary {
	return &Summary{Nights: &Nights{
		Segments: segments, Sessions: sessions,
		segEndIx: colIndex(segments, "ended_at"), segOffsetIx: colIndex(segments, "recorded_offset_min"),
		sesDateIx: colIndex(sessions, "sleep_date"),
	}}
}

func colIndex(t *pgstore.Table, col string) int {
	if col == "" {
		return -1
	}
	i := slices.Index(t.Columns, col)
	if i < 0 {
		panic("kind: summary column " + col + " is not a column of " + t.Name)
	}
	return i
}

// Tables are the tables the summary reads.
func (s *Summary) Tables() []*pgstore.Table {
	if s.Samples != nil {
		return []*pgstore.Table{s.Samples.Table}
	}
	return []*pgstore.Table{s.Nights.Segments, s.Nights.Sessions}
}

// Day is a local calendar date, as days since 1970-01-01.
type Day int32

// DayOf is the date of t in UTC.
func DayOf(t time.Time) Day { return Day(t.UTC().Unix() / 86400) }

// Time is the day's midnight UTC.
func (d Day) Time() time.Time { return time.Unix(int64(d)*86400, 0).UTC() }

// String is YYYY-MM-DD.
func (d Day) String() string { return d.Time().Format(time.DateOnly) }

// localDay is the date at instant t in an offset of offMin minutes.
func localDay(t time.Time, offMin any) Day {
	secs := t.Unix() + intOf(offMin)*60
	d := secs / 86400
	if secs%86400 < 0 {
		d-- // floor, for times before 1970
	}
	return Day(d)
}

// RowDay says which summary a row of table t (laid out as FullRow lays
// it: values in t.Columns order) counts in: its metric and local day.
func (s *Summary) RowDay(t *pgstore.Table, row []any) (metric string, day Day, ok bool) {
	if sm := s.Samples; sm != nil {
		if t.Name != sm.Table.Name {
			return "", 0, false
		}
		at, ok := row[sm.timeIx].(time.Time)
		if !ok {
			return "", 0, false
		}
		metric = sm.Metric
		if sm.metricIx >= 0 {
			metric, _ = row[sm.metricIx].(string)
		}
		return metric, localDay(at, row[sm.offsetIx]), true
	}
	n := s.Nights
	switch t.Name {
	case n.Segments.Name:
		end, ok := row[n.segEndIx].(time.Time)
		if !ok {
			return "", 0, false
		}
		return SleepMetric, localDay(end.Add(24*time.Hour-NightCutoff), row[n.segOffsetIx]), true
	case n.Sessions.Name:
		d, ok := row[n.sesDateIx].(pgtype.Date)
		if !ok || !d.Valid {
			return "", 0, false
		}
		return SleepMetric, DayOf(d.Time), true
	}
	return "", 0, false
}

// Sample is what one row of a Samples table adds to its day's summary,
// read as the summary's statement reads it: the value is Value, else Min,
// else Max; Lo and Hi are Min and Max, else the value.
type Sample struct {
	Metric string
	Day    Day
	Source string
	Origin int16
	// Units, unless NoUnits (a NULL units column).
	Units   string
	NoUnits bool
	V       float64
	Lo, Hi  float64
	// Unread: a value is of a type RowSample does not read (the sum above
	// leaves it out; a summary must read such a row from the table).
	Unread bool
}

// RowSample reads row (laid out as FullRow lays it) of a Samples table as
// its day's summary counts it; ok is false for a row of another table or
// one without a value (which no summary counts).
func (s *Samples) RowSample(t *pgstore.Table, row []any) (smp Sample, ok bool) {
	if t.Name != s.Table.Name {
		return smp, false
	}
	at, ok := row[s.timeIx].(time.Time)
	if !ok {
		return smp, false
	}
	v, okV, oddV := num(row, s.valueIx)
	lo, okLo, oddLo := num(row, s.minIx)
	hi, okHi, oddHi := num(row, s.maxIx)
	smp.Unread = oddV || oddLo || oddHi
	switch {
	case okV:
	case okLo:
		v = lo
	case okHi:
		v = hi
	case smp.Unread:
	default:
		return smp, false
	}
	// v is the first of Value, Min, Max there is: what coalesce gives for
	// a missing Min or Max.
	if !okLo {
		lo = v
	}
	if !okHi {
		hi = v
	}
	smp = Sample{Metric: s.Metric, Day: localDay(at, row[s.offsetIx]), V: v, Lo: lo, Hi: hi, Units: s.FixedUnits, Unread: smp.Unread}
	if s.metricIx >= 0 {
		smp.Metric, _ = row[s.metricIx].(string)
	}
	if s.unitsIx >= 0 {
		smp.Units, ok = row[s.unitsIx].(string)
		smp.NoUnits = !ok
	}
	smp.Source, _ = row[s.sourceIx].(string)
	smp.Origin = int16(intOf(row[s.originIx]))
	return smp, true
}

// num is row[i] as a number: ok false for NULL or no such column, odd
// for a value of another type than the decoders' float64.
func num(row []any, i int) (v float64, ok, odd bool) {
	if i < 0 || row[i] == nil {
		return 0, false, false
	}
	v, ok = row[i].(float64)
	return v, ok, !ok
}

// intOf is an integer column's value (0 for NULL).
func intOf(v any) int64 {
	switch v := v.(type) {
	case int16:
		return int64(v)
	case int32:
		return int64(v)
	case int64:
		return v
	case int:
		return int64(v)
	}
	return 0
}
