package server

import (
	"bytes"
	"net/netip"

	"github.com/gofiber/fiber/v2"
)

// ipv6Group is the prefix an IPv6 client is counted by: one subscriber
// gets a /64 (or more) and can use any address in it.
const ipv6Group = 64

// client is the address failed key checks are counted by: the TCP peer,
// or behind trusted proxies the right-most address of the proxy header
// that is not one of them (the left part of the header is whatever the
// client wrote). IPv6 clients are grouped by their /64.
func (s *Server) client(c *fiber.Ctx) string {
	addr, _ := netip.AddrFromSlice(c.Context().RemoteIP())
	if s.cfg.ProxyHeader != "" && s.trusted(addr) {
		addr = s.forwardedFor(c, addr)
	}
	return group(addr)
}

// forwardedFor walks the proxy header from the right, past trusted
// proxies, and stops at the first address that is not one; when an entry
// does not parse it keeps the last proxy that handed the request on.
func (s *Server) forwardedFor(c *fiber.Ctx, peer netip.Addr) netip.Addr {
	var list [][]byte
	for _, v := range c.Request().Header.PeekAll(s.cfg.ProxyHeader) {
		list = append(list, bytes.Split(v, []byte{','})...)
	}
	addr := peer
	for i := len(list) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(string(bytes.TrimSpace(list[i])))
		if err != nil {
			break
		}
		addr = a.Unmap()
		if !s.trusted(addr) {
			break
		}
	}
	return addr
}

func (s *Server) trusted(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range s.cfg.TrustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

func group(a netip.Addr) string {
	a = a.Unmap()
	if a.Is6() {
		p, _ := a.Prefix(ipv6Group)
		return p.String()
	}
	return a.String()
}
