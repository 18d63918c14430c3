package bench

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/healthexport/libs/stream"
	"github.com/healthexport/tools/proving/internal/proc"
)

// stack is the pipeline the benchmark runs: the built binaries with its
// own database, stream, prefixes and ports, and a rate limit raised for
// the load (never a bypass in the edge).
type stack struct {
	env      []string
	procs    map[string]*proc.Proc
	edgeURL  string
	metrics  map[string]string // service -> /metrics URL
	logDir   string
	natsPID  int
	binDir   string
	readyURL map[string]string
}

func startStack(ctx context.Context, cfg Config, dbURL, stream string) (*stack, error) {
	s := &stack{procs: map[string]*proc.Proc{}, metrics: map[string]string{}, readyURL: map[string]string{}, binDir: cfg.BinDir}
	// Instances in start order: the consumers (more of them with
	// cfg.Writers, sharing the durables as they do in a cluster), the edge.
	var names []string
	for _, bin := range []string{"raw-archiver", "metric-writer"} {
		names = append(names, bin)
		for i := 2; i <= cfg.Writers; i++ {
			names = append(names, fmt.Sprintf("%s-%d", bin, i))
		}
	}
	names = append(names, "edge")
	addrs, err := proc.FreeAddrs(names...)
	if err != nil {
		return nil, err
	}
	for n, a := range addrs {
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
		// The load would spend any hourly allowance in seconds: the
		// benchmark's own edge runs with a limit no device reaches.
		"RATE_LIMIT_REQUESTS=100000000",
		"RATE_LIMIT_WINDOW=1h",
		"QUOTA_BYTES_PER_DAY=1099511627776",
	}
	s.env = append(s.env, cfg.ExtraEnv...)
	if cfg.ProfileDir != "" {
		s.env = append(s.env, "PPROF_ENABLED=true")
	}
	addrVar := map[string]string{"edge": "EDGE_ADDR", "raw-archiver": "ARCHIVER_METRICS_ADDR", "metric-writer": "WRITER_METRICS_ADDR"}
	for _, n := range names {
		bin := proc.Binary(n)
		env := append(slices.Clone(s.env), addrVar[bin]+"="+addrs[n])
		p, err := proc.Start(proc.Spec{Name: n, Path: filepath.Join(s.binDir, bin), Env: env, Dir: s.logDir})
		if err != nil {
			s.stop()
			return nil, err
		}
		s.procs[n] = p
	}
	for _, n := range names {
		if err := proc.WaitHTTP(ctx, s.readyURL[n], time.Minute); err != nil {
			s.stop()
			return nil, fmt.Errorf("%s: %w (logs in %s)", n, err, dir)
		}
	}
	s.natsPID = proc.FindPID("nats-server")
	return s, nil
}

func (s *stack) stop() {
	for n, p := range s.procs {
		if proc.Binary(n) == "edge" {
			_ = p.Stop(syscall.SIGTERM, 20*time.Second)
		}
	}
	for n, p := range s.procs {
		if proc.Binary(n) != "edge" {
			_ = p.Stop(syscall.SIGTERM, 20*time.Second)
		}
	}
}

// pids are the processes whose memory is sampled.
func (s *stack) pids() map[string]int {
	out := map[string]int{}
	for n, c := range s.procs {
		out[n] = c.Pid()
	}
	if s.natsPID > 0 {
		out["nats-server"] = s.natsPID
	}
	return out
}

// deleteStream removes the benchmark's stream from the shared server.
func deleteStream(natsURL, name string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = stream.DeleteStream(ctx, stream.Config{URL: natsURL, Name: name})
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

// cpuNow is every component's CPU time so far (its instances together).
func (s *stack) cpuNow() map[string]float64 {
	out := map[string]float64{"postgres": proc.CPUSecondsOf("postgres")}
	for name, pid := range s.pids() {
		out[proc.Binary(name)] += proc.CPUSeconds(pid)
	}
	return out
}
