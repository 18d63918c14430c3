package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// healthctlResult runs the CLI and returns its output and error, for
// commands expected to fail.
func (s *stack) healthctlResult(args ...string) (stdout, stderr string, err error) {
	s.t.Helper()
	cmd := exec.Command(filepath.Join(bins(s.t), "healthctl"), args...)
	cmd.Env = s.env
	cmd.Dir = s.logDir
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err = cmd.Run()
	return out.String(), errb.String(), err
}

// userTables are every table holding a user's rows, with the column.
func userTables() map[string]string {
	out := map[string]string{"users": "id"}
	for _, t := range append(exportTables(), "ingestion_parts", "failed_parts", "ingestions", "raw_ingestions", "api_keys") {
		out[t] = "user_id"
	}
	return out
}

func (s *stack) userCounts(uid string) map[string]int {
	s.t.Helper()
	out := map[string]int{}
	for table, col := range userTables() {
		out[table] = s.count(fmt.Sprintf("SELECT count(*) FROM %s WHERE %s = $1", table, col), uid)
	}
	return out
}

// noRowsOf fails t for every table holding a row of the (deleted) user.
func (s *stack) noRowsOf(t *testing.T, uid string) {
	t.Helper()
	for table, n := range s.userCounts(uid) {
		if n != 0 {
			t.Errorf("%s: %d rows of the deleted user", table, n)
		}
	}
}

// sameRows fails t when a user's row counts changed since before.
func (s *stack) sameRows(t *testing.T, uid string, before map[string]int) {
	t.Helper()
	if got := s.userCounts(uid); fmt.Sprint(got) != fmt.Sprint(before) {
		t.Errorf("user %s's rows changed: %v, were %v", uid, got, before)
	}
}

// keyStatus is the status of GET /v1/ingestions/<none> with key, a route
// open to every key: 404 while the key works, 401 once it is refused.
func (s *stack) keyStatus(key string) int {
	s.t.Helper()
	status, _, _ := s.api(key, "/v1/ingestions/none")
	return status
}

// TestDeleteUser: healthctl users delete asks for --yes, revokes the keys at
// once on the running edge, waits for what is in flight (and refuses to go
// on while a writer is down), then removes every row of the user and
// nothing of anyone else's; replays skip the deleted user; running it again
// is harmless.
func TestDeleteUser(t *testing.T) {
	dir := corpusDir(t)
	spec := loadConformanceSpec(t, dir)
	s := newStack(t, "RATE_LIMIT_REQUESTS=100000")
	s.startAll()
	uid := s.healthctl("users", "create", "--email", "ana@example.org")
	key := s.keyWithScopes("ana@example.org", "read,ingest")
	phone := s.keyWithScopes("ana@example.org", "")
	s.postCorpus(dir, spec, key)
	bobID := s.healthctl("users", "create", "--email", "bob@example.org")
	bob := s.keyWithScopes("bob@example.org", "read,ingest")
	for _, f := range []string{"01-heart-rate.json", "06-workout-v1.json"} {
		body, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		if status, reply := s.post(bob, body, nil); status != 202 {
			t.Fatalf("bob's %s: %d %s", f, status, reply)
		}
	}
	s.drained(60 * time.Second)
	anaBefore, bobBefore := s.userCounts(uid), s.userCounts(bobID)
	for table, n := range spec.Tables {
		if anaBefore[table] != n {
			t.Fatalf("before: ana has %d rows in %s, the corpus stores %d", anaBefore[table], table, n)
		}
	}
	for _, table := range []string{"raw_ingestions", "ingestions", "ingestion_parts", "api_keys", "users"} {
		if anaBefore[table] == 0 {
			t.Fatalf("before: ana has no %s", table)
		}
	}

	// ensureDeleted deletes ana, again when "deleted" did already (which
	// is harmless), so that the subtests after it also run alone (-run).
	ensureDeleted := func(t *testing.T) {
		t.Helper()
		if out, errOut, err := s.healthctlResult("users", "delete", "--id", uid, "--yes"); err != nil {
			t.Fatalf("users delete: %v\n%s\n%s", err, out, errOut)
		}
		s.drained(30 * time.Second)
	}

	t.Run("without --yes nothing is deleted", func(t *testing.T) {
		out, _, err := s.healthctlResult("users", "delete", "--email", "ana@example.org")
		if err == nil || !strings.Contains(out, "WOULD DELETE") || !strings.Contains(out, "heart_rate_metrics") {
			t.Errorf("users delete without --yes: %v\n%s", err, out)
		}
		if got := s.userCounts(uid); fmt.Sprint(got) != fmt.Sprint(anaBefore) {
			t.Errorf("rows changed: %v, were %v", got, anaBefore)
		}
		if st := s.keyStatus(key); st != 404 {
			t.Errorf("ana's key after a dry run: %d", st)
		}
	})

	t.Run("a writer behind: keys revoked, nothing else deleted", func(t *testing.T) {
		if err := s.signal("metric-writer", syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		late := []byte(`{"data":{"metrics":[{"name":"heart_rate","data":[{"date":"2025-04-01 08:00:00 -0700","qty":70,"source":"late"}]}]}}`)
		if status, reply := s.post(phone, late, nil); status != 202 {
			t.Fatalf("late upload: %d %s", status, reply)
		}
		// Both keys verified a moment ago: cached by the edge.
		if s.keyStatus(key) != 404 || s.keyStatus(phone) != 404 {
			t.Fatal("keys do not work before the deletion")
		}
		// The keys stop working on the running edge at once (within a
		// second of the command starting), while it still waits.
		type result struct {
			out, errOut string
			err         error
		}
		done := make(chan result, 1)
		start := time.Now()
		go func() {
			out, errOut, err := s.healthctlResult("users", "delete", "--email", "ana@example.org", "--yes", "--wait", "2s")
			done <- result{out, errOut, err}
		}()
		refused := time.Duration(0)
		for time.Since(start) < 5*time.Second {
			req, _ := http.NewRequest(http.MethodGet, s.edgeURL+"/v1/ingestions/none", nil)
			req.Header.Set("Authorization", "Bearer "+key)
			if resp, err := http.DefaultClient.Do(req); err == nil {
				resp.Body.Close()
				if resp.StatusCode == 401 {
					refused = time.Since(start)
					break
				}
			}
			time.Sleep(20 * time.Millisecond)
		}
		if refused == 0 || refused > time.Second {
			t.Errorf("the deleted user's cached key was refused after %v, want within 1 s (0: never)", refused)
		} else {
			t.Logf("the key was refused %v after the command started", refused.Round(time.Millisecond))
		}
		r := <-done
		if r.err == nil || !strings.Contains(r.errOut, "writer-heart_rate") {
			t.Errorf("users delete with the writer down: %v\n%s\n%s", r.err, r.out, r.errOut)
		}
		if d := time.Since(start); d < 2*time.Second {
			t.Errorf("gave up after %v, want the 2 s wait", d)
		}
		for _, k := range []string{key, phone} {
			if st := s.keyStatus(k); st != 401 {
				t.Errorf("a key of the deleted user: %d, want 401", st)
			}
		}
		got := s.userCounts(uid)
		for table, n := range anaBefore {
			if got[table] < n {
				t.Errorf("%s: %d rows left of %d: the deletion went ahead", table, got[table], n)
			}
		}
		s.start("metric-writer")
		s.waitReady("metric-writer")
	})

	t.Run("deleted", func(t *testing.T) {
		out, errOut, err := s.healthctlResult("users", "delete", "--email", "ana@example.org", "--yes")
		if err != nil || !strings.Contains(out, "DELETED") {
			t.Fatalf("users delete: %v\n%s\n%s", err, out, errOut)
		}
		s.drained(30 * time.Second)
		s.noRowsOf(t, uid)
		s.sameRows(t, bobID, bobBefore)
		if st := s.keyStatus(key); st != 401 {
			t.Errorf("ana's key: %d", st)
		}
		if got := s.walkAPI(bob, "/v1/metrics/heart_rate", 10)["points"]; len(got) != 5 {
			t.Errorf("bob reads %d heart-rate points", len(got))
		}
	})

	t.Run("replays skip the deleted user", func(t *testing.T) {
		ensureDeleted(t)
		// The stream still holds the deleted user's uploads (until
		// STREAM_MAX_AGE); replays and rebuilds read them and skip them.
		if n := s.streamMsgsOf(uid); n == 0 {
			t.Fatal("the stream holds no message of the deleted user: this checks nothing")
		}
		s.healthctl("replay", "--kind", "heart_rate", "--from-seq", "1")
		s.healthctl("replay", "--kind", "workout") // a rebuild from the whole stream
		if n := s.count("SELECT count(*) FROM heart_rate_metrics WHERE user_id = $1", uid); n != 0 {
			t.Errorf("a replay brought back %d heart-rate rows of the deleted user", n)
		}
		if n := s.count("SELECT count(*) FROM workouts WHERE user_id = $1", uid); n != 0 {
			t.Errorf("a rebuild brought back %d workouts of the deleted user", n)
		}
		if n := s.count("SELECT count(*) FROM workouts WHERE user_id = $1", bobID); n != bobBefore["workouts"] {
			t.Errorf("bob has %d workouts after the rebuild, had %d", n, bobBefore["workouts"])
		}
	})

	t.Run("again", func(t *testing.T) {
		ensureDeleted(t)
		out := s.healthctl("users", "delete", "--id", uid, "--yes")
		for _, line := range strings.Split(out, "\n")[1:] {
			if f := strings.Fields(line); len(f) != 2 || f[1] != "0" {
				t.Errorf("deleting again: %q", line)
			}
		}
		if _, _, err := s.healthctlResult("users", "delete", "--email", "ana@example.org", "--yes"); err == nil {
			t.Error("deleting an unknown email succeeded")
		}
	})
}

// streamMsgsOf counts a user's parts in the test's stream.
func (s *stack) streamMsgsOf(uid string) uint64 {
	s.t.Helper()
	nc, err := nats.Connect(s.natsURL)
	if err != nil {
		s.t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		s.t.Fatal(err)
	}
	st, err := js.Stream(context.Background(), s.names.Stream)
	if err != nil {
		s.t.Fatal(err)
	}
	info, err := st.Info(context.Background(), jetstream.WithSubjectFilter(s.names.SubjectPrefix+".ingest.*."+uid))
	if err != nil {
		s.t.Fatal(err)
	}
	var n uint64
	for _, c := range info.State.Subjects {
		n += c
	}
	return n
}
