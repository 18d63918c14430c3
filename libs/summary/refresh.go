package summary

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/healthexport/libs/kind"
)

// Scopes of a queued refresh (summary_refreshes.scope).
const (
	ScopeAll      = "all"      // every summary of the user's data
	ScopePriority = "priority" // the summaries the source priority decides
)

// Queue asks the background refresher to recompute a user's summaries, in
// the caller's transaction.
func Queue(ctx context.Context, tx pgx.Tx, user uuid.UUID, scope string) error {
	if _, err := tx.Exec(ctx, `INSERT INTO summary_refreshes (user_id, scope) VALUES ($1, $2)`, user, scope); err != nil {
		return fmt.Errorf("queue a summary refresh: %w", err)
	}
	return nil
}

// Refresher works through the queued refreshes (summary_refreshes): the
// metric-writer runs one. Several may run at once: each claims a request
// with SKIP LOCKED and holds it until done, so a refresher that dies
// leaves its request to the next.
type Refresher struct {
	log   *slog.Logger
	pool  *pgxpool.Pool
	m     *Maintainer
	kinds []*kind.Kind
	every time.Duration
}

// refreshPoll is how often an idle refresher looks for requests.
const refreshPoll = time.Second

// NewRefresher returns a refresher of reg's summaries.
func NewRefresher(log *slog.Logger, pool *pgxpool.Pool, reg *kind.Registry) *Refresher {
	r := &Refresher{log: log.With("task", "summary-refresh"), pool: pool, m: New(reg), every: refreshPoll}
	for _, k := range reg.Kinds() {
		if k.Summary != nil {
			r.kinds = append(r.kinds, k)
		}
	}
	return r
}

// Run refreshes until ctx ends; a failure is logged and retried at the
// next poll (the request stays queued).
func (r *Refresher) Run(ctx context.Context) error {
	t := time.NewTicker(r.every)
	defer t.Stop()
	for {
		did, err := r.One(ctx)
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil:
			r.log.Warn("summary refresh failed; retrying", "err", err)
		case did:
			continue
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// One carries out the oldest unclaimed request, if any.
func (r *Refresher) One(ctx context.Context) (bool, error) {
	tx, err := r.pool.Begin(ctx)
	if err != nil {
		return false, err
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck
	var (
		id    int64
		user  uuid.UUID
		scope string
	)
	err = tx.QueryRow(ctx, `SELECT id, user_id, scope FROM summary_refreshes ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED`).Scan(&id, &user, &scope)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("claim a summary refresh: %w", err)
	}
	start := time.Now()
	s := Scope{Priority: true}
	if scope == ScopeAll {
		s = Scope{Kinds: r.kinds}
	}
	if err := r.m.RefreshUser(ctx, r.pool, user, s); err != nil {
		return false, err
	}
	if _, err := tx.Exec(ctx, `DELETE FROM summary_refreshes WHERE id = $1`, id); err != nil {
		return false, err
	}
	if err := tx.Commit(ctx); err != nil {
		return false, err
	}
	r.log.Info("summaries refreshed", "user", user, "scope", scope, "seconds", time.Since(start).Seconds())
	return true, nil
}

// Priorities reads and sets users' source priorities.
type Priorities struct{ pool *pgxpool.Pool }

// NewPriorities returns the store of source priorities.
func NewPriorities(pool *pgxpool.Pool) *Priorities { return &Priorities{pool: pool} }

// Priority is a user's source priority as the API shows it.
type Priority struct {
	Priority []string `json:"priority"`
	// Default: the user has not set one.
	Default bool `json:"default"`
	// Refreshing: summaries are being recomputed after a change.
	Refreshing bool `json:"refreshing"`
}

// Limits on a priority list.
const (
	MaxPriorityEntries = 20
	MaxPriorityLength  = 200
)

// ErrBadPriority is a priority list outside the limits.
var ErrBadPriority = errors.New("invalid source priority")

// Get returns a user's priority.
func (p *Priorities) Get(ctx context.Context, user uuid.UUID) (Priority, error) {
	var out Priority
	err := p.pool.QueryRow(ctx, `SELECT (SELECT priority FROM source_priorities WHERE user_id = $1),
		EXISTS (SELECT FROM summary_refreshes WHERE user_id = $1)`, user).Scan(&out.Priority, &out.Refreshing)
	if err != nil {
		return out, fmt.Errorf("read the source priority: %w", err)
	}
	if out.Priority == nil {
		out.Priority, out.Default = DefaultPriority, true
	}
	return out, nil
}

// Set stores a user's priority (empty: back to the default) and queues the
// refresh of the summaries it decides, in one transaction.
func (p *Priorities) Set(ctx context.Context, user uuid.UUID, priority []string) (Priority, error) {
	if len(priority) > MaxPriorityEntries {
		return Priority{}, fmt.Errorf("%w: at most %d entries", ErrBadPriority, MaxPriorityEntries)
	}
	clean := make([]string, 0, len(priority))
	for _, s := range priority {
		s = strings.TrimSpace(s)
		if s == "" || len(s) > MaxPriorityLength || strings.Contains(s, "|") {
			return Priority{}, fmt.Errorf("%w: each entry is 1 to %d characters of a source's name, without |", ErrBadPriority, MaxPriorityLength)
		}
		clean = append(clean, s)
	}
	err := pgx.BeginFunc(ctx, p.pool, func(tx pgx.Tx) error {
		var err error
		if len(clean) == 0 {
			_, err = tx.Exec(ctx, `DELETE FROM source_priorities WHERE user_id = $1`, user)
		} else {
			_, err = tx.Exec(ctx, `INSERT INTO source_priorities (user_id, priority) VALUES ($1, $2)
				ON CONFLICT (user_id) DO UPDATE SET priority = excluded.priority, updated_at = now()`, user, clean)
		}
		if err != nil {
			return fmt.Errorf("store the source priority: %w", err)
		}
		return Queue(ctx, tx, user, ScopePriority)
	})
	if err != nil {
		return Priority{}, err
	}
	return p.Get(ctx, user)
}
