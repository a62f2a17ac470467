package testharness

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"foyer/internal/config"
	"foyer/internal/outbound/outboundtest"
	"foyer/internal/rooms/matrixevents"
	"foyer/internal/serverkeys"
)

// testResolver sends the server names of test servers to their loopback
// URLs: test servers have made-up names that no DNS knows.
type testResolver map[string]string

func (r testResolver) ResolveServer(_ context.Context, name string) (serverkeys.Destination, error) {
	if u, ok := r[name]; ok {
		return serverkeys.Destination{BaseURL: u}, nil
	}
	return serverkeys.Destination{}, errors.New("no test server is named " + name)
}

// ReachServers lets h fetch the others' keys: its key fetcher gets a
// plain HTTP client and a resolver from their server names to their
// loopback URLs, in place of the production client that refuses loopback.
func (h *Homeserver) ReachServers(others ...*Homeserver) {
	r := testResolver{}
	for _, o := range others {
		r[o.Config.ServerName] = o.URL
	}
	h.Server.Services.ServerKeys.SetOutbound(&http.Client{}, r)
}

// SigningKey is the running server's own signing key, for tests that
// sign federation requests as that server.
func (h *Homeserver) SigningKey(t testing.TB) *matrixevents.SigningKey {
	t.Helper()
	if h.Server == nil {
		t.Fatal("SigningKey: the server is not running")
	}
	return h.Server.Services.SigningKey
}

// SignedRequest sends a federation request to h signed with key as
// origin, for destination (normally h's server name). body is nil or
// sent as JSON.
func (h *Homeserver) SignedRequest(t testing.TB, key *matrixevents.SigningKey, origin, destination, method, path string, body any) *Response {
	t.Helper()
	var raw []byte
	if body != nil {
		var err error
		if raw, err = json.Marshal(body); err != nil {
			t.Fatal(err)
		}
	}
	auth, err := matrixevents.XMatrixAuthorization(key, origin, destination, method, path, raw)
	if err != nil {
		t.Fatal(err)
	}
	return h.DoAuthorization(t, method, path, auth, raw)
}

// DoAuthorization sends a request with the given Authorization header
// and raw body (nil for none).
func (h *Homeserver) DoAuthorization(t testing.TB, method, path, authorization string, body []byte) *Response {
	t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, h.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", authorization)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := h.client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	out := &Response{Status: resp.StatusCode, Header: resp.Header, Raw: got}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		_ = json.Unmarshal(got, &out.JSON)
	}
	return out
}

// StartFederation starts n servers on backend that federate with each
// other the way deployed servers do: each is named localhost:PORT and
// serves TLS on that port with a certificate from a CA made for the test,
// and each trusts that CA and may reach loopback (refused by default). The
// servers find each other by server discovery through the one outbound
// client, as in production. edit, when not nil, changes the i-th server's
// configuration before it starts.
func StartFederation(t testing.TB, backend string, n int, edit func(i int, cfg *config.Config)) []*Homeserver {
	t.Helper()
	ca := outboundtest.NewCA(t)
	certFile, keyFile := ca.ServerCertificateFiles(t, "localhost")
	caFile := ca.WriteFile(t)
	servers := make([]*Homeserver, n)
	for i := range servers {
		port := FreeLoopbackPort(t)
		cfg := Config(t, backend)
		cfg.ServerName = "localhost:" + port
		cfg.TLSListen = "127.0.0.1:" + port
		cfg.TLSCert, cfg.TLSKey = certFile, keyFile
		cfg.Outbound.AllowPrivateAddresses = true
		cfg.Outbound.TrustedCAFile = caFile
		if edit != nil {
			edit(i, &cfg)
		}
		servers[i] = Start(t, cfg)
	}
	return servers
}

// FreeLoopbackPort returns a loopback TCP port that was free a moment ago,
// for a server whose name must carry its port before it starts.
func FreeLoopbackPort(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, port, _ := net.SplitHostPort(l.Addr().String())
	return port
}
