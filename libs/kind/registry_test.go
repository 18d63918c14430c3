package kind_test

import (
	"slices"
	"testing"

	"github.com/jackc/pgx/v5/pgtype"

	"github.com/healthexport/libs/kind"
)

func TestKindsInOrder(t *testing.T) {
	var names []string
	for _, k := range reg.Kinds() {
		names = append(names, k.Name)
		got, ok := reg.Lookup(k.Name)
		if !ok || got != k {
			t.Errorf("Lookup(%q) = %v, %v; want the same kind", k.Name, got, ok)
		}
	}
	want := []string{"heart_rate", "blood_pressure", "quantity", "sleep", "workout", "ecg", "event", "activity_summary", "import"}
	if !slices.Equal(names, want) {
		t.Fatalf("Kinds() = %v, want %v", names, want)
	}
	if _, ok := reg.Lookup("steps"); ok {
		t.Error(`Lookup("steps") found a kind`)
	}
	if _, ok := reg.Lookup(""); ok {
		t.Error(`Lookup("") found a kind`)
	}
}

func TestHasWriterAndTables(t *testing.T) {
	tables := map[string][]string{
		"heart_rate":     {"heart_rate_metrics"},
		"blood_pressure": {"blood_pressure_metrics"},
		"quantity":       {"quantity_metrics"},
		"sleep":          {"sleep_segments", "sleep_sessions"},
		"workout":        {"workouts", "workout_route_points", "workout_samples"},
		"ecg":            {"ecg_recordings"},
		"event":          {"health_events"},
		// Only imports of the Health app's export bring these two.
		"activity_summary": {"activity_summaries"},
		"import":           {"imports"},
	}
	var want []string
	for _, k := range reg.Kinds() {
		if !k.HasWriter() {
			t.Errorf("%s: no writer", k.Name)
		}
		var got []string
		for _, tb := range k.Tables {
			got = append(got, tb.Name)
		}
		if !slices.Equal(got, tables[k.Name]) {
			t.Errorf("%s: tables %v, want %v", k.Name, got, tables[k.Name])
		}
		want = append(want, tables[k.Name]...)
	}
	var all []string
	for _, tb := range reg.Tables() {
		all = append(all, tb.Name)
	}
	if !slices.Equal(all, want) {
		t.Errorf("Tables() = %v, want %v", all, want)
	}
}

// TestTableLayout pins the columns and keys of docs/data-rules.md's table.
func TestTableLayout(t *testing.T) {
	for _, c := range []struct {
		kind      string
		columns   []string
		key       []string
		partition string
	}{
		{"heart_rate",
			[]string{"user_id", "recorded_at", "source", "min_bpm", "avg_bpm", "max_bpm", "recorded_offset_min", "origin", "stream_seq"},
			[]string{"user_id", "recorded_at", "source"}, "recorded_at"},
		{"blood_pressure",
			[]string{"user_id", "recorded_at", "source", "systolic", "diastolic", "recorded_offset_min", "origin", "stream_seq"},
			[]string{"user_id", "recorded_at", "source"}, "recorded_at"},
		{"quantity",
			[]string{"user_id", "metric", "recorded_at", "source", "qty", "units", "extra", "recorded_offset_min", "origin", "stream_seq"},
			[]string{"user_id", "metric", "recorded_at", "source"}, "recorded_at"},
	} {
		k, _ := reg.Lookup(c.kind)
		tb := k.Tables[0]
		if !slices.Equal(tb.Columns, c.columns) {
			t.Errorf("%s columns %v, want %v", tb.Name, tb.Columns, c.columns)
		}
		if !slices.Equal(tb.Key, c.key) {
			t.Errorf("%s key %v, want %v", tb.Name, tb.Key, c.key)
		}
		if tb.PartitionBy != c.partition || tb.Columns[tb.PartitionIndex()] != c.partition {
			t.Errorf("%s partitioned by %q (index %d), want %q", tb.Name, tb.PartitionBy, tb.PartitionIndex(), c.partition)
		}
		if tb.InsertOnly {
			t.Errorf("%s is insert-only: a later item must replace an earlier one", tb.Name)
		}
	}
}

func TestMetricKind(t *testing.T) {
	for _, c := range []struct{ name, want string }{
		{"heart_rate", "heart_rate"},
		{" Heart_Rate ", "heart_rate"},
		{"HEART_RATE", "heart_rate"},
		{"\theart_rate\n", "heart_rate"},
		{"blood_pressure", "blood_pressure"},
		{"Blood_Pressure", "blood_pressure"},
		{"sleep_analysis", "sleep"},
		{" Sleep_Analysis", "sleep"},
		{"step_count", "quantity"},
		{"resting_heart_rate", "quantity"},
		{"walking_heart_rate", "quantity"},
		{"sexual_activity", "quantity"},
		{"unknown_new_metric", "quantity"},
		{"", "quantity"},
		{"heart rate", "quantity"},
	} {
		if got := reg.MetricKind(c.name); got != c.want {
			t.Errorf("MetricKind(%q) = %q, want %q", c.name, got, c.want)
		}
	}
}

func TestTaggedKind(t *testing.T) {
	for _, c := range []struct{ typ, want string }{
		{"HeartRate", "heart_rate"},
		{"BloodPressure", "blood_pressure"},
		{"Workout", "workout"},
		{"Unknown", "quantity"},
		{"heartrate", "quantity"}, // the type is matched exactly
		{" HeartRate", "quantity"},
		{"", "quantity"},
	} {
		if got := reg.TaggedKind(c.typ); got != c.want {
			t.Errorf("TaggedKind(%q) = %q, want %q", c.typ, got, c.want)
		}
	}
}

func TestArrayKind(t *testing.T) {
	for _, c := range []struct{ key, want string }{
		{"workouts", "workout"},
		{"ecg", "ecg"},
		{"symptoms", "event"},
		{"stateOfMind", "event"},
		{"medications", "event"},
		{"cycleTracking", "event"},
		{"heartRateNotifications", "event"},
		{"metrics", ""}, // the walker handles metrics itself
		{"Workouts", ""},
		{"somethingNew", ""},
		{"", ""},
	} {
		if got := reg.ArrayKind(c.key); got != c.want {
			t.Errorf("ArrayKind(%q) = %q, want %q", c.key, got, c.want)
		}
	}
}

// TestRoutesToKnownKinds checks that every route lands on a kind of the
// registry.
func TestRoutesToKnownKinds(t *testing.T) {
	routes := []string{
		reg.MetricKind("x"), reg.TaggedKind("x"),
		reg.ArrayKind("workouts"), reg.ArrayKind("ecg"), reg.ArrayKind("symptoms"),
	}
	for _, r := range routes {
		if _, ok := reg.Lookup(r); !ok {
			t.Errorf("route to %q, which is not a kind", r)
		}
	}
}

func TestSubjectsAndDurables(t *testing.T) {
	const uid = "0b7e2d3c-1111-4222-8333-944455556666"
	for _, k := range reg.Kinds() {
		if got, want := k.Subject("health", uid), "health.ingest."+k.Name+"."+uid; got != want {
			t.Errorf("Subject = %q, want %q", got, want)
		}
		if got, want := k.Filter("health"), "health.ingest."+k.Name+".>"; got != want {
			t.Errorf("Filter = %q, want %q", got, want)
		}
		if got, want := k.Durable("t-"), "t-writer-"+k.Name; got != want {
			t.Errorf("Durable = %q, want %q", got, want)
		}
		if got, want := k.Durable(""), "writer-"+k.Name; got != want {
			t.Errorf("Durable = %q, want %q", got, want)
		}
		if got, want := k.Subject("tabc", uid), "tabc.ingest."+k.Name+"."+uid; got != want {
			t.Errorf("Subject = %q, want %q", got, want)
		}
	}
	hr, _ := reg.Lookup("heart_rate")
	if got := hr.Subject("health", "u1"); got != "health.ingest.heart_rate.u1" {
		t.Errorf("heart_rate subject %q", got)
	}
	if got := hr.Durable("t-"); got != "t-writer-heart_rate" {
		t.Errorf("heart_rate durable %q", got)
	}
}

// TestAliases covers all 16 aliases docs/data-rules.md lists.
func TestAliases(t *testing.T) {
	aliases := map[string]string{
		"vo2max":                           "vo2_max",
		"walking_heart_rate":               "walking_heart_rate_average",
		"environmental_audio":              "environmental_audio_exposure",
		"headphone_audio":                  "headphone_audio_exposure",
		"caffeine":                         "dietary_caffeine",
		"cholesterol":                      "dietary_cholesterol",
		"biotin":                           "dietary_biotin",
		"monosaturated_fat":                "monounsaturated_fat",
		"number_of_time_fallen":            "number_of_times_fallen",
		"stair_speed:_down":                "stair_speed_down",
		"stair_speed:_up":                  "stair_speed_up",
		"six-minute_walking_test_distance": "six_minute_walking_test_distance",
		"push_count":                       "wheelchair_push_count",
		"swimming_stroke_count":            "swim_stroke_count",
		"distance_downhill_snow_sports":    "downhill_snow_sports",
		"forced_expiratory_volume_1":       "forced_expiratory_volume",
	}
	if len(aliases) != 16 {
		t.Fatalf("test table has %d aliases, want 16", len(aliases))
	}
	for alias, canonical := range aliases {
		for _, in := range []string{alias, " " + alias + "\t", upper(alias)} {
			if got := reg.CanonicalMetric(in); got != canonical {
				t.Errorf("CanonicalMetric(%q) = %q, want %q", in, got, canonical)
			}
		}
		// A canonical name is its own canonical name.
		if got := reg.CanonicalMetric(canonical); got != canonical {
			t.Errorf("CanonicalMetric(%q) = %q, want itself", canonical, got)
		}
		// And it is stored under the canonical name.
		s := decode(t, metricItem(" "+upper(alias)+" ", "u", `{"date":"2025-03-02 09:00:00 -0800","qty":60}`))
		wantString(t, oneRow(t, s), "metric", canonical)
	}
}

func TestCanonicalMetric(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"step_count", "step_count"},
		{" Step_Count ", "step_count"},
		{"VO2MAX", "vo2_max"},
		{"Vo2_Max", "vo2_max"},
		{"Stair_Speed:_Down", "stair_speed_down"},
		{"", ""},
		{"   ", ""},
		{"unknown_new_metric", "unknown_new_metric"},
	} {
		if got := reg.CanonicalMetric(c.in); got != c.want {
			t.Errorf("CanonicalMetric(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func upper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'a' <= c && c <= 'z' {
			b[i] = c - 'a' + 'A'
		}
	}
	return string(b)
}

func TestFullRow(t *testing.T) {
	env := testEnv()
	env.Origin = kind.OriginImport
	values := []any{"metric", receivedAt, "src", 1.5, nil}
	got := kind.FullRow(&env, 9, values)
	// The user as pgtype.UUID: what pgx encodes without a fallback.
	want := []any{pgtype.UUID{Bytes: env.UserID, Valid: true}, "metric", receivedAt, "src", 1.5, nil, kind.OriginImport, int64(42), int64(9)}
	if len(got) != len(want) {
		t.Fatalf("FullRow = %#v, want %#v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("FullRow[%d] = %#v, want %#v", i, got[i], want[i])
		}
	}
	// A decoder's row laid out by FullRow has one value per table column,
	// plus the ordinal.
	s := decode(t, metricItem("heart_rate", "count/min", `{"date":"2025-03-01 08:00:00 -0800","Avg":70}`))
	r := oneRow(t, s)
	full := kind.FullRow(&env, r.ordinal, r.values)
	if len(full) != len(r.table.Columns)+1 {
		t.Errorf("FullRow has %d values for %d columns + ordinal", len(full), len(r.table.Columns))
	}
	if full[len(full)-1] != int64(testOrdinal) {
		t.Errorf("FullRow ends with %#v, want the ordinal %d", full[len(full)-1], testOrdinal)
	}
	// values must not be modified.
	if len(values) != 5 || values[0] != "metric" {
		t.Errorf("FullRow changed its input: %v", values)
	}
}
