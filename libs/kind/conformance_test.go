package kind_test

import (
	"fmt"
	"math"
	"time"

	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/jackc/pgx/v5/pgtype"

	"github.com/healthexport/libs/hae"
)

// walked is what decoding every item of a body produced.
type walked struct {
	rows    map[string][]row // by table
	rejects map[string]rejection
	waiting map[string]int // items of kinds without a writer, by kind
}

// walkDecode walks a conformance body with the registry as the router and
// decodes every item of a kind with a writer, giving ordinals as the edge
// does (position among the kind's items in document order).
func walkDecode(t *testing.T, file string) walked {
	t.Helper()
	body, err := os.ReadFile(filepath.Join("testdata", "conformance", file))
	if err != nil {
		t.Fatal(err)
	}
	return walkDecodeBody(t, file, body)
}

// walkDecodeBody is walkDecode of a body given in full.
func walkDecodeBody(t *testing.T, name string, body []byte) walked {
	t.Helper()
	w := walked{rows: map[string][]row{}, rejects: map[string]rejection{}, waiting: map[string]int{}}
	ordinals := map[string]int{}
	env := testEnv()
	err := hae.Walk(body, reg, func(it *hae.Item) error {
		it.Ordinal = ordinals[it.Kind]
		ordinals[it.Kind]++
		k, ok := reg.Lookup(it.Kind)
		if !ok {
			t.Fatalf("item %s routed to unknown kind %q", it.Pointer(), it.Kind)
		}
		if !k.HasWriter() {
			w.waiting[k.Name]++
			return nil
		}
		var s recSink
		k.Decode(&env, it, &s)
		if err := checkOutcome(k, it, &s); err != nil {
			t.Errorf("%s: %v", it.Pointer(), err)
		}
		if err := judgedAlike(k, it, &s); err != nil {
			t.Errorf("%s: %v", it.Pointer(), err)
		}
		for _, r := range s.rows {
			w.rows[r.table.Name] = append(w.rows[r.table.Name], r)
		}
		for _, r := range s.rejects {
			if _, dup := w.rejects[r.pointer]; dup {
				t.Errorf("pointer %s rejected twice", r.pointer)
			}
			w.rejects[r.pointer] = r
		}
		return nil
	})
	if err != nil {
		t.Fatalf("walk %s: %v", name, err)
	}
	return w
}

func TestConformanceHeartRate(t *testing.T) {
	w := walkDecode(t, "01-heart-rate.json")
	rows := w.rows["heart_rate_metrics"]
	if len(rows) != 5 || len(w.rejects) != 0 {
		t.Fatalf("%d rows, rejections %v", len(rows), w.rejects)
	}
	r := rows[0]
	wantTime(t, r, "recorded_at", utc("2025-03-01T16:00:00Z"), -480)
	wantFloat(t, r, "min_bpm", 58)
	wantFloat(t, r, "avg_bpm", 71.25)
	wantFloat(t, r, "max_bpm", 96)
	wantString(t, rows[1], "source", "Ana\u2019s Apple\u00a0Watch")
	wantFloat(t, rows[1], "avg_bpm", 72.5)
	wantString(t, rows[4], "source", "")
	for i, r := range rows {
		if r.ordinal != int64(i) {
			t.Errorf("row %d has ordinal %d", i, r.ordinal)
		}
	}
}

func TestConformanceSourcesAndUnits(t *testing.T) {
	w := walkDecode(t, "02-sources-and-units.json")
	rows := w.rows["quantity_metrics"]
	if len(rows) != 9 || len(w.rejects) != 0 {
		t.Fatalf("%d rows, rejections %v", len(rows), w.rejects)
	}
	var sources []string
	for _, r := range rows[:5] {
		sources = append(sources, r.get(t, "source").(string))
	}
	want := []string{"iPhone", "Ana\u2019s Apple\u00a0Watch", "Ana\u2019s Apple\u00a0Watch|Oura", "", ""}
	if !slices.Equal(sources, want) {
		t.Errorf("sources %q, want %q", sources, want)
	}
	wantString(t, rows[5], "units", "lb")
	wantFloat(t, rows[6], "qty", 97.7)
	// vo2max and vo2_max are one metric: same key, the later one wins.
	wantString(t, rows[7], "metric", "vo2_max")
	wantString(t, rows[8], "metric", "vo2_max")
	if rows[7].ordinal >= rows[8].ordinal {
		t.Errorf("vo2_max ordinals %d, %d: the later item must have the higher one", rows[7].ordinal, rows[8].ordinal)
	}
}

func TestConformanceTimestamps(t *testing.T) {
	w := walkDecode(t, "03-timestamps.json")
	rows := w.rows["quantity_metrics"]
	if len(rows) != 7 || len(w.rejects) != 0 {
		t.Fatalf("%d rows, rejections %v", len(rows), w.rejects)
	}
	wantTime(t, rows[1], "recorded_at", utc("2025-03-09T10:01:00Z"), -420)
}

func TestConformanceSpecialMetrics(t *testing.T) {
	w := walkDecode(t, "09-special-metrics.json")
	if len(w.rejects) != 0 {
		t.Fatalf("rejections %v", w.rejects)
	}
	if n := len(w.rows["blood_pressure_metrics"]); n != 2 {
		t.Errorf("%d blood pressure rows", n)
	}
	byMetric := map[string][]row{}
	for _, r := range w.rows["quantity_metrics"] {
		m := r.get(t, "metric").(string)
		byMetric[m] = append(byMetric[m], r)
	}
	wantFloat(t, byMetric["sexual_activity"][0], "qty", 1)
	var extra map[string]any
	_ = json.Unmarshal([]byte(byMetric["blood_glucose"][0].get(t, "extra").(string)), &extra)
	if extra["mealTime"] != "Before Meal" {
		t.Errorf("blood_glucose extra %v", extra)
	}
	for _, m := range []string{"dietary_caffeine", "walking_heart_rate_average", "stair_speed_down"} {
		if len(byMetric[m]) == 0 {
			t.Errorf("no %s rows", m)
		}
	}
	if n := len(byMetric["dietary_caffeine"]); n != 2 {
		t.Errorf("%d dietary_caffeine rows, want 2 (caffeine is an alias)", n)
	}
	for _, m := range []string{"caffeine", "walking_heart_rate", "stair_speed:_down"} {
		if len(byMetric[m]) != 0 {
			t.Errorf("rows under the alias %s", m)
		}
	}
}

func TestConformanceInvalidPoints(t *testing.T) {
	w := walkDecode(t, "10-invalid-points.json")
	want := map[string]string{
		"/data/metrics/0/data/0": "avg_bpm: must be between 20 and 300, got 400",
		"/data/metrics/0/data/1": "min_bpm: must be between 20 and 300, got 10",
		"/data/metrics/0/data/3": `date: timestamp "yesterday at noon": expected a date as YYYY-MM-DD`,
		"/data/metrics/0/data/4": "date: 2099-01-01T00:00:00Z is more than 24 h after the upload was received (2026-11-26T00:00:00Z)",
		"/data/metrics/1/data/0": "systolic: must be between 40 and 250, got 300",
		"/data/metrics/1/data/1": "diastolic: must be between 30 and 150, got 20",
		"/data/metrics/1/data/2": "blood pressure needs both systolic and diastolic",
		"/data/metrics/2/data/0": "qty: must be ≥ 0, got -5",
		"/data/metrics/2/data/1": "qty: must be a number, got a string",
		"/data/metrics/3/data/0": "qty: missing: a mystery_signal point needs a numeric qty",
		"/data/metrics/4/data/0": "qty: must be between 0 and 100, got 101",
		"/data/metrics/5/data/0": "qty: must be between 20 and 300, got 10",
		"/data/workouts/0":       "end 2025-03-16T01:00:00Z is before start 2025-03-16T02:00:00Z",
	}
	for p, reason := range want {
		got, ok := w.rejects[p]
		if !ok {
			t.Errorf("%s not rejected", p)
			continue
		}
		if got.reason != reason {
			t.Errorf("%s: reason %q, want %q", p, got.reason, reason)
		}
	}
	for p := range w.rejects {
		if _, ok := want[p]; !ok {
			t.Errorf("%s rejected unexpectedly: %s", p, w.rejects[p].reason)
		}
	}
	if n := len(w.rows["heart_rate_metrics"]); n != 1 {
		t.Errorf("%d heart rate rows, want 1", n)
	}
	if n := len(w.rows["quantity_metrics"]); n != 1 {
		t.Errorf("%d quantity rows, want 1", n)
	}
	if n := len(w.rows["workouts"]); n != 0 {
		t.Errorf("%d workout rows for a workout that ends before it starts", n)
	}
}

func TestConformanceOldAndNewDates(t *testing.T) {
	w := walkDecode(t, "11-old-and-new-dates.json")
	if n := len(w.rows["quantity_metrics"]); n != 3 || len(w.rejects) != 0 {
		t.Fatalf("%d rows, rejections %v", n, w.rejects)
	}
}

func TestConformanceSeedFormat(t *testing.T) {
	w := walkDecode(t, "13-seed-format.json")
	if n := len(w.rows["heart_rate_metrics"]); n != 1 {
		t.Errorf("%d heart rate rows", n)
	}
	if n := len(w.rows["blood_pressure_metrics"]); n != 1 {
		t.Errorf("%d blood pressure rows", n)
	}
	if r, ok := w.rejects["/data/metrics/1"]; !ok || r.reason != "min_bpm: must be between 20 and 300, got 400" {
		t.Errorf("rejections %v", w.rejects)
	}
	rows := w.rows["workouts"]
	if len(rows) != 1 {
		t.Fatalf("%d workout rows, want the tagged Cycling", len(rows))
	}
	wantString(t, rows[0], "name", "Cycling")
	wantFloat(t, rows[0], "total_energy_kcal", 520.5)
	wantFloat(t, rows[0], "distance_m", 24000)
	wantFloat(t, rows[0], "avg_heart_rate", 138)
	wantFloat(t, rows[0], "duration_s", 3600)
}

func TestConformanceSleep(t *testing.T) {
	agg := walkDecode(t, "04-sleep-aggregated.json")
	sessions := agg.rows["sleep_sessions"]
	if len(sessions) != 4 || len(agg.rejects) != 0 {
		t.Fatalf("%d sessions, rejections %v", len(sessions), agg.rejects)
	}
	days := map[string]int{}
	for _, r := range sessions {
		days[r.get(t, "sleep_date").(pgtype.Date).Time.Format(time.DateOnly)]++
	}
	if days["2025-03-04"] != 1 || days["2025-03-05"] != 2 || days["2025-03-06"] != 1 {
		t.Errorf("sleep dates %v", days)
	}
	wantTime(t, sessions[0], "started_at", utc("2025-03-04T07:10:00Z"), -480)
	wantString(t, sessions[3], "source", "iPhone") // sleepSource, before 2022
	seg := walkDecode(t, "05-sleep-segments.json")
	segments := seg.rows["sleep_segments"]
	if len(segments) != 8 || len(seg.rejects) != 0 {
		t.Fatalf("%d segments, rejections %v", len(segments), seg.rejects)
	}
	inBed := 0
	for _, r := range segments {
		if r.get(t, "stage") == "InBed" {
			inBed++
		}
	}
	if inBed != 2 {
		t.Errorf("%d InBed segments, want 2 (In Bed written with a space too)", inBed)
	}
}

func TestConformanceWorkouts(t *testing.T) {
	v1 := walkDecode(t, "06-workout-v1.json")
	if len(v1.rows["workouts"]) != 1 || len(v1.rows["workout_route_points"]) != 10 || len(v1.rows["workout_samples"]) != 9 || len(v1.rejects) != 0 {
		t.Fatalf("v1: %d workouts, %d route points, %d samples, rejections %v", len(v1.rows["workouts"]),
			len(v1.rows["workout_route_points"]), len(v1.rows["workout_samples"]), v1.rejects)
	}
	walk := v1.rows["workouts"][0]
	if d := walk.get(t, "distance_m").(float64); math.Round(d) != 2575 {
		t.Errorf("1.6 mi = %v m", d)
	}
	wantFloat(t, walk, "active_energy_kcal", 120.5) // v1: activeEnergy is a summary object
	wantFloat(t, walk, "avg_heart_rate", 104)
	wantFloat(t, walk, "duration_s", 1800)
	v2 := walkDecode(t, "07-workout-v2.json")
	if len(v2.rows["workouts"]) != 1 || len(v2.rows["workout_route_points"]) != 24 || len(v2.rows["workout_samples"]) != 18 || len(v2.rejects) != 0 {
		t.Fatalf("v2: %d workouts, %d route points, %d samples, rejections %v", len(v2.rows["workouts"]),
			len(v2.rows["workout_route_points"]), len(v2.rows["workout_samples"]), v2.rejects)
	}
	run := v2.rows["workouts"][0]
	wantString(t, run, "workout_key", "0F7C2B1A-3D4E-4F5A-9B8C-7D6E5F4A3B2C")
	wantFloat(t, run, "active_energy_kcal", 410)
	wantFloat(t, run, "distance_m", 6200)
	wantFloat(t, run, "max_heart_rate", 171)
	if lat := v2.rows["workout_route_points"][0].get(t, "latitude").(float64); lat != 51.5007 {
		t.Errorf("v2 route latitude %v", lat)
	}
}

func TestConformanceOtherArrays(t *testing.T) {
	w := walkDecode(t, "08-other-arrays.json")
	if len(w.rows["health_events"]) != 6 || len(w.rows["ecg_recordings"]) != 1 || len(w.rejects) != 0 {
		t.Fatalf("%d events, %d ECGs, rejections %v", len(w.rows["health_events"]), len(w.rows["ecg_recordings"]), w.rejects)
	}
	kinds := map[string]int{}
	for _, r := range w.rows["health_events"] {
		kinds[r.get(t, "kind").(string)]++
	}
	if kinds["symptom"] != 2 || kinds["state_of_mind"] != 1 || kinds["medication"] != 1 || kinds["cycle_tracking"] != 1 || kinds["heart_rate_notification"] != 1 {
		t.Errorf("event kinds %v", kinds)
	}
	ecg := w.rows["ecg_recordings"][0]
	if v := ecg.get(t, "voltages").([]float64); len(v) != 64 {
		t.Errorf("%d voltages, want 64", len(v))
	}
}

// TestConformanceApp9Notifications: both heart-rate notification shapes
// of 18-heart-rate-notifications-app9.json are stored, none rejected.
func TestConformanceApp9Notifications(t *testing.T) {
	w := walkDecode(t, "18-heart-rate-notifications-app9.json")
	rows := w.rows["health_events"]
	if len(rows) != 4 || len(w.rejects) != 0 {
		t.Fatalf("%d rows, rejections %v", len(rows), w.rejects)
	}
	wantString(t, rows[0], "event_key", "low_heart_rate_notification")
	wantString(t, rows[0], "source", "Ana\u2019s Apple\u00a0Watch")
	wantString(t, rows[1], "name_canonical", "high_heart_rate")
	wantTime(t, rows[1], "started_at", utc("2026-08-11T14:40:00Z"), 0)
	wantTime(t, rows[2], "started_at", utc("2026-08-12T02:00:00Z"), 0)
	wantString(t, rows[3], "value", "120")
	wantNil(t, rows[3], "name")
}

// TestConformanceApp9Shapes: 19-app9-shapes.json, every item stored: source
// objects, numeric dates, new metrics and series, Spanish wording.
func TestConformanceApp9Shapes(t *testing.T) {
	w := walkDecode(t, "19-app9-shapes.json")
	if len(w.rejects) != 0 {
		t.Fatalf("rejections %v", w.rejects)
	}
	for table, n := range map[string]int{"heart_rate_metrics": 3, "quantity_metrics": 4, "ecg_recordings": 2,
		"workouts": 2, "workout_samples": 27, "health_events": 6} {
		if got := len(w.rows[table]); got != n {
			t.Errorf("%s: %d rows, want %d", table, got, n)
		}
	}
	ecg := w.rows["ecg_recordings"]
	wantString(t, ecg[0], "classification_canonical", "sinus_rhythm")
	wantString(t, ecg[1], "classification_canonical", "atrial_fibrillation")
	var canon []any
	for _, r := range w.rows["health_events"] {
		canon = append(canon, r.get(t, "value_canonical"))
	}
	if want := []any{"taken", "skipped", "not_interacted", nil, "mild", "very_pleasant"}; fmt.Sprint(canon) != fmt.Sprint(want) {
		t.Errorf("value_canonical %v, want %v", canon, want)
	}
}
