// Package serverdiscovery turns a Matrix server name into the addresses
// to connect to, and the Host header and TLS server name to use there,
// following the server-server API's "Resolving server names": IP
// literals and names with a port directly, otherwise the server's
// /.well-known/matrix/server delegation (cached), SRV records
// (_matrix-fed._tcp, then the deprecated _matrix._tcp), and port 8448.
package serverdiscovery

import (
	"context"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// DefaultPort is the federation port used when nothing names another.
const DefaultPort = 8448

// Destination is one place to send a federation request to.
type Destination struct {
	// Address is the host:port to connect to. The host is an IP literal
	// or a DNS name whose A/AAAA records are looked up when connecting.
	Address string
	// Host is the Host header of requests sent there.
	Host string
	// TLSServerName is the name (or IP address) the server's certificate
	// must be valid for, and the SNI sent.
	TLSServerName string
}

// SRVResolver looks up SRV records; *net.Resolver is one.
type SRVResolver interface {
	LookupSRV(ctx context.Context, service, proto, name string) (cname string, addrs []*net.SRV, err error)
}

// HTTPDoer sends an HTTP request and follows redirects; the outbound
// client (outbound.Client) is the one to give, so the well-known request
// is held to its address checks, timeouts and size limit.
type HTTPDoer interface {
	Do(req *http.Request) (*http.Response, error)
}

// Options configure a Discovery.
type Options struct {
	// HTTP fetches /.well-known/matrix/server. Required.
	HTTP HTTPDoer
	// DNS looks up SRV records; nil means net.DefaultResolver.
	DNS SRVResolver
	// Now is the clock of the well-known cache; nil means time.Now.
	Now func() time.Time
	// MaxCacheEntries bounds the well-known cache; 0 means 10000.
	MaxCacheEntries int
}

// Discovery resolves server names. It is safe for concurrent use.
type Discovery struct {
	http       HTTPDoer
	dns        SRVResolver
	now        func() time.Time
	maxEntries int
	// wellKnownPort is where the well-known document is fetched: 443
	// (the https default) except in tests, whose servers cannot listen
	// there.
	wellKnownPort int

	mu       sync.Mutex
	cache    map[string]wellKnownEntry
	inflight map[string]*wellKnownCall
}

// New makes a Discovery.
func New(opts Options) *Discovery {
	d := &Discovery{
		http:       opts.HTTP,
		dns:        opts.DNS,
		now:        opts.Now,
		maxEntries: opts.MaxCacheEntries,
		cache:      make(map[string]wellKnownEntry),
		inflight:   make(map[string]*wellKnownCall),
	}
	if d.dns == nil {
		d.dns = net.DefaultResolver
	}
	if d.now == nil {
		d.now = time.Now
	}
	if d.maxEntries <= 0 {
		d.maxEntries = 10000
	}
	return d
}

// Resolve returns where to send requests for serverName, best first: try
// each in turn until one answers. The error is only for a name that is
// not a valid server name; a name that does not resolve at all yields
// its name on port 8448, which then fails to connect.
func (d *Discovery) Resolve(ctx context.Context, serverName string) ([]Destination, error) {
	name, err := parseServerName(serverName)
	if err != nil {
		return nil, err
	}
	if dest, ok := direct(name); ok {
		return dest, nil
	}
	// Step 3: the well-known delegation, then steps 3.1 to 3.5 on the
	// delegated name (without a second well-known).
	delegated, ok := d.wellKnown(ctx, name.host)
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if ok {
		if dest, ok := direct(delegated); ok {
			return dest, nil
		}
		return d.srvOrDefault(ctx, delegated.host), nil
	}
	// Steps 4 to 6.
	return d.srvOrDefault(ctx, name.host), nil
}

// direct handles an IP literal (step 1) and a name carrying a port
// (step 2): both are used as they are, with the server name as Host.
func direct(name serverName) ([]Destination, bool) {
	if name.ip.IsValid() {
		port := name.port
		if port == 0 {
			port = DefaultPort
		}
		return []Destination{{
			Address:       net.JoinHostPort(name.ip.String(), strconv.Itoa(port)),
			Host:          name.raw,
			TLSServerName: name.ip.String(),
		}}, true
	}
	if name.port != 0 {
		return []Destination{{Address: name.raw, Host: name.raw, TLSServerName: name.host}}, true
	}
	return nil, false
}

// srvOrDefault is steps 4 to 6 (3.3 to 3.5 for a delegated name): the
// _matrix-fed._tcp SRV records of host, else the deprecated _matrix._tcp
// ones, else host on port 8448. Host header and certificate are host's
// in every case.
func (d *Discovery) srvOrDefault(ctx context.Context, host string) []Destination {
	for _, service := range []string{"matrix-fed", "matrix"} {
		records := d.lookupSRV(ctx, service, host)
		if len(records) == 0 {
			continue
		}
		dests := make([]Destination, 0, len(records))
		for _, r := range records {
			dests = append(dests, Destination{
				Address:       net.JoinHostPort(strings.TrimSuffix(r.Target, "."), strconv.Itoa(int(r.Port))),
				Host:          host,
				TLSServerName: host,
			})
		}
		return dests
	}
	return []Destination{{Address: net.JoinHostPort(host, strconv.Itoa(DefaultPort)), Host: host, TLSServerName: host}}
}

// lookupSRV returns the usable records in priority order (the resolver
// orders records of one priority by weight). A lone "." target means the
// service is not offered there (RFC 2782).
func (d *Discovery) lookupSRV(ctx context.Context, service, host string) []*net.SRV {
	_, records, err := d.dns.LookupSRV(ctx, service, "tcp", host)
	if err != nil {
		// A failed lookup (no such name, timeout) counts as no record:
		// the spec has no other branch for it.
		return nil
	}
	usable := make([]*net.SRV, 0, len(records))
	for _, r := range records {
		if r == nil || r.Target == "." || r.Target == "" || r.Port == 0 {
			continue
		}
		if _, err := netip.ParseAddr(strings.TrimSuffix(r.Target, ".")); err != nil && !validDNSName(strings.TrimSuffix(r.Target, ".")) {
			continue
		}
		usable = append(usable, r)
	}
	slices.SortStableFunc(usable, func(a, b *net.SRV) int { return int(a.Priority) - int(b.Priority) })
	return usable
}
