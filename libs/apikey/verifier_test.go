package apikey

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	promtestutil "github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/healthexport/libs/obs"
	"github.com/healthexport/libs/testenv"
	"github.com/healthexport/libs/users"
)

// cheapParams keep Argon2id fast where cost does not matter to the test.
func cheapParams() Params { return Params{MemoryKiB: 64, Time: 1, Threads: 1, KeyLen: 32, SaltLen: 16} }

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

type verifierRig struct {
	db    *testenv.Database
	proxy *testenv.Proxy
	store *Store
	v     *Verifier
	clock *clock
}

// newVerifierRig puts the store behind a proxy to the real PostgreSQL, so
// the test can take the key store away.
func newVerifierRig(t *testing.T, params Params, hashing *Hashing, cfg VerifierConfig) *verifierRig {
	t.Helper()
	db := testenv.NewDatabase(t)
	proxy := testenv.NewProxy(t, testenv.HostPort(t, db.URL))
	pool, err := pgxpool.New(context.Background(), proxy.Through(db.URL))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	r := &verifierRig{db: db, proxy: proxy, store: NewStore(pool, StoreConfig{Params: params, Hashing: hashing}), clock: &clock{t: time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)}}
	r.v = NewVerifier(r.store, cfg, slog.New(slog.NewJSONHandler(io.Discard, nil)), obs.NewRegistry())
	r.v.now = r.clock.now
	return r
}

// defaultHashing is the edge's default bound: 4 runs, 32 waiting up to 2 s.
func defaultHashing() *Hashing { return NewHashing(4, 32, 2*time.Second) }

func defaultCfg() VerifierConfig {
	return VerifierConfig{TTL: time.Minute, StaleGrace: 10 * time.Minute, FailuresPerMinute: 5, TouchEvery: time.Second}
}

func (r *verifierRig) key(t *testing.T, email string) (string, Key) {
	t.Helper()
	uid, _, err := users.NewStore(r.db.Pool).Ensure(context.Background(), email)
	if err != nil {
		t.Fatal(err)
	}
	tok, k, err := r.store.Create(context.Background(), uid, NewKey{Name: "phone"})
	if err != nil {
		t.Fatal(err)
	}
	return tok, k
}

func (r *verifierRig) userID(t *testing.T, email string) uuid.UUID {
	t.Helper()
	uid, err := users.NewStore(r.db.Pool).ByEmail(context.Background(), email)
	if err != nil {
		t.Fatal(err)
	}
	return uid
}

func (r *verifierRig) outcome(name string) float64 {
	return testutilCount(r.v, name)
}

func TestVerifierCacheAndOutage(t *testing.T) {
	r := newVerifierRig(t, cheapParams(), defaultHashing(), defaultCfg())
	ctx := context.Background()
	warm, warmKey := r.key(t, "warm@example.org")
	cold, _ := r.key(t, "cold@example.org")
	revoked, revokedKey := r.key(t, "gone@example.org")

	for _, tok := range []string{warm, warm, revoked} {
		if _, err := r.v.Authenticate(ctx, tok, "10.0.0.1"); err != nil {
			t.Fatal(err)
		}
	}
	if got := r.outcome("cached"); got != 1 {
		t.Fatalf("second use of a key: %v cache hits, want 1", got)
	}
	r.clock.add(2 * time.Minute) // past the TTL: the next use re-verifies
	if p, err := r.v.Authenticate(ctx, warm, "10.0.0.1"); err != nil || p.KeyID != warmKey.ID {
		t.Fatalf("after the TTL: %v %v", p, err)
	}
	if got := r.outcome("verified"); got != 3 {
		t.Fatalf("%v verifications, want 3", got)
	}

	r.proxy.Cut() // the key store is gone
	r.v.Revoked(revokedKey.ID)
	r.clock.add(5 * time.Minute)
	steps := []struct {
		name, token string
		ok          bool
	}{
		{"a key verified 5 min ago is trusted while the store fails", warm, true},
		{"a key never verified here gets 503, not 401", cold, false},
		{"a key revoked over NATS gets no grace", revoked, false},
	}
	for _, s := range steps {
		_, err := r.v.Authenticate(ctx, s.token, "10.0.0.1")
		if s.ok != (err == nil) || errors.Is(err, ErrUnauthorized) && s.token == cold {
			t.Errorf("%s: err = %v", s.name, err)
		}
	}
	r.clock.add(10 * time.Minute) // past TTL + grace
	if _, err := r.v.Authenticate(ctx, warm, "10.0.0.1"); err == nil || errors.Is(err, ErrUnauthorized) {
		t.Errorf("past the grace: err = %v, want unavailable", err)
	}
	r.proxy.Restore()
	if _, err := r.v.Authenticate(ctx, cold, "10.0.0.1"); err != nil {
		t.Errorf("store back: %v", err)
	}
}

func TestVerifierThrottlesFailingClients(t *testing.T) {
	r := newVerifierRig(t, cheapParams(), defaultHashing(), defaultCfg())
	ctx := context.Background()
	good, _ := r.key(t, "ana@example.org")
	// Keys that do not exist: only the address is counted.
	unknown, err := Generate(cheapParams())
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if _, err := r.v.Authenticate(ctx, unknown.Token, "10.0.0.9"); !errors.Is(err, ErrUnauthorized) {
			t.Fatalf("failure %d: %v", i+1, err)
		}
	}
	hashed := r.outcome("verified") + r.outcome("invalid")
	if _, err := r.v.Authenticate(ctx, good, "10.0.0.9"); !errors.Is(err, ErrTooManyFailures) {
		t.Fatalf("sixth attempt from a failing address: %v", err)
	}
	if r.outcome("verified")+r.outcome("invalid") != hashed {
		t.Error("a throttled attempt was hashed")
	}
	if _, err := r.v.Authenticate(ctx, good, "10.0.0.10"); err != nil {
		t.Fatalf("another address: %v", err)
	}
	r.clock.add(time.Minute) // the budget refills
	if _, err := r.v.Authenticate(ctx, good, "10.0.0.9"); err != nil {
		t.Fatalf("a minute later: %v", err)
	}
}

// Wrong secrets for a real key id, from ever new addresses, are refused
// without hashing once the key id's budget is spent: no unlimited Argon2id
// runs. The token verified last for that key on this edge still works, so
// guessing cannot lock its device out; another copy of the key id waits.
func TestVerifierThrottlesGuessedKeys(t *testing.T) {
	cfg := defaultCfg() // 5 failures a minute
	cfg.TTL = 10 * time.Second
	r := newVerifierRig(t, cheapParams(), defaultHashing(), cfg)
	ctx := context.Background()
	good, _ := r.key(t, "ana@example.org")
	cold, _ := r.key(t, "bob@example.org")
	if _, err := r.v.Authenticate(ctx, good, "10.0.0.1"); err != nil {
		t.Fatal(err)
	}
	wrong := func(tok string) string { return tok[:len(tok)-4] + "zzzz" }
	for _, tok := range []string{good, cold} {
		for i := range 8 {
			_, err := r.v.Authenticate(ctx, wrong(tok), fmt.Sprintf("192.0.2.%d", i))
			if want := i < 5; errors.Is(err, ErrUnauthorized) != want || !want && !errors.Is(err, ErrTooManyFailures) {
				t.Fatalf("guess %d: %v", i+1, err)
			}
		}
	}
	if got := r.outcome("invalid"); got != 10 {
		t.Errorf("%v Argon2id runs for 16 guesses at two keys, want 10", got)
	}
	r.clock.add(11 * time.Second) // past the TTL, the budgets not yet refilled
	if _, err := r.v.Authenticate(ctx, good, "10.0.0.1"); err != nil {
		t.Errorf("the device's own key while it is being guessed: %v", err)
	}
	if got := r.outcome("verified"); got != 2 {
		t.Errorf("%v verifications, want 2: the device's key was not hashed again", got)
	}
	if _, err := r.v.Authenticate(ctx, cold, "10.0.0.1"); !errors.Is(err, ErrTooManyFailures) {
		t.Errorf("bob's key, never verified here, right after its guesses: %v", err)
	}
	r.clock.add(time.Minute)
	if _, err := r.v.Authenticate(ctx, cold, "10.0.0.1"); err != nil {
		t.Errorf("bob's key a minute later: %v", err)
	}
}

// The failure maps stay bounded however many addresses fail, forgetting
// first those that have recovered.
func TestFailuresBounded(t *testing.T) {
	f := newFailures(5, 100)
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	f.fail("old", now)
	for i := range 10000 {
		f.fail(fmt.Sprintf("2001:db8:%x::/64", i), now.Add(time.Hour))
		if len(f.m) > 100 {
			t.Fatalf("%d entries after %d addresses", len(f.m), i+1)
		}
	}
	if _, ok := f.m["old"]; ok {
		t.Error("a recovered entry outlived the sweep")
	}
	if f.throttled("x", now) {
		t.Error("an address never seen is throttled")
	}
}

func TestVerifierBoundsHashing(t *testing.T) {
	// One run at a time and no queue: the test shows the bound.
	r := newVerifierRig(t, DefaultParams(), NewHashing(1, 0, 0), defaultCfg())
	var tokens []string
	for i := range 6 {
		tok, _ := r.key(t, "u"+string(rune('a'+i))+"@example.org")
		tokens = append(tokens, tok)
	}
	var wg sync.WaitGroup
	errs := make(chan error, len(tokens))
	for _, tok := range tokens {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := r.v.Authenticate(context.Background(), tok, "10.0.0.1")
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	busy, ok := 0, 0
	for err := range errs {
		switch {
		case err == nil:
			ok++
		case errors.Is(err, ErrBusy):
			busy++
		default:
			t.Errorf("unexpected %v", err)
		}
	}
	if ok == 0 || busy == 0 {
		t.Fatalf("%d verified, %d busy: want both with one Argon2id run at a time", ok, busy)
	}
}

func TestVerifierTouchesAndRehashes(t *testing.T) {
	r := newVerifierRig(t, cheapParams(), defaultHashing(), defaultCfg())
	ctx := context.Background()
	tok, k := r.key(t, "ana@example.org")
	// The edge verifies with stronger parameters than the key was made with.
	r.v.store = NewStore(r.v.store.pool, StoreConfig{})
	lastUsed := func() *time.Time {
		var at *time.Time
		if err := r.db.Pool.QueryRow(ctx, "SELECT last_used_at FROM api_keys WHERE id=$1", k.ID).Scan(&at); err != nil {
			t.Fatal(err)
		}
		return at
	}
	if _, err := r.v.Authenticate(ctx, tok, "c"); err != nil {
		t.Fatal(err)
	}
	if lastUsed() != nil {
		t.Fatal("last_used_at written on the request path")
	}
	r.v.flush(ctx)
	first := lastUsed()
	if first == nil || !first.Equal(r.clock.now()) {
		t.Fatalf("last_used_at %v, want %v", first, r.clock.now())
	}
	r.clock.add(30 * time.Second)
	r.v.Authenticate(ctx, tok, "c") //nolint:errcheck // cached
	r.v.flush(ctx)
	if got := lastUsed(); !got.Equal(*first) {
		t.Fatalf("written again within a minute: %v", got)
	}
	r.clock.add(31 * time.Second)
	r.v.Authenticate(ctx, tok, "c") //nolint:errcheck
	r.v.flush(ctx)
	if got := lastUsed(); !got.Equal(r.clock.now()) {
		t.Fatalf("a minute later: %v, want %v", got, r.clock.now())
	}
	var hash string
	if err := r.db.Pool.QueryRow(ctx, "SELECT secret_hash FROM api_keys WHERE id=$1", k.ID).Scan(&hash); err != nil {
		t.Fatal(err)
	}
	if ok, weaker, err := Verify(tok[len("hx_")+idLen+1:], hash, DefaultParams()); !ok || weaker || err != nil {
		t.Fatalf("hash not upgraded to the current parameters: %s (%v %v %v)", hash, ok, weaker, err)
	}
}

func benchVerifier(b *testing.B, warm bool) {
	db := testenv.NewDatabase(b)
	store := NewStore(db.Pool, StoreConfig{Hashing: defaultHashing()})
	uid, _, _ := users.NewStore(db.Pool).Ensure(context.Background(), "bench@example.org")
	tok, _, err := store.Create(context.Background(), uid, NewKey{Name: "b"})
	if err != nil {
		b.Fatal(err)
	}
	cfg := defaultCfg()
	if !warm {
		cfg.TTL = 0 // every call verifies
	}
	v := NewVerifier(store, cfg, slog.New(slog.NewJSONHandler(io.Discard, nil)), obs.NewRegistry())
	ctx := context.Background()
	if _, err := v.Authenticate(ctx, tok, "c"); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		if _, err := v.Authenticate(ctx, tok, "c"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAuthWarm is a request whose key is cached: one SHA-256 and a map
// lookup. BenchmarkAuthCold is one indexed lookup and one Argon2id run.
func BenchmarkAuthWarm(b *testing.B) { benchVerifier(b, true) }
func BenchmarkAuthCold(b *testing.B) { benchVerifier(b, false) }

func testutilCount(v *Verifier, outcome string) float64 {
	return promtestutil.ToFloat64(v.outcomes.WithLabelValues(outcome))
}
