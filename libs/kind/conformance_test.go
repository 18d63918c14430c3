package kind_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"

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
	w := walked{rows: map[string][]row{}, rejects: map[string]rejection{}, waiting: map[string]int{}}
	ordinals := map[string]int{}
	env := testEnv()
	err = hae.Walk(body, reg, func(it *hae.Item) error {
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
		t.Fatalf("walk %s: %v", file, err)
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
		if r.ordinal != i {
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
	if w.waiting["workout"] != 1 {
		t.Errorf("waiting %v, want the workout", w.waiting)
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
	if w.waiting["workout"] != 1 {
		t.Errorf("waiting %v", w.waiting)
	}
}
