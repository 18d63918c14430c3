package e2e

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The status of a finished upload says complete, with the parts, what each
// kind wrote and rejected, and the rejected items; only to its owner.
func TestIngestionStatus(t *testing.T) {
	s := newStack(t, "INGEST_PART_MAX_BYTES=2048")
	s.startAll()
	_, key := s.user("status@example.org")
	_, other := s.user("other@example.org")
	body, err := os.ReadFile(filepath.Join(corpusDir(t), "10-invalid-points.json"))
	if err != nil {
		t.Fatal(err)
	}
	status, reply := s.post(key, body, nil)
	if status != 202 {
		t.Fatalf("upload: %d %s", status, reply)
	}
	var accepted struct {
		IngestionID string `json:"ingestion_id"`
		Parts       int    `json:"parts"`
	}
	if err := json.Unmarshal([]byte(reply), &accepted); err != nil {
		t.Fatal(err)
	}
	s.drained(30 * time.Second)
	code, raw := s.request(s.edgeURL, http.MethodGet, "/v1/ingestions/"+accepted.IngestionID, key)
	if code != 200 {
		t.Fatalf("status: %d %s", code, raw)
	}
	var st struct {
		Complete bool `json:"complete"`
		Parts    int  `json:"parts"`
		Archived int  `json:"archived"`
		Written  int  `json:"written"`
		Kinds    map[string]struct {
			Written  int `json:"written"`
			Rejected int `json:"rejected"`
		} `json:"kinds"`
		Errors []struct{ Pointer, Reason string } `json:"errors"`
	}
	if err := json.Unmarshal([]byte(raw), &st); err != nil {
		t.Fatal(err)
	}
	if !st.Complete || st.Parts != accepted.Parts || st.Archived != st.Parts || st.Written != st.Parts {
		t.Fatalf("status %s, want complete with %d parts archived and written", raw, accepted.Parts)
	}
	want := map[string][2]int{"heart_rate": {1, 4}, "blood_pressure": {0, 3}, "quantity": {1, 5}, "workout": {0, 1}}
	for k, w := range want {
		if got := st.Kinds[k]; got.Written != w[0] || got.Rejected != w[1] {
			t.Errorf("%s: written %d rejected %d, want %d and %d", k, got.Written, got.Rejected, w[0], w[1])
		}
	}
	if len(st.Errors) != 13 || st.Errors[0].Pointer == "" || st.Errors[0].Reason == "" {
		t.Errorf("errors %+v, want the 13 rejected items", st.Errors)
	}
	if code, _ := s.request(s.edgeURL, http.MethodGet, "/v1/ingestions/"+accepted.IngestionID, other); code != 404 {
		t.Errorf("another user's upload: %d, want 404", code)
	}
	if code, _ := s.request(s.edgeURL, http.MethodGet, "/v1/ingestions/nope", key); code != 404 {
		t.Errorf("an unknown upload: %d, want 404", code)
	}
}

// healthctl lag --json lists every consumer: the archiver and one writer
// per kind, with their backlog and drain rate.
func TestLagListsEveryConsumer(t *testing.T) {
	s := newStack(t)
	s.startAll()
	_, key := s.user("lag@example.org")
	if status, reply := s.post(key, heartRateBody(0, 50), nil); status != 202 {
		t.Fatalf("upload: %d %s", status, reply)
	}
	s.drained(30 * time.Second)
	out := s.healthctl("lag", "--json", "--interval", "200ms")
	var rep struct {
		Stream struct {
			Messages uint64 `json:"messages"`
		} `json:"stream"`
		Consumers []struct {
			Consumer   string   `json:"consumer"`
			Pending    uint64   `json:"pending"`
			AckPending int      `json:"ack_pending"`
			Drain      float64  `json:"drain_rate_per_s"`
			TimeToDrn  *float64 `json:"time_to_drain_s"`
		} `json:"consumers"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("lag --json: %v\n%s", err, out)
	}
	want := map[string]bool{s.names.DurablePrefix + "raw-archiver": false}
	for _, k := range []string{"heart_rate", "blood_pressure", "quantity", "sleep", "workout", "ecg", "event"} {
		want[s.names.DurablePrefix+"writer-"+k] = false
	}
	for _, c := range rep.Consumers {
		if _, ok := want[c.Consumer]; ok {
			want[c.Consumer] = true
		}
		if c.Pending != 0 || c.AckPending != 0 || c.TimeToDrn == nil || *c.TimeToDrn != 0 {
			t.Errorf("drained consumer %+v", c)
		}
	}
	for name, seen := range want {
		if !seen {
			t.Errorf("consumer %s missing from %s", name, out)
		}
	}
	if rep.Stream.Messages != 2 {
		t.Errorf("stream holds %d messages, want a part and a manifest", rep.Stream.Messages)
	}
	table := s.healthctl("lag", "--interval", "100ms")
	if !strings.Contains(table, "CONSUMER") || !strings.Contains(table, "TIME TO DRAIN") {
		t.Errorf("lag table:\n%s", table)
	}
}
