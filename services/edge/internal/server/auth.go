package server

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/healthexport/libs/apikey"
)

const principalKey = "principal"

// authenticate accepts the three header forms devices use (the user types
// them by hand): Authorization: Bearer <key>, api-key: <key>, X-API-Key.
// A key store outage is 503, never 401: a device must retry, not give up.
func (s *Server) authenticate(c *fiber.Ctx) error {
	token, err := tokenFrom(c)
	if err != nil {
		s.metrics.auth.WithLabelValues("missing").Inc()
		return s.unauthorized(c, err.Error())
	}
	p, err := s.deps.Auth.Authenticate(c.UserContext(), token, s.client(c))
	switch {
	case errors.Is(err, apikey.ErrUnauthorized):
		s.metrics.auth.WithLabelValues("invalid").Inc()
		return s.unauthorized(c, "invalid API key")
	case errors.Is(err, apikey.ErrTooManyFailures):
		s.metrics.auth.WithLabelValues("throttled").Inc()
		c.Context().SetConnectionClose()
		return tooMany("too_many_failures", "too many failed attempts from this address, or for this key; retry later", time.Minute)
	case errors.Is(err, apikey.ErrBusy):
		s.metrics.auth.WithLabelValues("busy").Inc()
		c.Context().SetConnectionClose()
		return &apiError{status: fiber.StatusServiceUnavailable, code: "auth_busy", message: "too many key checks in progress; retry shortly", retry: time.Second}
	case err != nil:
		s.metrics.auth.WithLabelValues("unavailable").Inc()
		s.log.Error("key store unavailable", "err", err)
		c.Context().SetConnectionClose()
		return unavailable("key_store_unavailable", "authentication is temporarily unavailable; retry later")
	}
	s.metrics.auth.WithLabelValues("ok").Inc()
	c.Locals(principalKey, p)
	return c.Next()
}

func (s *Server) unauthorized(c *fiber.Ctx, msg string) error {
	c.Set(fiber.HeaderWWWAuthenticate, `Bearer realm="health-export"`)
	// The body, possibly megabytes, is not read: close instead of draining.
	c.Context().SetConnectionClose()
	return fail(fiber.StatusUnauthorized, "unauthorized", msg)
}

var errNoKey = errors.New("missing API key: send Authorization: Bearer <key>, api-key: <key> or X-API-Key: <key>")

func tokenFrom(c *fiber.Ctx) (string, error) {
	if h := c.Get(fiber.HeaderAuthorization); h != "" {
		scheme, tok, ok := strings.Cut(strings.TrimSpace(h), " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(tok) == "" {
			return "", errors.New("malformed Authorization header: want Bearer <key>")
		}
		return strings.TrimSpace(tok), nil
	}
	for _, h := range []string{"api-key", "X-API-Key"} {
		if v := strings.TrimSpace(c.Get(h)); v != "" {
			return v, nil
		}
	}
	return "", errNoKey
}

// rateLimit applies the key's limit and reports it on every
// authenticated response.
func (s *Server) rateLimit(c *fiber.Ctx) error {
	d := s.deps.Limiter.Allow(c.UserContext(), principal(c).KeyID)
	c.Set("X-RateLimit-Limit", strconv.Itoa(d.Limit))
	c.Set("X-RateLimit-Remaining", strconv.Itoa(d.Remaining))
	c.Set("X-RateLimit-Reset", strconv.Itoa(int(math.Ceil(d.ResetAfter.Seconds()))))
	if !d.Allowed {
		s.metrics.auth.WithLabelValues("rate_limited").Inc()
		c.Context().SetConnectionClose()
		return tooMany("rate_limited", fmt.Sprintf("this key may make %d requests per window; retry later", d.Limit), d.RetryAfter)
	}
	return c.Next()
}

func principal(c *fiber.Ctx) apikey.Principal {
	p, _ := c.Locals(principalKey).(apikey.Principal)
	return p
}

// need refuses a key without scope with 403 (after authentication and the
// rate limit: the key is valid, it may just not do this).
func (s *Server) need(scope apikey.Scopes) fiber.Handler {
	return func(c *fiber.Ctx) error {
		p := principal(c)
		if p.Scopes.Has(scope) {
			return c.Next()
		}
		s.metrics.auth.WithLabelValues("forbidden").Inc()
		return fail(fiber.StatusForbidden, "forbidden", fmt.Sprintf(
			"this key has the scopes %q and needs %q; create a key with it (healthctl keys create --scopes %s, or POST /v1/keys with a key that has it)",
			p.Scopes.String(), scope.String(), scope.String()))
	}
}
