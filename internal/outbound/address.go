package outbound

import (
	"fmt"
	"net/netip"
)

// RefusedAddressError is returned (wrapped, find it with errors.As) when
// a request would connect to an address outside the public internet while
// private addresses are not allowed.
type RefusedAddressError struct {
	// Host is the name or address the request asked for, when known.
	Host string
	// Address is the address that would have been connected to.
	Address netip.Addr
	// Reason names the range the address is in.
	Reason string
}

func (e *RefusedAddressError) Error() string {
	if e.Host != "" && e.Host != e.Address.String() {
		return fmt.Sprintf("outbound: refused to connect to %s (%s): %s address; set outbound.allow_private_addresses to allow it", e.Host, e.Address, e.Reason)
	}
	return fmt.Sprintf("outbound: refused to connect to %s: %s address; set outbound.allow_private_addresses to allow it", e.Address, e.Reason)
}

// nonPublicPrefixes are the special-purpose ranges (IANA's IPv4 and IPv6
// special-purpose address registries) that are not ordinary destinations
// on the public internet. Ranges with an embedded IPv4 address (mapped,
// NAT64, 6to4) are handled by CheckAddress before this list.
var nonPublicPrefixes = []struct {
	prefix netip.Prefix
	reason string
}{
	{netip.MustParsePrefix("0.0.0.0/8"), "unspecified (this network)"},
	{netip.MustParsePrefix("10.0.0.0/8"), "private"},
	{netip.MustParsePrefix("100.64.0.0/10"), "shared (carrier-grade NAT)"},
	{netip.MustParsePrefix("127.0.0.0/8"), "loopback"},
	{netip.MustParsePrefix("169.254.0.0/16"), "link-local"},
	{netip.MustParsePrefix("172.16.0.0/12"), "private"},
	{netip.MustParsePrefix("192.0.0.0/24"), "IETF protocol assignment"},
	{netip.MustParsePrefix("192.0.2.0/24"), "documentation"},
	{netip.MustParsePrefix("192.88.99.0/24"), "6to4 relay anycast"},
	{netip.MustParsePrefix("192.168.0.0/16"), "private"},
	{netip.MustParsePrefix("198.18.0.0/15"), "benchmarking"},
	{netip.MustParsePrefix("198.51.100.0/24"), "documentation"},
	{netip.MustParsePrefix("203.0.113.0/24"), "documentation"},
	{netip.MustParsePrefix("224.0.0.0/4"), "multicast"},
	{netip.MustParsePrefix("240.0.0.0/4"), "reserved or broadcast"},

	{netip.MustParsePrefix("::/128"), "unspecified"},
	{netip.MustParsePrefix("::1/128"), "loopback"},
	{netip.MustParsePrefix("::/96"), "IPv4-compatible (deprecated)"},
	{netip.MustParsePrefix("64:ff9b:1::/48"), "local-use NAT64"},
	{netip.MustParsePrefix("100::/64"), "discard-only"},
	{netip.MustParsePrefix("2001::/32"), "Teredo"},
	{netip.MustParsePrefix("2001:2::/48"), "benchmarking"},
	{netip.MustParsePrefix("2001:10::/28"), "ORCHID"},
	{netip.MustParsePrefix("2001:20::/28"), "ORCHIDv2"},
	{netip.MustParsePrefix("2001:db8::/32"), "documentation"},
	{netip.MustParsePrefix("3fff::/20"), "documentation"},
	{netip.MustParsePrefix("5f00::/16"), "segment routing"},
	{netip.MustParsePrefix("fc00::/7"), "unique local (private)"},
	{netip.MustParsePrefix("fe80::/10"), "link-local"},
	{netip.MustParsePrefix("fec0::/10"), "site-local (deprecated)"},
	{netip.MustParsePrefix("ff00::/8"), "multicast"},
}

var (
	nat64Prefix = netip.MustParsePrefix("64:ff9b::/96")
	sixToFour   = netip.MustParsePrefix("2002::/16")
)

// CheckAddress returns a *RefusedAddressError when addr is not a public
// unicast address, nil when it is. IPv4 addresses written in IPv6 form
// (IPv4-mapped, NAT64, 6to4) are judged by the IPv4 address they carry,
// so ::ffff:127.0.0.1 is loopback.
func CheckAddress(addr netip.Addr) error {
	if reason := nonPublicReason(addr); reason != "" {
		return &RefusedAddressError{Address: addr, Reason: reason}
	}
	return nil
}

func nonPublicReason(addr netip.Addr) string {
	if !addr.IsValid() {
		return "invalid"
	}
	if addr.Zone() != "" {
		return "scoped (zoned)"
	}
	if addr.Is4In6() {
		return nonPublicReason(addr.Unmap())
	}
	if addr.Is6() {
		b := addr.As16()
		switch {
		case nat64Prefix.Contains(addr):
			return nonPublicReason(netip.AddrFrom4([4]byte(b[12:16])))
		case sixToFour.Contains(addr):
			return nonPublicReason(netip.AddrFrom4([4]byte(b[2:6])))
		}
	}
	for _, p := range nonPublicPrefixes {
		if p.prefix.Contains(addr) {
			return p.reason
		}
	}
	return ""
}
