package server_test

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"

	"github.com/healthexport/libs/obs"
	"github.com/healthexport/services/edge/internal/server"
	"github.com/healthexport/services/edge/internal/web"
)

// The web page and its files: public, with the CSP and the headers that
// keep the page to itself, cached by version (files) or revalidated (the
// page), gzip when asked for, 304 on a matching ETag, 404 for another
// version or a missing file.
func TestWebPageRoutes(t *testing.T) {
	assets, err := web.New()
	if err != nil {
		t.Fatal(err)
	}
	reg := obs.NewRegistry()
	srv := server.New(slog.New(slog.NewJSONHandler(io.Discard, nil)),
		server.Config{MaxBodyBytes: 1 << 20, SpoolMemoryBytes: 4096, SpoolDir: t.TempDir(), HeaderTimeout: 5 * time.Second, BodyTimeout: time.Minute},
		server.Deps{Web: assets}, obs.NewReadiness(), reg, reg, []byte("openapi: 3.0.3\n"))
	app := srv.App()
	get := func(path string, headers ...string) (*http.Response, []byte) {
		t.Helper()
		req := httptest.NewRequest(http.MethodGet, path, nil)
		for i := 0; i+1 < len(headers); i += 2 {
			req.Header.Set(headers[i], headers[i+1])
		}
		resp, err := app.Test(req, 10_000)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, b
	}
	tests := []struct {
		name     string
		path     string
		headers  []string
		status   int
		cache    string
		encoding string
		contains string
	}{
		{"page", "/", nil, 200, web.CachePage, "", `src="/ui/` + assets.Version + `/app.js"`},
		{"page gzip", "/", []string{"Accept-Encoding", "gzip"}, 200, web.CachePage, "gzip", "<!doctype html>"},
		{"module", "/ui/" + assets.Version + "/app.js", nil, 200, web.CacheAsset, "", "import"},
		{"module gzip", "/ui/" + assets.Version + "/app.js", []string{"Accept-Encoding", "gzip, br"}, 200, web.CacheAsset, "gzip", "import"},
		{"another version", "/ui/0123456789abcdef/app.js", nil, 404, "", "", "reload"},
		{"missing file", "/ui/" + assets.Version + "/nope.js", nil, 404, "", "", "no such file"},
		{"page with a query", "/?from=somewhere", nil, 200, web.CachePage, "", "<!doctype html>"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := get(tc.path, tc.headers...)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, body)
			}
			if got := resp.Header.Get("Content-Encoding"); got != tc.encoding {
				t.Errorf("Content-Encoding %q, want %q", got, tc.encoding)
			}
			if tc.encoding == "gzip" {
				zr, err := gzip.NewReader(bytes.NewReader(body))
				if err != nil {
					t.Fatal(err)
				}
				if body, err = io.ReadAll(zr); err != nil {
					t.Fatal(err)
				}
			}
			if !strings.Contains(string(body), tc.contains) {
				t.Errorf("body lacks %q", tc.contains)
			}
			if tc.status != 200 {
				return
			}
			for h, want := range map[string]string{"Content-Security-Policy": web.CSP, "X-Content-Type-Options": "nosniff",
				"Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY", "Cache-Control": tc.cache} {
				if got := resp.Header.Get(h); got != want {
					t.Errorf("%s: %q, want %q", h, got, want)
				}
			}
			if !strings.Contains(web.CSP, "frame-ancestors 'none'") || strings.Contains(web.CSP, "unsafe-") {
				t.Errorf("CSP %q", web.CSP)
			}
			etag := resp.Header.Get("ETag")
			if etag == "" {
				t.Fatal("no ETag")
			}
			again, rest := get(tc.path, append([]string{"If-None-Match", etag}, tc.headers...)...)
			if again.StatusCode != http.StatusNotModified || len(rest) != 0 {
				t.Errorf("If-None-Match %s: %d with %d bytes, want 304 and nothing", etag, again.StatusCode, len(rest))
			}
		})
	}
	if resp, _ := get("/ui/" + assets.Version + "/app.js"); !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/javascript") {
		t.Errorf("a module is served as %q", resp.Header.Get("Content-Type"))
	}
}
