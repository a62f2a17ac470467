package matrixevents

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"

	"github.com/matrix-org/gomatrixserverlib/fclient"
	"github.com/matrix-org/gomatrixserverlib/spec"

	"foyer/internal/outbound"
	"foyer/internal/outbound/outboundtest"
	"foyer/internal/serverdiscovery"
)

// loopbackResolver resolves every name to 127.0.0.1 and has no SRV
// records.
type loopbackResolver struct{}

func (loopbackResolver) LookupNetIP(context.Context, string, string) ([]netip.Addr, error) {
	return []netip.Addr{netip.MustParseAddr("127.0.0.1")}, nil
}

func (loopbackResolver) LookupSRV(_ context.Context, service, proto, name string) (string, []*net.SRV, error) {
	return "", nil, &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
}

// The library's federation client, given Foyer's federation transport,
// reaches a server by its Matrix server name through server discovery and
// the outbound client, and is refused a loopback server unless private
// addresses are allowed.
func TestLibraryFederationClientOverFoyerTransport(t *testing.T) {
	ca := outboundtest.NewCA(t)
	var sawHost string
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sawHost = r.Host
		io.WriteString(w, `{"server":{"name":"Remote","version":"1.0"}}`)
	}))
	srv.TLS = ca.ServerTLSConfig(t, "remote.test")
	srv.StartTLS()
	t.Cleanup(srv.Close)
	serverName := fmt.Sprintf("remote.test:%d", srv.Listener.Addr().(*net.TCPAddr).Port)

	client := func(allowPrivate bool) *fclient.Client {
		out, err := outbound.New(outbound.Options{AllowPrivateAddresses: allowPrivate, TrustedCAFile: ca.WriteFile(t), Resolver: loopbackResolver{}})
		if err != nil {
			t.Fatal(err)
		}
		discovery := serverdiscovery.New(serverdiscovery.Options{HTTP: out, DNS: loopbackResolver{}})
		return fclient.NewClient(fclient.WithTransport(&serverdiscovery.FederationTransport{Discovery: discovery, Outbound: out}))
	}

	version, err := client(true).GetVersion(context.Background(), spec.ServerName(serverName))
	if err != nil {
		t.Fatalf("GetVersion: %v", err)
	}
	if version.Server.Name != "Remote" || sawHost != serverName {
		t.Fatalf("got %+v with Host %q, want Remote with Host %q", version, sawHost, serverName)
	}

	_, err = client(false).GetVersion(context.Background(), spec.ServerName(serverName))
	var refused *outbound.RefusedAddressError
	if !errors.As(err, &refused) {
		t.Fatalf("private addresses not allowed: want a RefusedAddressError, got %v", err)
	}
}
