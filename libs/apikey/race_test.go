package apikey

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestVerifierRevocationWinsRace: a revocation that arrives while a key is
// being checked (the check read the row before the revocation committed)
// wins: the check's success is neither returned nor cached. The hook runs
// the revocation exactly between the check and its use, every time.
func TestVerifierRevocationWinsRace(t *testing.T) {
	r := newVerifierRig(t, cheapParams(), defaultHashing(), defaultCfg())
	ctx := context.Background()
	tok, k := r.key(t, "ana@example.org")
	other, _ := r.key(t, "bob@example.org")

	r.v.checked = func() {
		r.v.checked = func() {}
		// What `DELETE /v1/keys/{id}` does on another edge: revoke in the
		// database, then announce over NATS.
		if _, err := r.db.Pool.Exec(ctx, `UPDATE api_keys SET revoked_at = now() WHERE id = $1`, k.ID); err != nil {
			t.Error(err)
		}
		r.v.Revoked(k.ID)
	}
	if p, err := r.v.Authenticate(ctx, tok, "10.0.0.1"); !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("check that finished after the revocation: %+v, %v; want ErrUnauthorized", p, err)
	}
	if _, err := r.v.Authenticate(ctx, tok, "10.0.0.1"); !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("next use: %v; want ErrUnauthorized", err)
	}
	if got := r.outcome("cached"); got != 0 {
		t.Errorf("the revoked key was served from the cache %v times", got)
	}
	// The store failing must not bring it back through the stale grace.
	r.proxy.Cut()
	r.clock.add(2 * time.Minute)
	if _, err := r.v.Authenticate(ctx, tok, "10.0.0.1"); err == nil {
		t.Error("revoked key accepted while the store is down")
	}
	r.proxy.Restore()

	// A revocation of another key during a check changes nothing for it.
	r.v.checked = func() { r.v.checked = func() {}; r.v.Revoked("someotherkey0000") }
	if _, err := r.v.Authenticate(ctx, other, "10.0.0.2"); err != nil {
		t.Fatalf("another key's revocation refused this one: %v", err)
	}
	if _, err := r.v.Authenticate(ctx, other, "10.0.0.2"); err != nil || r.outcome("cached") != 1 {
		t.Errorf("not cached: %v, %v cache hits", err, r.outcome("cached"))
	}
}

// TestCreateWaitsForHashing: making a key takes a turn of the same bounded
// Argon2id queue as verification: with every slot busy and the queue full
// it is refused (ErrBusy, 503 at the edge); once a slot frees it goes on.
func TestCreateWaitsForHashing(t *testing.T) {
	h := NewHashing(1, 1, time.Minute)
	r := newVerifierRig(t, cheapParams(), h, defaultCfg())
	ctx := context.Background()
	tok, _ := r.key(t, "ana@example.org") // made while the queue is free
	uid := r.userID(t, "ana@example.org")

	if err := h.acquire(ctx); err != nil { // an Argon2id run in progress
		t.Fatal(err)
	}
	created := make(chan error, 1)
	go func() {
		_, _, err := r.store.Create(ctx, uid, NewKey{Name: "queued"})
		created <- err
	}()
	for h.waiting.Load() != 1 { // the creation waits its turn
		time.Sleep(time.Millisecond)
	}
	// The queue is full: a verification is refused at once, and so would
	// a second creation be.
	if _, _, err := r.store.Create(ctx, uid, NewKey{Name: "refused"}); !errors.Is(err, ErrBusy) {
		t.Errorf("creation with the queue full: %v, want ErrBusy", err)
	}
	if _, err := r.v.Authenticate(ctx, tok, "10.0.0.1"); !errors.Is(err, ErrBusy) {
		t.Errorf("verification with the queue full: %v, want ErrBusy", err)
	}
	<-h.sem // the run in progress ends
	if err := <-created; err != nil {
		t.Fatalf("queued creation: %v", err)
	}
}
