package integration

import (
	"encoding/json"
	"testing"

	"foyer/internal/config"
	"foyer/internal/outbound/outboundtest"
	"foyer/internal/testharness"
)

// A server reaches another by its name alone, as in production: a name
// with a port is contacted at that host and port over TLS (no well-known,
// no SRV), through the outbound client, which trusts the operator's CA
// file and refuses loopback unless outbound.allow_private_addresses says
// otherwise.
func TestFederationKeysFetchedOverTLSByServerName(t *testing.T) {
	ca := outboundtest.NewCA(t)
	certFile, keyFile := ca.ServerCertificateFiles(t, "localhost")
	port := testharness.FreeLoopbackPort(t)
	bName := "localhost:" + port
	b := startNamed(t, "sqlite", bName, func(c *config.Config) {
		c.TLSListen = "127.0.0.1:" + port
		c.TLSCert, c.TLSKey = certFile, keyFile
	})
	bKey := b.SigningKey(t)

	allowed := startNamed(t, "sqlite", "a.test", func(c *config.Config) {
		c.Outbound.AllowPrivateAddresses = true
		c.Outbound.TrustedCAFile = ca.WriteFile(t)
	})
	keys := serverKeysOf(t, allowed.Do(t, "GET", "/_matrix/key/v2/query/"+bName, "", nil))
	if len(keys) != 1 {
		t.Fatalf("%d key objects for %s, want 1", len(keys), bName)
	}
	checkSignedKeys(t, keys[0], bName, bKey, nil)

	// Without the CA file the certificate is not trusted; without the
	// private-address switch loopback is never dialled: no keys either way.
	for name, edit := range map[string]func(*config.Config){
		"untrusted CA":       func(c *config.Config) { c.Outbound.AllowPrivateAddresses = true },
		"private refused":    func(c *config.Config) { c.Outbound.TrustedCAFile = ca.WriteFile(t) },
		"defaults (neither)": nil,
	} {
		a := startNamed(t, "sqlite", "c.test", edit)
		r := a.Do(t, "GET", "/_matrix/key/v2/query/"+bName, "", nil)
		var body struct {
			ServerKeys []json.RawMessage `json:"server_keys"`
		}
		if r.Status != 200 || json.Unmarshal(r.Raw, &body) != nil || len(body.ServerKeys) != 0 {
			t.Errorf("%s: %s, want 200 with no keys", name, r)
		}
	}
}

// The federation fixture's servers reach each other by name alone, both
// ways, through discovery and the outbound client.
func TestFederationFixtureServersReachEachOther(t *testing.T) {
	servers := testharness.StartFederation(t, "sqlite", 2, nil)
	for i, from := range servers {
		to := servers[1-i]
		keys := serverKeysOf(t, from.Do(t, "GET", "/_matrix/key/v2/query/"+to.Config.ServerName, "", nil))
		if len(keys) != 1 {
			t.Fatalf("%s got %d key objects for %s, want 1", from.Config.ServerName, len(keys), to.Config.ServerName)
		}
		checkSignedKeys(t, keys[0], to.Config.ServerName, to.SigningKey(t), nil)
	}
}
