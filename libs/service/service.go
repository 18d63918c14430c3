// Package service is what every Health Export process does at start and
// stop: read and check its settings, apply migrations, open PostgreSQL and
// JetStream with readiness checks for both, and own its goroutines until
// every one has ended (Run).
package service

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	validation "github.com/go-ozzo/ozzo-validation/v4"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/healthexport/libs/config"
	"github.com/healthexport/libs/obs"
	"github.com/healthexport/libs/pgstore"
	"github.com/healthexport/libs/stream"
	"github.com/healthexport/migrations"
)

// Config are the settings every service reads.
type Config struct {
	Database pgstore.Config
	Log      obs.LogConfig
	Pprof    bool `env:"PPROF_ENABLED" envDefault:"false" help:"Serve /debug/pprof/ beside /metrics, for profiling a benchmark (off by default: profiles can reveal data)."`
	// ShutdownGrace bounds the shutdown: requests in flight, batches being
	// written, final flushes.
	ShutdownGrace time.Duration `env:"SHUTDOWN_GRACE" envDefault:"30s" help:"On SIGTERM, how long in-flight requests and batches get to finish before they are cut (a cut batch is redelivered)."`
	// GC is the runtime's GOGC, also read from .env and with a default of
	// its own: the services allocate per point, and at the runtime's 100
	// collection took a third of the metric-writer's CPU.
	GC int `env:"GOGC" envDefault:"200" help:"Go's garbage collection target, in percent the heap grows over what the last collection kept (the runtime's own default is 100): 200 costs less CPU per point than 100 for about half again the memory (make bench); 50 to 1000."`
	// MemoryLimit bounds what GOGC's headroom may take: near it the
	// runtime collects more often instead of growing.
	MemoryLimit MemoryLimit `env:"GOMEMLIMIT" envDefault:"400MiB" help:"Go's soft memory limit (the runtime's GOMEMLIMIT, also read from .env): near it the service collects garbage more often rather than grow; bytes with B, KiB, MiB, GiB or TiB, at least 64MiB, or off."`
}

// The GOGC values taken: below 50 collection costs more than it saves in
// memory; above 1000 one burst can take the heap far past its budget.
const (
	minGC = 50
	maxGC = 1000
	// Below this the services' own buffers (a batch, an upload's parts)
	// keep the collector running all the time.
	minMemoryLimit MemoryLimit = 64 << 20
)

// MemoryLimit is GOMEMLIMIT as the runtime reads it: a number of bytes with
// an optional unit (B, KiB, MiB, GiB, TiB), or off (no limit).
type MemoryLimit int64

// memoryUnits are the runtime's GOMEMLIMIT units, longest first.
var memoryUnits = []struct {
	suffix string
	shift  uint
}{{"KiB", 10}, {"MiB", 20}, {"GiB", 30}, {"TiB", 40}, {"B", 0}}

// UnmarshalText reads a GOMEMLIMIT value.
func (m *MemoryLimit) UnmarshalText(b []byte) error {
	s := strings.TrimSpace(string(b))
	if s == "off" {
		*m = math.MaxInt64
		return nil
	}
	shift := uint(0)
	for _, u := range memoryUnits {
		if n, ok := strings.CutSuffix(s, u.suffix); ok {
			s, shift = n, u.shift
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || n > math.MaxInt64>>shift {
		return fmt.Errorf("want bytes such as 400MiB, or off: %q", string(b))
	}
	*m = MemoryLimit(n << shift)
	return nil
}

// String writes the limit as the runtime takes it.
func (m MemoryLimit) String() string {
	if m == math.MaxInt64 {
		return "off"
	}
	return strconv.FormatInt(int64(m), 10) + "B"
}

// Validate checks the grace and the collection target.
func (c Config) Validate() error {
	return validation.ValidateStruct(&c, validation.Field(&c.ShutdownGrace, config.NonZero(), validation.Min(time.Second), validation.Max(time.Hour)),
		validation.Field(&c.GC, config.NonZero(), validation.Min(minGC), validation.Max(maxGC)),
		validation.Field(&c.MemoryLimit, config.NonZero(), validation.Min(minMemoryLimit)))
}

// Args handles a service's command line: --help-env prints its settings
// (cfg, a pointer to its settings struct) in .env form and tells the caller
// to stop; any other argument is an error.
func Args(args []string, stdout io.Writer, cfg any) (done bool, err error) {
	switch {
	case len(args) == 0:
		return false, nil
	case len(args) == 1 && args[0] == config.HelpEnvFlag:
		return true, config.WriteEnv(stdout, config.Describe(cfg))
	}
	return true, fmt.Errorf("unknown arguments %q: settings come from the environment and .env (%s lists them)", args, config.HelpEnvFlag)
}

// Settings reads cfg (a pointer to a struct with `env` tags) from the
// environment and .env, validates it and every settings struct inside it
// (config.Validate), applies LOG_LEVEL and logs it with secrets masked.
func Settings(log *slog.Logger, getenv func(string) string, name string, cfg any) error {
	getenv, err := config.FromEnvironment(getenv)
	if err != nil {
		return err
	}
	if err := config.Load(getenv, cfg); err != nil {
		return err
	}
	if err := config.Validate(cfg); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	if err := obs.SetLevel(log, getenv("LOG_LEVEL")); err != nil {
		return err
	}
	log.Info("starting "+name, "config", config.LogValue(cfg))
	return nil
}

// Deps are the connections a service holds.
type Deps struct {
	Pool    *pgxpool.Pool
	NC      *nats.Conn
	JS      jetstream.JetStream
	Ready   *obs.Readiness
	Metrics *prometheus.Registry
}

// Open sets the collection target, migrates the database, connects
// PostgreSQL and NATS, and makes sure the stream exists with the
// configured settings.
func Open(ctx context.Context, log *slog.Logger, name string, c Config, sc stream.Config) (*Deps, error) {
	debug.SetGCPercent(c.GC)
	debug.SetMemoryLimit(int64(c.MemoryLimit))
	databaseURL := c.Database.URL
	if err := migrations.Up(databaseURL); err != nil {
		return nil, err
	}
	pool, err := pgstore.Open(ctx, databaseURL, 0)
	if err != nil {
		return nil, err
	}
	nc, js, err := stream.Connect(ctx, log, sc, name)
	if err != nil {
		pool.Close()
		return nil, err
	}
	d := &Deps{Pool: pool, NC: nc, JS: js, Ready: obs.NewReadiness(), Metrics: obs.NewRegistry()}
	highest := func(ctx context.Context) (uint64, error) { return pgstore.HighestSeq(ctx, pool) }
	if _, err := stream.Ensure(ctx, js, sc, highest); err != nil {
		d.Close()
		return nil, err
	}
	d.Ready.Add("postgres", func(ctx context.Context) error { return pool.Ping(ctx) })
	d.Ready.Add("nats", func(context.Context) error {
		if s := nc.Status(); s != nats.CONNECTED {
			return fmt.Errorf("nats %s", s)
		}
		return nil
	})
	return d, nil
}

// Close releases the connections.
func (d *Deps) Close() {
	d.NC.Close()
	d.Pool.Close()
}
