// Package fleet makes the simulated phones of the benchmark and the chaos
// harness: each its own user and API key, as real devices have, so that
// load stays within every key's rate limit without a bypass in the edge.
package fleet

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/healthexport/libs/apikey"
	"github.com/healthexport/libs/users"
)

// Device is one simulated phone.
type Device struct {
	N      int
	UserID uuid.UUID
	Key    string // the API key, hx_<id>_<secret>
	Source string // the source name its points carry
}

// Make creates (or reuses) the users device00@<name>.invalid … and gives
// each a new key named name; sources read "<watch> 00", "<watch> 01", ….
func Make(ctx context.Context, pool *pgxpool.Pool, n int, name, watch string) ([]Device, error) {
	us := users.NewStore(pool)
	keys := apikey.NewStore(pool, apikey.StoreConfig{})
	out := make([]Device, n)
	for i := range n {
		uid, _, err := us.Ensure(ctx, fmt.Sprintf("device%02d@%s.invalid", i, name))
		if err != nil {
			return nil, fmt.Errorf("user: %w", err)
		}
		tok, _, err := keys.Create(ctx, uid, apikey.NewKey{Name: name})
		if err != nil {
			return nil, fmt.Errorf("key: %w", err)
		}
		out[i] = Device{N: i, UserID: uid, Key: tok, Source: fmt.Sprintf("%s %02d", watch, i)}
	}
	return out, nil
}
