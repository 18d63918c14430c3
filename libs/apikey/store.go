package apikey

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// ErrUnauthorized covers every way a token can fail to authenticate:
// malformed, unknown, revoked or wrong. Callers answer 401 for it and
// nothing else; any other error means the key store is unavailable (503).
var ErrUnauthorized = errors.New("invalid API key")

// Principal is who an authenticated request acts for.
type Principal struct {
	UserID uuid.UUID
	KeyID  string
}

// Key is a stored key as shown to its owner (never the hash).
type Key struct {
	ID         string     `json:"id"`
	Name       string     `json:"name"`
	CreatedAt  time.Time  `json:"created_at"`
	LastUsedAt *time.Time `json:"last_used_at"`
	RevokedAt  *time.Time `json:"revoked_at"`
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
func (s *Store) Create(ctx context.Context, userID uuid.UUID, name string) (string, Key, error) {
	g, err := Generate(s.params)
	if err != nil {
		return "", Key{}, err
	}
	k := Key{ID: g.ID, Name: name}
	err = s.pool.QueryRow(ctx,
		`INSERT INTO api_keys (id, user_id, name, secret_hash) VALUES ($1, $2, $3, $4) RETURNING created_at`,
		g.ID, userID, name, g.Hash).Scan(&k.CreatedAt)
	if err != nil {
		return "", Key{}, fmt.Errorf("store key: %w", err)
	}
	return g.Token, k, nil
}

// Authenticate verifies a token: one indexed lookup and one Argon2id run.
func (s *Store) Authenticate(ctx context.Context, token string) (Principal, error) {
	id, secret, err := Parse(token)
	if err != nil {
		return Principal{}, ErrUnauthorized
	}
	var (
		p       = Principal{KeyID: id}
		hash    string
		revoked *time.Time
	)
	err = s.pool.QueryRow(ctx, `SELECT user_id, secret_hash, revoked_at FROM api_keys WHERE id = $1`, id).
		Scan(&p.UserID, &hash, &revoked)
	if errors.Is(err, pgx.ErrNoRows) {
		return Principal{}, ErrUnauthorized
	}
	if err != nil {
		return Principal{}, fmt.Errorf("look up key: %w", err)
	}
	if revoked != nil {
		return Principal{}, ErrUnauthorized
	}
	ok, _, err := Verify(secret, hash, s.params)
	if err != nil {
		return Principal{}, fmt.Errorf("key %s: %w", id, err)
	}
	if !ok {
		return Principal{}, ErrUnauthorized
	}
	return p, nil
}

// List returns a user's keys, newest first.
func (s *Store) List(ctx context.Context, userID uuid.UUID) ([]Key, error) {
	rows, err := s.pool.Query(ctx,
		`SELECT id, name, created_at, last_used_at, revoked_at FROM api_keys WHERE user_id = $1 ORDER BY created_at DESC, id`, userID)
	if err != nil {
		return nil, fmt.Errorf("list keys: %w", err)
	}
	keys, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Key, error) {
		var k Key
		err := r.Scan(&k.ID, &k.Name, &k.CreatedAt, &k.LastUsedAt, &k.RevokedAt)
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
