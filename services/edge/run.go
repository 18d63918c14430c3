package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"regexp"
	"strings"
	"time"

	validation "github.com/go-ozzo/ozzo-validation/v4"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/redis/go-redis/v9"

	"github.com/healthexport/libs/apikey"
	"github.com/healthexport/libs/config"
	"github.com/healthexport/libs/importer"
	"github.com/healthexport/libs/ingest"
	"github.com/healthexport/libs/ingestions"
	"github.com/healthexport/libs/kind"
	"github.com/healthexport/libs/obs"
	"github.com/healthexport/libs/pgstore"
	"github.com/healthexport/libs/query"
	"github.com/healthexport/libs/ratelimit"
	"github.com/healthexport/libs/service"
	"github.com/healthexport/libs/stream"
	"github.com/healthexport/libs/summary"
	"github.com/healthexport/schema"
	"github.com/healthexport/services/edge/internal/server"
	"github.com/healthexport/services/edge/internal/web"
)

// settings are the edge's; each nested struct is validated by the package
// that owns it (config.Validate).
type settings struct {
	Service          service.Config
	Addr             string        `env:"EDGE_ADDR" envDefault:"127.0.0.1:8080" help:"Where the edge's HTTP API listens (host:port)."`
	AdminAddr        string        `env:"EDGE_ADMIN_ADDR" zero:"/metrics and pprof on EDGE_ADDR" help:"Internal listener for /metrics, /readyz with each check's error, and pprof (host:port)."`
	MaxBodyBytes     int64         `env:"INGEST_MAX_BODY_BYTES" envDefault:"268435456" help:"Largest accepted upload, after gzip decoding, in bytes."`
	PartMaxBytes     int           `env:"INGEST_PART_MAX_BYTES" envDefault:"524288" help:"Largest part the edge publishes, in bytes."`
	SpoolMemoryBytes int64         `env:"INGEST_SPOOL_MEMORY_BYTES" envDefault:"4194304" zero:"every body goes to a temp file" help:"Body bytes kept in memory before the rest goes to a temp file."`
	SpoolDir         string        `env:"INGEST_SPOOL_DIR" zero:"the system temp directory" help:"Directory for spooled bodies (an existing, writable directory)."`
	BodyTimeout      time.Duration `env:"INGEST_BODY_TIMEOUT" envDefault:"10m" help:"Longest time an upload's body may take to arrive, counted once its key is checked."`
	HeaderTimeout    time.Duration `env:"HTTP_HEADER_TIMEOUT" envDefault:"10s" help:"Longest time a request's headers, and the whole of any request but an upload, may take to arrive (slow clients are cut)."`
	PublishTimeout   time.Duration `env:"INGEST_PUBLISH_TIMEOUT" envDefault:"10s" help:"Longest wait for JetStream to acknowledge a part or a manifest (then 503)."`
	ProxyHeader      string        `env:"EDGE_PROXY_HEADER" zero:"the TCP peer's address" help:"Header holding the client's address behind a proxy (X-Forwarded-For, X-Real-IP), read only from EDGE_TRUSTED_PROXIES."`
	TrustedProxies   []string      `env:"EDGE_TRUSTED_PROXIES" envSeparator:"," zero:"none" help:"The proxies' addresses, a comma-separated list of CIDR prefixes or addresses (127.0.0.1/32,10.0.0.0/8); required with EDGE_PROXY_HEADER."`
	RedisURL         string        `env:"REDIS_URL,required" mask:"url" help:"Redis, for the rate limit every edge shares (redis://host:6379/0)."`
	RedisUsername    string        `env:"REDIS_USERNAME" zero:"REDIS_URL's, or Redis's default user" help:"Redis ACL user the edge signs in as (with REDIS_PASSWORD)."`
	RedisPassword    string        `env:"REDIS_PASSWORD" mask:"all" zero:"REDIS_URL's, or none" help:"Redis password: requirepass, or REDIS_USERNAME's (or in REDIS_URL: redis://user:password@host:6379/0)."`
	RedisKeyPrefix   string        `env:"REDIS_KEY_PREFIX" envDefault:"hx:" help:"Prefix of every Redis key."`
	RateRequests     int           `env:"RATE_LIMIT_REQUESTS" envDefault:"100" help:"Requests per API key per RATE_LIMIT_WINDOW, shared by every edge (burst: all of it). Raise it for backfills."`
	RateWindow       time.Duration `env:"RATE_LIMIT_WINDOW" envDefault:"1h" help:"The rate limit's window."`
	QuotaPerDay      int64         `env:"QUOTA_BYTES_PER_DAY" envDefault:"268435456" help:"Upload bytes (after gzip decoding) each user may send per UTC day, shared by every edge, at least INGEST_MAX_BODY_BYTES; past it 429 quota_exceeded. Keep it times STREAM_MAX_AGE's days under STREAM_MAX_BYTES, so one user cannot fill the stream."`
	AuthCacheTTL     time.Duration `env:"AUTH_CACHE_TTL" envDefault:"60s" zero:"no cache: every request verifies its key" help:"How long an edge trusts a key it verified (at most 60s; revocations reach every edge at once, this is the backstop)."`
	AuthStaleGrace   time.Duration `env:"AUTH_STALE_GRACE" envDefault:"10m" zero:"none: keys fail with the key store" help:"While the key store (PostgreSQL) fails, a key verified within AUTH_CACHE_TTL plus this still works (at most 10m)."`
	AuthMaxHashing   int           `env:"AUTH_MAX_CONCURRENT_HASHES" envDefault:"4" help:"Argon2id runs an edge makes at once, checking keys and creating them (each ~20 ms and 19 MiB); past this and the queue, 503."`
	AuthHashQueue    int           `env:"AUTH_HASH_QUEUE" envDefault:"32" zero:"no waiting: 503 at once when all are busy" help:"Argon2id runs that may wait for a turn, up to AUTH_HASH_WAIT, before the edge answers 503."`
	AuthHashWait     time.Duration `env:"AUTH_HASH_WAIT" envDefault:"2s" zero:"no waiting: 503 at once when all are busy" help:"How long an Argon2id run may wait for a turn."`
	AuthFailures     int           `env:"AUTH_FAILURES_PER_MINUTE" envDefault:"10" help:"Failed key attempts per client address (IPv6: per /64), and wrong secrets per key id, per minute before 429, without any hashing."`
	ExportMaxTime    time.Duration `env:"EXPORT_MAX_DURATION" envDefault:"1h" help:"Longest time one export may stream (at least 1m)."`
	ExportMinRate    int64         `env:"EXPORT_MIN_BYTES_PER_SECOND" envDefault:"32768" help:"Slowest rate, in bytes per second, a client may read an export at (after 30 s of grace) before it is cut."`
	Stream           stream.Config
	Read             pgstore.ReadConfig
	Import           importer.Settings
	Keys             apikey.Limits
}

func (s settings) Validate() error {
	return validation.ValidateStruct(&s,
		validation.Field(&s.Addr, validation.Required, obs.ListenAddress{}),
		validation.Field(&s.AdminAddr, obs.ListenAddress{}),
		validation.Field(&s.MaxBodyBytes, config.NonZero(), validation.Min(int64(1024))),
		// A part must fit a message with room for its wrapping and headers.
		validation.Field(&s.PartMaxBytes, config.NonZero(), validation.Min(1024), validation.Max(stream.MaxMessageBytes/2)),
		validation.Field(&s.SpoolMemoryBytes, validation.Min(int64(0))),
		validation.Field(&s.SpoolDir, config.WritableDir()),
		validation.Field(&s.BodyTimeout, config.NonZero(), validation.Min(time.Second)),
		validation.Field(&s.HeaderTimeout, config.NonZero(), validation.Min(100*time.Millisecond)),
		validation.Field(&s.PublishTimeout, config.NonZero(), validation.Min(100*time.Millisecond)),
		validation.Field(&s.ProxyHeader, validation.Match(headerName).Error("must be an HTTP header name")),
		validation.Field(&s.RedisURL, validation.Required, validation.By(redisURL)),
		validation.Field(&s.RedisUsername, config.Credential()),
		validation.Field(&s.RedisPassword, config.Credential()),
		validation.Field(&s.RedisKeyPrefix, validation.Match(redisPrefix).Error("must be letters, digits and :._-")),
		validation.Field(&s.RateRequests, config.NonZero(), validation.Min(1)),
		validation.Field(&s.RateWindow, config.NonZero(), validation.Min(time.Second)),
		// Below the largest upload, that upload would never be taken.
		validation.Field(&s.QuotaPerDay, config.NonZero(), validation.Min(s.MaxBodyBytes).Error("must be at least INGEST_MAX_BODY_BYTES")),
		// The cache is a convenience; revocations must not wait longer.
		validation.Field(&s.AuthCacheTTL, validation.Min(time.Duration(0)), validation.Max(time.Minute)),
		validation.Field(&s.AuthStaleGrace, validation.Min(time.Duration(0)), validation.Max(10*time.Minute)),
		validation.Field(&s.AuthMaxHashing, config.NonZero(), validation.Min(1)),
		validation.Field(&s.AuthHashQueue, validation.Min(0)),
		validation.Field(&s.AuthHashWait, validation.Min(time.Duration(0)), validation.Max(time.Minute)),
		validation.Field(&s.AuthFailures, config.NonZero(), validation.Min(1)),
		validation.Field(&s.ExportMaxTime, config.NonZero(), validation.Min(time.Minute)),
		validation.Field(&s.ExportMinRate, config.NonZero(), validation.Min(int64(1))),
		// A proxy header from anyone would let every client pick the
		// address its failed keys are counted by.
		validation.Field(&s.TrustedProxies, validation.When(s.ProxyHeader != "", validation.Required.Error(
			"EDGE_PROXY_HEADER is read only from the proxies in EDGE_TRUSTED_PROXIES: list them (e.g. 127.0.0.1/32 for a proxy on this host)")),
			validation.By(func(any) error { _, err := prefixes(s.TrustedProxies); return err })),
	)
}

var (
	// headerName is an HTTP header field name (RFC 9110's token).
	headerName = regexp.MustCompile("^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
	// redisPrefix keeps keys readable in redis-cli and safe in patterns.
	redisPrefix = regexp.MustCompile(`^[A-Za-z0-9:._-]*$`)
)

func redisURL(v any) error {
	if _, err := redis.ParseURL(v.(string)); err != nil {
		return errors.New("must be a Redis URL (redis://[:password@]host:6379/0)")
	}
	return nil
}

// run builds the edge and serves its API, with the admin listener and the
// key verifier's background writes as support, under one owner
// (service.Run): the first to fail stops the others, and run returns once
// all have ended.
func run(ctx context.Context, log *slog.Logger, args []string, getenv func(string) string, stdout io.Writer) error {
	var cfg settings
	if done, err := service.Args(args, stdout, &cfg); done || err != nil {
		return err
	}
	if err := service.Settings(log, getenv, "edge", &cfg); err != nil {
		return err
	}
	if cfg.SpoolDir == "" {
		cfg.SpoolDir = os.TempDir()
	}
	deps, err := service.Open(ctx, log, "edge", cfg.Service, cfg.Stream)
	if err != nil {
		return err
	}
	defer deps.Close()
	// Uploads need no PostgreSQL (keys verified lately stay trusted): an
	// edge stays in its load balancer while the database fails over.
	deps.Ready.MarkOptional("postgres")
	reader, err := readPool(ctx, log, deps, cfg.Read.URL, cfg.Service.Database.URL)
	if err != nil {
		return err
	}
	if reader != deps.Pool {
		defer reader.Close()
	}
	reg := obs.Edge.Registerer(deps.Metrics)
	registry := kind.New()
	pipeline := ingest.New(deps.JS, registry, cfg.Stream, ingest.Config{
		PartMaxBytes:   cfg.PartMaxBytes,
		MaxInFlight:    16,
		PublishTimeout: cfg.PublishTimeout,
	}, reg)
	// One bound on Argon2id runs for checking keys and making them.
	keys := apikey.NewStore(deps.Pool, apikey.StoreConfig{
		Params:         apikey.DefaultParams(),
		Hashing:        apikey.NewHashing(cfg.AuthMaxHashing, cfg.AuthHashQueue, cfg.AuthHashWait),
		MaxKeysPerUser: cfg.Keys.MaxPerUser,
	})
	verifier := apikey.NewVerifier(keys, apikey.VerifierConfig{
		TTL:               cfg.AuthCacheTTL,
		StaleGrace:        cfg.AuthStaleGrace,
		FailuresPerMinute: cfg.AuthFailures,
		TouchEvery:        10 * time.Second,
	}, log, reg)

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

	rdb, err := ratelimit.Connect(cfg.RedisURL, cfg.RedisUsername, cfg.RedisPassword)
	if err != nil {
		return err
	}
	defer rdb.Close()
	limiter := ratelimit.New(log, rdb, cfg.RedisKeyPrefix, cfg.RateRequests, cfg.RateWindow, reg)
	quota := ratelimit.NewQuota(log, rdb, cfg.RedisKeyPrefix, cfg.QuotaPerDay, reg)
	if days := int64(cfg.Stream.MaxAge / (24 * time.Hour)); days > 0 && cfg.QuotaPerDay*days >= cfg.Stream.MaxBytes {
		log.Warn("one user may fill the stream: QUOTA_BYTES_PER_DAY times STREAM_MAX_AGE's days reaches STREAM_MAX_BYTES",
			"quota_bytes_per_day", cfg.QuotaPerDay, "stream_max_age", cfg.Stream.MaxAge.String(), "stream_max_bytes", cfg.Stream.MaxBytes)
	}
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
	// Exports of the Health app: received into JetStream's object store,
	// converted by whichever edge takes the job (IMPORT_WORKERS here).
	imports, err := importer.OpenQueue(ctx, deps.JS, cfg.Stream, cfg.Import)
	if err != nil {
		return err
	}
	im := importer.New(pipeline, registry, importer.Config{PartMaxBytes: cfg.PartMaxBytes})
	work := []service.Task{}
	if cfg.Import.Workers > 0 {
		runner, err := importer.NewRunner(ctx, log, im, imports, cfg.Import, reg)
		if err != nil {
			return err
		}
		work = append(work, runner.Run)
	}
	page, err := web.New()
	if err != nil {
		return err
	}
	srv := server.New(log, server.Config{
		MaxBodyBytes:      cfg.MaxBodyBytes,
		SpoolMemoryBytes:  cfg.SpoolMemoryBytes,
		SpoolDir:          cfg.SpoolDir,
		HeaderTimeout:     cfg.HeaderTimeout,
		BodyTimeout:       cfg.BodyTimeout,
		ProxyHeader:       cfg.ProxyHeader,
		TrustedProxies:    trusted,
		Pprof:             cfg.Service.Pprof,
		Admin:             cfg.AdminAddr != "",
		ExportMaxDuration: cfg.ExportMaxTime,
		ExportMinRate:     cfg.ExportMinRate,
		ImportMaxBytes:    cfg.Import.MaxBytes,
		ImportBodyTimeout: cfg.Import.BodyTimeout,
	}, server.Deps{Auth: verifier, Limiter: limiter, Quota: quota, Keys: keys, Ingest: pipeline, Revoked: revoked,
		Ingestions: ingestions.NewStore(deps.Pool), Query: query.NewStore(reader), Priorities: summary.NewPriorities(deps.Pool),
		Imports: importer.NewIntake(imports, im, importer.NewStatusStore(deps.Pool, imports.Queued)), Web: page},
		deps.Ready, deps.Metrics, reg, schema.OpenAPI())

	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", cfg.Addr, err)
	}
	log.Info("edge listening", "addr", ln.Addr().String())
	// The admin listener answers (not ready) while requests finish, and the
	// verifier writes last_used_at of the last of them: both stop after
	// the API.
	support := []service.Task{func(stop, _ context.Context) error {
		verifier.Run(stop)
		return nil
	}}
	if cfg.AdminAddr != "" {
		support = append(support, func(stop, _ context.Context) error {
			return obs.Serve(stop, log, cfg.AdminAddr, obs.Handler(deps.Ready, deps.Metrics, cfg.Service.Pprof))
		})
	}
	work = append(work, func(stop, _ context.Context) error {
		if err := srv.Serve(stop, ln, cfg.Service.ShutdownGrace); err != nil {
			return fmt.Errorf("serve: %w", err)
		}
		return nil
	})
	err = service.Run(ctx, log, cfg.Service.ShutdownGrace, service.Tasks{Work: work, Support: support})
	if err != nil {
		return err
	}
	// Every request has been answered; publishes in flight are flushed.
	if err := deps.NC.Drain(); err != nil {
		log.Warn("nats drain", "err", err)
	}
	log.Info("edge stopped cleanly")
	return nil
}

// readPool is where users' data is read back from: READ_DATABASE_URL (a
// standby, say) when set, else the primary's pool. Key checks, key
// management and upload status stay on the primary: they must see every
// write at once. A standby that is away does not stop the edge; its reads
// fail (503) and its readiness shows it, degraded, until it is back.
func readPool(ctx context.Context, log *slog.Logger, deps *service.Deps, readURL, primaryURL string) (*pgxpool.Pool, error) {
	if readURL == "" || readURL == primaryURL {
		return deps.Pool, nil
	}
	pool, err := pgstore.Connect(ctx, readURL, 0)
	if err != nil {
		return nil, fmt.Errorf("READ_DATABASE_URL: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		log.Warn("READ_DATABASE_URL does not answer yet: reads fail until it does", "err", err)
	}
	deps.Ready.AddOptional("postgres-read", func(ctx context.Context) error { return pool.Ping(ctx) })
	return pool, nil
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
