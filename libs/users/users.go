// Package users keeps the people data belongs to.
package users

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

// ErrNotFound is an unknown email.
var ErrNotFound = errors.New("no such user")

// Store keeps users in PostgreSQL.
type Store struct{ pool *pgxpool.Pool }

// NewStore returns a user store.
func NewStore(pool *pgxpool.Pool) *Store { return &Store{pool: pool} }

// NormalizeEmail trims and lower-cases an address so one person is one user.
func NormalizeEmail(email string) string { return strings.ToLower(strings.TrimSpace(email)) }

// Ensure returns the user with this email, creating it when missing;
// created says which happened. Scripts may call it again safely.
func (s *Store) Ensure(ctx context.Context, email string) (id uuid.UUID, created bool, err error) {
	email = NormalizeEmail(email)
	if email == "" || !strings.Contains(email, "@") {
		return uuid.Nil, false, fmt.Errorf("email %q: want an address like name@example.org", email)
	}
	err = s.pool.QueryRow(ctx,
		`INSERT INTO users (email) VALUES ($1) ON CONFLICT (email) DO NOTHING RETURNING id`, email).Scan(&id)
	if err == nil {
		return id, true, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return uuid.Nil, false, fmt.Errorf("create user: %w", err)
	}
	id, err = s.ByEmail(ctx, email)
	return id, false, err
}

// ByEmail looks a user up.
func (s *Store) ByEmail(ctx context.Context, email string) (uuid.UUID, error) {
	var id uuid.UUID
	err := s.pool.QueryRow(ctx, `SELECT id FROM users WHERE email = $1`, NormalizeEmail(email)).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return uuid.Nil, fmt.Errorf("%s: %w", NormalizeEmail(email), ErrNotFound)
	}
	if err != nil {
		return uuid.Nil, fmt.Errorf("look up user: %w", err)
	}
	return id, nil
}

// User is a row of the user list.
type User struct {
	ID         uuid.UUID
	Email      string
	CreatedAt  time.Time
	ActiveKeys int
}

// List returns every user with the number of keys not revoked.
func (s *Store) List(ctx context.Context) ([]User, error) {
	rows, err := s.pool.Query(ctx, `SELECT u.id, u.email, u.created_at,
		(SELECT count(*) FROM api_keys k WHERE k.user_id = u.id AND k.revoked_at IS NULL)
		FROM users u ORDER BY u.email`)
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (User, error) {
		var u User
		err := r.Scan(&u.ID, &u.Email, &u.CreatedAt, &u.ActiveKeys)
		return u, err
	})
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	return list, nil
}
