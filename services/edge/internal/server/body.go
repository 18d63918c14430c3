package server

import (
	"fmt"
	"io"

	"github.com/gofiber/fiber/v2"
)

// maxSmallBody is the most any route but the upload reads: a key's name
// and scopes fit many times over.
const maxSmallBody = 8 << 10

// bodyRead marks a request whose body was read to its end: its connection
// may serve the next request.
const bodyRead = "body_read"

// smallBody reads the body of every route but the upload, after
// authentication, at most maxSmallBody bytes and within the request's
// HeaderTimeout; handlers then see it with c.Body(), which on a stream
// would read without bound.
func (s *Server) smallBody(c *fiber.Ctx) error {
	tooLarge := fail(fiber.StatusRequestEntityTooLarge, "body_too_large", fmt.Sprintf("this route takes a body of at most %d bytes", maxSmallBody))
	if c.Request().Header.ContentLength() > maxSmallBody {
		return tooLarge
	}
	if stream := c.Context().RequestBodyStream(); stream != nil {
		b, err := io.ReadAll(io.LimitReader(stream, maxSmallBody+1))
		if err != nil {
			return s.readError(err, "identity")
		}
		if len(b) > maxSmallBody {
			return tooLarge
		}
		c.Request().SetBody(b)
	}
	c.Locals(bodyRead, true)
	return c.Next()
}

// noBody gives the routes that take no body (health, metrics, pprof, the
// spec, and the 404 of an unknown path) an empty one, without reading what
// was sent: the net/http adaptor behind /metrics and pprof would read it
// whole. The connection is closed after the answer (closeIfUnread). A body
// read already (a /v1 request that matched no route) is left alone.
func (s *Server) noBody(c *fiber.Ctx) error {
	if hasBody(c) && c.Locals(bodyRead) == nil {
		c.Request().SetBody(nil) // detaches the stream, unread
	}
	return c.Next()
}

// closeIfUnread closes the connection after a request whose body was not
// read to its end (refused before its handler read it, or sent to a route
// that takes none): its remaining bytes would be parsed as the next
// request.
func closeIfUnread(c *fiber.Ctx) {
	if hasBody(c) && c.Locals(bodyRead) == nil {
		c.Context().SetConnectionClose()
	}
}

// hasBody reports a request with a body: a Content-Length above zero, or
// chunked (-1). A GET without either has none (fasthttp says -2).
func hasBody(c *fiber.Ctx) bool {
	n := c.Request().Header.ContentLength()
	return n > 0 || n == -1
}
