// Package replay writes parts again: into the live tables from a point of
// the stream (or of the archive) onwards, or into fresh tables rebuilt from
// everything, swapped in while ingestion goes on. It writes through
// partwrite, so a replay decides exactly as the first write did, and the
// upsert keeps newer values from being overwritten by older messages.
package replay

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/healthexport/libs/kind"
	"github.com/healthexport/libs/partwrite"
	"github.com/healthexport/libs/pgstore"
	"github.com/healthexport/libs/stream"
)

// Options choose what to replay.
type Options struct {
	Since       time.Time  // messages received from then on (zero: from the start)
	FromSeq     uint64     // messages from this stream sequence on (0: from the start)
	User        *uuid.UUID // one user's messages only
	FromArchive bool       // read raw_ingestions instead of the stream
	Batch       int        // parts per transaction
	// Progress is told how many parts are done out of how many (total may
	// grow while a rebuild catches up with ingestion).
	Progress func(done, total int64)
}

// Stats sums up a replay.
type Stats struct {
	Parts, Rows, Written, Rejected, SkippedDeletedUsers int64
}

// Replayer replays parts of the configured stream.
type Replayer struct {
	log   *slog.Logger
	pool  *pgxpool.Pool
	js    jetstream.JetStream
	sc    stream.Config
	parts *pgstore.Partitions
}

// New returns a replayer.
func New(log *slog.Logger, pool *pgxpool.Pool, js jetstream.JetStream, sc stream.Config) *Replayer {
	return &Replayer{log: log, pool: pool, js: js, sc: sc, parts: pgstore.NewPartitions(pool)}
}

func (o *Options) batch() int {
	if o.Batch <= 0 {
		return 200
	}
	return o.Batch
}

func (o *Options) progress(done, total int64) {
	if o.Progress != nil {
		o.Progress(done, total)
	}
}

// Upsert replays kind k's parts into the live tables, up to the stream's
// last sequence when it starts, and returns once done.
func (r *Replayer) Upsert(ctx context.Context, k *kind.Kind, o Options) (Stats, error) {
	w := partwrite.New(r.log, k, r.pool, r.parts)
	if o.FromArchive {
		return r.fromArchive(ctx, w, k, o, 0)
	}
	return r.fromStream(ctx, w, k, o)
}

// filter is the subject of the parts replayed: one kind, one user or all.
func (r *Replayer) filter(k *kind.Kind, o Options) string {
	if o.User != nil {
		return k.Subject(r.sc.SubjectPrefix, o.User.String())
	}
	return k.Filter(r.sc.SubjectPrefix)
}

// fromStream reads an ordered consumer (ephemeral, in order, no acks) up
// to the last sequence the stream had when the replay began.
func (r *Replayer) fromStream(ctx context.Context, w *partwrite.Writer, k *kind.Kind, o Options) (Stats, error) {
	var st Stats
	s, err := r.js.Stream(ctx, r.sc.Name)
	if err != nil {
		return st, fmt.Errorf("stream %s: %w", r.sc.Name, err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		return st, fmt.Errorf("stream %s: %w", r.sc.Name, err)
	}
	last := info.State.LastSeq
	cfg := jetstream.OrderedConsumerConfig{FilterSubjects: []string{r.filter(k, o)}, DeliverPolicy: jetstream.DeliverAllPolicy}
	switch {
	case o.FromSeq > 0:
		cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, o.FromSeq
	case !o.Since.IsZero():
		since := o.Since
		cfg.DeliverPolicy, cfg.OptStartTime = jetstream.DeliverByStartTimePolicy, &since
	}
	cons, err := s.OrderedConsumer(ctx, cfg)
	if err != nil {
		return st, fmt.Errorf("replay consumer: %w", err)
	}
	ci, err := cons.Info(ctx)
	if err != nil {
		return st, fmt.Errorf("replay consumer: %w", err)
	}
	total := int64(ci.NumPending)
	o.progress(0, total)
	for {
		batch, done, err := fetchUpTo(ctx, cons, o.batch(), last)
		if err != nil {
			return st, err
		}
		if err := r.writeBatch(ctx, w, batch, &st); err != nil {
			return st, err
		}
		o.progress(st.Parts, total)
		if done {
			return st, nil
		}
	}
}

// fetchUpTo fetches up to n parts with stream sequences ≤ last; done is
// true once last is reached (or nothing more comes).
func fetchUpTo(ctx context.Context, cons jetstream.Consumer, n int, last uint64) ([]*partwrite.Part, bool, error) {
	if last == 0 {
		return nil, true, nil
	}
	// FetchNoWait takes what is there: Fetch would wait for a full batch.
	msgs, err := cons.FetchNoWait(n)
	if err != nil {
		return nil, false, fmt.Errorf("fetch: %w", err)
	}
	var out []*partwrite.Part
	done := false
	for m := range msgs.Messages() {
		md, err := m.Metadata()
		if err != nil {
			continue
		}
		if md.Sequence.Stream > last {
			done = true
			continue
		}
		out = append(out, partwrite.FromMsg(m))
		if md.Sequence.Stream == last || md.NumPending == 0 {
			done = true
		}
	}
	if err := msgs.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) {
		return out, done, fmt.Errorf("fetch: %w", err)
	}
	if len(out) == 0 && !done {
		// Nothing right now: done if the consumer has nothing left.
		info, err := cons.Info(ctx)
		if err != nil {
			return nil, false, err
		}
		done = info.NumPending == 0
		if !done {
			time.Sleep(50 * time.Millisecond)
		}
	}
	return out, done, ctx.Err()
}

// fromArchive reads raw_ingestions in stream order: below endSeq only when
// endSeq > 0 (a rebuild's archive phase: what the stream no longer holds).
func (r *Replayer) fromArchive(ctx context.Context, w *partwrite.Writer, k *kind.Kind, o Options, endSeq uint64) (Stats, error) {
	var st Stats
	where := "kind = $1 AND stream_seq >= $2 AND received_at >= $3"
	args := []any{k.Name, int64(o.FromSeq), o.Since}
	if o.User != nil {
		where += fmt.Sprintf(" AND user_id = $%d", len(args)+1)
		args = append(args, *o.User)
	}
	if endSeq > 0 {
		where += fmt.Sprintf(" AND stream_seq < $%d", len(args)+1)
		args = append(args, int64(endSeq))
	}
	var total int64
	if err := r.pool.QueryRow(ctx, "SELECT count(*) FROM raw_ingestions WHERE "+where, args...).Scan(&total); err != nil {
		return st, fmt.Errorf("count archived parts: %w", err)
	}
	o.progress(0, total)
	// Keyset pagination on stream_seq: the archive can be far bigger than
	// memory.
	after := int64(-1)
	for {
		q := "SELECT stream_seq, headers, payload FROM raw_ingestions WHERE " + where +
			fmt.Sprintf(" AND stream_seq > $%d ORDER BY stream_seq, part_id LIMIT $%d", len(args)+1, len(args)+2)
		rows, err := r.pool.Query(ctx, q, append(args, after, o.batch())...)
		if err != nil {
			return st, fmt.Errorf("read archive: %w", err)
		}
		var batch []*partwrite.Part
		for rows.Next() {
			var (
				seq     int64
				headers []byte
				payload []byte
			)
			if err := rows.Scan(&seq, &headers, &payload); err != nil {
				rows.Close()
				return st, err
			}
			var h nats.Header
			_ = json.Unmarshal(headers, &h)
			batch = append(batch, partwrite.FromArchive(h, uint64(seq), "", payload))
			after = seq
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return st, err
		}
		if len(batch) == 0 {
			return st, nil
		}
		if err := r.writeBatch(ctx, w, batch, &st); err != nil {
			return st, err
		}
		o.progress(st.Parts, total)
	}
}

// writeBatch decodes and writes parts; partwrite skips the parts of users
// deleted since.
func (r *Replayer) writeBatch(ctx context.Context, w *partwrite.Writer, parts []*partwrite.Part, st *Stats) error {
	if len(parts) == 0 {
		return nil
	}
	batch := make([]*partwrite.Decoded, len(parts))
	for i, p := range parts {
		batch[i] = w.Decode(p)
	}
	st.Parts += int64(len(parts))
	var (
		res *partwrite.Result
		err error
	)
	for attempt := 1; ; attempt++ {
		if res, err = w.Write(ctx, batch); err == nil {
			break
		}
		if attempt == 5 || ctx.Err() != nil {
			return fmt.Errorf("write %d parts: %w", len(batch), err)
		}
		r.log.Warn("replay batch failed; retrying", "attempt", attempt, "err", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(stream.Backoff(uint64(attempt))):
		}
	}
	st.Rows += res.Rows
	st.Written += res.Written
	st.Rejected += res.Rejected
	st.SkippedDeletedUsers += res.Skipped
	return nil
}
