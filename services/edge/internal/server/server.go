// Package server is the edge's HTTP API on Fiber: authentication, the
// ingest endpoint, health and metrics.
package server

import (
	"cmp"
	"context"
	"errors"
	"log/slog"
	"math"
	"net"
	"net/netip"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"
	"github.com/gofiber/fiber/v2/middleware/pprof"
	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/healthexport/libs/apikey"
	"github.com/healthexport/libs/ingest"
	"github.com/healthexport/libs/ingestions"
	"github.com/healthexport/libs/obs"
	"github.com/healthexport/libs/query"
	"github.com/healthexport/libs/ratelimit"
	"github.com/healthexport/services/edge/internal/spool"
	"github.com/healthexport/services/edge/internal/web"
)

// Authenticator verifies API keys; client is the caller's address.
// StillValid says no revocation of the key has arrived since.
type Authenticator interface {
	Authenticate(ctx context.Context, token, client string) (apikey.Principal, error)
	StillValid(keyID string) bool
}

// Limiter decides whether a key may make another request.
type Limiter interface {
	Allow(ctx context.Context, key string) ratelimit.Decision
}

// Quota counts the bytes each user puts into the stream per day.
type Quota interface {
	Charge(ctx context.Context, user string, n int64) ratelimit.QuotaDecision
	Refund(ctx context.Context, user string, n int64, d ratelimit.QuotaDecision)
}

// Keys manages a user's API keys.
type Keys interface {
	Create(ctx context.Context, userID uuid.UUID, nk apikey.NewKey) (string, apikey.Key, error)
	List(ctx context.Context, userID uuid.UUID) ([]apikey.Key, error)
	Revoke(ctx context.Context, userID uuid.UUID, keyID string, cascade bool) ([]string, error)
}

// Ingestions reports what happened to an upload, and lists the latest.
type Ingestions interface {
	Get(ctx context.Context, userID uuid.UUID, ingestionID string) (*ingestions.Status, error)
	List(ctx context.Context, userID uuid.UUID, limit int, cursor string) (*ingestions.Page, error)
}

// Reader reads a user's data back (the read scope's routes).
type Reader interface {
	Metric(ctx context.Context, uid uuid.UUID, name string, r query.Range, source *string, p query.Page) (string, string, *query.Result, error)
	Sleep(ctx context.Context, uid uuid.UUID, typ string, r query.Range, p query.Page) (*query.Result, error)
	Workouts(ctx context.Context, uid uuid.UUID, r query.Range, p query.Page) (*query.Result, error)
	Activity(ctx context.Context, uid uuid.UUID, r query.Range, p query.Page) (*query.Result, error)
	Workout(ctx context.Context, uid uuid.UUID, key string, p query.Page) ([]byte, error)
	RouteGPX(ctx context.Context, uid uuid.UUID, key string) ([]byte, error)
	Events(ctx context.Context, uid uuid.UUID, kind, value string, r query.Range, p query.Page) (*query.Result, error)
	ECG(ctx context.Context, uid uuid.UUID, classification string, r query.Range, p query.Page) (*query.Result, error)
	DailySummaries(ctx context.Context, uid uuid.UUID, metrics []string, from, to time.Time, p query.Page) (*query.Result, error)
	OpenExport(ctx context.Context, uid uuid.UUID, format query.Format, filter query.ExportFilter) (*query.Export, error)
}

// Processor publishes an upload.
type Processor interface {
	Process(ctx context.Context, up *ingest.Upload) (*ingest.Result, error)
}

// Deps are what the routes use.
type Deps struct {
	Auth       Authenticator
	Limiter    Limiter
	Quota      Quota // nil: no quota
	Keys       Keys
	Ingest     Processor
	Ingestions Ingestions
	Query      Reader
	// Imports receives the Health app's exports (nil: this edge answers 503).
	Imports    Imports
	Priorities Priorities
	// Revoked tells every edge a key was revoked (over NATS).
	Revoked func(keyID string) error
	// Web is the web page's files (nil: no page).
	Web *web.Assets
}

// Config is the HTTP settings.
type Config struct {
	MaxBodyBytes     int64
	SpoolMemoryBytes int64
	SpoolDir         string
	HeaderTimeout    time.Duration
	BodyTimeout      time.Duration
	// ProxyHeader names the header holding the client's address when the
	// edge runs behind a proxy (e.g. X-Forwarded-For); "" uses the peer. It
	// is read only from TrustedProxies.
	ProxyHeader    string
	TrustedProxies []netip.Prefix
	// Pprof serves /debug/pprof/ (PPROF_ENABLED; off by default).
	Pprof bool
	// Admin means an internal listener serves /metrics, /readyz with its
	// checks and pprof (EDGE_ADMIN_ADDR): the public one then serves
	// neither /metrics nor pprof.
	Admin bool
	// ImportMaxBytes bounds an export (IMPORT_MAX_BYTES), and
	// ImportBodyTimeout the time it may take to arrive.
	ImportMaxBytes    int64
	ImportBodyTimeout time.Duration
	// MaxExports is how many exports may stream at once (each holds a
	// database connection while it lasts); 0 means 2. Each user has at
	// most one.
	MaxExports int
	// ExportMaxDuration ends an export, however it is going
	// (EXPORT_MAX_DURATION, 1 h when 0); ExportMinRate is the slowest a
	// client may read one, in bytes per second, after ExportGrace of
	// waiting for it (EXPORT_MIN_BYTES_PER_SECOND, 32 KiB/s when 0; the
	// grace is 30 s when 0).
	ExportMaxDuration time.Duration
	ExportMinRate     int64
	ExportGrace       time.Duration
}

// Server is the edge's HTTP API.
type Server struct {
	app       *fiber.App
	log       *slog.Logger
	deps      Deps
	ready     *obs.Readiness
	cfg       Config
	metrics   *metrics
	openapi   []byte
	exports   chan struct{}
	exporting exporting
	spools    *spool.Pool
}

// New builds the app and its routes.
func New(log *slog.Logger, cfg Config, deps Deps, ready *obs.Readiness, gather prometheus.Gatherer, reg prometheus.Registerer, openapi []byte) *Server {
	cfg.ExportMaxDuration = cmp.Or(cfg.ExportMaxDuration, time.Hour)
	cfg.ExportMinRate = cmp.Or(cfg.ExportMinRate, 32<<10)
	cfg.ExportGrace = cmp.Or(cfg.ExportGrace, exportGrace)
	s := &Server{log: log, deps: deps, ready: ready, cfg: cfg, metrics: newMetrics(reg), openapi: openapi,
		spools:  spool.NewPool(cfg.SpoolMemoryBytes, cfg.MaxBodyBytes, cfg.SpoolDir),
		exports: make(chan struct{}, cmp.Or(cfg.MaxExports, 2))}
	s.metrics.auth.WithLabelValues("forbidden") // starts at zero, like the other outcomes
	s.app = fiber.New(fiber.Config{
		AppName:               "health-export-edge",
		DisableStartupMessage: true,
		// Header and parameter values outlive the request (key ids in the
		// verifier's cache, revocations): copies, not views of fasthttp's
		// reused buffers.
		Immutable: true,
		// Nothing of a body is read before its key is checked: bodies are
		// streams that handlers read after authentication (the upload into
		// the spool, every other route at most maxSmallBody bytes), fasthttp
		// reads ahead at most one byte, and never parses a multipart form
		// (it wrote whole unauthenticated bodies to temp files).
		StreamRequestBody:            true,
		BodyLimit:                    1,
		DisablePreParseMultipartForm: true,
		// Headers, and the small bodies of every route but the upload, must
		// arrive within HeaderTimeout; an authenticated upload then gets
		// BodyTimeout (see ingest).
		ReadTimeout:  cfg.HeaderTimeout,
		WriteTimeout: time.Minute,
		IdleTimeout:  2 * time.Minute,
		ErrorHandler: s.errorHandler,
	})
	s.app.Use(s.observe)
	// Authentication, revocation included, comes before rate limiting:
	// only authenticated requests count against a key's limit.
	v1 := s.app.Group("/v1", s.authenticate, s.rateLimit)
	// Scopes gate uploading, reading and managing keys; upload and import
	// status are open to every key of the user.
	ingest, read, keys := s.need(apikey.ScopeIngest), s.need(apikey.ScopeRead), s.need(apikey.ScopeKeys)
	// Bodies by route, decided by the order of registration: the upload and
	// the import are the routes that read a body of any size (into the
	// spool, bounded by MaxBodyBytes; into the import store, bounded by
	// ImportMaxBytes), and their handlers end the chain; the routes after
	// smallBody read at most maxSmallBody bytes; those after noBody take
	// none (TestEveryRouteBoundsItsBody).
	v1.Post("/ingest", ingest, s.ingest)
	v1.Post("/imports", ingest, s.receiveImport)
	v1.Use(s.smallBody)
	v1.Post("/keys", keys, s.createKey)
	v1.Get("/keys", keys, s.listKeys)
	v1.Delete("/keys/:id", keys, s.revokeKey)
	v1.Get("/ingestions", read, s.listIngestions)
	v1.Get("/ingestions/:id", s.ingestionStatus)
	v1.Get("/imports/:id", s.importStatus)
	v1.Get("/metrics/:name", read, s.readMetric)
	v1.Get("/sleep", read, s.readSleep)
	v1.Get("/workouts", read, s.readWorkouts)
	v1.Get("/workouts/:key", read, s.readWorkout)
	v1.Get("/workouts/:key/route.gpx", read, s.readRouteGPX)
	v1.Get("/events", read, s.readEvents)
	v1.Get("/ecg", read, s.readECG)
	v1.Get("/activity", read, s.readActivity)
	v1.Get("/export", read, s.export)
	v1.Get("/summaries/daily", read, s.readDailySummaries)
	v1.Get("/settings/source-priority", read, s.getSourcePriority)
	v1.Put("/settings/source-priority", read, s.putSourcePriority)

	s.app.Use(s.noBody)
	if cfg.Pprof && !cfg.Admin {
		s.app.Use(pprof.New())
	}
	live := func(c *fiber.Ctx) error { return c.JSON(fiber.Map{"status": "ok"}) }
	s.app.Get("/livez", live)
	s.app.Get("/health", live)
	s.app.Get("/readyz", s.readyz)
	s.app.Get("/ready", s.readyz)
	if !cfg.Admin {
		s.app.Get("/metrics", adaptor.HTTPHandler(promhttp.HandlerFor(gather, promhttp.HandlerOpts{})))
	}
	s.app.Get("/openapi.yaml", func(c *fiber.Ctx) error {
		c.Set(fiber.HeaderContentType, "application/yaml")
		return c.Send(s.openapi)
	})
	// The web page: public files (no key; it asks for one and calls the
	// API above with it), taking no body like the routes above.
	s.app.Get("/", s.webPage)
	s.app.Get("/ui/:version/:file", s.webFile)
	return s
}

// App exposes the Fiber app (tests drive it with app.Test).
func (s *Server) App() *fiber.App { return s.app }

// Serve answers on ln until ctx ends, then stops accepting, lets in-flight
// requests finish (up to grace), and returns.
func (s *Server) Serve(ctx context.Context, ln net.Listener, grace time.Duration) error {
	errc := make(chan error, 1)
	go func() { errc <- s.app.Listener(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	s.ready.ShuttingDown()
	s.log.Info("shutting down: finishing in-flight requests", "grace", grace.String())
	if err := s.app.ShutdownWithTimeout(grace); err != nil {
		return err
	}
	return <-errc
}

// apiError is the JSON error body: {"error": code, "message": text}.
type apiError struct {
	status  int
	code    string
	message string
	retry   time.Duration
}

func (e *apiError) Error() string { return e.code + ": " + e.message }

func fail(status int, code, message string) *apiError {
	return &apiError{status: status, code: code, message: message}
}

func unavailable(code, message string) *apiError {
	return &apiError{status: fiber.StatusServiceUnavailable, code: code, message: message, retry: 5 * time.Second}
}

func tooMany(code, message string, retry time.Duration) *apiError {
	return &apiError{status: fiber.StatusTooManyRequests, code: code, message: message, retry: max(retry, time.Second)}
}

func (s *Server) errorHandler(c *fiber.Ctx, err error) error {
	var ae *apiError
	if !errors.As(err, &ae) {
		var fe *fiber.Error
		if errors.As(err, &fe) {
			ae = fail(fe.Code, codeForStatus(fe.Code), fe.Message)
		} else {
			s.log.Error("request failed", "route", c.Route().Path, "err", err)
			ae = fail(fiber.StatusInternalServerError, "internal", "internal error")
		}
	}
	closeIfUnread(c)
	if ae.retry > 0 {
		c.Set(fiber.HeaderRetryAfter, strconv.Itoa(int(math.Ceil(ae.retry.Seconds()))))
	}
	return c.Status(ae.status).JSON(fiber.Map{"error": ae.code, "message": ae.message})
}

func codeForStatus(status int) string {
	switch status {
	case fiber.StatusNotFound:
		return "not_found"
	case fiber.StatusForbidden:
		return "forbidden"
	case fiber.StatusMethodNotAllowed:
		return "method_not_allowed"
	case fiber.StatusRequestEntityTooLarge:
		return "body_too_large"
	case fiber.StatusRequestTimeout:
		return "timeout"
	}
	return "error"
}

// readyz says ready or not, and nothing more: the checks' errors name
// hosts and users, and are for operators (on the admin listener, see
// obs.Handler, and in the logs).
func (s *Server) readyz(c *fiber.Ctx) error {
	if _, ok := s.ready.Status(c.UserContext()); !ok {
		return c.Status(fiber.StatusServiceUnavailable).JSON(fiber.Map{"status": "not ready"})
	}
	return c.JSON(fiber.Map{"status": "ready"})
}
