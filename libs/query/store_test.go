package query_test

import (
	"archive/zip"
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/healthexport/libs/kind"
	"github.com/healthexport/libs/pgstore"
	"github.com/healthexport/libs/query"
	"github.com/healthexport/libs/testenv"
	"github.com/healthexport/libs/users"
)

type fixture struct {
	ctx      context.Context
	pool     *pgxpool.Pool
	q        *query.Store
	ana, bob uuid.UUID
}

// seed stores the same small data set for ana and bob (bob's values differ
// and his ingestion is "bob": the part the rows' stream sequence wrote),
// straight into the tables.
func seed(t *testing.T) fixture {
	t.Helper()
	db := testenv.NewDatabase(t)
	ctx := context.Background()
	f := fixture{ctx: ctx, pool: db.Pool, q: query.NewStore(db.Pool)}
	us := users.NewStore(db.Pool)
	var err error
	if f.ana, _, err = us.Ensure(ctx, "ana@example.org"); err != nil {
		t.Fatal(err)
	}
	if f.bob, _, err = us.Ensure(ctx, "bob@example.org"); err != nil {
		t.Fatal(err)
	}
	parts := pgstore.NewPartitions(db.Pool)
	for _, tb := range kind.New().Tables() {
		if tb.PartitionBy != "" {
			if err := parts.Ensure(ctx, tb.Name, time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)); err != nil {
				t.Fatal(err)
			}
		}
	}
	exec := func(sql string, args ...any) {
		t.Helper()
		if _, err := db.Pool.Exec(ctx, sql, args...); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	for i, u := range []uuid.UUID{f.ana, f.bob} {
		ing := []string{"ana", "bob"}[i]
		add := float64(i * 100)
		base := time.Date(2025, 3, 1, 16, 0, 0, 0, time.UTC)
		// Heart rate: 5 minutes from two sources, the Watch's at -08:00.
		for m := range 5 {
			exec(`INSERT INTO heart_rate_metrics VALUES ($1, $2, 'Watch', $3, $4, $5, -480, 1)`,
				u, base.Add(time.Duration(m)*time.Minute), 50+add, 60+float64(m)+add, 70+add)
		}
		exec(`INSERT INTO heart_rate_metrics VALUES ($1, $2, 'iPhone', 55, 65, 75, NULL, 1)`, u, base.Add(2*time.Minute))
		exec(`INSERT INTO heart_rate_metrics VALUES ($1, $2, '', 56, 66, 76, 60, 1)`, u, base.Add(2*time.Minute))
		exec(`INSERT INTO blood_pressure_metrics VALUES ($1, $2, 'Omron', $3, 79, -480, 1)`, u, base, 121+add)
		exec(`INSERT INTO quantity_metrics VALUES ($1, 'vo2_max', $2, 'Watch', $3, 'ml/(kg·min)', NULL, -480, 1)`, u, base, 36.9+add)
		exec(`INSERT INTO quantity_metrics VALUES ($1, 'blood_glucose', $2, 'Dexcom', 92, 'mg/dL', '{"mealTime": "Before Meal"}', -480, 1)`, u, base)
		exec(`INSERT INTO sleep_sessions (user_id, source, started_at, sleep_date, core_hours, sleep_start, sleep_end, details, recorded_offset_min, stream_seq)
			VALUES ($1, 'Watch', $2, '2025-03-04', 4.2, $2, $3, '{"inBedSource": "iPhone"}', -480, 1),
			       ($1, 'Watch', $3, '2025-03-05', 0.5, $3, $3, NULL, -480, 1)`,
			u, base.Add(24*time.Hour), base.Add(48*time.Hour))
		for s, stage := range []string{"InBed", "Core", "Deep"} {
			exec(`INSERT INTO sleep_segments VALUES ($1, $2, $3, $4, 'Watch', 0.6667, -480, 1)`,
				u, base.Add(time.Duration(s)*time.Hour), base.Add(time.Duration(s+1)*time.Hour), stage)
		}
		exec(`INSERT INTO workouts VALUES ($1, 'W1', 'Outdoor Walk', $2, $3, 1800, 2574.9504, 120.5, 160.2, 104, 131, '{"isIndoor": false}', -480, 1)`,
			u, base, base.Add(30*time.Minute))
		for p := range 3 {
			exec(`INSERT INTO workout_route_points (user_id, workout_key, recorded_at, latitude, longitude, altitude_m, speed_mps, recorded_offset_min, stream_seq)
				VALUES ($1, 'W1', $2, $3, $4, $5, 1.5, -480, 1)`,
				u, base.Add(time.Duration(p)*2*time.Minute), 37.7749+float64(p)/10000, -122.4194-float64(p)/10000, 12.5+float64(p))
		}
		for _, series := range []string{"heartRateData", "heartRateRecovery"} {
			for p := range 2 {
				exec(`INSERT INTO workout_samples VALUES ($1, 'W1', $2, $3, $4, NULL, NULL, NULL, 'bpm', '', -480, 1)`,
					u, series, base.Add(time.Duration(p)*5*time.Minute), 95+float64(p)*5)
			}
		}
		exec(`INSERT INTO health_events VALUES ($1, 'symptom', $2, 'Headache', $2, 'Headache', 'Mild', 'Health', '{"userEntered": true}', -480, 1),
			($1, 'medication', $3, 'Ibuprofen', NULL, 'Ibuprofen', 'Taken', '', NULL, -480, 1)`, u, base, base.Add(time.Minute))
		// A Spanish phone's dose, and one whose status no vocabulary knows.
		exec(`INSERT INTO health_events (user_id, kind, started_at, event_key, name, value, value_canonical, stream_seq)
			VALUES ($1, 'medication', $2, 'Ibuprofeno', 'Ibuprofeno', 'Tomado', 'taken', 1),
			($1, 'medication', $3, 'Ibuprofeno', 'Ibuprofeno', 'Raro', NULL, 1)`, u, base.Add(2*time.Minute), base.Add(3*time.Minute))
		exec(`UPDATE health_events SET value_canonical = 'taken' WHERE user_id = $1 AND value = 'Taken'`, u)
		exec(`INSERT INTO ecg_recordings VALUES ($1, $2, 'Watch', $3, 'Sinus Rhythm', 'None', 66, 512, 'V', '{-0.0008,0.0001}', '{0,2}', NULL, -480, 1)`,
			u, base, base.Add(30*time.Second))
		exec(`INSERT INTO rejected_points VALUES ($1, $2, '/data/metrics/0/data/1', 'heart_rate', 'p1', 'min_bpm must be between 20 and 300', '{"Min": 400}', 1, $3)`,
			u, ing, base)
		// From an import of the Health app's export: a day's rings, and
		// the import's record.
		exec(`INSERT INTO activity_summaries (user_id, summary_date, active_energy, active_energy_units, stand_hours, stream_seq)
			VALUES ($1, '2025-03-01', 480.5, 'kcal', 11, 1)`, u)
		exec(`INSERT INTO imports (user_id, import_id, state, file_name, records_read, stream_seq)
			VALUES ($1, $2, 'done', 'export.zip', 47, 1)`, u, ing)
		// The part every row above came in (the tests reuse sequence 1 for
		// both users; a part is looked up by user and sequence).
		exec(`INSERT INTO ingestion_parts (ingestion_id, part_id, user_id, kind, items, written, rejected, stream_seq)
			VALUES ($1, 'p1', $2, 'heart_rate', 1, 1, 0, 1)`, ing, u)
	}
	return f
}

// get reads every page of a metric and returns the points.
// TestOriginFilter: rows say how they arrived (upload or import), and
// origin= reads only those.
func TestOriginFilter(t *testing.T) {
	f := seed(t)
	if _, err := f.pool.Exec(f.ctx, `UPDATE heart_rate_metrics SET origin = $1 WHERE source = 'iPhone'`, kind.OriginImport); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		origin  string
		points  int
		sources []string
	}{
		{"", 7, nil},
		{"upload", 6, nil},
		{"import", 1, []string{"iPhone"}},
	} {
		got, _ := walk(t, 2, func(p query.Page) (*query.Result, error) {
			_, _, res, err := f.q.Metric(f.ctx, f.ana, "heart_rate", query.Range{Origin: c.origin}, nil, p)
			return res, err
		})
		if len(got["points"]) != c.points {
			t.Errorf("origin=%q: %d points, want %d", c.origin, len(got["points"]), c.points)
		}
		for i, src := range c.sources {
			if p := got["points"][i]; p["source"] != src || p["origin"] != c.origin {
				t.Errorf("origin=%q: point %v", c.origin, p)
			}
		}
	}
	if _, _, _, err := f.q.Metric(f.ctx, f.ana, "heart_rate", query.Range{Origin: "fax"}, nil, query.Page{Limit: 10}); !errors.Is(err, query.ErrOrigin) {
		t.Errorf("origin=fax: %v, want ErrOrigin", err)
	}
}

func walk(t *testing.T, limit int, read func(p query.Page) (*query.Result, error)) (map[string][]map[string]any, int) {
	t.Helper()
	out := map[string][]map[string]any{}
	p := query.Page{Limit: limit}
	pages := 0
	for {
		res, err := read(p)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, l := range res.Lists {
			var items []map[string]any
			if err := json.Unmarshal(l.Items, &items); err != nil {
				t.Fatalf("%s: %v: %s", l.Name, err, l.Items)
			}
			if len(items) > limit || len(items) != l.Count {
				t.Fatalf("%s: %d items on a page of %d (count %d)", l.Name, len(items), limit, l.Count)
			}
			out[l.Name] = append(out[l.Name], items...)
		}
		if res.Next == "" {
			return out, pages
		}
		if pages > 100 {
			t.Fatal("more than 100 pages")
		}
		p.Cursor = res.Next
	}
}

func TestMetricPages(t *testing.T) {
	f := seed(t)
	read := func(uid uuid.UUID, name string, r query.Range, source *string) func(query.Page) (*query.Result, error) {
		return func(p query.Page) (*query.Result, error) {
			_, _, res, err := f.q.Metric(f.ctx, uid, name, r, source, p)
			return res, err
		}
	}
	all, _ := walk(t, 1000, read(f.ana, "heart_rate", query.Range{}, nil))
	if len(all["points"]) != 7 {
		t.Fatalf("%d points, want 7: %v", len(all["points"]), all)
	}
	first := all["points"][0]
	if first["recorded_at"] != "2025-03-01T08:00:00-08:00" || first["source"] != "Watch" || first["min_bpm"] != 50.0 || first["avg_bpm"] != 60.0 || first["max_bpm"] != 70.0 {
		t.Errorf("first point %v", first)
	}
	if len(first) != 6 || first["origin"] != "upload" {
		t.Errorf("a point has the fields %v, want recorded_at, source, min_bpm, avg_bpm, max_bpm, origin (upload)", first)
	}
	// Every page size walks the same rows in the same order: no gaps, no
	// duplicates, including across equal times from different sources.
	for _, limit := range []int{1, 2, 3, 6, 7, 8} {
		got, pages := walk(t, limit, read(f.ana, "heart_rate", query.Range{}, nil))
		if !slices.EqualFunc(got["points"], all["points"], func(a, b map[string]any) bool { return fmt.Sprint(a) == fmt.Sprint(b) }) {
			t.Errorf("limit %d: %v, want %v", limit, got["points"], all["points"])
		}
		if want := (7 + limit - 1) / limit; pages != want {
			t.Errorf("limit %d: %d pages, want %d", limit, pages, want)
		}
	}
	times := []string{}
	for _, p := range all["points"] {
		times = append(times, p["recorded_at"].(string)+" "+p["source"].(string))
	}
	// The order is the primary key's (time, then source in the database's
	// collation); the offsets are each row's own.
	rows, err := f.pool.Query(f.ctx, `SELECT recorded_at, recorded_offset_min, source FROM heart_rate_metrics WHERE user_id = $1 ORDER BY recorded_at, source`, f.ana)
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for rows.Next() {
		var (
			at  time.Time
			off *int16
			src string
		)
		if err := rows.Scan(&at, &off, &src); err != nil {
			t.Fatal(err)
		}
		want = append(want, query.FormatTime(at, off)+" "+src)
	}
	if !slices.Contains(want, "2025-03-01T17:02:00+01:00 ") || !slices.Contains(want, "2025-03-01T16:02:00Z iPhone") || !slices.Contains(want, "2025-03-01T08:02:00-08:00 Watch") {
		t.Errorf("offsets: %q", want)
	}
	if !slices.Equal(times, want) {
		t.Errorf("order and offsets:\n got %q\nwant %q", times, want)
	}

	// from inclusive, to exclusive; source exact, "" the rows without one.
	r := query.Range{From: time.Date(2025, 3, 1, 16, 1, 0, 0, time.UTC), To: time.Date(2025, 3, 1, 16, 3, 0, 0, time.UTC)}
	got, _ := walk(t, 2, read(f.ana, "heart_rate", r, nil))
	if len(got["points"]) != 4 {
		t.Errorf("from/to: %d points, want 4: %v", len(got["points"]), got)
	}
	empty := ""
	if got, _ := walk(t, 2, read(f.ana, "heart_rate", query.Range{}, &empty)); len(got["points"]) != 1 || got["points"][0]["min_bpm"] != 56.0 {
		t.Errorf("source '': %v", got)
	}
	iphone := "iPhone"
	if got, _ := walk(t, 2, read(f.ana, "heart_rate", query.Range{}, &iphone)); len(got["points"]) != 1 || got["points"][0]["min_bpm"] != 55.0 {
		t.Errorf("source iPhone: %v", got)
	}

	// Bob reads only his own.
	bobs, _ := walk(t, 3, read(f.bob, "heart_rate", query.Range{}, nil))
	if len(bobs["points"]) != 7 || bobs["points"][0]["min_bpm"] != 150.0 {
		t.Errorf("bob: %v", bobs)
	}
	if got, _ := walk(t, 3, read(uuid.New(), "heart_rate", query.Range{}, nil)); len(got["points"]) != 0 {
		t.Errorf("a stranger: %v", got)
	}

	// Aliases; units; extra as an object.
	canon, units, res, err := f.q.Metric(f.ctx, f.ana, " VO2Max ", query.Range{}, nil, query.Page{Limit: 10})
	if err != nil || canon != "vo2_max" || units != "" || res.Lists[0].Count != 1 || !strings.Contains(string(res.Lists[0].Items), `"qty":36.9,"units":"ml/(kg·min)","extra":null`) {
		t.Errorf("vo2max: %s %q %v %v", canon, units, res, err)
	}
	_, _, res, err = f.q.Metric(f.ctx, f.ana, "blood_glucose", query.Range{}, nil, query.Page{Limit: 10})
	if err != nil || !strings.Contains(string(res.Lists[0].Items), `"extra":{"mealTime": "Before Meal"}`) {
		t.Errorf("blood_glucose: %s %v", res.Lists[0].Items, err)
	}
	canon, units, res, err = f.q.Metric(f.ctx, f.ana, "blood_pressure", query.Range{}, nil, query.Page{Limit: 10})
	if err != nil || canon != "blood_pressure" || units != "mmHg" || string(res.Lists[0].Items) != `[{"recorded_at":"2025-03-01T08:00:00-08:00","source":"Omron","systolic":121,"diastolic":79,"origin":"upload"}]` {
		t.Errorf("blood_pressure: %s %s %s %v", canon, units, res.Lists[0].Items, err)
	}
	if _, _, _, err := f.q.Metric(f.ctx, f.ana, "sleep_analysis", query.Range{}, nil, query.Page{Limit: 10}); !errors.Is(err, query.ErrUseSleep) {
		t.Errorf("sleep_analysis: %v", err)
	}
	// A cursor of another metric's list is refused only when it cannot be
	// one of this endpoint's; a sleep cursor is refused.
	sleep, err := f.q.Sleep(f.ctx, f.ana, "", query.Range{}, query.Page{Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := f.q.Metric(f.ctx, f.ana, "heart_rate", query.Range{}, nil, query.Page{Limit: 1, Cursor: sleep.Next}); !errors.Is(err, query.ErrBadCursor) {
		t.Errorf("a sleep cursor on heart_rate: %v", err)
	}
}

func TestSleepWorkoutsEventsECG(t *testing.T) {
	f := seed(t)
	// Sleep: two lists, one cursor; each list pages on its own.
	got, pages := walk(t, 1, func(p query.Page) (*query.Result, error) { return f.q.Sleep(f.ctx, f.ana, "", query.Range{}, p) })
	if len(got["sessions"]) != 2 || len(got["segments"]) != 3 || pages != 3 {
		t.Errorf("sleep: %d sessions, %d segments in %d pages", len(got["sessions"]), len(got["segments"]), pages)
	}
	s0 := got["sessions"][0]
	if s0["sleep_date"] != "2025-03-04" || s0["sleep_start"] != "2025-03-02T08:00:00-08:00" || s0["core_hours"] != 4.2 ||
		fmt.Sprint(s0["details"]) != "map[inBedSource:iPhone]" || s0["asleep_hours"] != nil {
		t.Errorf("session %v", s0)
	}
	if seg := got["segments"][1]; seg["stage"] != "Core" || seg["started_at"] != "2025-03-01T09:00:00-08:00" || seg["ended_at"] != "2025-03-01T10:00:00-08:00" {
		t.Errorf("segment %v", seg)
	}
	only, _ := walk(t, 10, func(p query.Page) (*query.Result, error) {
		return f.q.Sleep(f.ctx, f.ana, "segments", query.Range{}, p)
	})
	if len(only) != 1 || len(only["segments"]) != 3 {
		t.Errorf("type=segments: %v", only)
	}
	if _, err := f.q.Sleep(f.ctx, f.ana, "naps", query.Range{}, query.Page{Limit: 1}); !errors.Is(err, query.ErrSleepType) {
		t.Errorf("type=naps: %v", err)
	}

	ws, _ := walk(t, 1, func(p query.Page) (*query.Result, error) { return f.q.Workouts(f.ctx, f.ana, query.Range{}, p) })
	if len(ws["workouts"]) != 1 || ws["workouts"][0]["workout_key"] != "W1" || ws["workouts"][0]["distance_m"] != 2574.9504 {
		t.Errorf("workouts %v", ws)
	}
	b, err := f.q.Workout(f.ctx, f.ana, "W1", query.Page{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	var w struct {
		Name    string                      `json:"name"`
		Start   string                      `json:"started_at"`
		Samples map[string][]map[string]any `json:"samples"`
		Route   struct {
			Type     string `json:"type"`
			Geometry struct {
				Type        string      `json:"type"`
				Coordinates [][]float64 `json:"coordinates"`
			} `json:"geometry"`
			Properties struct {
				Key   string    `json:"workout_key"`
				Times []string  `json:"coordTimes"`
				Speed []float64 `json:"speed_mps"`
			} `json:"properties"`
		} `json:"route"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	if w.Name != "Outdoor Walk" || w.Start != "2025-03-01T08:00:00-08:00" || w.Route.Type != "Feature" || w.Route.Geometry.Type != "LineString" ||
		len(w.Route.Geometry.Coordinates) != 3 || !slices.Equal(w.Route.Geometry.Coordinates[0], []float64{-122.4194, 37.7749, 12.5}) ||
		w.Route.Properties.Times[2] != "2025-03-01T08:04:00-08:00" || w.Route.Properties.Speed[1] != 1.5 || w.Route.Properties.Key != "W1" {
		t.Errorf("workout %s", b)
	}
	if len(w.Samples) != 2 || len(w.Samples["heartRateRecovery"]) != 2 || w.Samples["heartRateData"][1]["qty"] != 100.0 ||
		w.Samples["heartRateData"][1]["recorded_at"] != "2025-03-01T08:05:00-08:00" {
		t.Errorf("samples %v", w.Samples)
	}
	if _, err := f.q.Workout(f.ctx, f.bob, "nope", query.Page{Limit: 10}); !errors.Is(err, query.ErrNotFound) {
		t.Errorf("unknown workout: %v", err)
	}
	gpx, err := f.q.RouteGPX(f.ctx, f.ana, "W1")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		XMLName xml.Name
		Version string `xml:"version,attr"`
		Trk     struct {
			Name string `xml:"name"`
			Pts  []struct {
				Lat  float64 `xml:"lat,attr"`
				Lon  float64 `xml:"lon,attr"`
				Ele  float64 `xml:"ele"`
				Time string  `xml:"time"`
			} `xml:"trkseg>trkpt"`
		} `xml:"trk"`
	}
	if err := xml.Unmarshal(gpx, &doc); err != nil {
		t.Fatalf("%v: %s", err, gpx)
	}
	if doc.XMLName.Space != "http://www.topografix.com/GPX/1/1" || doc.Version != "1.1" || doc.Trk.Name != "Outdoor Walk" || len(doc.Trk.Pts) != 3 ||
		math.Abs(doc.Trk.Pts[1].Lat-37.775) > 1e-9 || math.Abs(doc.Trk.Pts[1].Lon+122.4195) > 1e-9 || doc.Trk.Pts[1].Ele != 13.5 || doc.Trk.Pts[1].Time != "2025-03-01T08:02:00-08:00" {
		t.Errorf("gpx %s", gpx)
	}

	ev, _ := walk(t, 1, func(p query.Page) (*query.Result, error) { return f.q.Events(f.ctx, f.ana, "", "", query.Range{}, p) })
	if len(ev["events"]) != 4 || ev["events"][0]["kind"] != "symptom" || ev["events"][1]["kind"] != "medication" || ev["events"][1]["ended_at"] != nil {
		t.Errorf("events %v", ev)
	}
	// The value filter is on the canonical value, in any wording; text
	// without one matches as sent.
	for _, c := range []struct {
		kind, value string
		want        []string
	}{
		{"medication", "", []string{"Taken", "Tomado", "Raro"}},
		{"medication", "taken", []string{"Taken", "Tomado"}},
		{"medication", "Tomado", []string{"Taken", "Tomado"}},
		{"", "TAKEN", []string{"Taken", "Tomado"}},
		{"medication", "skipped", nil},
		{"medication", "Raro", []string{"Raro"}},
	} {
		ev, _ = walk(t, 5, func(p query.Page) (*query.Result, error) {
			return f.q.Events(f.ctx, f.ana, c.kind, c.value, query.Range{}, p)
		})
		var got []string
		for _, e := range ev["events"] {
			got = append(got, e["value"].(string))
			if e["value"] != "Raro" && e["value_canonical"] != "taken" {
				t.Errorf("kind=%s value=%s: value_canonical %v", c.kind, c.value, e["value_canonical"])
			}
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("kind=%s value=%s: values %q, want %q", c.kind, c.value, got, c.want)
		}
	}
	if _, err := f.q.Events(f.ctx, f.ana, "mood", "", query.Range{}, query.Page{Limit: 1}); !errors.Is(err, query.ErrEventKind) {
		t.Errorf("kind=mood: %v", err)
	}
	ecg, _ := walk(t, 5, func(p query.Page) (*query.Result, error) { return f.q.ECG(f.ctx, f.ana, "", query.Range{}, p) })
	if len(ecg["recordings"]) != 1 || fmt.Sprint(ecg["recordings"][0]["voltages"]) != "[-0.0008 0.0001]" || ecg["recordings"][0]["ended_at"] != "2025-03-01T08:00:30-08:00" {
		t.Errorf("ecg %v", ecg)
	}
	exec := func(sql string, args ...any) {
		if _, err := f.pool.Exec(f.ctx, sql, args...); err != nil {
			t.Fatal(err)
		}
	}
	exec(`UPDATE ecg_recordings SET classification = 'Ritmo Sinusal', classification_canonical = 'sinus_rhythm' WHERE user_id = $1`, f.ana)
	for _, c := range []struct {
		class string
		n     int
	}{{"sinus_rhythm", 1}, {"Sinus Rhythm", 1}, {"Sinusrhythmus", 1}, {"atrial_fibrillation", 0}} {
		ecg, _ = walk(t, 5, func(p query.Page) (*query.Result, error) { return f.q.ECG(f.ctx, f.ana, c.class, query.Range{}, p) })
		if len(ecg["recordings"]) != c.n {
			t.Errorf("classification=%s: %d recordings, want %d", c.class, len(ecg["recordings"]), c.n)
		}
	}
}

func TestExport(t *testing.T) {
	f := seed(t)
	// What a sender wrote, which a spreadsheet would run as a formula, in
	// a part sent again in a later upload of the same body (sequence 2):
	// its ingestion_parts row is the first sending's, its archived part
	// names the ingestion.
	if err := pgstore.NewPartitions(f.pool).Ensure(f.ctx, "raw_ingestions", time.Date(2025, 3, 2, 0, 0, 0, 0, time.UTC)); err != nil {
		t.Fatal(err)
	}
	for _, sql := range []string{
		`INSERT INTO quantity_metrics VALUES ($1, 'weight_body_mass', '2025-03-02T08:00:00Z', '=HYPERLINK("http://x","y")', -3.5, '@kg', NULL, 0, 2)`,
		`INSERT INTO raw_ingestions (received_at, ingestion_id, part_id, user_id, key_id, kind, stream_seq, headers, payload)
			VALUES ('2025-03-02T09:00:00Z', 'ana', 'p1', $1, 'k', 'quantity', 2, '{}', '\x7b7d')`,
	} {
		if _, err := f.pool.Exec(f.ctx, sql, f.ana); err != nil {
			t.Fatal(err)
		}
	}
	want := map[string]int64{}
	for _, tb := range f.q.ExportTables() {
		var n int64
		if err := f.pool.QueryRow(f.ctx, "SELECT count(*) FROM "+tb+" WHERE user_id = $1", f.ana).Scan(&n); err != nil {
			t.Fatal(err)
		}
		want[tb] = n
	}
	if len(want) != 13 || want["heart_rate_metrics"] != 7 || want["rejected_points"] != 1 {
		t.Fatalf("export tables %v", want)
	}

	t.Run("ndjson", func(t *testing.T) {
		ex, err := f.q.OpenExport(f.ctx, f.ana, query.NDJSON, query.ExportFilter{})
		if err != nil {
			t.Fatal(err)
		}
		defer ex.Close()
		var buf bytes.Buffer
		counts, err := ex.Stream(&buf)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]int64{}
		var end map[string]any
		sc := bufio.NewScanner(&buf)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			var row map[string]any
			if err := json.Unmarshal(sc.Bytes(), &row); err != nil {
				t.Fatalf("%v: %s", err, sc.Bytes())
			}
			typ := row["type"].(string)
			if typ == "end" {
				end = row
				continue
			}
			if end != nil {
				t.Errorf("a row after the end line: %s", sc.Bytes())
			}
			got[typ]++
			if row["ingestion_id"] != "ana" || row["user_id"] != nil || row["stream_seq"] != nil {
				t.Errorf("row %s", sc.Bytes())
			}
			if typ == "heart_rate_metrics" && row["recorded_at"] == "2025-03-01T08:00:00-08:00" && row["recorded_offset_min"] != -480.0 {
				t.Errorf("row %s", sc.Bytes())
			}
			if typ == "rejected_points" && row["item"] != `{"Min": 400}` {
				t.Errorf("rejected item %s", sc.Bytes())
			}
		}
		if fmt.Sprint(got) != fmt.Sprint(want) || fmt.Sprint(counts) != fmt.Sprint(want) {
			t.Errorf("rows %v, counted %v, want %v", got, counts, want)
		}
		if end == nil || fmt.Sprint(end["rows"]) == "" || end["rows"].(map[string]any)["heart_rate_metrics"] != 7.0 {
			t.Errorf("end line %v", end)
		}
	})

	t.Run("zip", func(t *testing.T) {
		ex, err := f.q.OpenExport(f.ctx, f.ana, query.ZipCSV, query.ExportFilter{})
		if err != nil {
			t.Fatal(err)
		}
		defer ex.Close()
		var buf bytes.Buffer
		if _, err := ex.Stream(&buf); err != nil {
			t.Fatal(err)
		}
		zr, err := zip.NewReader(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
		if err != nil {
			t.Fatal(err)
		}
		if len(zr.File) != len(want) {
			t.Errorf("%d files, want %d", len(zr.File), len(want))
		}
		for _, zf := range zr.File {
			rc, err := zf.Open()
			if err != nil {
				t.Fatal(err)
			}
			recs, err := csv.NewReader(rc).ReadAll()
			rc.Close()
			if err != nil {
				t.Fatalf("%s: %v", zf.Name, err)
			}
			table := strings.TrimSuffix(zf.Name, ".csv")
			if int64(len(recs)-1) != want[table] {
				t.Errorf("%s: %d rows, want %d", zf.Name, len(recs)-1, want[table])
			}
			if slices.Contains(recs[0], "user_id") || slices.Contains(recs[0], "stream_seq") || !slices.Contains(recs[0], "ingestion_id") {
				t.Errorf("%s header %v", zf.Name, recs[0])
			}
			if table == "heart_rate_metrics" && (recs[0][0] != "recorded_at" || recs[1][0] != "2025-03-01T08:00:00-08:00" || recs[1][2] != "50") {
				t.Errorf("%s: %v", zf.Name, recs[:2])
			}
			if table == "quantity_metrics" {
				formula := `'=HYPERLINK("http://x","y"),-3.5,'@kg`
				if !slices.ContainsFunc(recs, func(r []string) bool { return strings.Contains(strings.Join(r, ","), formula) }) {
					t.Errorf("%s: no row with %s: %v", zf.Name, formula, recs)
				}
			}
		}
	})

	t.Run("cut off", func(t *testing.T) {
		ex, err := f.q.OpenExport(f.ctx, f.ana, query.NDJSON, query.ExportFilter{})
		if err != nil {
			t.Fatal(err)
		}
		defer ex.Close()
		if _, err := ex.Stream(failingWriter{}); err == nil {
			t.Error("an export to a writer that fails succeeded")
		}
	})
}

// TestExportFiltered: the canonical filters of the reads filter an export
// too, in any wording, and make it an export of the filtered tables alone.
func TestExportFiltered(t *testing.T) {
	f := seed(t)
	if _, err := f.pool.Exec(f.ctx, `UPDATE ecg_recordings SET classification = 'Ritmo Sinusal', classification_canonical = 'sinus_rhythm' WHERE user_id = $1`, f.ana); err != nil {
		t.Fatal(err)
	}
	// values of each exported table's rows: value for events,
	// classification for ECGs.
	export := func(t *testing.T, format query.Format, filter query.ExportFilter) map[string][]string {
		t.Helper()
		ex, err := f.q.OpenExport(f.ctx, f.ana, format, filter)
		if err != nil {
			t.Fatal(err)
		}
		defer ex.Close()
		var buf bytes.Buffer
		counts, err := ex.Stream(&buf)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string][]string{}
		add := func(table string, row map[string]string) {
			got[table] = append(got[table], row[map[string]string{"health_events": "value", "ecg_recordings": "classification"}[table]])
		}
		switch format {
		case query.NDJSON:
			sc := bufio.NewScanner(&buf)
			for sc.Scan() {
				var row map[string]any
				if err := json.Unmarshal(sc.Bytes(), &row); err != nil {
					t.Fatalf("%v: %s", err, sc.Bytes())
				}
				typ := row["type"].(string)
				if typ == "end" {
					continue
				}
				if row["ingestion_id"] != "ana" {
					t.Errorf("row %s", sc.Bytes())
				}
				s := map[string]string{}
				for k, v := range row {
					s[k] = fmt.Sprint(v)
				}
				add(typ, s)
			}
		case query.ZipCSV:
			zr, err := zip.NewReader(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
			if err != nil {
				t.Fatal(err)
			}
			for _, zf := range zr.File {
				rc, err := zf.Open()
				if err != nil {
					t.Fatal(err)
				}
				recs, err := csv.NewReader(rc).ReadAll()
				rc.Close()
				if err != nil {
					t.Fatal(err)
				}
				table := strings.TrimSuffix(zf.Name, ".csv")
				got[table] = []string{}
				for _, rec := range recs[1:] {
					s := map[string]string{}
					for i, c := range recs[0] {
						s[c] = rec[i]
					}
					add(table, s)
				}
			}
		}
		for table, n := range counts {
			if int(n) != len(got[table]) {
				t.Errorf("%s: counted %d rows, exported %v", table, n, got[table])
			}
			if got[table] == nil {
				got[table] = []string{} // a table exported without rows
			}
		}
		return got
	}
	for _, c := range []struct {
		filter query.ExportFilter
		want   map[string][]string
	}{
		{query.ExportFilter{Value: "taken"}, map[string][]string{"health_events": {"Taken", "Tomado"}}},
		{query.ExportFilter{Value: "Tomado"}, map[string][]string{"health_events": {"Taken", "Tomado"}}},
		{query.ExportFilter{Value: "Raro"}, map[string][]string{"health_events": {"Raro"}}},
		{query.ExportFilter{Value: "skipped"}, map[string][]string{"health_events": nil}},
		{query.ExportFilter{Classification: "Sinusrhythmus"}, map[string][]string{"ecg_recordings": {"Ritmo Sinusal"}}},
		{query.ExportFilter{Classification: "atrial_fibrillation"}, map[string][]string{"ecg_recordings": nil}},
		{query.ExportFilter{Value: "TAKEN", Classification: "sinus_rhythm"}, map[string][]string{"health_events": {"Taken", "Tomado"}, "ecg_recordings": {"Ritmo Sinusal"}}},
	} {
		for _, format := range []query.Format{query.NDJSON, query.ZipCSV} {
			got := export(t, format, c.filter)
			if len(got) != len(c.want) {
				t.Errorf("%+v %s: tables %v, want %v", c.filter, format, got, c.want)
			}
			for table, want := range c.want {
				rows := got[table]
				slices.Sort(rows)
				slices.Sort(want)
				if _, ok := got[table]; !ok || !slices.Equal(rows, want) {
					t.Errorf("%+v %s: %s %q, want %q", c.filter, format, table, rows, want)
				}
			}
		}
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, io.ErrClosedPipe }

// One workout's samples and route come a page at a time: every page has
// the summary, the pages together have every sample and point once, and a
// route too long for one GPX file is refused rather than built.
func TestWorkoutPages(t *testing.T) {
	f := seed(t)
	whole, err := f.q.Workout(f.ctx, f.ana, "W1", query.Page{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	type page struct {
		Name    string                      `json:"name"`
		Samples map[string][]map[string]any `json:"samples"`
		Route   *struct {
			Geometry struct {
				Coordinates json.RawMessage `json:"coordinates"`
			} `json:"geometry"`
			Properties struct {
				Times []string `json:"coordTimes"`
			} `json:"properties"`
		} `json:"route"`
		Next *string `json:"next"`
	}
	var all page
	if err := json.Unmarshal(whole, &all); err != nil || all.Next != nil {
		t.Fatalf("one page: %v, next %v", err, all.Next)
	}
	samples, times, pages := map[string][]map[string]any{}, []string(nil), 0
	for p := (query.Page{Limit: 1}); ; {
		pages++
		b, err := f.q.Workout(f.ctx, f.ana, "W1", p)
		if err != nil {
			t.Fatal(err)
		}
		var pg page
		if err := json.Unmarshal(b, &pg); err != nil {
			t.Fatalf("%v: %s", err, b)
		}
		n := 0
		for series, ss := range pg.Samples {
			samples[series] = append(samples[series], ss...)
			n += len(ss)
		}
		if pg.Name != "Outdoor Walk" || n > 1 || pg.Route != nil && len(pg.Route.Properties.Times) > 1 {
			t.Fatalf("page %d: %s", pages, b)
		}
		if pg.Route != nil {
			times = append(times, pg.Route.Properties.Times...)
		}
		if pg.Next == nil {
			break
		}
		p.Cursor = *pg.Next
	}
	n := 0
	for _, ss := range all.Samples {
		n += len(ss)
	}
	if fmt.Sprint(samples) != fmt.Sprint(all.Samples) || !slices.Equal(times, all.Route.Properties.Times) || pages != max(n, len(times)) {
		t.Errorf("%d pages of one: samples %v, route %v; want %v, %v", pages, samples, times, all.Samples, all.Route.Properties.Times)
	}
	if _, err := f.q.Workout(f.ctx, f.ana, "W1", query.Page{Limit: 1, Cursor: "bm9wZQ"}); !errors.Is(err, query.ErrBadCursor) {
		t.Errorf("a foreign cursor: %v", err)
	}

	if _, err := f.pool.Exec(f.ctx, `INSERT INTO workout_route_points (user_id, workout_key, recorded_at, latitude, longitude, stream_seq)
		SELECT $1, 'W1', '2025-03-01T17:00:00Z'::timestamptz + i * interval '1 second', 37, -122, 1 FROM generate_series(1, $2::int) i`,
		f.ana, query.MaxGPXPoints); err != nil {
		t.Fatal(err)
	}
	if _, err := f.q.RouteGPX(f.ctx, f.ana, "W1"); !errors.Is(err, query.ErrRouteTooLong) {
		t.Errorf("GPX of %d points: %v", query.MaxGPXPoints+3, err)
	}
}

// A page of ECG recordings ends early once it holds 8 MiB, whatever the
// limit: a recording's voltages make each row big.
func TestPagesBoundedInBytes(t *testing.T) {
	f := seed(t)
	// Five recordings of 200,000 voltages and offsets: about 4 MB of JSON each.
	if _, err := f.pool.Exec(f.ctx, `INSERT INTO ecg_recordings (user_id, started_at, source, voltages, voltage_offsets_ms, stream_seq)
		SELECT $1, '2025-04-01T00:00:00Z'::timestamptz + r * interval '1 hour', 'Watch',
		  (SELECT array_agg(-0.000123456 * v) FROM generate_series(1, 200000) v), (SELECT array_agg(v * 1.953125) FROM generate_series(1, 200000) v), 1
		FROM generate_series(1, 5) r`, f.ana); err != nil {
		t.Fatal(err)
	}
	p, pages, rows := query.Page{Limit: 100}, 0, 0
	for {
		res, err := f.q.ECG(f.ctx, f.ana, "", query.Range{}, p)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		l := res.Lists[0]
		if l.Count == 0 || len(l.Items) > 16<<20 {
			t.Fatalf("page %d: %d rows in %d bytes", pages, l.Count, len(l.Items))
		}
		rows += l.Count
		if res.Next == "" {
			break
		}
		p.Cursor = res.Next
	}
	if rows != 6 || pages < 3 {
		t.Errorf("%d recordings in %d pages, want 6 in at least 3", rows, pages)
	}
}

// TestActivity: the days' rings, by day, paged on the day with a cursor,
// filtered by calendar days as written.
func TestActivity(t *testing.T) {
	f := seed(t)
	for _, d := range []string{"2025-03-02", "2025-03-03", "2025-03-04"} {
		if _, err := f.pool.Exec(f.ctx, `INSERT INTO activity_summaries (user_id, summary_date, stand_hours, origin, stream_seq)
			VALUES ($1, $2, 12, 1, 1)`, f.ana, d); err != nil {
			t.Fatal(err)
		}
	}
	read := func(r query.Range) func(query.Page) (*query.Result, error) {
		return func(p query.Page) (*query.Result, error) { return f.q.Activity(f.ctx, f.ana, r, p) }
	}
	all, pages := walk(t, 3, read(query.Range{}))
	days := []string{}
	for _, s := range all["summaries"] {
		days = append(days, s["summary_date"].(string))
	}
	if strings.Join(days, ",") != "2025-03-01,2025-03-02,2025-03-03,2025-03-04" || pages != 2 {
		t.Errorf("days %v in %d pages", days, pages)
	}
	if s := all["summaries"][0]; s["active_energy"] != 480.5 || s["active_energy_units"] != "kcal" || s["stand_hours"] != 11.0 {
		t.Errorf("first day %v", s)
	}
	r := query.Range{From: time.Date(2025, 3, 2, 0, 0, 0, 0, time.FixedZone("", -8*3600)), To: time.Date(2025, 3, 4, 0, 0, 0, 0, time.FixedZone("", -8*3600))}
	some, _ := walk(t, 10, read(r))
	if len(some["summaries"]) != 2 || some["summaries"][0]["summary_date"] != "2025-03-02" {
		t.Errorf("2 to 4 March: %v", some["summaries"])
	}
	// Only imports bring them.
	if imported, _ := walk(t, 10, read(query.Range{Origin: "import"})); len(imported["summaries"]) != 4 {
		t.Errorf("imported: %v", imported["summaries"])
	}
	if uploaded, _ := walk(t, 10, read(query.Range{Origin: "upload"})); len(uploaded["summaries"]) != 0 {
		t.Errorf("uploaded: %v", uploaded["summaries"])
	}
}
