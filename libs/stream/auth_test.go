package stream_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"

	"github.com/healthexport/libs/stream"
	"github.com/healthexport/libs/testenv"
)

// TestDialWithCredentials: against a nats-server that requires them, each
// way of signing in the settings offer (user and password, token, nkey)
// connects with the right credentials, and is refused without them or with
// wrong ones.
func TestDialWithCredentials(t *testing.T) {
	user, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := user.PublicKey()
	seed, _ := user.Seed()
	seedFile := filepath.Join(t.TempDir(), "user.nk")
	if err := os.WriteFile(seedFile, seed, 0o600); err != nil {
		t.Fatal(err)
	}
	other, _ := nkeys.CreateUser()
	otherSeed, _ := other.Seed()
	otherFile := filepath.Join(t.TempDir(), "other.nk")
	if err := os.WriteFile(otherFile, otherSeed, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		server    func(*server.Options)
		good, bad stream.Config
	}{
		{"user and password", func(o *server.Options) { o.Username, o.Password = "health", "s3cret" },
			stream.Config{User: "health", Password: "s3cret"}, stream.Config{User: "health", Password: "wrong"}},
		{"token", func(o *server.Options) { o.Authorization = "t0ken" },
			stream.Config{Token: "t0ken"}, stream.Config{Token: "wrong"}},
		{"nkey", func(o *server.Options) { o.Nkeys = []*server.NkeyUser{{Nkey: pub}} },
			stream.Config{NKeySeedFile: seedFile}, stream.Config{NKeySeedFile: otherFile}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			url := testenv.NATSServerWith(t, tt.server)
			for _, c := range []struct {
				cfg stream.Config
				ok  bool
			}{{tt.good, true}, {tt.bad, false}, {stream.Config{}, false}} {
				c.cfg.URL = url
				nc, err := c.cfg.Dial(nats.Name("auth test"))
				if c.ok {
					if err != nil {
						t.Fatalf("with %+v: %v", c.cfg, err)
					}
					if err := nc.Publish("x", nil); err != nil {
						t.Error(err)
					}
					nc.Close()
					continue
				}
				if err == nil {
					nc.Close()
					t.Fatalf("with %+v: connected, want refused", c.cfg)
				}
				if !strings.Contains(strings.ToLower(err.Error()), "authorization") {
					t.Errorf("with %+v: %v, want an authorization error", c.cfg, err)
				}
			}
		})
	}
}

// TestDeleteStreamSignsIn: DeleteStream signs in with the settings'
// credentials, so the tools that remove their streams work against a
// server that requires them; without them it is refused, and the stream
// stays.
func TestDeleteStreamSignsIn(t *testing.T) {
	url := testenv.NATSServerWith(t, func(o *server.Options) { o.Username, o.Password = "health", "s3cret" })
	cfg := stream.Config{URL: url, User: "health", Password: "s3cret", Name: "DELME", SubjectPrefix: "delme",
		Replicas: 1, MaxAge: time.Hour, MaxBytes: 64 << 20, DuplicateWindow: time.Minute}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	nc, err := cfg.Dial()
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: cfg.Name, Subjects: []string{"delme.>"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := js.CreateObjectStore(ctx, jetstream.ObjectStoreConfig{Bucket: cfg.ImportBucket()}); err != nil {
		t.Fatal(err)
	}
	anonymous := stream.Config{URL: url, Name: cfg.Name}
	if err := stream.DeleteStream(ctx, anonymous); err == nil {
		t.Fatal("deleted without credentials")
	}
	if _, err := js.Stream(ctx, cfg.Name); err != nil {
		t.Fatalf("the stream after a refused delete: %v", err)
	}
	if err := stream.DeleteStream(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	if _, err := js.Stream(ctx, cfg.Name); !errors.Is(err, jetstream.ErrStreamNotFound) {
		t.Errorf("the stream after delete: %v, want not found", err)
	}
	if _, err := js.ObjectStore(ctx, cfg.ImportBucket()); !errors.Is(err, jetstream.ErrBucketNotFound) {
		t.Errorf("the import store after delete: %v, want not found", err)
	}
	if err := stream.DeleteStream(ctx, cfg); err != nil {
		t.Errorf("deleting it again: %v, want no error", err)
	}
}
