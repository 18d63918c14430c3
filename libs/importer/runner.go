package importer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/healthexport/libs/stream"
)

// Runner converts received exports: Workers goroutines take jobs from a
// durable consumer (any process running one shares the queue), copy the
// export from the object store to an unlinked temporary file, import it
// and delete it. A job is acknowledged once its import is done or failed
// for good; a process killed mid-import leaves it unacknowledged, and
// whoever takes it next imports it again: the same parts are absorbed.
type Runner struct {
	log     *slog.Logger
	im      *Importer
	q       *Queue
	cons    jetstream.Consumer
	workers int
	dir     string
	metrics runnerMetrics
}

// runnerMetrics count imports by outcome and the records they read.
type runnerMetrics struct {
	imports *prometheus.CounterVec
	records prometheus.Counter
	seconds prometheus.Histogram
}

// Import outcomes, as the metrics count them.
const (
	outcomeDone        = "done"
	outcomeFailed      = "failed"      // the file cannot be imported
	outcomeInterrupted = "interrupted" // the stream or the store failed: it will be resumed
	outcomeGone        = "gone"        // its file is no longer stored
)

// Runner timing: how long a job may go without a sign of life before
// JetStream gives it to another runner, and how long a job that failed for
// a reason other than its file waits before its next try.
const (
	jobAckWait    = time.Minute
	jobRetryAfter = 15 * time.Second
)

// NewRunner makes sure the durable consumer of jobs exists; its metrics
// go to reg.
func NewRunner(ctx context.Context, log *slog.Logger, im *Importer, q *Queue, s Settings, reg prometheus.Registerer) (*Runner, error) {
	cons, err := stream.EnsureConsumer(ctx, q.js, q.cfg.Name, stream.ConsumerSpec{
		Durable:       Durable(q.cfg),
		Filters:       []string{q.cfg.ImportSubjects()},
		AckWait:       jobAckWait,
		MaxAckPending: 64,
	})
	if err != nil {
		return nil, err
	}
	m := runnerMetrics{
		imports: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "imports_total",
			Help: "Imports of the Health app's export this process ran, by outcome (done, failed, interrupted, gone)."}, []string{"outcome"}),
		records: prometheus.NewCounter(prometheus.CounterOpts{Name: "import_records_total",
			Help: "Top-level elements of export.xml read by this process's imports."}),
		seconds: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "import_seconds",
			Help: "Time to run one import, from its file's copy to its manifest.", Buckets: prometheus.ExponentialBuckets(1, 2, 14)}),
	}
	reg.MustRegister(m.imports, m.records, m.seconds)
	for _, o := range []string{outcomeDone, outcomeFailed, outcomeInterrupted, outcomeGone} {
		m.imports.WithLabelValues(o)
	}
	return &Runner{log: log.With("component", "importer"), im: im, q: q, cons: cons, workers: s.Workers, dir: s.Dir, metrics: m}, nil
}

// Durable names the consumer of import jobs.
func Durable(cfg stream.Config) string { return cfg.DurablePrefix + "importer" }

// Run takes jobs until stop ends; an import under way then gets until
// drain ends to finish, after which it is cut and its job goes back to the
// queue (service.Task).
func (r *Runner) Run(stop, drain context.Context) error {
	g := new(errgroup.Group)
	for range r.workers {
		g.Go(func() error {
			for stop.Err() == nil {
				msg, err := r.cons.Next(jetstream.FetchMaxWait(2 * time.Second))
				if err != nil {
					if errors.Is(err, jetstream.ErrNoMessages) || errors.Is(err, nats.ErrTimeout) || stop.Err() != nil {
						continue
					}
					r.log.Warn("import jobs unavailable", "err", err)
					select {
					case <-stop.Done():
					case <-time.After(time.Second):
					}
					continue
				}
				r.handle(drain, msg)
			}
			return nil
		})
	}
	return g.Wait()
}

// handle imports one job and settles its message.
func (r *Runner) handle(ctx context.Context, msg jetstream.Msg) {
	var j jobMsg
	if err := json.Unmarshal(msg.Data(), &j); err != nil || j.ImportID == "" || j.Object == "" {
		r.log.Error("an import job that cannot be read: dropped", "subject", msg.Subject(), "err", err)
		_ = msg.TermWithReason("unreadable job")
		return
	}
	log := r.log.With("import_id", j.ImportID, "user_id", j.UserID)
	stopKeepAlive := stream.KeepAlive([]jetstream.Msg{msg}, jobAckWait/4)
	defer stopKeepAlive()
	start := time.Now()
	p, err := r.run(ctx, j)
	r.metrics.records.Add(float64(p.Records))
	r.metrics.seconds.Observe(time.Since(start).Seconds())
	outcome := outcomeDone
	switch {
	case err == nil:
		log.Info("export imported", "records", p.Records, "parts", p.Parts, "seconds", time.Since(start).Seconds())
	case errors.Is(err, ErrBadFile):
		outcome = outcomeFailed
		log.Warn("export not imported", "reason", err, "records", p.Records, "parts", p.Parts)
	case errors.Is(err, errGone):
		outcome = outcomeGone
		log.Error("the export is no longer stored: its job is dropped", "err", err)
	default:
		r.metrics.imports.WithLabelValues(outcomeInterrupted).Inc()
		log.Warn("import interrupted: it will be resumed", "err", err, "records", p.Records)
		_ = msg.NakWithDelay(jobRetryAfter)
		return
	}
	r.metrics.imports.WithLabelValues(outcome).Inc()
	r.q.forget(j.Object)
	if err := msg.Ack(); err != nil {
		log.Warn("ack of a finished import failed; running it again changes nothing", "err", err)
	}
}

// errGone is a job whose export is no longer stored (kept past IMPORT_KEEP,
// or deleted after a finished import whose ack was lost).
var errGone = errors.New("the export is not in the store")

// run copies the export to a temporary file and imports it.
func (r *Runner) run(ctx context.Context, j jobMsg) (Progress, error) {
	f, err := r.fetch(ctx, j.Object)
	if err != nil {
		return Progress{}, err
	}
	defer f.Close()
	return r.im.Run(ctx, j.Job, f, nil)
}

// fetch copies an object into an unlinked temporary file.
func (r *Runner) fetch(ctx context.Context, name string) (*os.File, error) {
	obj, err := r.q.store.Get(ctx, name)
	if errors.Is(err, jetstream.ErrObjectNotFound) {
		return nil, fmt.Errorf("%w: %s", errGone, name)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	defer obj.Close()
	f, err := os.CreateTemp(r.dir, "health-import-*")
	if err != nil {
		return nil, fmt.Errorf("import file: %w", err)
	}
	_ = os.Remove(f.Name()) // nothing is left behind, whatever happens
	if _, err := io.Copy(f, obj); err != nil {
		f.Close()
		return nil, fmt.Errorf("%w: copy the export: %w", ErrUnavailable, err)
	}
	return f, nil
}
