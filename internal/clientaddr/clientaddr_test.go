package clientaddr

import (
	"net/netip"
	"testing"
)

func TestLimitKeyIPv6By64(t *testing.T) {
	same := []string{"2001:db8:1:2::1", "2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2:abcd::7"}
	want := LimitKey(netip.MustParseAddr(same[0]))
	for _, s := range same[1:] {
		if got := LimitKey(netip.MustParseAddr(s)); got != want {
			t.Errorf("LimitKey(%s) = %s, want %s (same /64)", s, got, want)
		}
	}
	if other := LimitKey(netip.MustParseAddr("2001:db8:1:3::1")); other == want {
		t.Errorf("a neighbouring /64 shares the key %s", other)
	}
	if a, b := LimitKey(netip.MustParseAddr("192.0.2.1")), LimitKey(netip.MustParseAddr("192.0.2.2")); a == b {
		t.Errorf("two IPv4 addresses share the key %s", a)
	}
	if got := LimitKey(netip.MustParseAddr("::ffff:192.0.2.1")); got != "192.0.2.1" {
		t.Errorf("an IPv4-mapped address is keyed %s, want 192.0.2.1", got)
	}
}

func TestClientFromForwardedFor(t *testing.T) {
	r := NewResolver([]netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("127.0.0.1/32")})
	cases := []struct {
		name, peer string
		xff        []string
		want       string
	}{
		{"untrusted peer: header ignored", "192.0.2.9:4000", []string{"198.51.100.1"}, "192.0.2.9"},
		{"trusted peer, no header", "127.0.0.1:4000", nil, "127.0.0.1"},
		{"trusted peer names the client", "127.0.0.1:4000", []string{"198.51.100.1"}, "198.51.100.1"},
		{"right-most untrusted entry wins over a spoofed left", "127.0.0.1:4000", []string{"6.6.6.6, 198.51.100.1, 10.1.2.3"}, "198.51.100.1"},
		{"several header lines read in order", "10.0.0.1:80", []string{"6.6.6.6", "198.51.100.2"}, "198.51.100.2"},
		{"every hop trusted: the left-most", "127.0.0.1:4000", []string{"10.0.0.5, 10.0.0.6"}, "10.0.0.5"},
		{"garbage ends the chain at the last trusted hop", "127.0.0.1:4000", []string{"198.51.100.1, nonsense, 10.0.0.7"}, "10.0.0.7"},
		{"ports and brackets", "127.0.0.1:4000", []string{"[2001:db8::1]:443"}, "2001:db8::1"},
		{"mapped IPv4 peer", "[::ffff:127.0.0.1]:4000", []string{"198.51.100.3"}, "198.51.100.3"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := r.Client(c.peer, c.xff); got.String() != c.want {
				t.Errorf("Client(%s, %q) = %s, want %s", c.peer, c.xff, got, c.want)
			}
		})
	}
	if got := NewResolver(nil).Client("127.0.0.1:1", []string{"198.51.100.1"}); got.String() != "127.0.0.1" {
		t.Errorf("no trusted proxies: Client = %s, want the peer", got)
	}
}
