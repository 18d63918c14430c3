package kind_test

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/healthexport/libs/hae"
	"github.com/healthexport/libs/kind"
)

// FuzzDecode feeds arbitrary bytes as an item's JSON to every kind with a
// writer, tagged and not, with the name given and without one, and checks
// that decoding never panics and always ends in exactly one outcome: rows
// for the item (every value within docs/data-rules.md's rules) or one rejection
// of its pointer, with a reason and the item as sent.
func FuzzDecode(f *testing.F) {
	for _, seed := range []struct{ raw, name string }{
		{`{"date":"2025-03-01 08:00:00 -0800","Min":58,"Avg":71.25,"Max":96,"source":"Ana’s Apple\u00a0Watch"}`, "heart_rate"},
		{`{"date":"2025-03-01 08:00:00 -0800","qty":64}`, " Heart_Rate "},
		{`{"type":"HeartRate","recorded_at":"2025-01-15T10:00:00Z","min_bpm":60,"avg_bpm":75,"max_bpm":90}`, ""},
		{`{"type":"BloodPressure","recorded_at":"2025-01-15T10:10:00Z","systolic":125,"diastolic":82,"source":"Omron"}`, ""},
		{`{"date":"2025-03-13 08:00:00 -0800","systolic":121,"diastolic":79}`, "blood_pressure"},
		{`{"date":"2025-03-02 00:00:00 -0800","qty":7369.14,"source":"iPhone"}`, "step_count"},
		{`{"date":"2025-03-13 07:00:00 -0800","qty":92,"mealTime":"Before Meal"}`, "blood_glucose"},
		{`{"date":"2025-03-13 22:00:00 -0800","Unspecified":0,"Protection Used":1,"Protection Not Used":0}`, "sexual_activity"},
		{`{"date":"2025-03-02 03:00:00 -0800","qty":97.7}`, "blood_oxygen_saturation"},
		{`{"date":"2025-03-02 03:00:00 -0800","qty":54}`, "resting_heart_rate"},
		{`{"date":"2024-09-21 7:57:00` + "\u202f" + `PM +1000","qty":1}`, "walking_heart_rate"},
		{`{"date":"2026-11-27 00:00:00 +0000","qty":1e400}`, "step_count"},
		{`{"date":"1899-12-31 23:59:59 +0000","qty":-1}`, "step_count"},
		{`{"date":"2025-03-02 03:00:00","qty":"1"}`, "x"},
		{`{"type":"Steps"}`, ""},
		{`[1,2,3]`, "step_count"},
		{`"x"`, ""},
		{`null`, "heart_rate"},
		{``, ""},
		{`{"a":`, "step_count"},
		{`{"date":"2025-03-02 03:00:00 +0000","qty":1,"x":"\u0000","Min":{"a":[]}}`, "step_count"},
	} {
		f.Add([]byte(seed.raw), seed.name)
	}
	kinds := []*kind.Kind{}
	for _, k := range reg.Kinds() {
		if k.HasWriter() {
			kinds = append(kinds, k)
		}
	}
	f.Fuzz(func(t *testing.T, raw []byte, name string) {
		for _, k := range kinds {
			for _, tagged := range []bool{false, true} {
				for _, hasName := range []bool{true, false} {
					it := hae.Item{
						Kind: k.Name, Source: "metrics", Tagged: tagged,
						Name: name, HasName: hasName, Units: "u",
						Array: "/data/metrics/2/data", Index: 5,
						Raw: raw, Ordinal: 11,
					}
					if tagged {
						it.Name, it.HasName, it.Units, it.Array = "", false, "", "/data/metrics"
					}
					fuzzOne(t, k, it)
				}
			}
			// A member value where an array belongs.
			fuzzOne(t, k, hae.Item{Kind: k.Name, Source: "metrics", Array: "/data", Key: "metrics", Raw: raw, Ordinal: 0})
		}
	})
}

func fuzzOne(t *testing.T, k *kind.Kind, it hae.Item) {
	t.Helper()
	env := testEnv()
	var s recSink
	func() {
		defer func() {
			if p := recover(); p != nil {
				t.Fatalf("%s (tagged %v, name %q %v) panicked on %q: %v", k.Name, it.Tagged, it.Name, it.HasName, it.Raw, p)
			}
		}()
		k.Decode(&env, &it, &s)
	}()
	if err := checkOutcome(k, &it, &s); err != nil {
		t.Fatalf("%s (tagged %v, name %q %v) on %q: %v", k.Name, it.Tagged, it.Name, it.HasName, it.Raw, err)
	}
	if err := judgedAlike(k, &it, &s); err != nil {
		t.Fatalf("%s (tagged %v, name %q %v) on %q: %v", k.Name, it.Tagged, it.Name, it.HasName, it.Raw, err)
	}
	// Decoders read members without re-validating what the edge's json.Valid
	// already checked, so a crafted invalid item may yield rows; they must
	// still be well-typed, and what goes to jsonb must be valid JSON.
	for _, r := range s.rows {
		for i, c := range decoderColumns(r.table) {
			if c != "details" && c != "extra" {
				continue
			}
			if v, ok := r.values[i].(string); ok && !json.Valid([]byte(v)) {
				t.Fatalf("%s stored invalid JSON in %s: %q", k.Name, c, v)
			}
		}
	}
	// The walker routes member values only to quantity (see hae.Walker).
	if len(s.rows) > 0 && it.Key != "" && k.Name == "quantity" {
		t.Fatalf("%s accepted a member value %s", k.Name, it.Pointer())
	}
	if len(s.rows) > 0 && k.Name == "quantity" && it.Tagged {
		t.Fatalf("quantity accepted a tagged element: %s", fmt.Sprint(s.rows))
	}
}
