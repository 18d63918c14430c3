package kind_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/healthexport/libs/hae"
	"github.com/healthexport/libs/kind"
)

// Payloads as app 9.x really sends them: heart-rate notifications in both
// shapes, sources as objects, dates as numbers, localised values.

func TestHeartRateNotificationShapes(t *testing.T) {
	cases := []struct {
		name, raw                       string
		start, end, key, src, threshold string
		nameCanonical                   any
		detailsHave                     []string
	}{
		{
			name: "as emitted by 9.x",
			raw: `{"heartNotification":"low_heart_rate_notification","threshold":40,"start":"2026-08-10 03:12:00 +0200","end":"2026-08-10 03:22:00 +0200",
				"heartRateData":[{"date":1786324320.5,"Min":38,"Avg":38,"Max":38,"units":"count/min"},{"date":1786324380,"Min":37,"Avg":37.5,"Max":38,"units":"count/min"}],
				"source":{"name":"Ana’s Apple Watch","bundleIdentifier":"com.apple.health.1234","productType":"Watch7,3"}}`,
			start: "2026-08-10T01:12:00Z", end: "2026-08-10T01:22:00Z", key: "low_heart_rate_notification",
			src: "Ana’s Apple Watch", threshold: "40", nameCanonical: "low_heart_rate",
			detailsHave: []string{`"heartRateData"`, `"bundleIdentifier"`, `1786324320.5`},
		},
		{
			name: "9.x without start or end: the series places it",
			raw: `{"heartNotification":"high_heart_rate_notification","threshold":120,
				"heartRateData":[{"date":1786324380,"qty":126,"units":"count/min"},{"date":1786324320.25,"qty":124,"units":"count/min"}],
				"source":{"sourceName":"Watch"}}`,
			start: "2026-08-10T01:12:00.25Z", end: "2026-08-10T01:13:00Z", key: "high_heart_rate_notification",
			src: "Watch", threshold: "120", nameCanonical: "high_heart_rate",
			detailsHave: []string{`"sourceName"`},
		},
		{
			name: "documented shape",
			raw: `{"start":"2025-03-11 14:00:00 -0800","end":"2025-03-11 14:10:00 -0800","threshold":120,
				"heartRate":[{"hr":124,"units":"bpm","timestamp":{"start":"2025-03-11 14:00:00 -0800","end":"2025-03-11 14:05:00 -0800","interval":{"duration":300,"units":"s"}}}],
				"heartRateVariation":[]}`,
			start: "2025-03-11T22:00:00Z", end: "2025-03-11T22:10:00Z", key: "", src: "", threshold: "120", nameCanonical: nil,
			detailsHave: []string{`"heartRate"`, `"hr":124`, `"heartRateVariation"`},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := decode(t, arrayItem("heartRateNotifications", c.raw))
			r := oneRow(t, s)
			wantString(t, r, "kind", "heart_rate_notification")
			if got := r.get(t, "started_at"); fmt.Sprint(got) != fmt.Sprint(utc(c.start)) {
				t.Errorf("started_at %v, want %s", got, c.start)
			}
			if got := r.get(t, "ended_at"); fmt.Sprint(got) != fmt.Sprint(utc(c.end)) {
				t.Errorf("ended_at %v, want %s", got, c.end)
			}
			wantString(t, r, "event_key", c.key)
			wantString(t, r, "source", c.src)
			wantString(t, r, "value", c.threshold)
			if got := r.get(t, "name_canonical"); got != c.nameCanonical {
				t.Errorf("name_canonical %#v, want %#v", got, c.nameCanonical)
			}
			details, _ := r.get(t, "details").(string)
			for _, want := range c.detailsHave {
				if !strings.Contains(details, want) {
					t.Errorf("details %s lack %s", details, want)
				}
			}
		})
	}
	// A notification with neither start nor a dated sample is rejected.
	s := decode(t, arrayItem("heartRateNotifications", `{"heartNotification":"low_heart_rate_notification","threshold":40,"heartRateData":[]}`))
	rejected(t, s, "start: missing")
}

// TestSourceObject: a source sent as an object is read by its name
// (name, else sourceName) wherever it appears, never a rejection, and its
// other fields stay in details or extra where the table has them. A
// workout has no source column: its own source object stays in its
// details, and each of its samples is read by the name.
func TestSourceObject(t *testing.T) {
	obj := `{"name":"Ana’s Apple Watch","bundleIdentifier":"com.apple.health.X","version":"11.0"}`
	byName := `{"sourceName":"iPhone","bundleIdentifier":"com.apple.Health"}`
	workout := func(src string) string {
		return `{"id":"W1","name":"Outdoor Run","start":"2026-08-10 07:00:00 +0000","end":"2026-08-10 07:30:00 +0000","source":` + src + `,
			"heartRateData":[{"date":"2026-08-10 07:05:00 +0000","Min":100,"Avg":110,"Max":120,"units":"count/min","source":` + src + `},
				{"date":1786345800.5,"qty":121,"units":"count/min","source":` + src + `}],
			"route":[{"latitude":37.7749,"longitude":-122.4194,"timestamp":"2026-08-10 07:05:00 +0000","source":` + src + `}]}`
	}
	cases := []struct {
		name  string
		it    func(src string) (string, any)
		table string // the table whose rows are checked, "" for the item's only one
		rows  int    // how many rows the item makes (1 if 0)
		keep  string // the column that keeps the object, "" for none
	}{
		{"heart_rate", func(src string) (string, any) {
			return "metrics", metricItem("heart_rate", "count/min", `{"date":"2026-08-10 03:12:00 +0200","Avg":60,"source":`+src+`}`)
		}, "", 0, ""},
		{"blood_pressure", func(src string) (string, any) {
			return "metrics", metricItem("blood_pressure", "mmHg", `{"date":"2026-08-10 03:12:00 +0200","systolic":120,"diastolic":80,"source":`+src+`}`)
		}, "", 0, ""},
		{"quantity", func(src string) (string, any) {
			return "metrics", metricItem("step_count", "count", `{"date":"2026-08-10 03:12:00 +0200","qty":12,"source":`+src+`}`)
		}, "", 0, "extra"},
		{"sleep session", func(src string) (string, any) {
			return "metrics", metricItem("sleep_analysis", "hr", `{"date":"2026-08-10","sleepStart":"2026-08-09 23:00:00 +0200","sleepEnd":"2026-08-10 07:00:00 +0200","asleep":8,"source":`+src+`}`)
		}, "", 0, "details"},
		{"symptom", func(src string) (string, any) {
			return "symptoms", arrayItem("symptoms", `{"start":"2026-08-10 09:00:00 +0200","name":"Headache","severity":"Mild","source":`+src+`}`)
		}, "", 0, "details"},
		{"ecg", func(src string) (string, any) {
			return "ecg", arrayItem("ecg", `{"start":"2026-08-10 09:00:00 +0200","classification":"Sinus Rhythm","voltageMeasurements":[],"source":`+src+`}`)
		}, "", 0, "details"},
		// The workout, its two heart-rate samples and its route point: four
		// rows, none rejected.
		{"workout", func(src string) (string, any) { return "workouts", arrayItem("workouts", workout(src)) }, "workouts", 4, "details"},
		{"workout samples", func(src string) (string, any) { return "workouts", arrayItem("workouts", workout(src)) }, "workout_samples", 4, ""},
	}
	for _, c := range cases {
		for _, src := range []struct{ json, want string }{{obj, "Ana’s Apple Watch"}, {byName, "iPhone"}} {
			t.Run(c.name+" "+src.want, func(t *testing.T) {
				_, it := c.it(src.json)
				s := decode(t, it.(hae.Item))
				if want := max(c.rows, 1); len(s.rows) != want || len(s.rejects) != 0 {
					t.Fatalf("%d rows, want %d; rejections %+v", len(s.rows), want, s.rejects)
				}
				var rows []row
				for _, r := range s.rows {
					if c.table == "" || r.table.Name == c.table {
						rows = append(rows, r)
					}
				}
				if len(rows) == 0 {
					t.Fatalf("no %s row", c.table)
				}
				for _, r := range rows {
					if slices.Contains(decoderColumns(r.table), "source") {
						wantString(t, r, "source", src.want)
					}
					if c.keep == "" {
						continue
					}
					kept, _ := r.get(t, c.keep).(string)
					if !strings.Contains(kept, `"source":`) || !strings.Contains(kept, "bundleIdentifier") || !strings.Contains(kept, src.want) {
						t.Errorf("%s = %s: the source object is not kept", c.keep, kept)
					}
				}
			})
		}
	}
}

// TestECGNumericVoltageDates: voltage dates as epoch numbers (Unix or
// reference-date seconds) give offsets from the recording's start.
func TestECGNumericVoltageDates(t *testing.T) {
	// start 2025-03-12 10:00:00 -0800 = 1741802400 Unix = 763495200 since 2001.
	for _, c := range []struct{ name, d0, d1, d2 string }{
		{"unix seconds", "1741802400", "1741802400.002", "1741802400.004"},
		{"reference-date seconds", "763495200", "763495200.002", "763495200.004"},
		{"strings", `"2025-03-12 10:00:00.000 -0800"`, `"2025-03-12 10:00:00.002 -0800"`, `"2025-03-12 10:00:00.004 -0800"`},
	} {
		t.Run(c.name, func(t *testing.T) {
			raw := `{"start":"2025-03-12 10:00:00 -0800","end":"2025-03-12 10:00:30 -0800","classification":"Ritmo sinusal","samplingFrequency":512,
				"voltageMeasurements":[{"date":` + c.d0 + `,"voltage":-0.0008,"units":"V"},{"date":` + c.d1 + `,"voltage":-0.0005,"units":"V"},{"date":` + c.d2 + `,"voltage":0.0001,"units":"V"}]}`
			r := oneRow(t, decode(t, arrayItem("ecg", raw)))
			offsets, ok := r.get(t, "voltage_offsets_ms").([]*float64)
			if !ok || len(offsets) != 3 {
				t.Fatalf("voltage_offsets_ms %#v", r.get(t, "voltage_offsets_ms"))
			}
			for i, want := range []float64{0, 2, 4} {
				if offsets[i] == nil || *offsets[i] != want {
					t.Errorf("offset %d = %v, want %v", i, offsets[i], want)
				}
			}
			wantString(t, r, "classification", "Ritmo sinusal")
			wantString(t, r, "classification_canonical", "sinus_rhythm")
		})
	}
}

// TestCanonicalValues: localised medication statuses, ECG classifications
// and symptom wording get the same canonical value whatever the language;
// unknown text keeps NULL and is counted.
func TestCanonicalValues(t *testing.T) {
	type check struct {
		array, raw, col string
		want            any
	}
	med := func(status string) check {
		return check{"medications", `{"displayText":"Ibuprofeno 200 mg","start":"2026-08-10 09:05:00 +0200","status":"` + status + `","dosage":1}`, "value_canonical", nil}
	}
	ecgC := func(class string) check {
		return check{"ecg", `{"start":"2026-08-10 09:00:00 +0200","classification":"` + class + `"}`, "classification_canonical", nil}
	}
	cases := []struct {
		c    check
		want any
	}{
		{med("Taken"), "taken"}, {med("Tomado"), "taken"}, {med("Eingenommen"), "taken"}, {med("Pris"), "taken"},
		{med("Preso"), "taken"}, {med("Ingenomen"), "taken"}, {med("服用済み"), "taken"}, {med("taken"), "taken"},
		{med("Skipped"), "skipped"}, {med("Omitido"), "skipped"}, {med("Übersprungen"), "skipped"}, {med("Sauté"), "skipped"},
		{med("Saltato"), "skipped"}, {med("Ignorado"), "skipped"}, {med("Overgeslagen"), "skipped"}, {med("スキップ"), "skipped"},
		{med("Not Interacted"), "not_interacted"}, {med("No Interactuado"), "not_interacted"}, {med("notInteracted"), "not_interacted"},
		{med("NO INTERACTUADO"), "not_interacted"},
		{ecgC("Sinus Rhythm"), "sinus_rhythm"}, {ecgC("Ritmo Sinusal"), "sinus_rhythm"}, {ecgC("Sinusrhythmus"), "sinus_rhythm"},
		{ecgC("Rythme sinusal"), "sinus_rhythm"}, {ecgC("Ritmo sinusale"), "sinus_rhythm"}, {ecgC("Sinusritme"), "sinus_rhythm"},
		{ecgC("洞調律"), "sinus_rhythm"}, {ecgC("Fibrilación auricular"), "atrial_fibrillation"}, {ecgC("Fibrilacion auricular"), "atrial_fibrillation"},
		{ecgC("Vorhofflimmern"), "atrial_fibrillation"}, {ecgC("心房細動"), "atrial_fibrillation"}, {ecgC("Fibrilação atrial"), "atrial_fibrillation"},
		{ecgC("Inconclusive"), "inconclusive_other"}, {ecgC("No concluyente"), "inconclusive_other"}, {ecgC("Heart Rate Over 150"), "inconclusive_high_heart_rate"},
		{ecgC("Poor Recording"), "inconclusive_poor_reading"},
		{check{"symptoms", `{"start":"2026-08-10 09:00:00 +0200","name":"Dolor de cabeza","severity":"Leve"}`, "value_canonical", nil}, "mild"},
		{check{"symptoms", `{"start":"2026-08-10 09:00:00 +0200","name":"Dolor de cabeza","severity":"Leve"}`, "name_canonical", nil}, "headache"},
		{check{"stateOfMind", `{"id":"X","start":"2026-08-10 09:00:00 +0200","kind":"dailyMood","valenceClassification":"slightlyPleasant"}`, "value_canonical", nil}, "slightly_pleasant"},
		{check{"stateOfMind", `{"id":"X","start":"2026-08-10 09:00:00 +0200","kind":"dailyMood","valenceClassification":"slightly_pleasant"}`, "value_canonical", nil}, "slightly_pleasant"},
		// HealthKit's raw numbers, where an app sends those.
		{check{"stateOfMind", `{"id":"X","start":"2026-08-10 09:00:00 +0200","kind":"dailyMood","valenceClassification":5}`, "value_canonical", nil}, "slightly_pleasant"},
		{check{"ecg", `{"start":"2026-08-10 09:00:00 +0200","classification":2}`, "classification_canonical", nil}, "atrial_fibrillation"},
		{check{"ecg", `{"start":"2026-08-10 09:00:00 +0200","classification":2}`, "classification", nil}, "2"},
	}
	for _, c := range cases {
		t.Run(c.c.array+" "+c.c.raw[strings.LastIndex(c.c.raw, ":")+1:], func(t *testing.T) {
			s := decode(t, arrayItem(c.c.array, c.c.raw))
			if got := oneRow(t, s).get(t, c.c.col); got != c.want {
				t.Errorf("%s = %#v, want %#v", c.c.col, got, c.want)
			}
			if len(s.unknown) != 0 {
				t.Errorf("unknown terms counted: %v", s.unknown)
			}
		})
	}
	// Unknown text: kept as sent, canonical NULL, counted once per field.
	s := decode(t, arrayItem("medications", `{"displayText":"X","start":"2026-08-10 09:05:00 +0200","status":"Genommen?!x"}`))
	r := oneRow(t, s)
	wantString(t, r, "value", "Genommen?!x")
	wantNil(t, r, "value_canonical")
	if s.unknown[kind.FieldMedicationStatus] != 1 {
		t.Errorf("unknown %v, want one %s", s.unknown, kind.FieldMedicationStatus)
	}
	// cycleTracking has no vocabulary: nothing is counted.
	s = decode(t, arrayItem("cycleTracking", `{"start":"2026-08-10 00:00:00 +0200","name":"Menstrual Flow","value":"Ligero"}`))
	wantNil(t, oneRow(t, s), "value_canonical")
	if len(s.unknown) != 0 {
		t.Errorf("unknown %v for a value without a vocabulary", s.unknown)
	}
}

// TestVocabularyUnambiguous: no wording folds onto two canonical values of
// one field, and every language the docs promise is there for medication
// statuses and ECG classifications.
func TestVocabularyUnambiguous(t *testing.T) {
	seen := map[string]string{}
	langs := map[string]map[string]bool{}
	for _, term := range kind.Terms() {
		key := term.Field + "/" + kind.FoldTerm(term.Text)
		if prev, ok := seen[key]; ok && prev != term.Canonical {
			t.Errorf("%s %q is both %s and %s", term.Field, term.Text, prev, term.Canonical)
		}
		seen[key] = term.Canonical
		if langs[term.Field] == nil {
			langs[term.Field] = map[string]bool{}
		}
		langs[term.Field][term.Lang] = true
	}
	for _, field := range []string{kind.FieldMedicationStatus, kind.FieldECGClassification} {
		for _, lang := range []string{"en", "es", "de", "fr", "it", "pt", "nl", "ja"} {
			if !langs[field][lang] {
				t.Errorf("%s has no %s wording", field, lang)
			}
		}
	}
}

// TestWorkoutRecoveryFlag: a heartRateData that is really the recovery
// series is stored as sent and flagged in details; a real one is not.
func TestWorkoutRecoveryFlag(t *testing.T) {
	samples := func(from string, n int, equal bool) string {
		var b strings.Builder
		for i := range n {
			if i > 0 {
				b.WriteByte(',')
			}
			hi := 120 - i
			lo := hi
			if !equal {
				lo = hi - 5
			}
			fmt.Fprintf(&b, `{"date":"%s:%02d +0000","Min":%d,"Avg":%d,"Max":%d,"units":"count/min"}`, from, i*5, lo, hi, hi)
		}
		return "[" + b.String() + "]"
	}
	head := `{"id":"W1","name":"Outdoor Run","start":"2026-08-10 07:00:00 +0000","end":"2026-08-10 07:30:00 +0000",`
	for _, c := range []struct {
		name, raw string
		flag      bool
	}{
		{"recovery in heartRateData", head + `"heartRateData":` + samples("2026-08-10 07:30", 12, true) + `}`, true},
		{"real heart rate during the workout", head + `"heartRateData":` + samples("2026-08-10 07:10", 12, false) + `}`, false},
		{"equal values but during the workout", head + `"heartRateData":` + samples("2026-08-10 07:10", 12, true) + `}`, false},
		{"with a heartRateRecovery beside it", head + `"heartRateData":` + samples("2026-08-10 07:30", 12, true) + `,"heartRateRecovery":` + samples("2026-08-10 07:30", 3, true) + `}`, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := decode(t, arrayItem("workouts", c.raw))
			w := s.rows[0]
			details, _ := w.get(t, "details").(string)
			if got := strings.Contains(details, `"heartRateDataIsRecovery":true`); got != c.flag {
				t.Errorf("details %q: flag %v, want %v", details, got, c.flag)
			}
			n := 0
			for _, r := range s.rows[1:] {
				if r.get(t, "series") == "heartRateData" {
					n++
				}
			}
			if n != 12 {
				t.Errorf("%d heartRateData samples stored, want 12", n)
			}
		})
	}
}

// TestWorkoutNewSeries: a series array the code does not name (the
// beat-to-beat heart rate of app 9.0.13) is stored under its own name,
// dates as numbers included; an array that is not a series stays in
// details.
func TestWorkoutNewSeries(t *testing.T) {
	raw := `{"id":"W2","name":"Yoga","start":"2026-08-10 07:00:00 +0000","end":"2026-08-10 07:30:00 +0000",
		"heartRateBeatToBeat":[{"date":1786345200.512,"qty":71.2,"units":"count/min"},{"date":1786345201.355,"qty":71.9,"units":"count/min"}],
		"labels":["calm"]}`
	s := decode(t, arrayItem("workouts", raw))
	if len(s.rows) != 3 {
		t.Fatalf("%d rows, want the workout and 2 samples; rejections %v", len(s.rows), s.rejects)
	}
	wantString(t, s.rows[1], "series", "heartRateBeatToBeat")
	wantTime(t, s.rows[1], "recorded_at", utc("2026-08-10T07:00:00.512Z"), 0)
	wantFloat(t, s.rows[2], "qty", 71.9)
	details, _ := s.rows[0].get(t, "details").(string)
	if !strings.Contains(details, `"labels"`) || strings.Contains(details, "heartRateBeatToBeat") {
		t.Errorf("details %s", details)
	}
}

// TestSymptomKeyedOnCanonicalName: a symptom is keyed on its canonical
// name, so the same symptom from a phone in another language is one row;
// a name the vocabulary does not know is the key as sent.
func TestSymptomKeyedOnCanonicalName(t *testing.T) {
	for _, c := range []struct{ name, key string }{
		{"Headache", "headache"}, {"Dolor de cabeza", "headache"}, {"HEADACHE", "headache"}, {"Dolor de muelas", "Dolor de muelas"},
	} {
		s := decode(t, arrayItem("symptoms", `{"start":"2026-08-10 09:00:00 +0200","name":"`+c.name+`","severity":"Mild"}`))
		r := oneRow(t, s)
		wantString(t, r, "event_key", c.key)
		wantString(t, r, "name", c.name)
	}
}
