// Package chaos is the fault-injection harness: it runs the built
// services against its own PostgreSQL, Redis and nats-server, drives a
// load of uploads whose points carry unique natural keys, breaks one
// thing per scenario (kills, outages, poison, hostile clients), heals it,
// waits for the pipeline to drain and checks PostgreSQL against what the
// devices were told: nothing acknowledged lost, nothing doubled, nothing
// stored that was not sent.
package chaos

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/healthexport/libs/stream"
	"github.com/healthexport/migrations"
	"github.com/healthexport/tools/proving/internal/fleet"
	"github.com/healthexport/tools/proving/internal/proc"
)

// Config says what to run.
type Config struct {
	BinDir   string // the built edge, raw-archiver and metric-writer
	Binaries Binaries
	WorkDir  string   // servers' data and logs; a temp directory when empty
	Only     []string // scenario names; all when empty
	Quick    bool     // the short subset `make test` runs
	Devices  int
	Out      io.Writer // progress, one line per step
	Log      *slog.Logger
	// Cluster runs the cluster matrix instead: each scenario on a fresh
	// cluster (clusterInfra) made from the files in DeployDir.
	Cluster   bool
	DeployDir string // deploy/cluster
}

// Result is one scenario's verdict. The first six fields are the
// contract (chaos/results/latest.json); the rest say what happened.
type Result struct {
	Name       string  `json:"name"`
	Lost       int     `json:"lost"`
	Duplicates int     `json:"duplicates"`
	Unexpected int     `json:"unexpected"`
	DrainS     float64 `json:"drain_s"`
	Passed     bool    `json:"passed"`

	About        string `json:"about"`
	Uploads      int    `json:"uploads"`
	Acknowledged int    `json:"acknowledged"`
	Unknown      int    `json:"unknown"`
	Attempts     int    `json:"attempts"`
	Retried      int    `json:"retried"` // attempts after a 5xx, a timeout or a refused connection
	// RetriesLanded are uploads whose unanswered attempt had in fact
	// landed: the retry's 202 said duplicate.
	RetriesLanded    int            `json:"retries_found_landed"`
	PointsAcked      int            `json:"points_acknowledged"`
	UnknownLanded    int            `json:"unknown_points_landed"`
	AckedDuringFault int            `json:"acknowledged_during_fault"`
	FaultS           float64        `json:"fault_s"`
	Answers          map[string]int `json:"answers"`
	DuplicatesBy     map[string]int `json:"duplicates_by,omitempty"`
	Checks           []string       `json:"checks"`
	Failures         []string       `json:"failures,omitempty"`
	Seconds          float64        `json:"seconds"`
	At               time.Time      `json:"at"`              // when it ran: latest.json keeps each scenario's newest result
	Quick            bool           `json:"quick,omitempty"` // in a run of the short subset
}

// Report is a whole run.
type Report struct {
	At        time.Time `json:"at"`
	Quick     bool      `json:"quick"`
	Passed    bool      `json:"passed"`
	Seconds   float64   `json:"seconds"`
	Scenarios []*Result `json:"scenarios"`
}

// Run runs the scenarios one after the other on one set of servers.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	start := time.Now()
	scenarios, err := selectScenarios(cfg)
	if err != nil {
		return nil, err
	}
	if cfg.Devices == 0 {
		cfg.Devices = 6
	}
	dir, err := filepath.Abs(cfg.WorkDir)
	if err != nil {
		return nil, err
	}
	if cfg.WorkDir == "" {
		if dir, err = os.MkdirTemp("", "health-chaos-"); err != nil {
			return nil, err
		}
		defer os.RemoveAll(dir)
	}
	rep := &Report{At: start.UTC(), Quick: cfg.Quick, Passed: true}
	var in *infra
	if !cfg.Cluster {
		fmt.Fprintf(cfg.Out, "starting PostgreSQL, Redis and nats-server of the harness under %s…\n", dir)
		if in, err = startInfra(ctx, cfg.Binaries, dir); err != nil {
			return nil, err
		}
		defer in.close()
		if err := makeTemplate(ctx, in.PostgresURL); err != nil {
			return nil, err
		}
	}
	for i, sc := range scenarios {
		fmt.Fprintf(cfg.Out, "[%d/%d] %s: %s\n", i+1, len(scenarios), sc.name, sc.about)
		var res *Result
		if cfg.Cluster {
			res = runOnCluster(ctx, cfg, sc, i+1, dir)
		} else {
			res = runScenario(ctx, cfg, in, nil, sc, i+1, dir)
		}
		rep.Scenarios = append(rep.Scenarios, res)
		rep.Passed = rep.Passed && res.Passed
		verdict := "passed"
		if !res.Passed {
			verdict = "FAILED: " + strings.Join(res.Failures, "; ")
		}
		fmt.Fprintf(cfg.Out, "      %d uploads (%d acknowledged, %d unknown), lost %d, duplicates %d, unexpected %d, drained in %.1f s: %s\n",
			res.Uploads, res.Acknowledged, res.Unknown, res.Lost, res.Duplicates, res.Unexpected, res.DrainS, verdict)
		if ctx.Err() != nil {
			return rep, ctx.Err()
		}
	}
	rep.Seconds = time.Since(start).Seconds()
	return rep, nil
}

// runOnCluster runs one scenario on a cluster of its own, made for it and
// stopped after it.
func runOnCluster(ctx context.Context, cfg Config, sc scenario, n int, dir string) *Result {
	t0 := time.Now()
	fail := func(err error) *Result {
		return &Result{Name: sc.name, About: sc.about, At: t0.UTC(), Failures: []string{"starting the cluster: " + err.Error()}}
	}
	cdir := filepath.Join(dir, fmt.Sprintf("%02d-%s-cluster", n, sc.name))
	cl, err := startCluster(ctx, cfg.Binaries, cfg.DeployDir, dir, cdir)
	if err != nil {
		return fail(err)
	}
	defer cl.close()
	in := &infra{dir: cdir, PostgresURL: cl.PostgresURL(), RedisURL: cl.RedisURL(), NATSURL: cl.NATSURL()}
	if err := makeTemplate(ctx, in.PostgresURL); err != nil {
		return fail(err)
	}
	fmt.Fprintf(cfg.Out, "      cluster up in %.1f s (3 nats-servers, PostgreSQL primary and standby, Redis)\n", time.Since(t0).Seconds())
	return runScenario(ctx, cfg, in, cl, sc, n, dir)
}

func selectScenarios(cfg Config) ([]scenario, error) {
	matrix := scenarios
	if cfg.Cluster {
		matrix = clusterScenarios
	}
	var out []scenario
	for _, sc := range matrix(cfg.Quick) {
		if len(cfg.Only) > 0 && !slices.Contains(cfg.Only, sc.name) {
			continue
		}
		if cfg.Quick && !sc.quick && len(cfg.Only) == 0 {
			continue
		}
		out = append(out, sc)
	}
	if len(out) == 0 {
		var names []string
		for _, sc := range matrix(false) {
			names = append(names, sc.name)
		}
		return nil, fmt.Errorf("no scenario matches %v; there are: %s", cfg.Only, strings.Join(names, ", "))
	}
	return out, nil
}

// makeTemplate migrates a database every scenario's is copied from.
func makeTemplate(ctx context.Context, adminURL string) error {
	c, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return err
	}
	defer c.Close(ctx)
	if _, err := c.Exec(ctx, "CREATE DATABASE chaos_template TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C'"); err != nil {
		return err
	}
	return migrations.Up(withDatabase(adminURL, "chaos_template"))
}

func withDatabase(url, db string) string {
	i := strings.LastIndex(url, "/")
	q := ""
	if j := strings.IndexByte(url[i:], '?'); j >= 0 {
		q = url[i+j:]
	}
	return url[:i+1] + db + q
}

// run is one scenario in progress: what its fault needs to act and record.
type run struct {
	cfg       Config
	in        *infra
	cl        *clusterInfra // nil on a single machine
	svc       *services
	pool      *pgxpool.Pool // the scenario's database
	ledger    *ledger
	loadStart time.Time
	loadUntil time.Time
	firstKey  string // a device's key, for requests that are not uploads
	devs      []fleet.Device

	mu       sync.Mutex
	checks   []string
	failures []string
}

func (r *run) ok(format string, args ...any) {
	r.mu.Lock()
	r.checks = append(r.checks, fmt.Sprintf(format, args...))
	r.mu.Unlock()
}

func (r *run) fail(format string, args ...any) {
	r.mu.Lock()
	r.failures = append(r.failures, fmt.Sprintf(format, args...))
	r.mu.Unlock()
}

// at waits until the load has run for d.
func (r *run) at(ctx context.Context, d time.Duration) { sleep(ctx, time.Until(r.loadStart.Add(d))) }

func runScenario(ctx context.Context, cfg Config, in *infra, cl *clusterInfra, sc scenario, n int, dir string) *Result {
	started := time.Now()
	res := &Result{Name: sc.name, About: sc.about, At: started.UTC()}
	r := &run{cfg: cfg, in: in, cl: cl, ledger: &ledger{byStatus: map[string]int{}}}
	defer func() {
		res.Checks, res.Failures = r.checks, r.failures
		res.Passed = len(res.Failures) == 0
		res.Seconds = time.Since(started).Seconds()
	}()
	fault, err := r.prepare(ctx, sc, n, dir)
	if r.svc != nil {
		defer r.cleanup(n)
	}
	if err != nil {
		r.fail("setting up: %v", err)
		return res
	}
	pool, err := pgxpool.New(ctx, withDatabase(in.PostgresURL, fmt.Sprintf("chaos_%d", n)))
	if err != nil {
		r.fail("database: %v", err)
		return res
	}
	defer pool.Close()
	r.pool = pool
	devs, err := fleet.Make(ctx, pool, cfg.Devices, "chaos", "Chaos Watch")
	if err != nil {
		r.fail("devices: %v", err)
		return res
	}

	r.firstKey, r.devs = devs[0].Key, devs
	// The first upload of each device makes the edge know its key, as a
	// phone that has been uploading for a while.
	load := loadConfig{edgeURL: r.svc.edgeURL, pace: sc.pace, giveUp: time.Now().Add(30 * time.Second), poison: sc.poison}
	for _, d := range devs {
		if u := send(ctx, d, 0, load, r.ledger); u.outcome != acked {
			r.fail("the first upload of device %d was not accepted (answers %v)", d.N, r.ledger.byStatus)
			return res
		}
	}

	r.loadStart = time.Now()
	r.loadUntil = r.loadStart.Add(sc.load)
	load.until, load.giveUp = r.loadUntil, r.loadUntil.Add(sc.giveUp)
	var wg sync.WaitGroup
	for _, d := range devs {
		wg.Go(func() { runDevice(ctx, d, 1, load, r.ledger) })
	}
	var faultStart, healed time.Time
	faultDone := make(chan struct{})
	go func() {
		defer close(faultDone)
		faultStart, healed = fault(ctx, r)
	}()
	<-faultDone
	wg.Wait()
	loadDone := time.Now()
	res.FaultS = healed.Sub(faultStart).Seconds()

	drainFrom := healed
	if loadDone.After(drainFrom) {
		drainFrom = loadDone
	}
	res.DrainS, err = r.drain(ctx, drainFrom, 120*time.Second)
	if err != nil {
		r.fail("draining: %v", err)
	} else if res.DrainS > 60 {
		r.fail("drained in %.0f s, more than 60 s after healing", res.DrainS)
	}
	for _, name := range r.svc.names {
		if p := r.svc.proc(name); !p.Running() {
			r.fail("%s is not running at the end: %v\n%s", name, p.ExitErr(), p.Tail(10))
		}
	}

	t, err := check(ctx, pool, r.ledger, devs)
	if err != nil {
		r.fail("checking: %v", err)
		return res
	}
	r.summarize(res, t, faultStart, healed)
	return res
}

// prepare makes the scenario's database, stream names and services, and
// returns its fault.
func (r *run) prepare(ctx context.Context, sc scenario, n int, dir string) (faultFunc, error) {
	c, err := pgx.Connect(ctx, r.in.PostgresURL)
	if err != nil {
		return nil, err
	}
	defer c.Close(ctx)
	if _, err := c.Exec(ctx, fmt.Sprintf("CREATE DATABASE chaos_%d TEMPLATE chaos_template", n)); err != nil {
		return nil, err
	}
	logDir := filepath.Join(dir, fmt.Sprintf("%02d-%s", n, sc.name))
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		return nil, err
	}
	dbURL := withDatabase(r.in.PostgresURL, fmt.Sprintf("chaos_%d", n))
	names, env := []string{"raw-archiver", "metric-writer", "edge"}, []string(nil)
	if r.cl != nil {
		names = []string{"raw-archiver-1", "raw-archiver-2", "metric-writer-1", "metric-writer-2", "edge-1", "edge-2"}
		env = []string{"STREAM_REPLICAS=3", "READ_DATABASE_URL=" + withDatabase(r.cl.ReadURL(), fmt.Sprintf("chaos_%d", n)),
			"EDGE_PROXY_HEADER=X-Forwarded-For", "EDGE_TRUSTED_PROXIES=127.0.0.1/32"}
	}
	r.svc, err = newServices(r.cfg.BinDir, logDir, r.in, dbURL, fmt.Sprintf("CHAOS%d", n), names, env)
	if err != nil {
		return nil, err
	}
	for _, name := range names {
		if err := r.svc.start(ctx, name, sc.env[proc.Binary(name)]...); err != nil {
			return nil, err
		}
	}
	if r.cl != nil {
		if err := r.cl.startLB(ctx, []string{r.svc.addr["edge-1"], r.svc.addr["edge-2"]}); err != nil {
			return nil, fmt.Errorf("haproxy: %w", err)
		}
		r.svc.edgeURL = "http://" + r.cl.lbAddr
	}
	return sc.fault, nil
}

// cleanup stops the services and drops the scenario's database and stream.
func (r *run) cleanup(n int) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	r.svc.stopAll()
	if r.cl == nil && r.in.nats.p.Running() {
		_ = stream.DeleteStream(ctx, stream.Config{URL: r.in.NATSURL, Name: r.svc.streamName})
	}
	if c, err := pgx.Connect(ctx, r.in.PostgresURL); err == nil {
		_, _ = c.Exec(ctx, fmt.Sprintf("DROP DATABASE IF EXISTS chaos_%d WITH (FORCE)", n))
		_ = c.Close(ctx)
	}
}

// drain waits until every consumer has nothing pending or unacknowledged,
// and returns how long that took from 'from'.
func (r *run) drain(ctx context.Context, from time.Time, timeout time.Duration) (float64, error) {
	nc, err := nats.Connect(r.in.NATSURL, nats.MaxReconnects(-1))
	if err != nil {
		return 0, err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return 0, err
	}
	deadline := time.Now().Add(timeout)
	var last string
	for {
		st, lags, err := stream.Lag(ctx, js, r.svc.streamName)
		if err == nil && len(lags) >= 2 {
			backlog := uint64(0)
			for _, l := range lags {
				backlog += l.Backlog()
			}
			if backlog == 0 {
				return time.Since(from).Seconds(), nil
			}
			last = fmt.Sprintf("%d messages in the stream, %d still pending", st.Messages, backlog)
		} else if err != nil {
			last = err.Error()
		} else {
			last = fmt.Sprintf("%d consumers", len(lags))
		}
		if time.Now().After(deadline) {
			return time.Since(from).Seconds(), fmt.Errorf("not drained after %s: %s", timeout, last)
		}
		sleep(ctx, 100*time.Millisecond)
	}
}

func (r *run) summarize(res *Result, t tally, faultStart, healed time.Time) {
	l := r.ledger
	l.mu.Lock()
	res.Answers = l.byStatus
	for _, u := range l.uploads {
		res.Uploads++
		res.Attempts += u.attempts
		switch u.outcome {
		case acked:
			res.Acknowledged++
			if u.attempts > 1 && u.duplicate {
				res.RetriesLanded++
			}
			if !u.ackedAt.Before(faultStart) && !u.ackedAt.After(healed) {
				res.AckedDuringFault++
			}
		case unknown:
			res.Unknown++
			if u.refused != 0 {
				r.failures = append(r.failures, fmt.Sprintf("the edge refused a valid upload with %d", u.refused))
			}
		}
	}
	l.mu.Unlock()
	res.Retried = res.Attempts - res.Uploads
	res.Lost = t.lost
	res.Duplicates = t.duplicates()
	res.Unexpected = t.unexpected
	res.PointsAcked = t.points
	res.UnknownLanded = t.unknownLanded
	res.DuplicatesBy = map[string]int{}
	for k, v := range map[string]int{"value other than the last sent": t.wrongValue, "part archived twice": t.archivedTwice, "item rejected twice": t.rejectedTwice} {
		if v > 0 {
			res.DuplicatesBy[k] = v
		}
	}
	if t.lost > 0 {
		r.fail("%d acknowledged points lost", t.lost)
	}
	if res.Duplicates > 0 {
		r.fail("duplicates: %v", res.DuplicatesBy)
	}
	if t.unexpected > 0 {
		r.fail("%d rows or rejections nobody sent", t.unexpected)
	}
	if t.archiveLost > 0 {
		r.fail("%d parts or manifests of acknowledged uploads not archived", t.archiveLost)
	}
	if t.rejectLost > 0 {
		r.fail("%d poison items of acknowledged uploads not recorded as rejected", t.rejectLost)
	}
	if t.idMismatch > 0 {
		r.fail("%d answers with an ingestion_id other than hex(sha256(user ‖ 0 ‖ body))", t.idMismatch)
	}
	if poisoned := r.countPoisoned(); poisoned > 0 {
		r.ok("%d acknowledged uploads carried poison; %d items rejected, each once; their other points stored", poisoned, t.rejections)
	}
	if res.Acknowledged == 0 {
		r.fail("nothing was acknowledged")
	}
}

// Write stores the report as dir/<time>.json, and merges it into
// dir/latest.json: that file keeps the newest result of every scenario,
// whichever matrix (single machine or cluster) ran it.
func Write(rep *Report, dir string) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	stamp := rep.At.Format("20060102-150405")
	if rep.Quick {
		stamp += "-quick"
	}
	run := filepath.Join(dir, stamp+".json")
	if err := writeJSON(run, rep); err != nil {
		return "", err
	}
	latest := filepath.Join(dir, "latest.json")
	merged, err := merge(latest, rep)
	if err != nil {
		return "", err
	}
	return run, writeJSON(latest, merged)
}

// merge is latest.json with rep's scenarios in place of their earlier
// results (new ones at the end).
func merge(latest string, rep *Report) (*Report, error) {
	prev := &Report{}
	b, err := os.ReadFile(latest)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return nil, err
	default:
		if err := json.Unmarshal(b, prev); err != nil {
			return nil, fmt.Errorf("%s: %w", latest, err)
		}
	}
	out := &Report{At: rep.At, Quick: rep.Quick, Seconds: rep.Seconds, Passed: true}
	fresh := map[string]*Result{}
	for _, s := range rep.Scenarios {
		s.Quick = rep.Quick
		fresh[s.Name] = s
	}
	for _, s := range prev.Scenarios {
		if f, ok := fresh[s.Name]; ok {
			s = f
			delete(fresh, s.Name)
		}
		out.Scenarios = append(out.Scenarios, s)
	}
	for _, s := range rep.Scenarios {
		if fresh[s.Name] != nil {
			out.Scenarios = append(out.Scenarios, s)
		}
	}
	for _, s := range out.Scenarios {
		out.Passed = out.Passed && s.Passed
	}
	return out, nil
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// Table prints one line per scenario.
func Table(w io.Writer, rep *Report) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SCENARIO\tLOST\tDUPLICATES\tUNEXPECTED\tDRAIN S\tACKED\tACKED DURING FAULT\tRETRIED\tRETRY FOUND IT LANDED\tNEVER ACKED\tRESULT\t")
	for _, s := range rep.Scenarios {
		verdict := "pass"
		if !s.Passed {
			verdict = "FAIL"
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%.1f\t%d\t%d\t%d\t%d\t%d\t%s\t\n", s.Name, s.Lost, s.Duplicates, s.Unexpected, s.DrainS,
			s.Acknowledged, s.AckedDuringFault, s.Retried, s.RetriesLanded, s.Unknown, verdict)
	}
	_ = tw.Flush()
	for _, s := range rep.Scenarios {
		for _, f := range s.Failures {
			fmt.Fprintf(w, "%s: %s\n", s.Name, f)
		}
	}
}

// services are the services of one scenario: the three binaries on a
// single machine, two instances of each (edge-1, edge-2, ...) on a cluster.
type services struct {
	binDir, logDir string
	env            []string
	names          []string          // instances, in start order
	addr           map[string]string // instance -> its listen address
	edgeURL        string            // where devices upload: the edge, or the load balancer
	streamName     string

	mu    sync.Mutex
	procs map[string]*proc.Proc
}

// addrVar is the setting of a binary's listen address.
var addrVar = map[string]string{"edge": "EDGE_ADDR", "raw-archiver": "ARCHIVER_METRICS_ADDR", "metric-writer": "WRITER_METRICS_ADDR"}

func newServices(binDir, logDir string, in *infra, dbURL, streamName string, names, extra []string) (*services, error) {
	s := &services{binDir: binDir, logDir: logDir, streamName: streamName, names: names, procs: map[string]*proc.Proc{}}
	var err error
	if s.addr, err = proc.FreeAddrs(names...); err != nil {
		return nil, err
	}
	for _, n := range names {
		if proc.Binary(n) == "edge" && s.edgeURL == "" {
			s.edgeURL = "http://" + s.addr[n]
		}
	}
	lower := strings.ToLower(streamName)
	s.env = append([]string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + os.Getenv("HOME"),
		"ENV_FILE=" + filepath.Join(logDir, "none.env"),
		"LOG_LEVEL=info",
		"DATABASE_URL=" + dbURL,
		"REDIS_URL=" + in.RedisURL,
		"REDIS_KEY_PREFIX=" + lower + ":",
		"NATS_URL=" + in.NATSURL,
		"STREAM_NAME=" + streamName,
		"SUBJECT_PREFIX=" + lower,
		"DURABLE_PREFIX=" + lower + "-",
		"STREAM_MAX_BYTES=2147483648",
		"STREAM_MAX_AGE=1h",
		"STREAM_DUPLICATE_WINDOW=10m",
		"BATCH_MAX_AGE=100ms",
		// Faults show within seconds, not the production defaults' minutes.
		"INGEST_PUBLISH_TIMEOUT=2s",
		"HTTP_HEADER_TIMEOUT=2s",
		"SHUTDOWN_GRACE=10s",
		"INGEST_MAX_BODY_BYTES=67108864",
		// Its own edge with a limit the load never reaches, as the benchmark:
		// no bypass inside the edge.
		"RATE_LIMIT_REQUESTS=100000000",
		"RATE_LIMIT_WINDOW=1h",
		"QUOTA_BYTES_PER_DAY=1099511627776",
	}, extra...)
	return s, nil
}

func (s *services) readyURL(name string) string { return "http://" + s.addr[name] + "/readyz" }

// start starts a service instance (env adds to or overrides the
// scenario's settings) and waits until it is ready.
func (s *services) start(ctx context.Context, name string, env ...string) error {
	bin := proc.Binary(name)
	env = append(append(slices.Clone(s.env), addrVar[bin]+"="+s.addr[name]), env...)
	p, err := proc.Start(proc.Spec{Name: name, Path: filepath.Join(s.binDir, bin), Env: env, Dir: s.logDir})
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.procs[name] = p
	s.mu.Unlock()
	if err := proc.WaitHTTP(ctx, s.readyURL(name), time.Minute); err != nil {
		return fmt.Errorf("%s: %w\n%s", name, err, p.Tail(20))
	}
	return nil
}

func (s *services) proc(name string) *proc.Proc {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.procs[name]
}

// stopAll stops the edges first, then the consumers.
func (s *services) stopAll() {
	order := slices.Clone(s.names)
	slices.Reverse(order)
	for _, n := range order {
		if p := s.proc(n); p != nil {
			_ = p.Stop(syscall.SIGTERM, 30*time.Second)
		}
	}
}

func (r *run) countPoisoned() int {
	r.ledger.mu.Lock()
	defer r.ledger.mu.Unlock()
	n := 0
	for _, u := range r.ledger.uploads {
		if u.poison && u.outcome == acked {
			n++
		}
	}
	return n
}
