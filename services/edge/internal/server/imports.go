package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"path"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	"github.com/healthexport/libs/importer"
)

// Imports receives the Health app's exports and says where they stand.
type Imports interface {
	Receive(ctx context.Context, job importer.Job, contentType string, body io.Reader) (importer.Received, error)
	Status(ctx context.Context, userID uuid.UUID, importID string) (*importer.Status, error)
}

// importTypes are the media types an export may be sent as; what it is
// (a zip, an XML) is told from its bytes.
var importTypes = map[string]string{
	"application/zip":              "export.zip",
	"application/x-zip-compressed": "export.zip",
	"application/octet-stream":     "export.zip",
	"application/xml":              "export.xml",
	"text/xml":                     "export.xml",
}

// importReply is POST /v1/imports' 202.
type importReply struct {
	ImportID  string `json:"import_id"`
	State     string `json:"state"`
	Bytes     int64  `json:"bytes"`
	Duplicate bool   `json:"duplicate"`
	Status    string `json:"status"` // where to ask how it goes
}

// receiveImport stores an export (streamed into JetStream's object store,
// never whole in memory) and answers 202 once it and its job are durable.
// A phone's Shortcut sends export.zip this way from the share sheet.
func (s *Server) receiveImport(c *fiber.Ctx) error {
	p := principal(c)
	receivedAt := time.Now().UTC().Truncate(time.Microsecond)
	if s.deps.Imports == nil {
		c.Context().SetConnectionClose()
		return unavailable("imports_unavailable", "this edge does not take imports")
	}
	mediaType, params, _ := mime.ParseMediaType(c.Get(fiber.HeaderContentType))
	name, ok := importTypes[strings.ToLower(mediaType)]
	if !ok {
		c.Context().SetConnectionClose()
		return fail(fiber.StatusUnsupportedMediaType, "unsupported_media_type",
			"send the export as application/zip (export.zip) or application/xml (export.xml); uploads of Health Auto Export go to /v1/ingest")
	}
	if cl := c.Request().Header.ContentLength(); int64(cl) > s.cfg.ImportMaxBytes {
		c.Context().SetConnectionClose()
		return fail(fiber.StatusRequestEntityTooLarge, "body_too_large", fmt.Sprintf("an export of %d bytes exceeds the limit of %d (IMPORT_MAX_BYTES)", cl, s.cfg.ImportMaxBytes))
	}
	if n := fileName(c, params); n != "" {
		name = n
	}
	// Authenticated: the export may now take ImportBodyTimeout to arrive.
	body, encoding, closeBody, err := s.bodyStream(c, s.cfg.ImportBodyTimeout)
	if err != nil {
		return err
	}
	defer closeBody()
	rec, err := s.deps.Imports.Receive(c.UserContext(), importer.Job{UserID: p.UserID, KeyID: p.KeyID, ReceivedAt: receivedAt, FileName: name}, mediaType, body)
	switch {
	case errors.Is(err, importer.ErrTooLarge):
		c.Context().SetConnectionClose()
		return fail(fiber.StatusRequestEntityTooLarge, "body_too_large", fmt.Sprintf("the export exceeds the limit of %d bytes (IMPORT_MAX_BYTES)", s.cfg.ImportMaxBytes))
	case errors.Is(err, importer.ErrUnavailable):
		c.Context().SetConnectionClose()
		s.log.Error("import not stored", "err", err)
		return unavailable("imports_unavailable", "the export could not be stored; retry later")
	case err != nil:
		c.Context().SetConnectionClose()
		return s.readError(err, encoding)
	}
	c.Locals(bodyRead, true)
	reply := importReply{ImportID: rec.ImportID, State: "receiving", Bytes: rec.Bytes, Duplicate: rec.Duplicate, Status: "/v1/imports/" + rec.ImportID}
	if rec.Duplicate {
		if st, err := s.deps.Imports.Status(c.UserContext(), p.UserID, rec.ImportID); err == nil {
			reply.State = st.State
		}
	}
	return c.Status(fiber.StatusAccepted).JSON(reply)
}

// fileName is what the sender called the export: the Content-Type's or
// Content-Disposition's name, or ?name=; "" when none.
func fileName(c *fiber.Ctx, params map[string]string) string {
	n := params["name"]
	if _, dp, err := mime.ParseMediaType(c.Get(fiber.HeaderContentDisposition)); err == nil && dp["filename"] != "" {
		n = dp["filename"]
	}
	if q := c.Query("name"); q != "" {
		n = q
	}
	n = appHeader(path.Base(strings.ReplaceAll(n, "\\", "/")))
	if n == "." || n == "/" {
		return ""
	}
	return n
}

// importStatus says where one of the caller's imports stands.
func (s *Server) importStatus(c *fiber.Ctx) error {
	if s.deps.Imports == nil {
		return unavailable("imports_unavailable", "this edge does not take imports")
	}
	st, err := s.deps.Imports.Status(c.UserContext(), principal(c).UserID, c.Params("id"))
	switch {
	case errors.Is(err, importer.ErrNotFound):
		return fail(fiber.StatusNotFound, "not_found", "no such import for this user")
	case err != nil:
		s.log.Error("import status", "err", err)
		return unavailable("store_unavailable", "the status cannot be read right now; retry later")
	}
	return c.JSON(st)
}
