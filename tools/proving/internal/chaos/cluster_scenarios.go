package chaos

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/healthexport/libs/apikey"
)

// clusterScenarios are the faults of the cluster matrix (`proving chaos
// --cluster`), each on a cluster of its own (clusterInfra).
func clusterScenarios(quick bool) []scenario {
	load := 15 * time.Second
	if quick {
		load = 6 * time.Second
	}
	faultAt := load / 4
	with := func(s scenario) scenario {
		if s.load == 0 {
			s.load = load
		}
		s.pace, s.giveUp = 150*time.Millisecond, 60*time.Second
		return s
	}
	const partition = 20 * time.Second
	return []scenario{
		with(scenario{
			name: "cluster-stream-leader-kill-9", quick: true,
			about: "kill -9 of the nats-server leading the stream (R3), restarted 3 s later: a new leader is elected, 503s during the election are resent",
			fault: killStreamLeader(faultAt, 3*time.Second),
		}),
		with(scenario{
			name: "cluster-nats-partition-20s", load: partition + 2*faultAt,
			about: "the stream leader's nats-server cut off from the other two for 20 s (its routes cut, its clients still connected) while the load goes on",
			fault: partitionLeader(faultAt, partition),
		}),
		with(scenario{
			name: "cluster-nats-rolling-restart", load: 2 * load,
			about: "each of the three nats-servers stopped and started in turn, the next once the stream is current on all three again",
			fault: rollingRestart(faultAt),
		}),
		with(scenario{
			name:  "cluster-writer-kill-9",
			about: "kill -9 of one of two metric-writers mid-batch, down until the load ends: the other writes on, the dead one's messages come back after AckWait",
			fault: killOneWriter(faultAt),
		}),
		with(scenario{
			name:  "cluster-edge-kill-9",
			about: "kill -9 of one of two edges behind HAProxy, restarted 4 s later: uploads go through the other, then both again",
			fault: killOneEdge(faultAt, 4*time.Second),
		}),
		with(scenario{
			name:  "cluster-postgres-failover",
			about: "kill -9 of the PostgreSQL primary, the hot standby promoted 5 s later: writers retry as an outage and find the new primary, nothing lost",
			fault: postgresFailover(faultAt, 5*time.Second),
		}),
		with(scenario{
			name: "cluster-replica-lag", quick: true,
			about: "the standby's replay paused: an upload complete on the primary is missing from the read API (READ_DATABASE_URL) until replay resumes",
			fault: replicaLag(faultAt),
		}),
	}
}

// killStreamLeader kill -9s the stream leader's nats-server and restarts it
// on its store after down.
func killStreamLeader(at, down time.Duration) faultFunc {
	return func(ctx context.Context, r *run) (time.Time, time.Time) {
		r.at(ctx, at)
		leader, _, err := streamLeader(ctx, r.in.NATSURL, r.svc.streamName)
		_, node := r.cl.node(leader)
		if err != nil || node == nil {
			r.fail("no stream leader to kill: %q %v", leader, err)
			now := time.Now()
			return now, now
		}
		start := time.Now()
		node.kill()
		r.ok("stream leader %s killed with SIGKILL", leader)
		if next, err := waitStreamLeader(ctx, r.in.NATSURL, r.svc.streamName, leader, false, 30*time.Second); err != nil {
			r.fail("after the leader was killed: %v", err)
		} else {
			r.ok("%s leads the stream %.1f s after the kill", next, time.Since(start).Seconds())
		}
		sleep(ctx, time.Until(start.Add(down)))
		if err := node.start(ctx); err != nil {
			r.fail("restarting %s: %v", leader, err)
		}
		r.natsCaughtUp(ctx, start)
		return start, time.Now()
	}
}

// natsCaughtUp waits until every replica of the stream is current again.
func (r *run) natsCaughtUp(ctx context.Context, since time.Time) {
	if leader, err := waitStreamLeader(ctx, r.in.NATSURL, r.svc.streamName, "", true, time.Minute); err != nil {
		r.fail("the stream's replicas did not catch up: %v", err)
	} else {
		r.ok("all three replicas current %.1f s after the fault began (leader %s)", time.Since(since).Seconds(), leader)
	}
}

// partitionLeader cuts the stream leader's nats-server off from the other
// two for d (every route from and to it), then heals the cut.
func partitionLeader(at, d time.Duration) faultFunc {
	return func(ctx context.Context, r *run) (time.Time, time.Time) {
		r.at(ctx, at)
		leader, _, err := streamLeader(ctx, r.in.NATSURL, r.svc.streamName)
		i, node := r.cl.node(leader)
		if err != nil || node == nil {
			r.fail("no stream leader to cut off: %q %v", leader, err)
			now := time.Now()
			return now, now
		}
		start := time.Now()
		r.cl.cut(i, true)
		// The majority elects a leader of its own; the cut-off server has no
		// route left (its clients stay connected to it).
		if next, err := waitStreamLeader(ctx, r.in.NATSURL, r.svc.streamName, leader, false, d); err != nil {
			r.fail("with %s cut off: %v", leader, err)
		} else {
			r.ok("%s cut off; %s leads the stream %.1f s later", leader, next, time.Since(start).Seconds())
		}
		if n, err := r.cl.routesOf(node); err != nil || n != 0 {
			r.fail("%s has %d routes while cut off (%v): the cut did not hold", leader, n, err)
		} else {
			r.ok("%s had no route to the others while cut off", leader)
		}
		sleep(ctx, time.Until(start.Add(d)))
		r.cl.cut(i, false)
		healed := time.Now()
		r.natsCaughtUp(ctx, start)
		if n := r.ackedBetween(start, healed); n > 0 {
			r.ok("%d uploads acknowledged during the partition", n)
		}
		return start, healed
	}
}

// rollingRestart stops and starts each nats-server in turn (SIGTERM), the
// next once every replica of the stream is current again.
func rollingRestart(at time.Duration) faultFunc {
	return func(ctx context.Context, r *run) (time.Time, time.Time) {
		r.at(ctx, at)
		start := time.Now()
		for _, n := range r.cl.nats {
			t0 := time.Now()
			if err := n.stop(); err != nil {
				r.fail("%s after SIGTERM: %v", n.name, err)
			}
			if err := n.start(ctx); err != nil {
				r.fail("restarting %s: %v", n.name, err)
				break
			}
			// Its /healthz: every stream and consumer on it is current.
			if err := r.cl.waitNATSHealthy(ctx, time.Minute); err != nil {
				r.fail("after restarting %s: %v", n.name, err)
				break
			}
			if _, err := waitStreamLeader(ctx, r.in.NATSURL, r.svc.streamName, "", true, time.Minute); err != nil {
				r.fail("after restarting %s: %v", n.name, err)
				break
			}
			r.ok("%s restarted, stream current on all three after %.1f s", n.name, time.Since(t0).Seconds())
		}
		healed := time.Now()
		r.ok("%d uploads acknowledged during the rolling restart (%.1f s)", r.ackedBetween(start, healed), healed.Sub(start).Seconds())
		return start, healed
	}
}

// killOneWriter kill -9s metric-writer-1 while the writers hold delivered,
// unacknowledged messages, and keeps it down until the load ends.
func killOneWriter(at time.Duration) faultFunc {
	return func(ctx context.Context, r *run) (time.Time, time.Time) {
		r.at(ctx, at)
		held, _ := r.waitInFlight(ctx, 5*time.Second, 20*time.Millisecond,
			func(c string) bool { return strings.Contains(c, "-writer-") },
			func(held map[string]int) bool { return len(held) > 0 })
		survivor := r.svc.readyURL("metric-writer-2")
		before, err := metricSum(survivor, "healthexport_writer_batches_total", nil)
		if err != nil {
			r.fail("metric-writer-2's metrics: %v", err)
		}
		start := time.Now()
		r.svc.proc("metric-writer-1").Kill()
		if len(held) == 0 {
			r.fail("metric-writer-1 killed, but the writers held no unacknowledged message within 5 s")
		} else {
			r.ok("metric-writer-1 killed with SIGKILL while the writers held unacknowledged messages (%s)", describeInFlight(held))
		}
		sleep(ctx, time.Until(r.loadUntil))
		after, _ := metricSum(survivor, "healthexport_writer_batches_total", nil)
		if after <= before {
			r.fail("metric-writer-2 committed no batch while metric-writer-1 was down")
		} else {
			r.ok("metric-writer-2 committed %.0f batches while metric-writer-1 was down", after-before)
		}
		if err := r.svc.start(ctx, "metric-writer-1"); err != nil {
			r.fail("restarting metric-writer-1: %v", err)
		}
		return start, time.Now()
	}
}

// killOneEdge kill -9s edge-1 behind the load balancer and restarts it
// after down.
func killOneEdge(at, down time.Duration) faultFunc {
	return func(ctx context.Context, r *run) (time.Time, time.Time) {
		r.at(ctx, at)
		start := time.Now()
		r.svc.proc("edge-1").Kill()
		r.ok("edge-1 killed with SIGKILL")
		sleep(ctx, down)
		if n := r.ackedBetween(start, time.Now()); n == 0 {
			r.fail("no upload acknowledged through the load balancer while edge-1 was down")
		} else {
			r.ok("%d uploads acknowledged through edge-2 while edge-1 was down", n)
		}
		if err := r.svc.start(ctx, "edge-1"); err != nil {
			r.fail("restarting edge-1: %v", err)
		}
		healed := time.Now()
		sleep(ctx, time.Until(r.loadUntil))
		if n, err := metricSum(r.svc.readyURL("edge-1"), "healthexport_edge_http_requests_total", map[string]string{"route": "/v1/ingest"}); err != nil || n == 0 {
			r.fail("the load balancer sent the restarted edge-1 no upload (%v)", err)
		} else {
			r.ok("the restarted edge-1 answered %.0f uploads", n)
		}
		return start, healed
	}
}

// postgresFailover kill -9s the primary and promotes the standby after
// down; the services reach it by DATABASE_URL's target_session_attrs.
func postgresFailover(at, down time.Duration) faultFunc {
	return func(ctx context.Context, r *run) (time.Time, time.Time) {
		r.at(ctx, at)
		start := time.Now()
		r.cl.pg[0].kill()
		r.ok("PostgreSQL primary killed with SIGKILL")
		sleep(ctx, down)
		if acked := r.ackedBetween(start, time.Now()); acked == 0 {
			r.fail("no upload acknowledged while there was no primary")
		} else {
			r.ok("%d uploads acknowledged while there was no primary", acked)
		}
		conn, err := pgx.Connect(ctx, r.cl.nodeURL(1))
		if err == nil {
			_, err = conn.Exec(ctx, "SELECT pg_promote()")
			_ = conn.Close(ctx)
		}
		healed := time.Now()
		if err != nil {
			r.fail("promoting the standby: %v", err)
			return start, healed
		}
		r.ok("standby promoted %.1f s after the kill", healed.Sub(start).Seconds())
		// The writers' errors meanwhile were an outage, retried without
		// bound; none was unexpected (that would count towards giving up).
		sleep(ctx, time.Until(r.loadUntil))
		var unavailable, unexpected float64
		for _, n := range []string{"metric-writer-1", "metric-writer-2"} {
			u, err1 := metricSum(r.svc.readyURL(n), "healthexport_writer_retries_total", map[string]string{"cause": "unavailable"})
			x, err2 := metricSum(r.svc.readyURL(n), "healthexport_writer_retries_total", map[string]string{"cause": "unexpected"})
			if err1 != nil || err2 != nil {
				r.fail("%s's metrics: %v %v", n, err1, err2)
			}
			unavailable, unexpected = unavailable+u, unexpected+x
		}
		switch {
		case unexpected > 0:
			r.fail("%.0f batch retries classed unexpected during the failover (bounded: they could be given up)", unexpected)
		case unavailable == 0:
			r.fail("no batch retried as unavailable: did the writers notice the failover?")
		default:
			r.ok("%.0f batch retries, all classed unavailable (never given up)", unavailable)
		}
		return start, healed
	}
}

// replicaLag shows the lag a reader of READ_DATABASE_URL can see: with the
// standby's replay paused, an upload the status route (on the primary)
// calls complete is not yet in the read API; once replay resumes it is.
// It also records the standby's replay lag under the load.
func replicaLag(at time.Duration) faultFunc {
	return func(ctx context.Context, r *run) (time.Time, time.Time) {
		r.at(ctx, at)
		var lag *time.Duration
		primary, err := pgx.Connect(ctx, r.cl.nodeURL(0))
		if err == nil {
			var l *time.Duration
			err = primary.QueryRow(ctx, "SELECT replay_lag FROM pg_stat_replication WHERE application_name = $1", standbyName).Scan(&l)
			lag = l
			_ = primary.Close(ctx)
		}
		if err != nil {
			r.fail("replication state: %v", err)
		} else if lag != nil {
			r.ok("standby replay lag under the load: %s (pg_stat_replication)", lag.Round(time.Microsecond))
		}
		d := r.devs[0]
		readKey, _, err := apikey.NewStore(r.pool, apikey.StoreConfig{}).Create(ctx, d.UserID, apikey.NewKey{Name: "chaos reader", Scopes: []string{"read"}})
		if err != nil {
			r.fail("read key: %v", err)
			now := time.Now()
			return now, now
		}
		standby, err := pgx.Connect(ctx, r.cl.nodeURL(1))
		if err != nil {
			r.fail("standby: %v", err)
			now := time.Now()
			return now, now
		}
		defer standby.Close(ctx)
		start := time.Now()
		if _, err := standby.Exec(ctx, "SELECT pg_wal_replay_pause()"); err != nil {
			r.fail("pausing replay: %v", err)
			return start, time.Now()
		}
		// An upload of its own, in the ledger like every other.
		const markerSeq = 500 // its minutes in the past, as the others' (the edge refuses points over a day ahead)
		load := loadConfig{edgeURL: r.svc.edgeURL, giveUp: time.Now().Add(30 * time.Second)}
		u := send(ctx, d, markerSeq, load, r.ledger)
		minute := epoch.Add(time.Duration(markerSeq*newPerBody) * time.Minute)
		readable := func() (int, error) { return pointsAt(ctx, r.svc.edgeURL, readKey, minute) }
		switch {
		case u.outcome != acked:
			r.fail("the marker upload was not acknowledged")
		case !r.complete(ctx, d.Key, u.ingestionID, 30*time.Second):
			r.fail("the marker upload is not complete on the primary")
		default:
			if n, err := readable(); err != nil || n != 0 {
				r.fail("with replay paused, the read API returned %d points of a complete upload (%v), want none", n, err)
			} else {
				r.ok("replay paused: the upload is complete on the primary (status route) and not yet in the read API")
			}
		}
		if _, err := standby.Exec(ctx, "SELECT pg_wal_replay_resume()"); err != nil {
			r.fail("resuming replay: %v", err)
		}
		resumed := time.Now()
		for {
			n, err := readable()
			if err == nil && n == 1 {
				r.ok("replay resumed: the point is in the read API %.0f ms later", float64(time.Since(resumed).Microseconds())/1000)
				break
			}
			if time.Since(resumed) > 10*time.Second {
				r.fail("replay resumed, but the read API still has %d points after 10 s (%v)", n, err)
				break
			}
			sleep(ctx, 10*time.Millisecond)
		}
		return start, time.Now()
	}
}

// complete polls an upload's status until it says complete.
func (r *run) complete(ctx context.Context, key, id string, within time.Duration) bool {
	for deadline := time.Now().Add(within); time.Now().Before(deadline) && ctx.Err() == nil; sleep(ctx, 20*time.Millisecond) {
		status, b, err := get(ctx, r.svc.edgeURL+"/v1/ingestions/"+id, key)
		if err == nil && status == http.StatusOK && strings.Contains(string(b), `"complete":true`) {
			return true
		}
	}
	return false
}

// pointsAt is how many heart-rate points the read API has at minute.
func pointsAt(ctx context.Context, edgeURL, key string, minute time.Time) (int, error) {
	q := url.Values{"from": {minute.Format(time.RFC3339)}, "to": {minute.Add(time.Minute).Format(time.RFC3339)}}
	status, b, err := get(ctx, edgeURL+"/v1/metrics/heart_rate?"+q.Encode(), key)
	if err != nil {
		return 0, err
	}
	if status != http.StatusOK {
		return 0, fmt.Errorf("read API: %d %s", status, b)
	}
	var page struct {
		Points []json.RawMessage `json:"points"`
	}
	if err := json.Unmarshal(b, &page); err != nil {
		return 0, err
	}
	return len(page.Points), nil
}

func get(ctx context.Context, u, key string) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// metricSum adds up a counter's series on a service's /metrics (next to
// readyURL) whose labels include match.
func metricSum(readyURL, name string, match map[string]string) (float64, error) {
	resp, err := http.Get(strings.TrimSuffix(readyURL, "/readyz") + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		return 0, err
	}
	sum := 0.0
	for _, m := range fams[name].GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		ok := true
		for k, v := range match {
			ok = ok && labels[k] == v
		}
		if ok {
			sum += m.GetCounter().GetValue()
		}
	}
	return sum, nil
}
