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

	"github.com/healthexport/libs/termtext"
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
	// Printed by healthctl users list: nothing a terminal would act on.
	if err := termtext.Check(email); err != nil {
		return uuid.Nil, false, fmt.Errorf("email %q: %w", email, err)
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

// ByID returns a user's email.
func (s *Store) ByID(ctx context.Context, id uuid.UUID) (string, error) {
	var email string
	err := s.pool.QueryRow(ctx, `SELECT email FROM users WHERE id = $1`, id).Scan(&email)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", fmt.Errorf("%s: %w", id, ErrNotFound)
	}
	if err != nil {
		return "", fmt.Errorf("look up user: %w", err)
	}
	return email, nil
}

// Hold reports which of ids are users that exist, and holds their rows
// until tx ends so that Delete waits for tx to commit (FOR KEY SHARE: the
// writers and the archiver do not wait for each other, nor for key
// creation). Whoever writes a user's rows calls it first in the same
// transaction and skips the users it does not find: rows written after a
// deletion would otherwise outlive it, nothing deleting them.
func Hold(ctx context.Context, tx pgx.Tx, ids []uuid.UUID) (map[uuid.UUID]bool, error) {
	found := make(map[uuid.UUID]bool, len(ids))
	if len(ids) == 0 {
		return found, nil
	}
	// Sorted: every holder locks in the same order.
	rows, err := tx.Query(ctx, `SELECT id FROM users WHERE id = ANY($1) ORDER BY id FOR KEY SHARE`, ids)
	if err != nil {
		return nil, fmt.Errorf("hold users: %w", err)
	}
	list, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
	if err != nil {
		return nil, fmt.Errorf("hold users: %w", err)
	}
	for _, id := range list {
		found[id] = true
	}
	return found, nil
}

// bookkeeping are the tables besides the data tables that hold a user's
// rows, in the order they are deleted (api_keys would go with the user by
// ON DELETE CASCADE; deleting them explicitly counts them).
var bookkeeping = []string{"daily_summaries", "source_priorities", "summary_refreshes",
	"rejected_points", "ingestion_parts", "failed_parts", "ingestions", "raw_ingestions", "api_keys"}

// rebuildSuffix names the tables a rebuild (healthctl replay --kind K) is
// filling; they replace the live ones when it ends, so a user deleted
// meanwhile is deleted there too.
const rebuildSuffix = "_rebuild"

// TableRows is how many of a user's rows one table holds (or held).
type TableRows struct {
	Table string
	Rows  int64
}

// Count says how many rows of the user each table holds: dataTables (the
// kind registry's tables), then the bookkeeping tables and users.
func (s *Store) Count(ctx context.Context, id uuid.UUID, dataTables []string) ([]TableRows, error) {
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return nil, fmt.Errorf("count user rows: %w", err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck
	return userRows(ctx, tx, id, dataTables, "SELECT count(*) FROM %s WHERE %s = $1")
}

// Delete removes a user and everything stored for it, in one transaction:
// its rows in dataTables (and in their _rebuild copies while a rebuild is
// under way), rejected_points, ingestion_parts, failed_parts, ingestions,
// raw_ingestions, api_keys and the users row. It returns what each table lost. It is
// idempotent: run again (by id) it removes whatever was written for the
// user since, and otherwise nothing.
//
// It does not touch the stream: callers revoke the keys first and let the
// consumers catch up (healthctl users delete does both).
func (s *Store) Delete(ctx context.Context, id uuid.UUID, dataTables []string) ([]TableRows, error) {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("delete user: %w", err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck
	// First wait for every writer holding the user (Hold) to commit, and
	// keep new ones out until this commits: each DELETE below then sees
	// what they wrote, and they find the user gone afterwards.
	if _, err := tx.Exec(ctx, `SELECT 1 FROM users WHERE id = $1 FOR UPDATE`, id); err != nil {
		return nil, fmt.Errorf("delete user: %w", err)
	}
	out, err := userRows(ctx, tx, id, dataTables, "WITH d AS (DELETE FROM %s WHERE %s = $1 RETURNING 1) SELECT count(*) FROM d")
	if err != nil {
		return nil, fmt.Errorf("delete user: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, fmt.Errorf("delete user: %w", err)
	}
	return out, nil
}

// userRows runs sqlf (table, user column) on every table holding the user's
// rows and collects the counts it returns.
func userRows(ctx context.Context, tx pgx.Tx, id uuid.UUID, dataTables []string, sqlf string) ([]TableRows, error) {
	var tables []string
	for _, t := range dataTables {
		tables = append(tables, t)
		var exists bool
		if err := tx.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, pgx.Identifier{t + rebuildSuffix}.Sanitize()).Scan(&exists); err != nil {
			return nil, err
		}
		if exists {
			tables = append(tables, t+rebuildSuffix)
		}
	}
	tables = append(tables, bookkeeping...)
	out := make([]TableRows, 0, len(tables)+1)
	run := func(table, column string) error {
		var n int64
		if err := tx.QueryRow(ctx, fmt.Sprintf(sqlf, pgx.Identifier{table}.Sanitize(), column), id).Scan(&n); err != nil {
			return fmt.Errorf("%s: %w", table, err)
		}
		out = append(out, TableRows{Table: table, Rows: n})
		return nil
	}
	for _, t := range tables {
		if err := run(t, "user_id"); err != nil {
			return nil, err
		}
	}
	if err := run("users", "id"); err != nil {
		return nil, err
	}
	return out, nil
}
