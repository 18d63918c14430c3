package server

import (
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/healthexport/services/edge/internal/web"
)

// webPage is GET /: the web page, revalidated on every load.
func (s *Server) webPage(c *fiber.Ctx) error {
	if s.deps.Web == nil {
		return fail(fiber.StatusNotFound, "not_found", "this edge serves no web page")
	}
	return sendAsset(c, s.deps.Web.Index(), web.CachePage)
}

// webFile is GET /ui/{version}/{file}: the page's scripts, styles and
// licences, cached for good (a new version has new URLs).
func (s *Server) webFile(c *fiber.Ctx) error {
	if s.deps.Web == nil {
		return fail(fiber.StatusNotFound, "not_found", "this edge serves no web page")
	}
	a, ok := s.deps.Web.File(c.Params("version"), c.Params("file"))
	if !ok {
		return fail(fiber.StatusNotFound, "not_found", "no such file (the page may be older than this edge: reload it)")
	}
	return sendAsset(c, a, web.CacheAsset)
}

// sendAsset answers with a file: compressed when the client takes gzip,
// 304 when it has it already, and with the headers that keep the page to
// itself (its CSP; no sniffing, no referrer, no framing, no opener).
func sendAsset(c *fiber.Ctx, a *web.Asset, cache string) error {
	h := &c.Response().Header
	h.Set("Content-Security-Policy", web.CSP)
	h.Set(fiber.HeaderXContentTypeOptions, "nosniff")
	h.Set(fiber.HeaderReferrerPolicy, "no-referrer")
	h.Set(fiber.HeaderXFrameOptions, "DENY")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
	h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=(), usb=()")
	h.Set(fiber.HeaderCacheControl, cache)
	h.Set(fiber.HeaderVary, fiber.HeaderAcceptEncoding)
	body, etag := a.Body, a.ETag
	gz := a.Gzip != nil && c.Request().Header.HasAcceptEncoding("gzip")
	if gz {
		body, etag = a.Gzip, strings.TrimSuffix(a.ETag, `"`)+`-gz"`
	}
	h.Set(fiber.HeaderETag, etag)
	if match(c.Get(fiber.HeaderIfNoneMatch), etag) {
		return c.SendStatus(fiber.StatusNotModified)
	}
	h.SetContentType(a.ContentType)
	if gz {
		h.Set(fiber.HeaderContentEncoding, "gzip")
	}
	return c.Send(body)
}

// match reports whether an If-None-Match header names etag (weak
// comparison, as RFC 9110 asks for it).
func match(header, etag string) bool {
	for _, v := range strings.Split(header, ",") {
		v = strings.TrimPrefix(strings.TrimSpace(v), "W/")
		if v == "*" || v == etag {
			return true
		}
	}
	return false
}
