package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/healthexport/libs/importer"
	"github.com/healthexport/libs/ingest"
	"github.com/healthexport/libs/kind"
	"github.com/healthexport/libs/pgstore"
	"github.com/healthexport/libs/stream"
	"github.com/healthexport/libs/users"
)

type importCmd struct {
	Email     string        `required:"" help:"The user the export belongs to."`
	File      string        `arg:"" type:"existingfile" help:"export.zip as the Health app writes it, or its export.xml."`
	Wait      bool          `help:"After publishing, wait until the writers have stored every part."`
	WaitFor   time.Duration `default:"30m" help:"With --wait, give up after this long."`
	PartBytes int           `default:"524288" help:"Largest part published, in bytes (the edge's INGEST_PART_MAX_BYTES)."`
}

// Help says what the command does and when it exits.
func (importCmd) Help() string {
	return `Imports the Health app's own export ("Export All Health Data") for a user, through the same
pipeline as uploads: the file is read as it streams, its records become items of the usual kinds,
published as parts and then a manifest, archived and written by the running services. Importing
the same file again changes nothing; a newer export adds only what is new. Shows a progress bar
on a terminal and a plain line every few seconds otherwise. Exits 0 once every part is
published (with --wait, once every part is written), non-zero with the reason otherwise.`
}

func (c *importCmd) Run(e *env) error {
	pool, err := e.pool()
	if err != nil {
		return err
	}
	defer pool.Close()
	uid, err := users.NewStore(pool).ByEmail(e.Ctx, c.Email)
	if err != nil {
		return err
	}
	f, err := os.Open(c.File)
	if err != nil {
		return err
	}
	defer f.Close()
	job, err := jobFor(f, uid.String(), filepath.Base(c.File))
	if err != nil {
		return err
	}
	job.UserID, job.KeyID, job.ReceivedAt = uid, "healthctl", time.Now().UTC().Truncate(time.Microsecond)

	nc, js, err := stream.Connect(e.Ctx, e.Log, e.cfg.Stream, "healthctl import")
	if err != nil {
		return err
	}
	defer nc.Close()
	highest := func(ctx context.Context) (uint64, error) { return pgstore.HighestSeq(ctx, pool) }
	if _, err := stream.Ensure(e.Ctx, js, e.cfg.Stream, highest); err != nil {
		return err
	}
	reg := kind.New()
	pipe := ingest.New(js, reg, e.cfg.Stream, ingest.Config{PartMaxBytes: c.PartBytes, MaxInFlight: 16, PublishTimeout: 30 * time.Second}, prometheus.NewRegistry())
	im := importer.New(pipe, reg, importer.Config{PartMaxBytes: c.PartBytes, ProgressEvery: time.Second})

	p := newProgress(e.Stderr, "import "+filepath.Base(c.File), "bytes")
	start := time.Now()
	res, err := im.Run(e.Ctx, job, f, func(pr importer.Progress) {
		elapsed := max(time.Since(start).Seconds(), 1e-3)
		p.describe(fmt.Sprintf("%d records (%.0f/s), %d parts", pr.Records, float64(pr.Records)/elapsed, pr.Parts))
		p.update(pr.Read, pr.Total)
	})
	p.finish()
	if err != nil {
		return fmt.Errorf("import %s: %d records read, %d parts published: %w", job.ImportID, res.Records, res.Parts, err)
	}
	if _, err := fmt.Fprintf(e.Stdout, "import %s: %d records, %d parts published in %.1f s (%s)\n",
		job.ImportID, res.Records, res.Parts, time.Since(start).Seconds(), summary(res)); err != nil {
		return err
	}
	if !c.Wait {
		return nil
	}
	return c.waitWritten(e, importer.NewStatusStore(pool, nil), job)
}

// jobFor names an import by its bytes: hex(sha256(user_id ‖ 0x00 ‖ file)),
// the id an upload of the same file to POST /v1/imports gets.
func jobFor(f *os.File, userID, name string) (importer.Job, error) {
	h := sha256.New()
	h.Write([]byte(userID))
	h.Write([]byte{0})
	n, err := io.Copy(h, f)
	if err != nil {
		return importer.Job{}, err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return importer.Job{}, err
	}
	return importer.Job{ImportID: hex.EncodeToString(h.Sum(nil)), FileName: name, Bytes: n}, nil
}

func summary(p importer.Progress) string {
	s := ""
	for k, n := range p.Items {
		s += fmt.Sprintf("%s %d, ", k, n)
	}
	skipped := int64(0)
	for _, n := range p.Skipped {
		skipped += n
	}
	return s + fmt.Sprintf("%d skipped", skipped)
}

// waitWritten polls the import's status until every part is written.
func (c *importCmd) waitWritten(e *env, st *importer.StatusStore, job importer.Job) error {
	deadline := time.Now().Add(c.WaitFor)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		s, err := st.Get(e.Ctx, job.UserID, job.ImportID)
		if err != nil && !errors.Is(err, importer.ErrNotFound) {
			return err
		}
		if s != nil && s.Written {
			_, err := fmt.Fprintf(e.Stdout, "written: %d items stored, %d rejected\n", s.Rows, s.Rejected)
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not every part was written within %s (healthctl lag shows the writers)", c.WaitFor)
		}
		select {
		case <-e.Ctx.Done():
			return e.Ctx.Err()
		case <-tick.C:
		}
	}
}
