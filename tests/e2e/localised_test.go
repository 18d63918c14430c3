package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestLocalisedPhonesReadBackAlike: an English and a Spanish phone upload
// the same records (medication doses, symptoms, a state of mind, ECGs),
// each worded in its language and with a 9.x source object. Read back
// through the API, the canonical values are identical and not one is
// missing, the text stays as each phone sent it, and the canonical filters
// find the same records for both, in either wording. When the English
// phone switches to Spanish and resends, nothing is stored twice; the
// export carries the canonical values, and filters on them as the reads do.
func TestLocalisedPhonesReadBackAlike(t *testing.T) {
	s := newStack(t)
	s.startAll()
	langs := []string{"en", "es"}
	keys := map[string]string{}
	for _, lang := range langs {
		email := "phone-" + lang + "@example.org"
		s.healthctl("users", "create", "--email", email)
		keys[lang] = s.keyWithScopes(email, "read,ingest")
		body, err := os.ReadFile(filepath.Join("testdata", "localised", "phone-"+lang+".json"))
		if err != nil {
			t.Fatal(err)
		}
		if status, reply := s.post(keys[lang], body, nil); status != 202 {
			t.Fatalf("%s phone: %d %s", lang, status, reply)
		}
	}
	s.drained(60 * time.Second)

	// What each phone reads back, reduced to what must not depend on the
	// phone's language.
	canonical := map[string][]string{}
	sent := map[string][]string{}
	plain := map[string][]string{} // the canonical values alone, as the export is compared
	eventLine := func(e map[string]any) string {
		return fmt.Sprintf("%s name=%v value=%v", e["kind"], e["name_canonical"], e["value_canonical"])
	}
	ecgLine := func(r map[string]any) string { return fmt.Sprintf("ecg %v", r["classification_canonical"]) }
	timedLine := func(e map[string]any) string { return fmt.Sprintf("%s %s", e["started_at"], eventLine(e)) }
	for _, lang := range langs {
		for _, e := range s.walkAPI(keys[lang], "/v1/events", 100)["events"] {
			line := timedLine(e)
			canonical[lang] = append(canonical[lang], line)
			plain[lang] = append(plain[lang], eventLine(e))
			sent[lang] = append(sent[lang], fmt.Sprint(e["value"]))
			if e["value_canonical"] == nil || (e["kind"] == "symptom" && e["name_canonical"] == nil) {
				t.Errorf("%s phone: %s has no canonical value", lang, line)
			}
		}
		for _, r := range s.walkAPI(keys[lang], "/v1/ecg", 10)["recordings"] {
			canonical[lang] = append(canonical[lang], fmt.Sprintf("%s %s offsets=%v", r["started_at"], ecgLine(r), r["voltage_offsets_ms"]))
			plain[lang] = append(plain[lang], ecgLine(r))
			sent[lang] = append(sent[lang], fmt.Sprint(r["classification"]))
		}
	}
	if len(canonical["en"]) != 9 {
		t.Fatalf("en phone read back %d records, want 7 events and 2 ECGs: %v", len(canonical["en"]), canonical["en"])
	}
	if !slices.Equal(canonical["en"], canonical["es"]) {
		t.Errorf("the phones read back differently:\nen %q\nes %q", canonical["en"], canonical["es"])
	}
	if slices.Equal(sent["en"], sent["es"]) || !slices.Contains(sent["es"], "Tomado") || !slices.Contains(sent["es"], "Ritmo sinusal") {
		t.Errorf("the text as sent is not kept: en %q, es %q", sent["en"], sent["es"])
	}

	// The filters, in canonical form or either language's wording.
	for _, lang := range langs {
		for _, c := range []struct {
			path string
			list string
			n    int
		}{
			{"/v1/events?kind=medication&value=taken", "events", 2},
			{"/v1/events?kind=medication&value=Tomado", "events", 2},
			{"/v1/events?kind=medication&value=Taken", "events", 2},
			{"/v1/events?kind=medication&value=skipped", "events", 1},
			{"/v1/events?kind=medication&value=not_interacted", "events", 1},
			{"/v1/events?kind=symptom&value=mild", "events", 1},
			{"/v1/events?value=slightly_pleasant", "events", 1},
			{"/v1/ecg?classification=sinus_rhythm", "recordings", 1},
			{"/v1/ecg?classification=Fibrilaci%C3%B3n%20auricular", "recordings", 1},
			{"/v1/ecg?classification=inconclusive_other", "recordings", 0},
		} {
			if got := len(s.walkAPI(keys[lang], c.path, 10)[c.list]); got != c.n {
				t.Errorf("%s phone: GET %s: %d %s, want %d", lang, c.path, got, c.list, c.n)
			}
		}
	}

	// The exports filter alike: only the table filtered, only its rows.
	for _, lang := range langs {
		for _, c := range []struct {
			path  string
			table string
			col   string
			want  string
		}{
			{"/v1/export?value=taken", "health_events", "value_canonical", "taken taken"},
			{"/v1/export?value=Tomado", "health_events", "value_canonical", "taken taken"},
			{"/v1/export?value=skipped", "health_events", "value_canonical", "skipped"},
			{"/v1/export?classification=sinus_rhythm", "ecg_recordings", "classification_canonical", "sinus_rhythm"},
			{"/v1/export?classification=Fibrilaci%C3%B3n%20auricular", "ecg_recordings", "classification_canonical", "atrial_fibrillation"},
			{"/v1/export?classification=inconclusive_other", "ecg_recordings", "classification_canonical", ""},
		} {
			ex := s.exportNDJSONOf(keys[lang], c.path)
			var got []string
			for _, r := range ex.rows[c.table] {
				got = append(got, fmt.Sprint(r[c.col]))
			}
			if strings.Join(got, " ") != c.want || len(ex.rows) > 1 || len(ex.end) != 1 || ex.end[c.table] != float64(len(got)) {
				t.Errorf("%s phone: GET %s: %s %q, tables %v (end %v), want %q alone", lang, c.path, c.col, got, ex.counts(), ex.end, c.want)
			}
		}
	}

	// The English phone's owner switches the phone to Spanish and the app
	// resends the same records: each event is still stored once, with the
	// later (Spanish) text and the same canonical values.
	es, err := os.ReadFile(filepath.Join("testdata", "localised", "phone-es.json"))
	if err != nil {
		t.Fatal(err)
	}
	if status, reply := s.post(keys["en"], es, nil); status != 202 {
		t.Fatalf("the switched phone: %d %s", status, reply)
	}
	s.drained(60 * time.Second)
	var switched []string
	for _, e := range s.walkAPI(keys["en"], "/v1/events", 100)["events"] {
		switched = append(switched, timedLine(e))
	}
	if !slices.Equal(switched, canonical["es"][:7]) {
		t.Errorf("after the language switch:\n%q\nwant\n%q", switched, canonical["es"][:7])
	}

	// The export carries the canonical values beside the text.
	ex := s.exportNDJSON(keys["es"])
	var exported []string
	for _, e := range ex.rows["health_events"] {
		exported = append(exported, eventLine(e))
	}
	for _, r := range ex.rows["ecg_recordings"] {
		exported = append(exported, ecgLine(r))
	}
	slices.Sort(exported)
	want := slices.Sorted(slices.Values(plain["es"]))
	if !slices.Equal(exported, want) {
		t.Errorf("the export's canonical values:\n%q\nwant what the API read:\n%q", exported, want)
	}
}
