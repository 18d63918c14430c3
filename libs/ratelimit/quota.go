package ratelimit

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
)

// Quota bounds the bytes each user may put into the stream (and so into
// the archive) per UTC day, across every edge: one counter per user and day
// in Redis. The rate limit counts requests; without this, one key's
// largest uploads at the allowed rate would fill the stream, and the stream
// full refuses every user's uploads until its oldest messages age out.
// While Redis is unreachable each edge counts on its own.
type Quota struct {
	log      *slog.Logger
	rdb      *redis.Client
	prefix   string
	perDay   int64
	timeout  time.Duration
	now      func() time.Time
	degraded atomic.Bool

	mu    sync.Mutex
	local map[string]int64 // user and day -> bytes, while Redis is away

	refused *prometheus.CounterVec
}

// QuotaDecision is the outcome of charging an upload.
type QuotaDecision struct {
	Allowed    bool
	Used       int64         // the user's bytes today, this upload included when allowed
	Limit      int64         // bytes per day
	RetryAfter time.Duration // when refused: until the next UTC day
	Local      bool          // decided in-process because Redis was unreachable
	Day        string        // the UTC day charged (YYYY-MM-DD), which a refund goes back to
}

// chargeScript adds ARGV[1] bytes to the day's counter unless that passes
// ARGV[2]; the counter lives a little longer than its day. Atomic in
// Redis, so edges charging at once never both squeeze under the limit.
var chargeScript = redis.NewScript(`
local used = tonumber(redis.call('GET', KEYS[1]) or '0')
local n = tonumber(ARGV[1])
if used + n > tonumber(ARGV[2]) then
  return {0, used}
end
used = redis.call('INCRBY', KEYS[1], n)
redis.call('EXPIRE', KEYS[1], ARGV[3])
return {1, used}
`)

// quotaKeyTTL keeps a day's counter past the day's end in every time zone.
const quotaKeyTTL = 48 * time.Hour

// NewQuota returns a quota of perDay bytes per user over rdb; prefix is
// REDIS_KEY_PREFIX. reg names its metric
// (healthexport_edge_quota_refused_total).
func NewQuota(log *slog.Logger, rdb *redis.Client, prefix string, perDay int64, reg prometheus.Registerer) *Quota {
	q := &Quota{
		log:     log,
		rdb:     rdb,
		prefix:  prefix + "quota:",
		perDay:  perDay,
		timeout: 250 * time.Millisecond,
		now:     time.Now,
		local:   map[string]int64{},
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "quota_refused_total", Help: "Uploads refused because their user's bytes per day were used up."}, []string{"where"}),
	}
	reg.MustRegister(q.refused)
	q.refused.WithLabelValues("redis")
	q.refused.WithLabelValues("local")
	return q
}

// WithClock makes the quota take the day from now; tests pin it.
func (q *Quota) WithClock(now func() time.Time) *Quota {
	q.now = now
	return q
}

// Charge counts n bytes against user's quota for today, or refuses them
// all (and counts nothing) when they do not fit.
func (q *Quota) Charge(ctx context.Context, user string, n int64) QuotaDecision {
	now := q.now().UTC()
	day := now.Format(time.DateOnly)
	d := QuotaDecision{Limit: q.perDay, Day: day}
	ctx, cancel := context.WithTimeout(ctx, q.timeout)
	defer cancel()
	res, err := chargeScript.Run(ctx, q.rdb, []string{q.prefix + user + ":" + day}, n, q.perDay, int64(quotaKeyTTL/time.Second)).Int64Slice()
	if err != nil {
		if !q.degraded.Swap(true) {
			q.log.Warn("redis unreachable: quotas counted per edge until it is back", "err", err)
		}
		d.Local = true
		d.Allowed, d.Used = q.chargeLocal(user, day, n)
	} else {
		if q.degraded.Swap(false) {
			q.log.Info("redis reachable again: quotas shared across edges")
		}
		d.Allowed, d.Used = res[0] == 1, res[1]
	}
	if !d.Allowed {
		d.RetryAfter = now.Truncate(24 * time.Hour).Add(24 * time.Hour).Sub(now)
		where := "redis"
		if d.Local {
			where = "local"
		}
		q.refused.WithLabelValues(where).Inc()
	}
	return d
}

// Refund gives back the bytes of an allowed charge d that never reached
// the stream (the publish failed), so the client's retry is not charged
// twice. They go back to the day d charged, which may be yesterday by
// now (a decision without a day: today).
func (q *Quota) Refund(ctx context.Context, user string, n int64, d QuotaDecision) {
	if !d.Allowed {
		return
	}
	day := d.Day
	if day == "" {
		day = q.now().UTC().Format(time.DateOnly)
	}
	if d.Local {
		q.mu.Lock()
		// A day the local counters have forgotten (chargeLocal keeps
		// today's only) has nothing to give back to.
		if used, ok := q.local[user+":"+day]; ok {
			q.local[user+":"+day] = max(used-n, 0)
		}
		q.mu.Unlock()
		return
	}
	ctx, cancel := context.WithTimeout(ctx, q.timeout)
	defer cancel()
	if err := q.rdb.DecrBy(ctx, q.prefix+user+":"+day, n).Err(); err != nil {
		q.log.Warn("quota refund failed: the user is charged for a failed upload today", "err", err)
	}
}

func (q *Quota) chargeLocal(user, day string, n int64) (bool, int64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	// Only today's counters matter: forget the others.
	for k := range q.local {
		if k[len(k)-len(day):] != day {
			delete(q.local, k)
		}
	}
	key := user + ":" + day
	used := q.local[key]
	if used+n > q.perDay {
		return false, used
	}
	q.local[key] = used + n
	return true, used + n
}
