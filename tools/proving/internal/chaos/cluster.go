package chaos

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/healthexport/libs/netcut"
	"github.com/healthexport/tools/proving/internal/proc"
)

// clusterInfra is the topology of `make cluster-up`, made afresh by the
// harness for one scenario: three nats-servers from deploy/cluster/nats.conf,
// PostgreSQL primary and hot standby with synchronous replication, Redis,
// and HAProxy from deploy/cluster/haproxy.cfg in front of the edges. Every
// route between two nats-servers passes through a proxy the harness can
// cut (one per direction), so that one server can be cut off from the
// others while its clients stay connected to it.
type clusterInfra struct {
	top    string // the harness's directory, dir's parent
	dir    string
	deploy string // deploy/cluster
	bins   Binaries
	nats   []*natsNode
	// routes[[2]int{i, j}] carries the route node i dials to node j.
	routes map[[2]int]*netcut.Proxy
	sink   *netcut.Proxy // what the nodes advertise: refuses every connection
	pg     [2]*server    // postgres-1 (the primary at first), postgres-2 (its standby)
	redis  *server
	lb     *server
	lbAddr string
	// NATS (clients and routes) and Redis require these, made for each
	// cluster, as scripts/cluster.sh's do.
	natsUser, natsPassword, redisPassword string
}

// natsNode is one nats-server of the cluster.
type natsNode struct {
	*server
	name    string // its server_name
	monitor string // host:port of /healthz, /routez
	route   string // host:port its routes arrive on
}

// standbyName is the standby's application_name, the one the primary's
// synchronous_standby_names waits for.
const standbyName = "standby"

// startCluster starts everything but the load balancer (it needs the
// edges' addresses: startLB) in dir, under the harness's directory top.
func startCluster(ctx context.Context, bins Binaries, deploy, top, dir string) (*clusterInfra, error) {
	if bins.HAProxy == "" {
		return nil, errors.New("the cluster needs haproxy (apt-get install haproxy; scripts/chaos.sh installs it)")
	}
	c := &clusterInfra{top: top, dir: dir, deploy: deploy, bins: bins, routes: map[[2]int]*netcut.Proxy{},
		natsUser: "health", natsPassword: password(), redisPassword: password()}
	steps := []struct {
		what string
		do   func(context.Context) error
	}{{"nats", c.startNATS}, {"postgres", c.startPostgres}, {"redis", c.startRedis}}
	for _, s := range steps {
		if err := s.do(ctx); err != nil {
			c.close()
			return nil, fmt.Errorf("%s: %w", s.what, err)
		}
	}
	return c, nil
}

func (c *clusterInfra) startNATS(ctx context.Context) error {
	const n = 3
	addrs := make([][3]string, n) // client, route, monitor
	for i := range n {
		for k := range 3 {
			a, err := proc.FreeAddr()
			if err != nil {
				return err
			}
			addrs[i][k] = a
		}
	}
	reserved := map[string]bool{}
	for _, a := range addrs {
		for _, x := range a {
			reserved[x] = true
		}
	}
	// proxy listens on a port of its own, none of those the servers are
	// about to take.
	proxy := func(target string) (*netcut.Proxy, error) {
		for {
			p, err := netcut.Listen(target)
			if err != nil || !reserved[p.Addr] {
				return p, err
			}
			p.Close()
		}
	}
	for i := range n {
		for j := range n {
			if i == j {
				continue
			}
			p, err := proxy(addrs[j][1])
			if err != nil {
				return err
			}
			c.routes[[2]int{i, j}] = p
		}
	}
	// A node that learns of another by gossip before its own route to it
	// is up dials the address the other advertises: a sink that refuses
	// every connection (nats-server tries such a route once), so that all
	// routes pass through the proxies.
	sink, err := proxy("127.0.0.1:1")
	if err != nil {
		return err
	}
	sink.Cut()
	c.sink = sink
	for i := range n {
		dir := filepath.Join(c.dir, fmt.Sprintf("nats-%d", i+1))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		env := []string{"PATH=" + os.Getenv("PATH"), "GOMEMLIMIT=384MiB",
			fmt.Sprintf("NATS_NAME=chaos-nats-%d", i+1), "NATS_LISTEN=" + addrs[i][0], "NATS_MONITOR=" + addrs[i][2],
			"NATS_STORE=" + filepath.Join(dir, "store"), "NATS_CLUSTER_LISTEN=" + addrs[i][1], "NATS_CLUSTER_ADVERTISE=" + sink.Addr,
			"NATS_USER=" + c.natsUser, "NATS_PASSWORD=" + c.natsPassword}
		var routes []string
		for j := range n {
			if j != i {
				routes = append(routes, "nats-route://"+c.natsUser+":"+c.natsPassword+"@"+c.routes[[2]int{i, j}].Addr)
			}
		}
		env = append(env, "NATS_ROUTE_1="+routes[0], "NATS_ROUTE_2="+routes[1])
		node := &natsNode{name: fmt.Sprintf("chaos-nats-%d", i+1), monitor: addrs[i][2], route: addrs[i][1], server: &server{
			addr: addrs[i][0], stopWith: syscall.SIGTERM,
			spec: proc.Spec{Name: "nats-server", Path: c.bins.NATSServer, Dir: dir, Env: env,
				Args: []string{"-c", filepath.Join(c.deploy, "nats.conf")}},
		}}
		if err := node.start(ctx); err != nil {
			return err
		}
		c.nats = append(c.nats, node)
	}
	if err := c.waitNATSHealthy(ctx, time.Minute); err != nil {
		return err
	}
	return c.routesProxied()
}

// routesProxied checks that no node dialled another directly (a route it
// learnt by gossip rather than from its configuration): a cut would not
// hold for it.
func (c *clusterInfra) routesProxied() error {
	direct := map[string]string{}
	for _, n := range c.nats {
		direct[n.route] = n.name
	}
	for _, n := range c.nats {
		routes, err := c.routez(n)
		if err != nil {
			return err
		}
		for _, r := range routes.Routes {
			if to, ok := direct[fmt.Sprintf("%s:%d", r.IP, r.Port)]; ok && r.DidSolicit {
				return fmt.Errorf("%s dialled %s without its proxy: a partition could not cut it", n.name, to)
			}
		}
	}
	return nil
}

// waitNATSHealthy waits until every node's /healthz is 200: JetStream has
// its meta leader and every stream and consumer on the node is current.
func (c *clusterInfra) waitNATSHealthy(ctx context.Context, timeout time.Duration) error {
	for _, n := range c.nats {
		if err := proc.WaitHTTP(ctx, "http://"+n.monitor+"/healthz", timeout); err != nil {
			return fmt.Errorf("%s: %w", n.name, err)
		}
	}
	return nil
}

// NATSURL is every node's client address, signed in.
func (c *clusterInfra) NATSURL() string {
	urls := make([]string, len(c.nats))
	for i, n := range c.nats {
		urls[i] = "nats://" + c.natsUser + ":" + c.natsPassword + "@" + n.addr
	}
	return strings.Join(urls, ",")
}

// RedisURL is the Redis server's, signed in.
func (c *clusterInfra) RedisURL() string {
	return "redis://:" + c.redisPassword + "@" + c.redis.addr + "/0"
}

// password is a fresh secret of letters and digits (nats.conf reads it from
// the environment as a string).
func password() string {
	return "hx" + rand.Text()
}

// routez is a node's /routez: its route connections.
type routez struct {
	NumRoutes int `json:"num_routes"`
	Routes    []struct {
		IP         string `json:"ip"`
		Port       int    `json:"port"`
		DidSolicit bool   `json:"did_solicit"`
	} `json:"routes"`
}

func (c *clusterInfra) routez(n *natsNode) (*routez, error) {
	resp, err := http.Get("http://" + n.monitor + "/routez")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var rz routez
	if err := json.NewDecoder(resp.Body).Decode(&rz); err != nil {
		return nil, err
	}
	return &rz, nil
}

// routesOf is how many route connections a node has.
func (c *clusterInfra) routesOf(n *natsNode) (int, error) {
	rz, err := c.routez(n)
	if err != nil {
		return 0, err
	}
	return rz.NumRoutes, nil
}

// cut cuts node i off from the others (every route from and to it), or
// heals it.
func (c *clusterInfra) cut(i int, cut bool) {
	for k, p := range c.routes {
		if k[0] == i || k[1] == i {
			if cut {
				p.Cut()
			} else {
				p.Restore()
			}
		}
	}
}

// node is the nats-server of a server name.
func (c *clusterInfra) node(name string) (int, *natsNode) {
	for i, n := range c.nats {
		if n.name == name {
			return i, n
		}
	}
	return -1, nil
}

// streamLeader is the server name of the stream's leader and its replicas
// (name -> current).
func streamLeader(ctx context.Context, natsURL, stream string) (string, map[string]bool, error) {
	nc, err := nats.Connect(natsURL, nats.Timeout(2*time.Second))
	if err != nil {
		return "", nil, err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return "", nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, stream)
	if err != nil {
		return "", nil, err
	}
	info, err := s.Info(ctx)
	if err != nil {
		return "", nil, err
	}
	if info.Cluster == nil {
		return "", nil, errors.New("the stream is not clustered")
	}
	peers := map[string]bool{}
	for _, p := range info.Cluster.Replicas {
		peers[p.Name] = p.Current
	}
	return info.Cluster.Leader, peers, nil
}

// waitStreamLeader waits until the stream has a leader other than not
// ("" for any) and, with allCurrent, both other replicas are current; it
// returns the leader.
func waitStreamLeader(ctx context.Context, natsURL, stream, not string, allCurrent bool, timeout time.Duration) (string, error) {
	deadline := time.Now().Add(timeout)
	var last error
	for time.Now().Before(deadline) && ctx.Err() == nil {
		leader, peers, err := streamLeader(ctx, natsURL, stream)
		switch {
		case err != nil:
			last = err
		case leader == "" || leader == not:
			last = fmt.Errorf("leader %q", leader)
		case allCurrent && (len(peers) != 2 || slices.Contains(mapValues(peers), false)):
			last = fmt.Errorf("leader %s, replicas %v not all current", leader, peers)
		default:
			return leader, nil
		}
		sleep(ctx, 100*time.Millisecond)
	}
	return "", fmt.Errorf("no new stream leader within %s: %v", timeout, last)
}

func mapValues(m map[string]bool) []bool {
	out := make([]bool, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

// startPostgres makes the primary, its standby from a base backup, and
// then has the primary wait for the standby at every COMMIT (ALTER SYSTEM
// after the backup: the standby must not inherit it, or it would wait for
// a standby of its own once promoted).
func (c *clusterInfra) startPostgres(ctx context.Context) error {
	bin := c.bins.PostgresBin
	var dirs [2]string
	for i := range c.pg {
		dirs[i] = filepath.Join(c.dir, fmt.Sprintf("postgres-%d", i+1))
	}
	cred, err := postgresDir(c.top, dirs[0])
	if err != nil {
		return err
	}
	if _, err := postgresDir(c.top, dirs[1]); err != nil {
		return err
	}
	if err := initdb(bin, dirs[0], cred); err != nil {
		return err
	}
	for i := range c.pg {
		addr, err := proc.FreeAddr()
		if err != nil {
			return err
		}
		c.pg[i] = postgresServer(bin, dirs[i], addr, cred, "hot_standby=on")
	}
	if err := c.pg[0].start(ctx); err != nil {
		return err
	}
	if err := waitPostgres(ctx, c.nodeURL(0)); err != nil {
		return err
	}
	if err := runOnce(proc.Spec{Name: "pg_basebackup", Path: filepath.Join(bin, "pg_basebackup"), Dir: dirs[1], Env: pgEnv(), Credential: cred,
		Args: []string{"-D", filepath.Join(dirs[1], "data"), "-X", "stream", "-c", "fast",
			"-d", fmt.Sprintf("host=127.0.0.1 port=%s user=postgres", port(c.pg[0].addr))}}); err != nil {
		return err
	}
	conninfo := fmt.Sprintf("primary_conninfo = 'host=127.0.0.1 port=%s user=postgres application_name=%s'\n", port(c.pg[0].addr), standbyName)
	if err := appendFile(filepath.Join(dirs[1], "data", "postgresql.auto.conf"), conninfo, cred); err != nil {
		return err
	}
	if err := appendFile(filepath.Join(dirs[1], "data", "standby.signal"), "", cred); err != nil {
		return err
	}
	if err := c.pg[1].start(ctx); err != nil {
		return err
	}
	if err := waitPostgres(ctx, c.nodeURL(1)); err != nil {
		return err
	}
	conn, err := pgx.Connect(ctx, c.nodeURL(0))
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	for _, q := range []string{"ALTER SYSTEM SET synchronous_standby_names = '" + standbyName + "'", "SELECT pg_reload_conf()"} {
		if _, err := conn.Exec(ctx, q); err != nil {
			return fmt.Errorf("%s: %w", q, err)
		}
	}
	// The standby streams and the primary counts it as synchronous.
	for deadline := time.Now().Add(time.Minute); ; {
		var state string
		err := conn.QueryRow(ctx, "SELECT sync_state FROM pg_stat_replication WHERE application_name = $1", standbyName).Scan(&state)
		if err == nil && state == "sync" {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the standby is not a synchronous standby after a minute (state %q, %v)", state, err)
		}
		sleep(ctx, 100*time.Millisecond)
	}
}

// waitPostgres waits until a server takes queries (it accepts connections
// earlier, answering "the database system is starting up").
func waitPostgres(ctx context.Context, url string) error {
	for deadline := time.Now().Add(time.Minute); ; sleep(ctx, 50*time.Millisecond) {
		conn, err := pgx.Connect(ctx, url)
		if err == nil {
			return conn.Close(ctx)
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("postgres not taking queries: %w", err)
		}
	}
}

func port(addr string) string { return addr[strings.LastIndexByte(addr, ':')+1:] }

// appendFile appends text to a file of the postgres user's.
func appendFile(path, text string, cred *syscall.Credential) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(text); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if cred != nil {
		return os.Chown(path, int(cred.Uid), int(cred.Gid))
	}
	return nil
}

// nodeURL is one PostgreSQL server's maintenance database.
func (c *clusterInfra) nodeURL(i int) string {
	return fmt.Sprintf("postgres://postgres@%s/postgres?sslmode=disable", c.pg[i].addr)
}

// PostgresURL names both servers, for writes: whichever is the primary.
func (c *clusterInfra) PostgresURL() string {
	return fmt.Sprintf("postgres://postgres@%s,%s/postgres?sslmode=disable&target_session_attrs=read-write", c.pg[0].addr, c.pg[1].addr)
}

// ReadURL names both servers, the standby first, for reads.
func (c *clusterInfra) ReadURL() string {
	return fmt.Sprintf("postgres://postgres@%s,%s/postgres?sslmode=disable&target_session_attrs=prefer-standby", c.pg[1].addr, c.pg[0].addr)
}

func (c *clusterInfra) startRedis(ctx context.Context) error {
	addr, err := proc.FreeAddr()
	if err != nil {
		return err
	}
	c.redis = &server{addr: addr, stopWith: syscall.SIGTERM, spec: proc.Spec{
		Name: "redis-server", Path: c.bins.RedisServer, Dir: c.dir, Env: []string{"PATH=" + os.Getenv("PATH")},
		Args: []string{"--bind", "127.0.0.1", "--port", port(addr), "--save", "", "--appendonly", "no",
			"--requirepass", c.redisPassword},
	}}
	return c.redis.start(ctx)
}

// startLB starts HAProxy in front of the edges and waits until it
// reaches one.
func (c *clusterInfra) startLB(ctx context.Context, edges []string) error {
	if len(edges) != 2 {
		return fmt.Errorf("deploy/cluster/haproxy.cfg has two edges, not %d", len(edges))
	}
	addr, err := proc.FreeAddr()
	if err != nil {
		return err
	}
	c.lbAddr = addr
	c.lb = &server{addr: addr, stopWith: syscall.SIGTERM, spec: proc.Spec{
		Name: "haproxy", Path: c.bins.HAProxy, Dir: c.dir,
		Env:  []string{"PATH=" + os.Getenv("PATH"), "LB_BIND=" + addr, "EDGE_1=" + edges[0], "EDGE_2=" + edges[1]},
		Args: []string{"-db", "-f", filepath.Join(c.deploy, "haproxy.cfg")},
	}}
	if err := c.lb.start(ctx); err != nil {
		return err
	}
	return proc.WaitHTTP(ctx, "http://"+addr+"/readyz", time.Minute)
}

// close stops everything that runs.
func (c *clusterInfra) close() {
	servers := []*server{c.lb, c.redis}
	for _, n := range c.nats {
		servers = append(servers, n.server)
	}
	servers = append(servers, c.pg[1], c.pg[0])
	for _, s := range servers {
		if s != nil && s.p != nil && s.p.Running() {
			_ = s.stop()
		}
	}
	for _, p := range c.routes {
		p.Close()
	}
	if c.sink != nil {
		c.sink.Close()
	}
}
