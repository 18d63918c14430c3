package kind_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/healthexport/libs/hae"
	"github.com/healthexport/libs/kind"
	"github.com/healthexport/libs/pgstore"
)

// receivedAt is every test upload's Health-Received-At.
var receivedAt = time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC)

var reg = kind.New()

const testOrdinal = 7

func testEnv() kind.Env {
	return kind.Env{
		UserID:     uuid.MustParse("11111111-2222-3333-4444-555555555555"),
		StreamSeq:  42,
		ReceivedAt: receivedAt,
	}
}

// row is one Sink.Row call.
type row struct {
	table   *pgstore.Table
	ordinal int64
	values  []any
}

// get returns the value of column col (a column after user_id and before
// origin/stream_seq).
func (r row) get(t testing.TB, col string) any {
	t.Helper()
	cols := decoderColumns(r.table)
	i := slices.Index(cols, col)
	if i < 0 {
		t.Fatalf("table %s has no decoder column %q (has %v)", r.table.Name, col, cols)
	}
	return r.values[i]
}

// decoderColumns are the columns a decoder supplies: all but user_id,
// origin and stream_seq.
func decoderColumns(t *pgstore.Table) []string {
	return t.Columns[1 : len(t.Columns)-2]
}

// rejection is one Sink.Reject call.
type rejection struct {
	pointer, reason string
	item            []byte
}

// recSink records what a decoder produces.
type recSink struct {
	rows    []row
	rejects []rejection
	unknown map[string]int // localised text the vocabulary did not know, by field
}

// UnknownTerm implements kind.UnknownTermSink.
func (s *recSink) UnknownTerm(field string) {
	if s.unknown == nil {
		s.unknown = map[string]int{}
	}
	s.unknown[field]++
}

func (s *recSink) Row(t *pgstore.Table, ordinal int64, values ...any) {
	s.rows = append(s.rows, row{table: t, ordinal: ordinal, values: slices.Clone(values)})
}

func (s *recSink) Reject(pointer, reason string, item []byte) {
	s.rejects = append(s.rejects, rejection{pointer: pointer, reason: reason, item: bytes.Clone(item)})
}

// judgedAlike decodes it again as the edge does (Env.Validating) and
// reports how that differs from s, the rows and rejections of a writer's
// decoding: the same rejections, in order, and no rows.
func judgedAlike(k *kind.Kind, it *hae.Item, s *recSink) error {
	env := testEnv()
	env.Validating = true
	var v recSink
	k.Decode(&env, it, &v)
	if len(v.rows) > 0 {
		return fmt.Errorf("validating built %d rows", len(v.rows))
	}
	if len(v.rejects) != len(s.rejects) {
		return fmt.Errorf("validating rejected %d, the writer %d", len(v.rejects), len(s.rejects))
	}
	for i, r := range v.rejects {
		if w := s.rejects[i]; r.pointer != w.pointer || r.reason != w.reason || !bytes.Equal(r.item, w.item) {
			return fmt.Errorf("validating rejected %s (%s), the writer %s (%s)", r.pointer, r.reason, w.pointer, w.reason)
		}
	}
	return nil
}

// metricItem is point 0 of a Health Auto Export metric element.
func metricItem(name, units, raw string) hae.Item {
	return hae.Item{
		Kind:    reg.MetricKind(name),
		Source:  "metrics",
		Name:    name,
		HasName: true,
		Units:   units,
		Array:   "/data/metrics/0/data",
		Index:   0,
		Raw:     []byte(raw),
		Ordinal: testOrdinal,
	}
}

// arrayItem is element 0 of data.<array> (symptoms, ecg, workouts, ...).
func arrayItem(array, raw string) hae.Item {
	return hae.Item{
		Kind:    reg.ArrayKind(array),
		Source:  array,
		Array:   "/data/" + array,
		Raw:     []byte(raw),
		Ordinal: testOrdinal,
	}
}

// taggedItem is metrics[3] in the spec's tagged format.
func taggedItem(typ, raw string) hae.Item {
	return hae.Item{
		Kind:    reg.TaggedKind(typ),
		Source:  "metrics",
		Tagged:  true,
		Array:   "/data/metrics",
		Index:   3,
		Raw:     []byte(raw),
		Ordinal: testOrdinal,
	}
}

// decode runs the item's kind on it and checks what every decode must
// satisfy (see checkOutcome).
func decode(t testing.TB, it hae.Item) *recSink {
	t.Helper()
	k, ok := reg.Lookup(it.Kind)
	if !ok {
		t.Fatalf("no kind %q", it.Kind)
	}
	if !k.HasWriter() {
		t.Fatalf("kind %q has no writer", it.Kind)
	}
	env := testEnv()
	var s recSink
	k.Decode(&env, &it, &s)
	if err := checkOutcome(k, &it, &s); err != nil {
		t.Fatalf("%s decoding %s: %v", k.Name, it.Raw, err)
	}
	return &s
}

// checkOutcome checks the decoder's contract: exactly one of ≥ 1 row or one
// rejection of the item's pointer, with a reason and the item as sent; rows
// in the kind's tables with the item's ordinal and every value sane.
func checkOutcome(k *kind.Kind, it *hae.Item, s *recSink) error {
	self := it.Pointer()
	selfRejected := false
	for _, r := range s.rejects {
		switch {
		case r.pointer == self:
			selfRejected = true
			if !bytes.Equal(r.item, it.Raw) {
				return fmt.Errorf("rejected item %q, want the item as sent %q", r.item, it.Raw)
			}
		case !strings.HasPrefix(r.pointer, self+"/"):
			// Only a sub-item (a workout's route point or sample) may be
			// rejected beside its item.
			return fmt.Errorf("rejection pointer %q is neither %q nor inside it", r.pointer, self)
		}
		if strings.TrimSpace(r.reason) == "" {
			return fmt.Errorf("empty rejection reason")
		}
	}
	switch {
	case selfRejected && (len(s.rows) > 0 || len(s.rejects) != 1):
		return fmt.Errorf("item rejected, yet rows %v and rejections %v", s.rows, s.rejects)
	case !selfRejected && len(s.rows) == 0:
		return fmt.Errorf("want one rejection or some rows, got %d rejections and no row", len(s.rejects))
	}
	for _, r := range s.rows {
		if !slices.Contains(k.Tables, r.table) {
			return fmt.Errorf("row for table %s, not one of kind %s", r.table.Name, k.Name)
		}
		// Rows of sub-items order after their item: ordinal<<24 | position.
		if r.ordinal != int64(it.Ordinal) && r.ordinal>>24 != int64(it.Ordinal) {
			return fmt.Errorf("row ordinal %d, want the item's %d", r.ordinal, it.Ordinal)
		}
		cols := decoderColumns(r.table)
		if len(r.values) != len(cols) {
			return fmt.Errorf("row has %d values for %d columns %v", len(r.values), len(cols), cols)
		}
		for i, v := range r.values {
			if err := checkValue(r.table.Name, cols[i], v); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkValue checks one value against docs/data-rules.md's rules for its column.
func checkValue(table, col string, v any) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%s.%s = %#v: %s", table, col, v, fmt.Sprintf(format, args...))
	}
	switch col {
	case "recorded_at", "started_at", "ended_at", "sleep_start", "sleep_end", "in_bed_start", "in_bed_end":
		if v == nil && col != "recorded_at" && col != "started_at" {
			return nil
		}
		ts, ok := v.(time.Time)
		if !ok {
			return bad("not a time.Time")
		}
		if ts.Location() != time.UTC {
			return bad("not in UTC")
		}
		if ts.Before(time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC)) || ts.After(receivedAt.Add(24*time.Hour)) {
			return bad("outside the time window")
		}
	case "recorded_offset_min":
		o, ok := v.(int16)
		if !ok {
			return bad("not an int16")
		}
		if o < -(23*60+59) || o > 23*60+59 {
			return bad("offset beyond ±23:59")
		}
	case "source", "metric", "units":
		if _, ok := v.(string); !ok {
			return bad("not a string (NULL would defeat unique keys)")
		}
	case "extra":
		if v == nil {
			return nil
		}
		s, ok := v.(string)
		if !ok {
			return bad("not a string or nil")
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal([]byte(s), &m); err != nil || m == nil {
			return bad("not a JSON object: %v", err)
		}
		if len(m) == 0 {
			return bad("an empty object: should be NULL")
		}
	case "min_bpm", "avg_bpm", "max_bpm", "systolic", "diastolic", "qty":
		if v == nil && (table == "workout_samples" || col != "qty" && col != "systolic" && col != "diastolic") {
			return nil
		}
		f, ok := v.(float64)
		if !ok {
			return bad("not a float64")
		}
		lo, hi := 0.0, math.MaxFloat64
		switch col {
		case "min_bpm", "avg_bpm", "max_bpm":
			lo, hi = 20, 300
		case "systolic":
			lo, hi = 40, 250
		case "diastolic":
			lo, hi = 30, 150
		}
		if math.IsNaN(f) || math.IsInf(f, 0) || f < lo || f > hi {
			return bad("outside %g–%g", lo, hi)
		}
	}
	return nil
}

// oneRow asserts the decode produced exactly one row.
func oneRow(t testing.TB, s *recSink) row {
	t.Helper()
	if len(s.rows) != 1 {
		t.Fatalf("want one row, got %d rows, rejections %+v", len(s.rows), s.rejects)
	}
	return s.rows[0]
}

// rejected asserts the decode rejected the item with a reason containing
// every one of parts, and returns the reason.
func rejected(t testing.TB, s *recSink, parts ...string) string {
	t.Helper()
	if len(s.rejects) != 1 {
		t.Fatalf("want a rejection, got rows %+v", s.rows)
	}
	reason := s.rejects[0].reason
	for _, p := range parts {
		if !strings.Contains(reason, p) {
			t.Errorf("reason %q does not contain %q", reason, p)
		}
	}
	return reason
}

// wantFloat asserts a float64 column value.
func wantFloat(t testing.TB, r row, col string, want float64) {
	t.Helper()
	got, ok := r.get(t, col).(float64)
	if !ok || got != want {
		t.Errorf("%s = %#v, want %v", col, r.get(t, col), want)
	}
}

func wantNil(t testing.TB, r row, col string) {
	t.Helper()
	if v := r.get(t, col); v != nil {
		t.Errorf("%s = %#v, want nil", col, v)
	}
}

func wantTime(t testing.TB, r row, col string, want time.Time, offsetMin int16) {
	t.Helper()
	got, ok := r.get(t, col).(time.Time)
	if !ok || !got.Equal(want) || got.Location() != time.UTC {
		t.Errorf("%s = %#v, want %v in UTC", col, r.get(t, col), want)
	}
	if off := r.get(t, "recorded_offset_min"); off != offsetMin {
		t.Errorf("recorded_offset_min = %#v, want %d", off, offsetMin)
	}
}

func wantString(t testing.TB, r row, col, want string) {
	t.Helper()
	if got := r.get(t, col); got != want {
		t.Errorf("%s = %#v, want %q", col, got, want)
	}
}

func utc(s string) time.Time {
	ts, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return ts.UTC()
}

// wantJSON asserts a jsonb column holds the object want (compared as
// decoded JSON, so member order does not matter).
func wantJSON(t testing.TB, r row, col, want string) {
	t.Helper()
	got, ok := r.get(t, col).(string)
	if !ok {
		t.Errorf("%s = %#v, want the JSON %s", col, r.get(t, col), want)
		return
	}
	var g, w any
	if err := json.Unmarshal([]byte(got), &g); err != nil {
		t.Fatalf("%s: %v", col, err)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("want: %v", err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Errorf("%s = %s, want %s", col, got, want)
	}
}
