package chaos

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/healthexport/tools/proving/internal/proc"
)

// infra is the harness's own PostgreSQL, Redis and nats-server: the
// scenarios stop and kill them, which they must never do to a stack
// someone is running.
type infra struct {
	dir   string
	pg    *server
	redis *server
	nats  *server

	PostgresURL string // the maintenance database, superuser
	RedisURL    string
	NATSURL     string
}

// server is one of them: how to start it again after a scenario stopped it.
type server struct {
	spec     proc.Spec
	addr     string
	p        *proc.Proc
	stopWith syscall.Signal
}

func (s *server) start(ctx context.Context) error {
	p, err := proc.Start(s.spec)
	if err != nil {
		return err
	}
	s.p = p
	if err := proc.WaitTCP(ctx, s.addr, 60*time.Second); err != nil {
		return fmt.Errorf("%s: %w\n%s", s.spec.Name, err, p.Tail(20))
	}
	return nil
}

// stop is a clean shutdown (PostgreSQL: fast, which ends every session).
func (s *server) stop() error { return s.p.Stop(s.stopWith, 60*time.Second) }

// kill is kill -9.
func (s *server) kill() { s.p.Kill() }

// Binaries says where the servers' programs are.
type Binaries struct {
	NATSServer  string // nats-server
	RedisServer string // redis-server
	PostgresBin string // directory of initdb and postgres
	HAProxy     string // haproxy, for the cluster matrix only ("" when missing)
}

// FindBinaries looks in the usual places: .run/bin for nats-server (what
// `make deps` builds), PATH, and Debian's /usr/lib/postgresql/<version>/bin.
func FindBinaries(repoRoot string) (Binaries, error) {
	var b Binaries
	var missing []string
	repoRoot, err := filepath.Abs(repoRoot)
	if err != nil {
		return b, err
	}
	if p := filepath.Join(repoRoot, ".run", "bin", "nats-server"); isExecutable(p) {
		b.NATSServer = p
	} else if p, err := exec.LookPath("nats-server"); err == nil {
		b.NATSServer = p
	} else {
		missing = append(missing, "nats-server (make deps builds it into .run/bin)")
	}
	if p, err := exec.LookPath("redis-server"); err == nil {
		b.RedisServer = p
	} else {
		missing = append(missing, "redis-server (apt-get install redis-server)")
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return pgVersion(dirs[i]) > pgVersion(dirs[j]) })
	for _, d := range dirs {
		if isExecutable(filepath.Join(d, "initdb")) && isExecutable(filepath.Join(d, "postgres")) {
			b.PostgresBin = d
			break
		}
	}
	if b.PostgresBin == "" {
		if p, err := exec.LookPath("initdb"); err == nil {
			b.PostgresBin = filepath.Dir(p)
		} else {
			missing = append(missing, "PostgreSQL's initdb and postgres (apt-get install postgresql)")
		}
	}
	if p, err := exec.LookPath("haproxy"); err == nil {
		b.HAProxy = p
	}
	if len(missing) > 0 {
		return b, fmt.Errorf("missing: %s", strings.Join(missing, "; "))
	}
	return b, nil
}

func pgVersion(binDir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return v
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0
}

// startInfra makes a PostgreSQL cluster, and starts it, Redis and
// nats-server (JetStream on file storage with sync_interval: always, as
// `make deps` runs it), each on a free loopback port under dir.
func startInfra(ctx context.Context, bins Binaries, dir string) (*infra, error) {
	in := &infra{dir: dir}
	if err := in.startPostgres(ctx, bins.PostgresBin); err != nil {
		in.close()
		return nil, fmt.Errorf("postgres: %w", err)
	}
	if err := in.startRedis(ctx, bins.RedisServer); err != nil {
		in.close()
		return nil, fmt.Errorf("redis: %w", err)
	}
	if err := in.startNATS(ctx, bins.NATSServer); err != nil {
		in.close()
		return nil, fmt.Errorf("nats: %w", err)
	}
	return in, nil
}

func (in *infra) startPostgres(ctx context.Context, binDir string) error {
	pgDir := filepath.Join(in.dir, "postgres")
	cred, err := postgresDir(in.dir, pgDir)
	if err != nil {
		return err
	}
	addr, err := proc.FreeAddr()
	if err != nil {
		return err
	}
	if err := initdb(binDir, pgDir, cred); err != nil {
		return err
	}
	in.pg = postgresServer(binDir, pgDir, addr, cred)
	in.PostgresURL = fmt.Sprintf("postgres://postgres@%s/postgres?sslmode=disable", addr)
	return in.pg.start(ctx)
}

// postgresDir makes pgDir (under top) for a PostgreSQL server and returns
// the credential to run its programs with: PostgreSQL will not run as
// root, so as root they run as the postgres user, who must own pgDir and
// reach it through its parents.
func postgresDir(top, pgDir string) (*syscall.Credential, error) {
	if err := os.MkdirAll(pgDir, 0o700); err != nil {
		return nil, err
	}
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("running as root needs the postgres user: %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	for d := pgDir; d != filepath.Dir(top); d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o755); err != nil {
			return nil, err
		}
	}
	if err := os.Chown(pgDir, uid, gid); err != nil {
		return nil, err
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

// runOnce runs a program to its end (initdb, pg_basebackup).
func runOnce(s proc.Spec) error {
	p, err := proc.Start(s)
	if err != nil {
		return err
	}
	if <-p.Exited(); p.ExitErr() != nil {
		return fmt.Errorf("%s: %w\n%s", s.Name, p.ExitErr(), p.Tail(20))
	}
	return nil
}

func pgEnv() []string { return []string{"PATH=" + os.Getenv("PATH"), "LC_ALL=C"} }

// initdb makes a cluster in pgDir/data; every local connection is trusted.
func initdb(binDir, pgDir string, cred *syscall.Credential) error {
	return runOnce(proc.Spec{Name: "initdb", Path: filepath.Join(binDir, "initdb"), Dir: pgDir, Env: pgEnv(), Credential: cred,
		Args: []string{"-D", filepath.Join(pgDir, "data"), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C", "--no-sync"}})
}

// postgresServer is the server of pgDir/data on addr (SIGINT: a fast
// shutdown, which ends every session).
func postgresServer(binDir, pgDir, addr string, cred *syscall.Credential, settings ...string) *server {
	port := addr[strings.LastIndexByte(addr, ':')+1:]
	args := []string{"-D", filepath.Join(pgDir, "data"), "-p", port, "-k", pgDir, "-c", "listen_addresses=127.0.0.1",
		"-c", "max_connections=200", "-c", "fsync=on", "-c", "synchronous_commit=on"}
	for _, s := range settings {
		args = append(args, "-c", s)
	}
	return &server{addr: addr, stopWith: syscall.SIGINT, spec: proc.Spec{
		Name: "postgres", Path: filepath.Join(binDir, "postgres"), Dir: pgDir, Env: pgEnv(), Credential: cred, Args: args,
	}}
}

func (in *infra) startRedis(ctx context.Context, bin string) error {
	addr, err := proc.FreeAddr()
	if err != nil {
		return err
	}
	port := addr[strings.LastIndexByte(addr, ':')+1:]
	in.redis = &server{addr: addr, stopWith: syscall.SIGTERM, spec: proc.Spec{
		Name: "redis-server", Path: bin, Dir: in.dir, Env: []string{"PATH=" + os.Getenv("PATH")},
		Args: []string{"--bind", "127.0.0.1", "--port", port, "--save", "", "--appendonly", "no"},
	}}
	in.RedisURL = "redis://" + addr + "/0"
	return in.redis.start(ctx)
}

func (in *infra) startNATS(ctx context.Context, bin string) error {
	addr, err := proc.FreeAddr()
	if err != nil {
		return err
	}
	natsDir := filepath.Join(in.dir, "nats")
	if err := os.MkdirAll(natsDir, 0o755); err != nil {
		return err
	}
	conf := filepath.Join(natsDir, "nats.conf")
	text := fmt.Sprintf("server_name: health-chaos\nlisten: %s\nmax_payload: 8MB\njetstream {\n  store_dir: %q\n  sync_interval: always\n}\n",
		addr, filepath.Join(natsDir, "store"))
	if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
		return err
	}
	in.nats = &server{addr: addr, stopWith: syscall.SIGTERM, spec: proc.Spec{
		Name: "nats-server", Path: bin, Dir: natsDir, Args: []string{"-c", conf},
		Env: []string{"PATH=" + os.Getenv("PATH"), "GOMEMLIMIT=384MiB"},
	}}
	in.NATSURL = "nats://" + addr
	return in.nats.start(ctx)
}

// close stops everything that runs.
func (in *infra) close() {
	for _, s := range []*server{in.nats, in.redis, in.pg} {
		if s != nil && s.p != nil && s.p.Running() {
			_ = s.stop()
		}
	}
}
