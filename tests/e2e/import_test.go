package e2e

import (
	"archive/zip"
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/healthexport/libs/synth"
	"github.com/healthexport/libs/testenv"
)

// exportFixture is the small export holding every record type and quirk
// (libs/importer/testdata/export), zipped as the Health app does.
func exportFixture(t *testing.T) []byte {
	t.Helper()
	return testenv.ZipDir(t, filepath.Join(testenv.RepoRoot(), "libs", "importer", "testdata", "export"))
}

// postImport sends an export to POST /v1/imports.
func (s *stack) postImport(key, contentType string, body []byte) (int, map[string]any) {
	s.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, s.edgeURL+"/v1/imports", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", contentType)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	var reply map[string]any
	b, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(b, &reply)
	if reply == nil {
		reply = map[string]any{"raw": string(b)}
	}
	return resp.StatusCode, reply
}

// importStatus polls GET /v1/imports/{id} until done says it is.
func (s *stack) importStatus(key, id string, timeout time.Duration, done func(map[string]any) bool) map[string]any {
	s.t.Helper()
	deadline := time.Now().Add(timeout)
	var last map[string]any
	for {
		status, _, b := s.api(key, "/v1/imports/"+id)
		last = nil
		_ = json.Unmarshal(b, &last)
		if status == 200 && done(last) {
			return last
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("import %s after %v: %d %s\nedge log:\n%s", id, timeout, status, b, tail(s.logs("edge"), 30))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func written(st map[string]any) bool { return st["written"] == true }

func failed(st map[string]any) bool { return st["state"] == "failed" }

// importTables are the rows the fixture export makes, per table.
var importTables = map[string]int{
	"heart_rate_metrics": 3, "quantity_metrics": 14, "blood_pressure_metrics": 1, "sleep_segments": 6,
	"health_events": 6, "workouts": 3, "workout_route_points": 5, "activity_summaries": 2, "ecg_recordings": 1,
	"rejected_points": 4, "imports": 1,
}

// TestImportBothWays imports the export with every record type and quirk
// through POST /v1/imports and through healthctl import, and finds the
// same rows with the same values; importing it again adds nothing; the
// same heart-rate sample uploaded by Health Auto Export is one row.
func TestImportBothWays(t *testing.T) {
	s := newStack(t)
	s.startAll()
	anaID, ana := s.user("ana@example.org")
	bobID, _ := s.user("bob@example.org")
	reader := s.keyWithScopes("ana@example.org", "read")
	body := exportFixture(t)

	status, reply := s.postImport(ana, "application/zip", body)
	if status != 202 || reply["state"] != "receiving" || reply["duplicate"] != false || reply["bytes"] != float64(len(body)) {
		t.Fatalf("POST /v1/imports: %d %v", status, reply)
	}
	id, _ := reply["import_id"].(string)
	st := s.importStatus(reader, id, 60*time.Second, written)
	if st["state"] != "done" || st["records_read"] != 47.0 || st["rejected"] != 4.0 || st["file"] != "export.zip" ||
		st["xml"] != "apple_health_export/exportar.xml" || st["export_date"] != "2026-11-02 09:00:00 +0100" {
		t.Errorf("status %v", st)
	}
	if errs, _ := st["errors"].([]any); len(errs) != 4 {
		t.Errorf("errors %v", st["errors"])
	}

	// Through healthctl, for bob: the same rows.
	if out, _ := s.healthctlErr("import", "--email", "bob@example.org", "--wait", writeTemp(t, "export.zip", body)); !strings.Contains(out, "written:") {
		t.Fatalf("healthctl import: %s", out)
	}
	s.drained(30 * time.Second)
	for table, want := range importTables {
		for who, uid := range map[string]string{"ana": anaID, "bob": bobID} {
			if got := s.count("SELECT count(*) FROM "+table+" WHERE user_id = $1", uid); got != want {
				t.Errorf("%s: %d %s rows, want %d", who, got, table, want)
			}
		}
	}
	for _, c := range []struct {
		sql  string
		want string
	}{
		{"SELECT avg_bpm::text || ' ' || origin FROM heart_rate_metrics WHERE user_id = $1 AND recorded_at = '2026-11-01 08:02:00+01'", "80.5 1"},
		{"SELECT systolic || '/' || diastolic FROM blood_pressure_metrics WHERE user_id = $1", "121/79"},
		{"SELECT qty::text FROM quantity_metrics WHERE user_id = $1 AND metric = 'blood_oxygen_saturation'", "97"},
		{"SELECT source FROM quantity_metrics WHERE user_id = $1 AND metric = 'step_count'", "iPhone de Ana\x0b"},
		{"SELECT string_agg(stage, ',' ORDER BY started_at, stage) FROM sleep_segments WHERE user_id = $1", "InBed,Asleep,Core,Deep,REM,Awake"},
		{"SELECT event_key || ' ' || value_canonical FROM health_events WHERE user_id = $1 AND kind = 'symptom' AND name = 'Headache'", "headache mild"},
		{"SELECT value || ' ' || name_canonical FROM health_events WHERE user_id = $1 AND kind = 'heart_rate_notification'", "120 high_heart_rate"},
		{"SELECT event_key || ' ' || value FROM health_events WHERE user_id = $1 AND kind = 'category' AND event_key = 'audio_exposure_event'", "audio_exposure_event Loud Environment"},
		{"SELECT name || ' ' || distance_m || ' ' || active_energy_kcal || ' ' || avg_heart_rate FROM workouts WHERE user_id = $1 AND name = 'Outdoor Cycling'", "Outdoor Cycling 18400 402.5 141"},
		{"SELECT count(*)::text FROM workout_route_points r JOIN workouts w USING (user_id, workout_key) WHERE r.user_id = $1 AND w.name = 'Outdoor Cycling'", "3"},
		{"SELECT array_to_string(voltages, ',') || ' ' || voltage_units || ' ' || classification_canonical FROM ecg_recordings WHERE user_id = $1", "-12.5,-10.25,3.75,120.125 µV sinus_rhythm"},
		{"SELECT stand_hours || '/' || stand_hours_goal FROM activity_summaries WHERE user_id = $1 AND summary_date = '2026-11-01'", "13/12"},
		{"SELECT reason FROM rejected_points WHERE user_id = $1 AND pointer = '/apple_health_export/exportar.xml/Record/line/45'", "<Record>: malformed attributes: invalid attribute value: 1"},
		{"SELECT count(*)::text FROM quantity_metrics WHERE user_id = $1 AND origin <> 1", "0"},
	} {
		if got := s.text(c.sql, anaID); got != c.want {
			t.Errorf("%s = %q, want %q", c.sql, got, c.want)
		}
	}

	// The read API, filtered by origin.
	if pts := s.walkAPI(reader, "/v1/metrics/heart_rate?origin=import", 10)["points"]; len(pts) != 3 || pts[0]["origin"] != "import" {
		t.Errorf("heart rate imported: %v", pts)
	}
	if pts := s.walkAPI(reader, "/v1/metrics/heart_rate?origin=upload", 10)["points"]; len(pts) != 0 {
		t.Errorf("heart rate uploaded: %v", pts)
	}
	days := s.walkAPI(reader, "/v1/activity?from=2026-11-01T00:00:00%2B01:00", 10)["summaries"]
	if len(days) != 1 || days[0]["summary_date"] != "2026-11-01" || days[0]["exercise_time_min"] != 58.0 || days[0]["origin"] != "import" {
		t.Errorf("activity from 1 November: %v", days)
	}
	if events := s.walkAPI(reader, "/v1/events?kind=category", 10)["events"]; len(events) != 2 {
		t.Errorf("category events: %v", events)
	}

	// Again, both ways: nothing new, nothing rewritten.
	seqs := s.text("SELECT max(stream_seq)::text FROM heart_rate_metrics WHERE user_id = $1", anaID)
	if status, again := s.postImport(ana, "application/zip", body); status != 202 || again["duplicate"] != true || again["import_id"] != id {
		t.Errorf("the same file again: %d %v", status, again)
	}
	s.healthctlErr("import", "--email", "ana@example.org", "--wait", writeTemp(t, "export.zip", body))
	s.drained(30 * time.Second)
	for table, want := range importTables {
		if got := s.count("SELECT count(*) FROM "+table+" WHERE user_id = $1", anaID); got != want {
			t.Errorf("after importing again: %d %s rows, want %d", got, table, want)
		}
	}
	if got := s.text("SELECT max(stream_seq)::text FROM heart_rate_metrics WHERE user_id = $1", anaID); got != seqs {
		t.Errorf("importing again rewrote heart-rate rows: stream_seq %s, was %s", got, seqs)
	}

	// Health Auto Export sends the 08:00 sample too: one row.
	hae := `{"data":{"metrics":[{"name":"heart_rate","units":"count/min","data":[{"date":"2026-11-01 08:00:00 +0100","Min":72,"Avg":72,"Max":72,"source":"Apple Watch de Ana"}]}]}}`
	if status, reply := s.post(ana, []byte(hae), nil); status != 202 {
		t.Fatalf("upload: %d %s", status, reply)
	}
	s.drained(30 * time.Second)
	if got := s.text("SELECT count(*) || ' ' || min(origin) FROM heart_rate_metrics WHERE user_id = $1 AND recorded_at = '2026-11-01 08:00:00+01'", anaID); got != "1 1" {
		t.Errorf("the sample uploaded and imported: %q rows/origin, want one row, as imported", got)
	}
}

// TestImportNewerExportAddsOnlyWhatIsNew: an export of three days is
// imported, then the export the phone makes three days later (the same
// records, then three days more): each table holds exactly the newer
// export's rows, nothing doubled, and the rows of the first three days are
// left as the first import wrote them.
func TestImportNewerExportAddsOnlyWhatIsNew(t *testing.T) {
	s := newStack(t)
	s.startAll()
	uid, key := s.user("newer@example.org")
	reader := s.keyWithScopes("newer@example.org", "read")
	start := time.Date(2026, 3, 1, 0, 0, 0, 0, time.FixedZone("", 3600))
	imported := func(days int) (string, synth.ExportCounts) {
		t.Helper()
		var buf bytes.Buffer
		// The same seed: the newer export starts with the older one's
		// records, value for value, as the Health app's would.
		counts, err := synth.WriteExportZip(&buf, synth.ExportSpec{Days: days, RoutePoints: 30, Seed: 7, Start: start})
		if err != nil {
			t.Fatal(err)
		}
		status, reply := s.postImport(key, "application/zip", buf.Bytes())
		if status != 202 || reply["duplicate"] != false {
			t.Fatalf("POST /v1/imports of %d days: %d %v", days, status, reply)
		}
		id := reply["import_id"].(string)
		if st := s.importStatus(reader, id, 120*time.Second, written); st["state"] != "done" || st["rejected"] != 0.0 {
			t.Fatalf("import of %d days: %v", days, st)
		}
		s.drained(30 * time.Second)
		return id, counts
	}
	perTable := func(c synth.ExportCounts) map[string]int {
		return map[string]int{
			"heart_rate_metrics": c.HeartRate, "quantity_metrics": c.Quantity, "blood_pressure_metrics": c.BloodPressure,
			"sleep_segments": c.SleepSegments, "health_events": c.Events, "workouts": c.Workouts,
			"workout_route_points": c.RoutePoints, "activity_summaries": c.Activity, "ecg_recordings": c.ECG,
		}
	}

	older, olderCounts := imported(3)
	before := perTable(olderCounts)
	for table, want := range before {
		if got := s.count("SELECT count(*) FROM "+table+" WHERE user_id = $1", uid); got != want {
			t.Errorf("after the first import: %d %s rows, want %d", got, table, want)
		}
	}
	newer, newerCounts := imported(6)
	after := perTable(newerCounts)
	for table, want := range after {
		if want <= before[table] && table != "ecg_recordings" {
			t.Fatalf("the newer export adds no %s: %d, was %d", table, want, before[table])
		}
		got := s.count("SELECT count(*) FROM "+table+" WHERE user_id = $1", uid)
		// rows name their upload through the stream sequence of their part
		byImport := "SELECT count(*) FROM " + table + " WHERE user_id = $1 AND stream_seq IN " +
			"(SELECT stream_seq FROM ingestion_parts WHERE user_id = $1 AND ingestion_id = $2)"
		kept := s.count(byImport, uid, older)
		added := s.count(byImport, uid, newer)
		if got != want || kept != before[table] || added != want-before[table] {
			t.Errorf("after the newer import: %d %s rows (%d left from the first import, %d added), want %d (%d and %d)",
				got, table, kept, added, want, before[table], want-before[table])
		}
	}
	if got := s.count("SELECT count(*) FROM imports WHERE user_id = $1", uid); got != 2 {
		t.Errorf("%d imports recorded, want 2", got)
	}
	if got := s.count("SELECT count(*) FROM rejected_points WHERE user_id = $1", uid); got != 0 {
		t.Errorf("%d rejected points, want 0", got)
	}
}

// rawImport sends an export of n bytes and returns the status, read while
// the body is still being written (the edge answers 413 without reading
// the rest, and closes the connection).
func (s *stack) rawImport(key string, n int, chunked bool) int {
	s.t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(s.edgeURL, "http://"))
	if err != nil {
		s.t.Fatal(err)
	}
	defer conn.Close()
	head := "POST /v1/imports HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + key + "\r\nContent-Type: application/xml\r\n"
	if chunked {
		head += "Transfer-Encoding: chunked\r\n\r\n"
	} else {
		head += fmt.Sprintf("Content-Length: %d\r\n\r\n", n)
	}
	go func() {
		_, _ = io.WriteString(conn, head)
		chunk := bytes.Repeat([]byte("<x/>"), 16<<10)
		for sent := 0; sent < n; sent += len(chunk) {
			var err error
			if chunked {
				_, err = fmt.Fprintf(conn, "%x\r\n%s\r\n", len(chunk), chunk)
			} else {
				_, err = conn.Write(chunk)
			}
			if err != nil {
				return
			}
		}
	}()
	_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		s.t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func writeTemp(t *testing.T, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestImportRefusals: files that are not exports, or are cut short, fail
// with reasons that say what and where; what was read before a cut is
// kept; the route bounds its body and its media type.
func TestImportRefusals(t *testing.T) {
	s := newStack(t, "IMPORT_MAX_BYTES=2097152", "IMPORT_STORE_MAX_BYTES=67108864")
	s.startAll()
	uid, key := s.user("cut@example.org")
	reader := s.keyWithScopes("cut@example.org", "read")
	body := exportFixture(t)

	t.Run("cut short", func(t *testing.T) {
		zr, err := zip.NewReader(bytes.NewReader(body), int64(len(body)))
		if err != nil {
			t.Fatal(err)
		}
		var at int64
		for _, f := range zr.File {
			if strings.HasSuffix(f.Name, "exportar.xml") {
				off, _ := f.DataOffset()
				at = off + int64(f.CompressedSize64)*3/4
			}
		}
		status, reply := s.postImport(key, "application/zip", body[:at])
		if status != 202 {
			t.Fatalf("%d %v", status, reply)
		}
		st := s.importStatus(reader, reply["import_id"].(string), 60*time.Second, failed)
		reason, _ := st["reason"].(string)
		if !strings.Contains(reason, "truncated") || !strings.Contains(reason, "line") || st["records_read"].(float64) < 10 {
			t.Errorf("status %v", st)
		}
		s.drained(30 * time.Second)
		// The records before the cut are stored.
		if n := s.count("SELECT count(*) FROM heart_rate_metrics WHERE user_id = $1", uid); n != 3 {
			t.Errorf("%d heart-rate rows from before the cut, want 3", n)
		}
	})
	t.Run("a zip of something else", func(t *testing.T) {
		var buf bytes.Buffer
		zw := zip.NewWriter(&buf)
		w, _ := zw.Create("IMG_0001.jpg")
		_, _ = w.Write([]byte("not a photo either"))
		_ = zw.Close()
		status, reply := s.postImport(key, "application/zip", buf.Bytes())
		if status != 202 {
			t.Fatalf("%d %v", status, reply)
		}
		st := s.importStatus(reader, reply["import_id"].(string), 60*time.Second, failed)
		if reason, _ := st["reason"].(string); !strings.Contains(reason, "not a Health app export") || !strings.Contains(reason, "IMG_0001.jpg") {
			t.Errorf("status %v", st)
		}
	})
	t.Run("healthctl on a file that is not an export", func(t *testing.T) {
		_, errOut, err := s.healthctlResult("import", "--email", "cut@example.org", writeTemp(t, "notes.txt", []byte("hello")))
		if err == nil || !strings.Contains(errOut, "not a Health app export") {
			t.Errorf("healthctl import notes.txt: %v\n%s", err, errOut)
		}
	})
	t.Run("media type", func(t *testing.T) {
		if status, reply := s.postImport(key, "application/json", []byte(`{}`)); status != 415 || reply["error"] != "unsupported_media_type" {
			t.Errorf("%d %v", status, reply)
		}
	})
	t.Run("too large", func(t *testing.T) {
		// Announced too large, and too large without announcing it: 413 as
		// soon as the limit is crossed, the rest unread.
		for _, chunked := range []bool{false, true} {
			start := time.Now()
			if status := s.rawImport(key, 4<<20, chunked); status != 413 || time.Since(start) > 10*time.Second {
				t.Errorf("chunked %v: %d after %s", chunked, status, time.Since(start))
			}
		}
	})
	t.Run("an unknown import", func(t *testing.T) {
		if status, _, b := s.api(reader, "/v1/imports/0123"); status != 404 {
			t.Errorf("%d %s", status, b)
		}
	})
}

// TestImportWriterKilledLosesNothing: the metric-writer killed with
// SIGKILL while an import's parts arrive, restarted: every row is there,
// once.
func TestImportWriterKilledLosesNothing(t *testing.T) {
	s := newStack(t, "BATCH_MAX_MESSAGES=4", "INGEST_PART_MAX_BYTES=65536", "BATCH_FLUSH_TIMEOUT=2s")
	s.startAll()
	uid, key := s.user("kill-import@example.org")
	reader := s.keyWithScopes("kill-import@example.org", "read")
	var buf bytes.Buffer
	counts, err := synth.WriteExportZip(&buf, synth.ExportSpec{Days: 12, RoutePoints: 60, Seed: 3,
		Start: time.Date(2026, 1, 1, 0, 0, 0, 0, time.FixedZone("", 3600))})
	if err != nil {
		t.Fatal(err)
	}
	status, reply := s.postImport(key, "application/zip", buf.Bytes())
	if status != 202 {
		t.Fatalf("%d %v", status, reply)
	}
	id := reply["import_id"].(string)
	// Kill the writer once rows have started to arrive.
	deadline := time.Now().Add(30 * time.Second)
	for s.count("SELECT count(*) FROM heart_rate_metrics WHERE user_id = $1", uid) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no rows arrived")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := s.signal("metric-writer", syscall.SIGKILL); err == nil || !strings.Contains(err.Error(), "killed") {
		t.Errorf("metric-writer after SIGKILL: %v", err)
	}
	time.Sleep(time.Second)
	s.start("metric-writer")
	st := s.importStatus(reader, id, 120*time.Second, written)
	if st["state"] != "done" || st["rejected"] != 0.0 {
		t.Errorf("status %v", st)
	}
	for table, want := range map[string]int{
		"heart_rate_metrics": counts.HeartRate, "quantity_metrics": counts.Quantity, "blood_pressure_metrics": counts.BloodPressure,
		"sleep_segments": counts.SleepSegments, "health_events": counts.Events, "workouts": counts.Workouts,
		"workout_route_points": counts.RoutePoints, "activity_summaries": counts.Activity, "ecg_recordings": counts.ECG,
	} {
		if got := s.count("SELECT count(*) FROM "+table+" WHERE user_id = $1", uid); got != want {
			t.Errorf("%s: %d rows, want %d", table, got, want)
		}
	}
	if parts, listed := s.count("SELECT count(*) FROM ingestion_parts WHERE user_id = $1 AND ingestion_id = $2 AND kind <> 'import'", uid, id),
		s.count("SELECT parts FROM ingestions WHERE user_id = $1 AND ingestion_id = $2", uid, id); parts != listed {
		t.Errorf("ingestion_parts %d, the manifest lists %d", parts, listed)
	}
}

// TestImportSurvivesEdgeRestart: once the 202 is sent the export is
// durable: the edge that received it, which converts nothing, is killed,
// and another edge converts it.
func TestImportSurvivesEdgeRestart(t *testing.T) {
	s := newStack(t, "IMPORT_WORKERS=0")
	s.startAll()
	uid, key := s.user("restart@example.org")
	reader := s.keyWithScopes("restart@example.org", "read")
	status, reply := s.postImport(key, "application/zip", exportFixture(t))
	if status != 202 {
		t.Fatalf("%d %v", status, reply)
	}
	id := reply["import_id"].(string)
	if err := s.signal("edge", syscall.SIGKILL); err == nil || !strings.Contains(err.Error(), "killed") {
		t.Errorf("edge after SIGKILL: %v", err)
	}
	other := s.startEdge("edge-2", "IMPORT_WORKERS=1")
	s.edgeURL = other
	st := s.importStatus(reader, id, 60*time.Second, written)
	if st["state"] != "done" {
		t.Errorf("status %v", st)
	}
	for table, want := range importTables {
		if got := s.count("SELECT count(*) FROM "+table+" WHERE user_id = $1", uid); got != want {
			t.Errorf("%d %s rows, want %d", got, table, want)
		}
	}
}
