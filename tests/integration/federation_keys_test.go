package integration

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/url"
	"strings"
	"testing"
	"time"

	"foyer/internal/config"
	"foyer/internal/rooms/matrixevents"
	"foyer/internal/testharness"
)

// startNamed starts a server on backend named serverName, after edit
// changes its configuration.
func startNamed(t testing.TB, backend, serverName string, edit func(*config.Config)) *testharness.Homeserver {
	t.Helper()
	cfg := testharness.Config(t, backend)
	cfg.ServerName = serverName
	if edit != nil {
		edit(&cfg)
	}
	return testharness.Start(t, cfg)
}

// checkSignedKeys checks a server keys object: for server, listing key,
// signed by each signer with its key.
func checkSignedKeys(t *testing.T, raw []byte, server string, key *matrixevents.SigningKey, signers map[string]*matrixevents.SigningKey) {
	t.Helper()
	var body struct {
		ServerName   string                       `json:"server_name"`
		ValidUntilTS int64                        `json:"valid_until_ts"`
		VerifyKeys   map[string]map[string]string `json:"verify_keys"`
	}
	if err := json.Unmarshal(raw, &body); err != nil {
		t.Fatalf("keys: %v: %s", err, raw)
	}
	if body.ServerName != server || body.VerifyKeys[key.KeyID()]["key"] != key.PublicKeyBase64() {
		t.Fatalf("keys of %s: %s", server, raw)
	}
	if body.ValidUntilTS <= time.Now().UnixMilli() {
		t.Fatalf("keys already expired: %s", raw)
	}
	for name, k := range signers {
		if err := matrixevents.VerifyJSON(name, k.KeyID(), k.PublicKey(), raw); err != nil {
			t.Fatalf("signature of %s: %v: %s", name, err, raw)
		}
	}
}

// Server A fetches B's keys from B and then accepts requests B signs;
// requests signed otherwise are 401 M_UNAUTHORIZED. A serves B's keys as
// a notary, with its own signature added.
func TestFederationSignedRequestsAndKeyFetch(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		a := startNamed(t, backend, "a.test", nil)
		b := startNamed(t, backend, "b.test", nil)
		a.ReachServers(b)
		aKey, bKey := a.SigningKey(t), b.SigningKey(t)
		alice := a.RegisterUser(t, "alice")
		if r := a.Do(t, "PUT", "/_matrix/client/v3/profile/"+url.PathEscape(alice.UserID)+"/displayname", alice.Token, map[string]any{"displayname": "Alice"}); r.Status != 200 {
			t.Fatalf("set displayname: %s", r)
		}
		path := "/_matrix/federation/v1/query/profile?user_id=" + url.QueryEscape(alice.UserID) + "&field=displayname"

		r := a.SignedRequest(t, bKey, "b.test", "a.test", "GET", path, nil)
		if r.Status != 200 || r.Str("displayname") != "Alice" {
			t.Fatalf("request signed by b.test: %s", r)
		}

		// Another key under B's key ID, a key ID B does not have, a
		// request for another destination and no signature at all: each
		// is refused.
		unknown, err := matrixevents.NewSigningKey()
		if err != nil {
			t.Fatal(err)
		}
		refused := map[string]*testharness.Response{
			"wrong key":         a.SignedRequest(t, keyWithID(t, bKey.KeyID()), "b.test", "a.test", "GET", path, nil),
			"unknown key":       a.SignedRequest(t, unknown, "b.test", "a.test", "GET", path, nil),
			"wrong destination": a.SignedRequest(t, bKey, "b.test", "c.test", "GET", path, nil),
			"unsigned":          a.Do(t, "GET", path, "", nil),
		}
		for name, r := range refused {
			if r.Status != 401 || r.Errcode() != "M_UNAUTHORIZED" {
				t.Errorf("%s: %s", name, r)
			}
		}
		// A signature made for another path does not carry over.
		other := "/_matrix/federation/v1/query/profile?user_id=" + url.QueryEscape(alice.UserID)
		auth, err := matrixevents.XMatrixAuthorization(bKey, "b.test", "a.test", "GET", other, nil)
		if err != nil {
			t.Fatal(err)
		}
		if r := a.DoAuthorization(t, "GET", path, auth, nil); r.Status != 401 || r.Errcode() != "M_UNAUTHORIZED" {
			t.Errorf("signature of another path: %s", r)
		}

		// A now holds B's keys and serves them as a notary, signed by
		// both.
		r = a.Do(t, "GET", "/_matrix/key/v2/query/b.test", "", nil)
		keys := serverKeysOf(t, r)
		if len(keys) != 1 {
			t.Fatalf("notary answer: %s", r)
		}
		checkSignedKeys(t, keys[0], "b.test", bKey, map[string]*matrixevents.SigningKey{"a.test": aKey, "b.test": bKey})
	})
}

// keyWithID is a new signing key that claims keyID.
func keyWithID(t *testing.T, keyID string) *matrixevents.SigningKey {
	t.Helper()
	seed := make([]byte, 32)
	if _, err := rand.Read(seed); err != nil {
		t.Fatal(err)
	}
	line := "ed25519 " + strings.TrimPrefix(keyID, "ed25519:") + " " + base64.RawStdEncoding.EncodeToString(seed)
	key, err := matrixevents.ParseSigningKeyLine(line, "keyWithID")
	if err != nil || key.KeyID() != keyID {
		t.Fatalf("key %v: %v", key, err)
	}
	return key
}

func serverKeysOf(t *testing.T, r *testharness.Response) []json.RawMessage {
	t.Helper()
	var body struct {
		ServerKeys []json.RawMessage `json:"server_keys"`
	}
	if r.Status != 200 || json.Unmarshal(r.Raw, &body) != nil || body.ServerKeys == nil {
		t.Fatalf("key query: %s", r)
	}
	return body.ServerKeys
}

// federation.blocked_servers and allowed_servers refuse a correctly
// signed request with 403 M_FORBIDDEN, before any key is fetched.
func TestFederationBlockedAndAllowedServers(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		b := startNamed(t, backend, "b.test", nil)
		bKey := b.SigningKey(t)
		blocking := startNamed(t, backend, "a.test", func(c *config.Config) { c.Federation.BlockedServers = []string{"B.test"} })
		allowing := startNamed(t, backend, "c.test", func(c *config.Config) { c.Federation.AllowedServers = []string{"d.test"} })
		for _, hs := range []*testharness.Homeserver{blocking, allowing} {
			hs.ReachServers(b)
			user := hs.RegisterUser(t, "carol")
			path := "/_matrix/federation/v1/query/profile?user_id=" + url.QueryEscape(user.UserID)
			r := hs.SignedRequest(t, bKey, "b.test", hs.Config.ServerName, "GET", path, nil)
			if r.Status != 403 || r.Errcode() != "M_FORBIDDEN" {
				t.Errorf("%s: request from b.test: %s", hs.Config.ServerName, r)
			}
			// Nor does it fetch or serve b.test's keys as a notary.
			if keys := serverKeysOf(t, hs.Do(t, "GET", "/_matrix/key/v2/query/b.test", "", nil)); len(keys) != 0 {
				t.Errorf("%s served keys of a refused server: %s", hs.Config.ServerName, keys)
			}
		}
	})
}

// Our keys: /_matrix/key/v2/server is self-signed; the notary API serves
// them too, and POST /query honours minimum_valid_until_ts and answers
// an unreachable server with nothing.
func TestFederationKeyServerAndNotary(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		a := startNamed(t, backend, "a.test", nil)
		b := startNamed(t, backend, "b.test", nil)
		a.ReachServers(b)
		aKey, bKey := a.SigningKey(t), b.SigningKey(t)

		r := a.Do(t, "GET", "/_matrix/key/v2/server", "", nil)
		if r.Status != 200 {
			t.Fatalf("key server: %s", r)
		}
		checkSignedKeys(t, r.Raw, "a.test", aKey, map[string]*matrixevents.SigningKey{"a.test": aKey})
		var own struct {
			ValidUntilTS int64 `json:"valid_until_ts"`
		}
		_ = json.Unmarshal(r.Raw, &own)
		if d := time.Until(time.UnixMilli(own.ValidUntilTS)); d < 6*24*time.Hour || d > 8*24*time.Hour {
			t.Errorf("valid_until_ts is %v away, want about 7 days", d)
		}
		// The deprecated forms with a key ID, which older servers and
		// test suites still ask, answer the same.
		if r := a.Do(t, "GET", "/_matrix/key/v2/server/"+url.PathEscape(aKey.KeyID()), "", nil); r.Status != 200 {
			t.Fatalf("key server with a key ID: %s", r)
		} else {
			checkSignedKeys(t, r.Raw, "a.test", aKey, map[string]*matrixevents.SigningKey{"a.test": aKey})
		}
		if keys := serverKeysOf(t, a.Do(t, "GET", "/_matrix/key/v2/query/b.test/"+url.PathEscape(bKey.KeyID()), "", nil)); len(keys) != 1 {
			t.Fatalf("notary with a key ID: %d key objects", len(keys))
		}
		if old, ok := r.JSON["old_verify_keys"].(map[string]any); !ok || len(old) != 0 {
			t.Errorf("old_verify_keys: %s", r)
		}

		ownQuery := serverKeysOf(t, a.Do(t, "GET", "/_matrix/key/v2/query/a.test", "", nil))
		if len(ownQuery) != 1 {
			t.Fatalf("own keys through the notary API: %s", ownQuery)
		}
		checkSignedKeys(t, ownQuery[0], "a.test", aKey, map[string]*matrixevents.SigningKey{"a.test": aKey})

		later := time.Now().Add(time.Hour).UnixMilli()
		batch := serverKeysOf(t, a.Do(t, "POST", "/_matrix/key/v2/query", "", map[string]any{"server_keys": map[string]any{
			"b.test":       map[string]any{bKey.KeyID(): map[string]any{"minimum_valid_until_ts": later}},
			"nowhere.test": map[string]any{},
		}}))
		if len(batch) != 1 {
			t.Fatalf("batch query: %s", batch)
		}
		checkSignedKeys(t, batch[0], "b.test", bKey, map[string]*matrixevents.SigningKey{"a.test": aKey, "b.test": bKey})

		if r := a.Do(t, "GET", "/_matrix/key/v2/query/b.test?minimum_valid_until_ts=soon", "", nil); r.Status != 400 || r.Errcode() != "M_INVALID_PARAM" {
			t.Errorf("bad minimum_valid_until_ts: %s", r)
		}
		if r := a.Do(t, "POST", "/_matrix/key/v2/query", "", map[string]any{"server_keys": "b.test"}); r.Status != 400 || r.Errcode() != "M_BAD_JSON" {
			t.Errorf("bad server_keys: %s", r)
		}
		if keys := serverKeysOf(t, a.Do(t, "POST", "/_matrix/key/v2/query", "", map[string]any{"server_keys": map[string]any{}})); len(keys) != 0 {
			t.Errorf("empty query: %s", keys)
		}
	})
}

// /.well-known/matrix/server answers the delegation when one is set and
// 404 M_NOT_FOUND otherwise; /version names Foyer; with federation off
// the federation and key routes are not served but OpenID userinfo and
// the well-known answer are.
func TestFederationDiscoveryVersionAndSwitch(t *testing.T) {
	delegating := startNamed(t, "sqlite", "a.test", func(c *config.Config) { c.Federation.WellKnownServer = "fed.a.test:443" })
	plain := startNamed(t, "sqlite", "b.test", nil)
	if r := delegating.Do(t, "GET", "/.well-known/matrix/server", "", nil); r.Status != 200 || r.Str("m.server") != "fed.a.test:443" {
		t.Errorf("delegating well-known: %s", r)
	}
	if r := plain.Do(t, "GET", "/.well-known/matrix/server", "", nil); r.Status != 404 || r.Errcode() != "M_NOT_FOUND" {
		t.Errorf("plain well-known: %s", r)
	}
	r := plain.Do(t, "GET", "/_matrix/federation/v1/version", "", nil)
	server, _ := r.JSON["server"].(map[string]any)
	if r.Status != 200 || server["name"] != "Foyer" || server["version"] == "" || server["version"] == nil {
		t.Errorf("version: %s", r)
	}

	off := startNamed(t, "sqlite", "c.test", func(c *config.Config) {
		c.Federation.Enabled = false
		c.Federation.WellKnownServer = "fed.c.test:443"
	})
	for _, path := range []string{"/_matrix/federation/v1/version", "/_matrix/key/v2/server", "/_matrix/key/v2/query/a.test",
		"/_matrix/federation/v1/query/profile?user_id=%40x%3Ac.test"} {
		if r := off.Do(t, "GET", path, "", nil); r.Status != 404 || r.Errcode() != "M_UNRECOGNIZED" {
			t.Errorf("federation off, %s: %s", path, r)
		}
	}
	if r := off.Do(t, "GET", "/_matrix/federation/v1/openid/userinfo?access_token=nope", "", nil); r.Status != 401 || r.Errcode() != "M_UNKNOWN_TOKEN" {
		t.Errorf("federation off, userinfo: %s", r)
	}
	if r := off.Do(t, "GET", "/.well-known/matrix/server", "", nil); r.Status != 200 || r.Str("m.server") != "fed.c.test:443" {
		t.Errorf("federation off, well-known: %s", r)
	}
}

// A request whose X-Matrix origin is not a server name (a port that is
// not a number) is refused as malformed, 400, before any key is fetched.
func TestFederationOriginMustBeServerName(t *testing.T) {
	a := startNamed(t, "sqlite", "a.test", nil)
	key, err := matrixevents.NewSigningKey()
	if err != nil {
		t.Fatal(err)
	}
	path := "/_matrix/federation/v1/query/profile?user_id=" + url.QueryEscape("@alice:a.test") + "&field=displayname"
	auth, err := matrixevents.XMatrixAuthorization(key, "localhost:http", "a.test", "GET", path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r := a.DoAuthorization(t, "GET", path, auth, nil); r.Status != 400 {
		t.Fatalf("origin localhost:http: %s", r)
	}
}
