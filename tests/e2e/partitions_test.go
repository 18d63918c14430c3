package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// everyMonthBody is an upload with one item a month of each partitioned
// table (heart rate, blood pressure, a quantity, a sleep segment, and a
// workout spanning the whole time with a route point and a sample a month)
// from first to last, plus an item before 1900 and one two days ahead.
func everyMonthBody(first, last time.Time) []byte {
	const layout = "2006-01-02 15:04:05 -0700"
	var hr, bp, steps, sleep, route, samples []string
	for m := first; !m.After(last); m = m.AddDate(0, 1, 0) {
		at := m.Add(36 * time.Hour).Format(layout)
		hr = append(hr, fmt.Sprintf(`{"date":%q,"Avg":70}`, at))
		bp = append(bp, fmt.Sprintf(`{"date":%q,"systolic":120,"diastolic":80}`, at))
		steps = append(steps, fmt.Sprintf(`{"date":%q,"qty":12}`, at))
		sleep = append(sleep, fmt.Sprintf(`{"startDate":%q,"endDate":%q,"value":"Core","qty":1}`, at, m.Add(37*time.Hour).Format(layout)))
		route = append(route, fmt.Sprintf(`{"timestamp":%q,"latitude":1,"longitude":2}`, at))
		samples = append(samples, fmt.Sprintf(`{"date":%q,"Avg":70}`, at))
	}
	hr = append(hr, `{"date":"1899-12-31 12:00:00 +0000","Avg":70}`,
		fmt.Sprintf(`{"date":%q,"Avg":70}`, time.Now().Add(48*time.Hour).Format(layout)))
	return fmt.Appendf(nil, `{"data":{"metrics":[
		{"name":"heart_rate","units":"count/min","data":[%s]},
		{"name":"blood_pressure","units":"mmHg","data":[%s]},
		{"name":"step_count","units":"count","data":[%s]},
		{"name":"sleep_analysis","units":"hr","data":[%s]}],
	"workouts":[{"id":"century","name":"Walk","start":%q,"end":%q,"route":[%s],"heartRateData":[%s]}]}}`,
		strings.Join(hr, ","), strings.Join(bp, ","), strings.Join(steps, ","), strings.Join(sleep, ","),
		first.Format(layout), last.Add(40*time.Hour).Format(layout), strings.Join(route, ","), strings.Join(samples, ","))
}

// TestHostileTimesBoundPartitions: one upload with an item a month since
// 1900 in every partitioned table leaves a bounded number of partitions (a
// few dozen a table, not 1,500), its items outside the accepted range are
// rejected with their pointer and reason, and the exports and reads of
// another user (and the uploader's own) go on working. Replays decide the
// same: from the archive, and a rebuild into a copy of the layout.
func TestHostileTimesBoundPartitions(t *testing.T) {
	s := newStack(t)
	s.startAll()
	eveID := s.healthctl("users", "create", "--email", "eve@example.org")
	eve := s.keyWithScopes("eve@example.org", "read,ingest")
	s.healthctl("users", "create", "--email", "bob@example.org")
	bob := s.keyWithScopes("bob@example.org", "read,ingest")
	if status, reply := s.post(bob, heartRateBody(0, 3), nil); status != 202 {
		t.Fatalf("bob's upload: %d %s", status, reply)
	}

	now := time.Now().UTC()
	first := time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC)
	last := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC).AddDate(0, -1, 0)
	months := 0
	for m := first; !m.After(last); m = m.AddDate(0, 1, 0) {
		months++
	}
	status, reply := s.post(eve, everyMonthBody(first, last), nil)
	if status != 202 || !strings.Contains(reply, `"rejected":2`) {
		t.Fatalf("eve's upload: %d %.300s", status, reply)
	}
	s.drained(60 * time.Second)

	// Per table: before 2010, a year each from 2010 to the year before
	// last, the months of last year and this one, next month made ahead.
	bound := 1 + (now.Year() - 2 - 2010 + 1) + 12 + int(now.Month()) + 1
	for _, table := range []string{"heart_rate_metrics", "blood_pressure_metrics", "quantity_metrics", "sleep_segments", "workout_route_points", "workout_samples", "raw_ingestions"} {
		n := s.count(`SELECT count(*) FROM pg_inherits WHERE inhparent = $1::regclass`, table)
		if n > bound {
			t.Errorf("%s: %d partitions, want at most %d", table, n, bound)
		}
		if table != "raw_ingestions" {
			if rows := s.count(fmt.Sprintf(`SELECT count(*) FROM %s`, table)); rows < months {
				t.Errorf("%s: %d rows, want the %d months stored", table, rows, months)
			}
		}
	}
	for _, want := range []string{"is before 1900", "is more than 24 h after the upload was received"} {
		if n := s.count(`SELECT count(*) FROM rejected_points WHERE pointer LIKE '/data/metrics/0/data/%' AND reason LIKE '%' || $1 || '%'`, want); n != 1 {
			t.Errorf("%d rejections %q, want 1", n, want)
		}
	}

	bobs := s.exportNDJSON(bob)
	if len(bobs.rows["heart_rate_metrics"]) != 3 {
		t.Errorf("bob's export: %v", bobs.counts())
	}
	if status, _, b := s.api(bob, "/v1/metrics/heart_rate"); status != 200 || strings.Count(string(b), `"recorded_at"`) != 3 {
		t.Errorf("bob's heart rate: %d %.200s", status, b)
	}
	eves := s.exportNDJSON(eve)
	if got := len(eves.rows["heart_rate_metrics"]); got != months {
		t.Errorf("eve's export: %d heart-rate rows, want %d (%v)", got, months, eves.counts())
	}

	// Replays decide identically: the rows come back the same from the
	// archive (the window is the upload's, not the replay's), the same two
	// rejected; a rebuild copies the layout and changes nothing.
	for _, args := range [][]string{
		{"replay", "--kind", "heart_rate", "--user", "eve@example.org", "--from-archive"},
		{"replay", "--kind", "heart_rate"},
	} {
		sum, all, parts := s.checksum(eveID), s.checksum(""), s.count(`SELECT count(*) FROM pg_inherits WHERE inhparent = 'heart_rate_metrics'::regclass`)
		if args[len(args)-1] == "--from-archive" {
			s.exec("DELETE FROM heart_rate_metrics WHERE user_id = $1", eveID)
		}
		out, _ := s.healthctlErr(args...)
		t.Logf("healthctl %v: %s", args, strings.TrimSpace(out))
		if got := s.checksum(eveID); got != sum || s.checksum("") != all {
			t.Errorf("after healthctl %v: eve's heart rate %s, want %s", args, got, sum)
		}
		if got := s.count(`SELECT count(*) FROM pg_inherits WHERE inhparent = 'heart_rate_metrics'::regclass`); got != parts {
			t.Errorf("after healthctl %v: %d heart-rate partitions, want %d", args, got, parts)
		}
		if n := s.count(`SELECT count(*) FROM rejected_points WHERE pointer LIKE '/data/metrics/0/data/%'`); n != 2 {
			t.Errorf("after healthctl %v: %d heart-rate rejections, want 2", args, n)
		}
	}
}
