package importer

import (
	"strings"
	"testing"

	"github.com/healthexport/libs/kind"
)

// TestQuantityMetricsAreCanonical: every metric the mapping table names is
// already canonical (the registry's aliases map nothing onto it), so an
// import and an upload of the same sample meet in one series; heart rate
// goes to its own kind, and nothing in the table to sleep or blood
// pressure.
func TestQuantityMetricsAreCanonical(t *testing.T) {
	reg := kind.New()
	for hk, metric := range quantityMetrics {
		if c := reg.CanonicalMetric(metric); c != metric {
			t.Errorf("%s maps to %q, which the registry reads as %q: name the canonical metric", hk, metric, c)
		}
		want := "quantity"
		if metric == "heart_rate" {
			want = "heart_rate"
		}
		if k := reg.MetricKind(metric); k != want {
			t.Errorf("%s (%s) goes to kind %s, want %s", hk, metric, k, want)
		}
	}
	// The names Health Auto Export is known to send, and the aliases'
	// targets, are reached from HealthKit's types.
	for _, hae := range []string{"heart_rate", "step_count", "active_energy", "heart_rate_variability", "resting_heart_rate",
		"weight_body_mass", "blood_oxygen_saturation", "walking_running_distance", "vo2_max", "dietary_caffeine",
		"walking_heart_rate_average", "wheelchair_push_count", "swim_stroke_count", "downhill_snow_sports", "forced_expiratory_volume"} {
		found := false
		for _, m := range quantityMetrics {
			found = found || m == hae
		}
		if !found {
			t.Errorf("no HealthKit type maps to %s", hae)
		}
	}
}

func TestMetricNameOfUnknownTypes(t *testing.T) {
	for _, c := range []struct{ typ, want string }{
		{"HKQuantityTypeIdentifierStepCount", "step_count"},
		{"HKQuantityTypeIdentifierFutureMetricOfIOS30", "future_metric_of_ios30"},
		{"HKQuantityTypeIdentifierUVIndexMax", "uv_index_max"},
		{"HKDataTypeSleepDurationGoal", "sleep_duration_goal"},
		{"HKQuantityTypeIdentifierVO2Max", "vo2_max"},
		{"SomethingElse", "something_else"},
	} {
		if got := metricName(c.typ); got != c.want {
			t.Errorf("metricName(%s) = %q, want %q", c.typ, got, c.want)
		}
	}
	for _, c := range []struct{ v, typ, want string }{
		{"HKCategoryValueSeverityMild", "Headache", "Mild"},
		{"HKCategoryValueVaginalBleedingLight", "MenstrualFlow", "Light"},
		{"HKCategoryValueMenstrualFlowHeavy", "MenstrualFlow", "Heavy"},
		{"HKCategoryValueAppleStandHourStood", "AppleStandHour", "Stood"},
		{"HKCategoryValueNotApplicable", "MindfulSession", "Not Applicable"},
		{"HKCategoryValueAudioExposureEventLoudEnvironment", "AudioExposureEvent", "Loud Environment"},
		{"3", "Whatever", "3"},
	} {
		if got := categoryValueText(c.v, c.typ); got != c.want {
			t.Errorf("categoryValueText(%s) = %q, want %q", c.v, got, c.want)
		}
	}
	if got := words("RapidPoundingOrFlutteringHeartbeat"); !strings.HasPrefix(got, "Rapid Pounding Or") {
		t.Errorf("words: %q", got)
	}
}
