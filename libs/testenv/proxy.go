package testenv

import (
	"net/url"
	"testing"

	"github.com/healthexport/libs/netcut"
)

// Proxy forwards TCP connections to a real service and can cut them, to
// test an outage of PostgreSQL or Redis without stopping the shared server
// other tests use (netcut.Proxy).
type Proxy = netcut.Proxy

// NewProxy listens on a free loopback port and forwards to target
// (host:port); it stops when the test ends.
func NewProxy(t testing.TB, target string) *Proxy {
	t.Helper()
	p, err := netcut.Listen(target)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

// HostPort is the host:port a URL points at.
func HostPort(t testing.TB, rawURL string) string {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatalf("%s: %v", rawURL, err)
	}
	return u.Host
}
