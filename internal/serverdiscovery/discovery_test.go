package serverdiscovery

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"foyer/internal/outbound"
	"foyer/internal/outbound/outboundtest"
)

// fakeDNS answers A/AAAA lookups (for the outbound client) with loopback
// for every name, and SRV lookups from a table keyed "_service._tcp.name".
type fakeDNS struct {
	mu      sync.Mutex
	srv     map[string][]*net.SRV
	lookups []string
}

func (f *fakeDNS) LookupSRV(_ context.Context, service, proto, name string) (string, []*net.SRV, error) {
	key := "_" + service + "._" + proto + "." + name
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lookups = append(f.lookups, key)
	if records, ok := f.srv[key]; ok {
		return key, records, nil
	}
	return "", nil, &net.DNSError{Err: "no such host", Name: key, IsNotFound: true}
}

func (f *fakeDNS) LookupNetIP(context.Context, string, string) ([]netip.Addr, error) {
	return []netip.Addr{netip.MustParseAddr("127.0.0.1")}, nil
}

func (f *fakeDNS) srvLookups() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.lookups...)
}

// wellKnownAnswer is what the fake server answers for one host.
type wellKnownAnswer struct {
	status  int
	body    string
	headers map[string]string
}

// fixture is a TLS server on loopback that serves well-known documents
// per Host and records federation requests, the outbound client that
// reaches it, and a Discovery on a fake clock.
type fixture struct {
	t        *testing.T
	port     int
	dns      *fakeDNS
	outbound *outbound.Client
	d        *Discovery
	now      time.Time

	mu        sync.Mutex
	answers   map[string]wellKnownAnswer
	hits      map[string]int
	fedHosts  []string
	fedTLSSNI []string
}

var certNames = []string{"127.0.0.1", "::1", "example.test", "matrix.example.test", "srv.example.test", "fed.example.test", "plain.example.test"}

func newFixture(t *testing.T) *fixture {
	f := &fixture{
		t:       t,
		dns:     &fakeDNS{srv: map[string][]*net.SRV{}},
		answers: map[string]wellKnownAnswer{},
		hits:    map[string]int{},
		now:     time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
	}
	ca := outboundtest.NewCA(t)
	mux := http.NewServeMux()
	mux.HandleFunc("/.well-known/matrix/server", func(w http.ResponseWriter, r *http.Request) {
		host, _, _ := net.SplitHostPort(r.Host)
		f.mu.Lock()
		f.hits[host]++
		a, ok := f.answers[host]
		f.mu.Unlock()
		if !ok {
			http.NotFound(w, r)
			return
		}
		for k, v := range a.headers {
			w.Header().Set(k, v)
		}
		if a.status == http.StatusFound {
			http.Redirect(w, r, a.body, http.StatusFound)
			return
		}
		w.WriteHeader(a.status)
		io.WriteString(w, a.body)
	})
	mux.HandleFunc("/moved/server", func(w http.ResponseWriter, _ *http.Request) {
		io.WriteString(w, `{"m.server": "moved.example.test:1234"}`)
	})
	mux.HandleFunc("/_matrix/federation/v1/version", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.fedHosts = append(f.fedHosts, r.Host)
		f.fedTLSSNI = append(f.fedTLSSNI, r.TLS.ServerName)
		f.mu.Unlock()
		io.WriteString(w, `{"server":{"name":"fake"}}`)
	})
	srv := httptest.NewUnstartedServer(mux)
	srv.TLS = ca.ServerTLSConfig(t, certNames...)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // refused handshakes are expected
	srv.StartTLS()
	t.Cleanup(srv.Close)
	f.port = srv.Listener.Addr().(*net.TCPAddr).Port

	var err error
	f.outbound, err = outbound.New(outbound.Options{AllowPrivateAddresses: true, TrustedCAFile: ca.WriteFile(t), Resolver: f.dns})
	if err != nil {
		t.Fatal(err)
	}
	f.d = New(Options{HTTP: f.outbound, DNS: f.dns, Now: func() time.Time {
		f.mu.Lock()
		defer f.mu.Unlock()
		return f.now
	}})
	f.d.wellKnownPort = f.port
	return f
}

func (f *fixture) serve(host string, a wellKnownAnswer) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if a.status == 0 {
		a.status = http.StatusOK
	}
	f.answers[host] = a
}

func (f *fixture) delegate(host, to string, headers map[string]string) {
	f.serve(host, wellKnownAnswer{body: fmt.Sprintf(`{"m.server": %q}`, to), headers: headers})
}

func (f *fixture) wellKnownHits(host string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.hits[host]
}

func (f *fixture) advance(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.now = f.now.Add(d)
}

func (f *fixture) resolve(name string) []Destination {
	f.t.Helper()
	dests, err := f.d.Resolve(context.Background(), name)
	if err != nil {
		f.t.Fatalf("Resolve(%q): %v", name, err)
	}
	return dests
}

func (f *fixture) want(name string, want ...Destination) {
	f.t.Helper()
	if got := f.resolve(name); !reflect.DeepEqual(got, want) {
		f.t.Errorf("Resolve(%q)\n got %+v\nwant %+v", name, got, want)
	}
}

func TestIPLiteralsAreUsedDirectly(t *testing.T) {
	f := newFixture(t)
	f.want("192.0.2.7", Destination{Address: "192.0.2.7:8448", Host: "192.0.2.7", TLSServerName: "192.0.2.7"})
	f.want("192.0.2.7:8449", Destination{Address: "192.0.2.7:8449", Host: "192.0.2.7:8449", TLSServerName: "192.0.2.7"})
	f.want("[2001:db8::7]", Destination{Address: "[2001:db8::7]:8448", Host: "[2001:db8::7]", TLSServerName: "2001:db8::7"})
	f.want("[2001:db8::7]:443", Destination{Address: "[2001:db8::7]:443", Host: "[2001:db8::7]:443", TLSServerName: "2001:db8::7"})
	if lookups := f.dns.srvLookups(); len(lookups) != 0 {
		t.Errorf("IP literals looked up SRV records: %v", lookups)
	}
}

func TestNameWithPortSkipsWellKnownAndSRV(t *testing.T) {
	f := newFixture(t)
	f.delegate("example.test", "matrix.example.test:443", nil)
	f.dns.srv["_matrix-fed._tcp.example.test"] = []*net.SRV{{Target: "srv.example.test.", Port: 8000}}
	f.want("example.test:8449", Destination{Address: "example.test:8449", Host: "example.test:8449", TLSServerName: "example.test"})
	if n := f.wellKnownHits("example.test"); n != 0 {
		t.Errorf("well-known fetched %d times for a name with a port", n)
	}
	if lookups := f.dns.srvLookups(); len(lookups) != 0 {
		t.Errorf("SRV looked up for a name with a port: %v", lookups)
	}
}

func TestWellKnownDelegation(t *testing.T) {
	t.Run("delegated name with port", func(t *testing.T) {
		f := newFixture(t)
		f.delegate("example.test", "matrix.example.test:443", nil)
		f.dns.srv["_matrix-fed._tcp.matrix.example.test"] = []*net.SRV{{Target: "srv.example.test.", Port: 8000}}
		f.want("example.test", Destination{Address: "matrix.example.test:443", Host: "matrix.example.test:443", TLSServerName: "matrix.example.test"})
		if lookups := f.dns.srvLookups(); len(lookups) != 0 {
			t.Errorf("SRV looked up for a delegated name with a port: %v", lookups)
		}
	})
	t.Run("delegated IP literal", func(t *testing.T) {
		f := newFixture(t)
		f.delegate("example.test", "[2001:db8::9]", nil)
		f.want("example.test", Destination{Address: "[2001:db8::9]:8448", Host: "[2001:db8::9]", TLSServerName: "2001:db8::9"})
		f.delegate("plain.example.test", "192.0.2.9:8000", nil)
		f.want("plain.example.test", Destination{Address: "192.0.2.9:8000", Host: "192.0.2.9:8000", TLSServerName: "192.0.2.9"})
	})
	t.Run("delegated name with SRV", func(t *testing.T) {
		f := newFixture(t)
		f.delegate("example.test", "matrix.example.test", nil)
		f.dns.srv["_matrix-fed._tcp.matrix.example.test"] = []*net.SRV{{Target: "srv.example.test.", Port: 8000}}
		f.dns.srv["_matrix-fed._tcp.example.test"] = []*net.SRV{{Target: "wrong.example.test.", Port: 1}}
		f.want("example.test", Destination{Address: "srv.example.test:8000", Host: "matrix.example.test", TLSServerName: "matrix.example.test"})
	})
	t.Run("delegated name with deprecated SRV", func(t *testing.T) {
		f := newFixture(t)
		f.delegate("example.test", "matrix.example.test", nil)
		f.dns.srv["_matrix._tcp.matrix.example.test"] = []*net.SRV{{Target: "srv.example.test.", Port: 8001}}
		f.want("example.test", Destination{Address: "srv.example.test:8001", Host: "matrix.example.test", TLSServerName: "matrix.example.test"})
		if got, want := f.dns.srvLookups(), []string{"_matrix-fed._tcp.matrix.example.test", "_matrix._tcp.matrix.example.test"}; !reflect.DeepEqual(got, want) {
			t.Errorf("SRV lookups %v, want %v", got, want)
		}
	})
	t.Run("delegated name without SRV", func(t *testing.T) {
		f := newFixture(t)
		f.delegate("example.test", "matrix.example.test", nil)
		f.want("example.test", Destination{Address: "matrix.example.test:8448", Host: "matrix.example.test", TLSServerName: "matrix.example.test"})
	})
	t.Run("no second well-known for the delegated name", func(t *testing.T) {
		f := newFixture(t)
		f.delegate("example.test", "matrix.example.test", nil)
		f.delegate("matrix.example.test", "srv.example.test:1", nil)
		f.want("example.test", Destination{Address: "matrix.example.test:8448", Host: "matrix.example.test", TLSServerName: "matrix.example.test"})
		if n := f.wellKnownHits("matrix.example.test"); n != 0 {
			t.Errorf("the delegated name's well-known was fetched %d times", n)
		}
	})
	t.Run("redirect followed", func(t *testing.T) {
		f := newFixture(t)
		f.serve("example.test", wellKnownAnswer{status: http.StatusFound, body: "/moved/server"})
		f.want("example.test", Destination{Address: "moved.example.test:1234", Host: "moved.example.test:1234", TLSServerName: "moved.example.test"})
	})
}

func TestWithoutWellKnownSRVThenDefaultPort(t *testing.T) {
	t.Run("_matrix-fed SRV, by priority", func(t *testing.T) {
		f := newFixture(t)
		f.dns.srv["_matrix-fed._tcp.example.test"] = []*net.SRV{
			{Target: "backup.example.test.", Port: 8002, Priority: 20},
			{Target: "srv.example.test.", Port: 8000, Priority: 10},
		}
		f.dns.srv["_matrix._tcp.example.test"] = []*net.SRV{{Target: "old.example.test.", Port: 1}}
		f.want("example.test",
			Destination{Address: "srv.example.test:8000", Host: "example.test", TLSServerName: "example.test"},
			Destination{Address: "backup.example.test:8002", Host: "example.test", TLSServerName: "example.test"})
		if n := f.wellKnownHits("example.test"); n != 1 {
			t.Errorf("well-known fetched %d times, want 1", n)
		}
	})
	t.Run("deprecated _matrix SRV", func(t *testing.T) {
		f := newFixture(t)
		f.dns.srv["_matrix._tcp.example.test"] = []*net.SRV{{Target: "old.example.test.", Port: 8003}}
		f.want("example.test", Destination{Address: "old.example.test:8003", Host: "example.test", TLSServerName: "example.test"})
	})
	t.Run("SRV saying no service", func(t *testing.T) {
		f := newFixture(t)
		f.dns.srv["_matrix-fed._tcp.example.test"] = []*net.SRV{{Target: ".", Port: 0}}
		f.want("example.test", Destination{Address: "example.test:8448", Host: "example.test", TLSServerName: "example.test"})
	})
	t.Run("nothing: port 8448", func(t *testing.T) {
		f := newFixture(t)
		f.want("example.test", Destination{Address: "example.test:8448", Host: "example.test", TLSServerName: "example.test"})
	})
	for name, answer := range map[string]wellKnownAnswer{
		"error status":     {status: http.StatusInternalServerError, body: `{"m.server": "matrix.example.test:443"}`},
		"bad JSON":         {body: `{"m.server": `},
		"no m.server":      {body: `{"server": "matrix.example.test:443"}`},
		"m.server invalid": {body: `{"m.server": "matrix example test"}`},
		"m.server number":  {body: `{"m.server": 443}`},
		"too large":        {body: `{"m.server": "matrix.example.test:443", "padding": "` + strings.Repeat("x", wellKnownMaxBytes) + `"}`},
	} {
		t.Run("invalid well-known: "+name, func(t *testing.T) {
			f := newFixture(t)
			f.serve("example.test", answer)
			f.dns.srv["_matrix-fed._tcp.example.test"] = []*net.SRV{{Target: "srv.example.test.", Port: 8000}}
			f.want("example.test", Destination{Address: "srv.example.test:8000", Host: "example.test", TLSServerName: "example.test"})
		})
	}
}

func TestWellKnownCaching(t *testing.T) {
	delegated := []Destination{{Address: "matrix.example.test:443", Host: "matrix.example.test:443", TLSServerName: "matrix.example.test"}}
	fallback := []Destination{{Address: "example.test:8448", Host: "example.test", TLSServerName: "example.test"}}
	for _, c := range []struct {
		name    string
		headers map[string]string
		fresh   time.Duration // still cached just before this
	}{
		{"default 24h", nil, 24 * time.Hour},
		{"max-age", map[string]string{"Cache-Control": "public, max-age=3600"}, time.Hour},
		{"max-age above 48h is capped", map[string]string{"Cache-Control": "max-age=31536000"}, 48 * time.Hour},
		{"max-age below 5m is raised", map[string]string{"Cache-Control": "max-age=10"}, 5 * time.Minute},
		{"no-store kept the minimum", map[string]string{"Cache-Control": "no-store"}, 5 * time.Minute},
		{"Expires", map[string]string{"Expires": "Thu, 01 Jan 2026 02:00:00 GMT"}, 2 * time.Hour},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t)
			f.delegate("example.test", "matrix.example.test:443", c.headers)
			f.want("example.test", delegated...)
			f.delegate("example.test", "other.example.test:443", c.headers)
			f.advance(c.fresh - time.Second)
			f.want("example.test", delegated...)
			if n := f.wellKnownHits("example.test"); n != 1 {
				t.Fatalf("fetched %d times within the lifetime, want 1", n)
			}
			f.advance(2 * time.Second)
			f.want("example.test", Destination{Address: "other.example.test:443", Host: "other.example.test:443", TLSServerName: "other.example.test"})
			if n := f.wellKnownHits("example.test"); n != 2 {
				t.Fatalf("fetched %d times after the lifetime, want 2", n)
			}
		})
	}
	t.Run("failures kept an hour", func(t *testing.T) {
		f := newFixture(t)
		f.want("example.test", fallback...) // 404
		f.delegate("example.test", "matrix.example.test:443", nil)
		f.advance(time.Hour - time.Second)
		f.want("example.test", fallback...)
		f.advance(2 * time.Second)
		f.want("example.test", delegated...)
		if n := f.wellKnownHits("example.test"); n != 2 {
			t.Fatalf("fetched %d times, want 2", n)
		}
	})
	t.Run("names are case-insensitive", func(t *testing.T) {
		f := newFixture(t)
		f.delegate("example.test", "matrix.example.test:443", nil)
		f.want("example.test", delegated...)
		f.resolve("EXAMPLE.test")
		if n := f.wellKnownHits("example.test") + f.wellKnownHits("EXAMPLE.test"); n != 1 {
			t.Fatalf("fetched %d times, want 1", n)
		}
	})
}

func TestInvalidServerNames(t *testing.T) {
	f := newFixture(t)
	for _, name := range []string{"", "example.test:", "example.test:0", "example.test:65536", "example.test:80a", "exa mple.test",
		"[2001:db8::1", "[192.0.2.1]", "[2001:db8::1]x", "2001:db8::1", "example.test/path", "user@example.test"} {
		if _, err := f.d.Resolve(context.Background(), name); !errors.Is(err, ErrInvalidServerName) {
			t.Errorf("Resolve(%q): want ErrInvalidServerName, got %v", name, err)
		}
	}
}

func TestFederationTransportHostAndTLSServerName(t *testing.T) {
	f := newFixture(t)
	transport := &FederationTransport{Discovery: f.d, Outbound: f.outbound}
	portName := fmt.Sprintf("matrix.example.test:%d", f.port)
	f.delegate("example.test", portName, nil)
	f.dns.srv["_matrix-fed._tcp.srv.example.test"] = []*net.SRV{{Target: "fed.example.test.", Port: uint16(f.port)}}
	f.dns.srv["_matrix-fed._tcp.plain.example.test"] = []*net.SRV{
		{Target: "unreachable.example.test.", Port: 1, Priority: 1}, // connection refused: the next is tried
		{Target: "fed.example.test.", Port: uint16(f.port), Priority: 2},
	}
	for _, c := range []struct{ server, host, sni string }{
		{"example.test", portName, "matrix.example.test"},                              // delegated with port
		{"srv.example.test", "srv.example.test", "srv.example.test"},                   // SRV: the server name's Host and certificate
		{"plain.example.test", "plain.example.test", "plain.example.test"},             // second SRV target
		{fmt.Sprintf("127.0.0.1:%d", f.port), fmt.Sprintf("127.0.0.1:%d", f.port), ""}, // IP literal: no SNI is sent for an address
	} {
		f.mu.Lock()
		f.fedHosts, f.fedTLSSNI = nil, nil
		f.mu.Unlock()
		req, _ := http.NewRequest(http.MethodGet, "matrix://"+c.server+"/_matrix/federation/v1/version", nil)
		resp, err := transport.RoundTrip(req)
		if err != nil {
			t.Fatalf("%s: %v", c.server, err)
		}
		resp.Body.Close()
		f.mu.Lock()
		hosts, snis := f.fedHosts, f.fedTLSSNI
		f.mu.Unlock()
		if !reflect.DeepEqual(hosts, []string{c.host}) || !reflect.DeepEqual(snis, []string{c.sni}) {
			t.Errorf("%s: server saw Host %q and SNI %q, want %q and %q", c.server, hosts, snis, c.host, c.sni)
		}
	}

	// The certificate must be valid for the TLS server name: a delegation
	// to a name the server has no certificate for fails.
	f.delegate("fed.example.test", fmt.Sprintf("nocert.example.org:%d", f.port), nil)
	req, _ := http.NewRequest(http.MethodGet, "matrix://fed.example.test/_matrix/federation/v1/version", nil)
	if _, err := transport.RoundTrip(req); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("a certificate not valid for the delegated name: want a certificate error, got %v", err)
	}
}

func TestFederationTransportRefusesPrivateAddresses(t *testing.T) {
	f := newFixture(t)
	strict, err := outbound.New(outbound.Options{Resolver: f.dns})
	if err != nil {
		t.Fatal(err)
	}
	transport := &FederationTransport{Discovery: f.d, Outbound: strict}
	req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("matrix://matrix.example.test:%d/_matrix/federation/v1/version", f.port), nil)
	_, err = transport.RoundTrip(req)
	var refused *outbound.RefusedAddressError
	if !errors.As(err, &refused) {
		t.Fatalf("want a RefusedAddressError, got %v", err)
	}
}

func TestWellKnownLookupCutShortIsNotCached(t *testing.T) {
	f := newFixture(t)
	f.delegate("example.test", "matrix.example.test:443", nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := f.d.Resolve(ctx, "example.test"); !errors.Is(err, context.Canceled) {
		t.Fatalf("with a cancelled context: want context.Canceled, got %v", err)
	}
	f.want("example.test", Destination{Address: "matrix.example.test:443", Host: "matrix.example.test:443", TLSServerName: "matrix.example.test"})
}

func TestConcurrentLookupsShareOneRequest(t *testing.T) {
	f := newFixture(t)
	f.delegate("example.test", "matrix.example.test:443", nil)
	var wg sync.WaitGroup
	results := make([][]Destination, 8)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], _ = f.d.Resolve(context.Background(), "example.test")
		}()
	}
	wg.Wait()
	for i, r := range results {
		if len(r) != 1 || r[0].Address != "matrix.example.test:443" {
			t.Errorf("lookup %d: %+v", i, r)
		}
	}
	if n := f.wellKnownHits("example.test"); n != 1 {
		t.Errorf("fetched %d times, want 1", n)
	}
}
