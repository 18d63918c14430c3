package chaos

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/healthexport/libs/stream"
	"github.com/healthexport/tools/proving/internal/proc"
)

// faultFunc breaks something while the load runs, heals it, and returns
// when the fault began and when it was healed.
type faultFunc func(ctx context.Context, r *run) (start, healed time.Time)

type scenario struct {
	name  string
	about string
	quick bool // part of the subset `make test` runs
	load  time.Duration
	pace  time.Duration // between a device's uploads
	// giveUp is how long after the load a device keeps retrying its last upload.
	giveUp time.Duration
	env    map[string][]string // extra settings per service at its first start
	poison func(seq int) bool
	fault  faultFunc
}

// failpointAfter is the metric-writer's and raw-archiver's test-only
// crash: SIGKILL right after the Nth COMMIT, before the ack.
const failpointAfter = "FAILPOINT_CRASH_AFTER_COMMIT"

func scenarios(quick bool) []scenario {
	load := 15 * time.Second
	if quick {
		load = 6 * time.Second
	}
	faultAt := load / 4
	base := scenario{load: load, pace: 150 * time.Millisecond, giveUp: 60 * time.Second}
	with := func(s scenario) scenario {
		s.load, s.pace, s.giveUp = base.load, base.pace, base.giveUp
		return s
	}
	pg := with(scenario{
		name:  "postgres-stopped-30s",
		about: "PostgreSQL stopped for 30 s while the edge keeps accepting with the keys it knows",
		fault: stopServerFor(faultAt, 30*time.Second, func(in *infra) *server { return in.pg }, "PostgreSQL"),
	})
	pg.load = 30*time.Second + 2*faultAt
	list := []scenario{
		with(scenario{
			name: "writer-kill-9", quick: true,
			about: "kill -9 of the metric-writer mid-batch, restarted 1 s later",
			fault: killService("metric-writer", "-writer-", faultAt, time.Second),
		}),
		with(scenario{
			name: "crash-between-commit-and-ack", quick: true,
			about: "metric-writer and raw-archiver crash (failpoint, SIGKILL) right after a COMMIT, before its ack",
			env: map[string][]string{
				"metric-writer": {failpointAfter + "=25"},
				"raw-archiver":  {failpointAfter + "=15"},
			},
			fault: crashAfterCommit,
		}),
		with(scenario{
			name:  "archiver-kill-9",
			about: "kill -9 of the raw-archiver mid-batch, restarted 1 s later",
			fault: killService("raw-archiver", "-raw-archiver", faultAt, time.Second),
		}),
		pg,
		with(scenario{
			name: "nats-kill-9", quick: true,
			about: "kill -9 of nats-server, restarted 3 s later: the edge answers 503, devices retry, PubAck duplicates absorbed",
			fault: killNATS(faultAt, 3*time.Second),
		}),
		with(scenario{
			name:  "redis-stopped",
			about: "Redis stopped for 8 s: rate limits fall back to each edge, uploads go on",
			fault: stopServerFor(faultAt, 8*time.Second, func(in *infra) *server { return in.redis }, "Redis"),
		}),
		with(scenario{
			name:  "sigterm-everything",
			about: "SIGTERM to edge, raw-archiver and metric-writer during batches: they drain, nothing left to redeliver",
			fault: sigtermAll(faultAt, 2*time.Second),
		}),
		with(scenario{
			name: "poison-part", quick: true,
			about:  "every 5th upload carries an out-of-range heart rate and a source PostgreSQL refuses (NUL): each rejected once, the rest flows",
			poison: func(seq int) bool { return seq%5 == 3 },
			fault:  noFault,
		}),
		with(scenario{
			name:  "gzip-bomb",
			about: "4 gzip bodies of 130 KB that inflate to 128 MiB, past the 64 MiB limit: 413, edge memory bounded",
			fault: gzipBomb(faultAt, 4, 128<<20, 256),
		}),
		with(scenario{
			name:  "slow-clients",
			about: "50 connections sending headers a byte every 300 ms: cut at the 2 s header timeout while others are served",
			fault: slowClients(faultAt, 50, 2*time.Second),
		}),
	}
	return list
}

func noFault(ctx context.Context, r *run) (time.Time, time.Time) {
	now := time.Now()
	return now, now
}

// killService kill -9s a service and starts it again after down.
func killService(name, consumer string, at, down time.Duration) faultFunc {
	return func(ctx context.Context, r *run) (time.Time, time.Time) {
		r.at(ctx, at)
		// Mid-batch: wait (briefly) until the service holds messages it
		// was delivered and has not acknowledged, so that the kill takes
		// them down with it and their redelivery is what gets tested.
		held, _ := r.waitInFlight(ctx, 5*time.Second, 20*time.Millisecond,
			func(c string) bool { return strings.Contains(c, consumer) },
			func(held map[string]int) bool { return len(held) > 0 })
		start := time.Now()
		r.svc.proc(name).Kill()
		if len(held) == 0 {
			r.fail("%s killed with SIGKILL, but it held no unacknowledged message within 5 s", name)
		} else {
			r.ok("%s killed with SIGKILL holding unacknowledged messages (%s)", name, describeInFlight(held))
		}
		sleep(ctx, down)
		if err := r.svc.start(ctx, name); err != nil {
			r.fail("restarting %s: %v", name, err)
		}
		return start, time.Now()
	}
}

// crashAfterCommit waits for the failpoints to kill both consumers, and
// starts them again without it.
func crashAfterCommit(ctx context.Context, r *run) (time.Time, time.Time) {
	start := time.Now()
	var wg sync.WaitGroup
	for _, name := range []string{"metric-writer", "raw-archiver"} {
		wg.Go(func() {
			p := r.svc.proc(name)
			select {
			case <-p.Exited():
			case <-time.After(time.Until(r.loadUntil)):
				r.fail("%s: the failpoint never fired during the load", name)
				return
			case <-ctx.Done():
				return
			}
			var ee interface{ Sys() any }
			if errors.As(p.ExitErr(), &ee) {
				if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL {
					r.ok("%s killed itself with SIGKILL after a COMMIT, before the ack", name)
				} else {
					r.fail("%s ended with %v, not the failpoint's SIGKILL\n%s", name, p.ExitErr(), p.Tail(10))
				}
			} else {
				r.fail("%s ended with %v, not the failpoint's SIGKILL\n%s", name, p.ExitErr(), p.Tail(10))
			}
			if err := r.svc.start(ctx, name); err != nil {
				r.fail("restarting %s: %v", name, err)
			}
		})
	}
	wg.Wait()
	return start, time.Now()
}

// stopServerFor stops one of the harness's servers cleanly (PostgreSQL:
// fast shutdown, every session ended) and starts it again after down.
func stopServerFor(at, down time.Duration, which func(*infra) *server, label string) faultFunc {
	return func(ctx context.Context, r *run) (time.Time, time.Time) {
		r.at(ctx, at)
		s := which(r.in)
		start := time.Now()
		if err := s.stop(); err != nil {
			r.fail("stopping %s: %v", label, err)
		}
		r.ok("%s stopped", label)
		sleep(ctx, time.Until(start.Add(down)))
		if err := s.start(ctx); err != nil {
			r.fail("starting %s again: %v", label, err)
		}
		healed := time.Now()
		if n := r.ackedBetween(start, healed); n == 0 {
			r.fail("no upload was acknowledged while %s was down", label)
		} else {
			r.ok("%d uploads acknowledged while %s was down", n, label)
		}
		return start, healed
	}
}

// ackedBetween counts uploads acknowledged in a window.
func (r *run) ackedBetween(from, to time.Time) int {
	r.ledger.mu.Lock()
	defer r.ledger.mu.Unlock()
	n := 0
	for _, u := range r.ledger.uploads {
		if u.outcome == acked && !u.ackedAt.Before(from) && !u.ackedAt.After(to) {
			n++
		}
	}
	return n
}

// killNATS kill -9s nats-server and starts it again on the same store.
func killNATS(at, down time.Duration) faultFunc {
	return func(ctx context.Context, r *run) (time.Time, time.Time) {
		r.at(ctx, at)
		before := r.answers()
		start := time.Now()
		r.in.nats.kill()
		r.ok("nats-server killed with SIGKILL")
		sleep(ctx, down)
		if err := r.in.nats.start(ctx); err != nil {
			r.fail("starting nats-server again: %v", err)
		}
		healed := time.Now()
		// Requests waiting for a PubAck when the server died answer 503
		// once INGEST_PUBLISH_TIMEOUT (2 s) has passed.
		sleep(ctx, 3*time.Second)
		after := r.answers()
		refused := after["503"] + after["connection error"] + after["timeout"] - before["503"] - before["connection error"] - before["timeout"]
		if refused == 0 {
			r.fail("no upload was answered 503 around the outage: did nats-server go down?")
		} else {
			r.ok("%d attempts answered 503 (or failed) around the outage, and were sent again", refused)
		}
		r.resendAcknowledged(ctx)
		return start, healed
	}
}

func (r *run) answers() map[string]int {
	r.ledger.mu.Lock()
	defer r.ledger.mu.Unlock()
	out := make(map[string]int, len(r.ledger.byStatus))
	for k, v := range r.ledger.byStatus {
		out[k] = v
	}
	return out
}

// sigtermAll stops every service at once with SIGTERM, checks that they
// exited cleanly leaving nothing unacknowledged, and starts them again.
func sigtermAll(at, down time.Duration) faultFunc {
	return func(ctx context.Context, r *run) (time.Time, time.Time) {
		r.at(ctx, at)
		start := time.Now()
		names := []string{"edge", "raw-archiver", "metric-writer"}
		var wg sync.WaitGroup
		for _, name := range names {
			wg.Go(func() {
				if err := r.svc.proc(name).Stop(syscall.SIGTERM, 30*time.Second); err != nil {
					r.fail("%s after SIGTERM: %v", name, err)
				} else {
					r.ok("%s exited 0 after SIGTERM", name)
				}
			})
		}
		wg.Wait()
		r.checkNothingInFlight(ctx)
		sleep(ctx, down)
		for _, name := range []string{"raw-archiver", "metric-writer", "edge"} {
			if err := r.svc.start(ctx, name); err != nil {
				r.fail("restarting %s: %v", name, err)
			}
		}
		return start, time.Now()
	}
}

// checkNothingInFlight: with every consumer stopped, no message may be
// delivered and unacknowledged (it would have to be redelivered).
func (r *run) checkNothingInFlight(ctx context.Context) {
	// Acks are processed by the server a moment after the client sent
	// them: look for a second, far less than AckWait (which a message
	// left unacknowledged would wait before its redelivery).
	held, err := r.waitInFlight(ctx, time.Second, 50*time.Millisecond,
		func(string) bool { return true },
		func(held map[string]int) bool { return len(held) == 0 })
	if err != nil {
		r.fail("consumer state: %v", err)
		return
	}
	if len(held) > 0 {
		r.fail("messages delivered and not acknowledged after the consumers stopped: %s", describeInFlight(held))
		return
	}
	r.ok("no message delivered and unacknowledged after SIGTERM")
}

// waitInFlight polls, for up to within, how many messages each consumer
// whose name matches holds delivered and not yet acknowledged (consumers
// with none are left out), until done says so; it returns the last count.
func (r *run) waitInFlight(ctx context.Context, within, every time.Duration, match func(consumer string) bool, done func(held map[string]int) bool) (map[string]int, error) {
	nc, err := nats.Connect(r.in.NATSURL)
	if err != nil {
		return nil, err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	for deadline := time.Now().Add(within); ; {
		_, lags, err := stream.Lag(ctx, js, r.svc.streamName)
		if err != nil {
			return nil, err
		}
		held := map[string]int{}
		for _, l := range lags {
			if l.AckPending > 0 && match(l.Consumer) {
				held[l.Consumer] = l.AckPending
			}
		}
		if done(held) || time.Now().After(deadline) || ctx.Err() != nil {
			return held, nil
		}
		sleep(ctx, every)
	}
}

func describeInFlight(held map[string]int) string {
	parts := make([]string, 0, len(held))
	for c, n := range held {
		parts = append(parts, fmt.Sprintf("%s: %d", c, n))
	}
	slices.Sort(parts)
	return strings.Join(parts, ", ")
}

// gzipBomb posts n gzip bodies that inflate to size bytes, past the
// edge's limit, watching the edge's memory.
func gzipBomb(at time.Duration, n, size int, maxRSSMiB float64) faultFunc {
	return func(ctx context.Context, r *run) (time.Time, time.Time) {
		var buf bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
		zeros := make([]byte, 1<<20)
		for range size / len(zeros) {
			_, _ = zw.Write(zeros)
		}
		_ = zw.Close()
		bomb := buf.Bytes()
		r.at(ctx, at)
		start := time.Now()
		edge := r.svc.proc("edge")
		base := proc.RSSMiB(edge.Pid())
		peak := base
		done := make(chan struct{})
		go func() {
			for {
				select {
				case <-done:
					return
				case <-time.After(20 * time.Millisecond):
					peak = max(peak, proc.RSSMiB(edge.Pid()))
				}
			}
		}()
		key := r.firstKey
		var wg sync.WaitGroup
		statuses := make([]int, n)
		for i := range n {
			wg.Go(func() {
				req, _ := http.NewRequestWithContext(ctx, http.MethodPost, r.svc.edgeURL+"/v1/ingest", bytes.NewReader(bomb))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Content-Encoding", "gzip")
				req.Header.Set("Authorization", "Bearer "+key)
				resp, err := (&http.Client{Timeout: 60 * time.Second}).Do(req)
				if err != nil {
					r.fail("gzip bomb %d: %v", i, err)
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				statuses[i] = resp.StatusCode
			})
		}
		wg.Wait()
		close(done)
		healed := time.Now()
		for i, s := range statuses {
			if s != 0 && s != http.StatusRequestEntityTooLarge {
				r.fail("gzip bomb %d answered %d, want 413", i, s)
			}
		}
		if peak > maxRSSMiB {
			r.fail("edge RSS reached %.0f MiB during the bombs (limit %.0f)", peak, maxRSSMiB)
		}
		r.ok("%d bombs of %d KB inflating to %d MiB: answers %v in %.2f s; edge RSS %.0f -> peak %.0f MiB", n, len(bomb)/1024, size>>20, statuses, healed.Sub(start).Seconds(), base, peak)
		return start, healed
	}
}

// slowClients opens connections that dribble headers; the edge must cut
// each within its header timeout while the load goes on.
func slowClients(at time.Duration, n int, headerTimeout time.Duration) faultFunc {
	return func(ctx context.Context, r *run) (time.Time, time.Time) {
		r.at(ctx, at)
		start := time.Now()
		addr := strings.TrimPrefix(r.svc.edgeURL, "http://")
		cut := make([]time.Duration, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				c, err := net.Dial("tcp", addr)
				if err != nil {
					r.fail("slow client %d: %v", i, err)
					return
				}
				defer c.Close()
				opened := time.Now()
				closed := make(chan struct{})
				go func() {
					_, _ = bufio.NewReader(c).ReadString(0) // returns when the edge answers or closes
					close(closed)
				}()
				header := []byte("POST /v1/ingest HTTP/1.1\r\nHost: edge\r\nContent-Type: application/json\r\nX-Slow: " + strings.Repeat("a", 200))
				for _, b := range header {
					select {
					case <-closed:
						cut[i] = time.Since(opened)
						return
					case <-time.After(300 * time.Millisecond):
					}
					if _, err := c.Write([]byte{b}); err != nil {
						<-closed
						cut[i] = time.Since(opened)
						return
					}
				}
				cut[i] = -1 // never cut
			})
		}
		wg.Wait()
		healed := time.Now()
		worst := time.Duration(0)
		for i, d := range cut {
			if d < 0 {
				r.fail("slow client %d was never cut", i)
			}
			worst = max(worst, d)
		}
		if worst > headerTimeout+2*time.Second {
			r.fail("slowest cut after %s, header timeout %s", worst.Round(time.Millisecond), headerTimeout)
		}
		if acked := r.ackedBetween(start, healed); acked == 0 {
			r.fail("no upload acknowledged while the slow clients were connected")
		} else {
			r.ok("%d slow clients cut within %s (header timeout %s); %d uploads acknowledged meanwhile", n, worst.Round(time.Millisecond), headerTimeout, acked)
		}
		return start, healed
	}
}

// resendAcknowledged sends each device's last acknowledged upload again,
// as a phone that never saw the 202 would: JetStream must drop the copy
// (the answer says duplicate), and the checker sees no older value
// written over a newer one.
func (r *run) resendAcknowledged(ctx context.Context) {
	last := map[int]*upload{}
	r.ledger.mu.Lock()
	for _, u := range r.ledger.uploads {
		if u.outcome == acked && (last[u.device] == nil || u.seq > last[u.device].seq) {
			last[u.device] = u
		}
	}
	r.ledger.mu.Unlock()
	dup := 0
	for _, d := range r.devs {
		u := last[d.N]
		if u == nil {
			continue
		}
		b, _ := body(d, u.seq, u.poison)
		status, a, err := post(ctx, r.svc.edgeURL, d.Key, b)
		switch {
		case err != nil:
			r.fail("resending upload %d of device %d: %v", u.seq, d.N, err)
		case status != http.StatusAccepted || !a.Duplicate || a.IngestionID != u.ingestionID:
			r.fail("resending upload %d of device %d: %d, duplicate %v, id %s", u.seq, d.N, status, a.Duplicate, a.IngestionID)
		default:
			dup++
		}
	}
	r.ok("%d acknowledged uploads sent again after the restart: each answered 202 duplicate", dup)
}
