// Package ratelimit limits requests per API key across every edge instance:
// GCRA in Redis (one atomic script per request), with an in-process limiter
// of the same limits taking over while Redis is unreachable, so uploads go
// on when Redis does not.
package ratelimit

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"golang.org/x/time/rate"

	"github.com/healthexport/libs/config"
)

// Decision is the outcome for one request.
type Decision struct {
	Allowed    bool
	Limit      int
	Remaining  int
	RetryAfter time.Duration // when refused: until the next request is allowed
	ResetAfter time.Duration // until the full burst is available again
	Local      bool          // decided in-process because Redis was unreachable
}

// Limiter allows Requests per Window per key, with a burst equal to
// Requests (100 uploads an hour may come in one backfill burst).
type Limiter struct {
	log      *slog.Logger
	redis    *redis_rate.Limiter
	limit    redis_rate.Limit
	prefix   string
	timeout  time.Duration
	local    *local
	degraded atomic.Bool
	fallback prometheus.Counter
	outcomes *prometheus.CounterVec
}

// New returns a limiter over rdb; prefix is REDIS_KEY_PREFIX. reg names its
// metrics (obs.Edge.Registerer: healthexport_edge_ratelimit_...).
func New(log *slog.Logger, rdb *redis.Client, prefix string, requests int, window time.Duration, reg prometheus.Registerer) *Limiter {
	l := &Limiter{
		log:     log,
		redis:   redis_rate.NewLimiter(rdb),
		limit:   redis_rate.Limit{Rate: requests, Burst: requests, Period: window},
		prefix:  prefix + "ratelimit:",
		timeout: 250 * time.Millisecond,
		local:   newLocal(requests, window),
		fallback: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ratelimit_fallback_total", Help: "Rate-limit decisions made in-process because Redis was unreachable."}),
		outcomes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ratelimit_decisions_total", Help: "Rate-limit decisions by outcome (allowed, limited)."}, []string{"outcome"}),
	}
	reg.MustRegister(l.fallback, l.outcomes)
	l.outcomes.WithLabelValues("allowed")
	l.outcomes.WithLabelValues("limited")
	return l
}

// Allow decides one request for key (an API key id).
func (l *Limiter) Allow(ctx context.Context, key string) Decision {
	ctx, cancel := context.WithTimeout(ctx, l.timeout)
	defer cancel()
	res, err := l.redis.Allow(ctx, l.prefix+key, l.limit)
	var d Decision
	if err != nil {
		if !l.degraded.Swap(true) {
			l.log.Warn("redis unreachable: rate limiting in-process until it is back", "err", err)
		}
		l.fallback.Inc()
		d = l.local.allow(key, time.Now())
	} else {
		if l.degraded.Swap(false) {
			l.log.Info("redis reachable again: rate limiting shared across edges")
		}
		d = Decision{Allowed: res.Allowed > 0, Limit: l.limit.Burst, Remaining: res.Remaining,
			RetryAfter: res.RetryAfter, ResetAfter: res.ResetAfter}
	}
	if d.Allowed {
		l.outcomes.WithLabelValues("allowed").Inc()
	} else {
		l.outcomes.WithLabelValues("limited").Inc()
	}
	return d
}

// Degraded reports that the last decision was made without Redis.
func (l *Limiter) Degraded() bool { return l.degraded.Load() }

// local is the in-process fallback: a token bucket per key with the same
// rate and burst as the shared GCRA (the two are equivalent).
type local struct {
	mu      sync.Mutex
	every   rate.Limit
	burst   int
	window  time.Duration
	buckets map[string]*bucket
}

type bucket struct {
	lim  *rate.Limiter
	seen time.Time
}

func newLocal(requests int, window time.Duration) *local {
	return &local{
		every:   rate.Limit(float64(requests) / window.Seconds()),
		burst:   requests,
		window:  window,
		buckets: map[string]*bucket{},
	}
}

func (l *local) allow(key string, now time.Time) Decision {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[key]
	if b == nil {
		b = &bucket{lim: rate.NewLimiter(l.every, l.burst)}
		l.buckets[key] = b
		l.sweep(now)
	}
	b.seen = now
	d := Decision{Limit: l.burst, Local: true}
	perToken := time.Duration(float64(time.Second) / float64(l.every))
	if b.lim.AllowN(now, 1) {
		d.Allowed = true
	} else {
		missing := 1 - b.lim.TokensAt(now)
		d.RetryAfter = time.Duration(missing * float64(perToken))
	}
	tokens := b.lim.TokensAt(now)
	d.Remaining = int(math.Floor(math.Max(tokens, 0)))
	d.ResetAfter = time.Duration((float64(l.burst) - tokens) * float64(perToken))
	return d
}

// sweep forgets keys idle for a whole window: their bucket is full again.
func (l *local) sweep(now time.Time) {
	if len(l.buckets) < 1024 {
		return
	}
	for k, b := range l.buckets {
		if now.Sub(b.seen) > l.window {
			delete(l.buckets, k)
		}
	}
}

// Connect opens a Redis client that fails fast: when Redis is away, the
// in-process limiter must take over within a request, not after retries.
// A username or password given apart (REDIS_USERNAME, REDIS_PASSWORD)
// replaces the URL's.
func Connect(redisURL, username, password string) (*redis.Client, error) {
	opts, err := redis.ParseURL(redisURL)
	if err != nil {
		return nil, fmt.Errorf("REDIS_URL: %w", config.SafeError(err))
	}
	if username != "" {
		opts.Username = username
	}
	if password != "" {
		opts.Password = password
	}
	opts.DialTimeout = 200 * time.Millisecond
	opts.ReadTimeout = 200 * time.Millisecond
	opts.WriteTimeout = 200 * time.Millisecond
	opts.PoolTimeout = 200 * time.Millisecond
	opts.MaxRetries = -1
	return redis.NewClient(opts), nil
}
