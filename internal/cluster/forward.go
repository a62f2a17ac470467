package cluster

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"net/url"
	"strings"
	"time"
)

// Headers of a forwarded request: the cluster key, and the client's
// address as the forwarding process resolved it (its own trusted proxies
// applied), which the writer uses for rate limits and logs.
const (
	keyHeader           = "X-Foyer-Cluster-Key"
	clientAddressHeader = "X-Foyer-Client-Address"
)

// ForwardOptions configure a Forwarder.
type ForwardOptions struct {
	Member *Member
	Key    string
	// ClientAddress resolves a request's client address (the process's
	// trusted proxies applied to X-Forwarded-For).
	ClientAddress func(*http.Request) netip.Addr
	// ReadLimit and WriteLimit bound a forwarded request's body and
	// answer on the client's connection; the writer applies its own,
	// tighter, limits to each kind of request.
	ReadLimit, WriteLimit time.Duration
	Log                   *slog.Logger
}

// Forwarder hands every request to the writer as it came and streams the
// answer back: a follower's whole client API.
type Forwarder struct {
	opts      ForwardOptions
	transport *http.Transport
	proxy     *httputil.ReverseProxy
}

type writerAddressKey struct{}

// writerWait is how long a request waits for a writer to be known before
// it is answered 503: long enough for a process that just started to
// read the writer's address, short against a client's timeout.
const writerWait = 3 * time.Second

// NewForwarder makes the handler a follower serves with.
func NewForwarder(opts ForwardOptions) *Forwarder {
	f := &Forwarder{opts: opts}
	// Connections to the writer are reused across requests; one per
	// request in flight.
	f.transport = &http.Transport{
		DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConnsPerHost:   256,
		IdleConnTimeout:       90 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
	f.proxy = &httputil.ReverseProxy{
		Rewrite:   f.rewrite,
		Transport: f.transport,
		// Long-polls and downloads stream: flush as the writer writes.
		FlushInterval: -1,
		ErrorHandler:  f.unreachable,
	}
	return f
}

func (f *Forwarder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	addr, ok := f.opts.Member.AwaitWriter(r.Context(), writerWait)
	if !ok {
		writerUnavailable(w)
		return
	}
	f.allowLong(w)
	ctx := context.WithValue(r.Context(), writerAddressKey{}, writerTarget{addr: addr, client: f.opts.ClientAddress(r)})
	f.proxy.ServeHTTP(w, r.WithContext(ctx))
}

// allowLong moves the client connection's deadlines to the longest any
// request may take on the writer.
func (f *Forwarder) allowLong(w http.ResponseWriter) {
	rc := http.NewResponseController(w)
	if f.opts.ReadLimit > 0 {
		_ = rc.SetReadDeadline(time.Now().Add(f.opts.ReadLimit))
	}
	if f.opts.WriteLimit > 0 {
		_ = rc.SetWriteDeadline(time.Now().Add(f.opts.WriteLimit))
	}
}

// forwardedHeader is r's header as the writer gets it: the client's
// cluster headers and X-Forwarded-For dropped, the key and the client's
// address added.
func (f *Forwarder) forwardedHeader(r *http.Request) http.Header {
	h := r.Header.Clone()
	stripForwarded(h)
	for _, name := range hopHeaders {
		h.Del(name)
	}
	h.Set(keyHeader, f.opts.Key)
	if a := f.opts.ClientAddress(r); a.IsValid() {
		h.Set(clientAddressHeader, a.String())
	}
	return h
}

func stripForwarded(h http.Header) {
	for name := range h {
		if strings.HasPrefix(http.CanonicalHeaderKey(name), "X-Foyer-") {
			h.Del(name)
		}
	}
	h.Del("X-Forwarded-For")
}

type writerTarget struct {
	addr   string
	client netip.Addr
}

func (f *Forwarder) rewrite(pr *httputil.ProxyRequest) {
	t := pr.In.Context().Value(writerAddressKey{}).(writerTarget)
	pr.SetURL(&url.URL{Scheme: "http", Host: t.addr})
	// The client's Host names the server it asked (well-known answers
	// and join links are made from it).
	pr.Out.Host = pr.In.Host
	stripForwarded(pr.Out.Header)
	pr.Out.Header.Set(keyHeader, f.opts.Key)
	if t.client.IsValid() {
		pr.Out.Header.Set(clientAddressHeader, t.client.String())
	}
}

func (f *Forwarder) unreachable(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(r.Context().Err(), context.Canceled) {
		return // the client went away
	}
	f.opts.Log.Warn("forwarding to the writer failed", "err", err, "path", r.URL.Path)
	f.opts.Member.RefreshWriter()
	writerUnavailable(w)
}

// writerUnavailable answers while no writer can be reached: clients retry
// (sends are idempotent through their transaction IDs), and within a
// lease's life another process writes.
func writerUnavailable(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Retry-After", "2")
	w.WriteHeader(http.StatusServiceUnavailable)
	_, _ = w.Write([]byte(`{"errcode":"M_UNKNOWN","error":"the server is changing over to another process; retry shortly"}`))
}
