package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/healthexport/libs/testenv"
)

// READ_DATABASE_URL serves the read API, the daily summaries and exports
// from its own connections, which need no write (a read-only session, as
// on a hot standby); the status of an upload, the list of uploads, keys,
// the source priority and uploads stay on DATABASE_URL. Each database is
// reached through a proxy the test cuts: with the reader away, reads
// answer 503 and nothing else notices; with the primary away, uploads with
// a known key and reads go on, and the edge stays ready (its load balancer
// keeps sending uploads). The replica lag a reader sees on a real standby
// is tested by the cluster test of tools/proving (TestClusterQuick).
func TestReadDatabaseURL(t *testing.T) {
	// Polling statuses and reading every route more than once outgrows the
	// default allowance of requests per key on a slow machine.
	s := newStack(t, "RATE_LIMIT_REQUESTS=100000")
	primary := testenv.NewProxy(t, testenv.HostPort(t, s.db.URL))
	reader := testenv.NewProxy(t, testenv.HostPort(t, s.db.URL))
	readURL := reader.Through(s.db.URL) + "&options=-c%20default_transaction_read_only%3Don"
	adminAddr := freeAddr(t)
	for _, name := range []string{"raw-archiver", "metric-writer"} {
		s.start(name)
		s.waitReady(name)
	}
	s.readyURLs["edge"] = s.edgeURL + "/readyz"
	s.startAs("edge", "edge", "DATABASE_URL="+primary.Through(s.db.URL), "READ_DATABASE_URL="+readURL, "EDGE_ADMIN_ADDR="+adminAddr)
	s.waitReady("edge")
	s.healthctl("users", "create", "--email", "reader@example.org")
	key := s.keyWithScopes("reader@example.org", "read,ingest,keys")

	upload := func(first int) string {
		t.Helper()
		status, reply := s.post(key, heartRateBody(first, 10), nil)
		if status != 202 {
			t.Fatalf("upload: %d %s", status, reply)
		}
		var a struct {
			IngestionID string `json:"ingestion_id"`
		}
		if err := json.Unmarshal([]byte(reply), &a); err != nil {
			t.Fatal(err)
		}
		return a.IngestionID
	}
	complete := func(id string) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			status, _, b := s.api(key, "/v1/ingestions/"+id)
			if status == 200 && strings.Contains(string(b), `"complete":true`) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("upload %s not complete: %d %s", id, status, b)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	points := func() (int, int) {
		t.Helper()
		status, _, b := s.api(key, "/v1/metrics/heart_rate?limit=1000")
		var page struct {
			Points []json.RawMessage `json:"points"`
		}
		_ = json.Unmarshal(b, &page)
		return status, len(page.Points)
	}
	// summaryCount is the heart-rate readings GET /v1/summaries/daily counts
	// (the writer keeps daily_summaries with every batch).
	summaryCount := func() (int, int) {
		t.Helper()
		status, _, b := s.api(key, "/v1/summaries/daily?metric=heart_rate")
		var page struct {
			Days []struct {
				Metric string  `json:"metric"`
				Count  float64 `json:"count"`
			} `json:"days"`
		}
		_ = json.Unmarshal(b, &page)
		n := 0
		for _, d := range page.Days {
			if d.Metric == "heart_rate" {
				n += int(d.Count)
			}
		}
		return status, n
	}
	// exported is the heart-rate rows of GET /v1/export. An export frees
	// the user's one slot just after its last byte, so a 429 right after
	// the previous one is waited out.
	exported := func() (int, int) {
		t.Helper()
		var status int
		var b []byte
		for range 50 {
			if status, _, b = s.api(key, "/v1/export"); status != 429 {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		n := 0
		for line := range strings.SplitSeq(string(b), "\n") {
			if strings.HasPrefix(line, "{") && strings.Contains(line, `"type":"heart_rate_metrics"`) {
				n++
			}
		}
		if status == 200 && !strings.Contains(string(b), `"type":"end"`) {
			t.Errorf("export without its end line: %s", clip(string(b), 300))
		}
		return status, n
	}
	// primaryOnly are routes that must see a write at once: an upload's
	// status, the user's uploads, keys, the source priority.
	primaryOnly := func(id string) map[string]string {
		return map[string]string{
			"upload status":   "/v1/ingestions/" + id,
			"uploads":         "/v1/ingestions",
			"key list":        "/v1/keys",
			"source priority": "/v1/settings/source-priority",
		}
	}
	adminReady := func() string {
		resp, err := http.Get("http://" + adminAddr + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}

	first := upload(0)
	complete(first)
	if status, n := points(); status != 200 || n != 10 {
		t.Fatalf("read through READ_DATABASE_URL: %d, %d points, want 200 and 10", status, n)
	}
	if status, n := summaryCount(); status != 200 || n != 10 {
		t.Fatalf("daily summaries through READ_DATABASE_URL: %d, %d readings, want 200 and 10", status, n)
	}
	if status, n := exported(); status != 200 || n != 10 {
		t.Fatalf("export through READ_DATABASE_URL: %d, %d heart-rate rows, want 200 and 10", status, n)
	}

	t.Run("reader away: reads 503, the rest goes on", func(t *testing.T) {
		reader.Cut()
		defer reader.Restore()
		if status, _ := points(); status != 503 {
			t.Errorf("read with READ_DATABASE_URL away: %d, want 503", status)
		}
		if status, _ := summaryCount(); status != 503 {
			t.Errorf("daily summaries with READ_DATABASE_URL away: %d, want 503", status)
		}
		if status, _ := exported(); status != 503 {
			t.Errorf("export with READ_DATABASE_URL away: %d, want 503", status)
		}
		for what, path := range primaryOnly(first) {
			if status, _, b := s.api(key, path); status != 200 {
				t.Errorf("%s (primary) with READ_DATABASE_URL away: %d %s, want 200", what, status, clip(string(b), 200))
			}
		}
		complete(upload(10))
		if status, _, _ := s.api("", "/readyz"); status != 200 {
			t.Errorf("public /readyz with the reader away: %d, want 200", status)
		}
		if body := adminReady(); !strings.Contains(body, `"postgres-read":"degraded`) {
			t.Errorf("admin /readyz with the reader away: %s", body)
		}
	})
	if status, n := points(); status != 200 || n != 20 {
		t.Errorf("read once the reader is back: %d, %d points, want 200 and 20", status, n)
	}
	if status, n := summaryCount(); status != 200 || n != 20 {
		t.Errorf("daily summaries once the reader is back: %d, %d readings, want 200 and 20", status, n)
	}

	t.Run("primary away: uploads with a known key and reads go on", func(t *testing.T) {
		primary.Cut()
		defer primary.Restore()
		upload(20)
		if status, _, _ := s.api("", "/readyz"); status != 200 {
			t.Errorf("public /readyz with the primary away: %d, want 200 (uploads need no PostgreSQL)", status)
		}
		if body := adminReady(); !strings.Contains(body, `"postgres":"degraded`) {
			t.Errorf("admin /readyz with the primary away: %s", body)
		}
		if status, n := points(); status != 200 || n < 20 {
			t.Errorf("read with the primary away: %d, %d points", status, n)
		}
		if status, n := summaryCount(); status != 200 || n < 20 {
			t.Errorf("daily summaries with the primary away: %d, %d readings", status, n)
		}
		if status, n := exported(); status != 200 || n < 20 {
			t.Errorf("export with the primary away: %d, %d heart-rate rows", status, n)
		}
		for what, path := range primaryOnly(first) {
			if status, _, b := s.api(key, path); status != 503 {
				t.Errorf("%s (primary) with the primary away: %d %s, want 503", what, status, clip(string(b), 200))
			}
		}
	})
	s.drained(30 * time.Second)
	if status, n := points(); status != 200 || n != 30 {
		t.Errorf("after both came back: %d, %d points, want 200 and 30", status, n)
	}
	if status, n := summaryCount(); status != 200 || n != 30 {
		t.Errorf("daily summaries after both came back: %d, %d readings, want 200 and 30", status, n)
	}
	if status, n := exported(); status != 200 || n != 30 {
		t.Errorf("export after both came back: %d, %d heart-rate rows, want 200 and 30", status, n)
	}
}
