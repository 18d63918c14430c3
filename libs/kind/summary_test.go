package kind_test

import (
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgtype"

	"github.com/healthexport/libs/kind"
)

// TestCumulativeMetrics checks the registry's one table of cumulative
// metrics: what the Health app adds up over a day (steps, energy,
// distances, flights, exercise and stand minutes, what was eaten and
// drunk) is a total; what it averages (heart rate, HRV, SpO2, breathing,
// weight, ...) is min/avg/max; sleep goes by night. A metric dropped from
// the table would silently turn into min/avg/max, one added by mistake
// into a sum of readings; both fail here.
func TestCumulativeMetrics(t *testing.T) {
	cumulative := []string{
		"step_count", "active_energy", "basal_energy_burned", "walking_running_distance",
		"cycling_distance", "swimming_distance", "wheelchair_distance", "downhill_snow_sports",
		"flights_climbed", "apple_exercise_time", "apple_move_time", "apple_stand_time",
		"apple_stand_hour", "physical_effort_minutes", "time_in_daylight", "mindful_minutes",
		"swim_stroke_count", "wheelchair_push_count", "nike_fuel",
		"number_of_alcoholic_beverages", "number_of_times_fallen", "inhaler_usage",
		"insulin_delivery", "sexual_activity", "toothbrushing", "handwashing",
		"dietary_energy", "dietary_water", "dietary_caffeine", "dietary_sugar",
		"dietary_cholesterol", "dietary_biotin", "carbohydrates", "protein", "fiber",
		"total_fat", "saturated_fat", "monounsaturated_fat", "polyunsaturated_fat",
		"calcium", "chloride", "chromium", "copper", "folate", "iodine", "iron", "magnesium",
		"manganese", "molybdenum", "niacin", "pantothenic_acid", "phosphorus", "potassium",
		"riboflavin", "selenium", "sodium", "thiamin", "zinc", "vitamin_a", "vitamin_b6",
		"vitamin_b12", "vitamin_c", "vitamin_d", "vitamin_e", "vitamin_k",
	}
	// Readings: a day's sum of them means nothing.
	discrete := []string{
		"heart_rate", "resting_heart_rate", "walking_heart_rate_average", "heart_rate_variability",
		"cardio_recovery", "blood_oxygen_saturation", "respiratory_rate", "breathing_disturbances",
		"weight_body_mass", "body_mass_index", "body_fat_percentage", "lean_body_mass", "height",
		"waist_circumference", "vo2_max", "blood_glucose", "blood_alcohol_content",
		"body_temperature", "basal_body_temperature", "apple_sleeping_wrist_temperature",
		"walking_speed", "walking_step_length", "walking_asymmetry_percentage",
		"walking_double_support_percentage", "walking_steadiness", "stair_speed_up",
		"stair_speed_down", "six_minute_walking_test_distance", "running_speed", "running_power",
		"running_stride_length", "running_ground_contact_time", "running_vertical_oscillation",
		"cycling_speed", "cycling_power", "cycling_cadence", "physical_effort",
		"environmental_audio_exposure", "headphone_audio_exposure", "uv_exposure",
		"atrial_fibrillation_burden", "peripheral_perfusion_index", "electrodermal_activity",
		"forced_vital_capacity", "forced_expiratory_volume", "peak_expiratory_flow_rate",
		"underwater_depth", "water_temperature",
	}
	// Other spellings the app sends go the way of their metric.
	aliases := map[string]kind.Aggregation{
		"push_count":                    kind.Cumulative,
		"swimming_stroke_count":         kind.Cumulative,
		"distance_downhill_snow_sports": kind.Cumulative,
		"caffeine":                      kind.Cumulative,
		"cholesterol":                   kind.Cumulative,
		"biotin":                        kind.Cumulative,
		"monosaturated_fat":             kind.Cumulative,
		"number_of_time_fallen":         kind.Cumulative,
		" Step_Count ":                  kind.Cumulative,
		"vo2max":                        kind.Discrete,
		"walking_heart_rate":            kind.Discrete,
		"Heart_Rate":                    kind.Discrete,
		kind.SleepMetric:                kind.Nightly,
	}
	want := map[string]kind.Aggregation{}
	for _, m := range cumulative {
		want[m] = kind.Cumulative
	}
	for _, m := range discrete {
		if _, dup := want[m]; dup {
			t.Fatalf("%s is listed as both cumulative and discrete", m)
		}
		want[m] = kind.Discrete
	}
	for m, a := range aliases {
		want[m] = a
	}
	for m, a := range want {
		if got := reg.Aggregation(m); got != a {
			t.Errorf("Aggregation(%q) = %s, want %s", m, got, a)
		}
	}

	// The table holds nothing this test does not expect either: a metric
	// added to it is a decision, made here too.
	table := reg.CumulativeMetrics()
	for _, m := range table {
		if want[m] != kind.Cumulative {
			t.Errorf("CumulativeMetrics lists %q, which this test does not take for cumulative", m)
		}
	}
	for _, m := range cumulative {
		if !slices.Contains(table, m) {
			t.Errorf("CumulativeMetrics lacks %q", m)
		}
	}
	// A copy: a caller cannot change the registry's table.
	table[0] = "heart_rate"
	if reg.Aggregation("heart_rate") != kind.Discrete {
		t.Error("changing CumulativeMetrics' answer changed the registry's table")
	}
}

// TestRowSample reads heart-rate rows as the summary statement reads
// them: the value is avg, else min, else max; the least and greatest are
// min and max, else the value; a row without any is not counted, and a
// value of a type the decoders never make is flagged rather than read as
// missing.
func TestRowSample(t *testing.T) {
	reg := kind.New()
	var hr *kind.Kind
	for _, k := range reg.Kinds() {
		if k.Name == "heart_rate" {
			hr = k
		}
	}
	s := hr.Summary.Samples
	tbl := s.Table
	at := time.Date(2025, 6, 1, 23, 30, 0, 0, time.UTC)
	row := func(lo, avg, hi any, off int16) []any {
		r := make([]any, len(tbl.Columns))
		set := func(col string, v any) { r[slices.Index(tbl.Columns, col)] = v }
		set("user_id", pgtype.UUID{Valid: true})
		set("recorded_at", at)
		set("source", "Ana’s Apple Watch")
		set("min_bpm", lo)
		set("avg_bpm", avg)
		set("max_bpm", hi)
		set("recorded_offset_min", off)
		set("origin", kind.OriginImport)
		return r
	}
	for _, c := range []struct {
		name       string
		row        []any
		ok, unread bool
		v, lo, hi  float64
		day        string
	}{
		{"all three", row(50.0, 60.5, 70.0, 0), true, false, 60.5, 50, 70, "2025-06-01"},
		{"no avg", row(50.0, nil, 70.0, 0), true, false, 50, 50, 70, "2025-06-01"},
		{"max only, a day later in +0100", row(nil, nil, 70.0, 60), true, false, 70, 70, 70, "2025-06-02"},
		{"avg only", row(nil, 61.0, nil, -480), true, false, 61, 61, 61, "2025-06-01"},
		{"none", row(nil, nil, nil, 0), false, false, 0, 0, 0, ""},
		{"an int", row(nil, int64(61), nil, 0), true, true, 0, 0, 0, "2025-06-01"},
	} {
		t.Run(c.name, func(t *testing.T) {
			smp, ok := s.RowSample(tbl, c.row)
			if ok != c.ok || smp.Unread != c.unread {
				t.Fatalf("ok %v unread %v, want %v %v", ok, smp.Unread, c.ok, c.unread)
			}
			if !ok || c.unread {
				return
			}
			if smp.V != c.v || smp.Lo != c.lo || smp.Hi != c.hi || smp.Day.String() != c.day {
				t.Errorf("got v %g lo %g hi %g day %s, want %g %g %g %s", smp.V, smp.Lo, smp.Hi, smp.Day, c.v, c.lo, c.hi, c.day)
			}
			if smp.Metric != "heart_rate" || smp.Units != "count/min" || smp.NoUnits || smp.Origin != kind.OriginImport || smp.Source != "Ana’s Apple Watch" {
				t.Errorf("got %+v", smp)
			}
		})
	}
}
