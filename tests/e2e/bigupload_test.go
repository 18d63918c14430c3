package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/healthexport/libs/kind"
	"github.com/healthexport/libs/synth"
)

// Bounds of TestBigUpload: the app's background task has about 30 s, so
// the 202 must come fast; the rows may follow.
const (
	bigUploadBytes  = 30 << 20
	bigAcceptWithin = 5 * time.Second
	bigRowsWithin   = 60 * time.Second
)

// A 30 MB backfill (15 days of minute-level heart rate, steps and energy
// from a watch and a phone, 15 nights of sleep, two workouts with 1 Hz
// routes) is accepted within 5 s and every point is in PostgreSQL within
// 60 s of the 202, with nothing rejected. It logs the edge's peak RSS and
// the throughput.
func TestBigUpload(t *testing.T) {
	if testing.Short() {
		t.Skip("30 MB upload: not in -short")
	}
	spec := synth.ForSize(bigUploadBytes)
	var buf bytes.Buffer
	buf.Grow(bigUploadBytes + bigUploadBytes/8)
	want, err := synth.Write(&buf, spec)
	if err != nil {
		t.Fatal(err)
	}
	body := buf.Bytes()

	s := newStack(t)
	s.startAll()
	uid, key := s.user("big@example.org")

	// What to wait for: the minute metrics always; the sleep and workout
	// tables once their migration and their writer (the kind registry
	// listing the table) have both landed.
	type target struct {
		table, where string
		want         int
	}
	targets := []target{
		{"heart_rate_metrics", "", want.HeartRate},
		{"quantity_metrics", "metric = 'step_count'", want.Steps},
		{"quantity_metrics", "metric = 'active_energy'", want.Energy},
	}
	written := map[string]bool{}
	for _, k := range kind.New().Kinds() {
		for _, tb := range k.Tables {
			written[tb.Name] = true
		}
	}
	var skipped []string
	for _, tg := range []target{
		{"sleep_sessions", "", want.SleepSessions},
		{"sleep_segments", "", want.SleepSegments},
		{"workouts", "", want.Workouts},
		{"workout_route_points", "", want.RoutePoints},
		{"workout_samples", "", want.Samples},
	} {
		exists := s.count("SELECT (to_regclass('public.' || $1) IS NOT NULL)::int", tg.table) == 1
		if exists && written[tg.table] {
			targets = append(targets, tg)
		} else {
			skipped = append(skipped, fmt.Sprintf("%s (table %v, writer %v)", tg.table, exists, written[tg.table]))
		}
	}
	checked := make([]string, len(targets))
	selects := make([]string, len(targets))
	wantPoints := 0
	for i, tg := range targets {
		checked[i] = tg.table
		if tg.where != "" {
			checked[i] += " where " + tg.where
		}
		selects[i] = "(SELECT count(*) FROM " + tg.table + " WHERE user_id = $1"
		if tg.where != "" {
			selects[i] += " AND " + tg.where
		}
		selects[i] += ")::int"
		wantPoints += tg.want
	}
	countsSQL := "SELECT " + strings.Join(selects, ", ")
	if len(skipped) == 0 {
		skipped = []string{"none"}
	}
	t.Logf("checking %s; not checked: %s", strings.Join(checked, ", "), strings.Join(skipped, ", "))

	rssBefore, rssErr := edgeStatusKiB(s, "VmHWM")
	cpuBefore, cpuErr := edgeCPU(s)

	begin := time.Now()
	status, reply := s.post(key, body, map[string]string{
		"automation-name":        "Backfill",
		"automation-aggregation": "Minutes",
		"automation-period":      "Last 15 Days",
		"session-id":             "big-upload",
	})
	accepted := time.Now()
	accept := accepted.Sub(begin)
	cpuAfter, cpuErr2 := edgeCPU(s)
	edgeCPUText := "n/a"
	if cpuErr == nil && cpuErr2 == nil {
		// On a small machine the writers and PostgreSQL start on the first
		// parts while the edge still cuts the rest: the edge's share of the
		// CPU says how much of the wall time was its own work.
		edgeCPUText = fmt.Sprintf("%.2f s", (cpuAfter - cpuBefore).Seconds())
	}
	t.Logf("POST %.1f MB: %d in %.3f s (edge CPU %s)", float64(len(body))/1e6, status, accept.Seconds(), edgeCPUText)
	if status != 202 {
		t.Fatalf("status %d, want 202: %.2000s", status, reply)
	}
	// The bound holds under -race too: only this process (the client) is
	// instrumented, not the binaries.
	if accept > bigAcceptWithin {
		t.Errorf("202 after %.2f s, want under %v", accept.Seconds(), bigAcceptWithin)
	}
	var res struct {
		Parts    int            `json:"parts"`
		Accepted map[string]int `json:"accepted"`
		Rejected int            `json:"rejected"`
		Errors   []struct{ Pointer, Reason string }
	}
	if err := json.Unmarshal([]byte(reply), &res); err != nil {
		t.Fatalf("202 body %q: %v", reply, err)
	}
	if res.Rejected != 0 || res.Accepted["heart_rate"] != want.HeartRate || res.Accepted["quantity"] != want.Steps+want.Energy {
		t.Errorf("202 says %d rejected (%v), accepted %v; want none rejected, heart_rate %d, quantity %d",
			res.Rejected, res.Errors, res.Accepted, want.HeartRate, want.Steps+want.Energy)
	}
	t.Logf("202: %d parts, accepted %v", res.Parts, res.Accepted)

	rss, rssErr2 := edgeStatusKiB(s, "VmHWM")
	if rssErr == nil {
		rssErr = rssErr2
	}
	if rssErr != nil {
		t.Logf("edge peak RSS: %v", rssErr)
	} else {
		// The body is a mapped temporary file while it is cut: its pages
		// count in RSS (RssFile) next to the heap (RssAnon).
		var now []string
		for _, f := range []string{"VmRSS", "RssAnon", "RssFile"} {
			if v, err := edgeStatusKiB(s, f); err == nil {
				now = append(now, fmt.Sprintf("%s %.1f", f, float64(v)/1024))
			}
		}
		t.Logf("edge peak RSS (VmHWM): %.1f MiB before the upload, %.1f MiB after (now, MiB: %s)",
			float64(rssBefore)/1024, float64(rss)/1024, strings.Join(now, ", "))
	}

	// Poll until every table holds every point.
	ctx := context.Background()
	got := make([]int, len(targets))
	ptrs := make([]any, len(targets))
	for i := range got {
		ptrs[i] = &got[i]
	}
	var last time.Time
	for {
		if err := s.db.Pool.QueryRow(ctx, countsSQL, uid).Scan(ptrs...); err != nil {
			t.Fatalf("%s: %v", countsSQL, err)
		}
		done := true
		for i, tg := range targets {
			if got[i] < tg.want {
				done = false
			}
		}
		if done {
			last = time.Now()
			break
		}
		if time.Since(accepted) > bigRowsWithin {
			var lag []string
			for i, tg := range targets {
				lag = append(lag, fmt.Sprintf("%s: %d of %d", checked[i], got[i], tg.want))
			}
			t.Fatalf("not every point written %v after the 202:\n%s\nmetric-writer log tail:\n%s",
				bigRowsWithin, strings.Join(lag, "\n"), lastBytes(s.logs("metric-writer"), 2000))
		}
		time.Sleep(100 * time.Millisecond)
	}
	for i, tg := range targets {
		if got[i] != tg.want {
			t.Errorf("%s: %d rows, want %d", checked[i], got[i], tg.want)
		}
	}
	if n := s.count("SELECT count(*)::int FROM rejected_points WHERE user_id = $1", uid); n != 0 {
		t.Errorf("%d rejected points, want 0: %s", n,
			s.text("SELECT string_agg(pointer || ' ' || reason, '; ') FROM (SELECT * FROM rejected_points WHERE user_id = $1 LIMIT 5) r", uid))
	}

	rows := last.Sub(accepted)
	total := last.Sub(begin)
	t.Logf("rows: last of %d points written %.2f s after the 202 (%.2f s after the request began)", wantPoints, rows.Seconds(), total.Seconds())
	rssMiB := "n/a"
	if rssErr == nil {
		rssMiB = fmt.Sprintf("%.1f", float64(rss)/1024)
	}
	t.Logf("SUMMARY body %.1f MB (%d points in the body, %d checked), 202 in %.2f s (edge CPU %s), edge peak RSS %s MiB, last row %.2f s after the 202, %.0f points/s (checked rows / request start to last row)",
		float64(len(body))/1e6, want.Points(), wantPoints, accept.Seconds(), edgeCPUText, rssMiB, rows.Seconds(), float64(wantPoints)/total.Seconds())
}

// edgeProc is the running edge's process, read under the stack's lock.
func edgeProc(s *stack) (*os.Process, error) {
	if runtime.GOOS != "linux" {
		return nil, fmt.Errorf("no /proc on %s", runtime.GOOS)
	}
	s.mu.Lock()
	cmd := s.procs["edge"]
	s.mu.Unlock()
	if cmd == nil || cmd.Process == nil {
		return nil, fmt.Errorf("the edge is not running")
	}
	return cmd.Process, nil
}

// edgeCPU is the user plus system time the edge has used so far
// (/proc/<pid>/stat, in clock ticks of 10 ms).
func edgeCPU(s *stack) (time.Duration, error) {
	p, err := edgeProc(s)
	if err != nil {
		return 0, err
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.Pid))
	if err != nil {
		return 0, err
	}
	// Fields after the command name, which is in parentheses: state is
	// the first, utime the 12th and stime the 13th.
	end := bytes.LastIndexByte(b, ')')
	f := strings.Fields(string(b[end+1:]))
	if end < 0 || len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %q", p.Pid, b)
	}
	var ticks int64
	for _, v := range f[11:13] {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/%d/stat: %w", p.Pid, err)
		}
		ticks += n
	}
	return time.Duration(ticks) * 10 * time.Millisecond, nil
}

// edgeStatusKiB reads a field (VmHWM, VmRSS) of the running edge's
// /proc/<pid>/status, in KiB.
func edgeStatusKiB(s *stack, field string) (int64, error) {
	p, err := edgeProc(s)
	if err != nil {
		return 0, err
	}
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", p.Pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), ":")
		if !ok || name != field {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(value), " kB"), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%s: %q: %w", field, value, err)
		}
		return kb, nil
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("no %s in /proc/%d/status", field, p.Pid)
}

// lastBytes is the end of a log.
func lastBytes(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}
