package e2e

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// exited waits for a service to end on its own and returns its exit error.
func (s *stack) exited(name string, timeout time.Duration) error {
	s.t.Helper()
	s.mu.Lock()
	cmd := s.procs[name]
	s.mu.Unlock()
	if cmd == nil {
		return errors.New(name + " is not running")
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-time.After(timeout):
		_ = cmd.Process.Kill()
		<-done
		err = fmt.Errorf("%s still running after %v", name, timeout)
	}
	s.mu.Lock()
	delete(s.procs, name)
	s.mu.Unlock()
	return err
}

// metricValue sums the samples of a counter or gauge on a service's
// /metrics page whose labels include these.
func (s *stack) metricValue(service, name string, want map[string]string) float64 {
	s.t.Helper()
	f := scrape(s.t, strings.TrimSuffix(s.readyURLs[service], "/readyz")+"/metrics")[name]
	var sum float64
series:
	for i, ls := range seriesLabels(f) {
		for k, v := range want {
			if ls[k] != v {
				continue series
			}
		}
		m := f.GetMetric()[i]
		sum += m.GetCounter().GetValue() + m.GetGauge().GetValue() + m.GetUntyped().GetValue()
	}
	return sum
}

// A consumer that crashes between COMMIT and ack (the
// FAILPOINT_CRASH_AFTER_COMMIT failpoint: SIGKILL after its first committed
// batch) gets that batch again once restarted; the idempotent write absorbs
// the redelivery: every point stored once, every part archived once.
func TestCrashBetweenCommitAndAck(t *testing.T) {
	for _, crashing := range []string{"metric-writer", "raw-archiver"} {
		t.Run(crashing, func(t *testing.T) {
			// Small parts in small batches: the crash leaves most of the upload
			// unwritten, and AckWait (2 × (50ms + 1s)) brings the batch back soon.
			s := newStack(t, "INGEST_PART_MAX_BYTES=16384", "BATCH_MAX_MESSAGES=4", "BATCH_FLUSH_TIMEOUT=1s")
			for _, name := range []string{"raw-archiver", "metric-writer", "edge"} {
				if name == crashing {
					s.startAs(name, name, "FAILPOINT_CRASH_AFTER_COMMIT=1")
				} else {
					s.start(name)
				}
			}
			for _, name := range []string{"raw-archiver", "metric-writer", "edge"} {
				s.waitReady(name)
			}
			if !strings.Contains(s.logs(crashing), "FAILPOINT_CRASH_AFTER_COMMIT is set") {
				t.Errorf("%s did not warn about the failpoint:\n%s", crashing, tail(s.logs(crashing), 5))
			}
			uid, key := s.user("failpoint@example.org")
			const points = 2000
			if status, reply := s.post(key, heartRateBody(0, points), nil); status != 202 {
				t.Fatalf("upload: %d %s", status, reply)
			}
			if err := s.exited(crashing, 30*time.Second); err == nil || !strings.Contains(err.Error(), "signal: killed") {
				t.Fatalf("%s after its first commit: %v, want killed by SIGKILL\n%s", crashing, err, tail(s.logs(crashing), 5))
			}
			s.start(crashing)
			s.waitReady(crashing)
			s.drained(60 * time.Second)

			parts := s.count("SELECT sum(parts)::int FROM ingestions WHERE user_id = $1", uid)
			if parts < 5 {
				t.Fatalf("the upload has %d parts, want several batches' worth", parts)
			}
			for sql, want := range map[string]int{
				"SELECT count(*) FROM heart_rate_metrics WHERE user_id = $1":                         points,
				"SELECT count(DISTINCT recorded_at)::int FROM heart_rate_metrics WHERE user_id = $1": points,
				"SELECT count(*) FROM ingestion_parts WHERE user_id = $1":                            parts,
				"SELECT count(*) FROM raw_ingestions WHERE user_id = $1":                             parts,
				"SELECT count(*) FROM ingestions WHERE user_id = $1":                                 1,
				"SELECT count(*) FROM rejected_points WHERE user_id = $1":                            0,
				"SELECT count(*) FROM failed_parts WHERE user_id = $1":                               0,
			} {
				if got := s.count(sql, uid); got != want {
					t.Errorf("%s = %d, want %d", sql, got, want)
				}
			}
			// The restarted writer met rows already committed: the redelivery.
			if crashing == "metric-writer" {
				if n := s.metricValue("metric-writer", "healthexport_writer_rows_unchanged_total", map[string]string{"kind": "heart_rate"}); n == 0 {
					t.Error("the restarted writer found no row already written: the committed batch was not redelivered")
				}
			}
		})
	}
}
