package summary_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/healthexport/libs/hae"
	"github.com/healthexport/libs/kind"
	"github.com/healthexport/libs/partwrite"
	"github.com/healthexport/libs/pgstore"
	"github.com/healthexport/libs/query"
	"github.com/healthexport/libs/stream"
	"github.com/healthexport/libs/summary"
	"github.com/healthexport/libs/testenv"
	"github.com/healthexport/libs/users"
)

// rig writes bodies for one user through partwrite, as the metric-writer
// does (rows, bookkeeping and summaries in one transaction per batch).
type rig struct {
	db      *testenv.Database
	reg     *kind.Registry
	writers map[string]*partwrite.Writer
	user    uuid.UUID
	seq     uint64
	parts   []*partwrite.Part // every part written, for replays
}

func newRig(t testing.TB) *rig {
	t.Helper()
	db := testenv.NewDatabase(t)
	// A user that exists: the writers write nothing of unknown (deleted) users.
	user, _, err := users.NewStore(db.Pool).Ensure(context.Background(), "ana@example.org")
	if err != nil {
		t.Fatal(err)
	}
	r := &rig{db: db, reg: kind.New(), writers: map[string]*partwrite.Writer{}, user: user}
	log := slog.New(slog.DiscardHandler)
	parts := pgstore.NewPartitions(db.Pool)
	for _, k := range r.reg.Kinds() {
		if k.HasWriter() {
			r.writers[k.Name] = partwrite.New(log, k, db.Pool, parts)
		}
	}
	return r
}

// cut turns a body into parts with the next stream sequences.
func (r *rig) cut(t testing.TB, body []byte, origin string, received time.Time) []*partwrite.Part {
	t.Helper()
	ingestion := fmt.Sprintf("ing-%d", r.seq)
	var out []*partwrite.Part
	cut := hae.NewCutter(64<<10, func(p *hae.Part) error {
		r.seq++
		out = append(out, &partwrite.Part{Items: p.Items, Payload: p.Payload, Meta: stream.Meta{
			UserID: r.user, IngestionID: ingestion, ReceivedAt: received, Kind: p.Kind,
			PartID: p.Key(), Pointer: p.Pointer, Seq: r.seq, From: origin,
		}})
		return nil
	})
	err := hae.Walk(body, r.reg, func(it *hae.Item) error { _, err := cut.Add(it); return err })
	if err == nil {
		err = cut.Flush()
	}
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// write writes parts, each kind's in one batch.
func (r *rig) write(t *testing.T, parts []*partwrite.Part) {
	t.Helper()
	byKind := map[string][]*partwrite.Decoded{}
	for _, p := range parts {
		w := r.writers[p.Meta.Kind]
		byKind[p.Meta.Kind] = append(byKind[p.Meta.Kind], w.Decode(p))
	}
	for k, batch := range byKind {
		res, err := r.writers[k].Write(context.Background(), batch)
		if err != nil {
			t.Fatalf("write %s: %v", k, err)
		}
		if res.Rejected > 0 {
			t.Fatalf("write %s: %d items rejected", k, res.Rejected)
		}
	}
}

// post cuts and writes a corpus file.
func (r *rig) post(t *testing.T, file, origin string, received time.Time) {
	t.Helper()
	body, err := os.ReadFile(filepath.Join("testdata", "corpus", file))
	if err != nil {
		t.Fatal(err)
	}
	parts := r.cut(t, body, origin, received)
	r.parts = append(r.parts, parts...)
	r.write(t, parts)
}

// days reads every summary through the read API's query, as JSON objects.
func (r *rig) days(t *testing.T, metrics ...string) []map[string]any {
	t.Helper()
	res, err := query.NewStore(r.db.Pool).DailySummaries(context.Background(), r.user, metrics, time.Time{}, time.Time{}, query.Page{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	var out []map[string]any
	if err := json.Unmarshal(res.Lists[0].Items, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// dump is the whole summary table, to compare before and after.
func (r *rig) dump(t *testing.T) string {
	t.Helper()
	rows, err := r.db.Pool.Query(context.Background(), `SELECT user_id, metric, day, units, total, min, avg, max, count,
		asleep_hours, core_hours, deep_hours, rem_hours, awake_hours, in_bed_hours, sources,
		origin, vsum IS NULL, round(vsum::numeric, 6) FROM daily_summaries ORDER BY 1, 2, 3`)
	if err != nil {
		t.Fatal(err)
	}
	vals, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (string, error) {
		v, err := row.Values()
		return fmt.Sprint(v), err
	})
	if err != nil {
		t.Fatal(err)
	}
	return strings.Join(vals, "\n")
}

var summaryMetrics = []string{"step_count", "heart_rate", "resting_heart_rate", "sleep"}

// corpusSteps are testdata/corpus's uploads, in order: the Watch and the
// iPhone both counting steps, a third app, a night across midnight and a
// nap, an aggregated night from the iPhone; a resent, grown minute and a
// trip from -0800 to +0100; resting heart rate received two days late; a
// Health-app export of the same minutes with samples of their own length;
// a point resent in its new offset, which moves it to another local day;
// active energy, exercise minutes and HRV from overlapping sources (the
// dashboards' panels, checked by TestSummariesAndGrafana).
var corpusSteps = []struct {
	file, origin string
	received     string
}{
	{"01-day-one.json", stream.OriginUpload, "2025-03-11T08:00:00Z"},
	{"02-resend-and-trip.json", stream.OriginUpload, "2025-03-12T09:00:00Z"},
	{"03-late-resting-hr.json", stream.OriginUpload, "2025-03-12T10:00:00Z"},
	{"04-export-import.json", stream.OriginImport, "2025-03-13T10:00:00Z"},
	{"05-resent-in-new-offset.json", stream.OriginUpload, "2025-03-13T11:00:00Z"},
	{"06-energy-exercise-hrv.json", stream.OriginUpload, "2025-03-13T12:00:00Z"},
}

func (r *rig) postCorpus(t *testing.T) {
	t.Helper()
	for _, s := range corpusSteps {
		at, err := time.Parse(time.RFC3339, s.received)
		if err != nil {
			t.Fatal(err)
		}
		r.post(t, s.file, s.origin, at)
	}
}

// expected reads testdata/expected.json: the days the corpus must
// summarise to, under the default priority and under iPhone first.
func expected(t *testing.T) map[string][]map[string]any {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", "expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	var out map[string][]map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func sameDays(t *testing.T, label string, got, want []map[string]any) {
	t.Helper()
	g, _ := json.MarshalIndent(got, "", " ")
	w, _ := json.MarshalIndent(want, "", " ")
	if string(g) != string(w) {
		t.Errorf("%s: summaries\n got %s\nwant %s", label, g, w)
	}
}

// TestSummaryRules writes the corpus and checks every day: totals that
// count each moment once across the Watch, the iPhone, another app and an
// import of the same minutes; discrete metrics over every source; local
// days in the offset each point was recorded in; one source per night.
func TestSummaryRules(t *testing.T) {
	r := newRig(t)
	r.postCorpus(t)
	// Another user's day from the same sources: never in this user's days.
	ana := r.user
	bo, _, err := users.NewStore(r.db.Pool).Ensure(context.Background(), "bo@example.org")
	if err != nil {
		t.Fatal(err)
	}
	r.user = bo
	r.write(t, r.cut(t, []byte(`{"data":{"metrics":[{"name":"step_count","units":"count","data":[
		{"date":"2025-03-10 10:05:00 -0800","qty":1000,"source":"Ana’s Apple Watch"}]}]}}`), stream.OriginUpload, time.Now()))
	r.user = ana
	want := expected(t)
	sameDays(t, "default priority", r.days(t, summaryMetrics...), want["default"])

	// from is inclusive and to exclusive: the corpus's step days are
	// 2025-03-10 and 2025-03-12.
	for _, c := range []struct{ from, to, want string }{
		{"2025-03-10", "2025-03-12", "[2025-03-10]"},
		{"2025-03-11", "2025-03-13", "[2025-03-12]"},
		{"2025-03-10", "2025-03-13", "[2025-03-10 2025-03-12]"},
	} {
		from, _ := time.Parse(time.DateOnly, c.from)
		to, _ := time.Parse(time.DateOnly, c.to)
		res, err := query.NewStore(r.db.Pool).DailySummaries(context.Background(), r.user, []string{"step_count"}, from, to, query.Page{Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		var days []struct{ Date string }
		if err := json.Unmarshal(res.Lists[0].Items, &days); err != nil {
			t.Fatal(err)
		}
		got := make([]string, len(days))
		for i, d := range days {
			got[i] = d.Date
		}
		if fmt.Sprint(got) != c.want {
			t.Errorf("step_count from %s to %s: %v, want %s", c.from, c.to, got, c.want)
		}
	}

	// What the sources sent for 2025-03-10, raw: the total counts 630 of it.
	var raw string
	if err := r.db.Pool.QueryRow(context.Background(), `SELECT string_agg(source || ' ' || origin || ': ' || s, ', ' ORDER BY source, origin)
		FROM (SELECT source, origin, sum(qty) AS s FROM quantity_metrics
		      WHERE user_id = $1 AND metric = 'step_count' AND recorded_at >= '2025-03-10 08:00Z' AND recorded_at < '2025-03-11 08:00Z'
		      GROUP BY source, origin) x`, r.user).Scan(&raw); err != nil {
		t.Fatal(err)
	}
	t.Logf("step_count 2025-03-10, raw per source (origin 0 upload, 1 import): %s", raw)
}

// TestSourcePriorityChange: a new priority takes effect once the queued
// refresh has run; the cumulative metrics and sleep change, nothing else.
func TestSourcePriorityChange(t *testing.T) {
	r := newRig(t)
	r.postCorpus(t)
	ctx := context.Background()
	p := summary.NewPriorities(r.db.Pool)
	got, err := p.Set(ctx, r.user, []string{"iPhone", "Watch"})
	if err != nil {
		t.Fatal(err)
	}
	if !got.Refreshing || got.Default {
		t.Errorf("after Set: %+v, want refreshing and not default", got)
	}
	ref := summary.NewRefresher(slog.New(slog.DiscardHandler), r.db.Pool, r.reg)
	if did, err := ref.One(ctx); err != nil || !did {
		t.Fatalf("refresh: did %v, %v", did, err)
	}
	if did, err := ref.One(ctx); err != nil || did {
		t.Fatalf("second refresh: did %v, %v (the queue should be empty)", did, err)
	}
	sameDays(t, "iPhone first", r.days(t, summaryMetrics...), expected(t)["iphone_first"])
	if got, _ := p.Get(ctx, r.user); got.Refreshing {
		t.Error("still refreshing after the refresh ran")
	}

	// Back to the default: the days are as before.
	if _, err := p.Set(ctx, r.user, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := ref.One(ctx); err != nil {
		t.Fatal(err)
	}
	sameDays(t, "default again", r.days(t, summaryMetrics...), expected(t)["default"])
	if _, err := p.Set(ctx, r.user, []string{"a|b"}); err == nil {
		t.Error("a priority entry with | was accepted")
	}
}

// TestSummariesReplayAndRebuild: writing every part again (a redelivery,
// a replay) changes no summary, and neither does summarising the user
// from scratch (what the first start after the migration and a rebuild
// do).
func TestSummariesReplayAndRebuild(t *testing.T) {
	r := newRig(t)
	r.postCorpus(t)
	before := r.dump(t)
	r.write(t, r.parts)
	if after := r.dump(t); after != before {
		t.Errorf("replay changed the summaries:\nbefore %s\nafter  %s", before, after)
	}
	ctx := context.Background()
	if _, err := r.db.Pool.Exec(ctx, `DELETE FROM daily_summaries`); err != nil {
		t.Fatal(err)
	}
	if err := pgx.BeginFunc(ctx, r.db.Pool, func(tx pgx.Tx) error { return summary.Queue(ctx, tx, r.user, summary.ScopeAll) }); err != nil {
		t.Fatal(err)
	}
	if _, err := summary.NewRefresher(slog.New(slog.DiscardHandler), r.db.Pool, r.reg).One(ctx); err != nil {
		t.Fatal(err)
	}
	// From scratch, days that lost every row (a point moved to another
	// local day) have no row at all; the others are equal.
	var leftover int
	if err := r.db.Pool.QueryRow(ctx, `SELECT count(*) FROM daily_summaries WHERE count = 0`).Scan(&leftover); err != nil {
		t.Fatal(err)
	}
	if leftover != 0 {
		t.Errorf("%d empty summaries after summarising from scratch", leftover)
	}
	sameDays(t, "rebuilt", r.days(t, summaryMetrics...), expected(t)["default"])
}

// TestConcurrentWritersSerialise: two transactions write rows of the same
// user, metric and day; the second's recompute waits for the first's lock
// and, starting after its COMMIT, counts both. Without the lock taken
// before the recompute, its snapshot would miss the first's rows.
func TestConcurrentWritersSerialise(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	body := func(minute int, qty float64) []byte {
		return fmt.Appendf(nil, `{"data":{"metrics":[{"name":"step_count","units":"count","data":[
			{"date":"2025-03-10 10:%02d:00 -0800","qty":%g,"source":"iPhone"}]}]}}`, minute, qty)
	}
	w := r.writers["quantity"]
	// The day's summary row exists already (the common case: it is locked,
	// not created, by both).
	r.write(t, r.cut(t, body(0, 10), stream.OriginUpload, time.Now()))
	a := w.Decode(r.cut(t, body(1, 100), stream.OriginUpload, time.Now())[0])
	b := w.Decode(r.cut(t, body(2, 50), stream.OriginUpload, time.Now())[0])
	txA, err := r.db.Pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer txA.Rollback(ctx) //nolint:errcheck
	if err := w.WriteIn(ctx, txA, []*partwrite.Decoded{a}); err != nil {
		t.Fatal(err)
	}
	var pidB int
	var wg sync.WaitGroup
	errB := make(chan error, 1)
	started := make(chan int, 1)
	wg.Add(1)
	go func() {
		defer wg.Done()
		errB <- pgx.BeginFunc(ctx, r.db.Pool, func(tx pgx.Tx) error {
			var pid int
			if err := tx.QueryRow(ctx, "SELECT pg_backend_pid()").Scan(&pid); err != nil {
				return err
			}
			started <- pid
			return w.WriteIn(ctx, tx, []*partwrite.Decoded{b})
		})
	}()
	pidB = <-started
	// B must be waiting on A's summary row lock before A commits.
	for deadline := time.Now().Add(30 * time.Second); ; {
		var waiting bool
		if err := r.db.Pool.QueryRow(ctx, `SELECT coalesce(wait_event_type = 'Lock', false) FROM pg_stat_activity WHERE pid = $1`, pidB).Scan(&waiting); err != nil {
			t.Fatal(err)
		}
		if waiting {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the second writer never waited for the first's summary lock")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := txA.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if err := <-errB; err != nil {
		t.Fatal(err)
	}
	days := r.days(t, "step_count")
	if len(days) != 1 || days[0]["total"] != 160.0 {
		t.Errorf("summary after two concurrent writers: %v, want one day of 160", days)
	}
}
