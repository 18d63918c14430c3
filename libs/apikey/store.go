package apikey

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/healthexport/libs/termtext"
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
	// CreatedBy is the key that made this one through the API (null for
	// keys an operator made): revoking it revokes this one too.
	CreatedBy *string `json:"created_by"`
}

// DefaultMaxKeysPerUser is how many unrevoked keys a user may hold when
// the configuration does not say.
const DefaultMaxKeysPerUser = 20

// MaxNameBytes bounds a key's name.
const MaxNameBytes = 100

// Errors of Create besides ErrInvalidScope and ErrBusy.
var (
	// ErrTooManyKeys is a user at the cap of unrevoked keys.
	ErrTooManyKeys = errors.New("too many keys")
	// ErrInvalidName is a name too long or holding control characters.
	ErrInvalidName = errors.New("invalid key name")
	// ErrNoUser is a key for a user that does not exist.
	ErrNoUser = errors.New("no such user")
)

// StoreConfig sets how a Store hashes and how many keys a user may hold.
type StoreConfig struct {
	Params Params // Argon2id cost; zero: DefaultParams
	// Hashing bounds the Store's Argon2id runs (verifications, new keys,
	// stronger hashes); nil runs them at once.
	Hashing        *Hashing
	MaxKeysPerUser int // unrevoked keys per user; zero: DefaultMaxKeysPerUser
}

// Store keeps keys in PostgreSQL.
type Store struct {
	pool    *pgxpool.Pool
	params  Params
	hashing *Hashing
	maxKeys int
}

// NewStore returns a key store.
func NewStore(pool *pgxpool.Pool, cfg StoreConfig) *Store {
	if cfg.Params == (Params{}) {
		cfg.Params = DefaultParams()
	}
	if cfg.MaxKeysPerUser <= 0 {
		cfg.MaxKeysPerUser = DefaultMaxKeysPerUser
	}
	return &Store{pool: pool, params: cfg.Params, hashing: cfg.Hashing, maxKeys: cfg.MaxKeysPerUser}
}

// NewKey is what a key is made with.
type NewKey struct {
	Name string
	// Scopes are scope names ("read", "ingest", "keys", or "read,ingest");
	// none gives DefaultScopes, an unknown one ErrInvalidScope.
	Scopes []string
	// CreatedBy is the key making this one (API requests), "" for an
	// operator.
	CreatedBy string
}

// ValidateName checks a key's name: at most MaxNameBytes, and nothing a
// terminal would act on when an operator lists the keys.
func ValidateName(name string) error {
	if len(name) > MaxNameBytes {
		return fmt.Errorf("%w: %d bytes, at most %d", ErrInvalidName, len(name), MaxNameBytes)
	}
	if err := termtext.Check(name); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidName, err)
	}
	return nil
}

// Create makes a key for a user and returns the token, shown only once. The
// name is trimmed and validated (ErrInvalidName); a user already holding
// MaxKeysPerUser unrevoked keys gets ErrTooManyKeys; the Argon2id run waits
// for the Store's Hashing (ErrBusy when it cannot).
func (s *Store) Create(ctx context.Context, userID uuid.UUID, nk NewKey) (string, Key, error) {
	name := strings.TrimSpace(nk.Name)
	if err := ValidateName(name); err != nil {
		return "", Key{}, err
	}
	sc, err := ParseScopes(nk.Scopes...)
	if err != nil {
		return "", Key{}, err
	}
	var g Generated
	if err := s.hashing.run(ctx, func() { g, err = Generate(s.params) }); err != nil {
		return "", Key{}, err
	}
	if err != nil {
		return "", Key{}, err
	}
	k := Key{ID: g.ID, Name: name, Scopes: sc.Names()}
	if nk.CreatedBy != "" {
		k.CreatedBy = &nk.CreatedBy
	}
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// One creation at a time per user: the count, a statement of its
		// own so that it sees what the previous holder of the lock
		// committed, holds until the insert commits. NO KEY UPDATE: writers
		// holding the user's row (FOR KEY SHARE) do not wait for it, nor
		// it for them.
		tag, err := tx.Exec(ctx, `SELECT 1 FROM users WHERE id = $1 FOR NO KEY UPDATE`, userID)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("%w %s", ErrNoUser, userID)
		}
		var held int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM api_keys WHERE user_id = $1 AND revoked_at IS NULL`, userID).Scan(&held); err != nil {
			return err
		}
		if held >= s.maxKeys {
			return fmt.Errorf("%w: the user has %d unrevoked keys, the most allowed (KEYS_MAX_PER_USER); revoke one first", ErrTooManyKeys, held)
		}
		return tx.QueryRow(ctx,
			`INSERT INTO api_keys (id, user_id, name, secret_hash, scopes, created_by) VALUES ($1, $2, $3, $4, $5, $6) RETURNING created_at`,
			g.ID, userID, name, g.Hash, k.Scopes, k.CreatedBy).Scan(&k.CreatedAt)
	})
	if err != nil {
		if errors.Is(err, ErrNoUser) || errors.Is(err, ErrTooManyKeys) {
			return "", Key{}, err
		}
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
	var ok, weaker bool
	if herr := s.hashing.run(ctx, func() { ok, weaker, err = Verify(secret, hash, s.params) }); herr != nil {
		return Principal{}, false, herr
	}
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
func (s *Store) rehash(ctx context.Context, id, secret string) (err error) {
	var hash string
	if herr := s.hashing.run(ctx, func() { hash, err = Hash(secret, s.params) }); herr != nil {
		return herr // busy: the next use asks again
	}
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
		`SELECT id, name, created_at, last_used_at, revoked_at, scopes, created_by FROM api_keys WHERE user_id = $1 ORDER BY created_at DESC, id`, userID)
	if err != nil {
		return nil, fmt.Errorf("list keys: %w", err)
	}
	keys, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Key, error) {
		var k Key
		err := r.Scan(&k.ID, &k.Name, &k.CreatedAt, &k.LastUsedAt, &k.RevokedAt, &k.Scopes, &k.CreatedBy)
		// Stored in any order; shown in one.
		k.Scopes = scopesFromNames(k.Scopes).Names()
		return k, err
	})
	if err != nil {
		return nil, fmt.Errorf("list keys: %w", err)
	}
	return keys, nil
}

// Revoke marks one of a user's keys revoked and, with cascade, every key
// made from it through the API, and from those, and so on: a stolen key
// with the keys scope cannot leave keys of its own behind. It returns the
// ids of the keys now revoked, the one asked for first (revoking twice keeps
// the first time); none when the user has no such key.
func (s *Store) Revoke(ctx context.Context, userID uuid.UUID, keyID string, cascade bool) ([]string, error) {
	rows, err := s.pool.Query(ctx, `WITH RECURSIVE tree (id, depth) AS (
			SELECT id, 0 FROM api_keys WHERE id = $1 AND user_id = $2
			UNION
			SELECT k.id, t.depth + 1 FROM api_keys k JOIN tree t ON k.created_by = t.id
			WHERE $3 AND k.user_id = $2
		)
		UPDATE api_keys k SET revoked_at = coalesce(k.revoked_at, now())
		FROM tree WHERE k.id = tree.id
		RETURNING k.id, tree.depth`, keyID, userID, cascade)
	if err != nil {
		return nil, fmt.Errorf("revoke key: %w", err)
	}
	type revoked struct {
		id    string
		depth int
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (revoked, error) {
		var x revoked
		err := r.Scan(&x.id, &x.depth)
		return x, err
	})
	if err != nil {
		return nil, fmt.Errorf("revoke key: %w", err)
	}
	slices.SortFunc(list, func(a, b revoked) int { return cmp.Or(cmp.Compare(a.depth, b.depth), strings.Compare(a.id, b.id)) })
	ids := make([]string, len(list))
	for i, x := range list {
		ids[i] = x.id
	}
	return ids, nil
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
