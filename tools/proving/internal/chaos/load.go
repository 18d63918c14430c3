package chaos

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/healthexport/tools/proving/internal/fleet"
)

// epoch is the first minute of the harness's data: recent, so the
// writers make the partitions as they would for a phone's data.
var epoch = time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)

const (
	newPerBody     = 120 // minutes of new points in each body, per metric
	updatesPerBody = 10  // minutes of the previous body sent again with new values
	// Poison items sit at minutes no ordinary point uses.
	poisonRangeMinute = 1_000_000
	poisonNULMinute   = 2_000_000
)

// pointKey is a natural key as the harness sends it: fleet.Device, metric and
// minute (the source is the device's).
type pointKey struct {
	device int
	metric string // heart_rate or step_count
	minute int
}

// outcome is what one upload came to, as a device saw it.
type outcome int

const (
	pending outcome = iota
	acked           // 202
	unknown         // never a 202: timeouts, 5xx, refused connections
)

// upload is one body and every attempt to send it.
type upload struct {
	device      int
	seq         int
	poison      bool // carries the two items that must be rejected
	firstSent   time.Time
	ackedAt     time.Time
	attempts    int
	outcome     outcome
	ingestionID string // computed as the edge does, so unacknowledged uploads have one too
	answeredID  string // what the 202 said
	duplicate   bool   // the 202 said an earlier attempt had already landed
	parts       int
	rejected    int // as the 202 said
	refused     int // a 4xx other than 429: the harness's bodies are valid, so a finding
	points      map[pointKey]float64
}

// ledger is everything the devices sent, in order per device.
type ledger struct {
	mu      sync.Mutex
	uploads []*upload
	// byStatus counts the answers of every attempt, by status or error.
	byStatus map[string]int
}

func (l *ledger) add(u *upload) {
	l.mu.Lock()
	l.uploads = append(l.uploads, u)
	l.mu.Unlock()
}

func (l *ledger) status(s string) {
	l.mu.Lock()
	l.byStatus[s]++
	l.mu.Unlock()
}

// value is what a device sends for a key in a given version: different
// for every version, so the checker can tell which send a row came from.
func value(k pointKey, version int) float64 {
	if k.metric == "heart_rate" {
		return float64(60+k.minute%40) + float64(version)*0.25
	}
	return float64(10+k.minute%90) + float64(version)*0.5
}

// body builds upload seq of a device: new minutes, the first minutes of
// the previous upload again with new values, and, for a poison upload,
// a heart rate out of range (rejected on validation) and a source with a
// NUL byte (PostgreSQL refuses it, so the writer must isolate it).
func body(d fleet.Device, seq int, poison bool) ([]byte, map[pointKey]float64) {
	points := map[pointKey]float64{}
	type item map[string]any
	var hr, steps []item
	add := func(minute, version int) {
		at := epoch.Add(time.Duration(minute) * time.Minute).Format("2006-01-02 15:04:05 -0700")
		kh := pointKey{d.N, "heart_rate", minute}
		ks := pointKey{d.N, "step_count", minute}
		avg, qty := value(kh, version), value(ks, version)
		points[kh], points[ks] = avg, qty
		hr = append(hr, item{"date": at, "Min": avg - 5, "Avg": avg, "Max": avg + 5, "source": d.Source})
		steps = append(steps, item{"date": at, "qty": qty, "source": d.Source})
	}
	for m := range newPerBody {
		add(seq*newPerBody+m, 0)
	}
	if seq > 0 {
		for m := range updatesPerBody {
			add((seq-1)*newPerBody+m, seq) // a later upload always sends a later version
		}
	}
	if poison {
		at := func(minute int) string {
			return epoch.Add(time.Duration(minute) * time.Minute).Format("2006-01-02 15:04:05 -0700")
		}
		hr = append(hr,
			item{"date": at(poisonRangeMinute + seq), "Min": 990, "Avg": 999, "Max": 1000, "source": d.Source},
			item{"date": at(poisonNULMinute + seq), "Min": 60, "Avg": 65, "Max": 70, "source": d.Source + "\x00"},
		)
	}
	b, _ := json.Marshal(item{"data": item{"metrics": []item{
		{"name": "heart_rate", "units": "count/min", "data": hr},
		{"name": "step_count", "units": "count", "data": steps},
	}}})
	return b, points
}

// loadConfig bounds the load.
type loadConfig struct {
	edgeURL string
	pace    time.Duration // between a device's uploads
	until   time.Time     // no new upload starts after this
	giveUp  time.Time     // a device stops retrying its upload here
	poison  func(seq int) bool
}

var client = &http.Client{Timeout: 10 * time.Second}

// runDevice sends uploads one after the other until cfg.until; an upload
// without a 202 is sent again, as the app does, until cfg.giveUp.
func runDevice(ctx context.Context, d fleet.Device, firstSeq int, cfg loadConfig, l *ledger) {
	for seq := firstSeq; time.Now().Before(cfg.until) && ctx.Err() == nil; seq++ {
		send(ctx, d, seq, cfg, l)
		sleep(ctx, cfg.pace)
	}
}

func send(ctx context.Context, d fleet.Device, seq int, cfg loadConfig, l *ledger) *upload {
	poison := cfg.poison != nil && cfg.poison(seq)
	b, points := body(d, seq, poison)
	u := &upload{device: d.N, seq: seq, poison: poison, points: points, firstSent: time.Now(), ingestionID: ingestionID(d.UserID, b)}
	l.add(u)
	backoff := 100 * time.Millisecond
	for {
		u.attempts++
		status, answer, err := post(ctx, cfg.edgeURL, d.Key, b)
		switch {
		case err != nil:
			l.status(errorClass(err))
		default:
			l.status(fmt.Sprint(status))
		}
		if err == nil && status == http.StatusAccepted {
			l.mu.Lock()
			u.outcome, u.ackedAt = acked, time.Now()
			u.answeredID, u.parts, u.rejected, u.duplicate = answer.IngestionID, answer.Parts, answer.Rejected, answer.Duplicate
			l.mu.Unlock()
			return u
		}
		if err == nil && status < 500 && status != http.StatusTooManyRequests {
			// The harness's bodies are valid: a 4xx is a finding, not a retry.
			l.mu.Lock()
			u.outcome, u.refused = unknown, status
			l.mu.Unlock()
			return u
		}
		if !time.Now().Add(backoff).Before(cfg.giveUp) || ctx.Err() != nil {
			l.mu.Lock()
			u.outcome = unknown
			l.mu.Unlock()
			return u
		}
		sleep(ctx, backoff+time.Duration(rand.Int64N(int64(backoff)/2)))
		backoff = min(2*backoff, 2*time.Second)
	}
}

type accepted struct {
	IngestionID string `json:"ingestion_id"`
	Parts       int    `json:"parts"`
	Rejected    int    `json:"rejected"`
	Duplicate   bool   `json:"duplicate"`
}

func post(ctx context.Context, edgeURL, key string, b []byte) (int, accepted, error) {
	var a accepted
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, edgeURL+"/v1/ingest", bytes.NewReader(b))
	if err != nil {
		return 0, a, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := client.Do(req)
	if err != nil {
		return 0, a, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, a, err
	}
	if resp.StatusCode == http.StatusAccepted {
		if err := json.Unmarshal(raw, &a); err != nil {
			return 0, a, fmt.Errorf("202 with an unreadable answer: %w", err)
		}
	}
	return resp.StatusCode, a, nil
}

func errorClass(err error) string {
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "canceled"
	}
	var ne interface{ Timeout() bool }
	if errors.As(err, &ne) && ne.Timeout() {
		return "timeout"
	}
	return "connection error"
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// ingestionID is the edge's: hex(sha256(user_id ‖ 0x00 ‖ body)).
func ingestionID(user uuid.UUID, body []byte) string {
	h := sha256.New()
	h.Write([]byte(user.String()))
	h.Write([]byte{0})
	h.Write(body)
	return hex.EncodeToString(h.Sum(nil))
}
