package server_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/healthexport/libs/apikey"
	"github.com/healthexport/libs/ingest"
	"github.com/healthexport/libs/ingestions"
	"github.com/healthexport/libs/kind"
	"github.com/healthexport/libs/obs"
	"github.com/healthexport/libs/query"
	"github.com/healthexport/libs/ratelimit"
	"github.com/healthexport/libs/stream"
	"github.com/healthexport/libs/summary"
	"github.com/healthexport/libs/testenv"
	"github.com/healthexport/libs/users"
	"github.com/healthexport/services/edge/internal/server"
)

// cheap keeps Argon2id fast in tests; production uses apikey.DefaultParams.
var cheap = apikey.Params{MemoryKiB: 64, Time: 1, Threads: 1, KeyLen: 32, SaltLen: 16}

type edge struct {
	srv      *server.Server
	verifier *apikey.Verifier
	js       jetstream.JetStream
	cfg      stream.Config
	keys     *apikey.Store
	token    string
	user     uuid.UUID
	db       *testenv.Database
	logBuf   *bytes.Buffer
	ready    *obs.Readiness
}

func newEdge(t testing.TB, partMax int, maxBody int64, opts ...func(*server.Config)) *edge {
	return newEdgeLimited(t, partMax, maxBody, 1000, opts...)
}

func newEdgeLimited(t testing.TB, partMax int, maxBody int64, rateLimit int, opts ...func(*server.Config)) *edge {
	return newEdgeQuota(t, partMax, maxBody, rateLimit, 1<<40, opts...)
}

// newEdgeQuota is an edge on its own database, stream and Redis prefix,
// with a rate limit per key and a quota per user of quotaPerDay bytes; opts
// change its HTTP settings.
func newEdgeQuota(t testing.TB, partMax int, maxBody int64, rateLimit int, quotaPerDay int64, opts ...func(*server.Config)) *edge {
	t.Helper()
	ctx := context.Background()
	names := testenv.NewNames()
	e := &edge{db: testenv.NewDatabase(t), logBuf: &bytes.Buffer{}, ready: obs.NewReadiness()}
	e.cfg = stream.Config{URL: testenv.NATSServer(t), Name: names.Stream, SubjectPrefix: names.SubjectPrefix,
		Replicas: 1, MaxAge: time.Hour, MaxBytes: 256 << 20, DuplicateWindow: time.Minute}
	log := slog.New(slog.NewJSONHandler(e.logBuf, nil))
	nc, js, err := stream.Connect(ctx, log, e.cfg, "test")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	e.js = js
	if _, err := stream.Ensure(ctx, js, e.cfg, func(context.Context) (uint64, error) { return 0, nil }); err != nil {
		t.Fatal(err)
	}
	e.keys = apikey.NewStore(e.db.Pool, apikey.StoreConfig{Params: cheap, Hashing: apikey.NewHashing(4, 32, time.Second), MaxKeysPerUser: apikey.DefaultMaxKeysPerUser})
	if e.user, _, err = users.NewStore(e.db.Pool).Ensure(ctx, "ana@example.org"); err != nil {
		t.Fatal(err)
	}
	if e.token, _, err = e.keys.Create(ctx, e.user, apikey.NewKey{Name: "phone"}); err != nil {
		t.Fatal(err)
	}
	reg := obs.NewRegistry()
	pipe := ingest.New(js, kind.New(), e.cfg, ingest.Config{PartMaxBytes: partMax, MaxInFlight: 4, PublishTimeout: 5 * time.Second}, reg)
	e.verifier = apikey.NewVerifier(e.keys, apikey.VerifierConfig{TTL: time.Minute, StaleGrace: 10 * time.Minute,
		FailuresPerMinute: 100, TouchEvery: time.Second}, log, reg)
	rdb, prefix := testenv.Redis(t)
	limiter := ratelimit.New(log, rdb, prefix, rateLimit, time.Hour, reg)
	quota := ratelimit.NewQuota(log, rdb, prefix, quotaPerDay, reg)
	revoked := func(id string) error { e.verifier.Revoked(id); return nil }
	cfg := server.Config{MaxBodyBytes: maxBody, SpoolMemoryBytes: 4096, SpoolDir: t.TempDir(),
		HeaderTimeout: 5 * time.Second, BodyTimeout: time.Minute}
	for _, o := range opts {
		o(&cfg)
	}
	e.srv = server.New(log, cfg,
		server.Deps{Auth: e.verifier, Limiter: limiter, Quota: quota, Keys: e.keys, Ingest: pipe, Revoked: revoked,
			Ingestions: ingestions.NewStore(e.db.Pool), Query: query.NewStore(e.db.Pool), Priorities: summary.NewPriorities(e.db.Pool)},
		e.ready, reg, reg, []byte("openapi: 3.0.3\n"))
	return e
}

type reply struct {
	status int
	header http.Header
	body   map[string]any
}

func (e *edge) post(t *testing.T, body []byte, headers map[string]string) reply {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, "/v1/ingest", bytes.NewReader(body))
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := e.srv.App().Test(req, 30_000)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := reply{status: resp.StatusCode, header: resp.Header}
	if err := json.Unmarshal(raw, &r.body); err != nil {
		t.Fatalf("reply %d is not JSON: %q", resp.StatusCode, raw)
	}
	return r
}

func (e *edge) bearer() map[string]string {
	return map[string]string{"Authorization": "Bearer " + e.token}
}

// bearerWith is the key's header and extra ones.
func (e *edge) bearerWith(extra map[string]string) map[string]string {
	h := e.bearer()
	for k, v := range extra {
		h[k] = v
	}
	return h
}

func (e *edge) streamMsgs(t *testing.T) uint64 {
	t.Helper()
	s, err := e.js.Stream(context.Background(), e.cfg.Name)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Msgs
}

// lastManifest is the user's latest manifest, decoded and as stored.
func (e *edge) lastManifest(t *testing.T) (stream.Manifest, *jetstream.RawStreamMsg) {
	t.Helper()
	s, err := e.js.Stream(context.Background(), e.cfg.Name)
	if err != nil {
		t.Fatal(err)
	}
	last, err := s.GetLastMsgForSubject(context.Background(), e.cfg.ManifestSubject(e.user.String()))
	if err != nil {
		t.Fatal(err)
	}
	var m stream.Manifest
	if err := json.Unmarshal(last.Data, &m); err != nil {
		t.Fatal(err)
	}
	return m, last
}

func fixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestAuthentication(t *testing.T) {
	e := newEdge(t, 512<<10, 1<<20)
	revokedToken, revokedKey, err := e.keys.Create(context.Background(), e.user, apikey.NewKey{Name: "old"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.keys.Revoke(context.Background(), e.user, revokedKey.ID, false); err != nil {
		t.Fatal(err)
	}
	body := fixture(t, "heart-rate.json")
	tests := []struct {
		name    string
		headers map[string]string
		status  int
	}{
		{"bearer", map[string]string{"Authorization": "Bearer " + e.token}, 202},
		{"bearer scheme in any case", map[string]string{"Authorization": "bearer " + e.token}, 202},
		{"api-key header", map[string]string{"api-key": e.token}, 202},
		{"X-API-Key header", map[string]string{"X-API-Key": e.token}, 202},
		{"no key", nil, 401},
		{"basic scheme", map[string]string{"Authorization": "Basic " + e.token}, 401},
		{"bearer without key", map[string]string{"Authorization": "Bearer "}, 401},
		{"malformed key", map[string]string{"Authorization": "Bearer hx_nope"}, 401},
		{"wrong secret", map[string]string{"Authorization": "Bearer " + flipLast(e.token)}, 401},
		{"revoked key", map[string]string{"X-API-Key": revokedToken}, 401},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := e.post(t, body, tc.headers)
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %v", r.status, tc.status, r.body)
			}
			if tc.status == 401 {
				if !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer") {
					t.Errorf("401 without WWW-Authenticate: Bearer: %v", r.header)
				}
				if r.body["error"] != "unauthorized" || r.body["message"] == "" {
					t.Errorf("error body %v", r.body)
				}
			}
		})
	}
	// Keys, bodies and Authorization headers never reach the logs.
	logs := e.logBuf.String()
	for _, secret := range []string{e.token, revokedToken, "Ana’s Apple Watch", "Bearer"} {
		if strings.Contains(logs, secret) {
			t.Errorf("logs contain %q", secret)
		}
	}
}

func TestKeyStoreOutageIs503(t *testing.T) {
	e := newEdge(t, 512<<10, 1<<20)
	e.db.Pool.Close() // the real store, with its database gone
	r := e.post(t, fixture(t, "heart-rate.json"), e.bearer())
	if r.status != 503 || r.header.Get("Retry-After") == "" || r.body["error"] != "key_store_unavailable" {
		t.Fatalf("got %d %v %v, want 503 with Retry-After", r.status, r.header, r.body)
	}
}

func TestIngestReplies(t *testing.T) {
	e := newEdge(t, 512<<10, 1<<20)
	hr := fixture(t, "heart-rate.json")
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(hr)
	zw.Close()
	var bomb bytes.Buffer
	zw = gzip.NewWriter(&bomb)
	zw.Write(bytes.Repeat([]byte(" "), 3<<20)) // 3 MiB of spaces inflate past the 1 MiB limit
	zw.Close()

	first := e.post(t, hr, e.bearer())
	if first.status != 202 || first.body["duplicate"] != false || first.body["parts"].(float64) != 1 {
		t.Fatalf("first upload: %d %v", first.status, first.body)
	}
	if acc := first.body["accepted"].(map[string]any); acc["heart_rate"].(float64) != 5 {
		t.Fatalf("accepted %v", acc)
	}
	tests := []struct {
		name    string
		body    []byte
		headers map[string]string
		status  int
		code    string
		check   func(t *testing.T, r reply)
	}{
		{name: "exact resend is a duplicate", body: hr, status: 202, check: func(t *testing.T, r reply) {
			if r.body["duplicate"] != true || r.body["ingestion_id"] != first.body["ingestion_id"] {
				t.Errorf("resend: %v", r.body)
			}
		}},
		{name: "gzip of the same body is the same upload", body: gz.Bytes(), headers: map[string]string{"Content-Encoding": "gzip"}, status: 202, check: func(t *testing.T, r reply) {
			if r.body["ingestion_id"] != first.body["ingestion_id"] || r.body["duplicate"] != true {
				t.Errorf("gzip: %v", r.body)
			}
		}},
		{name: "gzip bomb", body: bomb.Bytes(), headers: map[string]string{"Content-Encoding": "gzip"}, status: 413, code: "body_too_large"},
		{name: "not gzip", body: hr, headers: map[string]string{"Content-Encoding": "gzip"}, status: 400, code: "invalid_gzip"},
		{name: "other encoding", body: hr, headers: map[string]string{"Content-Encoding": "br"}, status: 415, code: "unsupported_encoding"},
		{name: "too large", body: bytes.Repeat([]byte(" "), 1<<20+1), status: 413, code: "body_too_large"},
		{name: "empty", body: nil, status: 400, code: "empty_body"},
		{name: "malformed", body: []byte("{\"data\": {\"metrics\": [{\"name\": \"heart_rate\",\n \"data\": [}"), status: 400, code: "malformed_json", check: func(t *testing.T, r reply) {
			if msg := r.body["message"].(string); !strings.Contains(msg, "line 2, column 11") {
				t.Errorf("message does not say where: %q", msg)
			}
		}},
		{name: "no data object", body: []byte(`{"metrics": []}`), status: 400, code: "no_data"},
		{name: "data not an object", body: []byte(`{"data": []}`), status: 400, code: "no_data"},
		{name: "empty upload is a manifest alone", body: []byte(`{"data": {"metrics": [], "workouts": []}}`), status: 202, check: func(t *testing.T, r reply) {
			if r.body["parts"].(float64) != 0 {
				t.Errorf("parts %v", r.body)
			}
		}},
		{name: "rejections are counted with pointers", body: []byte(`{"data": {"metrics": [{"name": "heart_rate", "data": [{"date": "2025-03-01 08:00:00 -0800", "Avg": 400}, {"date": "2025-03-01 08:01:00 -0800", "Avg": 70}]}, {"type": "Mystery"}]}}`), status: 202, check: func(t *testing.T, r reply) {
			errs := r.body["errors"].([]any)
			if r.body["rejected"].(float64) != 2 || len(errs) != 2 || errs[0].(map[string]any)["pointer"] != "/data/metrics/0/data/0" {
				t.Errorf("rejections: %v", r.body)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := e.post(t, tc.body, e.bearerWith(tc.headers))
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %v", r.status, tc.status, r.body)
			}
			if tc.code != "" && r.body["error"] != tc.code {
				t.Errorf("error code %v, want %s (%v)", r.body["error"], tc.code, r.body)
			}
			if tc.check != nil {
				tc.check(t, r)
			}
		})
	}
}

// 8 MiB of "[" (8 KB gzipped) ended the edge with a stack overflow in the
// JSON validator: it is refused with 400 before any recursive code runs,
// and the edge goes on serving.
func TestDeepBodyRefused(t *testing.T) {
	e := newEdge(t, 512<<10, 16<<20)
	deep := bytes.Repeat([]byte("["), 8<<20)
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(deep)
	zw.Close()
	tests := []struct {
		name    string
		body    []byte
		headers map[string]string
	}{
		{"plain", deep, nil},
		{"gzip", gz.Bytes(), map[string]string{"Content-Encoding": "gzip"}},
		{"deep inside a metric", []byte(`{"data":{"metrics":[{"name":"heart_rate","data":[` + strings.Repeat("[", 65) + strings.Repeat("]", 65) + `]}]}}`), nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := e.post(t, tc.body, e.bearerWith(tc.headers))
			if r.status != 400 || r.body["error"] != "too_deep" || !strings.Contains(r.body["message"].(string), "more than 64 deep") {
				t.Fatalf("status %d: %v", r.status, r.body)
			}
		})
	}
	if r := e.post(t, fixture(t, "heart-rate.json"), e.bearer()); r.status != 202 {
		t.Fatalf("the edge after deep bodies: %d %v", r.status, r.body)
	}
}

// A body found broken anywhere, even at its last byte, leaves nothing in
// the stream: parts are cut only from a complete, well-formed body.
func TestBrokenBodyPublishesNothing(t *testing.T) {
	e := newEdge(t, 1024, 8<<20)
	var b strings.Builder
	b.WriteString(`{"data": {"metrics": [{"name": "heart_rate", "data": [`)
	for i := range 5000 {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `{"date": "2025-03-01 08:%02d:%02d -0800", "Avg": 70}`, i/60%60, i%60)
	}
	b.WriteString(`]}]}`) // one closing brace short
	before := e.streamMsgs(t)
	r := e.post(t, []byte(b.String()), e.bearer())
	if r.status != 400 {
		t.Fatalf("status %d: %v", r.status, r.body)
	}
	if after := e.streamMsgs(t); after != before {
		t.Fatalf("stream grew from %d to %d messages for a broken body", before, after)
	}
}

func TestPartsAndManifest(t *testing.T) {
	e := newEdge(t, 1024, 8<<20)
	var b strings.Builder
	b.WriteString(`{"data": {"metrics": [{"name": "heart_rate", "units": "count/min", "data": [`)
	for i := range 200 {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `{"date": "2025-03-01 08:%02d:00 -0800", "Min": 60, "Avg": 70, "Max": 80}`, i%60)
	}
	b.WriteString(`]}, {"name": "step_count", "data": [{"date": "2025-03-01 08:00:00 -0800", "qty": 12}]}]}}`)
	r := e.post(t, []byte(b.String()), map[string]string{"Authorization": "Bearer " + e.token, "automation-name": "Nightly", "session-id": "s-1"})
	if r.status != 202 {
		t.Fatalf("status %d: %v", r.status, r.body)
	}
	parts := int(r.body["parts"].(float64))
	if parts < 10 {
		t.Fatalf("a 1 KiB part limit gave only %d parts", parts)
	}
	if got := e.streamMsgs(t); got != uint64(parts+1) {
		t.Fatalf("stream holds %d messages, want %d parts and a manifest", got, parts+1)
	}
	s, _ := e.js.Stream(context.Background(), e.cfg.Name)
	m, last := e.lastManifest(t)
	id := r.body["ingestion_id"].(string)
	if len(m.Parts) != parts || m.Accepted["heart_rate"] != 200 || m.Accepted["quantity"] != 1 || m.Headers["automation-name"] != "Nightly" || m.Headers["session-id"] != "s-1" {
		t.Fatalf("manifest %+v", m)
	}
	next := 0
	for _, p := range m.Parts {
		if p.Bytes > 1024 || p.Seq == 0 || !strings.HasPrefix(p.ID, id+":") {
			t.Errorf("part %+v", p)
		}
		// Each part travels s2-compressed and decodes to its JSON.
		msg, err := s.GetMsg(context.Background(), p.Seq)
		if err != nil {
			t.Fatal(err)
		}
		payload, err := stream.PartPayload(msg.Header, msg.Data)
		if msg.Header.Get(stream.HeaderEncoding) != "s2" || err != nil || len(payload) != p.Bytes || !json.Valid(payload) {
			t.Errorf("part %s: encoding %q, %d bytes decoded (err %v), manifest says %d", p.ID, msg.Header.Get(stream.HeaderEncoding), len(payload), err, p.Bytes)
		}
		if p.Kind == "heart_rate" {
			want := fmt.Sprintf("%s:heart_rate:%d-%d", id, next, next+p.Items-1)
			if p.ID != want {
				t.Errorf("part id %s, want %s", p.ID, want)
			}
			next += p.Items
		}
	}
	if next != 200 {
		t.Errorf("heart_rate parts cover %d items, want 200", next)
	}
	if last.Header.Get(stream.HeaderIngestionID) != id || last.Header.Get(stream.HeaderUserID) != e.user.String() {
		t.Errorf("manifest headers %v", last.Header)
	}
}

func (e *edge) do(t *testing.T, method, path, token string, body []byte) reply {
	t.Helper()
	req := httptest.NewRequest(method, path, bytes.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := e.srv.App().Test(req, 30_000)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := reply{status: resp.StatusCode, header: resp.Header}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &r.body); err != nil {
			t.Fatalf("%s %s: %d %q is not JSON", method, path, resp.StatusCode, raw)
		}
	}
	return r
}

// key makes a key for the edge's user with the given scopes.
func (e *edge) key(t *testing.T, name string, scopes ...string) (string, apikey.Key) {
	t.Helper()
	tok, k, err := e.keys.Create(context.Background(), e.user, apikey.NewKey{Name: name, Scopes: scopes})
	if err != nil {
		t.Fatal(err)
	}
	return tok, k
}

// Users manage their own keys, and only their own, with a key that has
// the keys scope; the phone's ingest key cannot.
func TestKeyManagement(t *testing.T) {
	e := newEdge(t, 512<<10, 1<<20)
	ctx := context.Background()
	other, _, _ := users.NewStore(e.db.Pool).Ensure(ctx, "bo@example.org")
	otherToken, otherKey, err := e.keys.Create(ctx, other, apikey.NewKey{Name: "bo's phone"})
	if err != nil {
		t.Fatal(err)
	}
	manager, managerKey := e.key(t, "laptop", "ingest,keys")

	for _, c := range []struct{ method, path, body string }{
		{"POST", "/v1/keys", `{"name": "minted"}`}, {"GET", "/v1/keys", ""}, {"DELETE", "/v1/keys/" + managerKey.ID, ""},
	} {
		if r := e.do(t, c.method, c.path, e.token, []byte(c.body)); r.status != 403 || !strings.Contains(fmt.Sprint(r.body["message"]), `"keys"`) {
			t.Errorf("%s %s with the phone's ingest key: %d %v, want 403 naming the keys scope", c.method, c.path, r.status, r.body)
		}
	}

	created := e.do(t, "POST", "/v1/keys", manager, []byte(`{"name": "watch"}`))
	if created.status != 201 || created.body["name"] != "watch" || !strings.HasPrefix(created.body["key"].(string), "hx_") || created.body["created_by"] != managerKey.ID {
		t.Fatalf("create: %d %v", created.status, created.body)
	}
	newToken, newID := created.body["key"].(string), created.body["id"].(string)
	if r := e.post(t, []byte(`{"data":{}}`), map[string]string{"X-API-Key": newToken}); r.status != 202 {
		t.Fatalf("the new key: %d %v", r.status, r.body)
	}

	listed := e.do(t, "GET", "/v1/keys", manager, nil)
	keys := listed.body["keys"].([]any)
	if listed.status != 200 || len(keys) != 3 {
		t.Fatalf("list: %d %v", listed.status, listed.body)
	}
	for _, k := range keys {
		m := k.(map[string]any)
		if len(m) != 7 || m["id"] == otherKey.ID {
			t.Errorf("listed key %v: want exactly id, name, created_at, last_used_at, revoked_at, scopes, created_by of the caller's keys", m)
		}
		if m["id"] == newID && (fmt.Sprint(m["scopes"]) != "[ingest]" || m["created_by"] != managerKey.ID) {
			t.Errorf("listed new key %v", m)
		}
	}

	if r := e.do(t, "DELETE", "/v1/keys/"+otherKey.ID, manager, nil); r.status != 404 {
		t.Fatalf("revoking another user's key: %d %v", r.status, r.body)
	}
	if r := e.post(t, []byte(`{"data":{}}`), map[string]string{"X-API-Key": otherToken}); r.status != 202 {
		t.Fatalf("the other user's key after a foreign revoke: %d", r.status)
	}
	if r := e.do(t, "DELETE", "/v1/keys/"+newID, manager, nil); r.status != 204 {
		t.Fatalf("revoke: %d %v", r.status, r.body)
	}
	// Cached a moment ago, refused at once after the revocation.
	if r := e.post(t, []byte(`{"data":{}}`), map[string]string{"X-API-Key": newToken}); r.status != 401 {
		t.Fatalf("a revoked key: %d", r.status)
	}
	if r := e.do(t, "GET", "/v1/keys", "", nil); r.status != 401 {
		t.Fatalf("listing without a key: %d", r.status)
	}
	for _, c := range []struct {
		body string
		code string
	}{
		{`{"name": "phone\u001b[2J"}`, "invalid_name"},
		{`{"name": "` + strings.Repeat("n", 101) + `"}`, "invalid_name"},
	} {
		if r := e.do(t, "POST", "/v1/keys", manager, []byte(c.body)); r.status != 400 || r.body["error"] != c.code {
			t.Errorf("POST /v1/keys %.40s: %d %v, want 400 %s", c.body, r.status, r.body, c.code)
		}
	}
}

// A key cannot multiply itself: the user's keys are capped (20 by
// default), and revoking a key revokes every key made from it, at once on
// this edge.
func TestKeysCannotMultiply(t *testing.T) {
	e := newEdge(t, 512<<10, 1<<20)
	stolen, stolenKey := e.key(t, "laptop", "ingest,keys") // the phone's key and this one
	made := []string{}
	minter := stolen
	for i := range apikey.DefaultMaxKeysPerUser - 2 {
		r := e.do(t, "POST", "/v1/keys", minter, []byte(`{"name": "minted", "scopes": ["ingest", "keys"]}`))
		if r.status != 201 {
			t.Fatalf("key %d: %d %v", i+1, r.status, r.body)
		}
		made = append(made, r.body["key"].(string))
		if i < 3 {
			minter = r.body["key"].(string) // a chain: each made by the one before
		}
	}
	r := e.do(t, "POST", "/v1/keys", minter, []byte(`{"name": "one too many"}`))
	if r.status != 409 || r.body["error"] != "too_many_keys" || !strings.Contains(fmt.Sprint(r.body["message"]), "revoke") {
		t.Fatalf("key %d: %d %v, want 409 too_many_keys", apikey.DefaultMaxKeysPerUser+1, r.status, r.body)
	}
	for _, tok := range append([]string{stolen}, made...) { // all cached now
		if r := e.post(t, []byte(`{"data":{}}`), map[string]string{"X-API-Key": tok}); r.status != 202 {
			t.Fatalf("before the revocation: %d", r.status)
		}
	}
	if r := e.do(t, "DELETE", "/v1/keys/"+stolenKey.ID, e.token, nil); r.status != 403 {
		t.Fatalf("the phone's key revoking: %d, want 403", r.status)
	}
	if _, err := e.keys.Revoke(context.Background(), e.user, stolenKey.ID, false); err != nil { // make room for the owner's key
		t.Fatal(err)
	}
	owner, _ := e.key(t, "owner's", "keys")
	if r := e.do(t, "DELETE", "/v1/keys/"+stolenKey.ID, owner, nil); r.status != 204 {
		t.Fatalf("revoke: %d %v", r.status, r.body)
	}
	for i, tok := range append([]string{stolen}, made...) {
		if r := e.post(t, []byte(`{"data":{}}`), map[string]string{"X-API-Key": tok}); r.status != 401 {
			t.Errorf("key %d after revoking the key it came from: %d, want 401", i, r.status)
		}
	}
	if r := e.post(t, []byte(`{"data":{}}`), e.bearer()); r.status != 202 {
		t.Errorf("the phone's key, not made from the revoked one: %d", r.status)
	}
	// ?cascade=false revokes the one key only.
	parent, parentKey := e.key(t, "parent", "ingest,keys")
	child := e.do(t, "POST", "/v1/keys", parent, []byte(`{"name": "child"}`)).body["key"].(string)
	if r := e.do(t, "DELETE", "/v1/keys/"+parentKey.ID+"?cascade=false", owner, nil); r.status != 204 {
		t.Fatalf("revoke without cascade: %d", r.status)
	}
	if r := e.post(t, []byte(`{"data":{}}`), map[string]string{"X-API-Key": child}); r.status != 202 {
		t.Errorf("child after cascade=false: %d, want 202", r.status)
	}
}

// Every authenticated response carries the limit; past it, 429 with
// Retry-After; unauthenticated requests do not count.
func TestRateLimit(t *testing.T) {
	e := newEdgeLimited(t, 512<<10, 1<<20, 3)
	for range 3 {
		if r := e.post(t, []byte(`{}`), map[string]string{"Authorization": "Bearer hx_bad"}); r.status != 401 {
			t.Fatalf("bad key: %d", r.status)
		}
	}
	for i := range 3 {
		r := e.post(t, []byte(`{"data":{}}`), e.bearer())
		if r.status != 202 || r.header.Get("X-RateLimit-Limit") != "3" || r.header.Get("X-RateLimit-Remaining") != fmt.Sprint(2-i) || r.header.Get("X-RateLimit-Reset") == "" {
			t.Fatalf("request %d: %d %v", i+1, r.status, r.header)
		}
	}
	r := e.post(t, []byte(`{"data":{}}`), e.bearer())
	if r.status != 429 || r.body["error"] != "rate_limited" {
		t.Fatalf("fourth request: %d %v", r.status, r.body)
	}
	if ra := r.header.Get("Retry-After"); ra != "1200" {
		t.Errorf("Retry-After %q, want 1200 (an hour / 3)", ra)
	}
}

// TestQuotaPerUser: past its user's bytes for the day an upload gets 429
// quota_exceeded with Retry-After, and nothing of it reaches the stream;
// every key of the user shares the quota, another user has their own.
func TestQuotaPerUser(t *testing.T) {
	body := fixture(t, "heart-rate.json")
	e := newEdgeQuota(t, 512<<10, 1<<20, 1000, int64(2*len(body)+len(body)/2))
	ctx := context.Background()
	second, _, err := e.keys.Create(ctx, e.user, apikey.NewKey{Name: "tablet"})
	if err != nil {
		t.Fatal(err)
	}
	bo, _, err := users.NewStore(e.db.Pool).Ensure(ctx, "bo@example.org")
	if err != nil {
		t.Fatal(err)
	}
	boKey, _, err := e.keys.Create(ctx, bo, apikey.NewKey{Name: "phone"})
	if err != nil {
		t.Fatal(err)
	}
	bearer := func(token string) map[string]string { return map[string]string{"Authorization": "Bearer " + token} }
	for i, token := range []string{e.token, second} {
		if r := e.post(t, body, bearer(token)); r.status != 202 {
			t.Fatalf("upload %d: %d %v", i+1, r.status, r.body)
		}
	}
	before := e.streamMsgs(t)
	r := e.post(t, body, bearer(second))
	if r.status != 429 || r.body["error"] != "quota_exceeded" || !strings.Contains(fmt.Sprint(r.body["message"]), "QUOTA_BYTES_PER_DAY") {
		t.Fatalf("third upload: %d %v, want 429 quota_exceeded", r.status, r.body)
	}
	if ra, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || ra < 1 || ra > 24*3600 {
		t.Errorf("Retry-After %q, want the seconds until midnight UTC", r.header.Get("Retry-After"))
	}
	if after := e.streamMsgs(t); after != before {
		t.Errorf("the refused upload published %d messages", after-before)
	}
	if r := e.post(t, body, bearer(boKey)); r.status != 202 {
		t.Fatalf("another user's upload: %d %v", r.status, r.body)
	}
}

// flipLast changes a token's last character, always to a different one.
func flipLast(token string) string {
	last := byte('x')
	if token[len(token)-1] == last {
		last = 'y'
	}
	return token[:len(token)-1] + string(last)
}

// A body refused before a handler read it is still on the connection:
// the edge must close it, or the body's bytes become the next request.
func TestUnreadBodyClosesTheConnection(t *testing.T) {
	e := newEdge(t, 512<<10, 1<<20)
	body := bytes.Repeat([]byte("x"), 64<<10)
	tests := []struct {
		name, method, path string
		body               []byte
		headers            map[string]string
		status             int
		wantClose          bool
	}{
		{"no route", http.MethodPost, "/api/v1/ingest", body, nil, 404, true},
		{"no key", http.MethodPost, "/v1/ingest", body, nil, 401, true},
		{"wrong key", http.MethodPost, "/v1/ingest", body, map[string]string{"Authorization": "Bearer hx_nope"}, 401, true},
		{"no body", http.MethodGet, "/livez", nil, nil, 200, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(tc.method, tc.path, bytes.NewReader(tc.body))
			for k, v := range tc.headers {
				req.Header.Set(k, v)
			}
			resp, err := e.srv.App().Test(req, 30_000)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.status || resp.Close != tc.wantClose {
				t.Fatalf("status %d, connection close %v; want %d, %v", resp.StatusCode, resp.Close, tc.status, tc.wantClose)
			}
		})
	}
}
