// Package outbound is Foyer's one HTTP client for requests to addresses
// that users or remote servers choose: federation, push gateways, URL
// previews. It refuses non-public addresses (unless allowed), checking
// the address of every connection it opens, so neither a DNS name that
// resolves to a private address nor a redirect to one gets through; it
// bounds every phase of a request and the size of every response; and it
// trusts the system's CAs plus the operator's own.
package outbound

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"sync"
	"syscall"
	"time"
)

// Defaults for the Options fields left zero.
const (
	DefaultDialTimeout           = 10 * time.Second
	DefaultTLSHandshakeTimeout   = 10 * time.Second
	DefaultResponseHeaderTimeout = 60 * time.Second
	DefaultRequestTimeout        = 2 * time.Minute
	DefaultMaxResponseBytes      = 64 << 20
	DefaultMaxRedirects          = 10
)

// maxTransports bounds the transports kept, one per TLS server name.
const maxTransports = 1024

// Resolver looks up the addresses of a host name. *net.Resolver
// (net.DefaultResolver) is one; tests give a fixed mapping.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// Options configure a Client. Zero durations and sizes take the defaults
// above.
type Options struct {
	// AllowPrivateAddresses lets requests reach loopback, private and
	// other non-public addresses (tests, private federations).
	AllowPrivateAddresses bool
	// TrustedCAFile is a PEM file of CA certificates trusted in addition
	// to the system's.
	TrustedCAFile string

	// DialTimeout bounds opening one TCP connection.
	DialTimeout time.Duration
	// TLSHandshakeTimeout bounds the TLS handshake.
	TLSHandshakeTimeout time.Duration
	// ResponseHeaderTimeout bounds the wait for the response's headers
	// once the request is written.
	ResponseHeaderTimeout time.Duration
	// RequestTimeout bounds a whole request, from dialling to the last
	// byte of the response body (redirects each get their own).
	RequestTimeout time.Duration
	// MaxResponseBytes caps a response body; reading beyond it fails with
	// ErrResponseTooLarge.
	MaxResponseBytes int64
	// MaxRedirects caps the redirects HTTPClient and Do follow.
	MaxRedirects int

	// Resolver resolves host names; nil means net.DefaultResolver.
	Resolver Resolver
}

// Client is the outbound HTTP client. It is safe for concurrent use.
type Client struct {
	opts    Options
	tlsBase *tls.Config
	// refuse judges each address connected to: CheckAddress, or nothing
	// when private addresses are allowed (tests substitute their own).
	refuse func(netip.Addr) error
	dialer net.Dialer

	mu         sync.Mutex
	transports map[string]*http.Transport // by TLS server name; "" = from the URL
}

// New builds a Client, reading TrustedCAFile.
func New(opts Options) (*Client, error) {
	if opts.DialTimeout <= 0 {
		opts.DialTimeout = DefaultDialTimeout
	}
	if opts.TLSHandshakeTimeout <= 0 {
		opts.TLSHandshakeTimeout = DefaultTLSHandshakeTimeout
	}
	if opts.ResponseHeaderTimeout <= 0 {
		opts.ResponseHeaderTimeout = DefaultResponseHeaderTimeout
	}
	if opts.RequestTimeout <= 0 {
		opts.RequestTimeout = DefaultRequestTimeout
	}
	if opts.MaxResponseBytes <= 0 {
		opts.MaxResponseBytes = DefaultMaxResponseBytes
	}
	if opts.MaxRedirects <= 0 {
		opts.MaxRedirects = DefaultMaxRedirects
	}
	if opts.Resolver == nil {
		opts.Resolver = net.DefaultResolver
	}
	roots, err := rootCAs(opts.TrustedCAFile)
	if err != nil {
		return nil, err
	}
	c := &Client{
		opts:       opts,
		tlsBase:    &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12},
		transports: make(map[string]*http.Transport),
	}
	if opts.AllowPrivateAddresses {
		c.refuse = func(netip.Addr) error { return nil }
	} else {
		c.refuse = CheckAddress
	}
	c.dialer = net.Dialer{Timeout: opts.DialTimeout, KeepAlive: 30 * time.Second, Control: c.checkConnect}
	return c, nil
}

// rootCAs is the system pool plus the certificates of trustedCAFile.
func rootCAs(trustedCAFile string) (*x509.CertPool, error) {
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if trustedCAFile == "" {
		return pool, nil
	}
	pem, err := os.ReadFile(trustedCAFile)
	if err != nil {
		return nil, fmt.Errorf("outbound.trusted_ca_file: %w", err)
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("outbound.trusted_ca_file %s holds no PEM certificate", trustedCAFile)
	}
	return pool, nil
}

// checkConnect is the dialer's Control hook: it runs on the address of
// every socket about to connect, after any name was resolved, so it is
// the one place that decides.
func (c *Client) checkConnect(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("outbound: unexpected dial address %q: %w", address, err)
	}
	return c.refuse(ap.Addr())
}

// dialContext resolves the host through the Resolver and connects to its
// addresses in turn; the dialer's Control hook refuses non-public ones.
func (c *Client) dialContext(ctx context.Context, network, address string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(address)
	if err != nil {
		return nil, err
	}
	var addrs []netip.Addr
	if ip, err := netip.ParseAddr(host); err == nil {
		addrs = []netip.Addr{ip}
	} else {
		lookupNet := "ip"
		switch network {
		case "tcp4":
			lookupNet = "ip4"
		case "tcp6":
			lookupNet = "ip6"
		}
		addrs, err = c.opts.Resolver.LookupNetIP(ctx, lookupNet, host)
		if err != nil {
			return nil, err
		}
		if len(addrs) == 0 {
			return nil, &net.DNSError{Err: "no addresses", Name: host, IsNotFound: true}
		}
	}
	var firstErr error
	for _, a := range addrs {
		conn, err := c.dialer.DialContext(ctx, network, net.JoinHostPort(a.Unmap().String(), port))
		if err == nil {
			return conn, nil
		}
		var refused *RefusedAddressError
		if errors.As(err, &refused) {
			refused.Host = host
		}
		if firstErr == nil {
			firstErr = err
		}
		if ctx.Err() != nil {
			break
		}
	}
	return nil, firstErr
}

// transportFor returns the shared transport whose TLS server name is
// tlsServerName, or that takes it from the URL when it is empty.
func (c *Client) transportFor(tlsServerName string) *http.Transport {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t, ok := c.transports[tlsServerName]; ok {
		return t
	}
	tlsConfig := c.tlsBase.Clone()
	tlsConfig.ServerName = tlsServerName
	t := &http.Transport{
		// No proxy: a proxy would connect on our behalf to addresses this
		// client never checks.
		Proxy:                 nil,
		DialContext:           c.dialContext,
		TLSClientConfig:       tlsConfig,
		TLSHandshakeTimeout:   c.opts.TLSHandshakeTimeout,
		ResponseHeaderTimeout: c.opts.ResponseHeaderTimeout,
		ExpectContinueTimeout: time.Second,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          100,
		// A push gateway takes many requests at once (one per pusher
		// being served): kept connections spare a TLS handshake each.
		MaxIdleConnsPerHost:    64,
		IdleConnTimeout:        90 * time.Second,
		MaxResponseHeaderBytes: 64 << 10,
	}
	if len(c.transports) >= maxTransports {
		// One transport per TLS server name, that is per remote server;
		// past the cap, drop one (its requests in flight keep it alive).
		for name, old := range c.transports {
			old.CloseIdleConnections()
			delete(c.transports, name)
			break
		}
	}
	c.transports[tlsServerName] = t
	return t
}

// Transport is an http.RoundTripper with every guarantee of the Client
// (address checks, timeouts, size limit, CA pool) that does not follow
// redirects: for libraries that bring their own http.Client.
func (c *Client) Transport() http.RoundTripper {
	return &limitedTransport{base: c.transportFor(""), timeout: c.opts.RequestTimeout, maxBytes: c.opts.MaxResponseBytes}
}

// TransportForServerName is Transport with the TLS server name (SNI and
// the name the certificate must carry) fixed to tlsServerName, whatever
// address the URL names: federation connects to a resolved address but
// checks the certificate of the server name.
func (c *Client) TransportForServerName(tlsServerName string) http.RoundTripper {
	return &limitedTransport{base: c.transportFor(tlsServerName), timeout: c.opts.RequestTimeout, maxBytes: c.opts.MaxResponseBytes}
}

// HTTPClient is an *http.Client over Transport that follows at most
// MaxRedirects redirects, to http and https URLs only; every redirect's
// connection is checked like the first.
func (c *Client) HTTPClient() *http.Client {
	return &http.Client{Transport: c.Transport(), CheckRedirect: c.checkRedirect}
}

// Do sends req with HTTPClient. The caller closes the response body.
func (c *Client) Do(req *http.Request) (*http.Response, error) {
	return c.HTTPClient().Do(req)
}

func (c *Client) checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= c.opts.MaxRedirects {
		return fmt.Errorf("outbound: stopped after %d redirects", len(via))
	}
	if req.URL.Scheme != "http" && req.URL.Scheme != "https" {
		return fmt.Errorf("outbound: refused redirect to a %q URL", req.URL.Scheme)
	}
	// The dialer checks the address anyway; an address written in the
	// URL is refused here already, before any connection.
	if ip, err := netip.ParseAddr(req.URL.Hostname()); err == nil {
		if err := c.refuse(ip); err != nil {
			var refused *RefusedAddressError
			if errors.As(err, &refused) {
				refused.Host = req.URL.Host
			}
			return err
		}
	}
	return nil
}
