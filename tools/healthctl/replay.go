package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/schollz/progressbar/v3"

	"github.com/healthexport/libs/kind"
	"github.com/healthexport/libs/replay"
	"github.com/healthexport/libs/users"
)

type replayCmd struct {
	Kind        string    `xor:"what" required:"" help:"The kind to replay (heart_rate, blood_pressure, quantity, sleep, workout, ecg, event)."`
	All         bool      `xor:"what" required:"" help:"Every kind."`
	Since       time.Time `xor:"from" help:"Replay messages received from this time on (RFC 3339), into the live tables."`
	FromSeq     uint64    `xor:"from" help:"Replay from this stream sequence on, into the live tables."`
	User        string    `help:"Only this user's data (email), into the live tables."`
	FromArchive bool      `help:"Read raw_ingestions instead of the stream (for what the stream no longer holds)."`
	Batch       int       `default:"200" help:"Parts per transaction."`
}

// Help explains the two modes.
func (replayCmd) Help() string {
	return `Without --since, --from-seq or --user, a kind is rebuilt: fresh tables are filled from the
archive (for what the stream no longer holds) and the whole stream, while ingestion goes on,
then swapped in. With them, the chosen messages are upserted into the live tables, up to the
stream's last sequence when the replay starts: newer values are never overwritten by older
messages. Users deleted since are skipped. Exits 0 once done.`
}

func (c *replayCmd) Run(e *env) error {
	reg := kind.New()
	var kinds []*kind.Kind
	if c.All {
		kinds = reg.Kinds()
	} else {
		k, ok := reg.Lookup(c.Kind)
		if !ok {
			return fmt.Errorf("no kind %q", c.Kind)
		}
		kinds = []*kind.Kind{k}
	}
	pool, err := e.pool()
	if err != nil {
		return err
	}
	defer pool.Close()
	opts := replay.Options{Since: c.Since, FromSeq: c.FromSeq, FromArchive: c.FromArchive, Batch: c.Batch}
	if c.User != "" {
		uid, err := users.NewStore(pool).ByEmail(e.Ctx, c.User)
		if err != nil {
			return err
		}
		opts.User = &uid
	}
	rebuild := opts.User == nil && opts.FromSeq == 0 && opts.Since.IsZero()
	if rebuild && opts.FromArchive {
		return errors.New("--from-archive needs --since, --from-seq or --user: a rebuild reads the archive anyway")
	}
	nc, err := e.cfg.Stream.Dial(nats.Name("healthctl replay"))
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	r := replay.New(e.Log, pool, js, e.cfg.Stream)
	for _, k := range kinds {
		if !k.HasWriter() {
			continue
		}
		label := "replay " + k.Name
		if rebuild {
			label = "rebuild " + k.Name
		}
		p := newProgress(e.Stderr, label, "parts")
		opts.Progress = p.update
		start := time.Now()
		var st replay.Stats
		if rebuild {
			st, err = r.Rebuild(e.Ctx, k, opts)
		} else {
			st, err = r.Upsert(e.Ctx, k, opts)
		}
		p.finish()
		if err != nil {
			return fmt.Errorf("%s: %w", label, err)
		}
		_, err = fmt.Fprintf(e.Stdout, "%s: %d parts, %d rows (%d written or changed, the rest already there), %d rejected, %d parts of deleted users skipped, %.1f s\n",
			label, st.Parts, st.Rows, st.Written, st.Rejected, st.SkippedDeletedUsers, time.Since(start).Seconds())
		if err != nil {
			return err
		}
	}
	return nil
}

// progress draws a bar with rate and ETA on a terminal, and prints a plain
// line every few seconds otherwise (logs, CI).
type progress struct {
	mu    sync.Mutex
	bar   *progressbar.ProgressBar
	w     io.Writer
	label string
	unit  string // what done counts: "parts", or "bytes" (shown in MB)
	note  string // what else to say ("1200 records")
	start time.Time
	last  time.Time
	done  int64
	total int64
	shown bool // the last plain line shows done and total as they are
}

func newProgress(w io.Writer, label, unit string) *progress {
	p := &progress{w: w, label: label, unit: unit, start: time.Now()}
	if f, ok := w.(*os.File); ok && isatty.IsTerminal(f.Fd()) {
		opts := []progressbar.Option{
			progressbar.OptionSetWriter(w),
			progressbar.OptionSetDescription(label),
			progressbar.OptionShowCount(),
			progressbar.OptionShowIts(),
			progressbar.OptionSetItsString(unit),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionThrottle(100 * time.Millisecond),
			progressbar.OptionClearOnFinish(),
		}
		if unit == "bytes" {
			opts = append(opts, progressbar.OptionShowBytes(true))
		}
		p.bar = progressbar.NewOptions64(-1, opts...)
	}
	return p
}

// describe sets what the progress says besides its count.
func (p *progress) describe(note string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if note != p.note {
		p.note, p.shown = note, false
		if p.bar != nil {
			p.bar.Describe(p.label + ": " + note)
		}
	}
}

func (p *progress) update(done, total int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.done != done || p.total != total {
		p.done, p.total, p.shown = done, total, false
	}
	if p.bar != nil {
		if total > 0 && p.bar.GetMax64() != total {
			p.bar.ChangeMax64(total)
		}
		_ = p.bar.Set64(done)
		return
	}
	if !p.shown && (time.Since(p.last) >= 2*time.Second || done == total) {
		p.last = time.Now()
		p.line()
	}
}

func (p *progress) line() {
	elapsed := time.Since(p.start).Seconds()
	rate := 0.0
	if elapsed > 0 {
		rate = float64(p.done) / elapsed
	}
	pct, eta := "", "?"
	if p.total > 0 {
		pct = fmt.Sprintf(" (%.0f%%)", 100*float64(p.done)/float64(p.total))
		if rate > 0 {
			eta = durationHuman(float64(p.total-p.done) / rate)
		}
	}
	note := ""
	if p.note != "" {
		note = p.note + ", "
	}
	if p.unit == "bytes" {
		const mb = 1 << 20
		fmt.Fprintf(p.w, "%s: %s%.0f/%.0f MB%s, %.1f MB/s, ETA %s\n", p.label, note, float64(p.done)/mb, float64(p.total)/mb, pct, rate/mb, eta)
	} else {
		fmt.Fprintf(p.w, "%s: %s%d/%d %s%s, %.0f %s/s, ETA %s\n", p.label, note, p.done, p.total, p.unit, pct, rate, p.unit, eta)
	}
	p.shown = true
}

func (p *progress) finish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bar != nil {
		_ = p.bar.Finish()
		return
	}
	if !p.shown {
		p.line()
	}
}
