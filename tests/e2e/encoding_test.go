package e2e

import (
	"bytes"
	"compress/gzip"
	"net"
	"strings"
	"testing"
	"time"
)

// gzipOfSpaces compresses n spaces: JSON whitespace, so nothing short of
// the size limit can refuse it early.
func gzipOfSpaces(t *testing.T, n int) []byte {
	t.Helper()
	var b bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&b, gzip.BestCompression)
	chunk := bytes.Repeat([]byte(" "), 1<<20)
	for written := 0; written < n; written += len(chunk) {
		if _, err := zw.Write(chunk); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// A 1 MB gzip body that inflates past the 256 MiB limit is refused with 413
// quickly, and the edge's memory stays bounded: it is inflated through the
// limit into the spool, never into memory.
func TestGzipBombIsRefusedWithBoundedMemory(t *testing.T) {
	s := newStack(t)
	s.startAll()
	_, key := s.user("bomb@example.org")
	bomb := gzipOfSpaces(t, 1<<30) // 1 GiB of spaces, about 1 MB compressed
	before, err := edgeStatusKiB(s, "VmHWM")
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	status, reply := s.post(key, bomb, map[string]string{"Content-Encoding": "gzip"})
	took := time.Since(start)
	if status != 413 || !strings.Contains(reply, "decompressed body exceeds the limit") {
		t.Fatalf("status %d: %s", status, reply)
	}
	after, err := edgeStatusKiB(s, "VmHWM")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%.1f MB gzip body: 413 in %.2f s; edge peak RSS %d → %d MiB", float64(len(bomb))/1e6, took.Seconds(), before>>10, after>>10)
	if took > 5*time.Second {
		t.Errorf("413 took %v", took)
	}
	if grew := (after - before) >> 10; grew > 64 {
		t.Errorf("edge peak RSS grew %d MiB for a gzip bomb", grew)
	}
	// The edge still serves others.
	if status, reply := s.post(key, []byte(`{"data":{}}`), nil); status != 202 {
		t.Fatalf("after the bomb: %d %s", status, reply)
	}
}

// Any Content-Encoding but identity and gzip is 415.
func TestUnsupportedEncoding(t *testing.T) {
	s := newStack(t)
	s.startAll()
	_, key := s.user("br@example.org")
	for _, enc := range []string{"br", "deflate", "zstd", "gzip, br"} {
		if status, reply := s.post(key, []byte(`{"data":{}}`), map[string]string{"Content-Encoding": enc}); status != 415 {
			t.Errorf("Content-Encoding %q: %d %s", enc, status, reply)
		}
	}
}

// A client that sends its headers slower than HTTP_HEADER_TIMEOUT is cut
// off, and the edge keeps serving others meanwhile.
func TestSlowHeadersAreCut(t *testing.T) {
	s := newStack(t, "HTTP_HEADER_TIMEOUT=1s")
	s.startAll()
	_, key := s.user("slow@example.org")
	conn, err := net.Dial("tcp", strings.TrimPrefix(s.edgeURL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte("POST /v1/ingest HTTP/1.1\r\nHost: x\r\n")); err != nil {
		t.Fatal(err)
	}
	if status, reply := s.post(key, []byte(`{"data":{}}`), nil); status != 202 {
		t.Fatalf("while a client dawdles: %d %s", status, reply)
	}
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	start := time.Now()
	buf := make([]byte, 512)
	n, _ := conn.Read(buf) // returns when the edge closes the connection
	if waited := time.Since(start); waited > 3*time.Second {
		t.Fatalf("slow client held for %v (read %q)", waited, buf[:n])
	}
}
