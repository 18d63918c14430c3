package e2e

import (
	"testing"
	"time"
)

// A metric the registry has never heard of is kept when its points carry
// a numeric qty (so a new Health Auto Export metric is not lost), and
// each point without one is recorded as rejected, with a reason.
func TestUnknownMetrics(t *testing.T) {
	s := newStack(t)
	s.startAll()
	uid, key := s.user("unknown@example.org")
	body := []byte(`{"data": {"metrics": [
 {"name": " Nightly_Glow_Index ", "units": "lux·h", "data": [
  {"date": "2026-02-03 21:00:00 +0100", "qty": 3.5, "source": "Lamp"},
  {"date": "2026-02-03 22:00:00 +0100", "qty": 0, "source": "Lamp"}]},
 {"name": "mystery_signal", "units": "?", "data": [
  {"date": "2026-02-03 21:00:00 +0100", "level": "high"}]}]}}`)
	if status, reply := s.post(key, body, nil); status != 202 {
		t.Fatalf("upload: %d %s", status, reply)
	}
	s.drained(30 * time.Second)

	tests := []struct {
		name, sql, want string
	}{
		{"stored under its canonical name (trimmed, lower-cased), with its unit and offset",
			`SELECT string_agg(metric || ' ' || qty || ' ' || units || ' ' || recorded_offset_min, ', ' ORDER BY recorded_at)
			   FROM quantity_metrics WHERE user_id = $1`,
			"nightly_glow_index 3.5 lux·h 60, nightly_glow_index 0 lux·h 60"},
		{"the point without a qty rejected once, by pointer",
			`SELECT string_agg(pointer || ' ' || reason, ', ') FROM rejected_points WHERE user_id = $1`,
			"/data/metrics/1/data/0 qty: missing: a mystery_signal point needs a numeric qty"},
	}
	// Not subtests: s.text fails the test that made the stack.
	for _, tc := range tests {
		if got := s.text(tc.sql, uid); got != tc.want {
			t.Errorf("%s:\ngot  %q\nwant %q", tc.name, got, tc.want)
		}
	}
}
