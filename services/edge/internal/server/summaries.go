package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	"github.com/healthexport/libs/query"
	"github.com/healthexport/libs/summary"
)

// Priorities reads and sets a user's source priority.
type Priorities interface {
	Get(ctx context.Context, user uuid.UUID) (summary.Priority, error)
	Set(ctx context.Context, user uuid.UUID, priority []string) (summary.Priority, error)
}

// dateParam reads a local date, YYYY-MM-DD.
func dateParam(c *fiber.Ctx, name string) (time.Time, error) {
	v := c.Query(name)
	if v == "" {
		return time.Time{}, nil
	}
	d, err := time.Parse(time.DateOnly, v)
	if err != nil {
		return d, fail(fiber.StatusBadRequest, "invalid_date", name+": want a date such as 2025-03-01")
	}
	return d, nil
}

// readDailySummaries is GET /v1/summaries/daily: one row per metric and
// local day (sleep: per night), metrics repeated, from/to local dates.
func (s *Server) readDailySummaries(c *fiber.Ctx) error {
	metrics := c.Context().QueryArgs().PeekMulti("metric")
	if len(metrics) == 0 {
		return fail(fiber.StatusBadRequest, "missing_metric", "name at least one metric: metric=step_count&metric=heart_rate")
	}
	if len(metrics) > query.MaxSummaryMetrics {
		return fail(fiber.StatusBadRequest, "too_many_metrics", fmt.Sprintf("at most %d metrics", query.MaxSummaryMetrics))
	}
	names := make([]string, len(metrics))
	for i, m := range metrics {
		names[i] = string(m)
	}
	from, err := dateParam(c, "from")
	if err != nil {
		return err
	}
	to, err := dateParam(c, "to")
	if err != nil {
		return err
	}
	if err := checkRange(from, to); err != nil {
		return err
	}
	p, err := pageParams(c, defaultLimit, maxLimit)
	if err != nil {
		return err
	}
	ctx, cancel := s.queryContext(c)
	defer cancel()
	res, err := s.deps.Query.DailySummaries(ctx, principal(c).UserID, names, from, to, p)
	if err != nil {
		return s.queryError(err)
	}
	return sendResult(c, nil, res)
}

// getSourcePriority is GET /v1/settings/source-priority.
func (s *Server) getSourcePriority(c *fiber.Ctx) error {
	p, err := s.deps.Priorities.Get(c.UserContext(), principal(c).UserID)
	if err != nil {
		s.log.Error("read the source priority", "err", err)
		return unavailable("store_unavailable", "the setting cannot be read right now; retry later")
	}
	return c.JSON(p)
}

// putSourcePriority is PUT /v1/settings/source-priority: {"priority":
// [...]} (empty: the default); the summaries it decides are recomputed in
// the background ("refreshing": true until done).
func (s *Server) putSourcePriority(c *fiber.Ctx) error {
	var req struct {
		Priority []string `json:"priority"`
	}
	if err := json.Unmarshal(c.Body(), &req); err != nil {
		return fail(fiber.StatusBadRequest, "malformed_json", `send {"priority": ["Watch", "iPhone", ...]}`)
	}
	p, err := s.deps.Priorities.Set(c.UserContext(), principal(c).UserID, req.Priority)
	if errors.Is(err, summary.ErrBadPriority) {
		return fail(fiber.StatusBadRequest, "invalid_priority", err.Error())
	}
	if err != nil {
		s.log.Error("store the source priority", "err", err)
		return unavailable("store_unavailable", "the setting cannot be stored right now; retry later")
	}
	return c.JSON(p)
}
