package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

type sample struct {
	DatabaseURL string        `env:"DATABASE_URL,required" mask:"url"`
	Token       string        `env:"TOKEN" mask:"all"`
	Window      time.Duration `env:"WINDOW" envDefault:"1h"`
	Nested      struct {
		Addr string `env:"ADDR" envDefault:"127.0.0.1:1"`
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	dotenv := filepath.Join(dir, ".env")
	if err := os.WriteFile(dotenv, []byte("DATABASE_URL='postgres://u:pw@h/db'\nWINDOW=2m\nADDR=from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		env     map[string]string
		wantErr string
		check   func(t *testing.T, s sample)
	}{
		{name: "file fills gaps", env: map[string]string{"ADDR": "from-env"}, check: func(t *testing.T, s sample) {
			if s.DatabaseURL != "postgres://u:pw@h/db" || s.Window != 2*time.Minute || s.Nested.Addr != "from-env" {
				t.Errorf("got %+v", s)
			}
		}},
		{name: "environment wins", env: map[string]string{"WINDOW": "5s"}, check: func(t *testing.T, s sample) {
			if s.Window != 5*time.Second {
				t.Errorf("window %v", s.Window)
			}
		}},
		{name: "bad duration names variable", env: map[string]string{"WINDOW": "soon"}, wantErr: "WINDOW"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			getenv, err := WithDotEnv(func(k string) string { return tc.env[k] }, dotenv)
			if err != nil {
				t.Fatal(err)
			}
			var s sample
			err = Load(getenv, &s)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want mention of %s", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, s)
		})
	}
}

func TestLoadMissingRequired(t *testing.T) {
	getenv, err := WithDotEnv(func(string) string { return "" }, filepath.Join(t.TempDir(), "absent.env"))
	if err != nil {
		t.Fatal(err)
	}
	var s sample
	if err := Load(getenv, &s); err == nil || !strings.Contains(err.Error(), "DATABASE_URL") {
		t.Fatalf("err = %v, want DATABASE_URL named", err)
	}
}

func TestLogValueMasksSecrets(t *testing.T) {
	s := sample{DatabaseURL: "postgres://u:hunter2@h/db", Token: "hx_abc_secret"}
	var b strings.Builder
	slog.New(slog.NewJSONHandler(&b, nil)).Info("config", "config", LogValue(&s))
	out := b.String()
	for _, secret := range []string{"hunter2", "hx_abc_secret"} {
		if strings.Contains(out, secret) {
			t.Errorf("log line holds %q: %s", secret, out)
		}
	}
	var line struct{ Config map[string]any }
	if err := json.Unmarshal([]byte(out), &line); err != nil {
		t.Fatal(err)
	}
	if line.Config["DATABASE_URL"] != "postgres://u:xxxxx@h/db" || line.Config["TOKEN"] != "***" || line.Config["WINDOW"] == nil {
		t.Errorf("fields wrong: %s", out)
	}
}

// Every form a secret can take in the connection settings is hidden, and
// what is not secret stays readable.
func TestMaskURL(t *testing.T) {
	tests := []struct {
		name, raw, want string
		secrets         []string
	}{
		{"empty", "", "", nil},
		{"no credentials", "postgres://127.0.0.1:5432/health?sslmode=disable", "postgres://127.0.0.1:5432/health?sslmode=disable", nil},
		{"user and password", "postgres://health:hunter2@db:5432/health", "postgres://health:xxxxx@db:5432/health", []string{"hunter2"}},
		{"user alone is a name for postgres", "postgres://health@db/health", "postgres://health@db/health", nil},
		{"password query parameter", "postgres://db/health?user=u&password=hunter2&sslmode=require", "postgres://db/health?user=u&password=xxxxx&sslmode=require", []string{"hunter2"}},
		{"sslpassword query parameter", "postgres://u@db/h?sslpassword=k3yp4ss&sslmode=verify-full", "postgres://u@db/h?sslpassword=xxxxx&sslmode=verify-full", []string{"k3yp4ss"}},
		{"encoded parameter name", "postgres://db/h?pass%77ord=hunter2", "postgres://db/h?pass%77ord=xxxxx", []string{"hunter2"}},
		{"percent-encoded password", "postgres://u:hun%40ter2@db/h", "postgres://u:xxxxx@db/h", []string{"hun%40ter2", "hun@ter2"}},
		{"libpq key=value", "host=db user=health password=hunter2 dbname=health", "host=db user=health password=xxxxx dbname=health", []string{"hunter2"}},
		{"libpq quoted with spaces", `host=db password = 'hun ter\'2' sslpassword='k3y p4ss' dbname=h`, `host=db password = xxxxx sslpassword=xxxxx dbname=h`, []string{"hun", "ter", "k3y", "p4ss"}},
		{"libpq without secrets", "host=/run/postgresql dbname=health", "host=/run/postgresql dbname=health", nil},
		{"nats token", "nats://s3cr3tt0ken@nats:4222", "nats://xxxxx@nats:4222", []string{"s3cr3tt0ken"}},
		{"nats user and password", "nats://edge:hunter2@nats:4222", "nats://edge:xxxxx@nats:4222", []string{"hunter2"}},
		{"nats server list", "nats://a:hunter2@n1:4222,nats://s3cr3tt0ken@n2:4222", "nats://a:xxxxx@n1:4222,nats://xxxxx@n2:4222", []string{"hunter2", "s3cr3tt0ken"}},
		{"nats without scheme", "edge:hunter2@127.0.0.1:4222", "xxxxx@127.0.0.1:4222", []string{"hunter2", "edge"}},
		{"tls token", "tls://s3cr3tt0ken@nats:4222", "tls://xxxxx@nats:4222", []string{"s3cr3tt0ken"}},
		{"redis password only", "redis://:hunter2@redis:6379/0", "redis://:xxxxx@redis:6379/0", []string{"hunter2"}},
		{"redis ACL user", "redis://edge:hunter2@redis:6379/0", "redis://edge:xxxxx@redis:6379/0", []string{"hunter2"}},
		{"unescaped # in the password", "postgres://u:hun#ter2@db/h", "(unparseable URL)", []string{"hun", "ter2"}},
		{"unescaped ? in the password", "postgres://u:hun?ter2@db/h", "(unparseable URL)", []string{"ter2"}},
		{"unparseable", "postgres://u:hunter2@[::1/h", "(unparseable URL)", []string{"hunter2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := MaskURL(tt.raw)
			if got != tt.want {
				t.Errorf("MaskURL(%q) = %q, want %q", tt.raw, got, tt.want)
			}
			for _, s := range tt.secrets {
				if strings.Contains(got, s) {
					t.Errorf("MaskURL(%q) = %q still holds %q", tt.raw, got, s)
				}
			}
		})
	}
}

// The parse errors of the libraries that read connection URLs quote the
// URL; what reaches a log must not hold its password.
func TestSafeError(t *testing.T) {
	_, parseErr := url.Parse("redis://u:hunter2@[::1/0")
	tests := []struct {
		name string
		err  error
	}{
		{"url.Error", parseErr},
		{"wrapped", fmt.Errorf("REDIS_URL: %w", parseErr)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !strings.Contains(tt.err.Error(), "hunter2") {
				t.Fatalf("the test's error does not hold the secret: %v", tt.err)
			}
			got := SafeError(tt.err)
			if strings.Contains(got.Error(), "hunter2") || !strings.Contains(got.Error(), "missing ']' in host") {
				t.Errorf("SafeError = %q", got)
			}
		})
	}
	if SafeError(nil) != nil {
		t.Error("SafeError(nil) != nil")
	}
	plain := errors.New("plain")
	if SafeError(plain) != plain {
		t.Error("an error without a URL changed")
	}
}
