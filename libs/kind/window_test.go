package kind_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/healthexport/libs/hae"
)

// pointAt is a valid point of each kind with a writer, in each format,
// recorded at date (a JSON value).
var pointAt = []struct {
	name string
	item func(date string) hae.Item
	key  string // the member holding the time
}{
	{"heart_rate", func(d string) hae.Item {
		return metricItem("heart_rate", "count/min", `{"date":`+d+`,"Min":60,"Avg":70,"Max":80,"source":"w"}`)
	}, "date"},
	{"HeartRate", func(d string) hae.Item {
		return taggedItem("HeartRate", `{"type":"HeartRate","recorded_at":`+d+`,"avg_bpm":70}`)
	}, "recorded_at"},
	{"blood_pressure", func(d string) hae.Item {
		return metricItem("blood_pressure", "mmHg", `{"date":`+d+`,"systolic":120,"diastolic":80}`)
	}, "date"},
	{"BloodPressure", func(d string) hae.Item {
		return taggedItem("BloodPressure", `{"type":"BloodPressure","recorded_at":`+d+`,"systolic":120,"diastolic":80}`)
	}, "recorded_at"},
	{"step_count", func(d string) hae.Item {
		return metricItem("step_count", "count", `{"date":`+d+`,"qty":12}`)
	}, "date"},
	{"sexual_activity", func(d string) hae.Item {
		return metricItem("sexual_activity", "count", `{"date":`+d+`,"Unspecified":1}`)
	}, "date"},
}

func TestTimeWindow(t *testing.T) {
	for _, c := range []struct {
		date   string
		at     string // accepted at this instant; "" = rejected
		offset int16
		reason string
	}{
		{date: "1899-12-31 23:59:59 +0000", reason: "1899-12-31T23:59:59Z is before 1900"},
		{date: "1800-01-01 00:00:00 +0000", reason: "is before 1900"},
		{date: "1900-01-01 00:30:00 +0100", reason: "1899-12-31T23:30:00Z is before 1900"},
		{date: "1900-01-01 00:00:00 +0000", at: "1900-01-01T00:00:00Z"},
		{date: "1998-07-14 08:00:00 +0200", at: "1998-07-14T06:00:00Z", offset: 120},
		{date: "2026-11-20 08:00:00 +0100", at: "2026-11-20T07:00:00Z", offset: 60},
		{date: "2026-11-26 00:00:00 +0000", at: "2026-11-26T00:00:00Z"},
		// Exactly 24 h after Health-Received-At, in any offset.
		{date: "2026-11-27 00:00:00 +0000", at: "2026-11-27T00:00:00Z"},
		{date: "2026-11-27 01:00:00 +01:00", at: "2026-11-27T00:00:00Z", offset: 60},
		{date: "2026-11-26 16:00:00 -0800", at: "2026-11-27T00:00:00Z", offset: -480},
		{date: "2026-11-27 00:00:00.000001 +0000",
			reason: "2026-11-27T00:00:00.000001Z is more than 24 h after the upload was received (2026-11-26T00:00:00Z)"},
		{date: "2026-11-27 00:00:01 +0000",
			reason: "2026-11-27T00:00:01Z is more than 24 h after the upload was received (2026-11-26T00:00:00Z)"},
		{date: "2026-11-26 23:00:00 -0200", reason: "is more than 24 h after"},
		{date: "2099-01-01 00:00:00 +0000", reason: "is more than 24 h after"},
		{date: "9999-12-31 23:59:59 -2359", reason: "is more than 24 h after"},
		{date: "0001-01-01 00:00:00 +2359", reason: "is before 1900"},
	} {
		for _, p := range pointAt {
			t.Run(p.name+" "+c.date, func(t *testing.T) {
				s := decode(t, p.item(fmt.Sprintf("%q", c.date)))
				if c.at == "" {
					if r := rejected(t, s, p.key+": ", c.reason); !strings.HasPrefix(r, p.key+": ") {
						t.Errorf("reason %q does not start with the field", r)
					}
					return
				}
				wantTime(t, oneRow(t, s), "recorded_at", utc(c.at), c.offset)
			})
		}
	}
}

// TestTimestampForms covers every form of docs/data-rules.md's grammar, for every
// kind with a writer.
func TestTimestampForms(t *testing.T) {
	for _, c := range []struct {
		date   string
		at     string
		offset int16
	}{
		{"2024-02-06 14:30:00 -0800", "2024-02-06T22:30:00Z", -480},
		{"2024-09-21 7:57:00\u202fPM +1000", "2024-09-21T09:57:00Z", 600},
		{"2024-09-21 7:57:00\u00a0PM +1000", "2024-09-21T09:57:00Z", 600},
		{"2024-09-21 7:57:00 pm +1000", "2024-09-21T09:57:00Z", 600},
		{"2024-09-21 7:57:00PM +1000", "2024-09-21T09:57:00Z", 600},
		{"2024-09-21 12:05:00 AM +0000", "2024-09-21T00:05:00Z", 0},
		{"2024-09-21 12:05:00 PM +0000", "2024-09-21T12:05:00Z", 0},
		{"2025-03-09 1:59:00 AM -0800", "2025-03-09T09:59:00Z", -480},
		{"2025-03-09 3:01:00 am -0700", "2025-03-09T10:01:00Z", -420},
		{"2025-03-09 13:45 -0700", "2025-03-09T20:45:00Z", -420},
		{"2025-03-09 9:45 -0700", "2025-03-09T16:45:00Z", -420},
		{"2025-03-09 14:00:00.250 -0700", "2025-03-09T21:00:00.25Z", -420},
		{"2025-01-15T10:00:00.123456789Z", "2025-01-15T10:00:00.123456Z", 0}, // microseconds kept
		{"2025-03-09T15:00:00Z", "2025-03-09T15:00:00Z", 0},
		{"2025-03-09 16:00:00 +0530", "2025-03-09T10:30:00Z", 330},
		{"2025-03-09 16:00:00 +05:30", "2025-03-09T10:30:00Z", 330},
		{"2025-03-09T16:00:00-03:30", "2025-03-09T19:30:00Z", -210},
		{"2025-03-09 16:00:00Z", "2025-03-09T16:00:00Z", 0},
		{"2025-03-09 16:00:00 +2359", "2025-03-08T16:01:00Z", 1439},
		{" \t2025-03-09 16:00:00 +0000 \t", "2025-03-09T16:00:00Z", 0},
	} {
		for _, p := range pointAt {
			t.Run(p.name+" "+c.date, func(t *testing.T) {
				s := decode(t, p.item(jsonString(c.date)))
				wantTime(t, oneRow(t, s), "recorded_at", utc(c.at), c.offset)
			})
		}
	}
}

// TestTimestampNumber: a date sent as a JSON number is epoch seconds (Unix
// from 2001 on, Apple's reference date below), stored in UTC.
func TestTimestampNumber(t *testing.T) {
	for _, c := range []struct{ date, at string }{
		{`1707258600`, "2024-02-06T22:30:00Z"}, // Unix seconds
		{`1707258600.250001`, "2024-02-06T22:30:00.250001Z"},
		{`728951400`, "2024-02-06T22:30:00Z"}, // seconds since 2001-01-01
		{`728951400.5`, "2024-02-06T22:30:00.5Z"},
	} {
		for _, p := range pointAt {
			t.Run(p.name+" "+c.date, func(t *testing.T) {
				s := decode(t, p.item(c.date))
				wantTime(t, oneRow(t, s), "recorded_at", utc(c.at), 0)
			})
		}
	}
}

func TestTimestampRejected(t *testing.T) {
	for _, c := range []struct {
		date   string // a JSON value
		reason string // after "<key>: "
	}{
		{`"2024-02-06 14:30:00"`, `timestamp "2024-02-06 14:30:00": missing time zone (Z or an offset like +0100)`},
		{`"2024-02-06T14:30:00"`, `timestamp "2024-02-06T14:30:00": missing time zone`},
		{`"2024-02-06"`, `timestamp "2024-02-06": date without a time of day`},
		{`"yesterday at noon"`, `timestamp "yesterday at noon": expected a date as YYYY-MM-DD`},
		{`""`, `timestamp "": expected a date as YYYY-MM-DD`},
		{`"2024-02-30 10:00:00 +0000"`, `timestamp "2024-02-30 10:00:00 +0000": day out of range`},
		{`"2024-02-06 13:30:00 PM +0000"`, `hour out of range for a 12-hour clock`},
		{`"2024-02-06 14:30:00 +2400"`, `zone offset out of range`},
		{`"2024-02-06 14:30:00 PST"`, `expected a time zone`},
		{`"２０２４-02-06 14:30:00 +0000"`, `expected a date as YYYY-MM-DD`},
		{`-5`, `a negative number is not a date`},
		{`{"date":"2024-02-06 14:30:00 +0000"}`, `must be a string, got an object`},
		{`null`, `missing`},
	} {
		for _, p := range pointAt {
			t.Run(p.name+" "+c.date, func(t *testing.T) {
				s := decode(t, p.item(c.date))
				if r := rejected(t, s, c.reason); !strings.HasPrefix(r, p.key+": ") {
					t.Errorf("reason %q does not start with the field", r)
				}
			})
		}
	}
	// Missing altogether.
	s := decode(t, metricItem("step_count", "count", `{"qty":1}`))
	if r := rejected(t, s); r != "date: missing" {
		t.Errorf("reason %q", r)
	}
}

// TestReceivedAtDecides checks that "now" is Health-Received-At, never the
// clock: a replay long after decides the same.
func TestReceivedAtDecides(t *testing.T) {
	k, _ := reg.Lookup("quantity")
	it := metricItem("step_count", "count", `{"date":"2000-01-02 00:00:00 +0000","qty":1}`)
	for _, c := range []struct {
		received time.Time
		ok       bool
	}{
		{time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC), true},
		{time.Date(1999, 12, 31, 23, 59, 59, 0, time.UTC), false},
		{time.Date(2050, 1, 1, 0, 0, 0, 0, time.UTC), true},
	} {
		env := testEnv()
		env.ReceivedAt = c.received
		var s recSink
		k.Decode(&env, &it, &s)
		if got := len(s.rows) == 1; got != c.ok {
			t.Errorf("received %v: accepted %v, want %v (%+v)", c.received, got, c.ok, s.rejects)
		}
	}
}

func jsonString(s string) string { return fmt.Sprintf("%q", s) }

// TestWorkoutPiecesInWindow: route points and series samples keep to the
// same window as every other time (from 1900 to 24 h after the upload was
// received), not only to their workout's ±24 h: a workout spanning a
// century cannot carry points outside it.
func TestWorkoutPiecesInWindow(t *testing.T) {
	body := []byte(`{"data":{"workouts":[{"id":"w1","name":"Long","start":"1900-01-01 00:30:00 +0000","end":"2026-11-26 12:00:00 +0000",
		"route":[{"timestamp":"1899-12-31 23:00:00 +0000","latitude":1,"longitude":2},{"timestamp":"1900-06-01 00:00:00 +0000","latitude":1,"longitude":2}],
		"heartRateData":[{"date":"2026-11-26 10:00:00 +0000","Avg":70},{"date":"2026-11-27 06:00:00 +0000","Avg":71}]}]}}`)
	w := walkDecodeBody(t, "century workout", body)
	if len(w.rows["workouts"]) != 1 || len(w.rows["workout_route_points"]) != 1 || len(w.rows["workout_samples"]) != 1 {
		t.Fatalf("rows %d workouts, %d route points, %d samples; rejections %v", len(w.rows["workouts"]),
			len(w.rows["workout_route_points"]), len(w.rows["workout_samples"]), w.rejects)
	}
	for pointer, want := range map[string]string{
		"/data/workouts/0/route/0":         "timestamp: 1899-12-31T23:00:00Z is before 1900",
		"/data/workouts/0/heartRateData/1": "date: 2026-11-27T06:00:00Z is more than 24 h after the upload was received",
	} {
		if r, ok := w.rejects[pointer]; !ok || !strings.Contains(r.reason, want) {
			t.Errorf("%s: rejection %q, want %q", pointer, r.reason, want)
		}
	}
}
