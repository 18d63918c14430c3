package ratelimit_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/healthexport/libs/obs"
	"github.com/healthexport/libs/ratelimit"
	"github.com/healthexport/libs/testenv"
)

func quiet() *slog.Logger { return slog.New(slog.NewJSONHandler(io.Discard, nil)) }

// Two limiters on one Redis, as two edges are, share one limit.
func TestSharedLimitInRedis(t *testing.T) {
	rdb, prefix := testenv.Redis(t)
	a := ratelimit.New(quiet(), rdb, prefix, 3, time.Hour, obs.NewRegistry())
	b := ratelimit.New(quiet(), rdb, prefix, 3, time.Hour, obs.NewRegistry())
	ctx := context.Background()
	steps := []struct {
		l         *ratelimit.Limiter
		allowed   bool
		remaining int
	}{{a, true, 2}, {b, true, 1}, {a, true, 0}, {b, false, 0}, {a, false, 0}}
	for i, s := range steps {
		d := s.l.Allow(ctx, "key1")
		if d.Allowed != s.allowed || d.Remaining != s.remaining || d.Limit != 3 || d.Local {
			t.Fatalf("request %d: %+v, want allowed=%v remaining=%d", i+1, d, s.allowed, s.remaining)
		}
		if !d.Allowed && (d.RetryAfter < 19*time.Minute || d.RetryAfter > 20*time.Minute) {
			t.Errorf("request %d: retry after %v, want about 20 min (one hour / 3)", i+1, d.RetryAfter)
		}
	}
	if d := a.Allow(ctx, "key2"); !d.Allowed {
		t.Fatalf("another key is limited too: %+v", d)
	}
	if a.Degraded() {
		t.Error("degraded with Redis up")
	}
}

// With Redis unreachable the same limits apply in-process, and the
// limiter says it is degraded.
func TestFallbackWhenRedisIsDown(t *testing.T) {
	dead := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", DialTimeout: 50 * time.Millisecond, MaxRetries: -1})
	defer dead.Close()
	l := ratelimit.New(quiet(), dead, "t:", 2, time.Hour, obs.NewRegistry())
	ctx := context.Background()
	for i, want := range []bool{true, true, false} {
		d := l.Allow(ctx, "k")
		if d.Allowed != want || !d.Local {
			t.Fatalf("request %d: %+v, want allowed=%v decided locally", i+1, d, want)
		}
		if !want && (d.RetryAfter <= 29*time.Minute || d.RetryAfter > 30*time.Minute) {
			t.Errorf("retry after %v, want about 30 min", d.RetryAfter)
		}
	}
	if !l.Degraded() {
		t.Error("not degraded without Redis")
	}
}
