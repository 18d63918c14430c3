// Package settle decides what becomes of a consumer's messages once their
// write is over: acknowledged after COMMIT; redelivered with backoff while
// the database is unavailable, for as long as that lasts; and, after
// WRITE_MAX_ATTEMPTS deliveries failing for any other reason, given up
// loudly: recorded in failed_parts, terminated, logged and counted. Nothing
// is retried forever and nothing is dropped unrecorded.
package settle

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	validation "github.com/go-ozzo/ozzo-validation/v4"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/healthexport/libs/config"
	"github.com/healthexport/libs/pgstore"
	"github.com/healthexport/libs/stream"
)

// Config is how a consumer settles its messages; each consumer service
// carries it in its settings.
type Config struct {
	// MaxAttempts bounds the deliveries of a message whose write keeps
	// failing for a reason that is not an outage (with the backoff, 10 is
	// about four minutes).
	MaxAttempts int `env:"WRITE_MAX_ATTEMPTS" envDefault:"10" help:"Deliveries of a message whose write keeps failing for a reason other than a database outage, after which it is given up: recorded in failed_parts, logged, counted, replayable."`
	// CrashAfterCommit (testing only) makes the process SIGKILL itself right
	// after its Nth committed batch, before acknowledging it.
	CrashAfterCommit int `env:"FAILPOINT_CRASH_AFTER_COMMIT" zero:"off" help:"Testing only: SIGKILL the consumer right after its Nth committed batch, before acknowledging it."`
}

// Validate checks the settings.
func (c Config) Validate() error {
	return validation.ValidateStruct(&c,
		validation.Field(&c.MaxAttempts, config.NonZero(), validation.Min(1), validation.Max(1000)),
		validation.Field(&c.CrashAfterCommit, validation.Min(0)),
	)
}

// Bounded reports whether failures of class c count against MaxAttempts.
// An outage, or a conflict with another writer, passes: it is retried for
// as long as it lasts (the stream keeps the message for its MaxAge). Any
// other failure would most likely repeat forever.
func Bounded(c pgstore.Class) bool { return c == pgstore.Unexpected || c == pgstore.Data }

// Split divides the messages of a batch that failed with class c into those
// to redeliver with backoff and those whose deliveries are used up, each
// judged by its own delivery count.
func Split[T any](c Config, class pgstore.Class, batch []T, delivered func(T) uint64) (retry, last []T) {
	if !Bounded(class) {
		return batch, nil
	}
	for _, m := range batch {
		if delivered(m) >= uint64(c.MaxAttempts) {
			last = append(last, m)
		} else {
			retry = append(retry, m)
		}
	}
	return retry, last
}

// Retry is how a consumer settles a batch whose write failed, for its own
// message type T: the metric-writer's decoded parts and the raw-archiver's
// rows share it.
type Retry[T any] struct {
	Config   Config
	Recorder *Recorder
	// Timeout bounds recording the messages given up (BATCH_FLUSH_TIMEOUT).
	Timeout time.Duration
	// Msg and Meta read a batch item's message and its headers.
	Msg  func(T) jetstream.Msg
	Meta func(T) stream.Meta
	// Alone writes one item in a transaction of its own (within its own
	// timeout) and, after its COMMIT, acknowledges it.
	Alone func(ctx context.Context, item T) error
}

// Failed settles a batch that was not written because of err. An outage (or
// a conflict) is redelivered with backoff for as long as it lasts. Any other
// failure is redelivered with backoff too, but an item on its last allowed
// delivery is first written alone (a batch-mate may be the cause) and, if
// that fails as well, given up and recorded. If the database goes away
// meanwhile, the items not yet settled wait for it with the rest.
func (r Retry[T]) Failed(ctx context.Context, log *slog.Logger, batch []T, err error) {
	class := pgstore.Classify(err)
	retry, last := Split(r.Config, class, batch, func(item T) uint64 { return r.Meta(item).Delivered })
	log.Error("batch not written", "class", class.String(), "messages", len(batch), "redelivered", len(retry), "last_attempts", len(last), "err", err)
	stream.NakAll(r.msgs(retry))
	var give []Failure
	for i, item := range last {
		why := err
		if len(batch) > 1 {
			err := r.Alone(ctx, item)
			if err == nil {
				continue
			}
			if !Bounded(pgstore.Classify(err)) {
				stream.NakAll(r.msgs(last[i:]))
				break
			}
			why = err
		}
		give = append(give, Failure{Msg: r.Msg(item), Meta: r.Meta(item), Err: why})
	}
	r.GiveUp(ctx, give)
}

// GiveUp records fs (Recorder.GiveUp) within Timeout.
func (r Retry[T]) GiveUp(ctx context.Context, fs []Failure) {
	if len(fs) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, r.Timeout)
	defer cancel()
	r.Recorder.GiveUp(ctx, fs)
}

func (r Retry[T]) msgs(items []T) []jetstream.Msg {
	out := make([]jetstream.Msg, len(items))
	for i, item := range items {
		out[i] = r.Msg(item)
	}
	return out
}

// AfterCommit returns the hook a consumer calls after each COMMIT, before
// its acks: nothing, unless FAILPOINT_CRASH_AFTER_COMMIT is set, for the
// chaos harness to crash a consumer exactly between the two.
func (c Config) AfterCommit(log *slog.Logger) func() {
	if c.CrashAfterCommit <= 0 {
		return func() {}
	}
	log.Warn("FAILPOINT_CRASH_AFTER_COMMIT is set: the process kills itself after a committed batch, before acknowledging it (testing only)",
		"batches", c.CrashAfterCommit)
	return CrashAfter(c.CrashAfterCommit, crash)
}

// CrashAfter returns a hook whose nth call runs crash. The workers of a
// process share it, so batches are counted per process.
func CrashAfter(n int, crash func()) func() {
	var calls atomic.Int64
	return func() {
		if calls.Add(1) == int64(n) {
			crash()
		}
	}
}

// crash is a real crash: no deferred function, drain or ack runs.
func crash() {
	_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
	select {}
}

// Failure is a message to give up, and the error of its last attempt.
type Failure struct {
	Msg  jetstream.Msg
	Meta stream.Meta
	Err  error
}

// Recorder gives messages up.
type Recorder struct {
	log   *slog.Logger
	pool  *pgxpool.Pool
	table *pgstore.Table
	given *prometheus.CounterVec
}

// NewRecorder returns a recorder writing to pool; given counts what it gives
// up, by kind and reason (the error's class).
func NewRecorder(log *slog.Logger, pool *pgxpool.Pool, given *prometheus.CounterVec) *Recorder {
	return &Recorder{log: log, pool: pool, table: pgstore.NewBookkeeping().FailedParts, given: given}
}

// GiveUp records the failures in failed_parts, in one transaction, then
// terminates their messages and logs and counts each. When the record
// cannot be written (the database went away meanwhile) the messages are
// left for redelivery with backoff instead: nothing is terminated
// unrecorded.
func (r *Recorder) GiveUp(ctx context.Context, fs []Failure) {
	if len(fs) == 0 {
		return
	}
	b := &pgstore.Batch{}
	for _, f := range fs {
		b.Add(r.table, r.row(f))
	}
	err := pgx.BeginFunc(ctx, r.pool, func(tx pgx.Tx) error {
		_, err := b.Write(ctx, tx)
		return err
	})
	if err != nil {
		msgs := make([]jetstream.Msg, len(fs))
		for i, f := range fs {
			msgs[i] = f.Msg
		}
		r.log.Error("messages to give up not recorded; they will be redelivered", "messages", len(fs), "err", err)
		stream.NakAll(msgs)
		return
	}
	for _, f := range fs {
		class := pgstore.Classify(f.Err)
		r.given.WithLabelValues(f.Meta.Kind, class.String()).Inc()
		r.log.Error("message given up and recorded in failed_parts: replay it once the cause is fixed",
			"kind", f.Meta.Kind, "ingestion", f.Meta.IngestionID, "part", f.Meta.PartID, "seq", f.Meta.Seq,
			"deliveries", f.Meta.Delivered, "class", class.String(), "err", f.Err)
		reason := fmt.Sprintf("given up after %d deliveries (%s error), recorded in failed_parts", f.Meta.Delivered, class)
		if err := f.Msg.TermWithReason(reason); err != nil {
			// Redelivered later: it fails or succeeds again, the record stays.
			r.log.Warn("terminate a given-up message", "seq", f.Meta.Seq, "err", err)
		}
	}
}

// maxErrorBytes bounds the error text kept for a failure.
const maxErrorBytes = 2000

func (r *Recorder) row(f Failure) []any {
	consumer := ""
	if md, err := f.Msg.Metadata(); err == nil {
		consumer = md.Consumer
	}
	m := f.Meta
	user := pgtype.UUID{Bytes: m.UserID, Valid: m.UserID != uuid.Nil}
	msg := text(f.Err.Error())
	if len(msg) > maxErrorBytes {
		msg = strings.ToValidUTF8(msg[:maxErrorBytes], "")
	}
	return []any{text(consumer), int64(m.Seq), text(m.IngestionID), text(m.PartID), user, text(m.Kind),
		int32(min(m.Delivered, 1<<31-1)), pgstore.Classify(f.Err).String(), msg, int64(0)}
}

// text makes a string storable: PostgreSQL's text holds neither NUL nor
// invalid UTF-8, and a record that can never be written would keep its
// message redelivered forever.
func text(s string) string {
	return strings.ToValidUTF8(strings.ReplaceAll(s, "\x00", ""), "\uFFFD")
}
