package config

import (
	"encoding/json"
	"log/slog"
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
