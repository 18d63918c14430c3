package server

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	"github.com/healthexport/libs/query"
)

// exportGrace is the time a client may keep an export waiting before its
// reading must keep up with ExportMinRate (a phone's connection warming up,
// the receiving app opening a file).
const exportGrace = 30 * time.Second

// export is GET /v1/export: everything stored for the user, streamed as
// NDJSON (format=ndjson, the default) or a zip of CSVs (format=zip), from
// one snapshot, read row by row; value= and classification= make it an
// export of the events, or ECGs, that /v1/events and /v1/ecg list with
// them. Exports are fair: one at a time per user, at most MaxExports at
// once, each cut after ExportMaxDuration or once its client reads slower
// than ExportMinRate, so that neither the slots nor a database snapshot
// are held by a reader that does not read.
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
	uid := principal(c).UserID
	if !s.exporting.start(uid) {
		return tooMany("export_running", "an export for this user is running; retry when it has finished", time.Minute)
	}
	select {
	case s.exports <- struct{}{}:
	default:
		s.exporting.done(uid)
		return unavailable("export_busy", "too many exports are running; retry shortly")
	}
	release := func() {
		<-s.exports
		s.exporting.done(uid)
	}
	// The export outlives the handler: it streams after it returns, for
	// at most ExportMaxDuration (the snapshot's query is cancelled then).
	start := time.Now()
	ctx, cancel := context.WithDeadline(context.WithoutCancel(c.UserContext()), start.Add(s.cfg.ExportMaxDuration))
	ex, err := s.deps.Query.OpenExport(ctx, uid, format, query.ExportFilter{Value: c.Query("value"), Classification: c.Query("classification")})
	if err != nil {
		cancel()
		release()
		return s.queryError(err)
	}
	conn := c.Context().Conn()
	c.Set(fiber.HeaderContentType, contentType)
	c.Set(fiber.HeaderContentDisposition, `attachment; filename="health-export-`+time.Now().UTC().Format("20060102")+"."+ext+`"`)
	c.Set(fiber.HeaderCacheControl, "no-store")
	log := s.log
	c.Context().SetBodyStreamWriter(func(w *bufio.Writer) {
		defer release()
		defer cancel()
		defer ex.Close()
		dw := &exportWriter{w: w, conn: conn, end: start.Add(s.cfg.ExportMaxDuration), minRate: s.cfg.ExportMinRate, grace: s.cfg.ExportGrace}
		counts, err := ex.Stream(dw)
		if err == nil {
			err = dw.flush()
		}
		var rows int64
		for _, n := range counts {
			rows += n
		}
		switch {
		case err == nil:
			log.Info("export sent", "user_id", uid.String(), "format", string(format), "rows", rows, "seconds", time.Since(start).Seconds())
		case dw.err != nil || errors.Is(err, dw.err):
			log.Warn("export cut off: the client went away, read too slowly, or the time limit passed", "user_id", uid.String(), "rows", rows,
				"seconds", time.Since(start).Seconds(), "err", err)
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

// exporting is the users with an export running.
type exporting struct {
	mu    sync.Mutex
	users map[uuid.UUID]bool
}

func (e *exporting) start(uid uuid.UUID) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.users[uid] {
		return false
	}
	if e.users == nil {
		e.users = map[uuid.UUID]bool{}
	}
	e.users[uid] = true
	return true
}

func (e *exporting) done(uid uuid.UUID) {
	e.mu.Lock()
	delete(e.users, uid)
	e.mu.Unlock()
}

// exportWriter writes an export to its connection within its limits: the
// time the writes spend waiting for the client may add up to grace plus
// what minRate allows for the bytes sent so far, and nothing is written
// past end. A reader slower than minRate is cut after about grace; a slow
// database costs the client nothing (only time spent blocked counts).
type exportWriter struct {
	w       *bufio.Writer
	conn    net.Conn
	end     time.Time
	minRate int64 // bytes per second
	grace   time.Duration
	sent    int64
	blocked time.Duration
	err     error
}

func (d *exportWriter) Write(p []byte) (int, error) {
	if d.err != nil {
		return 0, d.err
	}
	return d.do(len(p), func() (int, error) { return d.w.Write(p) })
}

// flush sends what is buffered, under the same limits.
func (d *exportWriter) flush() error {
	if d.err != nil {
		return d.err
	}
	_, err := d.do(0, func() (int, error) { return 0, d.w.Flush() })
	return err
}

func (d *exportWriter) do(n int, write func() (int, error)) (int, error) {
	now := time.Now()
	allowed := d.grace + time.Duration(float64(d.sent+int64(n))/float64(d.minRate)*float64(time.Second)) - d.blocked
	deadline := now.Add(max(allowed, 0))
	if deadline.After(d.end) {
		deadline = d.end
	}
	if d.conn != nil {
		if err := d.conn.SetWriteDeadline(deadline); err != nil {
			d.err = fmt.Errorf("export write deadline: %w", err)
			return 0, d.err
		}
	}
	written, err := write()
	d.blocked += time.Since(now)
	d.sent += int64(written)
	if err != nil {
		d.err = err
	}
	return written, err
}

var _ io.Writer = (*exportWriter)(nil)
