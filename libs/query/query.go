// Package query reads a user's data back for the edge's read API: metrics,
// sleep, workouts (with samples, and routes as GeoJSON or GPX), ECG and
// events, in pages with keyset cursors, and the whole export as NDJSON or a
// zip of CSVs. Every query is scoped to one user (user_id, the first column
// of every table's key) and walks an index in key order: never OFFSET.
// Timestamps are rendered in the offset they were recorded in.
package query

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/healthexport/libs/hae"
	"github.com/healthexport/libs/kind"
	"github.com/healthexport/libs/pgstore"
)

// Errors the edge answers with 400 or 404.
var (
	ErrNotFound   = errors.New("not found")
	ErrUseSleep   = errors.New("sleep_analysis is read at /v1/sleep (sessions and segments)")
	ErrEventKind  = errors.New("unknown event kind")
	ErrSleepType  = errors.New("unknown sleep type")
	ErrNoRoute    = errors.New("the workout has no route")
	ErrOrigin     = errors.New("unknown origin")
	errBadColumns = errors.New("query: a list's key columns must be among its columns")
)

// EventKinds are the kinds of health_events.
var EventKinds = kind.EventKinds()

// Store reads from PostgreSQL.
type Store struct {
	pool *pgxpool.Pool
	reg  *kind.Registry
}

// NewStore returns a reader.
func NewStore(pool *pgxpool.Pool) *Store { return &Store{pool: pool, reg: kind.New()} }

// Range bounds the rows a list reads: the time it is filtered on (From
// inclusive, To exclusive; a zero time is unbounded) and, when Origin is
// set, how the rows' data arrived (stream.OriginUpload, stream.OriginImport).
type Range struct {
	From, To time.Time
	Origin   string
}

// Page is how much to read: at most Limit rows per list, after Cursor (the
// Next of the previous page, "" for the first).
type Page struct {
	Limit  int
	Cursor string
}

// List is one list of an answer: its JSON name and its items, a JSON array.
type List struct {
	Name  string
	Items []byte
	Count int
}

// Result is a page of one or more lists. Next is the cursor of the next
// page, "" when every list is done.
type Result struct {
	Lists []List
	Next  string
}

// keyCol is a column of a list's keyset order.
type keyCol struct {
	name string
	time bool // timestamptz (or date), else text
	date bool // a date: its cursor and range values are calendar days
}

// list is a paged read of one table: the columns shown (named as in the
// table) and the keyset order, a unique key whose first column is the time
// the range applies to. The order follows an index that starts with user_id.
type list struct {
	name  string
	table string
	cols  []string
	key   []keyCol
	keyIx []int
	// noOffset is a table without recorded_offset_min (a day's summary).
	noOffset bool
}

func newList(name, table string, cols []string, key ...keyCol) *list {
	l := &list{name: name, table: table, cols: cols, key: key}
	for _, k := range key {
		i := -1
		for j, c := range cols {
			if c == k.name {
				i = j
			}
		}
		if i < 0 {
			panic(fmt.Errorf("%w: %s.%s", errBadColumns, table, k.name))
		}
		l.keyIx = append(l.keyIx, i)
	}
	return l
}

func timeKey(name string) keyCol { return keyCol{name: name, time: true} }
func dateKey(name string) keyCol { return keyCol{name: name, time: true, date: true} }
func textKey(name string) keyCol { return keyCol{name: name} }

// The lists. Keys follow the tables' primary keys (user_id first), or an
// index on (user_id, time) for workouts; sleep sessions, ECG and events of
// one user are few enough for their order to be sorted.
var (
	heartRateList = newList("points", "heart_rate_metrics",
		[]string{"recorded_at", "source", "min_bpm", "avg_bpm", "max_bpm", "origin"}, timeKey("recorded_at"), textKey("source"))
	bloodPressureList = newList("points", "blood_pressure_metrics",
		[]string{"recorded_at", "source", "systolic", "diastolic", "origin"}, timeKey("recorded_at"), textKey("source"))
	quantityList = newList("points", "quantity_metrics",
		[]string{"recorded_at", "source", "qty", "units", "extra", "origin"}, timeKey("recorded_at"), textKey("source"))
	sleepSessionList = newList("sessions", "sleep_sessions",
		[]string{"started_at", "source", "sleep_date", "total_sleep_hours", "asleep_hours", "core_hours", "deep_hours",
			"rem_hours", "awake_hours", "in_bed_hours", "sleep_start", "sleep_end", "in_bed_start", "in_bed_end", "details", "origin"},
		timeKey("started_at"), textKey("source"))
	sleepSegmentList = newList("segments", "sleep_segments",
		[]string{"started_at", "ended_at", "stage", "source", "qty_hours", "origin"},
		timeKey("started_at"), timeKey("ended_at"), textKey("stage"), textKey("source"))
	workoutList = newList("workouts", "workouts",
		[]string{"workout_key", "name", "started_at", "ended_at", "duration_s", "distance_m", "active_energy_kcal",
			"total_energy_kcal", "avg_heart_rate", "max_heart_rate", "details", "origin"},
		timeKey("started_at"), textKey("workout_key"))
	eventList = newList("events", "health_events",
		[]string{"kind", "started_at", "ended_at", "event_key", "name", "value", "name_canonical", "value_canonical", "source", "details", "origin"},
		timeKey("started_at"), textKey("kind"), textKey("event_key"))
	activityList = func() *list {
		l := newList("summaries", "activity_summaries",
			[]string{"summary_date", "active_energy", "active_energy_goal", "active_energy_units", "move_time_min", "move_time_goal_min",
				"exercise_time_min", "exercise_time_goal_min", "stand_hours", "stand_hours_goal", "details", "origin"},
			dateKey("summary_date"))
		l.noOffset = true
		return l
	}()
	ecgList = newList("recordings", "ecg_recordings",
		[]string{"started_at", "ended_at", "source", "classification", "classification_canonical", "severity", "average_heart_rate", "sampling_hz",
			"voltage_units", "voltages", "voltage_offsets_ms", "details", "origin"},
		timeKey("started_at"), textKey("source"))
)

// querier is a pool or a transaction.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// cond is an equality filter. With canonical set, it is a filter on a
// localised value: the canonical column equals val, or, where the text had
// no canonical value, the text as sent does.
type cond struct {
	col       string
	val       any
	canonical string
}

func ident(s string) string { return pgx.Identifier{s}.Sanitize() }

// appendConds writes conds to a WHERE clause as " AND ..." terms, their
// values as parameters after args, and returns the parameters.
func appendConds(b *strings.Builder, args []any, conds []cond) []any {
	for _, c := range conds {
		args = append(args, c.val)
		v := "$" + strconv.Itoa(len(args))
		if c.canonical != "" {
			fmt.Fprintf(b, " AND (%s = %s OR (%s IS NULL AND %s = %s))", ident(c.canonical), v, ident(c.canonical), ident(c.col), v)
			continue
		}
		fmt.Fprintf(b, " AND %s = %s", ident(c.col), v)
	}
	return args
}

// maxPageBytes ends a page early, after the row that reaches it (a page
// always has a row): ECG recordings, and JSON details, can make a page of
// limit rows too big to answer.
const maxPageBytes = 8 << 20

// page reads one page of a list after pos, and where the list stands after
// it.
func page(ctx context.Context, q querier, l *list, uid uuid.UUID, conds []cond, r Range, limit int, pos *position) (List, *position, error) {
	out := List{Name: l.name, Items: []byte("[]")}
	items := make([]byte, 0, 64*min(limit, 1024))
	items = append(items, '[')
	next, err := scan(ctx, q, l, uid, conds, r, limit, pos, func(vals []any, off *int16) bool {
		if out.Count > 0 {
			items = append(items, ',')
		}
		items = appendObject(items, l.cols, vals, off)
		out.Count++
		return len(items) >= maxPageBytes
	})
	if err != nil {
		return out, nil, err
	}
	if out.Count > 0 {
		out.Items = append(items, ']')
	}
	return out, next, nil
}

// scan reads the rows of a list after pos in key order, at most limit, and
// hands each to row (the list's columns, and the row's offset) until row
// says the page is full. It returns where the list stands after them.
func scan(ctx context.Context, q querier, l *list, uid uuid.UUID, conds []cond, r Range, limit int, pos *position,
	row func(vals []any, off *int16) (full bool)) (*position, error) {
	if pos != nil && pos.Done {
		return pos, nil
	}
	args := []any{uid}
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	var b strings.Builder
	b.WriteString("SELECT ")
	for _, c := range l.cols {
		b.WriteString(ident(c))
		b.WriteString(", ")
	}
	if l.noOffset {
		b.WriteString("NULL::smallint FROM ")
	} else {
		b.WriteString("recorded_offset_min FROM ")
	}
	b.WriteString(ident(l.table))
	b.WriteString(" WHERE user_id = $1")
	args = appendConds(&b, args, conds)
	if r.Origin != "" {
		code, ok := kind.OriginCode(r.Origin)
		if !ok {
			return nil, fmt.Errorf("%w %q: want one of %s", ErrOrigin, r.Origin, strings.Join(kind.Origins(), ", "))
		}
		fmt.Fprintf(&b, " AND %s = %s", ident(pgstore.OriginColumn), arg(code))
	}
	first := ident(l.key[0].name)
	bound := func(t time.Time) any {
		if l.key[0].date {
			return day(t)
		}
		return t
	}
	if !r.From.IsZero() {
		fmt.Fprintf(&b, " AND %s >= %s", first, arg(bound(r.From)))
	}
	if !r.To.IsZero() {
		fmt.Fprintf(&b, " AND %s < %s", first, arg(bound(r.To)))
	}
	if pos != nil && pos.Key != nil {
		vals, err := l.keyValues(pos.Key)
		if err != nil {
			return nil, err
		}
		cols, params := make([]string, len(l.key)), make([]string, len(l.key))
		for i, k := range l.key {
			cols[i], params[i] = ident(k.name), arg(vals[i])
		}
		// The row comparison is the keyset condition; the plain bound on
		// the first column lets PostgreSQL skip partitions before it
		// (when it is the partitioning time).
		fmt.Fprintf(&b, " AND (%s) > (%s) AND %s >= %s", strings.Join(cols, ", "), strings.Join(params, ", "), first, params[0])
	}
	b.WriteString(" ORDER BY ")
	for i, k := range l.key {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(ident(k.name))
	}
	fmt.Fprintf(&b, " LIMIT %s", arg(limit+1))

	rows, err := q.Query(ctx, b.String(), args...)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", l.table, err)
	}
	defer rows.Close()
	vals := make([]any, len(l.cols)+1)
	last := make([]any, len(l.key))
	n, full, more := 0, false, false
	for rows.Next() {
		if n == limit || full {
			more = true
			break
		}
		if err := decodeRow(rows, vals); err != nil {
			return nil, fmt.Errorf("read %s: %w", l.table, err)
		}
		full = row(vals[:len(l.cols)], offsetOf(vals[len(l.cols)]))
		for i, ix := range l.keyIx {
			last[i] = vals[ix]
		}
		n++
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", l.table, err)
	}
	if !more {
		return &position{Done: true}, nil
	}
	return &position{Key: keyStrings(last)}, nil
}

func offsetOf(v any) *int16 {
	if o, ok := v.(int16); ok {
		return &o
	}
	return nil
}

// appendObject writes {"col": value, ...}.
func appendObject(b []byte, cols []string, vals []any, off *int16) []byte {
	b = append(b, '{')
	for i, c := range cols {
		if i > 0 {
			b = append(b, ',')
		}
		b = hae.AppendString(b, c)
		b = append(b, ':')
		b = appendJSON(b, vals[i], off)
	}
	return append(b, '}')
}

// lists reads a page of each list with one cursor for all of them.
func lists(ctx context.Context, q querier, uid uuid.UUID, conds []cond, r Range, p Page, ls ...*list) (*Result, error) {
	cur, err := decodeCursor(p.Cursor, ls...)
	if err != nil {
		return nil, err
	}
	res := &Result{}
	next := cursor{}
	more := false
	for _, l := range ls {
		got, pos, err := page(ctx, q, l, uid, conds, r, p.Limit, cur[l.name])
		if err != nil {
			return nil, err
		}
		res.Lists = append(res.Lists, got)
		next[l.name] = pos
		more = more || !pos.Done
	}
	if more {
		res.Next = next.encode()
	}
	return res, nil
}

// Metric reads a metric by name, aliases included (vo2max is vo2_max):
// heart_rate and blood_pressure from their tables, any other from
// quantity_metrics; sleep_analysis is ErrUseSleep. It returns the canonical
// name and the units every point has ("" when each point has its own).
func (s *Store) Metric(ctx context.Context, uid uuid.UUID, name string, r Range, source *string, p Page) (string, string, *Result, error) {
	canon := s.reg.CanonicalMetric(name)
	var (
		l     *list
		units string
		conds []cond
	)
	switch s.reg.MetricKind(canon) {
	case "heart_rate":
		l, units = heartRateList, "count/min"
	case "blood_pressure":
		l, units = bloodPressureList, "mmHg"
	case "sleep":
		return canon, "", nil, ErrUseSleep
	default:
		l, conds = quantityList, []cond{{col: "metric", val: canon}}
	}
	if source != nil {
		conds = append(conds, cond{col: "source", val: *source})
	}
	res, err := lists(ctx, s.pool, uid, conds, r, p, l)
	return canon, units, res, err
}

// SleepTypes are the lists of /v1/sleep.
var SleepTypes = []string{"sessions", "segments"}

// Sleep reads sleep sessions and segments started in r; typ "sessions" or
// "segments" reads only that list, "" both.
func (s *Store) Sleep(ctx context.Context, uid uuid.UUID, typ string, r Range, p Page) (*Result, error) {
	var ls []*list
	switch typ {
	case "":
		ls = []*list{sleepSessionList, sleepSegmentList}
	case "sessions":
		ls = []*list{sleepSessionList}
	case "segments":
		ls = []*list{sleepSegmentList}
	default:
		return nil, ErrSleepType
	}
	return lists(ctx, s.pool, uid, nil, r, p, ls...)
}

// Workouts lists workout summaries started in r.
func (s *Store) Workouts(ctx context.Context, uid uuid.UUID, r Range, p Page) (*Result, error) {
	return lists(ctx, s.pool, uid, nil, r, p, workoutList)
}

// eventValueFields are the vocabulary fields of each event kind's value.
func eventValueFields(eventKind string) []string {
	switch eventKind {
	case "medication":
		return []string{kind.FieldMedicationStatus}
	case "symptom":
		return []string{kind.FieldSymptomSeverity}
	case "state_of_mind":
		return []string{kind.FieldValence}
	case "":
		return []string{kind.FieldMedicationStatus, kind.FieldSymptomSeverity, kind.FieldValence}
	}
	return nil
}

// canonicalOf reads a filter value as a canonical one: "Tomado" and
// "taken" both filter on taken. A value no field knows is used as given
// (it matches the text of rows without a canonical value).
func (s *Store) canonicalOf(value string, fields ...string) string {
	for _, f := range fields {
		if c := s.reg.Vocabulary().Canonical(f, value); c != "" {
			return c
		}
	}
	return value
}

// Events lists health events started in r, of one kind or ("") all, and
// with value (when not "") as their canonical value: ?kind=medication&
// value=taken matches "Tomado" as well as "Taken".
func (s *Store) Events(ctx context.Context, uid uuid.UUID, eventKind, value string, r Range, p Page) (*Result, error) {
	var conds []cond
	if eventKind != "" {
		known := false
		for _, k := range EventKinds {
			known = known || k == eventKind
		}
		if !known {
			return nil, ErrEventKind
		}
		conds = []cond{{col: "kind", val: eventKind}}
	}
	if value != "" {
		conds = append(conds, cond{col: "value", val: s.canonicalOf(value, eventValueFields(eventKind)...), canonical: "value_canonical"})
	}
	return lists(ctx, s.pool, uid, conds, r, p, eventList)
}

// Activity lists the days' Activity rings (imported from the Health app's
// export) whose day is in r: the calendar day of From and To, as written.
func (s *Store) Activity(ctx context.Context, uid uuid.UUID, r Range, p Page) (*Result, error) {
	return lists(ctx, s.pool, uid, nil, r, p, activityList)
}

// day is the calendar day of t, as written in t's offset, for a date
// column.
func day(t time.Time) pgtype.Date {
	return pgtype.Date{Time: time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC), Valid: true}
}

// ECG lists ECG recordings started in r, with their voltages; with
// classification (when not "") as their canonical classification.
func (s *Store) ECG(ctx context.Context, uid uuid.UUID, classification string, r Range, p Page) (*Result, error) {
	var conds []cond
	if classification != "" {
		conds = []cond{{col: "classification", val: s.canonicalOf(classification, kind.FieldECGClassification), canonical: "classification_canonical"}}
	}
	return lists(ctx, s.pool, uid, conds, r, p, ecgList)
}
