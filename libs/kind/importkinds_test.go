package kind_test

import (
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgtype"

	"github.com/healthexport/libs/hae"
	"github.com/healthexport/libs/kind"
)

// importItem is an item the importer of the Health app's export makes:
// its pointer is the element's line in export.xml.
func importItem(kindName, source, raw string) hae.Item {
	return hae.Item{Kind: kindName, Source: source, Array: "/apple_health_export/export.xml/Record/line", Index: 120, Raw: []byte(raw), Ordinal: testOrdinal}
}

func TestActivitySummary(t *testing.T) {
	r := oneRow(t, decode(t, importItem("activity_summary", "activitySummaries",
		`{"date":"2026-11-01","activeEnergyBurned":612.5,"activeEnergyBurnedGoal":500,"activeEnergyBurnedUnit":"kcal","appleMoveTime":0,"appleMoveTimeGoal":0,"appleExerciseTime":58,"appleExerciseTimeGoal":30,"appleStandHours":13,"appleStandHoursGoal":12,"appleStandHoursGoalNew":10}`)))
	if d, _ := r.get(t, "summary_date").(pgtype.Date); !d.Time.Equal(time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("summary_date %v", r.get(t, "summary_date"))
	}
	wantFloat(t, r, "active_energy", 612.5)
	wantFloat(t, r, "active_energy_goal", 500)
	wantString(t, r, "active_energy_units", "kcal")
	wantFloat(t, r, "exercise_time_min", 58)
	wantFloat(t, r, "stand_hours", 13)
	wantFloat(t, r, "stand_hours_goal", 12)
	wantJSON(t, r, "details", `{"appleStandHoursGoalNew":10}`)

	for _, c := range []struct{ raw, reason string }{
		{`{"activeEnergyBurned":1}`, "date: missing"},
		{`{"date":"2026-11-01","appleStandHours":-1}`, "appleStandHours: must be ≥ 0"},
		{`{"date":"2099-01-01"}`, "more than 24 h after"},
		{`{"date":"2026-11-01","activeEnergyBurned":"lots"}`, "activeEnergyBurned: must be a number"},
	} {
		rejected(t, decode(t, importItem("activity_summary", "activitySummaries", c.raw)), c.reason)
	}
}

func TestImportRecord(t *testing.T) {
	r := oneRow(t, decode(t, importItem("import", "imports",
		`{"import_id":"abc","state":"converting","file":"export.zip","bytes":1234,"records":10,"parts":2,"received_at":"2026-11-25T10:00:00Z","updated_at":"2026-11-25T10:00:02Z","xml":"apple_health_export/exportar.xml","items":{"heart_rate":3}}`)))
	wantString(t, r, "import_id", "abc")
	wantString(t, r, "state", "converting")
	if r.get(t, "file_bytes") != int64(1234) || r.get(t, "records_read") != int64(10) || r.get(t, "parts_published") != int64(2) {
		t.Errorf("counts %v %v %v", r.get(t, "file_bytes"), r.get(t, "records_read"), r.get(t, "parts_published"))
	}
	wantJSON(t, r, "details", `{"xml":"apple_health_export/exportar.xml","items":{"heart_rate":3}}`)

	// An element the importer could not read: rejected with its reason.
	s := decode(t, importItem("import", "imports", `{"rejected":"<Record>: malformed attributes: invalid attribute value: 5","element":"Record"}`))
	if reason := rejected(t, s, "malformed attributes"); reason != "<Record>: malformed attributes: invalid attribute value: 5" {
		t.Errorf("reason %q", reason)
	}
	if s.rejects[0].pointer != "/apple_health_export/export.xml/Record/line/120" {
		t.Errorf("pointer %q", s.rejects[0].pointer)
	}
	rejected(t, decode(t, importItem("import", "imports", `{"import_id":"abc","state":"lost"}`)), `state: "lost"`)
	rejected(t, decode(t, importItem("import", "imports", `{"state":"done"}`)), "import_id: missing")
}

// TestCategoryEvents: the Health app's other category samples are events of
// kind category, keyed on their type; an upload's data has no such array.
func TestCategoryEvents(t *testing.T) {
	r := oneRow(t, decode(t, importItem("event", kind.CategoryEvents,
		`{"start":"2026-11-01 19:00:00 +0100","end":"2026-11-01 19:03:00 +0100","source":"Watch","type":"audio_exposure_event","value":"Loud Environment","metadata":{"HKAudioExposureLevel":"93.1 dBASPL"}}`)))
	wantString(t, r, "kind", "category")
	wantString(t, r, "event_key", "audio_exposure_event")
	wantString(t, r, "value", "Loud Environment")
	wantJSON(t, r, "details", `{"metadata":{"HKAudioExposureLevel":"93.1 dBASPL"}}`)
	if reg.ArrayKind(kind.CategoryEvents) != "" {
		t.Errorf("data.%s is routed from uploads", kind.CategoryEvents)
	}
}
