package chaos

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

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
