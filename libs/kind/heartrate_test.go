package kind_test

import (
	"fmt"
	"testing"
)

func TestHeartRateMinAvgMax(t *testing.T) {
	it := metricItem("heart_rate", "count/min",
		`{"date":"2025-03-01 08:00:00 -0800","Min":58,"Avg":71.25,"Max":96,"source":"Ana’s Apple\u00a0Watch"}`)
	r := oneRow(t, decode(t, it))
	if r.table.Name != "heart_rate_metrics" {
		t.Fatalf("table %s", r.table.Name)
	}
	wantTime(t, r, "recorded_at", utc("2025-03-01T16:00:00Z"), -480)
	wantString(t, r, "source", "Ana\u2019s Apple\u00a0Watch")
	wantFloat(t, r, "min_bpm", 58)
	wantFloat(t, r, "avg_bpm", 71.25)
	wantFloat(t, r, "max_bpm", 96)
	if r.ordinal != testOrdinal {
		t.Errorf("ordinal %d, want %d", r.ordinal, testOrdinal)
	}
}

func TestHeartRateValueShapes(t *testing.T) {
	const date = `"date":"2025-03-01 08:00:00 -0800"`
	none := -1.0
	for _, c := range []struct {
		name          string
		fields        string
		min, avg, max float64 // none = NULL
	}{
		{"capitalised", `"Min":58,"Avg":71.25,"Max":96`, 58, 71.25, 96},
		{"lower-case", `"min":58,"avg":71.25,"max":96`, 58, 71.25, 96},
		{"raw sample, all equal", `"Min":61,"Avg":61,"Max":61`, 61, 61, 61},
		{"qty alone fills all three", `"qty":64.5`, 64.5, 64.5, 64.5},
		{"Avg alone", `"Avg":70`, none, 70, none},
		{"Min and Max", `"Min":50,"Max":90`, 50, none, 90},
		{"qty ignored when Min is there", `"Min":55,"qty":250`, 55, none, none},
		{"capitalised wins over lower-case", `"Avg":70,"avg":80`, none, 70, none},
		{"null Avg falls back to avg", `"Avg":null,"avg":80`, none, 80, none},
		{"nulls then qty", `"Min":null,"Avg":null,"Max":null,"qty":66`, 66, 66, 66},
		{"binary noise kept", `"Avg":72.29999999999999`, none, 72.29999999999999, none},
		{"exponent", `"Avg":7.2e1`, none, 72, none},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := oneRow(t, decode(t, metricItem("heart_rate", "count/min", `{`+date+`,`+c.fields+`}`)))
			for col, v := range map[string]float64{"min_bpm": c.min, "avg_bpm": c.avg, "max_bpm": c.max} {
				if v == none {
					wantNil(t, r, col)
				} else {
					wantFloat(t, r, col, v)
				}
			}
		})
	}
}

func TestHeartRateRange(t *testing.T) {
	for _, field := range []string{"Min", "Avg", "Max", "min", "avg", "max", "qty"} {
		for _, c := range []struct {
			v  float64
			ok bool
		}{
			{19, false}, {19.999, false}, {20, true}, {150, true}, {300, true}, {300.001, false}, {301, false},
			{0, false}, {-60, false}, {1e6, false},
		} {
			t.Run(fmt.Sprintf("%s=%g", field, c.v), func(t *testing.T) {
				raw := fmt.Sprintf(`{"date":"2025-03-01 08:00:00 -0800",%q:%g,"source":"w"}`, field, c.v)
				s := decode(t, metricItem("heart_rate", "count/min", raw))
				if c.ok {
					oneRow(t, s)
					return
				}
				rejected(t, s, "between 20 and 300", fmt.Sprintf("got %g", c.v), "_bpm")
			})
		}
	}
	// One bad value rejects the whole point, whichever it is.
	s := decode(t, metricItem("heart_rate", "count/min", `{"date":"2025-03-01 08:00:00 -0800","Min":60,"Avg":400,"Max":420}`))
	rejected(t, s, "avg_bpm", "400")
	s = decode(t, metricItem("heart_rate", "count/min", `{"date":"2025-03-01 08:00:00 -0800","Min":10,"Avg":60,"Max":90}`))
	if r := rejected(t, s); r != "min_bpm: must be between 20 and 300, got 10" {
		t.Errorf("reason %q", r)
	}
}

func TestHeartRateNoValue(t *testing.T) {
	for _, raw := range []string{
		`{"date":"2025-03-01 08:00:00 -0800","source":"w"}`,
		`{"date":"2025-03-01 08:00:00 -0800","Min":null,"Avg":null,"Max":null}`,
		`{"date":"2025-03-01 08:00:00 -0800","qty":null}`,
		`{"date":"2025-03-01 08:00:00 -0800","bpm":70}`,
		`{"date":"2025-03-01 08:00:00 -0800","min_bpm":70}`, // the tagged names do not count in HAE points
	} {
		s := decode(t, metricItem("heart_rate", "count/min", raw))
		if r := rejected(t, s); r != "no heart rate value: expected Min, Avg, Max or qty" {
			t.Errorf("%s: reason %q", raw, r)
		}
	}
}

func TestHeartRateWrongTypes(t *testing.T) {
	const date = `"date":"2025-03-01 08:00:00 -0800"`
	for _, c := range []struct{ fields, reason string }{
		{`"Min":"60","Avg":70`, "Min: must be a number, got a string"},
		{`"avg":true`, "avg: must be a number, got a boolean"},
		{`"Max":[90]`, "Max: must be a number, got an array"},
		{`"qty":{"v":1}`, "qty: must be a number, got an object"},
		{`"Avg":1e400`, "Avg: 1e400 is not a finite number"},
		{`"Avg":70,"source":5`, "source: must be a string, got a number"},
		{`"Avg":70,"source":["a"]`, "source: must be a string, got an array"},
	} {
		s := decode(t, metricItem("heart_rate", "count/min", `{`+date+`,`+c.fields+`}`))
		if r := rejected(t, s); r != c.reason {
			t.Errorf("%s: reason %q, want %q", c.fields, r, c.reason)
		}
	}
	for _, c := range []struct{ raw, reason string }{
		{`[1,2]`, "expected a JSON object, got an array"},
		{`"x"`, "expected a JSON object, got a string"},
		{`null`, "expected a JSON object, got null"},
		{`70`, "expected a JSON object, got a number"},
		{``, "expected a JSON object, got nothing"},
		{`{"Avg":70`, "not a valid JSON object"},
	} {
		s := decode(t, metricItem("heart_rate", "count/min", c.raw))
		rejected(t, s, c.reason)
	}
}

func TestHeartRateSource(t *testing.T) {
	for _, c := range []struct{ field, want string }{
		{``, ""},
		{`,"source":null`, ""},
		{`,"source":""`, ""},
		{`,"source":"Ana’s Apple Watch"`, "Ana\u2019s Apple Watch"},
		{`,"source":"Ana\u2019s Apple\u00a0Watch"`, "Ana\u2019s Apple\u00a0Watch"},
		{`,"source":"Ana’s Apple Watch|Oura"`, "Ana\u2019s Apple Watch|Oura"},
		{`,"source":" padded "`, " padded "},
	} {
		raw := `{"date":"2025-03-01 08:00:00 -0800","Avg":70` + c.field + `}`
		r := oneRow(t, decode(t, metricItem("heart_rate", "count/min", raw)))
		wantString(t, r, "source", c.want)
	}
}

func TestHeartRateTagged(t *testing.T) {
	r := oneRow(t, decode(t, taggedItem("HeartRate",
		`{"type":"HeartRate","recorded_at":"2025-01-15T10:00:00Z","min_bpm":60,"avg_bpm":75,"max_bpm":90,"source":"Polar"}`)))
	wantTime(t, r, "recorded_at", utc("2025-01-15T10:00:00Z"), 0)
	wantFloat(t, r, "min_bpm", 60)
	wantFloat(t, r, "avg_bpm", 75)
	wantFloat(t, r, "max_bpm", 90)
	wantString(t, r, "source", "Polar")

	// No source; only avg.
	r = oneRow(t, decode(t, taggedItem("HeartRate",
		`{"type":"HeartRate","recorded_at":"2025-01-15 10:00:00 +0100","avg_bpm":75}`)))
	wantTime(t, r, "recorded_at", utc("2025-01-15T09:00:00Z"), 60)
	wantString(t, r, "source", "")
	wantNil(t, r, "min_bpm")
	wantNil(t, r, "max_bpm")

	for _, c := range []struct{ raw, reason string }{
		{`{"type":"HeartRate","recorded_at":"2025-01-15T10:05:00Z","min_bpm":400,"avg_bpm":75,"max_bpm":90}`,
			"min_bpm: must be between 20 and 300, got 400"},
		{`{"type":"HeartRate","recorded_at":"2025-01-15T10:05:00Z","min_bpm":60,"avg_bpm":75,"max_bpm":19}`,
			"max_bpm: must be between 20 and 300, got 19"},
		{`{"type":"HeartRate","recorded_at":"2025-01-15T10:05:00Z","avg_bpm":"75"}`,
			"avg_bpm: must be a number, got a string"},
		{`{"type":"HeartRate","recorded_at":"2025-01-15T10:05:00Z"}`,
			"no heart rate value: expected min_bpm, avg_bpm or max_bpm"},
		// The HAE names do not count in the tagged format.
		{`{"type":"HeartRate","recorded_at":"2025-01-15T10:05:00Z","Avg":70}`,
			"no heart rate value: expected min_bpm, avg_bpm or max_bpm"},
		// The tagged format's time is recorded_at, not date.
		{`{"type":"HeartRate","date":"2025-01-15T10:05:00Z","avg_bpm":70}`,
			"recorded_at: missing"},
	} {
		s := decode(t, taggedItem("HeartRate", c.raw))
		if r := rejected(t, s); r != c.reason {
			t.Errorf("%s: reason %q, want %q", c.raw, r, c.reason)
		}
		if p := s.rejects[0].pointer; p != "/data/metrics/3" {
			t.Errorf("pointer %q", p)
		}
	}
}
