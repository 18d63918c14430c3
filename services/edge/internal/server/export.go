package server

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/healthexport/libs/query"
)

// exportWriteTimeout is how long one write of an export may wait for the
// client; the connection's write deadline moves on as the export does
// (the server's WriteTimeout bounds a whole response).
const exportWriteTimeout = time.Minute

// export is GET /v1/export: everything stored for the user, streamed as
// NDJSON (format=ndjson, the default) or a zip of CSVs (format=zip), from
// one snapshot, read row by row.
func (s *Server) export(c *fiber.Ctx) error {
	format := query.Format(c.Query("format", string(query.NDJSON)))
	var contentType, ext string
	switch format {
	case query.NDJSON:
		contentType, ext = "application/x-ndjson", "ndjson"
	case query.ZipCSV:
		contentType, ext = "application/zip", "zip"
	default:
		return fail(fiber.StatusBadRequest, "invalid_format", "format must be ndjson or zip")
	}
	select {
	case s.exports <- struct{}{}:
	default:
		return unavailable("export_busy", "too many exports are running; retry shortly")
	}
	uid := principal(c).UserID
	// The export outlives the handler: it streams after it returns.
	ctx, cancel := context.WithCancel(context.WithoutCancel(c.UserContext()))
	ex, err := s.deps.Query.OpenExport(ctx, uid, format)
	if err != nil {
		cancel()
		<-s.exports
		return s.queryError(err)
	}
	conn := c.Context().Conn()
	c.Set(fiber.HeaderContentType, contentType)
	c.Set(fiber.HeaderContentDisposition, `attachment; filename="health-export-`+time.Now().UTC().Format("20060102")+"."+ext+`"`)
	c.Set(fiber.HeaderCacheControl, "no-store")
	log := s.log
	c.Context().SetBodyStreamWriter(func(w *bufio.Writer) {
		defer func() { <-s.exports }()
		defer cancel()
		defer ex.Close()
		dw := &deadlineWriter{w: w, conn: conn}
		start := time.Now()
		counts, err := ex.Stream(dw)
		if err == nil {
			err = w.Flush()
		}
		var rows int64
		for _, n := range counts {
			rows += n
		}
		switch {
		case err == nil:
			log.Info("export sent", "user_id", uid.String(), "format", string(format), "rows", rows, "seconds", time.Since(start).Seconds())
		case dw.err != nil || errors.Is(err, dw.err):
			log.Warn("export cut off: the client went away", "user_id", uid.String(), "rows", rows, "err", err)
		default:
			// The status was sent long ago: end the body where it is. An
			// NDJSON export then lacks its "end" line; a zip its directory.
			log.Error("export failed", "user_id", uid.String(), "rows", rows, "err", err)
			if format == query.NDJSON {
				_, _ = w.WriteString(`{"type":"error","message":"the export failed and is incomplete; retry"}` + "\n")
				_ = w.Flush()
			}
		}
	})
	return nil
}

// deadlineWriter pushes the connection's write deadline forward as the
// export makes progress, and remembers the first write error.
type deadlineWriter struct {
	w     *bufio.Writer
	conn  net.Conn
	moved time.Time
	err   error
}

func (d *deadlineWriter) Write(p []byte) (int, error) {
	if d.err != nil {
		return 0, d.err
	}
	if now := time.Now(); now.Sub(d.moved) > time.Second && d.conn != nil {
		_ = d.conn.SetWriteDeadline(now.Add(exportWriteTimeout))
		d.moved = now
	}
	n, err := d.w.Write(p)
	if err != nil {
		d.err = err
	}
	return n, err
}

var _ io.Writer = (*deadlineWriter)(nil)
