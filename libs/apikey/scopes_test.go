package apikey_test

import (
	"errors"
	"slices"
	"testing"

	"github.com/healthexport/libs/apikey"
)

func TestParseScopes(t *testing.T) {
	for _, c := range []struct {
		in   []string
		want apikey.Scopes
	}{
		{nil, apikey.ScopeIngest},
		{[]string{""}, apikey.ScopeIngest},
		{[]string{"ingest"}, apikey.ScopeIngest},
		{[]string{"read"}, apikey.ScopeRead},
		{[]string{"read,ingest"}, apikey.ScopeRead | apikey.ScopeIngest},
		{[]string{"read", "ingest"}, apikey.ScopeRead | apikey.ScopeIngest},
		{[]string{" Read , INGEST ,"}, apikey.ScopeRead | apikey.ScopeIngest},
		{[]string{"read", "read"}, apikey.ScopeRead},
	} {
		got, err := apikey.ParseScopes(c.in...)
		if err != nil || got != c.want {
			t.Errorf("ParseScopes(%q) = %v, %v; want %v", c.in, got, err, c.want)
		}
	}
	for _, bad := range [][]string{{"write"}, {"read,admin"}, {"reads"}} {
		if got, err := apikey.ParseScopes(bad...); !errors.Is(err, apikey.ErrInvalidScope) {
			t.Errorf("ParseScopes(%q) = %v, %v; want ErrInvalidScope", bad, got, err)
		}
	}
	both := apikey.ScopeRead | apikey.ScopeIngest
	if !slices.Equal(both.Names(), []string{"ingest", "read"}) || both.String() != "ingest,read" {
		t.Errorf("Names = %v, String = %q", both.Names(), both.String())
	}
	if !both.Has(apikey.ScopeRead) || apikey.ScopeIngest.Has(apikey.ScopeRead) || !apikey.ScopeIngest.Has(0) {
		t.Error("Has")
	}
}

// TestStoreScopes: scopes are stored, listed and carried by the principal;
// keys without scopes, including those made before scopes existed, ingest.
func TestStoreScopes(t *testing.T) {
	e := newStoreEnv(t)
	ana := e.user(t, "ana@example.org")
	phone, phoneKey := e.create(t, ana, "phone")
	reader, readerKey, err := e.keys.Create(e.ctx, ana, apikey.NewKey{Name: "laptop", Scopes: []string{"read,ingest"}})
	if err != nil {
		t.Fatal(err)
	}
	readOnly, _, err := e.keys.Create(e.ctx, ana, apikey.NewKey{Name: "script", Scopes: []string{"read"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.keys.Create(e.ctx, ana, apikey.NewKey{Name: "bad", Scopes: []string{"read,admin"}}); !errors.Is(err, apikey.ErrInvalidScope) {
		t.Errorf("Create with an unknown scope = %v, want ErrInvalidScope", err)
	}
	if !slices.Equal(phoneKey.Scopes, []string{"ingest"}) || !slices.Equal(readerKey.Scopes, []string{"ingest", "read"}) {
		t.Errorf("Create scopes: %v, %v", phoneKey.Scopes, readerKey.Scopes)
	}
	for tok, want := range map[string]apikey.Scopes{
		phone:    apikey.ScopeIngest,
		reader:   apikey.ScopeIngest | apikey.ScopeRead,
		readOnly: apikey.ScopeRead,
	} {
		p, err := e.keys.Authenticate(e.ctx, tok)
		if err != nil || p.Scopes != want {
			t.Errorf("Authenticate: %+v, %v; want scopes %v", p, err, want)
		}
	}
	// A key stored the way keys were before migration 000004 added scopes.
	if _, err := e.pool.Exec(e.ctx, `INSERT INTO api_keys (id, user_id, name, secret_hash)
		SELECT 'OLDKEY0000000000', user_id, 'old', secret_hash FROM api_keys WHERE id = $1`, phoneKey.ID); err != nil {
		t.Fatal(err)
	}
	keys, err := e.keys.List(e.ctx, ana)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]string{}
	for _, k := range keys {
		got[k.Name] = k.Scopes
	}
	for name, want := range map[string][]string{"phone": {"ingest"}, "laptop": {"ingest", "read"}, "script": {"read"}, "old": {"ingest"}} {
		if !slices.Equal(got[name], want) {
			t.Errorf("List: %s has scopes %v, want %v", name, got[name], want)
		}
	}
	// The database refuses scopes that do not exist, and no scopes at all.
	for _, bad := range []string{`{admin}`, `{}`} {
		if _, err := e.pool.Exec(e.ctx, `UPDATE api_keys SET scopes = $1 WHERE id = $2`, bad, phoneKey.ID); err == nil {
			t.Errorf("scopes %s stored", bad)
		}
	}
}

func TestStoreRevokeAll(t *testing.T) {
	e := newStoreEnv(t)
	ana, bob := e.user(t, "ana@example.org"), e.user(t, "bob@example.org")
	a1, k1 := e.create(t, ana, "phone")
	_, k2 := e.create(t, ana, "watch")
	b1, _ := e.create(t, bob, "phone")
	if ok, err := e.revoke(ana, k2.ID); !ok || err != nil {
		t.Fatal(ok, err)
	}
	ids, err := e.keys.RevokeAll(e.ctx, ana)
	if err != nil || !slices.Equal(ids, []string{k1.ID}) {
		t.Errorf("RevokeAll = %v, %v; want only the key not yet revoked, %s", ids, err, k1.ID)
	}
	if _, err := e.keys.Authenticate(e.ctx, a1); !errors.Is(err, apikey.ErrUnauthorized) {
		t.Errorf("ana's key after RevokeAll: %v", err)
	}
	if _, err := e.keys.Authenticate(e.ctx, b1); err != nil {
		t.Errorf("bob's key after ana's RevokeAll: %v", err)
	}
}
