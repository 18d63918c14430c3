package archive_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/healthexport/libs/kind"
	"github.com/healthexport/libs/obs"
	"github.com/healthexport/libs/partwrite"
	"github.com/healthexport/libs/pgstore"
	"github.com/healthexport/libs/settle"
	"github.com/healthexport/libs/stream"
	"github.com/healthexport/libs/testenv"
	"github.com/healthexport/services/raw-archiver/internal/archive"
)

const body = `{"data": {"metrics": [
 {"name": "heart_rate", "data": [{"date": "2025-03-01 08:00:00 -0800", "Avg": 70}, {"date": "2025-03-01 08:01:00 -0800", "Avg": 71}]},
 {"name": "step_count", "data": [{"date": "2025-03-01 08:00:00 -0800", "qty": 12}]}],
 "workouts": [{"name": "Walk", "start": "2025-03-01 08:00:00 -0800", "end": "2025-03-01 08:30:00 -0800"}]}}`

func TestArchivesPartsAndManifestsOnce(t *testing.T) {
	ctx := context.Background()
	db := testenv.NewDatabase(t)
	h := startArchiver(t, ctx, db, settle.Config{MaxAttempts: 10})
	cfg, js := h.cfg, h.js

	user := db.NewUser(t, "ana@example.org")
	// Received in 1998 to show raw_ingestions partitions are made on demand too.
	o := stream.Origin{UserID: user.String(), KeyID: "key1", IngestionID: "ing1", ReceivedAt: time.Date(1998, 5, 1, 12, 0, 0, 123456000, time.UTC),
		AppHeaders: map[string]string{"automation-name": "Nightly"}}
	reg := kind.New()
	parts := testenv.PublishBody(t, js, cfg, reg, o, []byte(body), 512<<10, true)
	// A redelivered copy of every part (no Msg-Id: the stream takes it).
	testenv.PublishBody(t, js, cfg, reg, o, []byte(body), 512<<10, false)
	man, _ := json.Marshal(stream.Manifest{IngestionID: "ing1", UserID: user.String(), Accepted: map[string]int{"heart_rate": 2}, Headers: o.AppHeaders})
	if _, err := js.PublishMsg(ctx, &nats.Msg{Subject: cfg.ManifestSubject(user.String()), Data: man, Header: o.Headers(stream.ManifestKind, "ing1:manifest")}); err != nil {
		t.Fatal(err)
	}
	// A message our edge cannot have sent: no headers.
	if _, err := js.Publish(ctx, cfg.SubjectPrefix+".ingest.heart_rate.x", []byte("{}")); err != nil {
		t.Fatal(err)
	}

	h.settleAndStop(t, ctx)

	var n int
	if err := db.Pool.QueryRow(ctx, "SELECT count(*) FROM raw_ingestions WHERE user_id=$1", user).Scan(&n); err != nil || n != len(parts) {
		t.Fatalf("raw_ingestions rows %d (err %v), want %d parts once each", n, err, len(parts))
	}
	var received time.Time
	var headers, kind string
	var payload []byte
	if err := db.Pool.QueryRow(ctx, "SELECT received_at, headers::text, kind, payload FROM raw_ingestions WHERE part_id=$1", parts[0]).Scan(&received, &headers, &kind, &payload); err != nil {
		t.Fatal(err)
	}
	if !received.Equal(o.ReceivedAt) || kind != "heart_rate" || len(payload) == 0 {
		t.Errorf("raw row: %v %s %d bytes", received, kind, len(payload))
	}
	// The archive keeps the part as published: s2, named in its headers,
	// and the part's JSON once decoded as a replay reads it.
	var stored nats.Header
	if err := json.Unmarshal([]byte(headers), &stored); err != nil {
		t.Fatal(err)
	}
	if stored.Get(stream.HeaderEncoding) != "s2" || json.Valid(payload) {
		t.Errorf("archived payload is not the part as published (%.40q), headers %s", payload, headers)
	}
	if part := partwrite.FromArchive(stored, 1, "", payload); part.MetaErr != nil || !json.Valid(part.Payload) {
		t.Errorf("archived part does not read back as JSON: %v %.40q", part.MetaErr, part.Payload)
	}
	var accepted, appHeaders string
	if err := db.Pool.QueryRow(ctx, "SELECT accepted::text, headers::text FROM ingestions WHERE ingestion_id='ing1' AND user_id=$1", user).Scan(&accepted, &appHeaders); err != nil {
		t.Fatal(err)
	}
	if accepted != `{"heart_rate": 2}` || appHeaders != `{"automation-name": "Nightly"}` {
		t.Errorf("ingestion row: %s %s", accepted, appHeaders)
	}
}

// A message the database keeps refusing for an unexpected reason (here a
// trigger on one part) is retried with backoff up to WRITE_MAX_ATTEMPTS
// deliveries, then recorded in failed_parts and terminated; the rest is
// archived.
func TestPoisonMessageIsGivenUp(t *testing.T) {
	ctx := context.Background()
	db := testenv.NewDatabase(t)
	for _, sql := range []string{
		`CREATE FUNCTION refuse_poison() RETURNS trigger LANGUAGE plpgsql AS $$
		 BEGIN IF NEW.part_id LIKE '%heart_rate%' THEN RAISE EXCEPTION 'refused by a test trigger' USING ERRCODE = 'P0001'; END IF; RETURN NEW; END $$`,
		`CREATE TRIGGER refuse_poison BEFORE INSERT ON raw_ingestions FOR EACH ROW EXECUTE FUNCTION refuse_poison()`,
	} {
		if _, err := db.Pool.Exec(ctx, sql); err != nil {
			t.Fatal(err)
		}
	}
	h := startArchiver(t, ctx, db, settle.Config{MaxAttempts: 2})
	cfg, js, names, metrics := h.cfg, h.js, h.names, h.metrics

	user := db.NewUser(t, "ana@example.org")
	o := stream.Origin{UserID: user.String(), KeyID: "key1", IngestionID: "ing1", ReceivedAt: time.Now()}
	parts := testenv.PublishBody(t, js, cfg, kind.New(), o, []byte(body), 512<<10, true)
	h.settleAndStop(t, ctx)
	var archived, failed, deliveries int
	var consumer, part string
	if err := db.Pool.QueryRow(ctx, "SELECT count(*) FROM raw_ingestions WHERE user_id=$1", user).Scan(&archived); err != nil {
		t.Fatal(err)
	}
	if archived != len(parts)-1 {
		t.Errorf("%d parts archived, want %d (all but the heart rates)", archived, len(parts)-1)
	}
	if err := db.Pool.QueryRow(ctx, "SELECT count(*), min(consumer), min(part_id), min(deliveries) FROM failed_parts").Scan(&failed, &consumer, &part, &deliveries); err != nil {
		t.Fatal(err)
	}
	if failed != 1 || consumer != names.DurablePrefix+"raw-archiver" || part != "ing1:heart_rate:0-1" || deliveries != 2 {
		t.Errorf("failed_parts: %d rows, %s %s after %d deliveries", failed, consumer, part, deliveries)
	}
	if n := testutil.ToFloat64(metrics.GivenUp.WithLabelValues("heart_rate", "unexpected")); n != 1 {
		t.Errorf("messages_given_up_total = %v, want 1", n)
	}
}

// A message the database cannot store (here a NUL in an app header, which
// jsonb refuses) is isolated at its first delivery and recorded in
// failed_parts; the other user's messages of the same batch are archived
// at once, not after WRITE_MAX_ATTEMPTS backed-off deliveries (4 minutes).
func TestRefusedMessageIsolatedAtOnce(t *testing.T) {
	ctx := context.Background()
	db := testenv.NewDatabase(t)
	h := startArchiver(t, ctx, db, settle.Config{MaxAttempts: 10})
	reg := kind.New()
	ana, bob := db.NewUser(t, "ana@example.org"), db.NewUser(t, "bob@example.org")
	now := time.Now().UTC().Truncate(time.Microsecond)
	good := stream.Origin{UserID: bob.String(), KeyID: "key-b", IngestionID: "ing-b", ReceivedAt: now, AppHeaders: map[string]string{"automation-name": "Nightly"}}
	poison := stream.Origin{UserID: ana.String(), KeyID: "key-a", IngestionID: "ing-a", ReceivedAt: now, AppHeaders: map[string]string{"automation-name": "Night\x00ly"}}
	start := time.Now()
	bobParts := testenv.PublishBody(t, h.js, h.cfg, reg, good, []byte(body), 512<<10, true)
	anaParts := testenv.PublishBody(t, h.js, h.cfg, reg, poison, []byte(body), 512<<10, true)
	bobParts = append(bobParts, testenv.PublishBody(t, h.js, h.cfg, reg, stream.Origin{UserID: bob.String(), KeyID: "key-b", IngestionID: "ing-b2", ReceivedAt: now}, []byte(body), 512<<10, true)...)
	h.settleAndStop(t, ctx)
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("settled after %s", took)
	}
	var archived int
	if err := db.Pool.QueryRow(ctx, "SELECT count(*) FROM raw_ingestions WHERE user_id = $1", bob).Scan(&archived); err != nil || archived != len(bobParts) {
		t.Errorf("bob: %d parts archived (err %v), want %d", archived, err, len(bobParts))
	}
	var failed, deliveries int
	var class string
	if err := db.Pool.QueryRow(ctx, "SELECT count(*), max(deliveries), min(class) FROM failed_parts WHERE user_id = $1", ana).Scan(&failed, &deliveries, &class); err != nil {
		t.Fatal(err)
	}
	if failed != len(anaParts) || deliveries != 1 || class != "data" {
		t.Errorf("ana: %d failed_parts rows (want %d), deliveries %d (want 1), class %s", failed, len(anaParts), deliveries, class)
	}
	if n := testutil.ToFloat64(h.metrics.GivenUp.WithLabelValues("heart_rate", "data")); n != 1 {
		t.Errorf("given up heart_rate/data = %v, want 1", n)
	}
}

// archiver is a raw-archiver running on its own stream, subjects and
// durable against the test's database.
type archiver struct {
	names   testenv.Names
	cfg     stream.Config
	js      jetstream.JetStream
	cons    jetstream.Consumer
	metrics *archive.Metrics
	cancel  context.CancelFunc
	done    chan error
}

func startArchiver(t *testing.T, ctx context.Context, db *testenv.Database, sc settle.Config) *archiver {
	t.Helper()
	names := testenv.NewNames()
	cfg := stream.Config{URL: testenv.NATSServer(t), Name: names.Stream, SubjectPrefix: names.SubjectPrefix,
		DurablePrefix: names.DurablePrefix, Replicas: 1, MaxAge: time.Hour, MaxBytes: 64 << 20, DuplicateWindow: time.Minute}
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	nc, js, err := stream.Connect(ctx, log, cfg, "test")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	if _, err := stream.Ensure(ctx, js, cfg, func(context.Context) (uint64, error) { return 0, nil }); err != nil {
		t.Fatal(err)
	}
	batch := stream.BatchConfig{MaxRows: 100, MaxMessages: 100, MaxBytes: 8 << 20, MaxAge: 20 * time.Millisecond, FlushTimeout: 10 * time.Second}
	cons, err := stream.EnsureConsumer(ctx, js, cfg.Name, stream.ConsumerSpec{Durable: names.DurablePrefix + "raw-archiver",
		Filters: []string{cfg.IngestSubjects(), cfg.ManifestSubjects()}, AckWait: batch.AckWait(), MaxAckPending: batch.MaxAckPending()})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	h := &archiver{names: names, cfg: cfg, js: js, cons: cons, metrics: archive.NewMetrics(obs.NewRegistry()), cancel: cancel, done: make(chan error, 1)}
	arch := archive.New(log, db.Pool, pgstore.NewPartitions(db.Pool), archive.Options{Batch: batch, Settle: sc}, h.metrics)
	go func() { h.done <- arch.Run(runCtx, context.WithoutCancel(runCtx), cons) }()
	return h
}

// settleAndStop waits until the archiver has nothing pending or
// unacknowledged, then stops it.
func (h *archiver) settleAndStop(t *testing.T, ctx context.Context) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		info, err := h.cons.Info(ctx)
		if err == nil && info.NumPending == 0 && info.NumAckPending == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("archiver did not settle: %+v", info)
		}
		time.Sleep(20 * time.Millisecond)
	}
	h.cancel()
	if err := <-h.done; err != nil {
		t.Fatal(err)
	}
}
