package apikey

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// ErrUnauthorized covers every way a token can fail to authenticate:
// malformed, unknown, revoked or wrong. Callers answer 401 for it and
// nothing else; any other error means the key store is unavailable (503).
var ErrUnauthorized = errors.New("invalid API key")

// errWrongSecret is a real, unrevoked key with a wrong secret: someone
// guessing, or an old copy of a key. It is ErrUnauthorized to callers; the
// verifier counts it against the key id as well as the address.
var errWrongSecret = fmt.Errorf("%w: wrong secret", ErrUnauthorized)

// Principal is who an authenticated request acts for, and what the key
// may do.
type Principal struct {
	UserID uuid.UUID
	KeyID  string
	Scopes Scopes
}

// Key is a stored key as shown to its owner (never the hash).
type Key struct {
	ID         string     `json:"id"`
	Name       string     `json:"name"`
	CreatedAt  time.Time  `json:"created_at"`
	LastUsedAt *time.Time `json:"last_used_at"`
	RevokedAt  *time.Time `json:"revoked_at"`
	Scopes     []string   `json:"scopes"`
}

// Store keeps keys in PostgreSQL.
type Store struct {
	pool   *pgxpool.Pool
	params Params
}

// NewStore returns a key store hashing with params.
func NewStore(pool *pgxpool.Pool, params Params) *Store {
	return &Store{pool: pool, params: params}
}

// Create makes a key for a user and returns the token, shown only once.
// scopes are scope names ("read", "ingest", or "read,ingest"); none gives
// DefaultScopes, an unknown one ErrInvalidScope.
func (s *Store) Create(ctx context.Context, userID uuid.UUID, name string, scopes ...string) (string, Key, error) {
	sc, err := ParseScopes(scopes...)
	if err != nil {
		return "", Key{}, err
	}
	g, err := Generate(s.params)
	if err != nil {
		return "", Key{}, err
	}
	k := Key{ID: g.ID, Name: name, Scopes: sc.Names()}
	err = s.pool.QueryRow(ctx,
		`INSERT INTO api_keys (id, user_id, name, secret_hash, scopes) VALUES ($1, $2, $3, $4, $5) RETURNING created_at`,
		g.ID, userID, name, g.Hash, k.Scopes).Scan(&k.CreatedAt)
	if err != nil {
		return "", Key{}, fmt.Errorf("store key: %w", err)
	}
	return g.Token, k, nil
}

// Authenticate verifies a token without any cache: one indexed lookup and
// one Argon2id run. The edge goes through a Verifier instead.
func (s *Store) Authenticate(ctx context.Context, token string) (Principal, error) {
	id, secret, err := Parse(token)
	if err != nil {
		return Principal{}, ErrUnauthorized
	}
	p, _, err := s.check(ctx, id, secret)
	return p, err
}

// check looks the key id up and verifies the secret against its hash.
func (s *Store) check(ctx context.Context, id, secret string) (p Principal, needsRehash bool, err error) {
	var (
		hash    string
		revoked *time.Time
		scopes  []string
	)
	p.KeyID = strings.Clone(id) // cached beyond the request: never a view of its buffer
	err = s.pool.QueryRow(ctx, `SELECT user_id, secret_hash, revoked_at, scopes FROM api_keys WHERE id = $1`, id).
		Scan(&p.UserID, &hash, &revoked, &scopes)
	if errors.Is(err, pgx.ErrNoRows) {
		return Principal{}, false, ErrUnauthorized
	}
	if err != nil {
		return Principal{}, false, fmt.Errorf("look up key: %w", err)
	}
	if revoked != nil {
		return Principal{}, false, ErrUnauthorized
	}
	ok, weaker, err := Verify(secret, hash, s.params)
	if err != nil {
		return Principal{}, false, fmt.Errorf("key %s: %w", id, err)
	}
	if !ok {
		return Principal{}, false, errWrongSecret
	}
	p.Scopes = scopesFromNames(scopes)
	return p, weaker, nil
}

// rehash stores a new hash of secret made with the current parameters,
// unless the key changed meanwhile.
func (s *Store) rehash(ctx context.Context, id, secret string) error {
	hash, err := Hash(secret, s.params)
	if err != nil {
		return err
	}
	_, err = s.pool.Exec(ctx, `UPDATE api_keys SET secret_hash = $2 WHERE id = $1 AND revoked_at IS NULL`, id, hash)
	if err != nil {
		return fmt.Errorf("rehash key %s: %w", id, err)
	}
	return nil
}

// touch records when keys were last used, moving times only forward.
func (s *Store) touch(ctx context.Context, used map[string]time.Time) error {
	ids := make([]string, 0, len(used))
	times := make([]time.Time, 0, len(used))
	for id, at := range used {
		ids = append(ids, id)
		times = append(times, at)
	}
	_, err := s.pool.Exec(ctx, `UPDATE api_keys AS k SET last_used_at = u.at
		FROM unnest($1::text[], $2::timestamptz[]) AS u(id, at)
		WHERE k.id = u.id AND (k.last_used_at IS NULL OR k.last_used_at < u.at)`, ids, times)
	if err != nil {
		return fmt.Errorf("record last use: %w", err)
	}
	return nil
}

// List returns a user's keys, newest first.
func (s *Store) List(ctx context.Context, userID uuid.UUID) ([]Key, error) {
	rows, err := s.pool.Query(ctx,
		`SELECT id, name, created_at, last_used_at, revoked_at, scopes FROM api_keys WHERE user_id = $1 ORDER BY created_at DESC, id`, userID)
	if err != nil {
		return nil, fmt.Errorf("list keys: %w", err)
	}
	keys, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Key, error) {
		var k Key
		err := r.Scan(&k.ID, &k.Name, &k.CreatedAt, &k.LastUsedAt, &k.RevokedAt, &k.Scopes)
		// Stored in any order; shown in one.
		k.Scopes = scopesFromNames(k.Scopes).Names()
		return k, err
	})
	if err != nil {
		return nil, fmt.Errorf("list keys: %w", err)
	}
	return keys, nil
}

// Revoke marks one of a user's keys revoked; it reports whether the user
// has such a key (revoking twice keeps the first time).
func (s *Store) Revoke(ctx context.Context, userID uuid.UUID, keyID string) (bool, error) {
	tag, err := s.pool.Exec(ctx,
		`UPDATE api_keys SET revoked_at = coalesce(revoked_at, now()) WHERE id = $1 AND user_id = $2`, keyID, userID)
	if err != nil {
		return false, fmt.Errorf("revoke key: %w", err)
	}
	return tag.RowsAffected() == 1, nil
}

// RevokeAll revokes every key of a user that is not revoked yet and returns
// their ids, so the caller can tell the running edges.
func (s *Store) RevokeAll(ctx context.Context, userID uuid.UUID) ([]string, error) {
	rows, err := s.pool.Query(ctx,
		`UPDATE api_keys SET revoked_at = now() WHERE user_id = $1 AND revoked_at IS NULL RETURNING id`, userID)
	if err != nil {
		return nil, fmt.Errorf("revoke keys: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("revoke keys: %w", err)
	}
	return ids, nil
}
