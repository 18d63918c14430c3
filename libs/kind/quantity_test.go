package kind_test

import (
	"encoding/json"
	"fmt"
	"reflect"
	"testing"

	"github.com/healthexport/libs/hae"
)

func TestQuantity(t *testing.T) {
	r := oneRow(t, decode(t, metricItem("step_count", "count",
		`{"date":"2025-03-02 00:00:00 -0800","qty":7369.14,"source":"iPhone"}`)))
	if r.table.Name != "quantity_metrics" {
		t.Fatalf("table %s", r.table.Name)
	}
	wantString(t, r, "metric", "step_count")
	wantTime(t, r, "recorded_at", utc("2025-03-02T08:00:00Z"), -480)
	wantString(t, r, "source", "iPhone")
	wantFloat(t, r, "qty", 7369.14)
	wantString(t, r, "units", "count")
	wantNil(t, r, "extra")
	if r.ordinal != testOrdinal {
		t.Errorf("ordinal %d", r.ordinal)
	}
}

func TestQuantityMetricAndUnits(t *testing.T) {
	for _, c := range []struct{ name, units, metric string }{
		{"step_count", "count", "step_count"},
		{" Step_Count ", "count", "step_count"},
		{"vo2max", "ml/(kg·min)", "vo2_max"},
		{"VO2_Max", "ml/(kg·min)", "vo2_max"},
		{"weight_body_mass", "lb", "weight_body_mass"},
		{"weight_body_mass", "kg", "weight_body_mass"},
		{"unknown_new_metric", "", "unknown_new_metric"},
		{"caffeine", "mg", "dietary_caffeine"},
	} {
		r := oneRow(t, decode(t, metricItem(c.name, c.units, `{"date":"2025-03-02 07:30:00 -0800","qty":1.5}`)))
		wantString(t, r, "metric", c.metric)
		wantString(t, r, "units", c.units) // as sent, never converted
	}
}

func TestQuantityExtra(t *testing.T) {
	for _, c := range []struct {
		name, raw string
		extra     map[string]any // nil = NULL
	}{
		{"blood_glucose", `{"date":"2025-03-13 07:00:00 -0800","qty":92,"source":"Dexcom","mealTime":"Before Meal"}`,
			map[string]any{"mealTime": "Before Meal"}},
		{"insulin_delivery", `{"date":"2025-03-13 07:05:00 -0800","qty":4,"source":"Pump","reason":"Bolus"}`,
			map[string]any{"reason": "Bolus"}},
		{"toothbrushing", `{"date":"2025-03-13 07:30:00 -0800","qty":120,"value":"Complete"}`,
			map[string]any{"value": "Complete"}},
		{"handwashing", `{"date":"2025-03-13 07:30:00 -0800","qty":20,"value":"Incomplete","note":{"a":[1,null,"x"]},"n":1.25}`,
			map[string]any{"value": "Incomplete", "note": map[string]any{"a": []any{1.0, nil, "x"}}, "n": 1.25}},
		{"step_count", `{"date":"2025-03-13 07:30:00 -0800","qty":20}`, nil},
		{"step_count", `{"date":"2025-03-13 07:30:00 -0800","qty":20,"source":null}`, nil},
		{"step_count", `{"qty":20,"source":"iPhone","date":"2025-03-13 07:30:00 -0800"}`, nil},
		{"step_count", `{"date":"2025-03-13 07:30:00 -0800","qty":20,"units":"count"}`,
			map[string]any{"units": "count"}},
		{"step_count", `{"date":"2025-03-13 07:30:00 -0800","qty":20,"extra":null}`,
			map[string]any{"extra": nil}},
		{"step_count", `{"date":"2025-03-13 07:30:00 -0800","qty":20,"Eli’s":"x\u0000y"}`,
			map[string]any{"Eli’s": "x\x00y"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := oneRow(t, decode(t, metricItem(c.name, "u", c.raw)))
			v := r.get(t, "extra")
			if c.extra == nil {
				if v != nil {
					t.Fatalf("extra = %#v, want NULL", v)
				}
				return
			}
			s, ok := v.(string)
			if !ok {
				t.Fatalf("extra = %#v, want a JSON object as a string", v)
			}
			// An object, never a JSON string holding one.
			var got map[string]any
			if err := json.Unmarshal([]byte(s), &got); err != nil {
				t.Fatalf("extra %q is not a JSON object: %v", s, err)
			}
			if !reflect.DeepEqual(got, c.extra) {
				t.Errorf("extra = %v, want %v", got, c.extra)
			}
		})
	}
}

func TestSexualActivity(t *testing.T) {
	for _, c := range []struct {
		fields string
		qty    float64 // < 0: rejected
		reason string
	}{
		{`"Unspecified":0,"Protection Used":1,"Protection Not Used":0`, 1, ""},
		{`"Unspecified":2`, 2, ""},
		{`"Protection Used":1,"Protection Not Used":2.5`, 3.5, ""},
		{`"Unspecified":0`, 0, ""},
		{`"Unspecified":null,"Protection Used":1`, 1, ""},
		// Only numeric counts are summed (docs/data-rules.md): a count that is
		// not a number is left out, and kept in extra.
		{`"Unspecified":"n/a","Protection Used":1`, 1, ""},
		{``, -1, "sexual_activity needs a numeric Unspecified, Protection Used or Protection Not Used count"},
		{`"Unspecified":null`, -1, "sexual_activity needs a numeric"},
		{`"Unspecified":"1"`, -1, "sexual_activity needs a numeric"},
		{`"qty":3`, -1, "sexual_activity needs a numeric"},
		{`"unspecified":1`, -1, "sexual_activity needs a numeric"},
		{`"Unspecified":-1`, -1, "qty: must be ≥ 0, got -1"},
		{`"Unspecified":1e400`, -1, "Unspecified: 1e400 is not a finite number"},
	} {
		t.Run(c.fields, func(t *testing.T) {
			raw := `{"date":"2025-03-13 22:00:00 -0800"` + prefixComma(c.fields) + `}`
			s := decode(t, metricItem("sexual_activity", "count", raw))
			if c.qty < 0 {
				rejected(t, s, c.reason)
				return
			}
			r := oneRow(t, s)
			wantFloat(t, r, "qty", c.qty)
			wantString(t, r, "metric", "sexual_activity")
			// extra keeps the counts as sent.
			var want, got map[string]any
			if err := json.Unmarshal([]byte(`{`+c.fields+`}`), &want); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal([]byte(r.get(t, "extra").(string)), &got); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("extra = %v, want %v", got, want)
			}
		})
	}
}

func TestQuantityRanges(t *testing.T) {
	for _, c := range []struct {
		name   string
		qty    string
		reason string // "" = accepted
	}{
		{"resting_heart_rate", "54", ""},
		{"resting_heart_rate", "20", ""},
		{"resting_heart_rate", "300", ""},
		{"resting_heart_rate", "19", "qty: must be between 20 and 300, got 19"},
		{"resting_heart_rate", "301", "qty: must be between 20 and 300, got 301"},
		{"resting_heart_rate", "10", "qty: must be between 20 and 300, got 10"},
		{"resting_heart_rate", "0", "qty: must be between 20 and 300, got 0"},
		{"Resting_Heart_Rate", "0", "qty: must be between 20 and 300, got 0"},
		{"walking_heart_rate_average", "96", ""},
		{"walking_heart_rate_average", "19", "qty: must be between 20 and 300, got 19"},
		{"walking_heart_rate", "301", "qty: must be between 20 and 300, got 301"}, // the alias gets the rule too
		{"walking_heart_rate", "300", ""},
		{"blood_oxygen_saturation", "97.7", ""},
		{"blood_oxygen_saturation", "0", ""},
		{"blood_oxygen_saturation", "100", ""},
		{"blood_oxygen_saturation", "101", "qty: must be between 0 and 100, got 101"},
		{"blood_oxygen_saturation", "100.5", "qty: must be between 0 and 100, got 100.5"},
		{"blood_oxygen_saturation", "-1", "qty: must be between 0 and 100, got -1"},
		{"step_count", "0", ""},
		{"step_count", "-0", ""},
		{"step_count", "12", ""},
		{"step_count", "1e300", ""},
		{"step_count", "0.29999999999999999", ""},
		{"step_count", "1e-400", ""}, // underflows to 0: still a finite number ≥ 0
		{"step_count", "-5", "qty: must be ≥ 0, got -5"},
		{"step_count", "-0.001", "qty: must be ≥ 0, got -0.001"},
		{"weight_body_mass", "-1e-9", "qty: must be ≥ 0, got -1e-09"},
		{"step_count", "1e400", "qty: 1e400 is not a finite number"},
		{"step_count", "-1e400", "qty: -1e400 is not a finite number"},
		{"step_count", `"many"`, "qty: must be a number, got a string"},
		{"step_count", `true`, "qty: must be a number, got a boolean"},
		{"step_count", `[1]`, "qty: must be a number, got an array"},
		{"step_count", `{"qty":1}`, "qty: must be a number, got an object"},
		{"step_count", `null`, "qty: missing: a step_count point needs a numeric qty"},
	} {
		t.Run(c.name+"="+c.qty, func(t *testing.T) {
			raw := fmt.Sprintf(`{"date":"2025-03-15 00:00:00 -0800","qty":%s,"source":"iPhone"}`, c.qty)
			s := decode(t, metricItem(c.name, "u", raw))
			if c.reason == "" {
				oneRow(t, s)
				return
			}
			if r := rejected(t, s); r != c.reason {
				t.Errorf("reason %q, want %q", r, c.reason)
			}
		})
	}
}

func TestQuantityMissingQty(t *testing.T) {
	s := decode(t, metricItem("mystery_signal", "?", `{"date":"2025-03-15 03:00:00 -0800","level":"high"}`))
	if r := rejected(t, s); r != "qty: missing: a mystery_signal point needs a numeric qty" {
		t.Errorf("reason %q", r)
	}
}

// TestQuantityAvgOnly: a per-sample metric sent as Min/Avg/Max (a name no
// kind claims, such as iOS 27's heart_rate_variability_rmssd) is stored
// with its average as qty and the three in extra.
func TestQuantityAvgOnly(t *testing.T) {
	s := decode(t, metricItem("heart_rate_variability_rmssd", "ms", `{"date":"2025-03-15 03:00:00 -0800","Min":38.5,"Avg":41.25,"Max":44,"source":"Ana’s Apple Watch"}`))
	r := oneRow(t, s)
	wantString(t, r, "metric", "heart_rate_variability_rmssd")
	wantFloat(t, r, "qty", 41.25)
	wantString(t, r, "units", "ms")
	wantJSON(t, r, "extra", `{"Avg":41.25,"Max":44,"Min":38.5}`)
}

func TestQuantityNoName(t *testing.T) {
	for _, c := range []struct {
		name    string
		hasName bool
	}{{"", false}, {"", true}, {"  ", true}, {"step_count", false}} {
		it := metricItem(c.name, "count", `{"date":"2025-03-15 03:00:00 -0800","qty":1}`)
		it.Kind = "quantity" // where the walker sends a nameless metric
		it.HasName = c.hasName
		it.Array = "/data/metrics/4/data"
		it.Index = 2
		s := decode(t, it)
		if r := rejected(t, s); r != "the metric at /data/metrics/4 has no name" {
			t.Errorf("%+v: reason %q", c, r)
		}
		if p := s.rejects[0].pointer; p != "/data/metrics/4/data/2" {
			t.Errorf("pointer %q", p)
		}
	}
}

func TestQuantityNotAMetricObject(t *testing.T) {
	// A metrics[] element that is not an object is one item of its own.
	for _, c := range []struct{ raw, reason string }{
		{`5`, "expected a metric object with a name and data, got a number"},
		{`"heart_rate"`, "expected a metric object with a name and data, got a string"},
		{`[{"qty":1}]`, "expected a metric object with a name and data, got an array"},
		{`null`, "expected a metric object with a name and data, got null"},
	} {
		it := hae.Item{Kind: reg.MetricKind(""), Source: "metrics", Array: "/data/metrics", Index: 1, Raw: []byte(c.raw), Ordinal: 3}
		s := decode(t, it)
		if r := rejected(t, s); r != c.reason {
			t.Errorf("%s: reason %q, want %q", c.raw, r, c.reason)
		}
	}
}

func TestQuantityUnknownTaggedType(t *testing.T) {
	for _, c := range []struct{ raw, reason string }{
		{`{"type":"Steps","recorded_at":"2025-01-15T10:00:00Z","qty":5}`,
			`unknown type "Steps": expected HeartRate, BloodPressure or Workout`},
		{`{"type":"heartrate","recorded_at":"2025-01-15T10:00:00Z","avg_bpm":70}`,
			`unknown type "heartrate": expected HeartRate, BloodPressure or Workout`},
		{`{"type":5}`, `unknown type 5: expected HeartRate, BloodPressure or Workout`},
		{`{"type":null,"name":"step_count"}`, `unknown type null: expected HeartRate, BloodPressure or Workout`},
		{`{"type":""}`, `unknown type "": expected HeartRate, BloodPressure or Workout`},
	} {
		var head struct{ Type any }
		_ = json.Unmarshal([]byte(c.raw), &head)
		typ, _ := head.Type.(string)
		it := taggedItem(typ, c.raw)
		if it.Kind != "quantity" {
			t.Fatalf("type %q routed to %q", typ, it.Kind)
		}
		s := decode(t, it)
		if r := rejected(t, s); r != c.reason {
			t.Errorf("%s: reason %q, want %q", c.raw, r, c.reason)
		}
	}
}

func TestQuantityNotAnArray(t *testing.T) {
	for _, c := range []struct {
		array, key, raw string
		pointer, reason string
	}{
		{"/data", "metrics", `{"name":"step_count"}`, "/data/metrics",
			"metrics: must be an array, got an object"},
		{"/data", "metrics", `"x"`, "/data/metrics", "metrics: must be an array, got a string"},
		{"/data/metrics/3", "data", `5`, "/data/metrics/3/data",
			"data: must be an array, got a number"},
		{"/data/metrics/3", "data", `{"qty":1}`, "/data/metrics/3/data",
			"data: must be an array, got an object"},
	} {
		it := hae.Item{Kind: "quantity", Source: "metrics", Array: c.array, Key: c.key, Raw: []byte(c.raw), Name: "step_count", HasName: c.key == "data"}
		s := decode(t, it)
		if r := rejected(t, s); r != c.reason {
			t.Errorf("%s: reason %q, want %q", c.pointer, r, c.reason)
		}
		if p := s.rejects[0].pointer; p != c.pointer {
			t.Errorf("pointer %q, want %q", p, c.pointer)
		}
	}
}

func TestQuantitySource(t *testing.T) {
	for _, c := range []struct{ field, want string }{
		{``, ""},
		{`,"source":null`, ""},
		{`,"source":""`, ""},
		{`,"source":"Eli’s Apple\u00a0Watch"`, "Eli\u2019s Apple\u00a0Watch"},
		{`,"source":"iPhone|Eli’s Apple Watch"`, "iPhone|Eli\u2019s Apple Watch"},
	} {
		r := oneRow(t, decode(t, metricItem("step_count", "count", `{"date":"2025-03-02 00:00:00 -0800","qty":5000`+c.field+`}`)))
		wantString(t, r, "source", c.want)
		wantNil(t, r, "extra") // source is a column, not extra
	}
	s := decode(t, metricItem("step_count", "count", `{"date":"2025-03-02 00:00:00 -0800","qty":5000,"source":1}`))
	if r := rejected(t, s); r != "source: must be a string, got a number" {
		t.Errorf("reason %q", r)
	}
}
