package e2e

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// healthctlErr runs healthctl and returns stdout and stderr (progress).
func (s *stack) healthctlErr(args ...string) (string, string) {
	s.t.Helper()
	out, errOut, err := s.healthctlResult(args...)
	if err != nil {
		s.t.Fatalf("healthctl %v: %v\n%s", args, err, errOut)
	}
	return out, errOut
}

// checksum is the heart-rate rows of a user (or all users), every column.
func (s *stack) checksum(user string) string {
	s.t.Helper()
	where := ""
	args := []any{}
	if user != "" {
		where, args = "WHERE user_id = $1", []any{user}
	}
	return s.text("SELECT coalesce(md5(string_agg(t::text, ',' ORDER BY user_id, recorded_at, source)), 'empty') FROM heart_rate_metrics t "+where, args...)
}

func TestReplayAndRebuild(t *testing.T) {
	s := newStack(t, "INGEST_PART_MAX_BYTES=16384", "RATE_LIMIT_REQUESTS=100000")
	s.startAll()
	ana, anaKey := s.user("ana@example.org")
	_, boKey := s.user("bo@example.org")
	_, cyKey := s.user("cy@example.org")
	for i := range 4 {
		for _, key := range []string{anaKey, boKey} {
			if status, reply := s.post(key, heartRateBody(i*300, 300), nil); status != 202 {
				t.Fatalf("upload: %d %s", status, reply)
			}
		}
	}
	s.drained(30 * time.Second)
	anaSum, allSum := s.checksum(ana), s.checksum("")

	// The helpers fail the whole test (not a subtest): the steps build on
	// each other anyway.
	{ // replay --user brings deleted rows back identical
		s.exec("DELETE FROM heart_rate_metrics WHERE user_id = $1 AND recorded_at < '2025-06-01T10:00:00Z'", ana)
		if s.checksum(ana) == anaSum {
			t.Fatal("nothing deleted")
		}
		out, progress := s.healthctlErr("replay", "--kind", "heart_rate", "--user", "ana@example.org")
		t.Logf("healthctl replay --kind heart_rate --user ana@example.org:\n%s%s", progress, out)
		if got := s.checksum(ana); got != anaSum {
			t.Fatalf("after replay --user: checksum %s, want %s", got, anaSum)
		}
		if got := s.checksum(""); got != allSum {
			t.Fatal("replay of one user changed the others")
		}
	}

	{ // replay --from-archive does the same from raw_ingestions
		s.exec("DELETE FROM heart_rate_metrics WHERE user_id = $1", ana)
		out, _ := s.healthctlErr("replay", "--kind", "heart_rate", "--user", "ana@example.org", "--from-archive")
		t.Logf("replay --from-archive: %s", strings.TrimSpace(out))
		if got := s.checksum(ana); got != anaSum {
			t.Fatalf("after replay --from-archive: checksum %s, want %s", got, anaSum)
		}
	}

	{ // a full rebuild while others upload equals the live table
		var (
			wg       sync.WaitGroup
			stop     atomic.Bool
			uploaded atomic.Int64
		)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; !stop.Load(); i++ {
				if status, _ := s.post(cyKey, heartRateBody(i*100, 100), nil); status != 202 {
					t.Errorf("upload during the rebuild: %d", status)
					return
				}
				uploaded.Add(100)
			}
		}()
		time.Sleep(300 * time.Millisecond) // let uploads be under way when the rebuild starts
		out, progress := s.healthctlErr("replay", "--kind", "heart_rate")
		stop.Store(true)
		wg.Wait()
		t.Logf("healthctl replay --kind heart_rate (rebuild) while uploading:\n%s%s", progress, out)
		s.drained(30 * time.Second)
		if got := s.checksum(ana); got != anaSum {
			t.Errorf("ana after the rebuild: %s, want %s", got, anaSum)
		}
		total := int64(2*4*300) + uploaded.Load()
		if got := s.count("SELECT count(*) FROM heart_rate_metrics"); int64(got) != total {
			t.Fatalf("%d rows after the rebuild and drain, want %d (2400 before, %d uploaded during)", got, total, uploaded.Load())
		}
		if s.count("SELECT count(*) FROM pg_class WHERE relname LIKE 'heart_rate_metrics_re%'") != 0 {
			t.Error("rebuild tables left behind")
		}
		live := s.checksum("")
		out, _ = s.healthctlErr("replay", "--kind", "heart_rate")
		t.Logf("second rebuild: %s", strings.TrimSpace(out))
		if got := s.checksum(""); got != live {
			t.Fatal("a second rebuild changed the table")
		}
		// The live writer still writes into the swapped-in table (500,000
		// minutes on is still in the past: a future point would be rejected).
		if status, _ := s.post(cyKey, heartRateBody(500_000, 10), nil); status != 202 {
			t.Fatal("upload after the rebuild failed")
		}
		s.drained(30 * time.Second)
		if got := s.count("SELECT count(*) FROM heart_rate_metrics"); int64(got) != total+10 {
			t.Fatalf("%d rows after a new upload, want %d", got, total+10)
		}
	}
}

func (s *stack) exec(sql string, args ...any) {
	s.t.Helper()
	if _, err := s.db.Pool.Exec(context.Background(), sql, args...); err != nil {
		s.t.Fatalf("%s: %v", sql, err)
	}
}
