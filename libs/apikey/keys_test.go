package apikey_test

import (
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/healthexport/libs/apikey"
	"github.com/healthexport/libs/termtext"
)

// A user holds at most MaxKeysPerUser unrevoked keys, also when many are
// made at once; revoking one frees a place.
func TestStoreKeyCap(t *testing.T) {
	e := newStoreEnv(t)
	e.keys = apikey.NewStore(e.pool, apikey.StoreConfig{Params: cheap, MaxKeysPerUser: 3})
	ana, bob := e.user(t, "ana@example.org"), e.user(t, "bob@example.org")
	var made []apikey.Key
	for range 3 {
		_, k := e.create(t, ana, "k")
		made = append(made, k)
	}
	if _, _, err := e.keys.Create(e.ctx, ana, apikey.NewKey{Name: "fourth"}); !errors.Is(err, apikey.ErrTooManyKeys) {
		t.Fatalf("fourth key: %v, want ErrTooManyKeys", err)
	}
	e.create(t, bob, "bob's own cap") // per user
	if ok, err := e.revoke(ana, made[0].ID); !ok || err != nil {
		t.Fatal(ok, err)
	}
	e.create(t, ana, "after a revocation")

	// Ten at once for a user with none: exactly the cap succeed.
	carol := e.user(t, "carol@example.org")
	var (
		wg          sync.WaitGroup
		mu          sync.Mutex
		ok, refused int
	)
	for range 10 {
		wg.Go(func() {
			_, _, err := e.keys.Create(e.ctx, carol, apikey.NewKey{Name: "burst"})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				ok++
			case errors.Is(err, apikey.ErrTooManyKeys):
				refused++
			default:
				t.Errorf("concurrent Create: %v", err)
			}
		})
	}
	wg.Wait()
	if ok != 3 || refused != 7 {
		t.Errorf("10 concurrent creations at a cap of 3: %d made, %d refused", ok, refused)
	}
}

// Revoking a key revokes the keys made from it, and theirs, and nothing
// else; without cascade only the one.
func TestStoreRevokeCascade(t *testing.T) {
	e := newStoreEnv(t)
	ana, bob := e.user(t, "ana@example.org"), e.user(t, "bob@example.org")
	made := func(name, by string) apikey.Key {
		t.Helper()
		_, k, err := e.keys.Create(e.ctx, ana, apikey.NewKey{Name: name, Scopes: []string{"ingest,keys"}, CreatedBy: by})
		if err != nil {
			t.Fatal(err)
		}
		if (by == "") != (k.CreatedBy == nil) || k.CreatedBy != nil && *k.CreatedBy != by {
			t.Fatalf("%s: CreatedBy %v, want %q", name, k.CreatedBy, by)
		}
		return k
	}
	root := made("operator's", "")
	child := made("child", root.ID)
	other := made("second child", root.ID)
	grandchild := made("grandchild", child.ID)
	sibling := made("unrelated", "")
	_, bobKey := e.create(t, bob, "bob")

	ids, err := e.keys.Revoke(e.ctx, ana, child.ID, false)
	if err != nil || !slices.Equal(ids, []string{child.ID}) {
		t.Fatalf("Revoke without cascade = %v, %v; want only %s", ids, err, child.ID)
	}
	ids, err = e.keys.Revoke(e.ctx, ana, root.ID, true)
	if err != nil {
		t.Fatal(err)
	}
	wantLater := []string{child.ID, other.ID}
	slices.Sort(wantLater)
	if want := append([]string{root.ID}, append(wantLater, grandchild.ID)...); !slices.Equal(ids, want) {
		t.Errorf("Revoke with cascade = %v, want %v (the key, then by depth)", ids, want)
	}
	keys, err := e.keys.List(e.ctx, ana)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if revoked := k.RevokedAt != nil; revoked != (k.ID != sibling.ID) {
			t.Errorf("%s (%s): revoked %v", k.Name, k.ID, revoked)
		}
		if k.ID == grandchild.ID && (k.CreatedBy == nil || *k.CreatedBy != child.ID) {
			t.Errorf("List: grandchild created_by %v, want %s", k.CreatedBy, child.ID)
		}
	}
	// Another user's key is never reached, even named directly.
	if ids, err := e.keys.Revoke(e.ctx, ana, bobKey.ID, true); err != nil || len(ids) != 0 {
		t.Errorf("Revoke(ana, bob's key) = %v, %v", ids, err)
	}
}

// Names are validated where every key is made, so the API and the CLI
// refuse the same names.
func TestStoreCreateValidatesName(t *testing.T) {
	e := newStoreEnv(t)
	ana := e.user(t, "ana@example.org")
	tests := []struct {
		name, give, want string
		err              error
	}{
		{"plain", "Ana's iPhone", "Ana's iPhone", nil},
		{"trimmed", "  watch \t", "watch", nil},
		{"unicode", "Zoë’s ⌚", "Zoë’s ⌚", nil},
		{"longest", strings.Repeat("n", 100), strings.Repeat("n", 100), nil},
		{"too long", strings.Repeat("n", 101), "", apikey.ErrInvalidName},
		{"escape sequence", "phone\x1b[2J", "", apikey.ErrInvalidName},
		{"newline", "a\nb", "", apikey.ErrInvalidName},
		{"bidi override", "x\u202egnp", "", apikey.ErrInvalidName},
		{"invalid UTF-8", "a\xffb", "", apikey.ErrInvalidName},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, k, err := e.keys.Create(e.ctx, ana, apikey.NewKey{Name: tt.give})
			if !errors.Is(err, tt.err) || err == nil && k.Name != tt.want {
				t.Fatalf("Create(%q) = %q, %v; want %q, %v", tt.give, k.Name, err, tt.want, tt.err)
			}
			if err != nil && !errors.Is(err, termtext.ErrUnsafe) && !strings.Contains(err.Error(), "bytes") {
				t.Errorf("the error does not say what is wrong: %v", err)
			}
		})
	}
}
