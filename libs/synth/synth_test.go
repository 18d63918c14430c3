package synth

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"time"
)

var small = Spec{Days: 2, Sources: []string{"Ana’s Apple\u00a0Watch", "iPhone", `Eli's "Ring"`}, SleepNights: true, Workouts: 3, RoutePoints: 700, Seed: 7}

func write(t testing.TB, s Spec) ([]byte, Counts) {
	t.Helper()
	var b bytes.Buffer
	c, err := Write(&b, s)
	if err != nil {
		t.Fatal(err)
	}
	if c.Bytes != int64(b.Len()) {
		t.Fatalf("Counts.Bytes %d, wrote %d", c.Bytes, b.Len())
	}
	return b.Bytes(), c
}

func TestValidJSON(t *testing.T) {
	specs := map[string]Spec{
		"empty":         {},
		"small":         small,
		"no sleep":      {Days: 1, Workouts: 1},
		"workouts only": {Workouts: 4, RoutePoints: 10},
		"more workouts": {Days: 1, Workouts: 5, RoutePoints: 1500, SleepNights: true},
		"one source":    {Days: 1, Sources: []string{"iPhone"}, SleepNights: true},
		"control chars": {Days: 1, Sources: []string{"a\tb\\c\x01"}},
		"positive zone": {Start: time.Date(2024, 9, 21, 0, 0, 0, 0, time.FixedZone("", 10*3600)), Days: 1, SleepNights: true, Workouts: 1, RoutePoints: 100},
	}
	if la, err := time.LoadLocation("America/Los_Angeles"); err == nil { // the offset changes on 9 March
		specs["DST, as phones"] = Spec{Start: time.Date(2025, 3, 8, 0, 0, 0, 0, la), Days: 2, SleepNights: true, Workouts: 1, RoutePoints: 100}
	}
	for name, s := range specs {
		t.Run(name, func(t *testing.T) {
			body, _ := write(t, s)
			if !json.Valid(body) {
				t.Fatalf("invalid JSON:\n%.2000s", body)
			}
			checkBody(t, s, body)
		})
	}
}

func TestDeterministic(t *testing.T) {
	sum := func(s Spec) [32]byte {
		h := sha256.New()
		if _, err := Write(h, s); err != nil {
			t.Fatal(err)
		}
		return [32]byte(h.Sum(nil))
	}
	a, b := sum(small), sum(small)
	if a != b {
		t.Fatalf("same spec, different bodies: %x %x", a, b)
	}
	other := small
	other.Seed++
	if sum(other) == a {
		t.Fatal("another seed gave the same body")
	}
	big := ForSize(8 << 20)
	if sum(big) != sum(big) {
		t.Fatal("ForSize body not deterministic")
	}
}

// The point shapes the app sends, decoded with encoding/json.
type (
	body struct {
		Data struct {
			Metrics  []metric `json:"metrics"`
			Workouts []wkout  `json:"workouts"`
		} `json:"data"`
	}
	metric struct {
		Name  string           `json:"name"`
		Units string           `json:"units"`
		Data  []map[string]any `json:"data"`
	}
	wkout struct {
		ID            string           `json:"id"`
		Name          string           `json:"name"`
		Start         string           `json:"start"`
		End           string           `json:"end"`
		Duration      float64          `json:"duration"`
		HeartRateData []map[string]any `json:"heartRateData"`
		ActiveEnergy  []map[string]any `json:"activeEnergy"`
		StepCount     []map[string]any `json:"stepCount"`
		Route         []map[string]any `json:"route"`
		Metadata      map[string]any   `json:"metadata"`
	}
)

func TestCountsMatchDecode(t *testing.T) {
	raw, c := write(t, small)
	var b body
	if err := json.Unmarshal(raw, &b); err != nil {
		t.Fatal(err)
	}
	var got Counts
	got.Bytes = int64(len(raw))
	for _, m := range b.Data.Metrics {
		switch m.Name {
		case "heart_rate":
			got.HeartRate += len(m.Data)
		case "step_count":
			got.Steps += len(m.Data)
		case "active_energy":
			got.Energy += len(m.Data)
		case "sleep_analysis":
			for _, p := range m.Data {
				if _, ok := p["startDate"]; ok {
					got.SleepSegments++
				} else {
					got.SleepSessions++
				}
			}
		default:
			t.Errorf("unexpected metric %q", m.Name)
		}
	}
	for _, w := range b.Data.Workouts {
		got.Workouts++
		got.RoutePoints += len(w.Route)
		got.Samples += len(w.HeartRateData) + len(w.ActiveEnergy) + len(w.StepCount)
	}
	if got != c {
		t.Fatalf("decoded %+v, Write counted %+v", got, c)
	}
	minutes := small.Days * 24 * 60 * len(small.Sources)
	if c.HeartRate != minutes || c.Steps != minutes || c.Energy != minutes {
		t.Errorf("minute points %+v, want %d each", c, minutes)
	}
	if c.SleepSessions != small.Days || c.SleepSegments <= 2*small.Days {
		t.Errorf("sleep %d sessions, %d segments for %d nights", c.SleepSessions, c.SleepSegments, small.Days)
	}
	if c.Workouts != small.Workouts || c.RoutePoints != small.Workouts*small.RoutePoints {
		t.Errorf("workouts %+v", c)
	}
	if c.Points() != c.HeartRate+c.Steps+c.Energy+c.SleepSessions+c.SleepSegments+c.Workouts+c.RoutePoints+c.Samples {
		t.Error("Points is not the sum")
	}
}

// checkBody decodes a body and checks what the pipeline relies on: unique
// (date, source) per metric, timestamps in the app's layout, after 1900 and
// in the past, values in range, route points and samples inside their
// workout, unique workout ids.
func checkBody(t *testing.T, s Spec, raw []byte) {
	t.Helper()
	var b body
	if err := json.Unmarshal(raw, &b); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	parse := func(what, v any) time.Time {
		str, _ := v.(string)
		at, err := time.Parse(TimeLayout, str)
		if err != nil {
			t.Fatalf("%s: %q: %v", what, v, err)
		}
		if at.Year() < 1900 || at.After(now) {
			t.Fatalf("%s: %s outside 1900..now", what, at)
		}
		return at
	}
	num := func(what string, p map[string]any, k string, lo, hi float64) {
		v, ok := p[k].(float64)
		if !ok || v < lo || v > hi {
			t.Fatalf("%s: %s = %v, want a number in %v..%v", what, k, p[k], lo, hi)
		}
	}
	for _, m := range b.Data.Metrics {
		seen := map[string]bool{}
		for _, p := range m.Data {
			date, ok := p["date"].(string)
			if !ok {
				date, _ = p["startDate"].(string)
				date += " " + p["endDate"].(string) + " " + p["value"].(string)
			}
			k := date + "\x00" + p["source"].(string)
			if seen[k] {
				t.Fatalf("%s: (%s) twice", m.Name, k)
			}
			seen[k] = true
			switch m.Name {
			case "heart_rate":
				parse(m.Name, p["date"])
				num(m.Name, p, "Min", 20, 300)
				num(m.Name, p, "Avg", p["Min"].(float64), p["Max"].(float64))
				num(m.Name, p, "Max", 20, 300)
			case "step_count", "active_energy":
				parse(m.Name, p["date"])
				num(m.Name, p, "qty", 0, 1e6)
			case "sleep_analysis":
				if _, ok := p["startDate"]; ok {
					if parse("segment", p["endDate"]).Before(parse("segment", p["startDate"])) {
						t.Fatalf("segment ends before it starts: %v", p)
					}
					num("segment", p, "qty", 0, 24)
					continue
				}
				if _, err := time.Parse(time.DateOnly, p["date"].(string)); err != nil {
					t.Fatalf("session date %v", p["date"])
				}
				for _, k := range []string{"sleepStart", "sleepEnd", "inBedStart", "inBedEnd"} {
					parse("session "+k, p[k])
				}
				for _, k := range []string{"totalSleep", "core", "deep", "rem", "awake", "inBed"} {
					num("session", p, k, 0, 24)
				}
			}
		}
	}
	ids := map[string]bool{}
	for _, w := range b.Data.Workouts {
		if len(w.ID) != 36 || ids[w.ID] {
			t.Fatalf("workout id %q (bad or repeated)", w.ID)
		}
		ids[w.ID] = true
		start, end := parse("start", w.Start), parse("end", w.End)
		if end.Before(start) || w.Name == "" || w.Metadata == nil {
			t.Fatalf("workout %s: %s..%s", w.Name, start, end)
		}
		inside := func(what string, at time.Time) {
			if at.Before(start) || at.After(end) {
				t.Fatalf("%s %s outside its workout %s..%s", what, at, start, end)
			}
		}
		seen := map[time.Time]bool{}
		for _, p := range w.Route {
			at := parse("route", p["timestamp"])
			inside("route point", at)
			if seen[at] {
				t.Fatalf("route point at %s twice", at)
			}
			seen[at] = true
			num("route", p, "latitude", -90, 90)
			num("route", p, "longitude", -180, 180)
			for _, k := range []string{"altitude", "course", "courseAccuracy", "horizontalAccuracy", "verticalAccuracy", "speed", "speedAccuracy"} {
				num("route", p, k, -1000, 10000)
			}
		}
		for _, series := range [][]map[string]any{w.HeartRateData, w.ActiveEnergy, w.StepCount} {
			seen := map[time.Time]bool{}
			for _, p := range series {
				at := parse("sample", p["date"])
				inside("sample", at)
				if seen[at] {
					t.Fatalf("sample at %s twice", at)
				}
				seen[at] = true
			}
		}
		if len(w.HeartRateData) == 0 || len(w.HeartRateData) != len(w.ActiveEnergy) || len(w.Route) != s.RoutePoints {
			t.Fatalf("workout %s: %d/%d samples, %d route points", w.ID, len(w.HeartRateData), len(w.ActiveEnergy), len(w.Route))
		}
	}
}

func TestLayoutAsTheApp(t *testing.T) {
	raw, _ := write(t, Spec{Days: 1, Sources: []string{"Ana’s Apple Watch"}})
	head := "{\n \"data\": {\n  \"metrics\": [\n   {\n    \"name\": \"heart_rate\",\n    \"units\": \"count/min\",\n    \"data\": [\n     {\n      \"date\": \"2025-03-01 00:00:00 -0800\",\n      \"Min\": "
	if !strings.HasPrefix(string(raw), head) {
		t.Fatalf("body starts\n%.300s\nwant\n%s", raw, head)
	}
	if !bytes.Contains(raw, []byte(`"source": "Ana’s Apple Watch"`)) || !bytes.HasSuffix(raw, []byte("\n  \"workouts\": []\n }\n}\n")) {
		t.Fatalf("body:\n%.300s ... %s", raw, raw[len(raw)-200:])
	}
}

func TestForSize(t *testing.T) {
	for _, target := range []int64{2 << 20, 8 << 20, 30 << 20, 64 << 20} {
		s := ForSize(target)
		c, err := Write(io.Discard, s)
		if err != nil {
			t.Fatal(err)
		}
		off := float64(c.Bytes-target) / float64(target)
		t.Logf("ForSize(%d MiB): %d days, %d workouts × %d route points: %.2f MiB (%+.1f %%), %d points",
			target>>20, s.Days, s.Workouts, s.RoutePoints, float64(c.Bytes)/(1<<20), off*100, c.Points())
		if off < -0.1 || off > 0.1 {
			t.Errorf("ForSize(%d): %d bytes, more than 10 %% off", target, c.Bytes)
		}
	}
	s := ForSize(30 << 20)
	if s.Days != 15 || !s.SleepNights || s.Workouts != 2 || s.RoutePoints < 10_000 || s.Start != DefaultStart {
		t.Errorf("ForSize(30 MiB) = %+v, want 15 days, sleep, 2 workouts with long routes", s)
	}
}

type failingWriter struct{ after int }

func (f *failingWriter) Write(p []byte) (int, error) {
	if f.after <= 0 {
		return 0, errors.New("disk full")
	}
	f.after--
	return len(p), nil
}

func TestWriteError(t *testing.T) {
	if _, err := Write(&failingWriter{after: 3}, small); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("err = %v, want the writer's", err)
	}
	if _, err := Write(io.Discard, Spec{Days: -1}); err == nil {
		t.Fatal("negative Days accepted")
	}
}

func BenchmarkWrite(b *testing.B) {
	s := ForSize(30 << 20)
	c, _ := Write(io.Discard, s)
	b.SetBytes(c.Bytes)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Write(io.Discard, s); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(c.Points())*float64(b.N)/b.Elapsed().Seconds(), "points/s")
}
