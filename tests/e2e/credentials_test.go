package e2e

import (
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/redis/go-redis/v9"

	"github.com/healthexport/libs/testenv"
)

// redisWithPassword runs a redis-server of this test's own on a free port,
// requiring adminPassword of its default user, with an ACL user user/password
// allowed every command; it returns the server's address.
func redisWithPassword(t *testing.T, adminPassword, user, password string) string {
	t.Helper()
	addr := freeAddr(t)
	_, port, _ := strings.Cut(addr, ":")
	cmd := exec.Command("redis-server", "--port", port, "--bind", "127.0.0.1", "--requirepass", adminPassword,
		"--save", "", "--appendonly", "no", "--dir", t.TempDir())
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("redis-server: %v", err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	admin := redis.NewClient(&redis.Options{Addr: addr, Password: adminPassword})
	defer admin.Close()
	ctx := context.Background()
	for deadline := time.Now().Add(10 * time.Second); admin.Ping(ctx).Err() != nil; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("redis-server did not start")
		}
	}
	if err := admin.Do(ctx, "ACL", "SETUSER", user, "on", ">"+password, "~*", "+@all").Err(); err != nil {
		t.Fatal(err)
	}
	return addr
}

// TestServiceCredentials: the services and healthctl sign in to a NATS
// that requires a user and password (NATS_USER, NATS_PASSWORD) and to a
// Redis that requires a password, as an ACL user (REDIS_USERNAME,
// REDIS_PASSWORD): an upload goes through, the rate limit is shared in Redis
// (not decided in-process), healthctl reaches the stream. With a wrong
// password, healthctl is refused and an edge limits in-process.
func TestServiceCredentials(t *testing.T) {
	natsURL := testenv.NATSServerWith(t, func(o *server.Options) { o.Username, o.Password = "health", "nats-s3cret" })
	redisAddr := redisWithPassword(t, "admin-s3cret", "edge", "redis-s3cret")
	admin := freeAddr(t)
	s := newStack(t, "NATS_URL="+natsURL, "NATS_USER=health", "NATS_PASSWORD=nats-s3cret",
		"REDIS_URL=redis://"+redisAddr+"/0", "REDIS_USERNAME=edge", "REDIS_PASSWORD=redis-s3cret", "EDGE_ADMIN_ADDR="+admin)
	// The harness's own look at the stream signs in too.
	s.natsURL = strings.Replace(natsURL, "nats://", "nats://health:nats-s3cret@", 1)
	s.startInTurn()
	_, key := s.user("creds@example.org")
	if status, reply := s.post(key, heartRateBody(0, 5), nil); status != 202 {
		t.Fatalf("upload: %d %s", status, reply)
	}
	s.drained(30 * time.Second)
	if n := s.count(`SELECT count(*) FROM heart_rate_metrics`); n != 5 {
		t.Errorf("%d heart-rate rows, want 5", n)
	}
	get := func(url string) string {
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	if body := get("http://" + admin + "/readyz"); strings.Contains(body, "degraded") {
		t.Errorf("the edge does not reach Redis with its credentials: %s", body)
	}
	if metrics := get("http://" + admin + "/metrics"); !strings.Contains(metrics, "healthexport_edge_ratelimit_fallback_total 0") {
		t.Errorf("rate limit decided in-process:\n%s", grepLines(metrics, "ratelimit"))
	}
	if out := s.healthctl("lag"); !strings.Contains(out, "writer-") && !strings.Contains(out, "archiver") {
		t.Errorf("healthctl lag: %s", out)
	}

	// A wrong password is refused, not ignored.
	env := s.env
	s.env = append(append([]string{}, env...), "NATS_PASSWORD=wrong")
	_, stderr, err := s.healthctlResult("lag")
	s.env = env
	if err == nil || !strings.Contains(strings.ToLower(stderr), "authorization") {
		t.Errorf("healthctl lag with a wrong NATS_PASSWORD: %v %s", err, stderr)
	}
	if strings.Contains(stderr, "wrong") {
		t.Errorf("healthctl printed the password: %s", stderr)
	}
	wrongAdmin := freeAddr(t)
	edge := s.startEdge("edge-wrong-redis", "REDIS_PASSWORD=wrong", "EDGE_ADMIN_ADDR="+wrongAdmin)
	if status, reply := s.postTo(edge, key, heartRateBody(5, 1), nil); status != 202 {
		t.Fatalf("upload through the edge with a wrong Redis password: %d %s", status, reply)
	}
	if body := get("http://" + wrongAdmin + "/readyz"); !strings.Contains(body, "degraded") {
		t.Errorf("an edge with a wrong Redis password says: %s", body)
	}
	logs, _ := filepath.Glob(filepath.Join(s.logDir, "*.log"))
	for _, l := range logs {
		if b, _ := os.ReadFile(l); strings.Contains(string(b), "s3cret") {
			t.Errorf("%s logs a password", filepath.Base(l))
		}
	}
}
