package kind

import "strings"

// metricAliases maps wire names that differ between app versions to one
// canonical name (the list is in docs/data-rules.md).
func metricAliases() map[string]string {
	return map[string]string{
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
}

// CanonicalMetric trims, lower-cases and de-aliases a metric name.
func (r *Registry) CanonicalMetric(name string) string { return canonicalMetric(r.aliases, name) }

func canonicalMetric(aliases map[string]string, name string) string {
	n := strings.ToLower(strings.TrimSpace(name))
	if a, ok := aliases[n]; ok {
		return a
	}
	return n
}
