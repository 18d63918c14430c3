package server

import (
	"errors"
	"strings"

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
	p, err := s.auth.Authenticate(c.UserContext(), token)
	switch {
	case errors.Is(err, apikey.ErrUnauthorized):
		s.metrics.auth.WithLabelValues("invalid").Inc()
		return s.unauthorized(c, "invalid API key")
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

func principal(c *fiber.Ctx) apikey.Principal {
	p, _ := c.Locals(principalKey).(apikey.Principal)
	return p
}
