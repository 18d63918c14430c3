package apikey

import (
	"context"
	"crypto/sha256"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/singleflight"
	"golang.org/x/time/rate"
)

// Errors a Verifier returns besides ErrUnauthorized; the edge answers 429
// for the first and 503 for the second.
var (
	ErrTooManyFailures = errors.New("too many failed attempts from this address or for this key")
	ErrBusy            = errors.New("too many key verifications in progress")
)

// VerifierConfig sets the cache and the defences.
type VerifierConfig struct {
	TTL        time.Duration // a verified key is trusted this long (at most 60 s)
	StaleGrace time.Duration // and this much longer while the key store is failing
	// The Argon2id runs are bounded by the Store's Hashing, shared with the
	// creation of keys.
	//
	// FailuresPerMinute is how many failed attempts a client address may
	// make, and how many wrong secrets a key id may get, before
	// ErrTooManyFailures refuses them without hashing.
	FailuresPerMinute int
	TouchEvery        time.Duration // how often last-use times are written (each key at most once a minute)
}

// Verifier authenticates tokens cheaply: successful verifications are
// cached per process by the token's SHA-256 (never the token), concurrent
// Argon2id runs are bounded (by the Store's Hashing), and clients that keep
// failing, and key ids that keep getting wrong secrets (from any number of
// addresses), are refused before any hashing. Revocations pushed over NATS
// evict at once, and win over a check that was running when they came.
type Verifier struct {
	store  *Store
	cfg    VerifierConfig
	log    *slog.Logger
	now    func() time.Time
	flight singleflight.Group
	// checked runs after a key check returns, before its result is used
	// (tests revoke the key there: a revocation arriving mid-check).
	checked func()

	mu    sync.Mutex
	cache map[[32]byte]entry
	byKey map[string][32]byte
	// gen counts revocations; a check remembers the count it started at,
	// and its success is not cached (nor honoured) if the key was revoked
	// after that.
	gen      uint64
	revoked  map[string]revocation // revoked over NATS: no stale grace for these
	failures failures              // by client address (or group)
	guesses  failures              // wrong secrets, by key id
	used     map[string]time.Time  // last use not yet written
	written  map[string]time.Time  // last use written, per key
	rehash   map[string]string     // key id -> secret, to store a stronger hash

	outcomes *prometheus.CounterVec
}

type entry struct {
	p        Principal
	verified time.Time
}

type revocation struct {
	at  time.Time
	gen uint64
}

// checkResult is what one key check found, and the revocation count when
// it began.
type checkResult struct {
	p   Principal
	gen uint64
}

// maxTracked bounds each failure map: an address or key id costs about
// 200 bytes, so a flood of addresses cannot grow the edge without bound.
const maxTracked = 10000

// failures counts failed attempts per client or key id, each with its own
// budget, in a map of bounded size.
type failures struct {
	perMinute int
	max       int
	m         map[string]*rate.Limiter
}

func newFailures(perMinute, maxEntries int) failures {
	return failures{perMinute: max(perMinute, 1), max: maxEntries, m: map[string]*rate.Limiter{}}
}

// throttled reports one past its budget.
func (f *failures) throttled(who string, now time.Time) bool {
	l := f.m[who]
	return l != nil && l.TokensAt(now) < 1
}

// fail spends one of who's budget. A full map first forgets whoever has
// recovered (their full budget is what a new entry gets anyway), then, if
// that was not enough, an arbitrary tenth.
func (f *failures) fail(who string, now time.Time) {
	l := f.m[who]
	if l == nil {
		if len(f.m) >= f.max {
			f.sweep(now)
		}
		l = rate.NewLimiter(rate.Limit(float64(f.perMinute)/60), f.perMinute)
		f.m[strings.Clone(who)] = l
	}
	l.AllowN(now, 1)
}

func (f *failures) sweep(now time.Time) {
	for k, l := range f.m {
		if l.TokensAt(now) >= float64(f.perMinute) {
			delete(f.m, k)
		}
	}
	for k := range f.m {
		if len(f.m) < f.max*9/10 {
			return
		}
		delete(f.m, k)
	}
}

// NewVerifier wraps a store; reg names its metric
// (obs.Edge.Registerer: healthexport_edge_auth_verifications_total).
func NewVerifier(store *Store, cfg VerifierConfig, log *slog.Logger, reg prometheus.Registerer) *Verifier {
	v := &Verifier{
		store:    store,
		cfg:      cfg,
		log:      log,
		now:      time.Now,
		checked:  func() {},
		cache:    map[[32]byte]entry{},
		byKey:    map[string][32]byte{},
		revoked:  map[string]revocation{},
		failures: newFailures(cfg.FailuresPerMinute, maxTracked),
		guesses:  newFailures(cfg.FailuresPerMinute, maxTracked),
		used:     map[string]time.Time{},
		written:  map[string]time.Time{},
		rehash:   map[string]string{},
		outcomes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "auth_verifications_total",
			Help: "Key checks by outcome: cached, verified, stale (trusted past its TTL while the key store fails), invalid, throttled, busy, unavailable."}, []string{"outcome"}),
	}
	reg.MustRegister(v.outcomes)
	for _, o := range []string{"cached", "verified", "stale", "invalid", "throttled", "busy", "unavailable"} {
		v.outcomes.WithLabelValues(o)
	}
	return v
}

// Authenticate returns who token belongs to. client is the caller's
// address, for refusing repeated failures before any hashing.
func (v *Verifier) Authenticate(ctx context.Context, token, client string) (Principal, error) {
	sum := sha256.Sum256([]byte(token))
	now := v.now()
	v.mu.Lock()
	e, cached := v.cache[sum]
	if cached && v.revoked[e.p.KeyID].at.IsZero() && now.Sub(e.verified) < v.cfg.TTL {
		v.used[e.p.KeyID] = now
		v.mu.Unlock()
		v.outcomes.WithLabelValues("cached").Inc()
		return e.p, nil
	}
	id, secret, parseErr := Parse(token)
	// A key id that keeps getting wrong secrets is refused before hashing,
	// except with the very token last verified for it here: guessing
	// cannot lock its device out of this edge.
	throttled := v.failures.throttled(client, now) ||
		parseErr == nil && v.guesses.throttled(id, now) && (!cached || e.p.KeyID != id)
	v.mu.Unlock()
	if throttled {
		v.outcomes.WithLabelValues("throttled").Inc()
		return Principal{}, ErrTooManyFailures
	}
	if parseErr != nil {
		v.failed(client, "", now)
		return Principal{}, ErrUnauthorized
	}
	// Devices of one user often retry together: one Argon2id run serves
	// every concurrent request with the same token.
	res, err, _ := v.flight.Do(string(sum[:]), func() (any, error) {
		v.mu.Lock()
		gen := v.gen
		v.mu.Unlock()
		p, weaker, err := v.store.check(ctx, id, secret)
		v.checked()
		if err == nil && weaker {
			v.mu.Lock()
			v.rehash[strings.Clone(id)] = strings.Clone(secret)
			v.mu.Unlock()
		}
		return checkResult{p: p, gen: gen}, err
	})
	if err == nil {
		c := res.(checkResult)
		v.mu.Lock()
		// The key may have been revoked while it was checked (the check
		// read the row before the revocation committed): the revocation
		// wins, and nothing is cached.
		if r, ok := v.revoked[c.p.KeyID]; ok && r.gen > c.gen {
			v.mu.Unlock()
			err = ErrUnauthorized
		} else {
			if old, ok := v.byKey[c.p.KeyID]; ok && old != sum {
				delete(v.cache, old)
			}
			v.cache[sum] = entry{p: c.p, verified: now}
			v.byKey[c.p.KeyID] = sum
			delete(v.revoked, c.p.KeyID)
			v.used[c.p.KeyID] = now
			v.mu.Unlock()
			v.outcomes.WithLabelValues("verified").Inc()
			return c.p, nil
		}
	}
	switch {
	case errors.Is(err, errWrongSecret):
		// The key itself is fine: its cached entry stays.
		v.failed(client, id, now)
		v.outcomes.WithLabelValues("invalid").Inc()
		return Principal{}, ErrUnauthorized
	case errors.Is(err, ErrUnauthorized):
		v.evict(id) // unknown or revoked
		v.failed(client, "", now)
		v.outcomes.WithLabelValues("invalid").Inc()
		return Principal{}, ErrUnauthorized
	case errors.Is(err, ErrBusy):
		v.outcomes.WithLabelValues("busy").Inc()
		return Principal{}, ErrBusy
	}
	// The key store is failing: a key verified lately may still be used,
	// unless it was revoked over NATS; everyone else gets 503, never 401.
	if cached && v.revokedAt(e.p.KeyID).IsZero() && now.Sub(e.verified) < v.cfg.TTL+v.cfg.StaleGrace {
		v.outcomes.WithLabelValues("stale").Inc()
		return e.p, nil
	}
	v.outcomes.WithLabelValues("unavailable").Inc()
	return Principal{}, err
}

// Revoked evicts a key at once and denies it the stale grace; the edge
// calls it for every revocation published over NATS.
func (v *Verifier) Revoked(keyID string) {
	keyID = strings.Clone(keyID)
	v.mu.Lock()
	v.gen++
	v.revoked[keyID] = revocation{at: v.now(), gen: v.gen}
	if sum, ok := v.byKey[keyID]; ok {
		delete(v.cache, sum)
		delete(v.byKey, keyID)
	}
	v.mu.Unlock()
}

// StillValid reports whether no revocation of keyID has reached this edge.
// A request authenticated before a revocation asks it again before it
// acts: an upload whose body was still arriving when its key (or its
// user) was revoked is refused rather than published.
func (v *Verifier) StillValid(keyID string) bool { return v.revokedAt(keyID).IsZero() }

func (v *Verifier) revokedAt(keyID string) time.Time {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.revoked[keyID].at
}

func (v *Verifier) evict(keyID string) {
	v.mu.Lock()
	if sum, ok := v.byKey[keyID]; ok {
		delete(v.cache, sum)
		delete(v.byKey, keyID)
	}
	v.mu.Unlock()
}

// failed counts a failed attempt against the client and, for a wrong
// secret, against the key id.
func (v *Verifier) failed(client, keyID string, now time.Time) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.failures.fail(client, now)
	if keyID != "" {
		v.guesses.fail(keyID, now)
	}
}

// Run writes last-use times (each key at most once a minute, off the
// request path) and stronger hashes, until ctx ends.
func (v *Verifier) Run(ctx context.Context) {
	t := time.NewTicker(v.cfg.TouchEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			v.flush(context.WithoutCancel(ctx))
			return
		case <-t.C:
			v.flush(ctx)
		}
	}
}

func (v *Verifier) flush(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	due := map[string]time.Time{}
	v.mu.Lock()
	for id, at := range v.used {
		if w := v.written[id]; w.IsZero() || at.Sub(w) >= time.Minute {
			due[id] = at
		}
	}
	rehash := v.rehash
	v.rehash = map[string]string{}
	for id, r := range v.revoked {
		if v.now().Sub(r.at) > v.cfg.TTL+v.cfg.StaleGrace {
			delete(v.revoked, id) // any cached entry has expired by now
		}
	}
	v.mu.Unlock()
	if len(due) > 0 {
		if err := v.store.touch(ctx, due); err != nil {
			v.log.Warn("last-used times not written; will retry", "keys", len(due), "err", err)
		} else {
			v.mu.Lock()
			for id, at := range due {
				v.written[id] = at
				if v.used[id].Equal(at) {
					delete(v.used, id)
				}
			}
			v.mu.Unlock()
		}
	}
	for id, secret := range rehash {
		if err := v.store.rehash(ctx, id, secret); err != nil {
			v.log.Warn("stronger key hash not stored", "key_id", id, "err", err)
		}
	}
}
