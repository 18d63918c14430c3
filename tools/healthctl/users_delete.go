package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/healthexport/libs/apikey"
	"github.com/healthexport/libs/kind"
	"github.com/healthexport/libs/stream"
	"github.com/healthexport/libs/users"
)

type usersDeleteCmd struct {
	Email string        `xor:"who" required:"" help:"The user's email address."`
	ID    string        `xor:"who" required:"" help:"The user's id: to run again once the user is gone (rows written since are removed)."`
	Yes   bool          `help:"Really delete; without it, only show what would be deleted."`
	Wait  time.Duration `default:"2m" help:"How long to wait for the raw-archiver and the writers to finish the messages already in the stream, so the counts include them (0: do not wait; nothing of the user lands later either way)."`
}

// Help explains the order of things.
func (usersDeleteCmd) Help() string {
	return `Deletes, in this order:
  1. the user's keys are revoked, and running edges told over NATS: no new uploads;
  2. the raw-archiver and every writer are waited for until they have handled every message
     already in the stream (at most --wait), so the counts include them;
  3. in one transaction: the user's rows in every data table (and in a rebuild's tables),
     rejected_points, ingestion_parts, failed_parts, ingestions, raw_ingestions, api_keys and
     the user.
Nothing lands afterwards: the writers, the archiver, replays and rebuilds skip the parts of
users that no longer exist (copies stay in the stream until STREAM_MAX_AGE), and an upload
still arriving is refused. Running it again (--id) is safe. Without --yes it prints the rows
it would delete and exits 1.`
}

func (c *usersDeleteCmd) Run(e *env) error {
	pool, err := e.pool()
	if err != nil {
		return err
	}
	defer pool.Close()
	us := users.NewStore(pool)
	var uid uuid.UUID
	if c.Email != "" {
		if uid, err = us.ByEmail(e.Ctx, c.Email); err != nil {
			return err
		}
	} else if uid, err = uuid.Parse(c.ID); err != nil {
		return fmt.Errorf("--id %q: not a user id", c.ID)
	}
	var tables []string
	for _, t := range kind.New().Tables() {
		tables = append(tables, t.Name)
	}
	if !c.Yes {
		counts, err := us.Count(e.Ctx, uid, tables)
		if err != nil {
			return err
		}
		if err := printRows(e, "WOULD DELETE", counts); err != nil {
			return err
		}
		return fmt.Errorf("nothing deleted: run again with --yes to delete user %s", uid)
	}

	// 1. No new uploads.
	ids, err := apikey.NewStore(pool, apikey.StoreConfig{}).RevokeAll(e.Ctx, uid)
	if err != nil {
		return err
	}
	natsErr := e.announceRevocations(e.cfg.Stream, ids)
	if natsErr != nil {
		e.Log.Warn("keys revoked; the edges were not told and refuse them when their cache expires (at most AUTH_CACHE_TTL)", "keys", len(ids), "err", natsErr)
	} else {
		e.Log.Info("keys revoked; running edges told", "keys", len(ids), "user_id", uid.String())
	}

	// 2. What is in the stream is written before the rows are deleted.
	if c.Wait > 0 {
		if natsErr == nil {
			natsErr = waitForPipeline(e.Ctx, e.cfg.Stream, c.Wait, e.Log.Info)
		}
		if natsErr != nil {
			return fmt.Errorf("keys revoked, nothing else deleted: the consumers could not be waited for (%w); retry, or use --wait 0 and run again (--id %s) once they caught up", natsErr, uid)
		}
	}

	// 3. Everything, at once.
	deleted, err := us.Delete(e.Ctx, uid, tables)
	if err != nil {
		return err
	}
	var total int64
	for _, d := range deleted {
		total += d.Rows
	}
	e.Log.Info("user deleted", "user_id", uid.String(), "rows", total)
	return printRows(e, "DELETED", deleted)
}

func printRows(e *env, title string, rows []users.TableRows) error {
	w := tabwriter.NewWriter(e.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(w, "TABLE\t%s\n", title)
	for _, r := range rows {
		fmt.Fprintf(w, "%s\t%d\n", r.Table, r.Rows)
	}
	return w.Flush()
}

// announceRevocations tells every running edge over NATS, on one connection.
func (e *env) announceRevocations(sc stream.Config, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	nc, err := sc.Dial(nats.Name("healthctl"), nats.Timeout(3*time.Second))
	if err != nil {
		return err
	}
	defer nc.Close()
	for _, id := range ids {
		if err := nc.Publish(sc.RevokeSubject(), []byte(id)); err != nil {
			return err
		}
	}
	return nc.FlushTimeout(3 * time.Second)
}

// waitForPipeline waits until the raw-archiver and every writer have
// acknowledged every message the stream holds now (or have nothing left to
// do), so no message already published writes rows later.
func waitForPipeline(ctx context.Context, sc stream.Config, timeout time.Duration, logf func(string, ...any)) error {
	nc, err := sc.Dial(nats.Name("healthctl users delete"), nats.Timeout(3*time.Second))
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	st, err := js.Stream(ctx, sc.Name)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil // nothing in flight
	}
	if err != nil {
		return err
	}
	info, err := st.Info(ctx)
	if err != nil {
		return err
	}
	target := info.State.LastSeq
	ours := func(name string) bool {
		rest, ok := strings.CutPrefix(name, sc.DurablePrefix)
		return ok && (rest == "raw-archiver" || strings.HasPrefix(rest, "writer-"))
	}
	logged := false
	for {
		var behind []string
		lister := st.ListConsumers(ctx)
		for ci := range lister.Info() {
			if !ours(ci.Name) || ci.AckFloor.Stream >= target || ci.NumPending == 0 && ci.NumAckPending == 0 {
				continue
			}
			behind = append(behind, fmt.Sprintf("%s (pending %d, ack pending %d)", ci.Name, ci.NumPending, ci.NumAckPending))
		}
		if err := lister.Err(); err != nil {
			return err
		}
		if len(behind) == 0 {
			return nil
		}
		if !logged {
			logf("waiting for the consumers to handle what is in the stream", "up_to_seq", target, "behind", strings.Join(behind, ", "))
			logged = true
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("after %v still behind sequence %d: %s", timeout, target, strings.Join(behind, ", "))
		case <-time.After(200 * time.Millisecond):
		}
	}
}
