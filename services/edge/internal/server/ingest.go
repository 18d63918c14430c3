package server

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"
	"github.com/tidwall/gjson"

	"github.com/healthexport/libs/hae"
	"github.com/healthexport/libs/ingest"
	"github.com/healthexport/services/edge/internal/spool"
)

// bodyStream is an authenticated request's body as it arrives, decoded
// (identity or gzip), with timeout to arrive (every other request gets
// HeaderTimeout in all), and the encoding it came in.
func (s *Server) bodyStream(c *fiber.Ctx, timeout time.Duration) (io.Reader, string, func(), error) {
	none := func() {}
	if conn := c.Context().Conn(); conn != nil {
		if err := conn.SetReadDeadline(time.Now().Add(timeout)); err != nil {
			return nil, "", none, fmt.Errorf("body deadline: %w", err)
		}
	}
	var body io.Reader = c.Context().RequestBodyStream()
	if body == nil {
		body = bytes.NewReader(c.Body())
	}
	switch encoding := strings.ToLower(strings.TrimSpace(c.Get(fiber.HeaderContentEncoding))); encoding {
	case "", "identity":
		return body, "identity", none, nil
	case "gzip", "x-gzip":
		gz, err := gzip.NewReader(body)
		if err != nil {
			c.Context().SetConnectionClose()
			return nil, "", none, fail(fiber.StatusBadRequest, "invalid_gzip", "Content-Encoding is gzip but the body is not gzip data")
		}
		return gz, "gzip", func() { _ = gz.Close() }, nil
	default:
		c.Context().SetConnectionClose()
		return nil, "", none, fail(fiber.StatusUnsupportedMediaType, "unsupported_encoding", fmt.Sprintf("Content-Encoding %q: only identity and gzip are accepted", encoding))
	}
}

// appHeaders are the exporter app's own headers, kept with the upload.
var appHeaders = [...]string{"automation-name", "automation-id", "automation-aggregation", "automation-period", "session-id"}

// maxAppHeader bounds what a client can make us store per header.
const maxAppHeader = 256

func (s *Server) ingest(c *fiber.Ctx) error {
	p := principal(c)
	receivedAt := time.Now().UTC().Truncate(time.Microsecond)
	if cl := c.Request().Header.ContentLength(); int64(cl) > s.cfg.MaxBodyBytes {
		c.Context().SetConnectionClose()
		return fail(fiber.StatusRequestEntityTooLarge, "body_too_large", fmt.Sprintf("body of %d bytes exceeds the limit of %d", cl, s.cfg.MaxBodyBytes))
	}
	// Decompressed through the same limit as plain bodies: a small body that
	// inflates past it gets 413 with bounded memory.
	body, encoding, closeBody, err := s.bodyStream(c, s.cfg.BodyTimeout)
	if err != nil {
		return err
	}
	defer closeBody()

	digest := sha256.New()
	digest.Write([]byte(p.UserID.String()))
	digest.Write([]byte{0})
	sp, err := s.spools.Fill(body, digest, int64(c.Request().Header.ContentLength()))
	if err != nil {
		c.Context().SetConnectionClose()
		return s.readError(err, encoding)
	}
	defer sp.Close()
	c.Locals(bodyRead, true)
	raw := sp.Bytes()
	s.metrics.bodyBytes.Observe(float64(len(raw)))
	if len(bytes.TrimSpace(raw)) == 0 {
		return fail(fiber.StatusBadRequest, "empty_body", `the body is empty: send {"data": {...}}`)
	}
	if err := checkJSON(raw); err != nil {
		return err
	}
	// The key was checked when the headers came; a large body takes a while
	// to follow. If the key was revoked meanwhile (its user being deleted,
	// say), nothing is published.
	if !s.deps.Auth.StillValid(p.KeyID) {
		s.metrics.auth.WithLabelValues("invalid").Inc()
		return s.unauthorized(c, "the API key was revoked while the upload arrived")
	}
	up := &ingest.Upload{
		UserID:     p.UserID,
		KeyID:      p.KeyID,
		ReceivedAt: receivedAt,
		Encoding:   encoding,
		AppHeaders: map[string]string{},
		Body:       raw,
		Digest:     digest.Sum(nil),
	}
	for _, h := range appHeaders {
		if v := appHeader(c.Get(h)); v != "" {
			up.AppHeaders[h] = v
		}
	}
	refund, err := s.chargeQuota(c, p.UserID.String(), int64(len(raw)))
	if err != nil {
		return err
	}
	res, err := s.deps.Ingest.Process(c.UserContext(), up)
	if err != nil {
		refund()
	}
	switch {
	case errors.Is(err, ingest.ErrNoData):
		return fail(fiber.StatusBadRequest, "no_data", err.Error())
	case errors.Is(err, ingest.ErrStreamFull):
		s.log.Error("stream full: uploads refused", "err", err)
		return unavailable("stream_full", "the service is out of queue space; retry later")
	case errors.Is(err, ingest.ErrUnavailable):
		s.log.Error("publish failed", "err", err)
		return unavailable("stream_unavailable", "the ingest queue is unavailable; retry later")
	case err != nil:
		return err
	}
	return c.Status(fiber.StatusAccepted).JSON(res)
}

// chargeQuota counts an upload's n bytes against its user's quota for
// the day, or refuses it with 429 quota_exceeded. A failed publish calls
// refund: the client's retry is not charged twice (at worst the parts
// published before the failure go uncounted).
func (s *Server) chargeQuota(c *fiber.Ctx, user string, n int64) (refund func(), err error) {
	if s.deps.Quota == nil {
		return func() {}, nil
	}
	q := s.deps.Quota.Charge(c.UserContext(), user, n)
	if !q.Allowed {
		return nil, tooMany("quota_exceeded", fmt.Sprintf(
			"this user has sent %d of the %d bytes allowed per day (UTC) and this upload of %d bytes does not fit; retry after midnight UTC, or ask the operator to raise QUOTA_BYTES_PER_DAY",
			q.Used, q.Limit, n), q.RetryAfter)
	}
	return func() { s.deps.Quota.Refund(context.WithoutCancel(c.UserContext()), user, n, q) }, nil
}

func (s *Server) readError(err error, encoding string) error {
	var corrupt flate.CorruptInputError
	switch {
	case errors.Is(err, spool.ErrTooLarge):
		what := "body"
		if encoding == "gzip" {
			what = "decompressed body"
		}
		return fail(fiber.StatusRequestEntityTooLarge, "body_too_large", fmt.Sprintf("%s exceeds the limit of %d bytes", what, s.cfg.MaxBodyBytes))
	case errors.Is(err, gzip.ErrChecksum), errors.Is(err, gzip.ErrHeader), errors.As(err, &corrupt), errors.Is(err, io.ErrUnexpectedEOF) && encoding == "gzip":
		return fail(fiber.StatusBadRequest, "invalid_gzip", "the gzip body is corrupt or truncated")
	case errors.Is(err, os.ErrDeadlineExceeded):
		return fail(fiber.StatusRequestTimeout, "timeout", "the body did not arrive in time")
	}
	return fail(fiber.StatusBadRequest, "unreadable_body", "the body could not be read completely")
}

// checkJSON refuses a body that is not JSON, or nests deeper than
// hae.MaxDepth. The depth is checked first, without recursion: the validator
// recurses once per level, and 8 MiB of "[" (8 KB gzipped) would overflow
// the stack and end the process. gjson validates about six times faster
// than encoding/json (the same answer: see FuzzValidAgrees); encoding/json
// finds where it broke.
func checkJSON(raw []byte) *apiError {
	if off := hae.TooDeep(raw, hae.MaxDepth); off >= 0 {
		line, col := lineColumn(raw, off)
		return fail(fiber.StatusBadRequest, "too_deep", fmt.Sprintf(
			"objects and arrays nest more than %d deep at line %d, column %d (byte offset %d); no export does", hae.MaxDepth, line, col, off))
	}
	if !gjson.ValidBytes(raw) {
		return fail(fiber.StatusBadRequest, "malformed_json", syntaxMessage(raw))
	}
	return nil
}

// syntaxMessage says where a body stops being JSON, in lines and columns
// a person can find in an editor.
func syntaxMessage(body []byte) string {
	var v json.RawMessage
	err := json.Unmarshal(body, &v) // fails in its validity scan, before copying anything
	var se *json.SyntaxError
	if !errors.As(err, &se) {
		return "the body is not valid JSON"
	}
	// Offset counts the offending byte; at the end of input it is the
	// length, pointing just past the last byte.
	off := int(se.Offset)
	if off > 0 && !strings.Contains(se.Error(), "end of JSON input") {
		off--
	}
	off = min(off, len(body))
	line, col := lineColumn(body, off)
	return fmt.Sprintf("malformed JSON at line %d, column %d (byte offset %d): %s", line, col, off, se.Error())
}

// lineColumn is where byte off of body is, counted from 1.
func lineColumn(body []byte, off int) (line, col int) {
	line = 1 + bytes.Count(body[:off], []byte{'\n'})
	return line, off - bytes.LastIndexByte(body[:off], '\n')
}

// appHeader makes a header value safe to copy into the upload's messages
// and its archive: control characters are removed (NUL, which jsonb
// refuses, CR and LF, which end a NATS header line, and the rest of C0, DEL
// and C1), invalid UTF-8 becomes U+FFFD, and the value is cut to
// maxAppHeader bytes at a character boundary. Stripped rather than refused:
// a stray character in an automation's name is no reason to lose a sync.
func appHeader(v string) string {
	v = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return -1
		}
		return r
	}, strings.ToValidUTF8(v, "\uFFFD"))
	if len(v) <= maxAppHeader {
		return v
	}
	n := maxAppHeader
	for n > 0 && !utf8.RuneStart(v[n]) {
		n--
	}
	return v[:n]
}
