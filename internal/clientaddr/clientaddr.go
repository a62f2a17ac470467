// Package clientaddr decides which address a request comes from (the
// socket's peer or, behind a trusted reverse proxy, the client the proxy
// names in X-Forwarded-For) and the key per-address limits count it under.
package clientaddr

import (
	"net"
	"net/netip"
	"strings"
)

// Resolver knows the trusted reverse proxies.
type Resolver struct {
	trusted []netip.Prefix
}

// NewResolver trusts the proxies in the given prefixes; none means
// X-Forwarded-For is never believed.
func NewResolver(trusted []netip.Prefix) *Resolver {
	return &Resolver{trusted: trusted}
}

// Configured reports whether any proxy is trusted.
func (r *Resolver) Configured() bool { return r != nil && len(r.trusted) > 0 }

// Trusted reports whether a is one of the trusted proxies.
func (r *Resolver) Trusted(a netip.Addr) bool {
	if r == nil || !a.IsValid() {
		return false
	}
	a = a.Unmap().WithZone("")
	for _, p := range r.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// Client is the address of the client behind a request whose socket peer
// is remoteAddr (host:port), given its X-Forwarded-For header values. Only
// a trusted peer's header is read, from the right: each proxy appends the
// address it received from, so the right-most entry that is not itself a
// trusted proxy is the first one no trusted party vouches beyond. The
// result is invalid only when remoteAddr is not an IP address.
func (r *Resolver) Client(remoteAddr string, forwardedFor []string) netip.Addr {
	client, ok := PeerAddr(remoteAddr)
	if !ok || !r.Trusted(client) {
		return client
	}
	hops := forwardedHops(forwardedFor)
	for i := len(hops) - 1; i >= 0; i-- {
		hop, ok := parseHop(hops[i])
		if !ok {
			// A chain we cannot read ends with the last proxy we trust.
			return client
		}
		client = hop
		if !r.Trusted(hop) {
			return client
		}
	}
	return client
}

// PeerAddr parses a socket address (host:port, or a bare host).
func PeerAddr(remoteAddr string) (netip.Addr, bool) {
	host := remoteAddr
	if h, _, err := net.SplitHostPort(remoteAddr); err == nil {
		host = h
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}, false
	}
	return a.Unmap().WithZone(""), true
}

// forwardedHops splits the header's values, in order, into entries.
func forwardedHops(values []string) []string {
	var hops []string
	for _, v := range values {
		for _, h := range strings.Split(v, ",") {
			if h = strings.TrimSpace(h); h != "" {
				hops = append(hops, h)
			}
		}
	}
	return hops
}

// parseHop reads one X-Forwarded-For entry: an address, possibly with a
// port or in brackets, as some proxies write it.
func parseHop(h string) (netip.Addr, bool) {
	if a, err := netip.ParseAddr(h); err == nil {
		return a.Unmap().WithZone(""), true
	}
	if ap, err := netip.ParseAddrPort(h); err == nil {
		return ap.Addr().Unmap().WithZone(""), true
	}
	if a, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")); err == nil {
		return a.Unmap().WithZone(""), true
	}
	return netip.Addr{}, false
}

// LimitKey is the key per-address limits count a client under: an IPv4
// address alone, an IPv6 address by its /64, the block one subscriber is
// usually given, so that one host cannot dodge a limit by cycling through
// its addresses.
func LimitKey(a netip.Addr) string {
	a = a.Unmap().WithZone("")
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.String()
	}
	return a.String()
}
