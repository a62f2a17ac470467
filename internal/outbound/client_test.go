package outbound

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"foyer/internal/outbound/outboundtest"
)

// hostsResolver is a fixed name → address mapping standing in for DNS.
type hostsResolver map[string]string

func (h hostsResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	a, ok := h[host]
	if !ok {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	return []netip.Addr{netip.MustParseAddr(a)}, nil
}

func newClient(t *testing.T, opts Options) *Client {
	t.Helper()
	c, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func get(c *Client, url string) (*http.Response, error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	return c.Do(req)
}

func okServer(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		io.WriteString(w, "ok")
	}))
	t.Cleanup(srv.Close)
	return srv
}

// serverOn starts srv on the loopback address addr (127.0.0.2 is as much
// loopback as 127.0.0.1 on Linux).
func serverOn(t *testing.T, addr string, h http.Handler) *httptest.Server {
	t.Helper()
	l, err := net.Listen("tcp", addr+":0")
	if err != nil {
		t.Skipf("cannot listen on %s: %v", addr, err)
	}
	srv := httptest.NewUnstartedServer(h)
	srv.Listener.Close()
	srv.Listener = l
	srv.Start()
	t.Cleanup(srv.Close)
	return srv
}

func wantRefused(t *testing.T, err error) *RefusedAddressError {
	t.Helper()
	var refused *RefusedAddressError
	if !errors.As(err, &refused) {
		t.Fatalf("want a RefusedAddressError, got %v", err)
	}
	return refused
}

func TestLoopbackRefusedByDefaultAndReachedWhenAllowed(t *testing.T) {
	srv := okServer(t)

	_, err := get(newClient(t, Options{}), srv.URL)
	refused := wantRefused(t, err)
	if refused.Address != netip.MustParseAddr("127.0.0.1") || refused.Reason != "loopback" {
		t.Fatalf("refused %v for %q, want 127.0.0.1 as loopback", refused.Address, refused.Reason)
	}

	resp, err := get(newClient(t, Options{AllowPrivateAddresses: true}), srv.URL)
	if err != nil {
		t.Fatalf("with private addresses allowed: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "ok" {
		t.Fatalf("body %q", body)
	}
}

func TestNameResolvingToLoopbackRefusedAtConnect(t *testing.T) {
	srv := okServer(t)
	port := srv.Listener.Addr().(*net.TCPAddr).Port
	resolver := hostsResolver{"matrix.example.org": "127.0.0.1"}
	url := fmt.Sprintf("http://matrix.example.org:%d/", port)

	_, err := get(newClient(t, Options{Resolver: resolver}), url)
	refused := wantRefused(t, err)
	if refused.Host != "matrix.example.org" {
		t.Fatalf("refused host %q, want matrix.example.org", refused.Host)
	}

	// The same name is reachable once allowed: the refusal came from the
	// address it resolved to, not from the name.
	resp, err := get(newClient(t, Options{Resolver: resolver, AllowPrivateAddresses: true}), url)
	if err != nil {
		t.Fatalf("with private addresses allowed: %v", err)
	}
	resp.Body.Close()
}

// pretendPublic refuses every address except 127.0.0.1, which it treats
// as public: it lets a test have an "allowed" server and a "private" one
// on one machine.
func pretendPublic(c *Client) *Client {
	public := netip.MustParseAddr("127.0.0.1")
	c.refuse = func(a netip.Addr) error {
		if a == public {
			return nil
		}
		return &RefusedAddressError{Address: a, Reason: "private (test)"}
	}
	return c
}

func TestRedirectToPrivateAddressRefused(t *testing.T) {
	private := serverOn(t, "127.0.0.2", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		io.WriteString(w, "secret")
	}))
	privatePort := private.Listener.Addr().(*net.TCPAddr).Port
	mux := http.NewServeMux()
	mux.HandleFunc("/to-ip", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, private.URL+"/", http.StatusFound)
	})
	mux.HandleFunc("/to-name", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, fmt.Sprintf("http://internal.example.org:%d/", privatePort), http.StatusFound)
	})
	mux.HandleFunc("/ok", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") })
	public := serverOn(t, "127.0.0.1", mux)
	resolver := hostsResolver{"internal.example.org": "127.0.0.2"}
	c := pretendPublic(newClient(t, Options{Resolver: resolver}))

	resp, err := get(c, public.URL+"/ok")
	if err != nil {
		t.Fatalf("the allowed server itself: %v", err)
	}
	resp.Body.Close()
	for _, path := range []string{"/to-ip", "/to-name"} {
		_, err := get(c, public.URL+path)
		if refused := wantRefused(t, err); refused.Address != netip.MustParseAddr("127.0.0.2") {
			t.Fatalf("%s: refused %v, want 127.0.0.2", path, refused.Address)
		}
	}
}

func TestRedirectsAreCapped(t *testing.T) {
	srv := serverOn(t, "127.0.0.1", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, r.URL.Path+"x", http.StatusFound)
	}))
	_, err := get(newClient(t, Options{AllowPrivateAddresses: true, MaxRedirects: 3}), srv.URL+"/")
	if err == nil || !strings.Contains(err.Error(), "stopped after 3 redirects") {
		t.Fatalf("want the redirect cap, got %v", err)
	}
}

func TestResponseSizeLimit(t *testing.T) {
	const limit = 1000
	srv := serverOn(t, "127.0.0.1", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var n int
		fmt.Sscan(r.URL.Query().Get("n"), &n)
		if r.URL.Query().Get("announce") == "" {
			w.(http.Flusher).Flush() // chunked: no Content-Length to go by
		}
		w.Write([]byte(strings.Repeat("a", n)))
	}))
	c := newClient(t, Options{AllowPrivateAddresses: true, MaxResponseBytes: limit})

	read := func(query string) ([]byte, error) {
		resp, err := get(c, srv.URL+"/?"+query)
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		return io.ReadAll(resp.Body)
	}
	if body, err := read("n=1000"); err != nil || len(body) != limit {
		t.Fatalf("exactly the limit: %d bytes, %v", len(body), err)
	}
	if _, err := read("n=1001"); !errors.Is(err, ErrResponseTooLarge) {
		t.Fatalf("one byte over the limit, streamed: want ErrResponseTooLarge, got %v", err)
	}
	if _, err := read("n=5000&announce=1"); !errors.Is(err, ErrResponseTooLarge) {
		t.Fatalf("over the limit by Content-Length: want ErrResponseTooLarge, got %v", err)
	}
}

// stallingServer answers nothing until the test ends.
func stallingServer(t *testing.T, afterHeaders bool) *httptest.Server {
	done := make(chan struct{})
	srv := serverOn(t, "127.0.0.1", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if afterHeaders {
			w.WriteHeader(http.StatusOK)
			w.Write([]byte("partial"))
			w.(http.Flusher).Flush()
		}
		select {
		case <-done:
		case <-time.After(30 * time.Second):
		}
	}))
	t.Cleanup(func() { close(done) }) // runs before srv.Close
	return srv
}

func TestResponseHeaderTimeout(t *testing.T) {
	srv := stallingServer(t, false)
	c := newClient(t, Options{AllowPrivateAddresses: true, ResponseHeaderTimeout: 100 * time.Millisecond})
	if _, err := get(c, srv.URL); err == nil || !strings.Contains(err.Error(), "timeout awaiting response headers") {
		t.Fatalf("want a response header timeout, got %v", err)
	}
}

func TestRequestTimeoutCoversTheBody(t *testing.T) {
	srv := stallingServer(t, true)
	c := newClient(t, Options{AllowPrivateAddresses: true, RequestTimeout: 200 * time.Millisecond})
	resp, err := get(c, srv.URL)
	if err != nil {
		t.Fatalf("headers should arrive: %v", err)
	}
	defer resp.Body.Close()
	if _, err := io.ReadAll(resp.Body); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("want the request deadline while reading the body, got %v", err)
	}
}

func TestTLSHandshakeTimeout(t *testing.T) {
	// A listener that accepts and never speaks TLS.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { conn.Close() })
		}
	}()
	c := newClient(t, Options{AllowPrivateAddresses: true, TLSHandshakeTimeout: 100 * time.Millisecond})
	if _, err := get(c, "https://"+l.Addr().String()+"/"); err == nil || !strings.Contains(err.Error(), "TLS handshake timeout") {
		t.Fatalf("want a TLS handshake timeout, got %v", err)
	}
}

func TestTLSTrustsOnlyTheConfiguredCA(t *testing.T) {
	ca := outboundtest.NewCA(t)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		io.WriteString(w, "ok")
	}))
	srv.TLS = ca.ServerTLSConfig(t, "127.0.0.1", "matrix.example.org")
	srv.StartTLS()
	t.Cleanup(srv.Close)
	port := srv.Listener.Addr().(*net.TCPAddr).Port
	resolver := hostsResolver{"matrix.example.org": "127.0.0.1", "other.example.org": "127.0.0.1"}

	_, err := get(newClient(t, Options{AllowPrivateAddresses: true, Resolver: resolver}), srv.URL)
	var unknownAuthority x509.UnknownAuthorityError
	if !errors.As(err, &unknownAuthority) {
		t.Fatalf("without trusted_ca_file: want an unknown-authority error, got %v", err)
	}

	c := newClient(t, Options{AllowPrivateAddresses: true, Resolver: resolver, TrustedCAFile: ca.WriteFile(t)})
	for _, url := range []string{srv.URL, fmt.Sprintf("https://matrix.example.org:%d/", port)} {
		resp, err := get(c, url)
		if err != nil {
			t.Fatalf("%s with trusted_ca_file: %v", url, err)
		}
		resp.Body.Close()
	}
	// A trusted CA does not make a certificate good for another name.
	if _, err := get(c, fmt.Sprintf("https://other.example.org:%d/", port)); err == nil || !strings.Contains(err.Error(), "certificate is valid for") {
		t.Fatalf("wrong name: want a hostname mismatch, got %v", err)
	}
	// TransportForServerName checks the certificate against the name it
	// is given, not the address in the URL.
	req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
	resp, err := c.TransportForServerName("matrix.example.org").RoundTrip(req)
	if err != nil {
		t.Fatalf("fixed server name matrix.example.org: %v", err)
	}
	resp.Body.Close()
	req, _ = http.NewRequest(http.MethodGet, srv.URL, nil)
	if _, err := c.TransportForServerName("other.example.org").RoundTrip(req); err == nil {
		t.Fatal("fixed server name other.example.org: want a certificate error")
	}
}

func TestTrustedCAFileWithoutCertificatesIsAnError(t *testing.T) {
	if _, err := New(Options{TrustedCAFile: "/nonexistent/ca.pem"}); err == nil {
		t.Fatal("want an error for a missing file")
	}
}
