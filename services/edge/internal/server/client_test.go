package server

import (
	"net"
	"net/netip"
	"testing"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"
)

// Failed keys are counted by the right client: the proxy header only from
// trusted proxies, its right-most untrusted address, IPv6 by /64.
func TestClientAddress(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8")}
	tests := []struct {
		name   string
		header string // EDGE_PROXY_HEADER
		peer   string
		values []string // the header's lines
		want   string
	}{
		{"no proxy configured: the peer", "", "203.0.113.7", []string{"198.51.100.1"}, "203.0.113.7"},
		{"header from an untrusted peer is ignored", "X-Forwarded-For", "203.0.113.7", []string{"198.51.100.1"}, "203.0.113.7"},
		{"trusted proxy: the address it saw", "X-Forwarded-For", "10.0.0.2", []string{"198.51.100.1"}, "198.51.100.1"},
		{"a forged left part is skipped", "X-Forwarded-For", "10.0.0.2", []string{"1.2.3.4, 198.51.100.1"}, "198.51.100.1"},
		{"through two trusted proxies", "X-Forwarded-For", "10.0.0.2", []string{"1.2.3.4, 198.51.100.1, 10.9.9.9"}, "198.51.100.1"},
		{"header on several lines", "X-Forwarded-For", "10.0.0.2", []string{"1.2.3.4", "198.51.100.1, 10.1.1.1"}, "198.51.100.1"},
		{"only proxies: the left-most", "X-Forwarded-For", "10.0.0.2", []string{"10.3.3.3, 10.1.1.1"}, "10.3.3.3"},
		{"garbage stops the walk at the last proxy", "X-Forwarded-For", "10.0.0.2", []string{"198.51.100.1, junk, 10.1.1.1"}, "10.1.1.1"},
		{"no header from a trusted proxy: the proxy", "X-Forwarded-For", "10.0.0.2", nil, "10.0.0.2"},
		{"IPv6 grouped by /64", "", "2001:db8:1:2:aaaa::1", nil, "2001:db8:1:2::/64"},
		{"IPv6 behind a proxy", "X-Real-IP", "fd00::1", []string{"2001:db8:1:2:bbbb::9"}, "2001:db8:1:2::/64"},
		{"IPv4-mapped IPv6 is IPv4", "X-Forwarded-For", "::ffff:10.0.0.2", []string{"::ffff:198.51.100.1"}, "198.51.100.1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := &Server{cfg: Config{ProxyHeader: tc.header, TrustedProxies: trusted}}
			var req fasthttp.Request
			for _, v := range tc.values {
				req.Header.Add("X-Forwarded-For", v)
				req.Header.Add("X-Real-IP", v)
			}
			var fctx fasthttp.RequestCtx
			fctx.Init(&req, &net.TCPAddr{IP: net.ParseIP(tc.peer), Port: 5555}, nil)
			app := fiber.New()
			c := app.AcquireCtx(&fctx)
			defer app.ReleaseCtx(c)
			if got := s.client(c); got != tc.want {
				t.Fatalf("client %s, want %s", got, tc.want)
			}
		})
	}
}
