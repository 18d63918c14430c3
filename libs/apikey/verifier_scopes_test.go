package apikey

import (
	"context"
	"testing"
	"time"

	"github.com/healthexport/libs/users"
)

// TestVerifierCarriesScopes: the scopes come with the principal, verified
// or cached, and while the key store is away.
func TestVerifierCarriesScopes(t *testing.T) {
	r := newVerifierRig(t, cheapParams(), defaultHashing(), defaultCfg())
	ctx := context.Background()
	uid, _, err := users.NewStore(r.db.Pool).Ensure(ctx, "ana@example.org")
	if err != nil {
		t.Fatal(err)
	}
	tokens := map[Scopes]string{}
	for _, sc := range []Scopes{ScopeIngest, ScopeRead, ScopeIngest | ScopeRead} {
		tok, _, err := r.store.Create(ctx, uid, NewKey{Name: sc.String(), Scopes: sc.Names()})
		if err != nil {
			t.Fatal(err)
		}
		tokens[sc] = tok
	}
	check := func(when string) {
		t.Helper()
		for want, tok := range tokens {
			p, err := r.v.Authenticate(ctx, tok, "10.0.0.1")
			if err != nil || p.Scopes != want || p.UserID != uid {
				t.Errorf("%s: %+v, %v; want scopes %s", when, p, err, want)
			}
		}
	}
	check("verified")
	check("cached")
	r.proxy.Cut()
	r.clock.add(2 * time.Minute) // past the TTL, within the stale grace
	check("stale while the key store is away")
}
