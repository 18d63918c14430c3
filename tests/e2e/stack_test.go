// Package e2e starts the built binaries (edge, raw-archiver, metric-writer,
// healthctl) against the real PostgreSQL, Redis and NATS, with this test's
// own database, stream, subject and durable prefixes, and ports: it runs
// beside a running stack without touching it.
package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/healthexport/libs/testenv"
)

// binaries builds the four commands once per test binary, unless
// HEALTH_BIN_DIR (set by `make test`) already holds them.
var (
	binOnce sync.Once
	binDir  string
	binErr  error
)

func bins(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		if d := os.Getenv("HEALTH_BIN_DIR"); d != "" {
			binDir = d
			return
		}
		root := testenv.RepoRoot()
		dir, err := os.MkdirTemp("", "health-e2e-bin-")
		if err != nil {
			binErr = err
			return
		}
		cmd := exec.Command("go", "build", "-o", dir+"/", "./services/edge", "./services/raw-archiver", "./services/metric-writer", "./tools/healthctl")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			binErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
		binDir = dir
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binDir
}

// stack is one running pipeline.
type stack struct {
	t       *testing.T
	env     []string
	edgeURL string
	// readyURLs are every service's /readyz: the consumers exist once the
	// archiver and writer are ready, so draining can be trusted.
	readyURLs map[string]string
	db        *testenv.Database
	names     testenv.Names
	natsURL   string
	logDir    string
	procs     map[string]*exec.Cmd
	mu        sync.Mutex
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// newStack prepares settings; start launches the services.
func newStack(t *testing.T, extra ...string) *stack {
	t.Helper()
	s := &stack{t: t, db: testenv.NewDatabase(t), names: testenv.NewNames(), natsURL: testenv.NATSURL(t), logDir: t.TempDir(), procs: map[string]*exec.Cmd{}}
	testenv.DeleteStreamOnCleanup(t, s.natsURL, s.names.Stream)
	edgeAddr, archiverAddr, writerAddr := freeAddr(t), freeAddr(t), freeAddr(t)
	s.edgeURL = "http://" + edgeAddr
	s.readyURLs = map[string]string{
		"edge":          s.edgeURL + "/readyz",
		"raw-archiver":  "http://" + archiverAddr + "/readyz",
		"metric-writer": "http://" + writerAddr + "/readyz",
	}
	s.env = append([]string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + os.Getenv("HOME"),
		"ENV_FILE=" + filepath.Join(s.logDir, "no.env"),
		"LOG_LEVEL=info",
		"DATABASE_URL=" + s.db.URL,
		"REDIS_URL=" + testenv.Require(t, "REDIS_URL"),
		"REDIS_KEY_PREFIX=" + s.names.RedisPrefix,
		"NATS_URL=" + s.natsURL,
		"STREAM_NAME=" + s.names.Stream,
		"SUBJECT_PREFIX=" + s.names.SubjectPrefix,
		"DURABLE_PREFIX=" + s.names.DurablePrefix,
		"STREAM_MAX_BYTES=1073741824",
		"STREAM_MAX_AGE=1h",
		"STREAM_DUPLICATE_WINDOW=10m",
		"EDGE_ADDR=" + edgeAddr,
		"ARCHIVER_METRICS_ADDR=" + archiverAddr,
		"WRITER_METRICS_ADDR=" + writerAddr,
		"BATCH_MAX_AGE=50ms",
	}, extra...)
	t.Cleanup(s.stopAll)
	return s
}

// healthctl runs the CLI and returns its stdout.
func (s *stack) healthctl(args ...string) string {
	s.t.Helper()
	out, _ := s.healthctlErr(args...)
	return strings.TrimSpace(out)
}

// user creates a user and a key with healthctl, as an operator would.
func (s *stack) user(email string) (userID, key string) {
	s.t.Helper()
	userID = s.healthctl("users", "create", "--email", email)
	key = s.healthctl("keys", "create", "--email", email, "--name", "e2e")
	if !strings.HasPrefix(key, "hx_") || strings.Contains(key, "\n") {
		s.t.Fatalf("keys create printed %q, want only the key", key)
	}
	return userID, key
}

func (s *stack) start(name string) { s.startAs(name, name) }

// startAs runs binary under another name (a second edge, say) with extra
// settings overriding the stack's.
func (s *stack) startAs(label, binary string, env ...string) {
	s.t.Helper()
	cmd := exec.Command(filepath.Join(bins(s.t), binary))
	cmd.Env = append(append([]string{}, s.env...), env...)
	cmd.Dir = s.logDir
	// Killed with the test (or benchmark) even when it dies without cleaning up.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	f, err := os.OpenFile(filepath.Join(s.logDir, label+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		s.t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	s.mu.Lock()
	s.procs[label] = cmd
	s.mu.Unlock()
}

// startEdge starts another edge on a free port with extra settings and
// returns its URL once it is ready.
func (s *stack) startEdge(label string, env ...string) string {
	s.t.Helper()
	addr := freeAddr(s.t)
	url := "http://" + addr
	s.readyURLs[label] = url + "/readyz"
	s.startAs(label, "edge", append([]string{"EDGE_ADDR=" + addr}, env...)...)
	s.waitReady(label)
	return url
}

func (s *stack) startAll() {
	s.t.Helper()
	for _, name := range []string{"raw-archiver", "metric-writer", "edge"} {
		s.start(name)
	}
	for _, name := range []string{"raw-archiver", "metric-writer", "edge"} {
		s.waitReady(name)
	}
}

// startInTurn starts the services one after the other, each ready before
// the next: for a nats-server running inside the test binary, whose
// stream update and consumer creation, asked at once by two services,
// race in its own code (go test -race reports it).
func (s *stack) startInTurn() {
	s.t.Helper()
	for _, name := range []string{"raw-archiver", "metric-writer", "edge"} {
		s.start(name)
		s.waitReady(name)
	}
}

// waitReady polls a service's /readyz until it answers 200.
func (s *stack) waitReady(name string) {
	s.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(s.readyURLs[name])
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("%s not ready: %v\n%s", name, err, s.logs(name))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// signal sends sig to a service and, for SIGKILL and SIGTERM, waits for
// it to exit; it returns the exit error.
func (s *stack) signal(name string, sig syscall.Signal) error {
	s.t.Helper()
	s.mu.Lock()
	cmd := s.procs[name]
	delete(s.procs, name)
	s.mu.Unlock()
	if cmd == nil {
		return nil
	}
	if err := cmd.Process.Signal(sig); err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		return fmt.Errorf("%s did not exit within 30 s of %v", name, sig)
	}
}

func (s *stack) stopAll() {
	s.mu.Lock()
	var extra []string
	for name := range s.procs {
		if name != "edge" && name != "metric-writer" && name != "raw-archiver" {
			extra = append(extra, name)
		}
	}
	s.mu.Unlock()
	for _, name := range append(extra, "edge", "metric-writer", "raw-archiver") {
		if err := s.signal(name, syscall.SIGTERM); err != nil {
			s.t.Errorf("stop %s: %v\n%s", name, err, tail(s.logs(name), 5))
		}
	}
}

func (s *stack) logs(name string) string {
	b, _ := os.ReadFile(filepath.Join(s.logDir, name+".log"))
	return string(b)
}

// post sends a body as a device would.
func (s *stack) post(key string, body []byte, headers map[string]string) (int, string) {
	s.t.Helper()
	return s.postTo(s.edgeURL, key, body, headers)
}

// postTo sends a body to a given edge.
func (s *stack) postTo(edgeURL, key string, body []byte, headers map[string]string) (int, string) {
	s.t.Helper()
	req, err := http.NewRequest(http.MethodPost, edgeURL+"/v1/ingest", bytes.NewReader(body))
	if err != nil {
		s.t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// drained waits until every consumer of the test's stream has nothing
// pending and nothing unacknowledged.
func (s *stack) drained(timeout time.Duration) {
	s.t.Helper()
	nc, err := nats.Connect(s.natsURL)
	if err != nil {
		s.t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx := context.Background()
	deadline := time.Now().Add(timeout)
	for {
		busy := ""
		st, err := js.Stream(ctx, s.names.Stream)
		if err == nil {
			lister := st.ListConsumers(ctx)
			for c := range lister.Info() {
				if c.NumPending > 0 || c.NumAckPending > 0 {
					busy += fmt.Sprintf(" %s(pending %d, ack-pending %d)", c.Name, c.NumPending, c.NumAckPending)
				}
			}
		} else {
			busy = err.Error()
		}
		if busy == "" {
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("consumers not drained after %v:%s", timeout, busy)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (s *stack) count(sql string, args ...any) int {
	s.t.Helper()
	var n int
	if err := s.db.Pool.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		s.t.Fatalf("%s: %v", sql, err)
	}
	return n
}

func (s *stack) text(sql string, args ...any) string {
	s.t.Helper()
	var v string
	if err := s.db.Pool.QueryRow(context.Background(), sql, args...).Scan(&v); err != nil {
		s.t.Fatalf("%s: %v", sql, err)
	}
	return v
}

// tail is the last n lines of a log.
func tail(log string, n int) string {
	lines := strings.Split(strings.TrimRight(log, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
