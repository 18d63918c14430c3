package apikey_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/healthexport/libs/apikey"
	"github.com/healthexport/libs/testenv"
	"github.com/healthexport/libs/users"
)

type storeEnv struct {
	ctx   context.Context
	pool  *pgxpool.Pool
	keys  *apikey.Store
	users *users.Store
}

func newStoreEnv(t *testing.T) storeEnv {
	t.Helper()
	db := testenv.NewDatabase(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return storeEnv{ctx: ctx, pool: db.Pool, keys: apikey.NewStore(db.Pool, apikey.StoreConfig{Params: cheap}), users: users.NewStore(db.Pool)}
}

func (e storeEnv) user(t *testing.T, email string) uuid.UUID {
	t.Helper()
	id, _, err := e.users.Ensure(e.ctx, email)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func (e storeEnv) create(t *testing.T, user uuid.UUID, name string) (string, apikey.Key) {
	t.Helper()
	token, key, err := e.keys.Create(e.ctx, user, apikey.NewKey{Name: name})
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	return token, key
}

// revoke revokes one key alone and reports whether the user had it.
func (e storeEnv) revoke(user uuid.UUID, id string) (bool, error) {
	ids, err := e.keys.Revoke(e.ctx, user, id, false)
	return len(ids) > 0, err
}

func TestStore(t *testing.T) {
	e := newStoreEnv(t)
	ana := e.user(t, "ana@example.org")
	before := time.Now()
	token, key := e.create(t, ana, "phone")

	m := tokenRE.FindStringSubmatch(token)
	if m == nil {
		t.Fatalf("token %q is not hx_<16 base62>_<44 base62>", token)
	}
	if key.ID != m[1] || key.Name != "phone" || key.LastUsedAt != nil || key.RevokedAt != nil {
		t.Errorf("Create returned %+v", key)
	}
	if key.CreatedAt.IsZero() || key.CreatedAt.Before(before.Add(-time.Minute)) || key.CreatedAt.After(time.Now().Add(time.Minute)) {
		t.Errorf("created_at %v", key.CreatedAt)
	}

	t.Run("authenticate", func(t *testing.T) {
		p, err := e.keys.Authenticate(e.ctx, token)
		if err != nil {
			t.Fatal(err)
		}
		if p != (apikey.Principal{UserID: ana, KeyID: key.ID, Scopes: apikey.ScopeIngest}) {
			t.Errorf("Principal = %+v, want user %s key %s scopes ingest", p, ana, key.ID)
		}
	})

	t.Run("unauthorized", func(t *testing.T) {
		otherSecret := strings.Repeat("A", 44)
		for name, tok := range map[string]string{
			"wrong secret":      "hx_" + key.ID + "_" + otherSecret,
			"secret off by one": token[:len(token)-1] + flip(token[len(token)-1]),
			"unknown id":        "hx_" + strings.Repeat("Z", 16) + "_" + m[2],
			"malformed":         "hx_" + key.ID + "_" + m[2] + "!",
			"empty":             "",
			"id only":           "hx_" + key.ID,
			"whitespace":        token + " ",
			"lower-cased id":    "hx_" + strings.ToLower(key.ID) + "_" + m[2],
		} {
			if tok == token {
				t.Fatalf("%s: fixture equals the real token", name)
			}
			p, err := e.keys.Authenticate(e.ctx, tok)
			if !errors.Is(err, apikey.ErrUnauthorized) {
				t.Errorf("%s: Authenticate = %+v, %v; want ErrUnauthorized", name, p, err)
			}
			if p != (apikey.Principal{}) {
				t.Errorf("%s: Principal %+v on failure", name, p)
			}
		}
	})

	t.Run("only the hash is stored", func(t *testing.T) {
		var id, hash string
		if err := e.pool.QueryRow(e.ctx, `SELECT id, secret_hash FROM api_keys WHERE id = $1`, key.ID).Scan(&id, &hash); err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(hash, "$argon2id$v=19$m=64,t=1,p=1$") {
			t.Errorf("secret_hash %q is not the PHC string", hash)
		}
		if strings.Contains(hash, m[2]) || strings.Contains(hash, token) {
			t.Errorf("secret_hash %q contains the secret", hash)
		}
		// No column holds the secret or the token.
		var leaked int
		if err := e.pool.QueryRow(e.ctx,
			`SELECT count(*) FROM api_keys k WHERE strpos(k::text, $1) > 0 OR strpos(k::text, $2) > 0`, m[2], token).Scan(&leaked); err != nil {
			t.Fatal(err)
		}
		if leaked != 0 {
			t.Errorf("%d rows of api_keys contain the secret", leaked)
		}
		if ok, _, err := apikey.Verify(m[2], hash, cheap); !ok || err != nil {
			t.Errorf("stored hash does not verify the secret: %v, %v", ok, err)
		}
	})
}

func flip(c byte) string {
	if c == 'a' {
		return "b"
	}
	return "a"
}

func TestStoreListAndRevoke(t *testing.T) {
	e := newStoreEnv(t)
	ana := e.user(t, "ana@example.org")
	bob := e.user(t, "bob@example.org")
	anaToken1, anaKey1 := e.create(t, ana, "phone")
	anaToken2, anaKey2 := e.create(t, ana, "")
	bobToken, bobKey := e.create(t, bob, "watch")

	keys, err := e.keys.List(e.ctx, ana)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, k := range keys {
		ids = append(ids, k.ID)
	}
	if !slices.Equal(ids, []string{anaKey2.ID, anaKey1.ID}) {
		t.Errorf("List(ana) = %v, want newest first [%s %s]", ids, anaKey2.ID, anaKey1.ID)
	}
	if keys[1].Name != "phone" || keys[0].Name != "" || !keys[1].CreatedAt.Equal(anaKey1.CreatedAt) {
		t.Errorf("List(ana) = %+v", keys)
	}

	// The JSON of a key has exactly these fields: never a hash.
	b, err := json.Marshal(keys[1])
	if err != nil {
		t.Fatal(err)
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(b, &fields); err != nil {
		t.Fatal(err)
	}
	var names []string
	for k := range fields {
		names = append(names, k)
	}
	slices.Sort(names)
	if want := []string{"created_at", "created_by", "id", "last_used_at", "name", "revoked_at", "scopes"}; !slices.Equal(names, want) {
		t.Errorf("Key JSON fields %v, want %v (%s)", names, want, b)
	}
	if string(fields["revoked_at"]) != "null" || string(fields["last_used_at"]) != "null" || string(fields["scopes"]) != `["ingest"]` || string(fields["created_by"]) != "null" {
		t.Errorf("Key JSON %s", b)
	}
	if strings.Contains(string(b), "argon2") {
		t.Errorf("Key JSON %s holds the hash", b)
	}

	// Ana cannot revoke Bob's key, nor see it.
	ok, err := e.revoke(ana, bobKey.ID)
	if err != nil || ok {
		t.Errorf("Revoke(ana, bob's key) = %v, %v; want false", ok, err)
	}
	if p, err := e.keys.Authenticate(e.ctx, bobToken); err != nil || p.UserID != bob {
		t.Errorf("bob's key after ana tried to revoke it: %+v, %v", p, err)
	}
	bobKeys, err := e.keys.List(e.ctx, bob)
	if err != nil || len(bobKeys) != 1 || bobKeys[0].RevokedAt != nil {
		t.Errorf("List(bob) = %+v, %v", bobKeys, err)
	}

	// Unknown key.
	if ok, err := e.revoke(ana, strings.Repeat("Q", 16)); err != nil || ok {
		t.Errorf("Revoke(unknown) = %v, %v", ok, err)
	}

	// Ana revokes her first key: it stops working, the other does not.
	ok, err = e.revoke(ana, anaKey1.ID)
	if err != nil || !ok {
		t.Fatalf("Revoke(ana, own key) = %v, %v", ok, err)
	}
	if p, err := e.keys.Authenticate(e.ctx, anaToken1); !errors.Is(err, apikey.ErrUnauthorized) {
		t.Errorf("revoked key: Authenticate = %+v, %v; want ErrUnauthorized", p, err)
	}
	if p, err := e.keys.Authenticate(e.ctx, anaToken2); err != nil || p.KeyID != anaKey2.ID {
		t.Errorf("other key after revoking one: %+v, %v", p, err)
	}
	keys, err = e.keys.List(e.ctx, ana)
	if err != nil {
		t.Fatal(err)
	}
	revokedAt := keys[1].RevokedAt
	if keys[1].ID != anaKey1.ID || revokedAt == nil || keys[0].RevokedAt != nil {
		t.Fatalf("List after revoke = %+v", keys)
	}

	// Revoking again succeeds and keeps the first time.
	time.Sleep(10 * time.Millisecond)
	if ok, err := e.revoke(ana, anaKey1.ID); err != nil || !ok {
		t.Errorf("second Revoke = %v, %v", ok, err)
	}
	keys, _ = e.keys.List(e.ctx, ana)
	if keys[1].RevokedAt == nil || !keys[1].RevokedAt.Equal(*revokedAt) {
		t.Errorf("revoked_at moved from %v to %v", revokedAt, keys[1].RevokedAt)
	}

	// A user without keys lists none (an empty list, not an error).
	carol := e.user(t, "carol@example.org")
	if keys, err := e.keys.List(e.ctx, carol); err != nil || len(keys) != 0 {
		t.Errorf("List(carol) = %+v, %v", keys, err)
	}
}

func TestStoreCreateUnknownUser(t *testing.T) {
	e := newStoreEnv(t)
	if token, _, err := e.keys.Create(e.ctx, uuid.New(), apikey.NewKey{Name: "x"}); err == nil {
		t.Errorf("Create for a user that does not exist = %q, want an error", token)
	}
}

// TestStoreCorruptHash: a stored hash that cannot be read is an error of
// the key store, never a panic and never a successful authentication.
func TestStoreCorruptHash(t *testing.T) {
	e := newStoreEnv(t)
	ana := e.user(t, "ana@example.org")
	token, key := e.create(t, ana, "phone")
	for _, bad := range []string{
		"",
		"$argon2id$v=19$m=64,t=0,p=1$c29tZXNhbHQ$ZVrRXqxlLcWfcXCnMyv0m4Rpvh/bnCi7",
		"$argon2id$v=19$m=64,t=1,p=0$c29tZXNhbHQ$ZVrRXqxlLcWfcXCnMyv0m4Rpvh/bnCi7",
	} {
		if _, err := e.pool.Exec(e.ctx, `UPDATE api_keys SET secret_hash = $1 WHERE id = $2`, bad, key.ID); err != nil {
			t.Fatal(err)
		}
		func() {
			defer func() {
				if r := recover(); r != nil {
					t.Errorf("hash %q: Authenticate panicked: %v", bad, r)
				}
			}()
			p, err := e.keys.Authenticate(e.ctx, token)
			if err == nil {
				t.Errorf("hash %q: Authenticate = %+v, want an error", bad, p)
			}
		}()
	}
}

// TestStoreDefaultParams: a key made with the production parameters
// authenticates (one real Argon2id run each way).
func TestStoreDefaultParams(t *testing.T) {
	e := newStoreEnv(t)
	ana := e.user(t, "ana@example.org")
	store := apikey.NewStore(e.pool, apikey.StoreConfig{})
	token, key, err := store.Create(e.ctx, ana, apikey.NewKey{Name: "default"})
	if err != nil {
		t.Fatal(err)
	}
	var hash string
	if err := e.pool.QueryRow(e.ctx, `SELECT secret_hash FROM api_keys WHERE id = $1`, key.ID).Scan(&hash); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(hash, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Errorf("secret_hash %q", hash)
	}
	if p, err := store.Authenticate(e.ctx, token); err != nil || p.KeyID != key.ID || p.UserID != ana {
		t.Errorf("Authenticate = %+v, %v", p, err)
	}
	// A store with cheaper parameters still reads it.
	if p, err := e.keys.Authenticate(e.ctx, token); err != nil || p.KeyID != key.ID {
		t.Errorf("cheap store: Authenticate = %+v, %v", p, err)
	}
}

// TestStoreUnavailable: with the database gone, Authenticate reports an
// error that is not ErrUnauthorized (the edge answers 503, not 401).
func TestStoreUnavailable(t *testing.T) {
	e := newStoreEnv(t)
	ana := e.user(t, "ana@example.org")
	token, _ := e.create(t, ana, "phone")
	e.pool.Close()
	_, err := e.keys.Authenticate(e.ctx, token)
	if err == nil || errors.Is(err, apikey.ErrUnauthorized) {
		t.Errorf("Authenticate with the pool closed = %v, want an error other than ErrUnauthorized", err)
	}
	// A malformed token needs no database: still 401.
	if _, err := e.keys.Authenticate(e.ctx, "nope"); !errors.Is(err, apikey.ErrUnauthorized) {
		t.Errorf("malformed token with the pool closed = %v", err)
	}
}
