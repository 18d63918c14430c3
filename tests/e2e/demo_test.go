package e2e

import (
	"strings"
	"testing"
	"time"
)

// healthctl demo fills a user with the last days of synthetic data, up to
// today, written before it returns; a user with uploads is left alone.
func TestDemoData(t *testing.T) {
	s := newStack(t, "IMPORT_MAX_BYTES=67108864", "IMPORT_STORE_MAX_BYTES=67108864")
	s.startAll()
	uid := s.healthctl("users", "create", "--email", "demo@localhost")
	if out, errOut := s.healthctlErr("demo", "--email", "demo@localhost", "--days", "3"); !strings.Contains(out, "written:") {
		t.Fatalf("healthctl demo: %s\n%s", out, errOut)
	}
	today := time.Now().Format("2006-01-02")
	for _, c := range []struct{ table, sql string }{
		{"heart_rate_metrics", `SELECT count(*) FROM heart_rate_metrics WHERE user_id = $1 AND to_char(recorded_at + recorded_offset_min * interval '1 minute', 'YYYY-MM-DD') = $2`},
		{"sleep_segments", `SELECT count(*) FROM sleep_segments WHERE user_id = $1 AND started_at > now() - interval '4 days'`},
		{"workouts", `SELECT count(*) FROM workouts WHERE user_id = $1`},
	} {
		args := []any{uid}
		if strings.Contains(c.sql, "$2") {
			args = append(args, today)
		}
		if n := s.count(c.sql, args...); n == 0 {
			t.Errorf("%s: no rows from the demo data", c.table)
		}
	}
	before := s.count(`SELECT count(*) FROM ingestions WHERE user_id = $1`, uid)
	if out := s.healthctl("demo", "--email", "demo@localhost"); !strings.Contains(out, "nothing imported") {
		t.Errorf("a second demo: %s", out)
	}
	if after := s.count(`SELECT count(*) FROM ingestions WHERE user_id = $1`, uid); after != before {
		t.Errorf("a second demo added %d uploads", after-before)
	}
}
