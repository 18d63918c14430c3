// Package pgstore holds what every writer needs from PostgreSQL: the pool,
// one generic batch upsert over table descriptions, monthly partitions made
// on demand, and the classification of errors into data and infrastructure.
package pgstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Open connects a pool and checks it answers.
func Open(ctx context.Context, databaseURL string, maxConns int32) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(databaseURL)
	if err != nil {
		return nil, fmt.Errorf("DATABASE_URL: %w", err)
	}
	if maxConns > 0 {
		cfg.MaxConns = maxConns
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect postgres: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("ping postgres: %w", err)
	}
	return pool, nil
}

// Class says what to do about an error from a write.
type Class int

const (
	// Infrastructure: the database is away or overloaded; retry the same
	// batch later (NakWithDelay with backoff).
	Infrastructure Class = iota
	// Data: the database refused this data (SQLSTATE class 22 or 23);
	// retrying the same rows fails the same way, so isolate them.
	Data
	// Conflict: a deadlock or serialization failure; retry at once.
	Conflict
)

// Classify maps an error to what the caller should do.
func Classify(err error) Class {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code[:2] {
		case "22", "23":
			return Data
		case "40":
			return Conflict
		}
	}
	// Connection failures, timeouts, missing tables: the same rows will
	// succeed once the database is back or migrated.
	return Infrastructure
}

// IsNoPartition reports the error PostgreSQL gives when a row has no
// partition: a cached partition was dropped behind the writer's back.
func IsNoPartition(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23514" && pgErr.Routine == "ExecFindPartition"
}

// Querier is what the upsert needs: a transaction or a connection.
type Querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	CopyFrom(ctx context.Context, table pgx.Identifier, columns []string, rows pgx.CopyFromSource) (int64, error)
}
