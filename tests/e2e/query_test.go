package e2e

// The read API against the running binaries: the whole conformance corpus
// is uploaded, then every kind is read back through /v1/metrics, /v1/sleep,
// /v1/workouts (with samples, GeoJSON and GPX), /v1/events and /v1/ecg,
// page by page, and compared with the stored rows and with what was sent;
// scopes, isolation between users, and the export.

import (
	"archive/zip"
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/healthexport/libs/kind"
	"github.com/jackc/pgx/v5"
)

// keyWithScopes makes a key with healthctl keys create --scopes.
func (s *stack) keyWithScopes(email, scopes string) string {
	s.t.Helper()
	args := []string{"keys", "create", "--email", email, "--name", "e2e " + scopes}
	if scopes != "" {
		args = append(args, "--scopes", scopes)
	}
	key := s.healthctl(args...)
	if !strings.HasPrefix(key, "hx_") {
		s.t.Fatalf("keys create printed %q", key)
	}
	return key
}

// api sends a GET to the edge.
func (s *stack) api(key, path string) (int, http.Header, []byte) {
	s.t.Helper()
	req, err := http.NewRequest(http.MethodGet, s.edgeURL+path, nil)
	if err != nil {
		s.t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		s.t.Fatalf("GET %s: %v", path, err)
	}
	return resp.StatusCode, resp.Header, b
}

// walkAPI reads every page of a list endpoint (path has its query string
// or none) with this limit and returns the items per list, failing on a
// duplicate key or a page over the limit.
func (s *stack) walkAPI(key, path string, limit int) map[string][]map[string]any {
	s.t.Helper()
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	base := fmt.Sprintf("%s%slimit=%d", path, sep, limit)
	out := map[string][]map[string]any{}
	next := ""
	for pages := 0; ; pages++ {
		p := base
		if next != "" {
			p += "&cursor=" + url.QueryEscape(next)
		}
		status, _, b := s.api(key, p)
		if status != 200 {
			s.t.Fatalf("GET %s: %d %s", p, status, b)
		}
		var page map[string]json.RawMessage
		if err := json.Unmarshal(b, &page); err != nil {
			s.t.Fatalf("GET %s: %v: %s", p, err, b)
		}
		for name, raw := range page {
			if name == "next" || name == "metric" || name == "units" {
				continue
			}
			var items []map[string]any
			if err := json.Unmarshal(raw, &items); err != nil {
				s.t.Fatalf("GET %s: %s: %v", p, name, err)
			}
			if len(items) > limit {
				s.t.Fatalf("GET %s: %d %s on a page of %d", p, len(items), name, limit)
			}
			out[name] = append(out[name], items...)
		}
		next = ""
		if err := json.Unmarshal(page["next"], &next); err != nil && string(page["next"]) != "null" {
			s.t.Fatalf("GET %s: next %s", p, page["next"])
		}
		if next == "" {
			return out
		}
		if pages > 1000 {
			s.t.Fatalf("GET %s: more than 1000 pages", path)
		}
	}
}

// rowsReadBack reads every kind of the user's data through the API and
// counts the rows of each table it gives back. It reads on its own, so the
// subtest that wants every stored row readable runs alone (-run); its
// siblings check what the rows hold.
func (s *stack) rowsReadBack(key, uid string) map[string]int {
	s.t.Helper()
	n := map[string]int{}
	for path, tables := range map[string]map[string]string{
		"/v1/metrics/heart_rate":     {"points": "heart_rate_metrics"},
		"/v1/metrics/blood_pressure": {"points": "blood_pressure_metrics"},
		"/v1/sleep":                  {"sessions": "sleep_sessions", "segments": "sleep_segments"},
		"/v1/events":                 {"events": "health_events"},
		"/v1/ecg":                    {"recordings": "ecg_recordings"},
		"/v1/workouts":               {"workouts": "workouts"},
	} {
		for name, items := range s.walkAPI(key, path, 100) {
			n[tables[name]] += len(items)
		}
	}
	// Quantity metrics are read by name: every name stored.
	for _, name := range s.texts("SELECT DISTINCT metric FROM quantity_metrics WHERE user_id = $1", uid) {
		n["quantity_metrics"] += len(s.walkAPI(key, "/v1/metrics/"+url.PathEscape(name), 100)["points"])
	}
	// A workout's samples and route, page by page.
	for _, w := range s.walkAPI(key, "/v1/workouts", 100)["workouts"] {
		path := "/v1/workouts/" + url.PathEscape(w["workout_key"].(string)) + "?limit=1000"
		for cursor := ""; ; {
			status, _, b := s.api(key, path+cursor)
			var page struct {
				Samples map[string][]json.RawMessage `json:"samples"`
				Route   *struct {
					Geometry struct {
						Coordinates []json.RawMessage `json:"coordinates"`
					} `json:"geometry"`
				} `json:"route"`
				Next *string `json:"next"`
			}
			if err := json.Unmarshal(b, &page); status != 200 || err != nil {
				s.t.Fatalf("GET %s%s: %d %v %s", path, cursor, status, err, b)
			}
			for _, series := range page.Samples {
				n["workout_samples"] += len(series)
			}
			if page.Route != nil {
				n["workout_route_points"] += len(page.Route.Geometry.Coordinates)
			}
			if page.Next == nil {
				break
			}
			cursor = "&cursor=" + url.QueryEscape(*page.Next)
		}
	}
	return n
}

// dbRows returns the user's rows of a table as PostgreSQL renders them in
// JSON (to_jsonb), with an extra condition.
func (s *stack) dbRows(table, uid, where string, args ...any) []map[string]any {
	s.t.Helper()
	return s.dbRowsAs("to_jsonb(t)", table, uid, where, args...)
}

// dbRowsAs is dbRows with each row t rendered by the jsonb expression row.
func (s *stack) dbRowsAs(row, table, uid, where string, args ...any) []map[string]any {
	s.t.Helper()
	sql := fmt.Sprintf("SELECT (%s)::text FROM %s t WHERE user_id = $1 %s", row, table, where)
	rows, err := s.db.Pool.Query(context.Background(), sql, append([]any{uid}, args...)...)
	if err != nil {
		s.t.Fatalf("%s: %v", sql, err)
	}
	defer rows.Close()
	var out []map[string]any
	for rows.Next() {
		var raw string
		if err := rows.Scan(&raw); err != nil {
			s.t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(raw), &m); err != nil {
			s.t.Fatal(err)
		}
		// The API names the origin a row stores as a number.
		if code, ok := m["origin"].(float64); ok {
			m["origin"] = kind.OriginName(int16(code))
		}
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		s.t.Fatal(err)
	}
	return out
}

// normKey makes a row's key comparable: times as UTC instants.
func normKey(row map[string]any, cols []string) string {
	var parts []string
	for _, c := range cols {
		v := fmt.Sprint(row[c])
		if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
			v = t.UTC().Format(time.RFC3339Nano)
		}
		parts = append(parts, v)
	}
	return strings.Join(parts, "\x00")
}

// sameAsStored checks that every field the API gave equals the stored
// column: times the same instant, written in the row's recorded offset
// (UTC without one), numbers, strings, JSON and arrays equal.
func sameAsStored(t *testing.T, what string, api, db map[string]any) {
	t.Helper()
	offset := 0
	if o, ok := db["recorded_offset_min"].(float64); ok {
		offset = int(o) * 60
	}
	for field, av := range api {
		dv, ok := db[field]
		if !ok {
			t.Errorf("%s: field %s is not a column", what, field)
			continue
		}
		if as, isStr := av.(string); isStr {
			ds, _ := dv.(string)
			at, aerr := time.Parse(time.RFC3339Nano, as)
			dt, derr := time.Parse(time.RFC3339Nano, ds)
			if aerr == nil && derr == nil {
				if _, off := at.Zone(); !at.Equal(dt) || off != offset {
					t.Errorf("%s: %s = %s, stored %s with offset %d min", what, field, as, ds, offset/60)
				}
				continue
			}
		}
		if !reflect.DeepEqual(av, dv) {
			t.Errorf("%s: %s = %v, stored %v", what, field, av, dv)
		}
	}
}

// compareList checks a list read through the API against the stored rows:
// the same rows (by key), each field equal.
func compareList(t *testing.T, what string, api, db []map[string]any, key []string) {
	t.Helper()
	if len(api) != len(db) {
		t.Errorf("%s: %d rows read, %d stored", what, len(api), len(db))
	}
	stored := map[string]map[string]any{}
	for _, r := range db {
		stored[normKey(r, key)] = r
	}
	seen := map[string]bool{}
	for _, a := range api {
		k := normKey(a, key)
		if seen[k] {
			t.Errorf("%s: %q read twice", what, k)
		}
		seen[k] = true
		d, ok := stored[k]
		if !ok {
			t.Errorf("%s: read %v, which is not stored", what, a)
			continue
		}
		sameAsStored(t, what, a, d)
	}
}

// watch is the corpus's source with a curly apostrophe and a no-break space.
const watch = "Ana\u2019s Apple\u00a0Watch"

// haeTime reads a corpus timestamp ("2025-03-01 08:00:00 -0800") as the
// API writes it ("2025-03-01T08:00:00-08:00").
func haeTime(t *testing.T, s string) string {
	t.Helper()
	v, err := time.Parse("2006-01-02 15:04:05 -0700", s)
	if err != nil {
		t.Fatalf("corpus time %q: %v", s, err)
	}
	return v.Format(time.RFC3339Nano)
}

func readCorpus(t *testing.T, dir, name string, v any) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}

// postCorpus uploads every request of the corpus as the key's user.
func (s *stack) postCorpus(dir string, spec conformanceSpec, key string) {
	s.t.Helper()
	for i, r := range spec.Requests {
		body, err := os.ReadFile(filepath.Join(dir, r.File))
		if err != nil {
			s.t.Fatal(err)
		}
		if status, reply := s.post(key, body, nil); status != r.Status {
			s.t.Fatalf("request %d %s: %d %s, want %d", i+1, r.File, status, reply, r.Status)
		}
	}
}

// TestReadBack uploads the conformance corpus and reads every kind back.
func TestReadBack(t *testing.T) {
	dir := corpusDir(t)
	spec := loadConformanceSpec(t, dir)
	s := newStack(t, "RATE_LIMIT_REQUESTS=100000")
	s.startAll()
	uid := s.healthctl("users", "create", "--email", "ana@example.org")
	key := s.keyWithScopes("ana@example.org", "read,ingest")
	phone := s.keyWithScopes("ana@example.org", "") // the default: ingest
	s.postCorpus(dir, spec, key)
	// Bob sends the same heart rate: the same times, another user.
	bobID := s.healthctl("users", "create", "--email", "bob@example.org")
	bob := s.keyWithScopes("bob@example.org", "read,ingest,keys")
	hr, err := os.ReadFile(filepath.Join(dir, "01-heart-rate.json"))
	if err != nil {
		t.Fatal(err)
	}
	if status, reply := s.post(bob, hr, nil); status != 202 {
		t.Fatalf("bob's upload: %d %s", status, reply)
	}
	s.drained(60 * time.Second)

	t.Run("metrics", func(t *testing.T) {
		for _, m := range []struct{ name, table string }{{"heart_rate", "heart_rate_metrics"}, {"blood_pressure", "blood_pressure_metrics"}} {
			got := s.walkAPI(key, "/v1/metrics/"+m.name, 2)["points"]
			compareList(t, m.name, got, s.dbRows(m.table, uid, ""), []string{"recorded_at", "source"})
		}
		// Every quantity metric stored, by its canonical name.
		var names []string
		for _, r := range s.dbRows("quantity_metrics", uid, "") {
			if n := r["metric"].(string); !slices.Contains(names, n) {
				names = append(names, n)
			}
		}
		for _, n := range names {
			got := s.walkAPI(key, "/v1/metrics/"+url.PathEscape(n), 2)["points"]
			compareList(t, n, got, s.dbRows("quantity_metrics", uid, "AND metric = $2", n), []string{"recorded_at", "source"})
		}
	})

	t.Run("metrics as sent", func(t *testing.T) {
		_, _, b := s.api(key, "/v1/metrics/heart_rate?from=2025-03-01T16:00:00Z&to=2025-03-01T16:00:01Z")
		// The source as sent: a curly apostrophe and a no-break space.
		want := "{\"metric\":\"heart_rate\",\"units\":\"count/min\",\"points\":[{\"recorded_at\":\"2025-03-01T08:00:00-08:00\"," +
			"\"source\":\"" + watch + "\",\"min_bpm\":58,\"avg_bpm\":71.25,\"max_bpm\":96,\"origin\":\"upload\"}],\"next\":null}"
		if string(b) != want {
			t.Errorf("heart rate at 08:00 -08:00:\n got %s\nwant %s", b, want)
		}
		// Every point of 01 as sent, but the minute 12 sent again in UTC
		// (later wins, its offset too).
		var raw struct {
			Data struct {
				Metrics []struct {
					Data []map[string]any `json:"data"`
				} `json:"metrics"`
			} `json:"data"`
		}
		readCorpus(t, dir, "01-heart-rate.json", &raw)
		got := s.walkAPI(key, "/v1/metrics/heart_rate?from=2025-03-01T00:00:00-08:00&to=2025-03-02T00:00:00-08:00", 1000)["points"]
		byTime := map[string]map[string]any{}
		for _, p := range got {
			byTime[p["recorded_at"].(string)] = p
		}
		for _, p := range raw.Data.Metrics[0].Data {
			at := haeTime(t, p["date"].(string))
			src, _ := p["source"].(string)
			want := map[string]any{"recorded_at": at, "source": src, "min_bpm": p["Min"], "avg_bpm": p["Avg"], "max_bpm": p["Max"], "origin": "upload"}
			if at == "2025-03-01T08:01:00-08:00" {
				want = map[string]any{"recorded_at": "2025-03-01T16:01:00Z", "source": src, "min_bpm": 60.0, "avg_bpm": 73.5, "max_bpm": 101.0, "origin": "upload"}
			}
			if g := byTime[want["recorded_at"].(string)]; !reflect.DeepEqual(g, want) {
				t.Errorf("heart rate sent %v: read %v", p, g)
			}
		}
		// Aliases read the canonical metric; the offset of each point.
		for path, check := range map[string]func([]map[string]any) bool{
			"/v1/metrics/vo2max": func(ps []map[string]any) bool {
				return len(ps) == 1 && ps[0]["qty"] == 36.9 && ps[0]["recorded_at"] == "2025-03-02T09:00:00-08:00" && ps[0]["units"] == "ml/(kg·min)"
			},
			"/v1/metrics/caffeine": func(ps []map[string]any) bool { return len(ps) == 2 && ps[0]["qty"] == 95.0 && ps[1]["qty"] == 80.0 },
			"/v1/metrics/Walking_Heart_Rate": func(ps []map[string]any) bool {
				return len(ps) == 1 && ps[0]["qty"] == 96.0
			},
			"/v1/metrics/active_energy?source=" + url.QueryEscape(watch): func(ps []map[string]any) bool {
				// In time order, each in its own offset.
				var at []string
				for _, p := range ps {
					at = append(at, p["recorded_at"].(string))
				}
				return slices.Equal(at, []string{"2025-03-09T01:59:00-08:00", "2025-03-09T03:01:00-07:00", "2025-03-09T16:00:00+05:30",
					"2025-03-09T15:00:00Z", "2025-03-09T12:30:00-07:00", "2025-03-09T13:45:00-07:00", "2025-03-09T14:00:00.25-07:00"})
			},
			"/v1/metrics/step_count?source=": func(ps []map[string]any) bool { return len(ps) == 1 && ps[0]["qty"] == 5001.0 },
			"/v1/metrics/blood_glucose": func(ps []map[string]any) bool {
				return len(ps) == 2 && fmt.Sprint(ps[0]["extra"]) == "map[mealTime:Before Meal]" && ps[0]["units"] == "mg/dL"
			},
			"/v1/metrics/weight_body_mass": func(ps []map[string]any) bool {
				return len(ps) == 4 && ps[0]["recorded_at"] == "1998-07-14T08:00:00+02:00" && ps[0]["qty"] == 71.0 && ps[0]["units"] == "kg"
			},
		} {
			ps := s.walkAPI(key, path, 1000)["points"]
			if !check(ps) {
				t.Errorf("GET %s: %v", path, ps)
			}
		}
		_, _, b = s.api(key, "/v1/metrics/vo2max?limit=1")
		if !strings.HasPrefix(string(b), `{"metric":"vo2_max","units":null,"points":[`) {
			t.Errorf("GET /v1/metrics/vo2max: %s", b)
		}
	})

	t.Run("sleep", func(t *testing.T) {
		got := s.walkAPI(key, "/v1/sleep", 2)
		compareList(t, "sleep sessions", got["sessions"], s.dbRows("sleep_sessions", uid, ""), []string{"started_at", "source"})
		compareList(t, "sleep segments", got["segments"], s.dbRows("sleep_segments", uid, ""), []string{"started_at", "ended_at", "stage", "source"})
		var stages []string
		for _, seg := range got["segments"] {
			stages = append(stages, seg["stage"].(string))
		}
		if !slices.Equal(stages, []string{"InBed", "Core", "Deep", "Core", "REM", "Awake", "Core", "InBed"}) {
			t.Errorf("segment stages %v", stages)
		}
		first := got["sessions"][0]
		if first["sleep_date"] != "2025-03-04" || first["sleep_start"] != "2025-03-03T23:10:00-08:00" || first["core_hours"] != 4.2 || first["source"] != watch {
			t.Errorf("first session %v", first)
		}
		if only := s.walkAPI(key, "/v1/sleep?type=sessions", 10); len(only) != 1 || len(only["sessions"]) != 4 {
			t.Errorf("type=sessions: %v", only)
		}
	})

	t.Run("workouts", func(t *testing.T) {
		list := s.walkAPI(key, "/v1/workouts", 2)["workouts"]
		compareList(t, "workouts", list, s.dbRows("workouts", uid, ""), []string{"workout_key"})
		for _, w := range list {
			wk := w["workout_key"].(string)
			status, _, b := s.api(key, "/v1/workouts/"+url.PathEscape(wk))
			if status != 200 {
				t.Fatalf("workout %s: %d %s", wk, status, b)
			}
			var detail map[string]any
			if err := json.Unmarshal(b, &detail); err != nil {
				t.Fatal(err)
			}
			samples, _ := detail["samples"].(map[string]any)
			route := detail["route"]
			if next, ok := detail["next"]; !ok || next != nil {
				t.Errorf("workout %s: next %v, want null (one page)", wk, next)
			}
			delete(detail, "samples")
			delete(detail, "route")
			delete(detail, "next")
			if !reflect.DeepEqual(detail, w) {
				t.Errorf("workout %s: detail %v, listed %v", wk, detail, w)
			}
			var flat []map[string]any
			for series, items := range samples {
				for _, it := range items.([]any) {
					m := it.(map[string]any)
					m["series"] = series
					flat = append(flat, m)
				}
			}
			compareList(t, "samples of "+wk, flat, s.dbRows("workout_samples", uid, "AND workout_key = $2", wk), []string{"series", "recorded_at"})

			points := s.dbRows("workout_route_points", uid, "AND workout_key = $2 ORDER BY recorded_at", wk)
			checkRoute(t, wk, route, points)
			gstatus, gh, gpx := s.api(key, "/v1/workouts/"+url.PathEscape(wk)+"/route.gpx")
			switch {
			case len(points) == 0 && gstatus != 404:
				t.Errorf("GPX of %s without a route: %d", wk, gstatus)
			case len(points) > 0 && (gstatus != 200 || gh.Get("Content-Type") != "application/gpx+xml"):
				t.Errorf("GPX of %s: %d %s", wk, gstatus, gh.Get("Content-Type"))
			case len(points) > 0:
				checkGPX(t, wk, gpx, points)
			}
		}
		// v1: distance converted from miles, the route as sent.
		var walk map[string]any
		for _, w := range list {
			if w["name"] == "Outdoor Walk" {
				walk = w
			}
		}
		if walk == nil || math.Round(walk["distance_m"].(float64)) != 2575 || walk["started_at"] != "2025-03-07T17:00:00-08:00" || walk["active_energy_kcal"] != 120.5 {
			t.Fatalf("the v1 workout: %v", walk)
		}
		_, _, b := s.api(key, "/v1/workouts/"+url.PathEscape(walk["workout_key"].(string)))
		var detail struct {
			Route struct {
				Geometry struct {
					Type        string      `json:"type"`
					Coordinates [][]float64 `json:"coordinates"`
				} `json:"geometry"`
				Properties struct {
					Times []string `json:"coordTimes"`
				} `json:"properties"`
			} `json:"route"`
			Samples map[string][]map[string]any `json:"samples"`
		}
		if err := json.Unmarshal(b, &detail); err != nil {
			t.Fatal(err)
		}
		var sent struct {
			Data struct {
				Workouts []struct {
					Route []struct {
						Lat, Lon, Altitude float64
						Timestamp          string
					} `json:"route"`
				} `json:"workouts"`
			} `json:"data"`
		}
		readCorpus(t, dir, "06-workout-v1.json", &sent)
		sentRoute := sent.Data.Workouts[0].Route
		if detail.Route.Geometry.Type != "LineString" || len(detail.Route.Geometry.Coordinates) != 10 || len(sentRoute) != 10 {
			t.Fatalf("route of the v1 workout: %s", b)
		}
		for i, p := range sentRoute {
			if c := detail.Route.Geometry.Coordinates[i]; !slices.Equal(c, []float64{p.Lon, p.Lat, p.Altitude}) ||
				detail.Route.Properties.Times[i] != haeTime(t, p.Timestamp) {
				t.Errorf("route point %d: %v at %s, sent %+v", i, c, detail.Route.Properties.Times[i], p)
			}
		}
		if len(detail.Samples["heartRateRecovery"]) != 3 || detail.Samples["heartRateData"][0]["qty"] != 95.0 {
			t.Errorf("samples of the v1 workout: %v", detail.Samples)
		}
	})

	t.Run("events", func(t *testing.T) {
		got := s.walkAPI(key, "/v1/events", 2)["events"]
		compareList(t, "events", got, s.dbRows("health_events", uid, ""), []string{"kind", "started_at", "event_key"})
		var kinds []string
		for _, e := range got {
			kinds = append(kinds, e["kind"].(string))
		}
		slices.Sort(kinds)
		if kinds = slices.Compact(kinds); !slices.Equal(kinds, []string{"cycle_tracking", "heart_rate_notification", "medication", "state_of_mind", "symptom"}) {
			t.Errorf("event kinds %v", kinds)
		}
		sym := s.walkAPI(key, "/v1/events?kind=symptom", 10)["events"]
		i := slices.IndexFunc(sym, func(e map[string]any) bool { return e["name"] == "Headache" })
		if len(sym) != len(s.dbRows("health_events", uid, "AND kind = 'symptom'")) || i < 0 || sym[i]["value"] != "Mild" || sym[i]["started_at"] != "2025-03-10T09:00:00-08:00" || sym[i]["ended_at"] != "2025-03-10T09:00:00-08:00" {
			t.Errorf("symptoms %v", sym)
		}
	})

	t.Run("ecg", func(t *testing.T) {
		got := s.walkAPI(key, "/v1/ecg", 1)["recordings"]
		compareList(t, "ecg", got, s.dbRows("ecg_recordings", uid, ""), []string{"started_at", "source"})
		var sent struct {
			Data struct {
				ECG []struct {
					Voltages []struct {
						Voltage float64 `json:"voltage"`
					} `json:"voltageMeasurements"`
				} `json:"ecg"`
			} `json:"data"`
		}
		readCorpus(t, dir, "08-other-arrays.json", &sent)
		// The recording of 08-other-arrays.json (the corpus has others).
		at := slices.IndexFunc(got, func(r map[string]any) bool { return r["started_at"] == "2025-03-12T10:00:00-08:00" })
		if at < 0 {
			t.Fatalf("ecg: %v", got)
		}
		got = got[at:]
		volts := got[0]["voltages"].([]any)
		if len(volts) != 64 || len(sent.Data.ECG[0].Voltages) != 64 {
			t.Fatalf("%d voltages read, %d sent", len(volts), len(sent.Data.ECG[0].Voltages))
		}
		for i, v := range sent.Data.ECG[0].Voltages {
			if volts[i] != v.Voltage {
				t.Errorf("voltage %d: %v, sent %v", i, volts[i], v.Voltage)
			}
		}
		if got[0]["started_at"] != "2025-03-12T10:00:00-08:00" || got[0]["classification"] != "Sinus Rhythm" || got[0]["average_heart_rate"] != 66.0 {
			t.Errorf("ecg %v", got[0])
		}
	})

	t.Run("every row of every kind read back", func(t *testing.T) {
		read := s.rowsReadBack(key, uid)
		for table, n := range spec.Tables {
			if table == "rejected_points" {
				continue
			}
			if read[table] != n {
				t.Errorf("%s: %d rows read back, the corpus stores %d", table, read[table], n)
			}
		}
	})

	t.Run("scopes", func(t *testing.T) {
		for _, path := range []string{"/v1/metrics/heart_rate", "/v1/sleep", "/v1/workouts", "/v1/workouts/x", "/v1/workouts/x/route.gpx", "/v1/events", "/v1/ecg", "/v1/export"} {
			status, _, b := s.api(phone, path)
			var e map[string]any
			if err := json.Unmarshal(b, &e); err != nil || status != 403 || e["error"] != "forbidden" {
				t.Errorf("GET %s with the phone's key: %d %s", path, status, b)
			}
		}
		for _, k := range []string{phone, key} {
			if status, _, b := s.api(k, "/v1/keys"); status != 403 || !strings.Contains(string(b), `needs \"keys\"`) {
				t.Errorf("GET /v1/keys without the keys scope: %d %s", status, b)
			}
		}
		manager := s.keyWithScopes("ana@example.org", "keys")
		if status, _, b := s.api(manager, "/v1/keys"); status != 200 || !strings.Contains(string(b), `"scopes":["ingest","read"]`) {
			t.Errorf("GET /v1/keys with a keys key: %d %s", status, b)
		}
		ing := s.text("SELECT ingestion_id FROM ingestions WHERE user_id = $1 LIMIT 1", uid)
		if status, _, b := s.api(phone, "/v1/ingestions/"+ing); status != 200 {
			t.Errorf("GET /v1/ingestions with the phone's key: %d %s", status, b)
		}
		if status, reply := s.post(phone, hr, nil); status != 202 {
			t.Errorf("upload with the phone's key: %d %s", status, reply)
		}
		reader := s.keyWithScopes("ana@example.org", "read")
		if status, reply := s.post(reader, hr, nil); status != 403 || !strings.Contains(reply, `"forbidden"`) {
			t.Errorf("upload with a read-only key: %d %s", status, reply)
		}
	})

	t.Run("another user reads nothing of ana's", func(t *testing.T) {
		got := s.walkAPI(bob, "/v1/metrics/heart_rate", 2)["points"]
		compareList(t, "bob's heart rate", got, s.dbRows("heart_rate_metrics", bobID, ""), []string{"recorded_at", "source"})
		if len(got) != 5 {
			t.Errorf("bob reads %d heart-rate points, sent 5", len(got))
		}
		for _, path := range []string{"/v1/metrics/blood_pressure", "/v1/metrics/step_count", "/v1/metrics/vo2max", "/v1/sleep", "/v1/workouts", "/v1/events", "/v1/ecg"} {
			for name, items := range s.walkAPI(bob, path, 5) {
				if len(items) != 0 {
					t.Errorf("bob reads %s of %s: %v", name, path, items)
				}
			}
		}
		for _, wk := range s.dbRows("workouts", uid, "") {
			p := "/v1/workouts/" + url.PathEscape(wk["workout_key"].(string))
			for _, path := range []string{p, p + "/route.gpx"} {
				if status, _, b := s.api(bob, path); status != 404 || !strings.Contains(string(b), `"not_found"`) {
					t.Errorf("bob: GET %s: %d %s", path, status, b)
				}
			}
		}
		// Ana's keys are not bob's to revoke.
		keyID := strings.Split(key, "_")[1]
		req, _ := http.NewRequest(http.MethodDelete, s.edgeURL+"/v1/keys/"+keyID, nil)
		req.Header.Set("Authorization", "Bearer "+bob)
		if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 404 {
			t.Errorf("bob revoking ana's key: %v %v", resp, err)
		}
		bobsExport := s.exportNDJSON(bob)
		for table, rows := range bobsExport.rows {
			for _, r := range rows {
				if slices.Contains(s.ingestionIDs(uid), fmt.Sprint(r["ingestion_id"])) {
					t.Errorf("bob's export holds ana's %s row %v", table, r)
				}
			}
		}
		if len(bobsExport.rows["heart_rate_metrics"]) != 5 || len(bobsExport.rows) != 1 {
			t.Errorf("bob's export: %v", bobsExport.counts())
		}
	})

	t.Run("export", func(t *testing.T) {
		ex := s.exportNDJSON(key)
		tables := exportTables()
		ids := s.ingestionIDs(uid)
		for _, table := range tables {
			stored := s.dbRows(table, uid, "")
			if table != "rejected_points" {
				// A data row names its message by stream_seq only; the
				// export adds the ingestion of the part it wrote.
				stored = s.dbRowsAs(`to_jsonb(t) || jsonb_build_object('ingestion_id',
					(SELECT p.ingestion_id FROM ingestion_parts p WHERE p.stream_seq = t.stream_seq AND p.user_id = t.user_id))`, table, uid, "")
			}
			got := ex.rows[table]
			if len(got) != len(stored) {
				t.Errorf("export: %d %s rows, %d stored", len(got), table, len(stored))
			}
			if want := spec.Tables[table]; want != 0 && len(got) != want {
				t.Errorf("export: %d %s rows, the corpus stores %d", len(got), table, want)
			}
			if ex.end[table] != float64(len(got)) {
				t.Errorf("export end line: %s %v, %d rows", table, ex.end[table], len(got))
			}
			for _, r := range got {
				if r["user_id"] != nil || r["stream_seq"] != nil || !slices.Contains(ids, fmt.Sprint(r["ingestion_id"])) {
					t.Errorf("export %s row %v", table, r)
				}
			}
			// Every stored row is there, with equal values.
			key := map[string][]string{"rejected_points": {"ingestion_id", "pointer"}}[table]
			if key == nil {
				for _, tb := range kind.New().Tables() {
					if tb.Name == table {
						key = tb.Key[1:]
					}
				}
			}
			if table != "rejected_points" { // item is bytea: text in the export, hex in to_jsonb
				compareList(t, "export "+table, stripType(got), stored, key)
			}
		}
		if len(ex.rows) > len(tables) {
			t.Errorf("export has tables %v", ex.counts())
		}

		status, h, b := s.api(key, "/v1/export?format=zip")
		if status != 200 || h.Get("Content-Type") != "application/zip" {
			t.Fatalf("zip export: %d %v", status, h)
		}
		zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, f := range zr.File {
			names = append(names, f.Name)
			rc, err := f.Open()
			if err != nil {
				t.Fatal(err)
			}
			recs, err := csv.NewReader(rc).ReadAll()
			rc.Close()
			if err != nil {
				t.Fatalf("%s: %v", f.Name, err)
			}
			table := strings.TrimSuffix(f.Name, ".csv")
			if len(recs)-1 != len(ex.rows[table]) {
				t.Errorf("%s: %d rows, the NDJSON export has %d", f.Name, len(recs)-1, len(ex.rows[table]))
			}
		}
		want := []string{}
		for _, table := range tables {
			want = append(want, table+".csv")
		}
		if !slices.Equal(names, want) {
			t.Errorf("zip holds %v, want %v", names, want)
		}
	})
}

// checkRoute compares a workout's GeoJSON route with its stored points and
// returns how many it holds.
func checkRoute(t *testing.T, wk string, route any, points []map[string]any) int {
	t.Helper()
	if len(points) == 0 {
		if route != nil {
			t.Errorf("route of %s without points: %v", wk, route)
		}
		return 0
	}
	b, _ := json.Marshal(route)
	var f struct {
		Type     string `json:"type"`
		Geometry struct {
			Type        string      `json:"type"`
			Coordinates [][]float64 `json:"coordinates"`
		} `json:"geometry"`
		Properties struct {
			Key      string `json:"workout_key"`
			Times    []any  `json:"coordTimes"`
			Speed    []any  `json:"speed_mps"`
			Course   []any  `json:"course"`
			HAcc     []any  `json:"horizontal_accuracy"`
			VAcc     []any  `json:"vertical_accuracy"`
			SpeedAcc []any  `json:"speed_accuracy"`
		} `json:"properties"`
	}
	if err := json.Unmarshal(b, &f); err != nil {
		// A single point is a Point: coordinates is one position.
		t.Fatalf("route of %s: %v: %s", wk, err, b)
	}
	if f.Type != "Feature" || f.Geometry.Type != "LineString" || len(f.Geometry.Coordinates) != len(points) || f.Properties.Key != wk ||
		len(f.Properties.Times) != len(points) || len(f.Properties.Speed) != len(points) || len(f.Properties.SpeedAcc) != len(points) {
		t.Errorf("route of %s: %s", wk, b)
		return len(f.Geometry.Coordinates)
	}
	for i, p := range points {
		want := []float64{p["longitude"].(float64), p["latitude"].(float64)}
		if a, ok := p["altitude_m"].(float64); ok {
			want = append(want, a)
		}
		if !slices.Equal(f.Geometry.Coordinates[i], want) {
			t.Errorf("route of %s point %d: %v, stored %v", wk, i, f.Geometry.Coordinates[i], want)
		}
		sameAsStored(t, "route of "+wk, map[string]any{"recorded_at": f.Properties.Times[i], "speed_mps": f.Properties.Speed[i],
			"course": f.Properties.Course[i], "horizontal_accuracy": f.Properties.HAcc[i], "vertical_accuracy": f.Properties.VAcc[i],
			"speed_accuracy": f.Properties.SpeedAcc[i]}, p)
	}
	return len(points)
}

func checkGPX(t *testing.T, wk string, gpx []byte, points []map[string]any) {
	t.Helper()
	var doc struct {
		XMLName xml.Name
		Version string `xml:"version,attr"`
		Pts     []struct {
			Lat  float64  `xml:"lat,attr"`
			Lon  float64  `xml:"lon,attr"`
			Ele  *float64 `xml:"ele"`
			Time string   `xml:"time"`
		} `xml:"trk>trkseg>trkpt"`
	}
	if err := xml.Unmarshal(gpx, &doc); err != nil {
		t.Fatalf("GPX of %s: %v: %s", wk, err, gpx)
	}
	if doc.XMLName.Space != "http://www.topografix.com/GPX/1/1" || doc.XMLName.Local != "gpx" || doc.Version != "1.1" || len(doc.Pts) != len(points) {
		t.Fatalf("GPX of %s: %s", wk, gpx)
	}
	for i, p := range points {
		got := map[string]any{"latitude": doc.Pts[i].Lat, "longitude": doc.Pts[i].Lon, "recorded_at": doc.Pts[i].Time}
		if doc.Pts[i].Ele != nil {
			got["altitude_m"] = *doc.Pts[i].Ele
		}
		sameAsStored(t, "GPX of "+wk, got, p)
	}
}

type ndjsonExport struct {
	rows map[string][]map[string]any
	end  map[string]any
}

func (e ndjsonExport) counts() map[string]int {
	out := map[string]int{}
	for k, v := range e.rows {
		out[k] = len(v)
	}
	return out
}

// exportNDJSON downloads a user's export and splits it by table.
func (s *stack) exportNDJSON(key string) ndjsonExport {
	s.t.Helper()
	return s.exportNDJSONOf(key, "/v1/export")
}

// exportNDJSONOf downloads an export at path (with its filters) and splits
// it by table.
func (s *stack) exportNDJSONOf(key, path string) ndjsonExport {
	s.t.Helper()
	status, h, b := s.api(key, path)
	if status != 200 || h.Get("Content-Type") != "application/x-ndjson" || !strings.Contains(h.Get("Content-Disposition"), ".ndjson") {
		s.t.Fatalf("export: %d %v %s", status, h, clip(string(b), 300))
	}
	ex := ndjsonExport{rows: map[string][]map[string]any{}}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 16<<20)
	for sc.Scan() {
		var row map[string]any
		if err := json.Unmarshal(sc.Bytes(), &row); err != nil {
			s.t.Fatalf("export line %q: %v", clip(sc.Text(), 200), err)
		}
		if ex.end != nil {
			s.t.Fatalf("export: a line after the end: %s", clip(sc.Text(), 200))
		}
		typ, _ := row["type"].(string)
		if typ == "end" {
			ex.end, _ = row["rows"].(map[string]any)
			continue
		}
		ex.rows[typ] = append(ex.rows[typ], row)
	}
	if ex.end == nil {
		s.t.Fatal("export without its end line")
	}
	return ex
}

// exportTables are what an export holds: the registry's tables, then
// rejected_points.
func exportTables() []string {
	var out []string
	for _, t := range kind.New().Tables() {
		out = append(out, t.Name)
	}
	return append(out, "rejected_points")
}

func stripType(rows []map[string]any) []map[string]any {
	out := make([]map[string]any, len(rows))
	for i, r := range rows {
		m := map[string]any{}
		for k, v := range r {
			if k != "type" {
				m[k] = v
			}
		}
		out[i] = m
	}
	return out
}

func (s *stack) ingestionIDs(uid string) []string {
	s.t.Helper()
	return s.texts("SELECT ingestion_id FROM ingestions WHERE user_id = $1", uid)
}

// texts is the one column a query returns, as text.
func (s *stack) texts(sql string, args ...any) []string {
	s.t.Helper()
	rows, err := s.db.Pool.Query(context.Background(), sql, args...)
	if err != nil {
		s.t.Fatalf("%s: %v", sql, err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		s.t.Fatalf("%s: %v", sql, err)
	}
	return out
}
