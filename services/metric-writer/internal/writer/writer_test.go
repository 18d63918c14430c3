package writer_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/healthexport/libs/kind"
	"github.com/healthexport/libs/obs"
	"github.com/healthexport/libs/pgstore"
	"github.com/healthexport/libs/replay"
	"github.com/healthexport/libs/settle"
	"github.com/healthexport/libs/stream"
	"github.com/healthexport/libs/testenv"
	"github.com/healthexport/services/metric-writer/internal/writer"
)

type rig struct {
	db     *testenv.Database
	pool   *pgxpool.Pool // what the workers write through (the database's own pool unless a test proxies it)
	js     jetstream.JetStream
	cfg    stream.Config
	reg    *kind.Registry
	user   uuid.UUID
	log    *slog.Logger
	logs   *syncBuffer
	m      *writer.Metrics
	settle settle.Config
}

// syncBuffer collects the workers' logs.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func newRig(t *testing.T) *rig {
	t.Helper()
	names := testenv.NewNames()
	logs := &syncBuffer{}
	r := &rig{
		db:     testenv.NewDatabase(t),
		reg:    kind.New(),
		log:    slog.New(slog.NewJSONHandler(logs, nil)),
		logs:   logs,
		m:      writer.NewMetrics(obs.NewRegistry()),
		settle: settle.Config{MaxAttempts: 10},
		cfg: stream.Config{URL: testenv.NATSServer(t), Name: names.Stream, SubjectPrefix: names.SubjectPrefix,
			DurablePrefix: names.DurablePrefix, Replicas: 1, MaxAge: time.Hour, MaxBytes: 256 << 20, DuplicateWindow: time.Minute},
	}
	r.user = r.db.NewUser(t, "ana@example.org")
	ctx := context.Background()
	nc, js, err := stream.Connect(ctx, r.log, r.cfg, "test")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	r.js = js
	r.pool = r.db.Pool
	if _, err := stream.Ensure(ctx, js, r.cfg, func(context.Context) (uint64, error) { return 0, nil }); err != nil {
		t.Fatal(err)
	}
	return r
}

func (r *rig) batch() stream.BatchConfig {
	return stream.BatchConfig{MaxRows: 1000, MaxMessages: 50, MaxBytes: 8 << 20, MaxAge: 20 * time.Millisecond, FlushTimeout: 10 * time.Second}
}

// start runs a worker per kind name; the returned stop drains and waits.
func (r *rig) start(t *testing.T, pool *pgstore.Partitions, kinds ...string) func() {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, name := range kinds {
		k, _ := r.reg.Lookup(name)
		cons, err := stream.EnsureConsumer(ctx, r.js, r.cfg.Name, stream.ConsumerSpec{
			Durable: k.Durable(r.cfg.DurablePrefix), Filters: []string{k.Filter(r.cfg.SubjectPrefix)},
			AckWait: r.batch().AckWait(), MaxAckPending: r.batch().MaxAckPending(),
		})
		if err != nil {
			t.Fatal(err)
		}
		w := writer.New(r.log, k, r.pool, pool, writer.Options{Batch: r.batch(), Settle: r.settle}, r.m)
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := w.Run(ctx, context.WithoutCancel(ctx), cons); err != nil {
				t.Error(err)
			}
		}()
	}
	stop := func() { cancel(); wg.Wait() }
	t.Cleanup(stop)
	return stop
}

func (r *rig) origin(id string) stream.Origin {
	return stream.Origin{UserID: r.user.String(), KeyID: "k", IngestionID: id, ReceivedAt: time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC)}
}

func (r *rig) count(t *testing.T, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := r.db.Pool.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

// waitFor polls until cond holds (integration: the writer works on its own
// schedule).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// settled waits until a consumer has nothing pending or unacknowledged.
func (r *rig) settled(t *testing.T, kindName string) {
	t.Helper()
	k, _ := r.reg.Lookup(kindName)
	waitFor(t, kindName+" consumer to settle", func() bool {
		c, err := r.js.Consumer(context.Background(), r.cfg.Name, k.Durable(r.cfg.DurablePrefix))
		if err != nil {
			return false
		}
		info, err := c.Info(context.Background())
		return err == nil && info.NumPending == 0 && info.NumAckPending == 0
	})
}

func readFixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestWritesRowsRejectionsAndParts(t *testing.T) {
	r := newRig(t)
	r.start(t, pgstore.NewPartitions(r.db.Pool), "heart_rate", "quantity")
	parts := testenv.PublishBody(t, r.js, r.cfg, r.reg, r.origin("ing1"), readFixture(t, "mixed.json"), 512<<10, true)
	waitFor(t, "every part written", func() bool {
		return r.count(t, "SELECT count(*) FROM ingestion_parts WHERE ingestion_id='ing1'") == len(parts)
	})
	r.settled(t, "heart_rate")
	r.settled(t, "quantity")
	checks := []struct {
		sql  string
		want int
	}{
		{"SELECT count(*) FROM heart_rate_metrics WHERE user_id=$1", 2},
		{"SELECT count(*) FROM heart_rate_metrics WHERE user_id=$1 AND source='Ana’s Apple Watch' AND recorded_at='2025-03-01T16:00:00Z' AND avg_bpm=71.25 AND recorded_offset_min=-480", 1},
		// 5000 then 5001 for the same (metric, time, source ""): the later item wins.
		{"SELECT count(*) FROM quantity_metrics WHERE user_id=$1 AND metric='step_count'", 2},
		{"SELECT count(*) FROM quantity_metrics WHERE user_id=$1 AND metric='step_count' AND source='' AND qty=5001", 1},
		{"SELECT count(*) FROM quantity_metrics WHERE user_id=$1 AND extra->>'mealTime'='Before Meal'", 1},
		{"SELECT count(*) FROM rejected_points WHERE user_id=$1", 2},
		{"SELECT count(*) FROM rejected_points WHERE user_id=$1 AND pointer='/data/metrics/0/data/2' AND reason LIKE 'avg_bpm: must be between 20 and 300%'", 1},
		// PostgreSQL refuses U+0000 in jsonb: bisection isolates that item alone.
		{"SELECT count(*) FROM rejected_points WHERE user_id=$1 AND pointer='/data/metrics/2/data/1' AND reason LIKE 'the database refused it:%'", 1},
		{"SELECT sum(written)::int FROM ingestion_parts WHERE user_id=$1", 6},
		{"SELECT sum(rejected)::int FROM ingestion_parts WHERE user_id=$1", 2},
	}
	for _, c := range checks {
		if got := r.count(t, c.sql, r.user); got != c.want {
			t.Errorf("%s = %d, want %d", c.sql, got, c.want)
		}
	}
}

func TestRedeliveryAddsNothing(t *testing.T) {
	r := newRig(t)
	r.start(t, pgstore.NewPartitions(r.db.Pool), "heart_rate", "quantity")
	body := readFixture(t, "mixed.json")
	// The same parts twice with new stream sequences, as after a crash
	// between COMMIT and ack, or an edge retry past the duplicate window.
	testenv.PublishBody(t, r.js, r.cfg, r.reg, r.origin("ing2"), body, 512<<10, true)
	testenv.PublishBody(t, r.js, r.cfg, r.reg, r.origin("ing2"), body, 512<<10, false)
	waitFor(t, "both copies consumed", func() bool {
		n := 0
		for _, name := range []string{"heart_rate", "quantity"} {
			k, _ := r.reg.Lookup(name)
			c, err := r.js.Consumer(context.Background(), r.cfg.Name, k.Durable(r.cfg.DurablePrefix))
			if err != nil {
				return false
			}
			info, err := c.Info(context.Background())
			if err != nil || info.NumPending > 0 || info.NumAckPending > 0 {
				return false
			}
			n += int(info.AckFloor.Stream)
		}
		return n > 0 && r.count(t, "SELECT count(*) FROM ingestion_parts WHERE ingestion_id='ing2'") == 2
	})
	r.settled(t, "heart_rate")
	r.settled(t, "quantity")
	for sql, want := range map[string]int{
		"SELECT count(*) FROM heart_rate_metrics WHERE user_id=$1": 2,
		"SELECT count(*) FROM quantity_metrics WHERE user_id=$1":   3,
		"SELECT count(*) FROM rejected_points WHERE user_id=$1":    2,
		"SELECT count(*) FROM ingestion_parts WHERE user_id=$1":    2,
	} {
		if got := r.count(t, sql, r.user); got != want {
			t.Errorf("%s = %d, want %d", sql, got, want)
		}
	}
}

// TestOriginRecordedNotCompared: rows record how their data arrived (the
// Health-Origin header), and the same values arriving the other way leave
// the row as it is: one row, its origin that of the values' first writer.
// A value that changes takes the origin of the message that changed it.
func TestOriginRecordedNotCompared(t *testing.T) {
	r := newRig(t)
	r.start(t, pgstore.NewPartitions(r.db.Pool), "heart_rate", "quantity")
	body := func(steps int) []byte {
		return []byte(fmt.Sprintf(`{"data":{"metrics":[
			{"name":"heart_rate","units":"count/min","data":[{"date":"2025-03-01 08:00:00 -0800","Min":58,"Avg":58,"Max":58,"source":"Watch"}]},
			{"name":"step_count","units":"count","data":[{"date":"2025-03-02 00:00:00 -0800","qty":%d,"source":"iPhone"}]}]}}`, steps))
	}
	publish := func(id, from string, b []byte) {
		o := r.origin(id)
		o.From = from
		parts := testenv.PublishBody(t, r.js, r.cfg, r.reg, o, b, 512<<10, true)
		waitFor(t, id+" written", func() bool {
			return r.count(t, "SELECT count(*) FROM ingestion_parts WHERE ingestion_id=$1", id) == len(parts)
		})
	}
	publish("imp1", stream.OriginImport, body(100))
	publish("up1", stream.OriginUpload, body(100))
	for sql, want := range map[string]int{
		// A row's ingestion is that of the part its sequence wrote.
		"SELECT count(*) FROM heart_rate_metrics m JOIN ingestion_parts p USING (stream_seq) WHERE m.user_id=$1 AND m.origin=1 AND p.ingestion_id='imp1'": 1,
		"SELECT count(*) FROM quantity_metrics m JOIN ingestion_parts p USING (stream_seq) WHERE m.user_id=$1 AND m.origin=1 AND p.ingestion_id='imp1'":   1,
	} {
		if got := r.count(t, sql, r.user); got != want {
			t.Errorf("the same values again: %s = %d, want %d", sql, got, want)
		}
	}
	publish("up2", stream.OriginUpload, body(101))
	for sql, want := range map[string]int{
		"SELECT count(*) FROM heart_rate_metrics WHERE user_id=$1 AND origin=1":           1,
		"SELECT count(*) FROM quantity_metrics WHERE user_id=$1":                          1,
		"SELECT count(*) FROM quantity_metrics WHERE user_id=$1 AND origin=0 AND qty=101": 1,
	} {
		if got := r.count(t, sql, r.user); got != want {
			t.Errorf("a changed value: %s = %d, want %d", sql, got, want)
		}
	}
}

func TestUndecodablePartIsRejectedAndTerminated(t *testing.T) {
	r := newRig(t)
	r.start(t, pgstore.NewPartitions(r.db.Pool), "heart_rate")
	k, _ := r.reg.Lookup("heart_rate")
	o := r.origin("ing3")
	msg := o.PartMsg(k.Subject(r.cfg.SubjectPrefix, o.UserID), "heart_rate", "ing3:heart_rate:0-0", "/data/metrics/0/data/0", 1, []byte("this is not a part"))
	if _, err := r.js.PublishMsg(context.Background(), msg, jetstream.WithMsgID("ing3:heart_rate:0-0")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the rejection", func() bool {
		return r.count(t, "SELECT count(*) FROM rejected_points WHERE user_id=$1", r.user) == 1
	})
	r.settled(t, "heart_rate")
	var pointer, reason string
	if err := r.db.Pool.QueryRow(context.Background(), "SELECT pointer, reason FROM rejected_points WHERE user_id=$1", r.user).Scan(&pointer, &reason); err != nil {
		t.Fatal(err)
	}
	if pointer != "/data/metrics/0/data/0" || !strings.Contains(reason, "ing3:heart_rate:0-0 could not be decoded") {
		t.Errorf("rejection %q %q", pointer, reason)
	}
}

// durableInfo reads a kind's consumer.
func (r *rig) durableInfo(t *testing.T, kindName string) *jetstream.ConsumerInfo {
	t.Helper()
	k, _ := r.reg.Lookup(kindName)
	c, err := r.js.Consumer(context.Background(), r.cfg.Name, k.Durable(r.cfg.DurablePrefix))
	if err != nil {
		t.Fatal(err)
	}
	info, err := c.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return info
}

// An unexpected error (here a missing table) is retried with backoff; once
// the cause is gone within WRITE_MAX_ATTEMPTS the batch is written and
// nothing is given up.
func TestUnexpectedErrorIsRetried(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	parts := pgstore.NewPartitions(r.db.Pool)
	if _, err := r.db.Pool.Exec(ctx, "ALTER TABLE heart_rate_metrics RENAME TO heart_rate_metrics_away"); err != nil {
		t.Fatal(err)
	}
	r.start(t, parts, "heart_rate")
	testenv.PublishBody(t, r.js, r.cfg, r.reg, r.origin("ing4"), readFixture(t, "mixed.json"), 512<<10, true)
	waitFor(t, "a failed delivery", func() bool {
		return testutil.ToFloat64(r.m.Retries.WithLabelValues("heart_rate", "unexpected")) > 0
	})
	if _, err := r.db.Pool.Exec(ctx, "ALTER TABLE heart_rate_metrics_away RENAME TO heart_rate_metrics"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the retried batch", func() bool {
		return r.count(t, "SELECT count(*) FROM heart_rate_metrics WHERE user_id=$1", r.user) == 2
	})
	r.settled(t, "heart_rate")
	if n := r.count(t, "SELECT count(*) FROM failed_parts"); n != 0 {
		t.Errorf("%d parts given up, want 0", n)
	}
}

// heartRates is a body of heart-rate points, one a minute, each with the
// given source.
func heartRates(sources ...string) []byte {
	var b strings.Builder
	b.WriteString(`{"data":{"metrics":[{"name":"step_count","units":"count","data":[{"date":"2025-03-02 00:00:00 -0800","qty":12}]},{"name":"heart_rate","units":"count/min","data":[`)
	for i, src := range sources {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"date":"2025-03-01 08:%02d:00 -0800","Min":60,"Avg":70,"Max":80,"source":%q}`, i, src)
	}
	b.WriteString(`]}]}}`)
	return []byte(b.String())
}

// A part that keeps failing for an unexpected reason (here a trigger that
// refuses one row with a non-data SQLSTATE) is retried with backoff up to
// WRITE_MAX_ATTEMPTS deliveries, then given up loudly: recorded in
// failed_parts, terminated, logged and counted. Its batch-mates and the
// other kinds are written, and a replay writes it once the cause is gone.
func TestPoisonPartIsGivenUpAfterMaxAttempts(t *testing.T) {
	r := newRig(t)
	r.settle.MaxAttempts = 3
	ctx := context.Background()
	for _, sql := range []string{
		`CREATE FUNCTION refuse_poison() RETURNS trigger LANGUAGE plpgsql AS $$
		 BEGIN IF NEW.source = 'Poison' THEN RAISE EXCEPTION 'refused by a test trigger' USING ERRCODE = 'P0001'; END IF; RETURN NEW; END $$`,
		`CREATE TRIGGER refuse_poison BEFORE INSERT ON heart_rate_metrics FOR EACH ROW EXECUTE FUNCTION refuse_poison()`,
	} {
		if _, err := r.db.Pool.Exec(ctx, sql); err != nil {
			t.Fatal(err)
		}
	}
	r.start(t, pgstore.NewPartitions(r.db.Pool), "heart_rate", "quantity")
	start := time.Now()
	// One point a part: the poison and its batch-mates travel apart.
	ids := testenv.PublishBody(t, r.js, r.cfg, r.reg, r.origin("poison"), heartRates("Watch", "Watch", "Poison", "Watch"), 128, true)
	if len(ids) != 5 {
		t.Fatalf("%d parts (%v), want 5: a step count and four heart rates", len(ids), ids)
	}
	poison := ids[3]
	waitFor(t, "the other kind written", func() bool {
		return r.count(t, "SELECT count(*) FROM quantity_metrics WHERE user_id=$1", r.user) == 1
	})
	waitFor(t, "the part given up", func() bool {
		return r.count(t, "SELECT count(*) FROM failed_parts") == 1
	})
	r.settled(t, "heart_rate")
	r.settled(t, "quantity")
	// Deliveries at 0, 1 s and 3 s (backoff 1 s, then 2 s).
	if d := time.Since(start); d < stream.Backoff(1)+stream.Backoff(2) {
		t.Errorf("given up after %v: sooner than the backoff allows", d)
	}
	var (
		consumer, ingestion, part, kindName, class, errText string
		seq                                                 int64
		deliveries                                          int
	)
	if err := r.db.Pool.QueryRow(ctx, `SELECT consumer, ingestion_id, part_id, kind, class, error, stream_seq, deliveries FROM failed_parts`).
		Scan(&consumer, &ingestion, &part, &kindName, &class, &errText, &seq, &deliveries); err != nil {
		t.Fatal(err)
	}
	k, _ := r.reg.Lookup("heart_rate")
	if consumer != k.Durable(r.cfg.DurablePrefix) || ingestion != "poison" || part != poison || kindName != "heart_rate" ||
		class != "unexpected" || deliveries != 3 || !strings.Contains(errText, "refused by a test trigger") {
		t.Errorf("failed_parts row: %s %s %s %s %s %d deliveries %q", consumer, ingestion, part, kindName, class, deliveries, errText)
	}
	for sql, want := range map[string]int{
		"SELECT count(*) FROM heart_rate_metrics WHERE user_id=$1":                           3,
		"SELECT count(*) FROM ingestion_parts WHERE user_id=$1":                              4,
		"SELECT count(*) FROM ingestion_parts WHERE user_id=$1 AND part_id='" + poison + "'": 0,
		"SELECT count(*) FROM rejected_points WHERE user_id=$1":                              0,
	} {
		if got := r.count(t, sql, r.user); got != want {
			t.Errorf("%s = %d, want %d", sql, got, want)
		}
	}
	if n := testutil.ToFloat64(r.m.GivenUp.WithLabelValues("heart_rate", "unexpected")); n != 1 {
		t.Errorf("parts_given_up_total = %v, want 1", n)
	}
	if n := testutil.ToFloat64(r.m.Retries.WithLabelValues("heart_rate", "unexpected")); n < 2 {
		t.Errorf("retries_total{cause=unexpected} = %v, want at least 2", n)
	}
	// Terminated: nothing redelivers it.
	if info := r.durableInfo(t, "heart_rate"); info.NumAckPending != 0 || info.NumRedelivered != 0 {
		t.Errorf("consumer after the give-up: %d ack pending, %d redelivered", info.NumAckPending, info.NumRedelivered)
	}
	// Logged once, with where it came from, never the body.
	var given []map[string]any
	for _, line := range strings.Split(r.logs.String(), "\n") {
		var rec map[string]any
		if json.Unmarshal([]byte(line), &rec) == nil && strings.HasPrefix(fmt.Sprint(rec["msg"]), "message given up") {
			given = append(given, rec)
		}
	}
	if len(given) != 1 || given[0]["level"] != "ERROR" || given[0]["part"] != poison || given[0]["ingestion"] != "poison" ||
		given[0]["kind"] != "heart_rate" || given[0]["seq"] != float64(seq) {
		t.Errorf("give-up log lines: %v", given)
	}
	if strings.Contains(r.logs.String(), `"Poison"`) {
		t.Error("the logs hold the part's body")
	}

	// The operator fixes the cause and replays from the recorded sequence.
	if _, err := r.db.Pool.Exec(ctx, "DROP TRIGGER refuse_poison ON heart_rate_metrics"); err != nil {
		t.Fatal(err)
	}
	if _, err := replay.New(r.log, r.db.Pool, r.js, r.cfg).Upsert(ctx, k, replay.Options{FromSeq: uint64(seq)}); err != nil {
		t.Fatal(err)
	}
	if got := r.count(t, "SELECT count(*) FROM heart_rate_metrics WHERE user_id=$1 AND source='Poison'", r.user); got != 1 {
		t.Errorf("after the replay: %d poison rows, want 1", got)
	}
}

// An outage is not the part's fault: however many deliveries it takes, the
// part is retried with backoff until the database is back, never given up.
func TestUnavailableIsNotGivenUp(t *testing.T) {
	r := newRig(t)
	r.settle.MaxAttempts = 2
	ctx := context.Background()
	proxy := testenv.NewProxy(t, testenv.HostPort(t, r.db.URL))
	pool, err := pgxpool.New(ctx, proxy.Through(r.db.URL))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	r.pool = pool
	proxy.Cut()
	r.start(t, pgstore.NewPartitions(pool), "heart_rate")
	testenv.PublishBody(t, r.js, r.cfg, r.reg, r.origin("outage"), heartRates("Watch", "Watch"), 512<<10, true)
	unavailable := r.m.Retries.WithLabelValues("heart_rate", "unavailable")
	waitFor(t, "more failed deliveries than WRITE_MAX_ATTEMPTS", func() bool {
		return testutil.ToFloat64(unavailable) > float64(r.settle.MaxAttempts)
	})
	proxy.Restore()
	waitFor(t, "the points once the database is back", func() bool {
		return r.count(t, "SELECT count(*) FROM heart_rate_metrics WHERE user_id=$1", r.user) == 2
	})
	r.settled(t, "heart_rate")
	if n := r.count(t, "SELECT count(*) FROM failed_parts"); n != 0 {
		t.Errorf("%d parts given up during an outage, want 0", n)
	}
	for _, reason := range []string{"unexpected", "data"} {
		if n := testutil.ToFloat64(r.m.GivenUp.WithLabelValues("heart_rate", reason)); n != 0 {
			t.Errorf("parts_given_up_total{reason=%s} = %v, want 0", reason, n)
		}
	}
}

// longWorkout is a v2 workout with a route point and a heart-rate sample
// every second: far bigger than the test's part limit.
func longWorkout(id, start, end string, points int) string {
	var b strings.Builder
	fmt.Fprintf(&b, `{"id":%q,"name":"Long Ride","start":%q,"end":%q,"distance":{"qty":42,"units":"km"},"route":[`, id, start, end)
	base := time.Date(2025, 3, 8, 15, 0, 0, 0, time.UTC)
	for i := range points {
		if i > 0 {
			b.WriteByte(',')
		}
		at := base.Add(time.Duration(i) * time.Second).Format("2006-01-02 15:04:05 -0700")
		fmt.Fprintf(&b, `{"latitude":%.5f,"longitude":-0.1246,"altitude":11.2,"speed":8.1,"timestamp":%q}`, 51.5+float64(i)/1e5, at)
	}
	b.WriteString(`],"heartRateData":[`)
	for i := range points / 10 {
		if i > 0 {
			b.WriteByte(',')
		}
		at := base.Add(time.Duration(i*10) * time.Second).Format("2006-01-02 15:04:05 -0700")
		fmt.Fprintf(&b, `{"date":%q,"Min":120,"Avg":130,"Max":140,"units":"bpm"}`, at)
	}
	b.WriteString(`]}`)
	return b.String()
}

// A workout bigger than a part travels as its summary, route chunks and
// series chunks, each carrying the workout's key; the writer stores it as
// if it had come whole. A rejected one leaves one rejected row and nothing
// else.
func TestSplitWorkout(t *testing.T) {
	r := newRig(t)
	r.start(t, pgstore.NewPartitions(r.db.Pool), "workout")
	body := `{"data":{"workouts":[` +
		longWorkout("RIDE-1", "2025-03-08 07:00:00 -0800", "2025-03-08 09:00:00 -0800", 3000) + "," +
		longWorkout("BACKWARDS", "2025-03-09 09:00:00 -0800", "2025-03-09 07:00:00 -0800", 3000) + `]}}`
	parts := testenv.PublishBody(t, r.js, r.cfg, r.reg, r.origin("split"), []byte(body), 16<<10, true)
	if len(parts) < 10 {
		t.Fatalf("only %d parts for two 300 KB workouts at 16 KiB", len(parts))
	}
	waitFor(t, "every piece written", func() bool {
		return r.count(t, "SELECT count(*) FROM ingestion_parts WHERE ingestion_id='split'") == len(parts)
	})
	r.settled(t, "workout")
	for sql, want := range map[string]int{
		"SELECT count(*) FROM workouts WHERE user_id=$1":                                                            1,
		"SELECT count(*) FROM workouts WHERE user_id=$1 AND workout_key='RIDE-1' AND distance_m=42000":              1,
		"SELECT count(*) FROM workout_route_points WHERE user_id=$1 AND workout_key='RIDE-1'":                       3000,
		"SELECT count(*) FROM workout_samples WHERE user_id=$1 AND workout_key='RIDE-1' AND series='heartRateData'": 300,
		"SELECT count(*) FROM rejected_points WHERE user_id=$1":                                                     1,
		"SELECT count(*) FROM rejected_points WHERE user_id=$1 AND pointer='/data/workouts/1'":                      1,
		"SELECT count(*) FROM workout_route_points WHERE user_id=$1 AND workout_key='BACKWARDS'":                    0,
	} {
		if got := r.count(t, sql, r.user); got != want {
			t.Errorf("%s = %d, want %d", sql, got, want)
		}
	}
}
