// Package importer imports the Health app's own export (export.zip, or its
// export.xml alone) through the same pipeline as uploads: the file is read
// as it streams (libs/applehealth), every record becomes an item of an
// existing kind in the shape Health Auto Export sends (so a sample that
// arrives both ways is one row), and the items are cut into parts and
// published by ingest.Sender exactly like an upload's, then a manifest. An
// import's id is its ingestion id, hex(sha256(user_id ‖ 0x00 ‖ file)): the
// same file again publishes the same Msg-Ids, absorbed by JetStream or by
// the upserts.
//
// Where an import stands is recorded as it goes, as items of the "import"
// kind (the imports table), and answered by Status. Received files wait in
// a JetStream object store and are converted by Runner, a durable
// consumer any edge runs; healthctl import converts a local file directly.
package importer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/google/uuid"

	"github.com/healthexport/libs/applehealth"
	"github.com/healthexport/libs/hae"
	"github.com/healthexport/libs/ingest"
	"github.com/healthexport/libs/kind"
	"github.com/healthexport/libs/stream"
)

// ErrBadFile is an import that cannot succeed however often it is tried:
// not an export, cut short, an element too large. What was published
// before the problem stays; the import is failed with the reason.
var ErrBadFile = errors.New("the file cannot be imported")

// Job is one file to import.
type Job struct {
	ImportID   string // hex(sha256(user_id ‖ 0x00 ‖ file)); also the ingestion id
	UserID     uuid.UUID
	KeyID      string // the key that sent it ("healthctl" for an operator)
	ReceivedAt time.Time
	FileName   string // as the sender named it
	Bytes      int64
}

// Origin is the headers every message of the import carries.
func (j Job) Origin() stream.Origin {
	return stream.Origin{UserID: j.UserID.String(), KeyID: j.KeyID, IngestionID: j.ImportID, ReceivedAt: j.ReceivedAt, From: stream.OriginImport}
}

// Progress is how far an import got.
type Progress struct {
	State  string // kind.ImportConverting, ImportDone, ImportFailed
	Stats         // records read, items made, what was skipped
	Parts  int    // parts published
	XML    string // the records' file, as named in the export
	Format string // zip or xml
	// Read and Total are bytes of the records' XML (Total 0 when unknown).
	Read, Total int64
	Reason      string // why it failed
}

// Config is how an importer cuts and reports.
type Config struct {
	PartMaxBytes int // INGEST_PART_MAX_BYTES
	// ProgressEvery is how often a converting import records how far it
	// got (and report is called).
	ProgressEvery time.Duration
}

// Importer converts and publishes exports.
type Importer struct {
	pipe *ingest.Pipeline
	reg  *kind.Registry
	cfg  Config
}

// New returns an importer publishing through pipe.
func New(pipe *ingest.Pipeline, reg *kind.Registry, cfg Config) *Importer {
	if cfg.PartMaxBytes <= 0 {
		cfg.PartMaxBytes = hae.DefaultPartMaxBytes
	}
	if cfg.ProgressEvery <= 0 {
		cfg.ProgressEvery = 2 * time.Second
	}
	return &Importer{pipe: pipe, reg: reg, cfg: cfg}
}

// Run imports f (the received file; the caller closes it): its parts, then
// its manifest, recording the import's progress as it goes; report (may be
// nil) is called with the progress too. An error wrapping ErrBadFile
// failed the import for good (it is recorded failed, with what was
// published kept); any other error (the stream unavailable, ctx ended)
// leaves it converting, and running it again resumes it: the same parts
// again are absorbed.
func (im *Importer) Run(ctx context.Context, job Job, f *os.File, report func(Progress)) (Progress, error) {
	snd := im.pipe.Sender(ctx, job.Origin())
	p := Progress{State: kind.ImportConverting, Stats: *newStats()}
	if report == nil {
		report = func(Progress) {}
	}
	if err := im.record(snd, job, &p); err != nil {
		return p, err
	}
	e, err := applehealth.OpenFile(f, job.FileName)
	if err != nil {
		return p, im.fail(snd, job, &p, err)
	}
	p.XML, p.Format, p.Total = e.Name(), e.Format(), e.XMLSize()
	cutter := hae.NewCutter(im.cfg.PartMaxBytes, func(part *hae.Part) error {
		p.Parts++
		return snd.Part(part)
	})
	conv := newConverter(im.reg, e, e.Name(), func(it *hae.Item) error {
		k, ok := im.reg.Lookup(it.Kind)
		if !ok {
			return fmt.Errorf("the converter made an item of unknown kind %q", it.Kind)
		}
		return k.Cut(cutter, it, im.cfg.PartMaxBytes, false)
	}, &p.Stats)

	badFile := im.convert(ctx, e, conv, &p, func() error {
		report(p)
		return im.record(snd, job, &p)
	})
	if badFile != nil && !isBadFile(badFile) {
		return p, badFile // the stream went away, or ctx ended: try again later
	}
	if err := cutter.Flush(); err != nil {
		return p, err
	}
	if err := snd.Wait(); err != nil {
		return p, err
	}
	items := make(map[string]int, len(p.Items))
	for k, n := range p.Items {
		items[k] = int(n)
	}
	if _, err := snd.Manifest(stream.Manifest{BodyBytes: job.Bytes, Encoding: p.Format, Accepted: items}); err != nil {
		return p, err
	}
	if badFile != nil {
		return p, im.fail(snd, job, &p, badFile)
	}
	p.State = kind.ImportDone
	p.Read = p.Total
	report(p)
	return p, im.record(snd, job, &p)
}

// Received records a received export as waiting for its conversion (the
// first record of its import).
func (im *Importer) Received(ctx context.Context, job Job) error {
	p := Progress{State: kind.ImportReceiving, Stats: *newStats()}
	return im.record(im.pipe.Sender(ctx, job.Origin()), job, &p)
}

// badFileError marks a conversion that stopped on the file, not on the
// stream.
type badFileError struct{ err error }

func (b badFileError) Error() string { return b.err.Error() }
func (b badFileError) Unwrap() error { return b.err }

func isBadFile(err error) bool {
	var b badFileError
	return errors.As(err, &b)
}

// convert reads the records, then the ECG recordings. It returns a
// badFileError when the file stops it (what was read before is
// published), another error when publishing failed, nil when all is read.
func (im *Importer) convert(ctx context.Context, e *applehealth.Export, conv *converter, p *Progress, tick func() error) error {
	x, closer, err := e.Records()
	if err != nil {
		return badFileError{err}
	}
	defer closer.Close()
	last := time.Now()
	for {
		el, err := x.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			p.Read = x.Offset()
			return badFileError{fmt.Errorf("%s: %w", e.Name(), err)}
		}
		if err := conv.element(el); err != nil {
			return err
		}
		if time.Since(last) >= im.cfg.ProgressEvery {
			if err := ctx.Err(); err != nil {
				return err
			}
			p.Read = x.Offset()
			last = time.Now()
			if err := tick(); err != nil {
				return err
			}
		}
	}
	p.Read = x.Offset()
	for _, name := range e.ECGFiles() {
		if err := im.ecg(e, conv, name); err != nil {
			return err
		}
	}
	if e.CutShort() {
		return badFileError{fmt.Errorf("%w: the zip has lost its directory (it ends at byte %d): %s was read to its end, workout routes and ECG recordings could not be",
			applehealth.ErrTruncated, e.Size(), e.Name())}
	}
	return nil
}

// ecg converts one recording; a file that is not one is counted skipped.
func (im *Importer) ecg(e *applehealth.Export, conv *converter, name string) error {
	rc, ok, err := e.File("/" + name)
	if err != nil || !ok {
		conv.stats.Skipped[skipNotRecords]++
		return nil //nolint:nilerr // an unreadable recording is counted, not fatal
	}
	defer rc.Close()
	rec, err := applehealth.ReadECG(rc)
	if err != nil {
		conv.stats.Skipped[skipNotRecords]++
		return nil //nolint:nilerr // as above
	}
	return conv.ecg(name, rec)
}

// fail records the import failed, with the reason, and returns the
// failure as ErrBadFile (or the recording's own error).
func (im *Importer) fail(snd *ingest.Sender, job Job, p *Progress, cause error) error {
	p.State, p.Reason = kind.ImportFailed, cause.Error()
	if err := im.record(snd, job, p); err != nil {
		return err
	}
	return fmt.Errorf("%w: %w", ErrBadFile, cause)
}

// record publishes where the import stands, as an item of the import kind
// (not listed in the manifest).
func (im *Importer) record(snd *ingest.Sender, job Job, p *Progress) error {
	var part *hae.Part
	cut := hae.NewCutter(im.cfg.PartMaxBytes, func(pt *hae.Part) error { part = pt; return nil })
	raw := recordJSON(job, p, time.Now())
	it := &hae.Item{Kind: kindImport, Source: srcImports, Array: "/imports", Raw: raw}
	if _, err := cut.Add(it); err != nil {
		return err
	}
	if err := cut.Flush(); err != nil {
		return err
	}
	// One id per state and count: a retry that reaches the same point
	// again is the same message.
	part.Label = fmt.Sprintf("%s:%s:%d:%d", kindImport, p.State, p.Records, p.Parts)
	return snd.Aside(part)
}

// recordJSON is an import record, as the import kind reads it.
func recordJSON(job Job, p *Progress, now time.Time) []byte {
	var o obj
	o.open('{')
	o.strString("import_id", job.ImportID)
	o.strString("state", p.State)
	o.strString("file", job.FileName)
	o.int("bytes", job.Bytes)
	o.int("records", p.Records)
	o.int("parts", int64(p.Parts))
	if p.Reason != "" {
		o.strString("reason", p.Reason)
	}
	o.strString("received_at", job.ReceivedAt.UTC().Format(time.RFC3339Nano))
	o.strString("updated_at", now.UTC().Format(time.RFC3339Nano))
	if p.XML != "" {
		o.strString("xml", p.XML)
		o.strString("format", p.Format)
	}
	if p.ExportDate != "" {
		o.strString("export_date", p.ExportDate)
	}
	o.int("xml_bytes_read", p.Read)
	if p.Total > 0 {
		o.int("xml_bytes", p.Total)
	}
	counts := func(k string, m map[string]int64) {
		if len(m) == 0 {
			return
		}
		o.key(k)
		o.open('{')
		for name, n := range m {
			o.int(name, n)
		}
		o.close('}')
	}
	counts("items", p.Items)
	counts("skipped", p.Skipped)
	o.close('}')
	return o.b
}
