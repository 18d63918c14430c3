package replay

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/healthexport/libs/kind"
	"github.com/healthexport/libs/partwrite"
	"github.com/healthexport/libs/pgstore"
	"github.com/healthexport/libs/summary"
)

// Suffixes of a rebuild's tables: the fresh ones, and the ones they replace
// (dropped once the swap has committed).
const (
	rebuildSuffix  = "_rebuild"
	replacedSuffix = "_replaced"
)

// Rebuild builds kind k's tables afresh while ingestion goes on: first from
// the archive for what the stream no longer holds, then from the whole
// stream through a new durable consumer; once that has caught up with the
// live writer it swaps the fresh tables in, in one short transaction.
func (r *Replayer) Rebuild(ctx context.Context, k *kind.Kind, o Options) (Stats, error) {
	var st Stats
	if o.User != nil || o.FromSeq > 0 || !o.Since.IsZero() || o.FromArchive {
		return st, errors.New("a rebuild reads everything: --since, --from-seq, --user and --from-archive are for replays into the live tables")
	}
	if err := r.prepare(ctx, k); err != nil {
		return st, err
	}
	w := partwrite.New(r.log, k, r.pool, r.parts).Into(rebuildSuffix)
	s, err := r.js.Stream(ctx, r.sc.Name)
	if err != nil {
		return st, fmt.Errorf("stream %s: %w", r.sc.Name, err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		return st, err
	}
	// What the stream has aged out of comes from the archive.
	var done int64
	archiveOpts := o
	archiveOpts.Progress = func(d, total int64) { o.progress(d, total) }
	ast, err := r.fromArchive(ctx, w, k, archiveOpts, info.State.FirstSeq)
	if err != nil {
		return st, err
	}
	st.add(ast)
	done = ast.Parts

	durable := r.sc.DurablePrefix + "rebuild-" + k.Name
	_ = r.js.DeleteConsumer(ctx, r.sc.Name, durable) // a rebuild interrupted earlier starts over
	cons, err := r.js.CreateConsumer(ctx, r.sc.Name, jetstream.ConsumerConfig{
		Durable:       durable,
		Description:   "Health Export rebuild of " + k.Name,
		DeliverPolicy: jetstream.DeliverAllPolicy,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       5 * time.Minute,
		MaxDeliver:    -1,
		MaxAckPending: 4 * o.batch(),
		FilterSubject: k.Filter(r.sc.SubjectPrefix),
	})
	if err != nil {
		return st, fmt.Errorf("rebuild consumer: %w", err)
	}
	defer r.js.DeleteConsumer(context.WithoutCancel(ctx), r.sc.Name, durable) //nolint:errcheck
	f := &follower{r: r, w: w, cons: cons, batch: o.batch()}
	for {
		ci, err := cons.Info(ctx)
		if err != nil {
			return st, err
		}
		o.progress(done+f.st.Parts, done+f.st.Parts+int64(ci.NumPending)+int64(ci.NumAckPending))
		// Close enough: the swap writes the last few under its lock. Waiting
		// for zero would wait forever while uploads keep coming.
		if ci.NumPending+uint64(ci.NumAckPending) <= uint64(f.batch) {
			if err := r.swap(ctx, k, f); err != nil {
				return st, err
			}
			st.add(f.st)
			o.progress(st.Parts, st.Parts)
			if err := r.dropReplaced(ctx, k); err != nil {
				return st, err
			}
			return st, r.summarise(ctx, k)
		}
		if err := f.step(ctx, time.Second); err != nil {
			return st, err
		}
	}
}

// follower reads the rebuild's durable consumer into the fresh tables.
type follower struct {
	r     *Replayer
	w     *partwrite.Writer
	cons  jetstream.Consumer
	batch int
	upTo  uint64 // highest stream sequence written into the fresh tables
	st    Stats
}

// step writes the next batch, waiting at most wait for it.
func (f *follower) step(ctx context.Context, wait time.Duration) error {
	batch, err := f.cons.Fetch(f.batch, jetstream.FetchMaxWait(wait))
	if err != nil {
		return fmt.Errorf("fetch: %w", err)
	}
	var (
		parts []*partwrite.Part
		msgs  []jetstream.Msg
	)
	for m := range batch.Messages() {
		parts = append(parts, partwrite.FromMsg(m))
		msgs = append(msgs, m)
		if md, err := m.Metadata(); err == nil && md.Sequence.Stream > f.upTo {
			f.upTo = md.Sequence.Stream
		}
	}
	if err := f.r.writeBatch(ctx, f.w, parts, &f.st); err != nil {
		return err
	}
	for _, m := range msgs {
		_ = m.Ack()
	}
	return nil
}

func (st *Stats) add(o Stats) {
	st.Parts += o.Parts
	st.Rows += o.Rows
	st.Written += o.Written
	st.Rejected += o.Rejected
	st.SkippedDeletedUsers += o.SkippedDeletedUsers
}

// prepare makes empty fresh tables shaped like the live ones (dropping
// what an interrupted rebuild left).
func (r *Replayer) prepare(ctx context.Context, k *kind.Kind) error {
	for _, t := range k.Tables {
		stmts := []string{
			"DROP TABLE IF EXISTS " + ident(t.Name+rebuildSuffix) + " CASCADE",
			"DROP TABLE IF EXISTS " + ident(t.Name+replacedSuffix) + " CASCADE",
		}
		create := fmt.Sprintf("CREATE TABLE %s (LIKE %s INCLUDING ALL)", ident(t.Name+rebuildSuffix), ident(t.Name))
		if t.PartitionBy != "" {
			create += fmt.Sprintf(" PARTITION BY RANGE (%s)", ident(t.PartitionBy))
		}
		for _, s := range append(stmts, create) {
			if _, err := r.pool.Exec(ctx, s); err != nil {
				return fmt.Errorf("prepare %s: %w", t.Name, err)
			}
		}
		if err := copyGrants(ctx, r.pool, t.Name, t.Name+rebuildSuffix); err != nil {
			return err
		}
		if t.PartitionBy == "" {
			continue
		}
		// The same partitions as the live table, so after the swap the
		// writers find every partition they made ahead of time.
		if err := r.parts.CopyLayout(ctx, t.Name, t.Name+rebuildSuffix); err != nil {
			return err
		}
	}
	return nil
}

// swap renames the fresh tables (and their partitions) into place. It
// locks the live tables first, which holds the live writer; then it writes
// into the fresh tables whatever the live writer committed that the
// rebuild has not seen yet (at most the few messages of the last moments),
// so nothing committed is missing from the tables swapped in.
func (r *Replayer) swap(ctx context.Context, k *kind.Kind, f *follower) error {
	err := pgx.BeginFunc(ctx, r.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SET LOCAL lock_timeout = '10s'"); err != nil {
			return err
		}
		var live []string
		for _, t := range k.Tables {
			live = append(live, ident(t.Name))
		}
		if _, err := tx.Exec(ctx, "LOCK TABLE "+strings.Join(live, ", ")+" IN ACCESS EXCLUSIVE MODE"); err != nil {
			return fmt.Errorf("lock for the swap: %w", err)
		}
		var committed int64
		if err := tx.QueryRow(ctx, "SELECT coalesce(max(stream_seq), 0) FROM ingestion_parts WHERE kind = $1", k.Name).Scan(&committed); err != nil {
			return err
		}
		for deadline := time.Now().Add(time.Minute); f.upTo < uint64(committed); {
			if time.Now().After(deadline) {
				return fmt.Errorf("the rebuild consumer did not reach stream sequence %d (at %d)", committed, f.upTo)
			}
			if err := f.step(ctx, 200*time.Millisecond); err != nil {
				return err
			}
		}
		for _, t := range k.Tables {
			if err := renameWithPartitions(ctx, tx, t, t.Name, t.Name+replacedSuffix); err != nil {
				return err
			}
			if err := renameWithPartitions(ctx, tx, t, t.Name+rebuildSuffix, t.Name); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("swap %s: %w", k.Name, err)
	}
	return nil
}

// renameWithPartitions renames a table and its partitions, so the
// partitions keep the names writers make them under.
func renameWithPartitions(ctx context.Context, tx pgx.Tx, t *pgstore.Table, from, to string) error {
	if t.PartitionBy != "" {
		rows, err := tx.Query(ctx, `SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
			WHERE i.inhparent = $1::regclass`, from)
		if err != nil {
			return err
		}
		parts, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return err
		}
		for _, p := range parts {
			if err := renameWithIndexes(ctx, tx, p, from, to); err != nil {
				return err
			}
		}
	}
	return renameWithIndexes(ctx, tx, from, from, to)
}

// renameWithIndexes renames one table and the indexes named after it
// (their names start with the table's), so repeated rebuilds keep the
// schema's names as migrations made them.
func renameWithIndexes(ctx context.Context, tx pgx.Tx, name, from, to string) error {
	rows, err := tx.Query(ctx, `SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
		WHERE i.indrelid = $1::regclass`, name)
	if err != nil {
		return err
	}
	indexes, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return err
	}
	newName := to + strings.TrimPrefix(name, from)
	for _, idx := range indexes {
		if !strings.HasPrefix(idx, name) {
			continue
		}
		newIdx := newName + strings.TrimPrefix(idx, name)
		if _, err := tx.Exec(ctx, fmt.Sprintf("ALTER INDEX %s RENAME TO %s", ident(idx), ident(newIdx))); err != nil {
			return err
		}
	}
	_, err = tx.Exec(ctx, fmt.Sprintf("ALTER TABLE %s RENAME TO %s", ident(name), ident(newName)))
	return err
}

func (r *Replayer) dropReplaced(ctx context.Context, k *kind.Kind) error {
	for _, t := range k.Tables {
		if _, err := r.pool.Exec(ctx, "DROP TABLE IF EXISTS "+ident(t.Name+replacedSuffix)+" CASCADE"); err != nil {
			return fmt.Errorf("drop the replaced %s: %w", t.Name, err)
		}
	}
	return nil
}

func ident(s string) string { return pgx.Identifier{s}.Sanitize() }

// copyGrants gives the fresh table the privileges other roles hold on the
// live one (Grafana's read-only role), which CREATE TABLE ... LIKE does
// not copy.
func copyGrants(ctx context.Context, pool *pgxpool.Pool, from, to string) error {
	rows, err := pool.Query(ctx, `SELECT grantee, privilege_type FROM information_schema.role_table_grants
		WHERE table_schema = current_schema() AND table_name = $1 AND grantee <> current_user`, from)
	if err != nil {
		return fmt.Errorf("grants of %s: %w", from, err)
	}
	grants, err := pgx.CollectRows(rows, pgx.RowToStructByPos[struct{ Grantee, Privilege string }])
	if err != nil {
		return fmt.Errorf("grants of %s: %w", from, err)
	}
	for _, g := range grants {
		if _, err := pool.Exec(ctx, fmt.Sprintf("GRANT %s ON %s TO %s", g.Privilege, ident(to), ident(g.Grantee))); err != nil {
			return fmt.Errorf("grant %s on %s: %w", g.Privilege, to, err)
		}
	}
	return nil
}

// summarise recomputes every user's summaries of the kind once its fresh
// tables are in place (the writer that filled them kept none); writers
// go on meanwhile, each day locked as they lock it.
func (r *Replayer) summarise(ctx context.Context, k *kind.Kind) error {
	if k.Summary == nil {
		return nil
	}
	rows, err := r.pool.Query(ctx, `SELECT id FROM users ORDER BY id`)
	if err != nil {
		return fmt.Errorf("summaries after the rebuild: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
	if err != nil {
		return fmt.Errorf("summaries after the rebuild: %w", err)
	}
	m := summary.New(kind.New())
	for _, id := range ids {
		if err := m.RefreshUser(ctx, r.pool, id, summary.Scope{Kinds: []*kind.Kind{k}}); err != nil {
			return fmt.Errorf("summaries after the rebuild: %w", err)
		}
	}
	return nil
}
