package main

import (
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/healthexport/libs/service"
)

// EDGE_PROXY_HEADER is honoured only from EDGE_TRUSTED_PROXIES: setting the
// header without them stops the edge at start, with a message saying what
// to set.
func TestSettingsTrustedProxies(t *testing.T) {
	tests := []struct {
		name, header, proxies, wantErr string
	}{
		{"no proxy", "", "", ""},
		{"header and proxies", "X-Forwarded-For", "127.0.0.1, 10.0.0.0/8,fd00::/8", ""},
		{"header without proxies", "X-Forwarded-For", "", "EDGE_TRUSTED_PROXIES"},
		{"not a prefix", "X-Forwarded-For", "10.0.0.0/33", `"10.0.0.0/33" is neither`},
		{"a name", "X-Forwarded-For", "proxy.local", `"proxy.local" is neither`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := map[string]string{
				"ENV_FILE":             "/nonexistent",
				"DATABASE_URL":         "postgres://x@127.0.0.1/x",
				"REDIS_URL":            "redis://127.0.0.1:6379/0",
				"NATS_URL":             "nats://127.0.0.1:4222",
				"EDGE_PROXY_HEADER":    tc.header,
				"EDGE_TRUSTED_PROXIES": tc.proxies,
			}
			var cfg settings
			err := service.Settings(slog.New(slog.NewJSONHandler(io.Discard, nil)), func(k string) string { return env[k] }, "edge", &cfg)
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("err %v, want %q", err, tc.wantErr)
			}
		})
	}
}
