package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/healthexport/libs/apikey"
	"github.com/healthexport/libs/ingestions"
)

// createKey makes a key for the caller's user; the key is shown only here.
// It needs the keys scope, and a key may only grant scopes it has itself: a
// phone's ingest key cannot make keys at all. The new key records the key
// that made it, so revoking that one revokes it too.
func (s *Server) createKey(c *fiber.Ctx) error {
	var req struct {
		Name   string   `json:"name"`
		Scopes []string `json:"scopes"`
	}
	if body := c.Body(); len(body) > 0 {
		if err := json.Unmarshal(body, &req); err != nil {
			return fail(fiber.StatusBadRequest, "malformed_json", `send {"name": "...", "scopes": ["ingest", "read", "keys"]} or nothing`)
		}
	}
	if err := apikey.ValidateName(strings.TrimSpace(req.Name)); err != nil {
		return fail(fiber.StatusBadRequest, "invalid_name", fmt.Sprintf("%v (a key's name is at most %d bytes, without control characters)", err, apikey.MaxNameBytes))
	}
	want, err := apikey.ParseScopes(req.Scopes...)
	if err != nil {
		return fail(fiber.StatusBadRequest, "invalid_scopes", err.Error())
	}
	p := principal(c)
	if !p.Scopes.Has(want) {
		return fail(fiber.StatusForbidden, "forbidden", fmt.Sprintf(
			"this key has the scopes %q and cannot make a key with %q (an operator can: healthctl keys create --scopes)", p.Scopes.String(), want.String()))
	}
	token, k, err := s.deps.Keys.Create(c.UserContext(), p.UserID, apikey.NewKey{Name: req.Name, Scopes: want.Names(), CreatedBy: p.KeyID})
	switch {
	case errors.Is(err, apikey.ErrTooManyKeys):
		return fail(fiber.StatusConflict, "too_many_keys", err.Error())
	case errors.Is(err, apikey.ErrBusy):
		return &apiError{status: fiber.StatusServiceUnavailable, code: "auth_busy", message: "too many key checks in progress; retry shortly", retry: time.Second}
	case errors.Is(err, apikey.ErrNoUser):
		return fail(fiber.StatusUnauthorized, "unauthorized", "this key's user no longer exists")
	case err != nil:
		s.log.Error("create key", "err", err)
		return unavailable("key_store_unavailable", "keys cannot be created right now; retry later")
	}
	return c.Status(fiber.StatusCreated).JSON(fiber.Map{"id": k.ID, "name": k.Name, "created_at": k.CreatedAt, "scopes": k.Scopes,
		"created_by": k.CreatedBy, "key": token})
}

// listKeys lists the caller's user's keys, never their hashes.
func (s *Server) listKeys(c *fiber.Ctx) error {
	keys, err := s.deps.Keys.List(c.UserContext(), principal(c).UserID)
	if err != nil {
		s.log.Error("list keys", "err", err)
		return unavailable("key_store_unavailable", "keys cannot be listed right now; retry later")
	}
	if keys == nil {
		keys = []apikey.Key{}
	}
	return c.JSON(fiber.Map{"keys": keys})
}

// revokeKey revokes one of the caller's user's keys, and (unless
// cascade=false) every key made from it, and tells every edge.
func (s *Server) revokeKey(c *fiber.Ctx) error {
	id := c.Params("id")
	cascade := true
	if v := c.Query("cascade"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fail(fiber.StatusBadRequest, "invalid_parameter", "cascade: want true or false")
		}
		cascade = b
	}
	ids, err := s.deps.Keys.Revoke(c.UserContext(), principal(c).UserID, id, cascade)
	if err != nil {
		s.log.Error("revoke key", "err", err)
		return unavailable("key_store_unavailable", "keys cannot be revoked right now; retry later")
	}
	if len(ids) == 0 {
		// Another user's key looks exactly like a missing one.
		return fail(fiber.StatusNotFound, "not_found", "no such key")
	}
	for _, id := range ids {
		if err := s.deps.Revoked(id); err != nil {
			s.log.Warn("revocation not pushed to the edges; their caches expire it within the TTL", "key_id", id, "err", err)
		}
	}
	return c.SendStatus(fiber.StatusNoContent)
}

// ingestionStatus says whether one of the caller's uploads is fully
// archived and written.
func (s *Server) ingestionStatus(c *fiber.Ctx) error {
	st, err := s.deps.Ingestions.Get(c.UserContext(), principal(c).UserID, c.Params("id"))
	switch {
	case errors.Is(err, ingestions.ErrNotFound):
		return fail(fiber.StatusNotFound, "not_found", "no such upload for this user (a new one takes a moment to be archived)")
	case err != nil:
		s.log.Error("ingestion status", "err", err)
		return unavailable("store_unavailable", "the status cannot be read right now; retry later")
	}
	return c.JSON(st)
}

// Uploads per page of GET /v1/ingestions: each carries its status, a few
// queries apiece.
const (
	defaultIngestionLimit = 20
	maxIngestionLimit     = 100
)

// listIngestions lists the caller's latest uploads and imports, newest
// first, each with its status and first rejections (the read scope: it is
// the user's history).
func (s *Server) listIngestions(c *fiber.Ctx) error {
	p, err := pageParams(c, defaultIngestionLimit, maxIngestionLimit)
	if err != nil {
		return err
	}
	ctx, cancel := s.queryContext(c)
	defer cancel()
	page, err := s.deps.Ingestions.List(ctx, principal(c).UserID, p.Limit, p.Cursor)
	switch {
	case errors.Is(err, ingestions.ErrBadCursor):
		return fail(fiber.StatusBadRequest, "invalid_cursor", "cursor: pass the next value of the previous page")
	case err != nil:
		s.log.Error("list ingestions", "err", err)
		return unavailable("store_unavailable", "uploads cannot be listed right now; retry later")
	}
	return c.JSON(page)
}
