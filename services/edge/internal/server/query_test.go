package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/healthexport/libs/apikey"
	"github.com/healthexport/libs/pgstore"
	"github.com/healthexport/libs/summary"
	"github.com/healthexport/libs/users"
)

// get sends a GET and returns the status, headers and raw body.
func (e *edge) get(t testing.TB, path, token string) (int, http.Header, []byte) {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, path, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := e.srv.App().Test(req, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, b
}

// readRoutes are every route the read scope gates.
var readRoutes = []string{"/v1/metrics/heart_rate", "/v1/sleep", "/v1/workouts", "/v1/workouts/W1", "/v1/workouts/W1/route.gpx",
	"/v1/events", "/v1/ecg", "/v1/export", "/v1/summaries/daily?metric=step_count", "/v1/settings/source-priority"}

// TestScopes: an ingest key (the default) uploads and reads upload
// statuses but reads no data and manages no keys; a read key reads but
// cannot upload; a key cannot make a key with scopes it does not have.
func TestScopes(t *testing.T) {
	e := newEdge(t, 512<<10, 1<<20)
	reader, _ := e.key(t, "laptop", "read,keys")
	both, _ := e.key(t, "both", "read", "ingest", "keys")
	for _, path := range readRoutes {
		status, _, b := e.get(t, path, e.token)
		var body map[string]any
		_ = json.Unmarshal(b, &body)
		if status != 403 || body["error"] != "forbidden" || !strings.Contains(fmt.Sprint(body["message"]), "read") {
			t.Errorf("GET %s with an ingest key: %d %s", path, status, b)
		}
		if status, _, b := e.get(t, path, reader); status == 403 || status == 401 || status >= 500 {
			t.Errorf("GET %s with a read key: %d %s", path, status, b)
		}
	}
	if r := e.do(t, "GET", "/v1/keys", e.token, nil); r.status != 403 {
		t.Errorf("GET /v1/keys with an ingest key: %d, want 403 (keys scope)", r.status)
	}
	if r := e.do(t, "GET", "/v1/ingestions/nope", e.token, nil); r.status != 404 {
		t.Errorf("GET /v1/ingestions/nope with an ingest key: %d (want the route's own 404)", r.status)
	}
	if r := e.post(t, fixture(t, "heart-rate.json"), map[string]string{"Authorization": "Bearer " + reader}); r.status != 403 || r.body["error"] != "forbidden" {
		t.Errorf("upload with a read key: %d %v", r.status, r.body)
	}
	if r := e.post(t, fixture(t, "heart-rate.json"), map[string]string{"Authorization": "Bearer " + both}); r.status != 202 {
		t.Errorf("upload with a read,ingest key: %d %v", r.status, r.body)
	}

	// Making keys: the default is ingest; no key grants more than it has.
	for _, c := range []struct {
		token, body string
		status      int
		scopes      string
	}{
		{e.token, `{"name": "watch"}`, 403, ""}, // no keys scope
		{both, `{"name": "watch"}`, 201, "[ingest]"},
		{both, `{"name": "watch", "scopes": []}`, 201, "[ingest]"},
		{reader, `{"scopes": ["read", "ingest"]}`, 403, ""},
		{reader, `{"scopes": ["ingest"]}`, 403, ""},
		{reader, `{"scopes": ["read"]}`, 201, "[read]"},
		{both, `{"name": "laptop", "scopes": ["read", "ingest"]}`, 201, "[ingest read]"},
		{both, `{"name": "admin", "scopes": ["read", "ingest", "keys"]}`, 201, "[ingest read keys]"},
		{both, `{"scopes": ["write"]}`, 400, ""},
		{both, `{"scopes": "read"}`, 400, ""},
	} {
		r := e.do(t, "POST", "/v1/keys", c.token, []byte(c.body))
		if r.status != c.status || (c.scopes != "" && fmt.Sprint(r.body["scopes"]) != c.scopes) {
			t.Errorf("POST /v1/keys %s: %d %v, want %d %s", c.body, r.status, r.body, c.status, c.scopes)
		}
	}
}

// TestReadParameters: what the read routes refuse, with the Error body.
func TestReadParameters(t *testing.T) {
	e := newEdge(t, 512<<10, 1<<20)
	reader, _ := e.key(t, "laptop", "read")
	for _, c := range []struct {
		path   string
		status int
		code   string
	}{
		{"/v1/metrics/heart_rate?limit=0", 400, "invalid_limit"},
		{"/v1/metrics/heart_rate?limit=10001", 400, "invalid_limit"},
		{"/v1/metrics/heart_rate?limit=ten", 400, "invalid_limit"},
		{"/v1/ecg?limit=101", 400, "invalid_limit"},
		{"/v1/summaries/daily", 400, "missing_metric"},
		{"/v1/summaries/daily?metric=step_count&from=2025-03-01T00:00:00Z", 400, "invalid_date"},
		{"/v1/summaries/daily?metric=step_count&from=2025-03-02&to=2025-03-01", 400, "invalid_range"},
		{"/v1/summaries/daily?metric=step_count&from=2025-03-01&to=2025-03-01", 400, "invalid_range"},
		{"/v1/summaries/daily?metric=step_count&cursor=abc", 400, "invalid_cursor"},
		{"/v1/metrics/heart_rate?from=yesterday", 400, "invalid_time"},
		{"/v1/metrics/heart_rate?to=2025-03-01", 400, "invalid_time"},
		{"/v1/metrics/heart_rate?from=2025-03-02T00:00:00Z&to=2025-03-01T00:00:00Z", 400, "invalid_range"},
		{"/v1/metrics/heart_rate?from=2025-03-01T00:00:00Z&to=2025-03-01T00:00:00Z", 400, "invalid_range"},
		{"/v1/metrics/heart_rate?cursor=abc", 400, "invalid_cursor"},
		{"/v1/metrics/sleep_analysis", 400, "use_sleep_endpoint"},
		{"/v1/sleep?type=naps", 400, "invalid_type"},
		{"/v1/events?kind=mood", 400, "invalid_kind"},
		{"/v1/export?format=xml", 400, "invalid_format"},
		{"/v1/workouts/nope", 404, "not_found"},
		{"/v1/workouts/nope?limit=50001", 400, "invalid_limit"},
		{"/v1/workouts/nope?cursor=abc", 400, "invalid_cursor"},
		{"/v1/workouts/nope/route.gpx", 404, "not_found"},
	} {
		status, _, b := e.get(t, c.path, reader)
		var body map[string]any
		if err := json.Unmarshal(b, &body); err != nil || status != c.status || body["error"] != c.code || body["message"] == "" {
			t.Errorf("GET %s: %d %s, want %d %s", c.path, status, b, c.status, c.code)
		}
	}
	// Accepted: an unencoded + in an offset arrives as a space; empty lists.
	status, h, b := e.get(t, "/v1/metrics/vo2max?from=2025-03-01T00:00:00+08:00&limit=5", reader)
	if status != 200 || h.Get("Content-Type") != "application/json" || string(b) != `{"metric":"vo2_max","units":null,"points":[],"next":null}` {
		t.Errorf("vo2max: %d %s %s", status, h, b)
	}
	status, _, b = e.get(t, "/v1/sleep", reader)
	if status != 200 || string(b) != `{"sessions":[],"segments":[],"next":null}` {
		t.Errorf("sleep: %d %s", status, b)
	}
	status, h, b = e.get(t, "/v1/export", reader)
	if status != 200 || h.Get("Content-Type") != "application/x-ndjson" || !strings.HasPrefix(h.Get("Content-Disposition"), "attachment") ||
		!strings.HasPrefix(string(b), `{"type":"end","rows":{"heart_rate_metrics":0,`) {
		t.Errorf("empty export: %d %s %s", status, h, b)
	}
}

// TestSourcePriorityRoute: PUT /v1/settings/source-priority stores a
// user's priority and queues its refresh; GET shows it; [] restores the
// default; a malformed body or an entry with | is a 400.
func TestSourcePriorityRoute(t *testing.T) {
	e := newEdge(t, 512<<10, 1<<20)
	reader, _ := e.key(t, "laptop", "read")
	const path = "/v1/settings/source-priority"
	if r := e.do(t, "GET", path, reader, nil); r.status != 200 || fmt.Sprint(r.body["priority"]) != "[watch iphone]" || r.body["default"] != true {
		t.Errorf("GET before any PUT: %d %v, want the default [watch iphone]", r.status, r.body)
	}
	if r := e.do(t, "PUT", path, reader, []byte(`{"priority": ["iPhone", "Watch"]}`)); r.status != 200 ||
		fmt.Sprint(r.body["priority"]) != "[iPhone Watch]" || r.body["default"] != false || r.body["refreshing"] != true {
		t.Errorf("PUT: %d %v, want [iPhone Watch], not default, refreshing", r.status, r.body)
	}
	if r := e.do(t, "GET", path, reader, nil); r.status != 200 || fmt.Sprint(r.body["priority"]) != "[iPhone Watch]" {
		t.Errorf("GET after PUT: %d %v", r.status, r.body)
	}
	if r := e.do(t, "PUT", path, reader, []byte(`{"priority": []}`)); r.status != 200 || r.body["default"] != true {
		t.Errorf("PUT []: %d %v, want the default again", r.status, r.body)
	}
	for body, code := range map[string]string{`{"priority": ["a|b"]}`: "invalid_priority", `["Watch"]`: "malformed_json"} {
		if r := e.do(t, "PUT", path, reader, []byte(body)); r.status != 400 || r.body["error"] != code {
			t.Errorf("PUT %s: %d %v, want 400 %s", body, r.status, r.body, code)
		}
	}
}

// BenchmarkHeartRatePages reads a month of minute-level heart rate (43,200
// rows) of one user, with two other users' months in the same partition, in
// pages of 1,000 through the HTTP handler, and reports the 95th percentile
// of the time per page. The budget is 200 ms.
func BenchmarkHeartRatePages(b *testing.B) {
	e := newEdge(b, 512<<10, 1<<20)
	ctx := context.Background()
	reader, _, err := e.keys.Create(ctx, e.user, apikey.NewKey{Name: "bench", Scopes: []string{"read"}})
	if err != nil {
		b.Fatal(err)
	}
	march := time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)
	for _, m := range []time.Time{march.AddDate(0, -1, 0), march, march.AddDate(0, 1, 0)} {
		if err := pgstore.NewPartitions(e.db.Pool).Ensure(ctx, "heart_rate_metrics", m); err != nil {
			b.Fatal(err)
		}
	}
	uids := []any{e.user}
	for _, email := range []string{"bo@example.org", "cy@example.org"} {
		id, _, err := users.NewStore(e.db.Pool).Ensure(ctx, email)
		if err != nil {
			b.Fatal(err)
		}
		uids = append(uids, id)
	}
	for _, uid := range uids {
		if _, err := e.db.Pool.Exec(ctx, `INSERT INTO heart_rate_metrics
			SELECT $1, $2::timestamptz + make_interval(mins => m), 'Apple Watch', 50 + m % 20, 60 + m % 30, 80 + m % 40, -480, m
			FROM generate_series(0, 43199) m`, uid, march); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := e.db.Pool.Exec(ctx, `ANALYZE heart_rate_metrics`); err != nil {
		b.Fatal(err)
	}
	var pages []time.Duration
	b.ResetTimer()
	for b.Loop() {
		path := "/v1/metrics/heart_rate?limit=1000"
		rows := 0
		for {
			start := time.Now()
			status, _, body := e.get(b, path, reader)
			pages = append(pages, time.Since(start))
			if status != 200 {
				b.Fatalf("%s: %d %s", path, status, body)
			}
			var page struct {
				Points []json.RawMessage `json:"points"`
				Next   *string           `json:"next"`
			}
			if err := json.Unmarshal(body, &page); err != nil {
				b.Fatal(err)
			}
			rows += len(page.Points)
			if page.Next == nil {
				break
			}
			path = "/v1/metrics/heart_rate?limit=1000&cursor=" + *page.Next
		}
		if rows != 43200 {
			b.Fatalf("read %d rows, want 43200", rows)
		}
	}
	b.StopTimer()
	p50, p95, worst := percentile(pages, 50), percentile(pages, 95), percentile(pages, 100)
	b.ReportMetric(float64(p95.Microseconds())/1000, "p95-ms/page")
	b.ReportMetric(float64(p50.Microseconds())/1000, "p50-ms/page")
	b.ReportMetric(float64(worst.Microseconds())/1000, "max-ms/page")
	b.ReportMetric(float64(len(pages))/float64(b.N), "pages/op")
	if p95 >= 200*time.Millisecond {
		b.Errorf("p95 per page %v: over the 200 ms budget", p95)
	}
}

// percentile is the nearest-rank percentile of durations.
func percentile(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	rank := (p*len(s) + 99) / 100
	return s[max(rank, 1)-1]
}

// BenchmarkDailySummaries: a year of daily summaries of ten metrics (one
// page of 3,650 days), for a user with ten years of them beside two
// other users' ten years, through the HTTP handler. It reports the p95.
func BenchmarkDailySummaries(b *testing.B) {
	e := newEdge(b, 512<<10, 1<<20)
	ctx := context.Background()
	reader, _, err := e.keys.Create(ctx, e.user, apikey.NewKey{Name: "bench", Scopes: []string{"read"}})
	if err != nil {
		b.Fatal(err)
	}
	first := time.Date(2016, 1, 1, 0, 0, 0, 0, time.UTC)
	uids := []uuid.UUID{e.user}
	for _, email := range []string{"bo@example.org", "cy@example.org"} {
		id, _, err := users.NewStore(e.db.Pool).Ensure(ctx, email)
		if err != nil {
			b.Fatal(err)
		}
		uids = append(uids, id)
	}
	for _, uid := range uids {
		if err := summary.Synthetic(ctx, e.db.Pool, uid, first, 3653, summary.BenchmarkMetrics); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := e.db.Pool.Exec(ctx, `ANALYZE daily_summaries`); err != nil {
		b.Fatal(err)
	}
	q := url.Values{"limit": {"10000"}}
	for _, m := range summary.BenchmarkMetrics {
		q.Add("metric", m)
	}
	var took []time.Duration
	year := 0
	for b.Loop() {
		q.Set("from", fmt.Sprintf("%d-01-01", 2016+year%10))
		q.Set("to", fmt.Sprintf("%d-01-01", 2017+year%10))
		year++
		start := time.Now()
		status, _, body := e.get(b, "/v1/summaries/daily?"+q.Encode(), reader)
		took = append(took, time.Since(start))
		if status != 200 {
			b.Fatalf("%d %s", status, body)
		}
		var page struct {
			Days []json.RawMessage `json:"days"`
			Next *string           `json:"next"`
		}
		if err := json.Unmarshal(body, &page); err != nil {
			b.Fatal(err)
		}
		if n := len(page.Days); n < 3650 || page.Next != nil {
			b.Fatalf("%d days (next %v), want a year of ten metrics in one page", n, page.Next)
		}
	}
	slices.Sort(took)
	b.ReportMetric(float64(took[len(took)*95/100].Microseconds())/1000, "p95_ms")
}
