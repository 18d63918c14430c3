package e2e

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/healthexport/libs/testenv"
)

const empty = `{"data":{}}`

// request sends method path to an edge with a key and returns status and
// body.
func (s *stack) request(edgeURL, method, path, key string) (int, string) {
	s.t.Helper()
	return s.send(edgeURL, method, path, key, "")
}

// send is request with a body.
func (s *stack) send(edgeURL, method, path, key, body string) (int, string) {
	s.t.Helper()
	req, _ := http.NewRequest(method, edgeURL+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// Two edges, one limit: the count lives in Redis, not in either process.
func TestTwoEdgesShareOneLimit(t *testing.T) {
	s := newStack(t, "RATE_LIMIT_REQUESTS=4", "RATE_LIMIT_WINDOW=1h")
	s.startAll()
	second := s.startEdge("edge2")
	_, key := s.user("limit@example.org")
	for i, edge := range []string{s.edgeURL, second, s.edgeURL, second} {
		if status, reply := s.postTo(edge, key, []byte(empty), nil); status != 202 {
			t.Fatalf("request %d: %d %s", i+1, status, reply)
		}
	}
	for _, edge := range []string{s.edgeURL, second} {
		if status, _ := s.postTo(edge, key, []byte(empty), nil); status != 429 {
			t.Fatalf("fifth request to %s: %d, want 429", edge, status)
		}
	}
}

// A key revoked through one edge is refused by another edge that had it
// cached, within a second, because the revocation travels over NATS.
// healthctl's revocations travel the same way.
func TestRevocationReachesEveryEdge(t *testing.T) {
	s := newStack(t)
	s.startAll()
	second := s.startEdge("edge2")
	s.user("rev@example.org")
	admin := s.keyWithScopes("rev@example.org", "keys")
	for _, via := range []string{"edge", "healthctl"} {
		victim := s.healthctl("keys", "create", "--email", "rev@example.org", "--name", via)
		if status, _ := s.postTo(second, victim, []byte(empty), nil); status != 202 {
			t.Fatalf("%s: the key does not work on the second edge", via)
		}
		id := strings.Split(victim, "_")[1]
		start := time.Now()
		if via == "edge" {
			if status, reply := s.request(s.edgeURL, http.MethodDelete, "/v1/keys/"+id, admin); status != 204 {
				t.Fatalf("revoke through the first edge: %d %s", status, reply)
			}
		} else {
			s.healthctl("keys", "revoke", "--email", "rev@example.org", id)
		}
		for {
			status, _ := s.postTo(second, victim, []byte(empty), nil)
			if status == 401 {
				break
			}
			if time.Since(start) > time.Second {
				t.Fatalf("revoked through %s: the second edge still answers %d after %v", via, status, time.Since(start))
			}
			time.Sleep(20 * time.Millisecond)
		}
		t.Logf("revoked through %s: refused by the other edge after %v", via, time.Since(start).Round(time.Millisecond))
	}
}

// With PostgreSQL unreachable from the edge, keys it verified lately keep
// working (past their TTL, within the grace) and others get 503, never 401.
func TestKeyStoreOutage(t *testing.T) {
	// A TTL of zero makes every use look the key up, so the outage is met
	// at once and the stale grace is what keeps the warm key working.
	s := newStack(t, "AUTH_CACHE_TTL=0s")
	s.startAll()
	proxy := testenv.NewProxy(t, testenv.HostPort(t, s.db.URL))
	edge := s.startEdge("edge-via-proxy", "DATABASE_URL="+proxy.Through(s.db.URL))
	_, warm := s.user("warm@example.org")
	_, cold := s.user("cold@example.org")
	if status, _ := s.postTo(edge, warm, []byte(empty), nil); status != 202 {
		t.Fatal("warm-up failed")
	}
	proxy.Cut()
	if status, reply := s.postTo(edge, warm, []byte(empty), nil); status != 202 {
		t.Errorf("cached key with the store down: %d %s", status, reply)
	}
	status, reply := s.postTo(edge, cold, []byte(empty), nil)
	if status != 503 || !strings.Contains(reply, "key_store_unavailable") {
		t.Errorf("uncached key with the store down: %d %s", status, reply)
	}
	proxy.Restore()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if status, _ := s.postTo(edge, cold, []byte(empty), nil); status == 202 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the edge did not recover when the store came back")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// With Redis unreachable, uploads go on under an in-process limit, and the
// edge says so in its admin listener's /readyz and metrics; its public
// /readyz says only that it is ready, and serves no /metrics.
func TestRedisOutage(t *testing.T) {
	s := newStack(t)
	s.startAll()
	redisURL := testenv.Require(t, "REDIS_URL")
	proxy := testenv.NewProxy(t, testenv.HostPort(t, redisURL))
	admin := "http://" + freeAddr(t)
	edge := s.startEdge("edge-redis-proxy", "REDIS_URL="+proxy.Through(redisURL), "EDGE_ADMIN_ADDR="+strings.TrimPrefix(admin, "http://"))
	_, key := s.user("redis@example.org")
	proxy.Cut()
	for i := range 3 {
		if status, reply := s.postTo(edge, key, []byte(empty), nil); status != 202 {
			t.Fatalf("upload %d with Redis down: %d %s", i+1, status, reply)
		}
	}
	get := func(url string) (int, string) {
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	if status, body := get(admin + "/readyz"); status != 200 || !strings.Contains(body, "degraded") {
		t.Errorf("admin readyz with Redis down: %d %s", status, body)
	}
	if status, body := get(edge + "/readyz"); status != 200 || body != `{"status":"ready"}` {
		t.Errorf("public readyz with Redis down: %d %s", status, body)
	}
	if status, _ := get(edge + "/metrics"); status != 404 {
		t.Errorf("public /metrics beside an admin listener: %d", status)
	}
	if _, metrics := get(admin + "/metrics"); !strings.Contains(metrics, "healthexport_edge_ratelimit_fallback_total 3") {
		t.Errorf("fallback not counted:\n%s", grepLines(metrics, "ratelimit"))
	}
}

func grepLines(text, substr string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// Malformed Authorization headers are 401 with WWW-Authenticate, and no
// key, header or body reaches any log.
func TestMalformedAuthAndQuietLogs(t *testing.T) {
	s := newStack(t)
	s.startAll()
	_, key := s.user("quiet@example.org")
	for _, h := range []string{"Bearer", "Bearer ", "Token " + key, key, "Basic " + key, "Bearer hx_" + strings.Repeat("a", 16) + "_x", "Bearer " + key + "x"} {
		req, _ := http.NewRequest(http.MethodPost, s.edgeURL+"/v1/ingest", strings.NewReader(`{"data":{"metrics":[{"name":"secret_metric_body"}]}}`))
		req.Header.Set("Authorization", h)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 401 || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("Authorization %q: %d %v", h, resp.StatusCode, resp.Header)
		}
	}
	if status, _ := s.post(key, []byte(`{"data":{"metrics":[{"name":"secret_metric_body","data":[]}]}}`), nil); status != 202 {
		t.Fatal("the good key failed")
	}
	s.stopAll()
	for _, svc := range []string{"edge", "raw-archiver", "metric-writer"} {
		logs := s.logs(svc)
		for _, secret := range []string{key, strings.Split(key, "_")[2], "Authorization", "Bearer", "secret_metric_body"} {
			if strings.Contains(logs, secret) {
				t.Errorf("%s logs contain %q", svc, secret)
			}
		}
	}
}
