// Package pgstore holds what every writer needs from PostgreSQL: the pool,
// one generic batch upsert over table descriptions, monthly partitions made
// on demand, and the classification of errors: data, conflict, the database
// unavailable, or unexpected.
package pgstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Open connects a pool and checks it answers.
func Open(ctx context.Context, databaseURL string, maxConns int32) (*pgxpool.Pool, error) {
	pool, err := Connect(ctx, databaseURL, maxConns)
	if err != nil {
		return nil, err
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("ping postgres: %w", err)
	}
	return pool, nil
}

// Connect makes a pool without waiting for the server: its connections are
// made when first used, so a server that is away fails those uses (and a
// readiness check), not the start of the process.
func Connect(ctx context.Context, databaseURL string, maxConns int32) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(databaseURL)
	if err != nil {
		return nil, fmt.Errorf("postgres URL: %w", err) // pgx quotes it with the password redacted
	}
	if maxConns > 0 {
		cfg.MaxConns = maxConns
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect postgres: %w", err)
	}
	return pool, nil
}

// Class says what to do about an error from a write.
type Class int

const (
	// Unexpected: anything not known to be an outage or the data's fault (an
	// undefined column, a missing privilege, a bug). Retried with backoff a
	// bounded number of times, then the message is given up and recorded.
	Unexpected Class = iota
	// Unavailable: the database is away or overloaded (connection lost or
	// refused, timeout, shutdown, out of resources). Retried with backoff for
	// as long as it lasts.
	Unavailable
	// Data: the database refused this data (SQLSTATE class 22, 23 or 54);
	// retrying the same rows fails the same way, so isolate them.
	Data
	// Conflict: a deadlock or serialization failure; retry at once.
	Conflict
)

func (c Class) String() string {
	switch c {
	case Unavailable:
		return "unavailable"
	case Data:
		return "data"
	case Conflict:
		return "conflict"
	default:
		return "unexpected"
	}
}

// Classify maps an error to what the caller should do. Signs of a lost
// connection win over a server error found beside them (a failed rollback
// joined to the error that caused it).
func Classify(err error) Class {
	if unavailable(err) {
		return Unavailable
	}
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || len(pgErr.Code) < 2 {
		return Unexpected
	}
	switch pgErr.Code {
	case "25006", // read_only_sql_transaction: a standby, or read-only for maintenance
		"25P03", // idle_in_transaction_session_timeout: the session is gone
		"55P03": // lock_not_available: lock_timeout while someone else holds it
		return Unavailable
	}
	if IsNoPartition(err) {
		// Not the data's fault: the cache is refreshed and the next
		// delivery makes the partition.
		return Unexpected
	}
	switch pgErr.Code[:2] {
	case "22", "23", "54": // data exception, integrity, program limit (an index row too big)
		return Data
	case "40":
		return Conflict
	case "08", "53", "57", "58": // connection, resources, operator intervention, system
		return Unavailable
	}
	return Unexpected
}

// unavailable reports errors of reaching the server rather than of what
// was asked of it.
func unavailable(err error) bool {
	var (
		connErr *pgconn.ConnectError
		netErr  net.Error
	)
	return errors.As(err, &connErr) || errors.As(err, &netErr) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) ||
		errors.Is(err, pgconn.ErrConnClosed) || pgconn.SafeToRetry(err) || pgconn.Timeout(err)
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
