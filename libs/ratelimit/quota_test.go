package ratelimit_test

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/healthexport/libs/obs"
	"github.com/healthexport/libs/ratelimit"
	"github.com/healthexport/libs/testenv"
)

// TestQuotaSharedInRedis: two quotas on one Redis, as two edges are, share
// each user's bytes per day: a charge that does not fit is refused whole
// (and counts nothing), other users are not affected, a refund gives the
// bytes back, and the next UTC day starts from zero.
func TestQuotaSharedInRedis(t *testing.T) {
	rdb, prefix := testenv.Redis(t)
	now := time.Date(2026, 12, 4, 18, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	a := ratelimit.NewQuota(quiet(), rdb, prefix, 1000, obs.NewRegistry()).WithClock(clock)
	b := ratelimit.NewQuota(quiet(), rdb, prefix, 1000, obs.NewRegistry()).WithClock(clock)
	ctx := context.Background()
	steps := []struct {
		name    string
		q       *ratelimit.Quota
		user    string
		bytes   int64
		allowed bool
		used    int64
	}{
		{"first upload", a, "ana", 400, true, 400},
		{"on another edge", b, "ana", 500, true, 900},
		{"does not fit", a, "ana", 200, false, 900},
		{"nor on the other edge", b, "ana", 101, false, 900},
		{"what fits still does", b, "ana", 100, true, 1000},
		{"another user", a, "bo", 1000, true, 1000},
		{"full", a, "ana", 1, false, 1000},
	}
	for _, s := range steps {
		d := s.q.Charge(ctx, s.user, s.bytes)
		if d.Allowed != s.allowed || d.Used != s.used || d.Limit != 1000 || d.Local {
			t.Fatalf("%s: %+v, want allowed=%v used=%d", s.name, d, s.allowed, s.used)
		}
		if !d.Allowed && d.RetryAfter != 6*time.Hour {
			t.Errorf("%s: retry after %v, want 6h (until midnight UTC)", s.name, d.RetryAfter)
		}
	}
	// A publish that failed gives its bytes back.
	a.Refund(ctx, "ana", 300, ratelimit.QuotaDecision{Allowed: true, Day: "2026-12-04"})
	if d := b.Charge(ctx, "ana", 300); !d.Allowed || d.Used != 1000 {
		t.Fatalf("after a refund of 300: %+v", d)
	}
	now = now.Add(6 * time.Hour) // midnight UTC
	if d := a.Charge(ctx, "ana", 1000); !d.Allowed || d.Used != 1000 {
		t.Fatalf("the next day: %+v", d)
	}
	ttl, err := rdb.TTL(ctx, prefix+"quota:ana:2026-12-05").Result()
	if err != nil || ttl <= 24*time.Hour || ttl > 48*time.Hour {
		t.Errorf("the day's counter expires in %v (%v), want within two days", ttl, err)
	}
}

// With Redis unreachable each edge counts the same quota on its own.
func TestQuotaFallbackWhenRedisIsDown(t *testing.T) {
	dead := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", DialTimeout: 50 * time.Millisecond, MaxRetries: -1})
	defer dead.Close()
	q := ratelimit.NewQuota(quiet(), dead, "t:", 100, obs.NewRegistry())
	ctx := context.Background()
	for i, want := range []bool{true, true, false} {
		d := q.Charge(ctx, "ana", 40)
		if d.Allowed != want || !d.Local {
			t.Fatalf("charge %d: %+v, want allowed=%v decided locally", i+1, d, want)
		}
	}
	q.Refund(ctx, "ana", 40, ratelimit.QuotaDecision{Allowed: true, Local: true})
	if d := q.Charge(ctx, "ana", 60); !d.Allowed || d.Used != 100 {
		t.Fatalf("after a local refund: %+v", d)
	}
}

// TestQuotaRefundAfterMidnight: an upload charged just before midnight UTC
// whose publish fails just after gets its bytes back on the day it was
// charged, in Redis and in an edge's own count alike; the new day's count
// is left as it was.
func TestQuotaRefundAfterMidnight(t *testing.T) {
	rdb, prefix := testenv.Redis(t)
	dead := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", DialTimeout: 50 * time.Millisecond, MaxRetries: -1})
	t.Cleanup(func() { dead.Close() })
	for _, c := range []struct {
		name  string
		rdb   *redis.Client
		local bool
	}{
		{"redis", rdb, false},
		{"each edge on its own", dead, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			now := time.Date(2026, 12, 4, 23, 59, 59, 0, time.UTC)
			q := ratelimit.NewQuota(quiet(), c.rdb, prefix+c.name+":", 1000, obs.NewRegistry()).WithClock(func() time.Time { return now })
			ctx := context.Background()
			before := q.Charge(ctx, "ana", 400)
			if !before.Allowed || before.Local != c.local || before.Day != "2026-12-04" {
				t.Fatalf("the charge before midnight: %+v", before)
			}
			now = now.Add(2 * time.Second)
			if d := q.Charge(ctx, "ana", 100); !d.Allowed || d.Used != 100 {
				t.Fatalf("the first charge of the new day: %+v", d)
			}
			q.Refund(ctx, "ana", 400, before)
			// The new day holds its 100 bytes still: 900 more fit exactly.
			if d := q.Charge(ctx, "ana", 900); !d.Allowed || d.Used != 1000 {
				t.Errorf("after refunding yesterday's charge: %+v, want 1000 used today", d)
			}
			if !c.local {
				if got, err := c.rdb.Get(ctx, prefix+c.name+":quota:ana:2026-12-04").Int64(); err != nil || got != 0 {
					t.Errorf("yesterday's counter: %d (%v), want 0", got, err)
				}
			}
		})
	}
}
