package config

import (
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// HTTP is the http: section: how long a connection may take over each
// part of a request, how many connections one client address may hold,
// and which reverse proxies are believed about the client's address.
type HTTP struct {
	// ReadTimeout bounds reading a whole request, headers and body;
	// uploads get UploadTimeout instead once authenticated.
	ReadTimeout time.Duration `yaml:"read_timeout" env:"HTTP_READ_TIMEOUT"`
	// WriteTimeout bounds handling and writing an ordinary answer. A
	// long-poll gets its own timeout plus this; a download, DownloadTimeout.
	WriteTimeout time.Duration `yaml:"write_timeout" env:"HTTP_WRITE_TIMEOUT"`
	// IdleTimeout closes a kept-alive connection with no request.
	IdleTimeout time.Duration `yaml:"idle_timeout" env:"HTTP_IDLE_TIMEOUT"`
	// UploadTimeout bounds reading a media upload's body.
	UploadTimeout time.Duration `yaml:"upload_timeout" env:"HTTP_UPLOAD_TIMEOUT"`
	// DownloadTimeout bounds writing a media download or thumbnail.
	DownloadTimeout time.Duration `yaml:"download_timeout" env:"HTTP_DOWNLOAD_TIMEOUT"`
	// MaxConnectionsPerIP caps the open connections of one client address
	// (an IPv6 client by its /64); 0 means no cap. Trusted proxies are
	// exempt.
	MaxConnectionsPerIP int `yaml:"max_connections_per_ip" env:"HTTP_MAX_CONNECTIONS_PER_IP"`
	// TrustedProxies are the CIDRs (or single addresses) of reverse
	// proxies whose X-Forwarded-For is believed.
	TrustedProxies []string `yaml:"trusted_proxies" env:"TRUSTED_PROXIES"`
}

// defaultHTTP is the http section of Default.
func defaultHTTP() HTTP {
	return HTTP{
		ReadTimeout:         30 * time.Second,
		WriteTimeout:        60 * time.Second,
		IdleTimeout:         2 * time.Minute,
		UploadTimeout:       10 * time.Minute,
		DownloadTimeout:     10 * time.Minute,
		MaxConnectionsPerIP: 64,
	}
}

// TrustedProxyPrefixes parses TrustedProxies; a bare address is a prefix
// of its full length. Invalid entries are skipped (validate reports them).
func (h HTTP) TrustedProxyPrefixes() []netip.Prefix {
	var out []netip.Prefix
	for _, s := range h.TrustedProxies {
		if p, err := parseProxyPrefix(s); err == nil {
			out = append(out, p)
		}
	}
	return out
}

func parseProxyPrefix(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, err
		}
		if p.Addr().Is4In6() {
			if p.Bits() < 96 {
				return netip.Prefix{}, fmt.Errorf("an IPv4-mapped prefix must be at least /96")
			}
			return netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96).Masked(), nil
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	a = a.Unmap().WithZone("")
	return netip.PrefixFrom(a, a.BitLen()), nil
}

func (h HTTP) validate() []error {
	var errs []error
	def := defaultHTTP()
	for _, t := range []struct {
		name     string
		got, def time.Duration
	}{
		{"read_timeout", h.ReadTimeout, def.ReadTimeout},
		{"write_timeout", h.WriteTimeout, def.WriteTimeout},
		{"idle_timeout", h.IdleTimeout, def.IdleTimeout},
		{"upload_timeout", h.UploadTimeout, def.UploadTimeout},
		{"download_timeout", h.DownloadTimeout, def.DownloadTimeout},
	} {
		if t.got <= 0 {
			errs = append(errs, fmt.Errorf("http.%s must be positive (the default is %s)", t.name, t.def))
		}
	}
	if h.MaxConnectionsPerIP < 0 {
		errs = append(errs, fmt.Errorf("http.max_connections_per_ip must be >= 0 (0: no cap)"))
	}
	for _, s := range h.TrustedProxies {
		if _, err := parseProxyPrefix(s); err != nil {
			errs = append(errs, fmt.Errorf("http.trusted_proxies: %q is not a CIDR such as 10.0.0.0/8 or an address such as 127.0.0.1", s))
		}
	}
	return errs
}
