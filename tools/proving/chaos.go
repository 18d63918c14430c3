package main

import (
	"errors"
	"fmt"
	"path/filepath"

	"github.com/healthexport/libs/cli"
	"github.com/healthexport/tools/proving/internal/chaos"
)

type chaosCmd struct {
	Quick   bool     `help:"The short subset make test runs."`
	Cluster bool     `help:"The cluster matrix: each scenario on a cluster of its own (three nats-servers, PostgreSQL primary and standby, two of each service behind HAProxy), as make cluster-up runs it."`
	Only    []string `help:"Run only these scenarios (comma-separated names)."`
	Bin     string   `default:"bin" help:"Where the built edge, raw-archiver and metric-writer are."`
	Out     string   `default:"chaos/results" help:"Where the results go (JSON; the newest also as latest.json)."`
	Devices int      `default:"6" help:"Simulated devices, each with its own user and key."`
	Keep    string   `help:"Keep the harness's servers' data and every service's log in this directory (default: a temporary one, removed)."`
}

// Help says what runs where.
func (chaosCmd) Help() string {
	return `Runs the built services against the harness's own PostgreSQL cluster, Redis and nats-server
(on free loopback ports, never the stack of .env), posts uploads whose points have unique natural
keys, and in each scenario breaks one thing under that load: kill -9 of a consumer, a crash between
COMMIT and ack, PostgreSQL stopped for 30 s, nats-server killed, Redis stopped, SIGTERM to
everything, poison items, gzip bombs, slow clients. After healing it waits for the consumers to
drain and checks PostgreSQL against what each device was answered. Exits non-zero when a scenario
fails. Needs initdb/postgres (Debian's postgresql package), redis-server and nats-server
(.run/bin, built by make deps).

With --cluster, each scenario runs on a cluster made for it from deploy/cluster (as make cluster-up
runs it, plus a proxy on every route between nats-servers): kill -9 of the stream's leader, one
nats-server cut off for 20 s, a rolling restart of the three, one of two metric-writers killed,
one of two edges killed behind HAProxy, the PostgreSQL primary killed and its standby promoted, the
standby's replay paused. It needs haproxy besides. Results go to the same latest.json, which keeps
the newest result of every scenario of both matrices.`
}

func (c *chaosCmd) Run(e *cli.Env) error {
	bin, err := filepath.Abs(c.Bin)
	if err != nil {
		return err
	}
	deploy, err := filepath.Abs(filepath.Join("deploy", "cluster"))
	if err != nil {
		return err
	}
	bins, err := chaos.FindBinaries(".")
	if err != nil {
		return err
	}
	rep, err := chaos.Run(e.Ctx, chaos.Config{
		BinDir: bin, Binaries: bins, WorkDir: c.Keep, Only: c.Only, Quick: c.Quick, Devices: c.Devices, Out: e.Stderr, Log: e.Log,
		Cluster: c.Cluster, DeployDir: deploy,
	})
	if err != nil {
		return err
	}
	path, err := chaos.Write(rep, c.Out)
	if err != nil {
		return err
	}
	fmt.Fprintln(e.Stdout)
	chaos.Table(e.Stdout, rep)
	fmt.Fprintf(e.Stdout, "\n%d scenarios in %.0f s; results: %s (and %s, with the newest result of every scenario)\n", len(rep.Scenarios), rep.Seconds, path, filepath.Join(c.Out, "latest.json"))
	if !rep.Passed {
		return errors.New("some scenarios failed: see above")
	}
	return nil
}
