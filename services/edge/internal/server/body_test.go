package server_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/healthexport/libs/apikey"
	"github.com/healthexport/libs/stream"
	"github.com/healthexport/services/edge/internal/server"
)

// listen serves the edge on a loopback port until the test ends and
// returns its address: these tests need a real connection, with its
// deadlines and a client that stops sending.
func (e *edge) listen(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.srv.Serve(ctx, ln, time.Second) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return ln.Addr().String()
}

// rawRequest sends a request's head and the first bytes of its body, then
// keeps the connection open without sending more (unless feed is set,
// which writes the rest of the body from its own goroutine). It returns
// the response and how long it took to arrive.
func rawRequest(t *testing.T, addr, head string, body []byte, feed func(io.Writer) error) (*http.Response, time.Duration) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	start := time.Now()
	if _, err := io.WriteString(conn, strings.ReplaceAll(head, "\n", "\r\n")+"\r\n"); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Write(body); err != nil {
		t.Fatal(err)
	}
	if feed != nil {
		go feed(conn) //nolint:errcheck // ends when the server closes the connection
	}
	_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no response (after %s): %v", time.Since(start), err)
	}
	took := time.Since(start)
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp, took
}

// endless writes chunks of a chunked body until the connection fails.
func endless(w io.Writer) error {
	chunk := fmt.Sprintf("1000\r\n%s\r\n", strings.Repeat("x", 0x1000))
	for {
		if _, err := io.WriteString(w, chunk); err != nil {
			return err
		}
	}
}

// Nothing of a body is read before its key is checked, and only an
// authenticated upload gets INGEST_BODY_TIMEOUT: an unauthenticated
// request is answered at once however much body it announces (fasthttp
// parsed multipart bodies, and read ahead up to 8 KB, before any handler
// ran), and a slow small body is cut within HTTP_HEADER_TIMEOUT.
func TestNothingReadBeforeAuthentication(t *testing.T) {
	const headerTimeout = time.Second
	e := newEdge(t, 512<<10, 1<<20, func(c *server.Config) { c.HeaderTimeout, c.BodyTimeout = headerTimeout, time.Minute })
	addr := e.listen(t)
	auth := "Authorization: Bearer " + e.token + "\n"
	first, rest := `{"data":`, ` {"metrics": [], "workouts": []}}`
	tests := []struct {
		name   string
		head   string
		body   string
		feed   func(io.Writer) error
		status int
		within time.Duration
	}{
		{"multipart without a key", "POST /v1/ingest HTTP/1.1\nHost: x\nContent-Type: multipart/form-data; boundary=b\nContent-Length: 209715200\n",
			"--b\r\nContent-Disposition: form-data; name=\"f\"; filename=\"f\"\r\n\r\n", nil, 401, headerTimeout / 2},
		{"upload without a key", "POST /v1/ingest HTTP/1.1\nHost: x\nContent-Length: 8192\n", `{"data"`, nil, 401, headerTimeout / 2},
		// fasthttp waits for two bytes of a body before any handler runs
		{"one byte, no key", "POST /v1/ingest HTTP/1.1\nHost: x\nContent-Length: 8192\n", "{", nil, 408, 2 * headerTimeout},
		{"one byte to a route without a body", "GET /livez HTTP/1.1\nHost: x\nContent-Length: 100\n", "{", nil, 408, 2 * headerTimeout},
		{"wrong key, endless body", "POST /v1/ingest HTTP/1.1\nHost: x\nAuthorization: Bearer hx_nope_nope\nTransfer-Encoding: chunked\n", "", endless, 401, headerTimeout / 2},
		{"slow body to a small route", "POST /v1/keys HTTP/1.1\nHost: x\n" + auth + "Content-Length: 100\n", `{"name":`, nil, 408, 2 * headerTimeout},
		{"slow upload with a key", "POST /v1/ingest HTTP/1.1\nHost: x\n" + auth + fmt.Sprintf("Content-Length: %d\n", len(first+rest)), first, func(w io.Writer) error {
			time.Sleep(2 * headerTimeout) // longer than the header timeout, well within the body's
			_, err := io.WriteString(w, rest)
			return err
		}, 202, 10 * headerTimeout},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, took := rawRequest(t, addr, tc.head, []byte(tc.body), tc.feed)
			if resp.StatusCode != tc.status || took > tc.within {
				t.Fatalf("status %d after %s, want %d within %s", resp.StatusCode, took, tc.status, tc.within)
			}
			if tc.status != 202 && !resp.Close {
				t.Errorf("connection kept open with the body unread")
			}
		})
	}
}

// Every route but the upload reads at most a few KB of body: c.Body() on
// a streamed body read all of it (768 MiB drove the heap to 1.8 GiB).
// Each route gets an endless body with a valid key: it must answer (413
// under /v1; the others take no body and ignore it), and close the
// connection it did not read to the end.
func TestEveryRouteBoundsItsBody(t *testing.T) {
	e := newEdge(t, 512<<10, 1<<20)
	full, _, err := e.keys.Create(context.Background(), e.user, apikey.NewKey{Name: "full", Scopes: []string{"read", "ingest", "keys"}})
	if err != nil {
		t.Fatal(err)
	}
	addr := e.listen(t)
	routes := e.srv.App().GetRoutes(true)
	if len(routes) < 15 {
		t.Fatalf("only %d routes", len(routes))
	}
	for _, r := range routes {
		if r.Method == http.MethodPost && r.Path == "/v1/ingest" {
			continue // bounded by INGEST_MAX_BODY_BYTES: TestIngestReplies
		}
		if r.Method == http.MethodPost && r.Path == "/v1/imports" {
			continue // bounded by IMPORT_MAX_BYTES: tests/e2e TestImportRefusals
		}
		path := strings.NewReplacer(":id", "x", ":name", "heart_rate", ":key", "x").Replace(r.Path)
		t.Run(r.Method+" "+path, func(t *testing.T) {
			head := fmt.Sprintf("%s %s HTTP/1.1\nHost: x\nAuthorization: Bearer %s\nTransfer-Encoding: chunked\n", r.Method, path, full)
			resp, took := rawRequest(t, addr, head, nil, endless)
			if strings.HasPrefix(path, "/v1/") && resp.StatusCode != http.StatusRequestEntityTooLarge {
				t.Errorf("status %d, want 413", resp.StatusCode)
			}
			if !resp.Close || took > 5*time.Second {
				t.Errorf("answered after %s, connection close %v", took, resp.Close)
			}
		})
	}
	// A body within the bound still works.
	if r := e.do(t, http.MethodPost, "/v1/keys", full, []byte(`{"name":"`+strings.Repeat("n", 50)+`"}`)); r.status != 201 {
		t.Fatalf("small body: %d %v", r.status, r.body)
	}
}

// The public /readyz says ready or not: the checks' errors (hosts, users)
// are for the admin listener. With one, /metrics and pprof leave the
// public listener.
func TestPublicReadyzAndAdmin(t *testing.T) {
	const secret = "dial 10.1.2.3: password authentication failed for user health"
	for _, admin := range []bool{false, true} {
		t.Run(fmt.Sprintf("admin=%v", admin), func(t *testing.T) {
			e := newEdge(t, 512<<10, 1<<20, func(c *server.Config) { c.Admin, c.Pprof = admin, true })
			e.ready.Add("postgres", func(context.Context) error { return errors.New(secret) })
			r := e.do(t, http.MethodGet, "/readyz", "", nil)
			if r.status != 503 || r.body["status"] != "not ready" || len(r.body) != 1 {
				t.Errorf("readyz: %d %v", r.status, r.body)
			}
			wantStatus := map[bool]int{false: 200, true: 404}[admin]
			for _, path := range []string{"/metrics", "/debug/pprof/"} {
				if status := e.status(t, path); status != wantStatus {
					t.Errorf("%s: %d, want %d", path, status, wantStatus)
				}
			}
		})
	}
}

// status is the status of a GET without a key.
func (e *edge) status(t *testing.T, path string) int {
	t.Helper()
	resp, err := e.srv.App().Test(httptest.NewRequest(http.MethodGet, path, nil), 30_000)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// Header values copied into the upload's messages cannot poison the
// archive: control characters are stripped (NUL made jsonb refuse the
// manifest and held back every later message), invalid UTF-8 replaced,
// and a long value cut at a character boundary.
func TestAppHeadersStripped(t *testing.T) {
	e := newEdge(t, 512<<10, 1<<20)
	addr := e.listen(t)
	long := strings.Repeat("é", 200) // 400 bytes
	body := `{"data":{"metrics":[]}}`
	head := "POST /v1/ingest HTTP/1.1\nHost: x\nAuthorization: Bearer " + e.token + "\n" +
		"automation-name: Night\x00ly\x1b[2J\x7f\n" +
		"automation-id: a\xffb\n" +
		"session-id: " + long + "\n" +
		fmt.Sprintf("Content-Length: %d\n", len(body))
	resp, _ := rawRequest(t, addr, head, []byte(body), nil)
	if resp.StatusCode != 202 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	m, last := e.lastManifest(t)
	want := map[string]string{"automation-name": "Nightly[2J", "automation-id": "a\uFFFDb", "session-id": strings.Repeat("é", 128)}
	for k, v := range want {
		if m.Headers[k] != v || stream.AppHeaders(last.Header)[k] != v {
			t.Errorf("%s: manifest %q, message header %q, want %q", k, m.Headers[k], stream.AppHeaders(last.Header)[k], v)
		}
	}
}
