package e2e

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestDeletedMeansDeleted: after healthctl users delete nothing more of the
// user lands, whatever was still on its way: parts already in the stream
// that the consumers had not handled (they skip users that no longer
// exist), and an upload whose body was still arriving (refused by the edge
// once the revocation reached it).
func TestDeletedMeansDeleted(t *testing.T) {
	s := newStack(t)
	s.startAll()
	bobID, bob := s.user("bob@example.org")
	if status, reply := s.post(bob, heartRateBody(0, 3), nil); status != 202 {
		t.Fatalf("bob's upload: %d %s", status, reply)
	}
	s.drained(30 * time.Second)
	bobBefore := s.userCounts(bobID)

	t.Run("parts the consumers had not handled", func(t *testing.T) {
		uid, key := s.user("ana@example.org")
		for _, name := range []string{"metric-writer", "raw-archiver"} {
			if err := s.signal(name, syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
		}
		for i := range 3 {
			if status, reply := s.post(key, heartRateBody(i*100, 50), nil); status != 202 {
				t.Fatalf("upload %d: %d %s", i+1, status, reply)
			}
		}
		if n := s.streamMsgsOf(uid); n == 0 {
			t.Fatal("nothing of ana's in the stream: this checks nothing")
		}
		// --wait 0: delete without waiting for the consumers, which are down.
		if out, errOut, err := s.healthctlResult("users", "delete", "--email", "ana@example.org", "--yes", "--wait", "0"); err != nil {
			t.Fatalf("users delete: %v\n%s%s", err, out, errOut)
		}
		for _, name := range []string{"raw-archiver", "metric-writer"} {
			s.start(name)
			s.waitReady(name)
		}
		s.drained(30 * time.Second)
		s.noRowsOf(t, uid)
		if n := s.metricValue("metric-writer", "healthexport_writer_parts_skipped_total", map[string]string{"kind": "heart_rate"}); n != 3 {
			t.Errorf("healthexport_writer_parts_skipped_total = %v, want the 3 parts", n)
		}
		if n := s.metricValue("raw-archiver", "healthexport_archiver_messages_skipped_total", nil); n != 6 {
			t.Errorf("healthexport_archiver_messages_skipped_total = %v, want 3 parts and 3 manifests", n)
		}
	})

	t.Run("an upload in flight", func(t *testing.T) {
		uid, key := s.user("cy@example.org")
		if status, reply := s.post(key, heartRateBody(0, 1), nil); status != 202 { // the key is cached
			t.Fatalf("first upload: %d %s", status, reply)
		}
		s.drained(30 * time.Second)
		// More than the edge buffers before its handler runs, so the key is
		// checked while the body is still arriving.
		body := heartRateBody(1, 80_000)
		first := 5 << 20
		conn, err := net.Dial("tcp", strings.TrimPrefix(s.edgeURL, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		okBefore := s.metricValue("edge", "healthexport_edge_auth_attempts_total", map[string]string{"outcome": "ok"})
		fmt.Fprintf(conn, "POST /v1/ingest HTTP/1.1\r\nHost: edge\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", key, len(body))
		if _, err := conn.Write(body[:first]); err != nil {
			t.Fatal(err)
		}
		for deadline := time.Now().Add(10 * time.Second); s.metricValue("edge", "healthexport_edge_auth_attempts_total", map[string]string{"outcome": "ok"}) == okBefore; {
			if time.Now().After(deadline) {
				t.Fatal("the edge did not authenticate the upload")
			}
			time.Sleep(20 * time.Millisecond)
		}
		if out, errOut, err := s.healthctlResult("users", "delete", "--email", "cy@example.org", "--yes"); err != nil {
			t.Fatalf("users delete: %v\n%s%s", err, out, errOut)
		}
		if _, err := conn.Write(body[first:]); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 401 {
			t.Errorf("the upload that arrived during the deletion: %d, want 401", resp.StatusCode)
		}
		s.drained(30 * time.Second)
		s.noRowsOf(t, uid)
	})

	s.sameRows(t, bobID, bobBefore)
}
