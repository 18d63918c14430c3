package importer

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/healthexport/libs/applehealth"
	"github.com/healthexport/libs/hae"
	"github.com/healthexport/libs/kind"
	"github.com/healthexport/libs/pgstore"
	"github.com/healthexport/libs/synth"
	"github.com/healthexport/libs/testenv"
)

// zipDir zips testdata/<dir> as the Health app does (its folder inside)
// into a temporary file, and returns the file, rewound.
func zipDir(t testing.TB, dir string) *os.File {
	t.Helper()
	return tempFile(t, testenv.ZipDir(t, filepath.Join("testdata", dir)))
}

// converted is an item as the converter handed it on.
type converted struct {
	kind, source, name, units, pointer string
	raw                                map[string]any
}

// convertAll converts an export's records and ECGs without publishing.
func convertAll(t *testing.T, f *os.File, name string) ([]converted, *Stats, error) {
	t.Helper()
	e, err := applehealth.OpenFile(f, name)
	if err != nil {
		return nil, nil, err
	}
	var items []converted
	stats := newStats()
	conv := newConverter(kind.New(), e, e.Name(), func(it *hae.Item) error {
		var m map[string]any
		if err := json.Unmarshal(it.Raw, &m); err != nil {
			t.Fatalf("item %s is not JSON: %v\n%s", it.Pointer(), err, it.Raw)
		}
		items = append(items, converted{kind: it.Kind, source: it.Source, name: it.Name, units: it.Units, pointer: it.Pointer(), raw: m})
		return nil
	}, stats)
	im := &Importer{reg: kind.New(), cfg: Config{ProgressEvery: time.Hour}}
	p := &Progress{Stats: *stats}
	conv.stats = &p.Stats
	err = im.convert(t.Context(), e, conv, p, func() error { return nil })
	return items, &p.Stats, err
}

func byPointer(items []converted, pointer string) *converted {
	for i := range items {
		if items[i].pointer == pointer {
			return &items[i]
		}
	}
	return nil
}

// TestConvertEveryRecordType converts the small export that holds every
// record type and every quirk the Health app is known to write, and checks
// what each element became.
func TestConvertEveryRecordType(t *testing.T) {
	items, stats, err := convertAll(t, zipDir(t, "export"), "export.zip")
	if err != nil {
		t.Fatal(err)
	}
	const xml = "/apple_health_export/exportar.xml"
	wantKinds := map[string]int64{"heart_rate": 5, "quantity": 16, "blood_pressure": 1, "sleep": 6, "event": 6,
		"workout": 3, "activity_summary": 2, "ecg": 1, "import": 1}
	for k, n := range wantKinds {
		if stats.Items[k] != n {
			t.Errorf("%s items = %d, want %d", k, stats.Items[k], n)
		}
	}
	if len(stats.Items) != len(wantKinds) {
		t.Errorf("items by kind %v", stats.Items)
	}
	wantSkipped := map[string]int64{
		skipBPRecord: 2, skipFood: 1, skipMe: 1, skipRouteMissing: 1,
		skipOtherElement + "ClinicalRecord": 1, skipOtherElement + "Audiogram": 1,
	}
	for k, n := range wantSkipped {
		if stats.Skipped[k] != n {
			t.Errorf("skipped %q = %d, want %d", k, stats.Skipped[k], n)
		}
	}
	if stats.ExportDate != "2026-11-02 09:00:00 +0100" || stats.Records != 47 {
		t.Errorf("export date %q, records %d", stats.ExportDate, stats.Records)
	}

	checks := []struct {
		pointer, kind, source, name, units string
		want                               map[string]any
	}{
		// Heart rate: min = avg = max; numbers as text read as numbers.
		{xml + "/Record/line/35", "heart_rate", "metrics", "heart_rate", "count/min",
			map[string]any{"date": "2026-11-01 08:00:00 +0100", "Min": 72.0, "Avg": 72.0, "Max": 72.0, "source": "Apple Watch de Ana"}},
		{xml + "/Record/line/38", "heart_rate", "metrics", "heart_rate", "count/min",
			map[string]any{"date": "2026-11-01 08:01:00 +0100", "Min": 75.0, "Avg": 75.0, "Max": 75.0, "source": "Apple Watch de Ana"}},
		{xml + "/Record/line/39", "heart_rate", "metrics", "heart_rate", "count/min",
			map[string]any{"date": "2026-11-01 08:02:00 +0100", "Min": 80.5, "Avg": 80.5, "Max": 80.5, "source": "Apple Watch de Ana"}},
		// \x0b kept in the source; the end kept when it differs.
		{xml + "/Record/line/42", "quantity", "metrics", "step_count", "count",
			map[string]any{"date": "2026-11-01 08:10:00 +0100", "qty": 512.0, "source": "iPhone de Ana\x0b", "endDate": "2026-11-01 08:20:00 +0100"}},
		// Text that is no number goes as text, for the kind to reject.
		{xml + "/Record/line/43", "quantity", "metrics", "step_count", "count",
			map[string]any{"date": "2026-11-01 08:20:00 +0100", "qty": "muchos", "source": "iPhone de Ana", "endDate": "2026-11-01 08:30:00 +0100"}},
		// A malformed attribute: rejected by the import kind, with its reason.
		{xml + "/Record/line/45", "import", "imports", "", "", nil},
		{xml + "/Record/line/46", "quantity", "metrics", "heart_rate_variability", "ms",
			map[string]any{"date": "2026-11-01 03:10:00 +0100", "qty": 48.5, "source": "Apple Watch de Ana", "endDate": "2026-11-01 03:11:00 +0100",
				"beats": []any{map[string]any{"bpm": 58.0, "time": "3:10:01,25 a. m."}, map[string]any{"bpm": 61.0, "time": "3:10:02,20 a. m."}}}},
		{xml + "/Record/line/52", "quantity", "metrics", "weight_body_mass", "kg", nil},
		{xml + "/Record/line/53", "quantity", "metrics", "blood_oxygen_saturation", "%",
			map[string]any{"date": "2026-11-01 04:00:00 +0100", "qty": 97.0, "source": "Apple Watch de Ana"}},
		{xml + "/Record/line/54", "quantity", "metrics", "vo2_max", "mL/min·kg",
			map[string]any{"date": "2026-11-01 09:00:00 +0100", "qty": 41.3, "source": "Apple Watch de Ana", "metadata": map[string]any{"HKVO2MaxTestType": "2"}}},
		{xml + "/Record/line/58", "quantity", "metrics", "future_metric_of_ios30", "count", nil},
		{xml + "/Record/line/59", "quantity", "metrics", "sleep_duration_goal", "hr", nil},
		{xml + "/Record/line/63", "sleep", "metrics", "sleep_analysis", "hr",
			map[string]any{"startDate": "2026-11-01 00:10:00 +0100", "endDate": "2026-11-01 01:40:00 +0100", "qty": 1.5, "value": "Core", "source": "Apple Watch de Ana"}},
		{xml + "/Record/line/67", "sleep", "metrics", "sleep_analysis", "hr", map[string]any{"startDate": "2026-11-01 00:05:00 +0100",
			"endDate": "2026-11-01 06:20:00 +0100", "qty": 6.25, "value": "Asleep", "source": "iPhone de Ana"}},
		{xml + "/Record/line/68", "quantity", "metrics", "mindful_minutes", "min", map[string]any{"date": "2026-11-01 21:00:00 +0100",
			"qty": 5.5, "source": "Apple Watch de Ana", "endDate": "2026-11-01 21:05:30 +0100"}},
		{xml + "/Record/line/69", "quantity", "metrics", "apple_stand_hour", "count", map[string]any{"date": "2026-11-01 10:00:00 +0100",
			"qty": 1.0, "value": "Stood", "source": "Apple Watch de Ana"}},
		{xml + "/Record/line/71", "quantity", "metrics", "handwashing", "s", map[string]any{"date": "2026-11-01 12:30:00 +0100",
			"qty": 22.0, "value": "Not Applicable", "source": "Apple Watch de Ana"}},
		{xml + "/Record/line/73", "quantity", "metrics", "sexual_activity", "count", map[string]any{"date": "2026-11-01 23:00:00 +0100",
			"Protection Used": 1.0, "source": "Salud"}},
		{xml + "/Record/line/76", "event", "symptoms", "", "", map[string]any{"start": "2026-11-01 15:00:00 +0100", "end": "2026-11-01 17:00:00 +0100",
			"source": "Salud", "name": "Headache", "severity": "Mild"}},
		{xml + "/Record/line/77", "event", "symptoms", "", "", map[string]any{"start": "2026-11-01 18:00:00 +0100", "end": "2026-11-01 18:00:00 +0100",
			"source": "Salud", "name": "Coughing", "severity": "Present"}},
		{xml + "/Record/line/78", "event", "cycleTracking", "", "", map[string]any{"start": "2026-11-01 00:00:00 +0100", "end": "2026-11-01 00:00:00 +0100",
			"source": "Salud", "name": "Menstrual Flow", "value": "Light", "isCycleStart": true, "metadata": map[string]any{"HKMenstrualCycleStart": "1"}}},
		{xml + "/Record/line/81", "event", "heartRateNotifications", "", "", map[string]any{"start": "2026-11-01 16:00:00 +0100",
			"end": "2026-11-01 16:10:00 +0100", "source": "Apple Watch de Ana", "heartNotification": "high_heart_rate_notification", "threshold": 120.0,
			"metadata": map[string]any{"HKHeartRateEventThreshold": "120 count/min"}}},
		{xml + "/Record/line/84", "event", "categories", "", "", map[string]any{"start": "2026-11-01 19:00:00 +0100",
			"end": "2026-11-01 19:03:00 +0100", "source": "Apple Watch de Ana", "type": "audio_exposure_event", "value": "Loud Environment",
			"metadata": map[string]any{"HKAudioExposureLevel": "93.1 dBASPL"}}},
		// The correlation, once; its children, repeated at the top, skipped.
		{xml + "/Correlation/line/88", "blood_pressure", "metrics", "blood_pressure", "mmHg",
			map[string]any{"date": "2026-11-01 07:30:00 +0100", "diastolic": 79.0, "systolic": 121.0, "source": "Omron"}},
		{xml + "/ActivitySummary/line/123", "activity_summary", "activitySummaries", "", "", map[string]any{"date": "2026-11-01",
			"activeEnergyBurned": 612.0, "activeEnergyBurnedGoal": 500.0, "activeEnergyBurnedUnit": "kcal", "appleMoveTime": 0.0, "appleMoveTimeGoal": 0.0,
			"appleExerciseTime": 58.0, "appleExerciseTimeGoal": 30.0, "appleStandHours": 13.0, "appleStandHoursGoal": 12.0}},
	}
	for _, c := range checks {
		got := byPointer(items, c.pointer)
		if got == nil {
			t.Errorf("no item at %s", c.pointer)
			continue
		}
		if got.kind != c.kind || got.source != c.source || got.name != c.name || got.units != c.units {
			t.Errorf("%s: %s/%s %q %q, want %s/%s %q %q", c.pointer, got.kind, got.source, got.name, got.units, c.kind, c.source, c.name, c.units)
		}
		if c.want != nil && !equalJSON(got.raw, c.want) {
			t.Errorf("%s:\n got %v\nwant %v", c.pointer, got.raw, c.want)
		}
	}
	if r := byPointer(items, xml+"/Record/line/45"); r != nil && !strings.Contains(r.raw[rejectedByImport].(string), "malformed attributes") {
		t.Errorf("malformed record: %v", r.raw)
	}

	run := byPointer(items, xml+"/Workout/line/96")
	if run == nil {
		t.Fatal("no running workout")
	}
	if run.raw["name"] != "Outdoor Run" || run.raw["duration"] != 1800.0 || len(run.raw["route"].([]any)) != 2 ||
		!equalJSON(run.raw["distance"], map[string]any{"qty": 5.2, "units": "km"}) || len(run.raw["workoutEvents"].([]any)) != 2 {
		t.Errorf("running workout %v", run.raw)
	}
	ride := byPointer(items, xml+"/Workout/line/105")
	if ride == nil {
		t.Fatal("no cycling workout")
	}
	route, _ := ride.raw["route"].([]any)
	if ride.raw["name"] != "Outdoor Cycling" || ride.raw["duration"] != 2730.0 || len(route) != 3 ||
		!equalJSON(ride.raw["activeEnergyBurned"], map[string]any{"qty": 402.5, "units": "kcal"}) ||
		!equalJSON(ride.raw["heartRate"], map[string]any{"avg": map[string]any{"qty": 141.0, "units": "count/min"},
			"min": map[string]any{"qty": 98.0, "units": "count/min"}, "max": map[string]any{"qty": 172.0, "units": "count/min"}}) {
		t.Errorf("cycling workout %v", ride.raw)
	}
	if len(route) == 3 && !equalJSON(route[0], map[string]any{"timestamp": "2026-11-01T16:30:00Z", "latitude": 40.42, "longitude": -3.69,
		"altitude": 650.1, "speed": 6.1, "course": 45.0, "horizontalAccuracy": 4.2, "verticalAccuracy": 3.0}) {
		t.Errorf("first GPX point %v", route[0])
	}

	ecg := byPointer(items, "/apple_health_export/electrocardiograms/ecg_2026-11-01.csv/line/1")
	if ecg == nil {
		t.Fatal("no ECG")
	}
	volts, _ := ecg.raw["voltageMeasurements"].([]any)
	if ecg.raw["classification"] != "Ritmo sinusal" || ecg.raw["samplingFrequency"] != 512.0 || len(volts) != 4 ||
		ecg.raw["device"] != "Watch7,3" || ecg.raw["end"] != "2026-11-01 11:00:00 +0100" {
		t.Errorf("ECG %v", ecg.raw)
	}
	if len(volts) == 4 && !equalJSON(volts[2], map[string]any{"voltage": 3.75, "date": 1.793527200003906e9}) {
		t.Errorf("third voltage %v", volts[2])
	}
}

func equalJSON(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

// TestConvertedItemsDecode runs every converted item through its kind, as
// the metric-writer will: what the export holds is stored, and the bad
// records are rejected with their pointer and a reason.
func TestConvertedItemsDecode(t *testing.T) {
	f := zipDir(t, "export")
	e, err := applehealth.OpenFile(f, "export.zip")
	if err != nil {
		t.Fatal(err)
	}
	sink := &countSink{rows: map[string]int{}}
	if _, err := decodeAll(t, e, time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC), sink); err != nil {
		t.Fatal(err)
	}
	wantRows := map[string]int{"heart_rate_metrics": 4, "quantity_metrics": 14, "blood_pressure_metrics": 1, "sleep_segments": 6,
		"health_events": 6, "workouts": 3, "workout_route_points": 5, "activity_summaries": 2, "ecg_recordings": 1}
	for tb, n := range wantRows {
		if sink.rows[tb] != n {
			t.Errorf("%s: %d rows, want %d", tb, sink.rows[tb], n)
		}
	}
	const xml = "/apple_health_export/exportar.xml"
	wantRejected := map[string]string{
		xml + "/Record/line/41": "min_bpm: must be between 20 and 300, got 400",
		xml + "/Record/line/43": "qty: must be a number",
		xml + "/Record/line/44": "date: missing",
		xml + "/Record/line/45": "<Record>: malformed attributes",
	}
	for p, reason := range wantRejected {
		if !strings.Contains(sink.rejected[p], reason) {
			t.Errorf("rejection at %s: %q, want %q", p, sink.rejected[p], reason)
		}
	}
	if len(sink.rejected) != len(wantRejected) {
		t.Errorf("rejected %v", sink.rejected)
	}
}

// decodeAll converts an export and runs every item through its kind, cut
// into parts and decoded as the metric-writer does, into sink.
func decodeAll(t *testing.T, e *applehealth.Export, receivedAt time.Time, sink kind.Sink) (*Progress, error) {
	t.Helper()
	reg := kind.New()
	env := &kind.Env{UserID: uuid.New(), ReceivedAt: receivedAt, Origin: kind.OriginImport}
	p := &Progress{Stats: *newStats()}
	conv := newConverter(reg, e, e.Name(), func(it *hae.Item) error {
		k, _ := reg.Lookup(it.Kind)
		c := hae.NewCutter(hae.DefaultPartMaxBytes, func(part *hae.Part) error {
			_, decoded, err := hae.DecodePart(part.Payload)
			if err != nil {
				return err
			}
			for i := range decoded {
				k.Decode(env, &decoded[i], sink)
			}
			return nil
		})
		if err := k.Cut(c, it, hae.DefaultPartMaxBytes, false); err != nil {
			return err
		}
		return c.Flush()
	}, &p.Stats)
	im := &Importer{reg: reg, cfg: Config{ProgressEvery: time.Hour}}
	return p, im.convert(t.Context(), e, conv, p, func() error { return nil })
}

type countSink struct {
	rows     map[string]int
	rejected map[string]string
}

func (s *countSink) Row(t *pgstore.Table, _ int64, _ ...any) { s.rows[t.Name]++ }

func (s *countSink) Reject(pointer, reason string, _ []byte) {
	if s.rejected == nil {
		s.rejected = map[string]string{}
	}
	s.rejected[pointer] = reason
}

// TestConvertBareXML: export.xml alone imports the same records; the
// routes its workouts reference are counted missing.
func TestConvertBareXML(t *testing.T) {
	f, err := os.Open("testdata/export/apple_health_export/exportar.xml")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	_, stats, err := convertAll(t, f, "exportar.xml")
	if err != nil {
		t.Fatal(err)
	}
	if stats.Items["heart_rate"] != 5 || stats.Items["workout"] != 3 || stats.Items["ecg"] != 0 || stats.Skipped[skipRouteMissing] != 2 {
		t.Errorf("bare XML: items %v, skipped %v", stats.Items, stats.Skipped)
	}
}

// TestConvertFilesThatAreNotExports: a zip without records, a text file,
// an XML of another root: each named for what it is.
func TestConvertFilesThatAreNotExports(t *testing.T) {
	for _, c := range []struct {
		name, content, want string
	}{
		{"notes.txt", "hello", "neither a zip nor an XML document"},
		{"empty.xml", "", "the file is empty"},
		{"cda.xml", `<?xml version="1.0"?><ClinicalDocument/>`, "the root element is <ClinicalDocument>"},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := tempFile(t, []byte(c.content))
			_, _, err := convertAll(t, f, c.name)
			if !errors.Is(err, applehealth.ErrNotExport) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("err = %v, want ErrNotExport saying %q", err, c.want)
			}
		})
	}
	t.Run("a zip of photos", func(t *testing.T) {
		_, _, err := convertAll(t, zipDir(t, "notexport"), "photos.zip")
		if !errors.Is(err, applehealth.ErrNotExport) || !strings.Contains(err.Error(), "holds no XML whose root is <HealthData>") ||
			!strings.Contains(err.Error(), "IMG_0001.txt") {
			t.Errorf("err = %v", err)
		}
	})
}

func bytesReaderAt(b []byte) io.ReaderAt { return bytes.NewReader(b) }

func tempFile(t testing.TB, b []byte) *os.File {
	t.Helper()
	f, err := os.CreateTemp(t.TempDir(), "file")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(b); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// TestConvertTruncatedZip: a zip cut in the middle of its export.xml has
// no directory; it is read from its start, and fails saying how far it
// got, after everything before the cut.
func TestConvertTruncatedZip(t *testing.T) {
	full := zipDir(t, "export")
	b, err := io.ReadAll(full)
	if err != nil {
		t.Fatal(err)
	}
	zr, err := zip.NewReader(bytesReaderAt(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	var at int64
	for _, zf := range zr.File {
		if strings.HasSuffix(zf.Name, "exportar.xml") {
			off, err := zf.DataOffset()
			if err != nil {
				t.Fatal(err)
			}
			at = off + int64(zf.CompressedSize64)*3/4
		}
	}
	cut := tempFile(t, b[:at])
	items, stats, err := convertAll(t, cut, "export.zip")
	if !errors.Is(err, applehealth.ErrTruncated) {
		t.Fatalf("err = %v, want ErrTruncated", err)
	}
	if !strings.Contains(err.Error(), "line") {
		t.Errorf("the error does not say how far: %v", err)
	}
	if len(items) == 0 || stats.Records == 0 {
		t.Errorf("nothing converted before the cut: %d items", len(items))
	}
	t.Logf("%v (%d records, %d items before it)", err, stats.Records, len(items))
}

// keySink counts distinct rows per table (rows with the same key are one,
// as in the database) and rejections.
type keySink struct {
	keys     map[string]map[string]bool
	rejected map[string]string
}

func (s *keySink) Row(t *pgstore.Table, _ int64, values ...any) {
	if s.keys[t.Name] == nil {
		s.keys[t.Name] = map[string]bool{}
	}
	s.keys[t.Name][fmt.Sprint(values[:len(t.Key)-1])] = true
}

func (s *keySink) Reject(pointer, reason string, _ []byte) { s.rejected[pointer] = reason }

// TestConvertSyntheticExport: the generator's export, every quirk in it,
// converts to exactly the rows it says it holds, none rejected.
func TestConvertSyntheticExport(t *testing.T) {
	var buf bytes.Buffer
	counts, err := synth.WriteExportZip(&buf, synth.ExportSpec{Days: 20, XMLName: "exportar.xml", RoutePoints: 30, Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	f := tempFile(t, buf.Bytes())
	e, err := applehealth.OpenFile(f, "export.zip")
	if err != nil {
		t.Fatal(err)
	}
	sink := &keySink{keys: map[string]map[string]bool{}, rejected: map[string]string{}}
	p, err := decodeAll(t, e, time.Now(), sink)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int{"heart_rate_metrics": counts.HeartRate, "quantity_metrics": counts.Quantity, "blood_pressure_metrics": counts.BloodPressure,
		"sleep_segments": counts.SleepSegments, "health_events": counts.Events, "workouts": counts.Workouts,
		"workout_route_points": counts.RoutePoints, "activity_summaries": counts.Activity, "ecg_recordings": counts.ECG}
	for tb, n := range want {
		if got := len(sink.keys[tb]); got != n {
			t.Errorf("%s: %d rows, want %d", tb, got, n)
		}
	}
	if len(sink.rejected) != 0 {
		t.Errorf("rejected: %v", sink.rejected)
	}
	if p.Records != int64(counts.Records) {
		t.Errorf("records %d, want %d", p.Records, counts.Records)
	}
}
