package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/healthexport/libs/testenv"
)

// clusterPorts are the offsets from CLUSTER_PORT_BASE scripts/cluster.sh
// listens on.
var clusterPorts = []int{1, 2, 3, 11, 12, 13, 21, 22, 23, 31, 32, 41, 51, 52, 61, 62, 71, 72, 81, 82}

// TestClusterScript runs make cluster-up's script as an operator does, on
// ports and in a directory of its own (beside make up and a make
// cluster-up): one upload through HAProxy with the key up printed is
// written (its status, from the primary), `healthctl lag` works on the
// settings file up wrote, and down stops every process and PostgreSQL.
// The chaos harness builds the same topology in Go; this is the script.
func TestClusterScript(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster of its own")
	}
	root := testenv.RepoRoot()
	for _, b := range []string{"bin/edge", "bin/raw-archiver", "bin/metric-writer", "bin/healthctl", ".run/bin/nats-server"} {
		if _, err := os.Stat(filepath.Join(root, b)); err != nil {
			t.Fatalf("%s: %v (make deps build)", b, err)
		}
	}
	base := freePortBase(t)
	lb := freeAddr(t)
	// Under .run, which the script lets the postgres user through when run
	// as root (a TempDir's parents would not).
	dir := filepath.Join(root, ".run", fmt.Sprintf("cluster-test-%d", base))
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	env := append(os.Environ(), "CLUSTER_DIR="+dir, "CLUSTER_PORT_BASE="+strconv.Itoa(base), "CLUSTER_EDGE_ADDR="+lb)
	script := func(timeout time.Duration, arg string) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		cmd := exec.CommandContext(ctx, filepath.Join(root, "scripts", "cluster.sh"), arg)
		cmd.Dir, cmd.Env = root, env
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	down := false
	pids := map[string]int{} // what runs, by its pid file
	t.Cleanup(func() {
		if !down {
			if out, err := script(90*time.Second, "down"); err != nil {
				t.Errorf("cluster.sh down: %v\n%s", err, out)
			}
		}
		// whatever down left (the test failed): not into the next test
		for _, pid := range pids {
			if processAlive(pid) {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		if !t.Failed() {
			_ = os.RemoveAll(dir)
			_ = os.Remove(dir + ".env")
		} else {
			t.Logf("logs kept in %s/logs", dir)
		}
	})

	t0 := time.Now()
	out, err := script(120*time.Second, "up")
	if err != nil {
		t.Fatalf("cluster.sh up: %v\n%s", err, out)
	}
	t.Logf("cluster.sh up: %.1f s", time.Since(t0).Seconds())
	m := regexp.MustCompile(`API key \([^)]*\): (\S+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("cluster.sh up printed no API key:\n%s", out)
	}
	key := m[1]

	// One upload through the load balancer, written: its status route.
	req, err := http.NewRequest(http.MethodPost, "http://"+lb+"/v1/ingest", bytes.NewReader(heartRateBody(0, 10)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("upload through HAProxy: %v", err)
	}
	var ack struct {
		IngestionID string `json:"ingestion_id"`
	}
	err = json.NewDecoder(resp.Body).Decode(&ack)
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted || err != nil || ack.IngestionID == "" {
		t.Fatalf("upload through HAProxy: %d %v %+v", resp.StatusCode, err, ack)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		req, _ := http.NewRequest(http.MethodGet, "http://"+lb+"/v1/ingestions/"+ack.IngestionID, nil)
		req.Header.Set("Authorization", "Bearer "+key)
		var body bytes.Buffer
		status := 0
		if resp, err := http.DefaultClient.Do(req); err == nil {
			_, _ = body.ReadFrom(resp.Body)
			resp.Body.Close()
			status = resp.StatusCode
		}
		if status == 200 && strings.Contains(body.String(), `"complete":true`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("upload %s not complete through the cluster: %d %s", ack.IngestionID, status, body.String())
		}
		time.Sleep(100 * time.Millisecond)
	}

	// healthctl on the cluster's settings only: none of the environment's
	// (.env's, for make up), which would win over ENV_FILE.
	lag := exec.Command(filepath.Join(root, "bin", "healthctl"), "lag")
	lag.Dir, lag.Env = root, []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "ENV_FILE=" + dir + ".env"}
	lagOut, err := lag.CombinedOutput()
	if err != nil || !strings.Contains(string(lagOut), "HEALTH") {
		t.Fatalf("ENV_FILE=%s.env healthctl lag: %v\n%s", dir, err, lagOut)
	}

	// What runs, to check down stopped it: every pid file, and PostgreSQL's.
	files, _ := filepath.Glob(filepath.Join(dir, "*.pid"))
	pg, _ := filepath.Glob(filepath.Join(dir, "postgres-*", "data", "postmaster.pid"))
	for _, f := range append(files, pg...) {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		pid, err := strconv.Atoi(strings.TrimSpace(strings.SplitN(string(b), "\n", 2)[0]))
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		pids[strings.TrimPrefix(f, dir+"/")] = pid
	}
	// 3 nats-servers, redis, haproxy, 6 services, 2 PostgreSQL
	if len(pids) != 13 {
		t.Errorf("%d processes with a pid file, want 13: %v", len(pids), pids)
	}
	for name, pid := range pids {
		if !processAlive(pid) {
			t.Errorf("%s (pid %d) is not running before down", name, pid)
		}
	}

	t0 = time.Now()
	out, err = script(90*time.Second, "down")
	down = true
	if err != nil {
		t.Fatalf("cluster.sh down: %v\n%s", err, out)
	}
	t.Logf("cluster.sh down: %.1f s", time.Since(t0).Seconds())
	for name, pid := range pids {
		if processAlive(pid) {
			t.Errorf("%s (pid %d) still runs after down", name, pid)
		}
	}
	for _, off := range clusterPorts {
		if c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", base+off), time.Second); err == nil {
			c.Close()
			t.Errorf("port %d (CLUSTER_PORT_BASE + %d) still answers after down", base+off, off)
		}
	}
	if c, err := net.DialTimeout("tcp", lb, time.Second); err == nil {
		c.Close()
		t.Errorf("HAProxy's %s still answers after down", lb)
	}
}

// freePortBase is a CLUSTER_PORT_BASE none of whose ports is in use, below
// the kernel's ephemeral range so that no outgoing connection takes one
// meanwhile.
func freePortBase(t *testing.T) int {
	t.Helper()
next:
	for range 50 {
		base := 20000 + 100*rand.IntN(100)
		var ls []net.Listener
		for _, off := range clusterPorts {
			l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", base+off))
			if err != nil {
				for _, l := range ls {
					l.Close()
				}
				continue next
			}
			ls = append(ls, l)
		}
		for _, l := range ls {
			l.Close()
		}
		return base
	}
	t.Fatal("no free CLUSTER_PORT_BASE between 20000 and 30000")
	return 0
}

// processAlive: the process exists and is no zombie (an exited daemon
// whose parent, init here, has not reaped it yet).
func processAlive(pid int) bool {
	if err := syscall.Kill(pid, 0); err != nil {
		return false
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// pid (comm) STATE ...
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 && i+2 < len(s) {
		return s[i+2] != 'Z'
	}
	return true
}
