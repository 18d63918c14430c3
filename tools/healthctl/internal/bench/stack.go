package bench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// stack is the pipeline the benchmark runs: the built binaries with its
// own database, stream, prefixes and ports, and a rate limit raised for
// the load (never a bypass in the edge).
type stack struct {
	env      []string
	procs    map[string]*exec.Cmd
	edgeURL  string
	metrics  map[string]string // service -> /metrics URL
	logDir   string
	natsPID  int
	binDir   string
	readyURL map[string]string
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

func startStack(ctx context.Context, cfg Config, dbURL, stream string) (*stack, error) {
	s := &stack{procs: map[string]*exec.Cmd{}, metrics: map[string]string{}, readyURL: map[string]string{}, binDir: cfg.BinDir}
	addrs := map[string]string{}
	for _, n := range []string{"edge", "raw-archiver", "metric-writer"} {
		a, err := freeAddr()
		if err != nil {
			return nil, err
		}
		addrs[n] = a
		s.metrics[n] = "http://" + a + "/metrics"
		s.readyURL[n] = "http://" + a + "/readyz"
	}
	s.edgeURL = "http://" + addrs["edge"]
	dir, err := os.MkdirTemp("", "health-bench-logs-")
	if err != nil {
		return nil, err
	}
	s.logDir = dir
	s.env = []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + os.Getenv("HOME"),
		"ENV_FILE=" + filepath.Join(dir, "none.env"),
		"LOG_LEVEL=warn",
		"DATABASE_URL=" + dbURL,
		"REDIS_URL=" + cfg.RedisURL,
		"REDIS_KEY_PREFIX=bench:",
		"NATS_URL=" + cfg.NATSURL,
		"STREAM_NAME=" + stream,
		"SUBJECT_PREFIX=" + strings.ToLower(stream),
		"DURABLE_PREFIX=" + strings.ToLower(stream) + "-",
		"STREAM_MAX_BYTES=8589934592",
		"STREAM_MAX_AGE=24h",
		"STREAM_DUPLICATE_WINDOW=1h",
		"EDGE_ADDR=" + addrs["edge"],
		"ARCHIVER_METRICS_ADDR=" + addrs["raw-archiver"],
		"WRITER_METRICS_ADDR=" + addrs["metric-writer"],
		// The load would spend any hourly allowance in seconds: the
		// benchmark's own edge runs with a limit no device reaches.
		"RATE_LIMIT_REQUESTS=100000000",
		"RATE_LIMIT_WINDOW=1h",
	}
	s.env = append(s.env, cfg.ExtraEnv...)
	if cfg.ProfileDir != "" {
		s.env = append(s.env, "PPROF_ENABLED=true")
	}
	for _, n := range []string{"raw-archiver", "metric-writer", "edge"} {
		if err := s.start(n); err != nil {
			s.stop()
			return nil, err
		}
	}
	for _, n := range []string{"raw-archiver", "metric-writer", "edge"} {
		if err := waitReady(ctx, s.readyURL[n]); err != nil {
			s.stop()
			return nil, fmt.Errorf("%s: %w (logs in %s)", n, err, dir)
		}
	}
	s.natsPID = findPID("nats-server")
	return s, nil
}

func (s *stack) start(name string) error {
	cmd := exec.Command(filepath.Join(s.binDir, name))
	cmd.Env = s.env
	cmd.Dir = s.logDir
	// Killed with the test (or benchmark) even when it dies without cleaning up.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	f, err := os.Create(filepath.Join(s.logDir, name+".log"))
	if err != nil {
		return err
	}
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", name, err)
	}
	s.procs[name] = cmd
	return nil
}

func (s *stack) stop() {
	for _, n := range []string{"edge", "metric-writer", "raw-archiver"} {
		cmd := s.procs[n]
		if cmd == nil {
			continue
		}
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
		}
	}
}

func waitReady(ctx context.Context, url string) error {
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not ready: %v", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// pids are the processes whose memory is sampled.
func (s *stack) pids() map[string]int {
	out := map[string]int{}
	for n, c := range s.procs {
		out[n] = c.Process.Pid
	}
	if s.natsPID > 0 {
		out["nats-server"] = s.natsPID
	}
	return out
}

// findPID finds a process by its command name (the nats-server the stack
// uses, started by `make deps` or by hand).
func findPID(comm string) int {
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "comm"))
		if err == nil && strings.TrimSpace(string(b)) == comm {
			return pid
		}
	}
	return 0
}

// rssMiB is a process's resident set size now.
func rssMiB(pid int) float64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			return kb / 1024
		}
	}
	return 0
}

// deleteStream removes the benchmark's stream from the shared server.
func deleteStream(natsURL, name string) {
	nc, err := nats.Connect(natsURL)
	if err != nil {
		return
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = js.DeleteStream(ctx, name)
}

// profile takes CPU profiles of the services for d, in the background;
// the returned function waits for them.
func profile(ctx context.Context, cfg Config, st *stack, d time.Duration) func() {
	if cfg.ProfileDir == "" {
		return func() {}
	}
	_ = os.MkdirAll(cfg.ProfileDir, 0o755)
	var wg sync.WaitGroup
	for name, metricsURL := range st.metrics {
		wg.Add(1)
		go func() {
			defer wg.Done()
			url := strings.TrimSuffix(metricsURL, "/metrics") + fmt.Sprintf("/debug/pprof/profile?seconds=%d", int(d.Seconds()))
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				fmt.Fprintf(cfg.Out, "profile %s: %v\n", name, err)
				return
			}
			defer resp.Body.Close()
			f, err := os.Create(filepath.Join(cfg.ProfileDir, name+".cpu.pprof"))
			if err != nil {
				return
			}
			defer f.Close()
			_, _ = io.Copy(f, resp.Body)
		}()
	}
	return wg.Wait
}

// cpuSeconds is the CPU time (user + system) processes have used: by pid
// for the stack's own, and summed over every process of a command name
// (PostgreSQL's backends).
func cpuSeconds(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	end := strings.LastIndexByte(string(b), ')')
	f := strings.Fields(string(b[end+1:]))
	if end < 0 || len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseFloat(f[11], 64)
	s, _ := strconv.ParseFloat(f[12], 64)
	return (u + s) / 100 // clock ticks of 10 ms
}

func cpuSecondsOf(comm string) float64 {
	total := 0.0
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "comm"))
		if err == nil && strings.TrimSpace(string(b)) == comm {
			total += cpuSeconds(pid)
		}
	}
	return total
}

// cpuNow is every component's CPU time so far.
func (s *stack) cpuNow() map[string]float64 {
	out := map[string]float64{"postgres": cpuSecondsOf("postgres")}
	for name, pid := range s.pids() {
		out[name] = cpuSeconds(pid)
	}
	return out
}
