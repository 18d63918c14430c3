package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/healthexport/libs/kind"
	"github.com/healthexport/libs/query"
)

// Page sizes: rows per list and page. ECG recordings carry thousands of
// voltages each, so their pages are smaller.
const (
	defaultLimit    = 1000
	maxLimit        = 10000
	defaultECGLimit = 10
	maxECGLimit     = 100
	// A workout's samples and route points, each, per page.
	defaultWorkoutLimit = 5000
	maxWorkoutLimit     = 50000
	// queryTimeout bounds one page's queries.
	queryTimeout = 30 * time.Second
)

// listParams reads from, to, limit and cursor.
func listParams(c *fiber.Ctx, defLimit, maxLim int) (query.Range, query.Page, error) {
	var (
		r   query.Range
		err error
	)
	p, err := pageParams(c, defLimit, maxLim)
	if err != nil {
		return r, p, err
	}
	if r.From, err = timeParam(c, "from"); err != nil {
		return r, p, err
	}
	if r.To, err = timeParam(c, "to"); err != nil {
		return r, p, err
	}
	if err := checkRange(r.From, r.To); err != nil {
		return r, p, err
	}
	if r.Origin = c.Query("origin"); r.Origin != "" {
		if _, ok := kind.OriginCode(r.Origin); !ok {
			return r, p, fail(fiber.StatusBadRequest, "invalid_origin", "origin must be one of "+strings.Join(kind.Origins(), ", "))
		}
	}
	return r, p, nil
}

// checkRange refuses a range whose from (when given) is not before its to
// (when given): every route that takes from and to answers it alike.
func checkRange(from, to time.Time) error {
	if !from.IsZero() && !to.IsZero() && !from.Before(to) {
		return fail(fiber.StatusBadRequest, "invalid_range", "from must be before to")
	}
	return nil
}

// pageParams reads limit and cursor.
func pageParams(c *fiber.Ctx, defLimit, maxLim int) (query.Page, error) {
	p := query.Page{Limit: defLimit, Cursor: c.Query("cursor")}
	if v := c.Query("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxLim {
			return p, fail(fiber.StatusBadRequest, "invalid_limit", fmt.Sprintf("limit must be a whole number from 1 to %d", maxLim))
		}
		p.Limit = n
	}
	return p, nil
}

// timeParam reads an RFC 3339 time; a "+" sent unencoded arrives as a space
// and is taken back.
func timeParam(c *fiber.Ctx, name string) (time.Time, error) {
	v := c.Query(name)
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, strings.ReplaceAll(v, " ", "+"))
	if err != nil {
		return t, fail(fiber.StatusBadRequest, "invalid_time", fmt.Sprintf("%s: want an RFC 3339 time such as 2025-03-01T00:00:00Z or 2025-03-01T00:00:00-08:00", name))
	}
	return t, nil
}

// queryError turns a reader's error into the answer.
func (s *Server) queryError(err error) error {
	switch {
	case errors.Is(err, query.ErrBadCursor):
		return fail(fiber.StatusBadRequest, "invalid_cursor", "cursor: pass the next value of the previous page, with the same parameters")
	case errors.Is(err, query.ErrUseSleep):
		return fail(fiber.StatusBadRequest, "use_sleep_endpoint", err.Error())
	case errors.Is(err, query.ErrEventKind):
		return fail(fiber.StatusBadRequest, "invalid_kind", "kind must be one of "+strings.Join(query.EventKinds, ", "))
	case errors.Is(err, query.ErrOrigin):
		return fail(fiber.StatusBadRequest, "invalid_origin", "origin must be one of "+strings.Join(kind.Origins(), ", "))
	case errors.Is(err, query.ErrSleepType):
		return fail(fiber.StatusBadRequest, "invalid_type", "type must be one of "+strings.Join(query.SleepTypes, ", "))
	case errors.Is(err, query.ErrNoMetric):
		return fail(fiber.StatusBadRequest, "missing_metric", err.Error())
	case errors.Is(err, query.ErrNotFound):
		return fail(fiber.StatusNotFound, "not_found", "no such workout for this user")
	case errors.Is(err, query.ErrNoRoute):
		return fail(fiber.StatusNotFound, "no_route", "this workout has no route points")
	case errors.Is(err, query.ErrRouteTooLong):
		return fail(fiber.StatusUnprocessableEntity, "route_too_long", err.Error())
	}
	s.log.Error("read failed", "err", err)
	return unavailable("store_unavailable", "the data cannot be read right now; retry later")
}

func (s *Server) queryContext(c *fiber.Ctx) (context.Context, context.CancelFunc) {
	return context.WithTimeout(c.UserContext(), queryTimeout)
}

// sendResult answers {<head fields>, <list>: [...], ..., "next": cursor|null}.
func sendResult(c *fiber.Ctx, head []byte, res *query.Result) error {
	size := len(head) + 32
	for _, l := range res.Lists {
		size += len(l.Name) + len(l.Items) + 4
	}
	b := make([]byte, 0, size+len(res.Next))
	b = append(b, '{')
	b = append(b, head...)
	for _, l := range res.Lists {
		b = strconv.AppendQuote(b, l.Name) // list names are ASCII identifiers
		b = append(b, ':')
		b = append(b, l.Items...)
		b = append(b, ',')
	}
	b = append(b, `"next":`...)
	if res.Next == "" {
		b = append(b, "null"...)
	} else {
		b = strconv.AppendQuote(b, res.Next) // base64url
	}
	b = append(b, '}')
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
	return c.Send(b)
}

// pathParam is a path parameter, percent-decoded (a workout's id may hold
// anything the app put there).
func pathParam(c *fiber.Ctx, name string) (string, error) {
	v, err := url.PathUnescape(c.Params(name))
	if err != nil {
		return "", fail(fiber.StatusBadRequest, "invalid_path", name+": bad percent-encoding")
	}
	return v, nil
}

// readMetric is GET /v1/metrics/{name}: heart_rate, blood_pressure or any
// quantity metric, by canonical name or alias.
func (s *Server) readMetric(c *fiber.Ctx) error {
	name, err := pathParam(c, "name")
	if err != nil {
		return err
	}
	r, p, err := listParams(c, defaultLimit, maxLimit)
	if err != nil {
		return err
	}
	var source *string
	if c.Context().QueryArgs().Has("source") {
		v := c.Query("source") // "" is the rows sent without a source
		source = &v
	}
	ctx, cancel := s.queryContext(c)
	defer cancel()
	canon, units, res, err := s.deps.Query.Metric(ctx, principal(c).UserID, name, r, source, p)
	if err != nil {
		return s.queryError(err)
	}
	head := jsonField(nil, "metric", canon)
	if units == "" {
		head = append(head, `"units":null,`...)
	} else {
		head = jsonField(head, "units", units)
	}
	return sendResult(c, head, res)
}

// jsonField appends "name":"value", (name an ASCII identifier).
func jsonField(b []byte, name, value string) []byte {
	b = strconv.AppendQuote(b, name)
	b = append(b, ':')
	v, _ := json.Marshal(value) // a string: cannot fail
	b = append(b, v...)
	return append(b, ',')
}

// readSleep is GET /v1/sleep: sessions and segments (or one of them, with
// type), each paged by limit, with one cursor.
func (s *Server) readSleep(c *fiber.Ctx) error {
	r, p, err := listParams(c, defaultLimit, maxLimit)
	if err != nil {
		return err
	}
	ctx, cancel := s.queryContext(c)
	defer cancel()
	res, err := s.deps.Query.Sleep(ctx, principal(c).UserID, c.Query("type"), r, p)
	if err != nil {
		return s.queryError(err)
	}
	return sendResult(c, nil, res)
}

// readWorkouts is GET /v1/workouts: summaries, by start.
func (s *Server) readWorkouts(c *fiber.Ctx) error {
	r, p, err := listParams(c, defaultLimit, maxLimit)
	if err != nil {
		return err
	}
	ctx, cancel := s.queryContext(c)
	defer cancel()
	res, err := s.deps.Query.Workouts(ctx, principal(c).UserID, r, p)
	if err != nil {
		return s.queryError(err)
	}
	return sendResult(c, nil, res)
}

// readActivity is GET /v1/activity: the days' Activity rings.
func (s *Server) readActivity(c *fiber.Ctx) error {
	r, p, err := listParams(c, defaultLimit, maxLimit)
	if err != nil {
		return err
	}
	ctx, cancel := s.queryContext(c)
	defer cancel()
	res, err := s.deps.Query.Activity(ctx, principal(c).UserID, r, p)
	if err != nil {
		return s.queryError(err)
	}
	return sendResult(c, nil, res)
}

// readWorkout is GET /v1/workouts/{key}: the summary, samples by series and
// the route as GeoJSON, limit of each per page.
func (s *Server) readWorkout(c *fiber.Ctx) error {
	key, err := pathParam(c, "key")
	if err != nil {
		return err
	}
	p, err := pageParams(c, defaultWorkoutLimit, maxWorkoutLimit)
	if err != nil {
		return err
	}
	ctx, cancel := s.queryContext(c)
	defer cancel()
	b, err := s.deps.Query.Workout(ctx, principal(c).UserID, key, p)
	if err != nil {
		return s.queryError(err)
	}
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
	return c.Send(b)
}

// readRouteGPX is GET /v1/workouts/{key}/route.gpx.
func (s *Server) readRouteGPX(c *fiber.Ctx) error {
	key, err := pathParam(c, "key")
	if err != nil {
		return err
	}
	ctx, cancel := s.queryContext(c)
	defer cancel()
	b, err := s.deps.Query.RouteGPX(ctx, principal(c).UserID, key)
	if err != nil {
		return s.queryError(err)
	}
	c.Set(fiber.HeaderContentType, "application/gpx+xml")
	return c.Send(b)
}

// readEvents is GET /v1/events, optionally of one kind and one canonical
// value (value=taken matches a Spanish phone's "Tomado").
func (s *Server) readEvents(c *fiber.Ctx) error {
	r, p, err := listParams(c, defaultLimit, maxLimit)
	if err != nil {
		return err
	}
	ctx, cancel := s.queryContext(c)
	defer cancel()
	res, err := s.deps.Query.Events(ctx, principal(c).UserID, c.Query("kind"), c.Query("value"), r, p)
	if err != nil {
		return s.queryError(err)
	}
	return sendResult(c, nil, res)
}

// readECG is GET /v1/ecg: recordings with their voltages, optionally of
// one canonical classification.
func (s *Server) readECG(c *fiber.Ctx) error {
	r, p, err := listParams(c, defaultECGLimit, maxECGLimit)
	if err != nil {
		return err
	}
	ctx, cancel := s.queryContext(c)
	defer cancel()
	res, err := s.deps.Query.ECG(ctx, principal(c).UserID, c.Query("classification"), r, p)
	if err != nil {
		return s.queryError(err)
	}
	return sendResult(c, nil, res)
}
