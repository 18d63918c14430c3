package e2e

import (
	"bufio"
	"bytes"
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/healthexport/libs/testenv"
	"github.com/healthexport/tests/e2e/apiclient"
)

// TestAPIClientGenerated runs apiclient's go:generate command (its pinned
// oapi-codegen) on schema/openapi.yaml and wants the committed client.
func TestAPIClientGenerated(t *testing.T) {
	dir := filepath.Join(testenv.RepoRoot(), "tests", "e2e", "apiclient")
	var args []string
	doc, err := os.ReadFile(filepath.Join(dir, "doc.go"))
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(bytes.NewReader(doc))
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "//go:generate go "); ok {
			args = strings.Fields(rest)
		}
	}
	if len(args) == 0 {
		t.Fatal("apiclient/doc.go has no //go:generate go ... line")
	}
	// The same command in a directory of its own: the configuration's
	// output lands there, the document is the last argument.
	tmp := t.TempDir()
	cfg, err := os.ReadFile(filepath.Join(dir, "oapi-codegen.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(tmp, "oapi-codegen.yaml"), cfg, 0o600); err != nil {
		t.Fatal(err)
	}
	args[len(args)-1] = filepath.Join(dir, args[len(args)-1])
	out := filepath.Join(tmp, "client.gen.go")
	cmd := exec.Command("go", args...)
	cmd.Dir = tmp
	cmd.Env = append(os.Environ(), "GOFLAGS=") // -race and the like are the tests', not the generator's
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, b)
	}
	want, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "client.gen.go")); !bytes.Equal(got, want) {
		t.Error("tests/e2e/apiclient/client.gen.go is not what schema/openapi.yaml generates: run `go generate ./e2e/apiclient` in tests/")
	}
}

// TestAPIClient drives the edge through the client generated from its
// description: an upload, its status until complete, and the points read
// back.
func TestAPIClient(t *testing.T) {
	s := newStack(t)
	s.startAll()
	s.healthctl("users", "create", "--email", "client@example.org")
	key := s.healthctl("keys", "create", "--email", "client@example.org", "--name", "client", "--scopes", "read,ingest")
	bearer := apiclient.WithRequestEditorFn(func(_ context.Context, r *http.Request) error {
		r.Header.Set("Authorization", "Bearer "+key)
		return nil
	})
	c, err := apiclient.NewClientWithResponses(s.edgeURL, bearer)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	body := apiclient.IngestJSONRequestBody{Data: map[string]any{"metrics": []any{map[string]any{
		"name": "heart_rate", "units": "count/min",
		"data": []any{
			map[string]any{"date": "2025-03-01 08:00:00 -0800", "Min": 58, "Avg": 71.25, "Max": 96, "source": "Ana’s Apple Watch"},
			map[string]any{"date": "2025-03-01 08:01:00 -0800", "Avg": 400},
		},
	}}}}
	up, err := c.IngestWithResponse(ctx, nil, body)
	if err != nil {
		t.Fatal(err)
	}
	if up.JSON202 == nil {
		t.Fatalf("upload: %d %s", up.StatusCode(), up.Body)
	}
	if up.JSON202.Accepted["heart_rate"] != 1 || up.JSON202.Rejected != 1 || up.JSON202.Duplicate {
		t.Errorf("upload: %+v", *up.JSON202)
	}

	var status *apiclient.IngestionStatus
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		st, err := c.GetIngestionWithResponse(ctx, up.JSON202.IngestionId)
		if err != nil {
			t.Fatal(err)
		}
		if st.JSON200 != nil && st.JSON200.Complete {
			status = st.JSON200
			break
		}
		if st.StatusCode() != http.StatusOK && st.StatusCode() != http.StatusNotFound || time.Now().After(deadline) {
			t.Fatalf("status: %d %s", st.StatusCode(), st.Body)
		}
	}
	if status.Parts != status.Written || status.Failed != 0 || len(status.Errors) != 1 || *status.Errors[0].Pointer != "/data/metrics/0/data/1" {
		t.Errorf("status: %+v", *status)
	}

	from := time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)
	page, err := c.ReadMetricWithResponse(ctx, "heart_rate", &apiclient.ReadMetricParams{From: &from})
	if err != nil {
		t.Fatal(err)
	}
	if page.JSON200 == nil || len(page.JSON200.Points) != 1 || page.JSON200.Next != nil {
		t.Fatalf("read: %d %s", page.StatusCode(), page.Body)
	}
	p, err := page.JSON200.Points[0].AsHeartRatePoint()
	if err != nil {
		t.Fatal(err)
	}
	if p.Source != "Ana’s Apple Watch" || p.AvgBpm == nil || *p.AvgBpm != 71.25 || p.RecordedAt.Format(time.RFC3339) != "2025-03-01T08:00:00-08:00" {
		t.Errorf("point: %+v", p)
	}

	// Without the read scope the generated client sees the documented 403.
	ingestOnly := s.healthctl("keys", "create", "--email", "client@example.org", "--name", "phone")
	phone, _ := apiclient.NewClientWithResponses(s.edgeURL, apiclient.WithRequestEditorFn(func(_ context.Context, r *http.Request) error {
		r.Header.Set("Authorization", "Bearer "+ingestOnly)
		return nil
	}))
	denied, err := phone.ReadMetricWithResponse(ctx, "heart_rate", nil)
	if err != nil {
		t.Fatal(err)
	}
	if denied.JSON403 == nil || denied.JSON403.Error == "" {
		t.Errorf("read with an ingest key: %d %s", denied.StatusCode(), denied.Body)
	}
}
