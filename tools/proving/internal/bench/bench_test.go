package bench

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/healthexport/libs/pgstore"
	"github.com/healthexport/libs/testenv"
)

// The generated bodies are what the results count: every point must be a
// distinct row, and the sizes must be what the size classes say.
func TestBodies(t *testing.T) {
	tests := []struct {
		name           string
		minutes        int
		withQuantities bool
		wantMetrics    int
	}{
		{"one heart-rate point", 1, false, 1},
		{"heart rate only", 300, false, 1},
		{"with steps and energy", 120, true, 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			body, points := hrBody("bench device 07", 1440, tc.minutes, tc.withQuantities)
			var doc struct {
				Data struct {
					Metrics []struct {
						Name string `json:"name"`
						Data []struct {
							Date   string   `json:"date"`
							Source string   `json:"source"`
							Avg    *float64 `json:"Avg"`
							Qty    *float64 `json:"qty"`
						} `json:"data"`
					} `json:"metrics"`
				} `json:"data"`
			}
			if err := json.Unmarshal(body, &doc); err != nil {
				t.Fatalf("not JSON: %v", err)
			}
			if len(doc.Data.Metrics) != tc.wantMetrics {
				t.Fatalf("%d metrics, want %d", len(doc.Data.Metrics), tc.wantMetrics)
			}
			total := 0
			for _, m := range doc.Data.Metrics {
				seen := map[string]bool{}
				for _, p := range m.Data {
					if seen[p.Date] {
						t.Fatalf("%s: %s twice: two points would be one row", m.Name, p.Date)
					}
					seen[p.Date] = true
					if p.Source != "bench device 07" || (p.Avg == nil && p.Qty == nil) {
						t.Fatalf("%s: point without source or value: %+v", m.Name, p)
					}
				}
				total += len(m.Data)
			}
			if total != points || total != tc.minutes*tc.wantMetrics {
				t.Fatalf("body has %d points, hrBody said %d, want %d", total, points, tc.minutes*tc.wantMetrics)
			}
		})
	}
}

func TestMinutesForHitsTheSizeClass(t *testing.T) {
	for _, size := range []int{50_000, 100_000, 1 << 20, 5 << 20} {
		for _, q := range []bool{false, true} {
			body, _ := hrBody("bench device 00", 0, minutesFor(size, q), q)
			if got := float64(len(body)) / float64(size); got < 0.95 || got > 1.05 {
				t.Errorf("size %d (quantities %v): body is %d bytes (%.2f×)", size, q, len(body), got)
			}
		}
	}
}

func TestSummarize(t *testing.T) {
	tests := []struct {
		name          string
		latenciesMs   []int
		p50, p95, p99 float64
	}{
		{"none", nil, 0, 0, 0},
		{"one", []int{7}, 7, 7, 7},
		{"1..100 ms", seq(1, 100), 51, 96, 100},
		{"unsorted", []int{30, 10, 20}, 20, 30, 30},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := &AcceptResult{}
			for _, ms := range tc.latenciesMs {
				a.latencies = append(a.latencies, time.Duration(ms)*time.Millisecond)
				a.points += 10
				a.bodies++
			}
			a.summarize(2)
			if a.P50Ms != tc.p50 || a.P95Ms != tc.p95 || a.P99Ms != tc.p99 {
				t.Fatalf("p50/p95/p99 %v/%v/%v, want %v/%v/%v", a.P50Ms, a.P95Ms, a.P99Ms, tc.p50, tc.p95, tc.p99)
			}
			if want := float64(len(tc.latenciesMs)) / 2; a.PayloadsPerS != want || a.PointsPerS != want*10 {
				t.Fatalf("rates %v payloads/s %v points/s, want %v and %v", a.PayloadsPerS, a.PointsPerS, want, want*10)
			}
		})
	}
}

func seq(from, to int) []int {
	var s []int
	for i := from; i <= to; i++ {
		s = append(s, i)
	}
	return s
}

// latest.json is what other tools read: its contract's fields must be there.
func TestWriteKeepsLatest(t *testing.T) {
	dir := t.TempDir()
	res := &Result{
		At: time.Date(2026, 11, 27, 1, 2, 3, 0, time.UTC), CopyCeilingPerS: 300_000, E2EPointsPerS: 160_000,
		Ratios: map[string]float64{"e2e_vs_copy": 0.53}, AcceptP99Ms100KB: 30, Accept30MBSeconds: 1.2, SummariesP95Ms: 20,
		PeakRSSMB: map[string]float64{"edge": 100, "raw-archiver": 50, "metric-writer": 150, "nats-server": 200},
		Series: []Sample{
			{T: 0, RowsByKind: map[string]float64{"heart_rate": 0}, Pending: 10},
			{T: 1, RowsByKind: map[string]float64{"heart_rate": 150_000}, Pending: 0},
		},
	}
	path, err := Write(res, dir)
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Base(path) != "20261127-010203.json" {
		t.Errorf("result written to %s", path)
	}
	b, err := os.ReadFile(filepath.Join(dir, "latest.json"))
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"copy_ceiling_points_per_s", "e2e_points_per_s", "accept_p99_ms_100kb", "accept_30mb_s", "peak_rss_mb", "summaries_p95_ms"} {
		if _, ok := got[key]; !ok {
			t.Errorf("latest.json has no %s", key)
		}
	}
	if r, _ := got["ratios"].(map[string]any); r["e2e_vs_copy"] != 0.53 {
		t.Errorf("ratios %v", got["ratios"])
	}
	for _, name := range []string{"latest.svg", "20261127-010203.svg"} {
		if fi, err := os.Stat(filepath.Join(dir, name)); err != nil || fi.Size() < 1000 {
			t.Errorf("chart %s: %v", name, err)
		}
	}
}

// TestCopyCeilingMatchesTheTable: the ceiling's rows are laid out as the
// writer lays them, whatever columns the table has gained.
func TestCopyCeilingMatchesTheTable(t *testing.T) {
	db := testenv.NewDatabase(t)
	perS, err := copyCeiling(t.Context(), db.Pool, 12_000)
	if err != nil || perS <= 0 {
		t.Fatalf("copy ceiling: %.0f rows/s, %v", perS, err)
	}
}

// TestStorageCountsEveryPartition: a table's bytes per point are its
// partitions' heap and indexes over its rows.
func TestStorageCountsEveryPartition(t *testing.T) {
	db := testenv.NewDatabase(t)
	ctx := t.Context()
	// Rows in three partitions: the far past, 2015 and 2022.
	parts := pgstore.NewPartitions(db.Pool)
	for _, y := range []int{2008, 2015, 2022} {
		if err := parts.Ensure(ctx, "heart_rate_metrics", time.Date(y, 6, 1, 0, 0, 0, 0, time.UTC)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.Pool.Exec(ctx, `INSERT INTO heart_rate_metrics (user_id, recorded_at, source, avg_bpm, stream_seq)
		SELECT gen_random_uuid(), timestamptz '2008-06-01' + (g % 3) * interval '7 years' + make_interval(mins => g), 'Bench Watch', 60, 1
		FROM generate_series(1, 3000) g`); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := db.Pool.QueryRow(ctx, `SELECT count(*) FROM pg_inherits WHERE inhparent = 'heart_rate_metrics'::regclass`).Scan(&n); err != nil || n < 3 {
		t.Fatalf("%d partitions (%v), want 3 or more", n, err)
	}
	got, err := storage(ctx, db.Pool, storageTables)
	if err != nil {
		t.Fatal(err)
	}
	hr := got["heart_rate_metrics"]
	if hr.Rows != 3000 || hr.HeapBytes < 3000*50 || hr.IndexBytes < 3000*20 || hr.BytesPerPoint != float64(hr.HeapBytes+hr.IndexBytes)/3000 {
		t.Fatalf("heart rate: %+v", hr)
	}
	if q := got["quantity_metrics"]; q.Rows != 0 || q.BytesPerPoint != 0 {
		t.Fatalf("an empty table: %+v", q)
	}
}
