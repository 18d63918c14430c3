package kind_test

import (
	"fmt"
	"testing"
)

func TestBloodPressure(t *testing.T) {
	r := oneRow(t, decode(t, metricItem("blood_pressure", "mmHg",
		`{"date":"2025-03-13 08:00:00 -0800","systolic":121,"diastolic":79,"source":"Omron"}`)))
	if r.table.Name != "blood_pressure_metrics" {
		t.Fatalf("table %s", r.table.Name)
	}
	wantTime(t, r, "recorded_at", utc("2025-03-13T16:00:00Z"), -480)
	wantFloat(t, r, "systolic", 121)
	wantFloat(t, r, "diastolic", 79)
	wantString(t, r, "source", "Omron")

	r = oneRow(t, decode(t, metricItem("blood_pressure", "mmHg",
		`{"date":"2025-03-13 20:00:00 -0800","systolic":118.5,"diastolic":76}`)))
	wantFloat(t, r, "systolic", 118.5)
	wantString(t, r, "source", "")
}

func TestBloodPressureBothRequired(t *testing.T) {
	for _, fields := range []string{
		`"systolic":120`,
		`"diastolic":80`,
		`"systolic":120,"diastolic":null`,
		`"systolic":null,"diastolic":80`,
		``,
	} {
		raw := `{"date":"2025-03-15 10:00:00 -0800"` + prefixComma(fields) + `}`
		s := decode(t, metricItem("blood_pressure", "mmHg", raw))
		if r := rejected(t, s); r != "blood pressure needs both systolic and diastolic" {
			t.Errorf("%s: reason %q", raw, r)
		}
	}
}

func prefixComma(s string) string {
	if s == "" {
		return ""
	}
	return "," + s
}

func TestBloodPressureRanges(t *testing.T) {
	for _, c := range []struct {
		sys, dia float64
		reason   string // "" = accepted
	}{
		{40, 30, ""},
		{250, 150, ""},
		{120, 80, ""},
		{39, 80, "systolic: must be between 40 and 250, got 39"},
		{251, 80, "systolic: must be between 40 and 250, got 251"},
		{300, 80, "systolic: must be between 40 and 250, got 300"},
		{0, 80, "systolic: must be between 40 and 250, got 0"},
		{120, 29, "diastolic: must be between 30 and 150, got 29"},
		{120, 151, "diastolic: must be between 30 and 150, got 151"},
		{120, 20, "diastolic: must be between 30 and 150, got 20"},
		{120, 0, "diastolic: must be between 30 and 150, got 0"},
		{120, -80, "diastolic: must be between 30 and 150, got -80"},
	} {
		t.Run(fmt.Sprintf("%g/%g", c.sys, c.dia), func(t *testing.T) {
			raw := fmt.Sprintf(`{"date":"2025-03-15 08:00:00 -0800","systolic":%g,"diastolic":%g}`, c.sys, c.dia)
			s := decode(t, metricItem("blood_pressure", "mmHg", raw))
			if c.reason == "" {
				r := oneRow(t, s)
				wantFloat(t, r, "systolic", c.sys)
				wantFloat(t, r, "diastolic", c.dia)
				return
			}
			if r := rejected(t, s); r != c.reason {
				t.Errorf("reason %q, want %q", r, c.reason)
			}
		})
	}
}

func TestBloodPressureWrongTypes(t *testing.T) {
	for _, c := range []struct{ fields, reason string }{
		{`"systolic":"120","diastolic":80`, "systolic: must be a number, got a string"},
		{`"systolic":120,"diastolic":{}`, "diastolic: must be a number, got an object"},
		{`"systolic":120,"diastolic":80,"source":false`, "source: must be a string, got a boolean"},
	} {
		s := decode(t, metricItem("blood_pressure", "mmHg", `{"date":"2025-03-15 08:00:00 -0800",`+c.fields+`}`))
		if r := rejected(t, s); r != c.reason {
			t.Errorf("%s: reason %q, want %q", c.fields, r, c.reason)
		}
	}
}

func TestBloodPressureTagged(t *testing.T) {
	r := oneRow(t, decode(t, taggedItem("BloodPressure",
		`{"type":"BloodPressure","recorded_at":"2025-01-15T10:10:00Z","systolic":125,"diastolic":82,"source":"Omron"}`)))
	wantTime(t, r, "recorded_at", utc("2025-01-15T10:10:00Z"), 0)
	wantFloat(t, r, "systolic", 125)
	wantFloat(t, r, "diastolic", 82)
	wantString(t, r, "source", "Omron")

	for _, c := range []struct{ raw, reason string }{
		{`{"type":"BloodPressure","recorded_at":"2025-01-15T10:10:00Z","systolic":260,"diastolic":82}`,
			"systolic: must be between 40 and 250, got 260"},
		{`{"type":"BloodPressure","recorded_at":"2025-01-15T10:10:00Z","systolic":125}`,
			"blood pressure needs both systolic and diastolic"},
		{`{"type":"BloodPressure","date":"2025-01-15T10:10:00Z","systolic":125,"diastolic":82}`,
			"recorded_at: missing"},
	} {
		s := decode(t, taggedItem("BloodPressure", c.raw))
		if r := rejected(t, s); r != c.reason {
			t.Errorf("%s: reason %q, want %q", c.raw, r, c.reason)
		}
	}
}
