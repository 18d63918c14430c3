package obs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	httppprof "net/http/pprof"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Check reports whether one dependency is usable; nil means ready.
type Check func(ctx context.Context) error

// Readiness runs named checks and turns not-ready once shutdown begins.
type Readiness struct {
	checks   map[string]Check
	optional map[string]bool
	order    []string
	shutting atomic.Bool
}

// NewReadiness returns an empty set of checks.
func NewReadiness() *Readiness {
	return &Readiness{checks: map[string]Check{}, optional: map[string]bool{}}
}

// Add registers a dependency check.
func (r *Readiness) Add(name string, c Check) {
	r.checks[name] = c
	r.order = append(r.order, name)
}

// AddOptional registers a dependency the service can do without for a
// while: its failure shows as "degraded: ..." but keeps the service ready.
func (r *Readiness) AddOptional(name string, c Check) {
	r.Add(name, c)
	r.optional[name] = true
}

// MarkOptional makes a registered check optional (see AddOptional): for a
// service that can do without a dependency every service has.
func (r *Readiness) MarkOptional(name string) { r.optional[name] = true }

// ShuttingDown makes every later readiness answer 503, so load balancers
// stop sending work before the process stops serving it.
func (r *Readiness) ShuttingDown() { r.shutting.Store(true) }

// Status runs every check with a short deadline and returns per-check
// results ("ok" or the error) and whether all passed.
func (r *Readiness) Status(ctx context.Context) (map[string]string, bool) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	out := make(map[string]string, len(r.checks)+1)
	ok := true
	if r.shutting.Load() {
		out["shutdown"] = "in progress"
		ok = false
	}
	for _, name := range r.order {
		if err := r.checks[name](ctx); err != nil {
			if r.optional[name] {
				out[name] = "degraded: " + err.Error()
				continue
			}
			out[name] = err.Error()
			ok = false
			continue
		}
		out[name] = "ok"
	}
	return out, ok
}

// NewRegistry returns a Prometheus registry with the Go and process
// collectors; each service registers its own metrics on it.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// Handler serves /livez, /readyz (and the spec's /health and /ready) and
// /metrics, for the services that have no public HTTP API.
// With pprof, /debug/pprof/ is served too (PPROF_ENABLED: for profiling a
// benchmark, off by default: profiles can reveal data).
func Handler(ready *Readiness, reg *prometheus.Registry, pprof bool) http.Handler {
	mux := http.NewServeMux()
	if pprof {
		mux.HandleFunc("GET /debug/pprof/", httppprof.Index)
		mux.HandleFunc("GET /debug/pprof/profile", httppprof.Profile)
		mux.HandleFunc("GET /debug/pprof/trace", httppprof.Trace)
		mux.HandleFunc("GET /debug/pprof/symbol", httppprof.Symbol)
	}
	live := func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	}
	readyz := func(w http.ResponseWriter, r *http.Request) {
		checks, ok := ready.Status(r.Context())
		code := http.StatusOK
		status := "ready"
		if !ok {
			code, status = http.StatusServiceUnavailable, "not ready"
		}
		writeJSON(w, code, map[string]any{"status": status, "checks": checks})
	}
	mux.HandleFunc("GET /livez", live)
	mux.HandleFunc("GET /health", live)
	mux.HandleFunc("GET /readyz", readyz)
	mux.HandleFunc("GET /ready", readyz)
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	return mux
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// Serve runs an HTTP server on addr until ctx ends, then shuts it down.
func Serve(ctx context.Context, log *slog.Logger, addr string, h http.Handler) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", addr, err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	log.Info("serving health and metrics", "addr", ln.Addr().String())
	select {
	case err := <-errc:
		return fmt.Errorf("serve %s: %w", addr, err)
	case <-ctx.Done():
	}
	shutCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("shutdown %s: %w", addr, err)
	}
	return nil
}
