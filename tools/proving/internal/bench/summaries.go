package bench

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/healthexport/libs/apikey"
	"github.com/healthexport/libs/summary"
	"github.com/healthexport/libs/users"
)

// summaryYears is the history each user has: ten years of daily summaries
// of ten metrics, what ten years of minute data leave (the read touches the
// summaries only).
const summaryYears = 10

// summariesLatency is the p95 of GET /v1/summaries/daily for a year of ten
// metrics (one page), a random year out of a user's ten, beside two other
// users' ten years.
func summariesLatency(ctx context.Context, pool *pgxpool.Pool, edge string, requests int) (float64, error) {
	first := time.Date(2016, 1, 1, 0, 0, 0, 0, time.UTC)
	days := int(first.AddDate(summaryYears, 0, 0).Sub(first).Hours() / 24)
	us := users.NewStore(pool)
	var key string
	for i, email := range []string{"summaries@bench.invalid", "summaries-bo@bench.invalid", "summaries-cy@bench.invalid"} {
		uid, _, err := us.Ensure(ctx, email)
		if err != nil {
			return 0, err
		}
		if err := summary.Synthetic(ctx, pool, uid, first, days, summary.BenchmarkMetrics); err != nil {
			return 0, err
		}
		if i == 0 {
			if key, _, err = apikey.NewStore(pool, apikey.StoreConfig{}).Create(ctx, uid, apikey.NewKey{Name: "summaries", Scopes: []string{"read"}}); err != nil {
				return 0, err
			}
		}
	}
	if _, err := pool.Exec(ctx, "ANALYZE daily_summaries"); err != nil {
		return 0, err
	}
	q := url.Values{"limit": {"10000"}}
	for _, m := range summary.BenchmarkMetrics {
		q.Add("metric", m)
	}
	var took []time.Duration
	for i := range requests + 1 {
		y := 2016 + i%summaryYears
		q.Set("from", fmt.Sprintf("%d-01-01", y))
		q.Set("to", fmt.Sprintf("%d-01-01", y+1))
		start := time.Now()
		if err := getOK(edge+"/v1/summaries/daily?"+q.Encode(), key); err != nil {
			return 0, err
		}
		if i > 0 { // the first verified the key (Argon2id), as a client's first request does
			took = append(took, time.Since(start))
		}
	}
	slices.Sort(took)
	return float64(took[len(took)*95/100].Microseconds()) / 1000, nil
}

func getOK(u, key string) error {
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %d %s", u, resp.StatusCode, body)
	}
	return nil
}
