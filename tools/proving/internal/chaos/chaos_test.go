package chaos

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/healthexport/libs/testenv"
)

// TestQuickMatrix is the subset of `make chaos` that `make test` runs:
// the built services, the harness's own servers, shorter loads.
func TestQuickMatrix(t *testing.T) {
	if testing.Short() {
		t.Skip("starts its own PostgreSQL, Redis and nats-server")
	}
	root := testenv.RepoRoot()
	bins, err := FindBinaries(root)
	if err != nil {
		t.Fatalf("%v (make deps installs and builds them)", err)
	}
	var out bytes.Buffer
	rep, err := Run(context.Background(), Config{BinDir: binDir(t, root), Binaries: bins, Quick: true, Devices: 4, Out: &out})
	t.Log("\n" + out.String())
	if err != nil {
		t.Fatal(err)
	}
	var table bytes.Buffer
	Table(&table, rep)
	t.Log("\n" + table.String())
	if len(rep.Scenarios) < 4 {
		t.Fatalf("%d scenarios ran, want the quick subset of 4", len(rep.Scenarios))
	}
	for _, s := range rep.Scenarios {
		if !s.Passed || s.Lost != 0 || s.Duplicates != 0 || s.Unexpected != 0 {
			t.Errorf("%s: %+v", s.Name, s)
		}
		if s.Acknowledged < 50 || s.PointsAcked < 10_000 {
			t.Errorf("%s: only %d uploads (%d points) acknowledged: the load did not run", s.Name, s.Acknowledged, s.PointsAcked)
		}
	}
}

// TestClusterQuick is the cluster matrix's subset that `make test` runs:
// on a cluster of its own (three nats-servers with the stream on R3,
// PostgreSQL primary and hot standby, two of each service behind HAProxy),
// the stream leader killed with real uploads going on, and the lag a reader
// of the standby sees (replay paused: complete on the primary, not yet
// readable; resumed: readable).
func TestClusterQuick(t *testing.T) {
	if testing.Short() {
		t.Skip("starts its own cluster")
	}
	root := testenv.RepoRoot()
	bins, err := FindBinaries(root)
	if err != nil {
		t.Fatalf("%v (make deps installs and builds them)", err)
	}
	if bins.HAProxy == "" {
		t.Fatal("haproxy is missing (scripts/test.sh installs it: apt-get install haproxy)")
	}
	var out bytes.Buffer
	rep, err := Run(context.Background(), Config{BinDir: binDir(t, root), Binaries: bins, Quick: true, Devices: 4, Out: &out,
		Cluster: true, DeployDir: filepath.Join(root, "deploy", "cluster")})
	t.Log("\n" + out.String())
	if err != nil {
		t.Fatal(err)
	}
	var table bytes.Buffer
	Table(&table, rep)
	t.Log("\n" + table.String())
	if len(rep.Scenarios) != 2 {
		t.Fatalf("%d scenarios ran, want the quick subset of 2", len(rep.Scenarios))
	}
	for _, s := range rep.Scenarios {
		if !s.Passed || s.Lost != 0 || s.Duplicates != 0 || s.Unexpected != 0 {
			t.Errorf("%s: %+v", s.Name, s)
		}
		if s.Acknowledged < 20 {
			t.Errorf("%s: only %d uploads acknowledged: the load did not run", s.Name, s.Acknowledged)
		}
	}
}

// binDir is HEALTH_BIN_DIR (make test builds there), or a fresh build.
func binDir(t *testing.T, root string) string {
	if d := os.Getenv("HEALTH_BIN_DIR"); d != "" {
		return d
	}
	dir := t.TempDir()
	cmd := exec.Command("go", "build", "-o", dir+string(filepath.Separator), "./services/edge", "./services/raw-archiver", "./services/metric-writer")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return dir
}

// chaos/results/latest.json is read by other tools: these fields are its contract.
func TestWriteFormat(t *testing.T) {
	dir := t.TempDir()
	rep := &Report{Scenarios: []*Result{{Name: "writer-kill-9", DrainS: 1.5, Passed: true}, {Name: "nats-kill-9", Lost: 2}}}
	if _, err := Write(rep, dir); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "latest.json"))
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Scenarios []map[string]any `json:"scenarios"`
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Scenarios) != 2 {
		t.Fatalf("%d scenarios", len(got.Scenarios))
	}
	for _, key := range []string{"name", "lost", "duplicates", "unexpected", "drain_s", "passed"} {
		if _, ok := got.Scenarios[0][key]; !ok {
			t.Errorf("no %q in %v", key, got.Scenarios[0])
		}
	}
	if got.Scenarios[1]["lost"] != 2.0 || got.Scenarios[1]["passed"] != false {
		t.Errorf("second scenario %v", got.Scenarios[1])
	}
}

// latest.json keeps the newest result of every scenario, whichever matrix
// ran last.
func TestWriteKeepsNewestOfEach(t *testing.T) {
	dir := t.TempDir()
	at := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	runs := []*Report{
		{At: at, Scenarios: []*Result{{Name: "writer-kill-9", Passed: true, DrainS: 1}, {Name: "nats-kill-9", Passed: true}}},
		{At: at.Add(time.Hour), Scenarios: []*Result{{Name: "cluster-edge-kill-9", Passed: true}, {Name: "cluster-postgres-failover", Lost: 1}}},
		{At: at.Add(2 * time.Hour), Quick: true, Scenarios: []*Result{{Name: "writer-kill-9", Passed: true, DrainS: 2}, {Name: "cluster-postgres-failover", Passed: true}}},
	}
	for _, r := range runs {
		if _, err := Write(r, dir); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(filepath.Join(dir, "latest.json"))
	if err != nil {
		t.Fatal(err)
	}
	var got Report
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range got.Scenarios {
		names = append(names, s.Name)
	}
	if want := []string{"writer-kill-9", "nats-kill-9", "cluster-edge-kill-9", "cluster-postgres-failover"}; !slices.Equal(names, want) {
		t.Fatalf("scenarios %v, want %v", names, want)
	}
	if s := got.Scenarios[0]; s.DrainS != 2 || !s.Quick {
		t.Errorf("writer-kill-9 kept %+v, want the newest (quick) result", s)
	}
	if s := got.Scenarios[3]; !s.Passed || s.Lost != 0 {
		t.Errorf("cluster-postgres-failover kept %+v, want the newest", s)
	}
	if !got.Passed || !got.At.Equal(runs[2].At) {
		t.Errorf("report passed %v at %v, want every kept scenario passed, at the last run", got.Passed, got.At)
	}
}

func TestSelectScenarios(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		want    int
		wantErr bool
	}{
		{"all", Config{}, 10, false},
		{"quick subset", Config{Quick: true}, 4, false},
		{"by name", Config{Only: []string{"gzip-bomb", "nats-kill-9"}}, 2, false},
		{"unknown name", Config{Only: []string{"meteor"}}, 0, true},
		{"cluster", Config{Cluster: true}, 7, false},
		{"cluster quick subset", Config{Cluster: true, Quick: true}, 2, false},
		{"cluster by name", Config{Cluster: true, Only: []string{"cluster-edge-kill-9"}}, 1, false},
		{"a single-machine name in the cluster matrix", Config{Cluster: true, Only: []string{"writer-kill-9"}}, 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := selectScenarios(tc.cfg)
			if (err != nil) != tc.wantErr || len(got) != tc.want {
				t.Fatalf("%d scenarios, err %v; want %d, error %v", len(got), err, tc.want, tc.wantErr)
			}
		})
	}
}
