package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strings"
	"time"

	validation "github.com/go-ozzo/ozzo-validation/v4"
	"github.com/nats-io/nats.go"
	"golang.org/x/sync/errgroup"

	"github.com/healthexport/libs/apikey"
	"github.com/healthexport/libs/ingestions"
	"github.com/healthexport/libs/kind"
	"github.com/healthexport/libs/obs"
	"github.com/healthexport/libs/query"
	"github.com/healthexport/libs/ratelimit"
	"github.com/healthexport/libs/service"
	"github.com/healthexport/libs/stream"
	"github.com/healthexport/schema"
	"github.com/healthexport/services/edge/internal/ingest"
	"github.com/healthexport/services/edge/internal/server"
)

type settings struct {
	Addr             string        `env:"EDGE_ADDR" envDefault:"127.0.0.1:8080"`
	AdminAddr        string        `env:"EDGE_ADMIN_ADDR"`
	DatabaseURL      string        `env:"DATABASE_URL,required" mask:"url"`
	LogLevel         string        `env:"LOG_LEVEL" envDefault:"info"`
	Pprof            bool          `env:"PPROF_ENABLED"`
	MaxBodyBytes     int64         `env:"INGEST_MAX_BODY_BYTES" envDefault:"268435456"`
	PartMaxBytes     int           `env:"INGEST_PART_MAX_BYTES" envDefault:"524288"`
	SpoolMemoryBytes int64         `env:"INGEST_SPOOL_MEMORY_BYTES" envDefault:"4194304"`
	SpoolDir         string        `env:"INGEST_SPOOL_DIR"`
	BodyTimeout      time.Duration `env:"INGEST_BODY_TIMEOUT" envDefault:"10m"`
	HeaderTimeout    time.Duration `env:"HTTP_HEADER_TIMEOUT" envDefault:"10s"`
	PublishTimeout   time.Duration `env:"INGEST_PUBLISH_TIMEOUT" envDefault:"10s"`
	ShutdownGrace    time.Duration `env:"SHUTDOWN_GRACE" envDefault:"30s"`
	ProxyHeader      string        `env:"EDGE_PROXY_HEADER"`
	TrustedProxies   []string      `env:"EDGE_TRUSTED_PROXIES" envSeparator:","`
	RedisURL         string        `env:"REDIS_URL,required" mask:"url"`
	RedisKeyPrefix   string        `env:"REDIS_KEY_PREFIX" envDefault:"hx:"`
	RateRequests     int           `env:"RATE_LIMIT_REQUESTS" envDefault:"100"`
	RateWindow       time.Duration `env:"RATE_LIMIT_WINDOW" envDefault:"1h"`
	AuthCacheTTL     time.Duration `env:"AUTH_CACHE_TTL" envDefault:"60s"`
	AuthStaleGrace   time.Duration `env:"AUTH_STALE_GRACE" envDefault:"10m"`
	AuthMaxHashing   int           `env:"AUTH_MAX_CONCURRENT_HASHES" envDefault:"4"`
	AuthHashQueue    int           `env:"AUTH_HASH_QUEUE" envDefault:"32"`
	AuthHashWait     time.Duration `env:"AUTH_HASH_WAIT" envDefault:"2s"`
	AuthFailures     int           `env:"AUTH_FAILURES_PER_MINUTE" envDefault:"10"`
	Stream           stream.Config
}

func (s settings) Validate() error {
	return validation.ValidateStruct(&s,
		validation.Field(&s.Addr, validation.Required),
		validation.Field(&s.MaxBodyBytes, validation.Min(int64(1024))),
		// A part must fit a message with room for its wrapping and headers.
		validation.Field(&s.PartMaxBytes, validation.Min(1024), validation.Max(stream.MaxMessageBytes/2)),
		validation.Field(&s.SpoolMemoryBytes, validation.Min(int64(0))),
		validation.Field(&s.BodyTimeout, validation.Min(time.Second)),
		validation.Field(&s.HeaderTimeout, validation.Min(100*time.Millisecond)),
		validation.Field(&s.PublishTimeout, validation.Min(100*time.Millisecond)),
		validation.Field(&s.RateRequests, validation.Min(1)),
		validation.Field(&s.RateWindow, validation.Min(time.Second)),
		// The cache is a convenience; revocations must not wait longer.
		validation.Field(&s.AuthCacheTTL, validation.Min(time.Duration(0)), validation.Max(time.Minute)),
		validation.Field(&s.AuthStaleGrace, validation.Min(time.Duration(0)), validation.Max(10*time.Minute)),
		validation.Field(&s.AuthMaxHashing, validation.Min(1)),
		validation.Field(&s.AuthHashQueue, validation.Min(0)),
		validation.Field(&s.AuthFailures, validation.Min(1)),
		// A proxy header from anyone would let every client pick the
		// address its failed keys are counted by.
		validation.Field(&s.TrustedProxies, validation.When(s.ProxyHeader != "", validation.Required.Error(
			"EDGE_PROXY_HEADER is read only from the proxies in EDGE_TRUSTED_PROXIES: list them (e.g. 127.0.0.1/32 for a proxy on this host)")),
			validation.By(func(any) error { _, err := prefixes(s.TrustedProxies); return err })),
		validation.Field(&s.Stream),
	)
}

func run(ctx context.Context, log *slog.Logger, getenv func(string) string, _ io.Writer) error {
	var cfg settings
	if err := service.Settings(log, getenv, "edge", &cfg); err != nil {
		return err
	}
	if cfg.SpoolDir == "" {
		cfg.SpoolDir = os.TempDir()
	}
	deps, err := service.Open(ctx, log, "edge", cfg.DatabaseURL, cfg.Stream)
	if err != nil {
		return err
	}
	defer deps.Close()
	reg := obs.Edge.Registerer(deps.Metrics)
	pipeline := ingest.New(deps.JS, kind.New(), cfg.Stream, ingest.Config{
		PartMaxBytes:   cfg.PartMaxBytes,
		MaxInFlight:    16,
		PublishTimeout: cfg.PublishTimeout,
	}, reg)
	keys := apikey.NewStore(deps.Pool, apikey.DefaultParams())
	verifier := apikey.NewVerifier(keys, apikey.VerifierConfig{
		TTL:               cfg.AuthCacheTTL,
		StaleGrace:        cfg.AuthStaleGrace,
		MaxHashing:        cfg.AuthMaxHashing,
		HashQueue:         cfg.AuthHashQueue,
		HashWait:          cfg.AuthHashWait,
		FailuresPerMinute: cfg.AuthFailures,
		TouchEvery:        10 * time.Second,
	}, log, reg)
	bgCtx, stopBg := context.WithCancel(context.WithoutCancel(ctx))
	defer stopBg()
	go verifier.Run(bgCtx)

	// Revocations from any edge or healthctl reach this one at once.
	sub, err := deps.NC.Subscribe(cfg.Stream.RevokeSubject(), func(m *nats.Msg) { verifier.Revoked(string(m.Data)) })
	if err != nil {
		return fmt.Errorf("subscribe to revocations: %w", err)
	}
	defer sub.Unsubscribe() //nolint:errcheck
	revoked := func(keyID string) error {
		verifier.Revoked(keyID)
		return deps.NC.Publish(cfg.Stream.RevokeSubject(), []byte(keyID))
	}

	rdb, err := ratelimit.Connect(cfg.RedisURL)
	if err != nil {
		return err
	}
	defer rdb.Close()
	limiter := ratelimit.New(log, rdb, cfg.RedisKeyPrefix, cfg.RateRequests, cfg.RateWindow, reg)
	deps.Ready.AddOptional("redis", func(ctx context.Context) error {
		if err := rdb.Ping(ctx).Err(); err != nil {
			return fmt.Errorf("rate limiting in-process: %w", err)
		}
		return nil
	})

	trusted, err := prefixes(cfg.TrustedProxies)
	if err != nil {
		return err
	}
	srv := server.New(log, server.Config{
		MaxBodyBytes:     cfg.MaxBodyBytes,
		SpoolMemoryBytes: cfg.SpoolMemoryBytes,
		SpoolDir:         cfg.SpoolDir,
		HeaderTimeout:    cfg.HeaderTimeout,
		BodyTimeout:      cfg.BodyTimeout,
		ProxyHeader:      cfg.ProxyHeader,
		TrustedProxies:   trusted,
		Pprof:            cfg.Pprof,
		Admin:            cfg.AdminAddr != "",
	}, server.Deps{Auth: verifier, Limiter: limiter, Keys: keys, Ingest: pipeline, Revoked: revoked,
		Ingestions: ingestions.NewStore(deps.Pool), Query: query.NewStore(deps.Pool)},
		deps.Ready, deps.Metrics, reg, schema.OpenAPI())

	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", cfg.Addr, err)
	}
	log.Info("edge listening", "addr", ln.Addr().String())
	// The API and the admin listener end together: the first to fail
	// stops the other.
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		if err := srv.Serve(gctx, ln, cfg.ShutdownGrace); err != nil {
			return fmt.Errorf("serve: %w", err)
		}
		return nil
	})
	if cfg.AdminAddr != "" {
		g.Go(func() error {
			return obs.Serve(gctx, log, cfg.AdminAddr, obs.Handler(deps.Ready, deps.Metrics, cfg.Pprof))
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	// Every request has been answered; publishes in flight are flushed.
	if err := deps.NC.Drain(); err != nil {
		log.Warn("nats drain", "err", err)
	}
	log.Info("edge stopped cleanly")
	return nil
}

// prefixes parses EDGE_TRUSTED_PROXIES: CIDR prefixes, or single addresses.
func prefixes(list []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, v := range list {
		v = strings.TrimSpace(v)
		if v == "" {
			continue
		}
		if a, err := netip.ParseAddr(v); err == nil {
			out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(v)
		if err != nil {
			return nil, fmt.Errorf("EDGE_TRUSTED_PROXIES: %q is neither an address nor a CIDR prefix", v)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}
