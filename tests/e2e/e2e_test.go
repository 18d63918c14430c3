package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// corpusDir is the project's conformance corpus.
func corpusDir(t *testing.T) string {
	t.Helper()
	// The project's own corpus: a copy of the upstream one (checked by
	// TestCorpusHoldsUpstream) extended with the shapes app 9.x sends.
	return filepath.Join("testdata", "conformance")
}

type expected struct {
	Requests []struct {
		File   string `json:"file"`
		Status int    `json:"status"`
	} `json:"requests"`
}

// The foundation's slice of the corpus: the three kinds with writers, the
// tagged format, an exact resend, malformed and empty bodies.
var foundationFiles = []string{"01-heart-rate.json", "02-sources-and-units.json", "09-special-metrics.json",
	"13-seed-format.json", "14-exact-resend.json", "15-malformed.json", "16-no-data-object.json", "17-empty.json"}

func TestPipelineEndToEnd(t *testing.T) {
	s := newStack(t)
	s.startAll()
	uid, key := s.user("e2e@example.org")
	dir := corpusDir(t)
	var exp expected
	raw, err := os.ReadFile(filepath.Join(dir, "expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &exp); err != nil {
		t.Fatal(err)
	}
	want := map[string]int{}
	for _, r := range exp.Requests {
		want[r.File] = r.Status
	}
	for _, f := range foundationFiles {
		body, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		status, reply := s.post(key, body, map[string]string{"automation-name": "e2e", "session-id": "s1"})
		if status != want[f] {
			t.Fatalf("%s: status %d, want %d: %s", f, status, want[f], reply)
		}
		if f == "14-exact-resend.json" && !strings.Contains(reply, `"duplicate":true`) {
			t.Errorf("exact resend not reported as duplicate: %s", reply)
		}
	}
	s.drained(30 * time.Second)

	q := func(sql string) string { return strings.ReplaceAll(sql, ":user", "'"+uid+"'") }
	counts := map[string]int{
		"heart_rate_metrics":     6, // 5 from 01 (14 resends them), 1 tagged from 13 (the other is out of range)
		"blood_pressure_metrics": 3,
		"quantity_metrics":       18,
		"rejected_points":        1,
		"raw_ingestions":         7, // 01:1, 02:1, 09:2 (bp, quantity), 13:3 (hr, bp, workout); 14 and 17 add none
		"ingestions":             5, // 01, 02, 09, 13, 17 (14 is the same upload as 01)
	}
	for table, n := range counts {
		if got := s.count(q("SELECT count(*) FROM " + table + " WHERE user_id = :user")); got != n {
			t.Errorf("%s: %d rows, want %d", table, got, n)
		}
	}
	values := []struct{ sql, want string }{
		{"select min_bpm||'/'||avg_bpm||'/'||max_bpm from heart_rate_metrics where user_id=:user and recorded_at='2025-03-01T16:00:00Z'", "58/71.25/96"},
		{"select recorded_offset_min::text from heart_rate_metrics where user_id=:user and recorded_at='2025-03-01T16:00:00Z'", "-480"},
		{"select source from heart_rate_metrics where user_id=:user and recorded_at='2025-03-01T16:04:00Z'", ""},
		{"select count(*)||':'||max(qty) from quantity_metrics where user_id=:user and metric='vo2_max'", "1:36.9"},
		{"select count(*)::text from quantity_metrics where user_id=:user and metric in ('dietary_caffeine','walking_heart_rate_average','stair_speed_down')", "4"},
		{"select qty::text from quantity_metrics where user_id=:user and metric='sexual_activity'", "1"},
		{"select extra->>'mealTime' from quantity_metrics where user_id=:user and metric='blood_glucose' and recorded_at='2025-03-13T15:00:00Z'", "Before Meal"},
		{"select count(*)||':'||max(qty) from quantity_metrics where user_id=:user and metric='step_count' and source=''", "1:5001"},
		{"select pointer from rejected_points where user_id=:user", "/data/metrics/1"},
		{"select headers->>'automation-name' from ingestions where user_id=:user limit 1", "e2e"},
	}
	for _, v := range values {
		if got := s.text(q(v.sql)); got != v.want {
			t.Errorf("%s = %q, want %q", v.sql, got, v.want)
		}
	}
	s.stopAll()
	for _, svc := range []string{"edge", "raw-archiver", "metric-writer"} {
		logs := s.logs(svc)
		for _, secret := range []string{key, "Ana’s Apple Watch", "Authorization", "Bearer"} {
			if strings.Contains(logs, secret) {
				t.Errorf("%s logs contain %q", svc, secret)
			}
		}
	}
}

// heartRateBody makes n minute-level points starting at minute first, each
// with a unique time, so every point is one row.
func heartRateBody(first, n int) []byte {
	base := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	var b strings.Builder
	b.WriteString(`{"data":{"metrics":[{"name":"heart_rate","units":"count/min","data":[`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		at := base.Add(time.Duration(first+i) * time.Minute)
		fmt.Fprintf(&b, `{"date":"%s","Min":%d,"Avg":%d.5,"Max":%d,"source":"Watch"}`, at.Format("2006-01-02 15:04:05 -0700"), 50+i%40, 60+i%40, 70+i%40)
	}
	b.WriteString(`]}]}}`)
	return []byte(b.String())
}

// Killing the metric-writer with SIGKILL in the middle of uploads loses
// nothing: what was not committed was not acknowledged, and is redelivered
// to the restarted writer.
func TestWriterKilledMidUploadLosesNothing(t *testing.T) {
	s := newStack(t, "BATCH_MAX_MESSAGES=4", "BATCH_MAX_ROWS=2000", "INGEST_PART_MAX_BYTES=16384", "BATCH_FLUSH_TIMEOUT=2s")
	s.startAll()
	uid, key := s.user("kill@example.org")
	const uploads, perUpload = 40, 500
	var wg sync.WaitGroup
	work := make(chan int)
	failures := make(chan string, uploads)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				if status, reply := s.post(key, heartRateBody(i*perUpload, perUpload), nil); status != 202 {
					failures <- fmt.Sprintf("upload %d: %d %s", i, status, reply)
				}
			}
		}()
	}
	for i := range uploads {
		switch i {
		case 10:
			if err := s.signal("metric-writer", syscall.SIGKILL); err == nil || !strings.Contains(err.Error(), "killed") {
				t.Errorf("metric-writer after SIGKILL: %v", err)
			}
		case 25:
			s.start("metric-writer")
		}
		work <- i
	}
	close(work)
	wg.Wait()
	close(failures)
	for f := range failures {
		t.Error(f)
	}
	s.drained(60 * time.Second)
	if got := s.count("SELECT count(*) FROM heart_rate_metrics WHERE user_id = $1", uid); got != uploads*perUpload {
		t.Fatalf("%d heart-rate rows after the kill, want %d", got, uploads*perUpload)
	}
	if got := s.count("SELECT count(*) FROM rejected_points WHERE user_id = $1", uid); got != 0 {
		t.Fatalf("%d rejections, want 0", got)
	}
	// Each part recorded once although some were redelivered.
	if parts, manifests := s.count("SELECT count(*) FROM ingestion_parts WHERE user_id = $1", uid),
		s.count("SELECT sum(parts)::int FROM ingestions WHERE user_id = $1", uid); parts != manifests {
		t.Fatalf("ingestion_parts %d, manifests list %d parts", parts, manifests)
	}
}
