package integration

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"testing"

	"foyer/internal/outbound"
	"foyer/internal/serverdiscovery"
	"foyer/internal/testharness"
)

// G-14 across servers: Element Call's SFU service (lk-jwt-service) checks
// a guest's OpenID token by asking the guest's homeserver, found from the
// token's matrix_server_name alone through server discovery, on its TLS
// federation port. The guest's token is good there; a made-up one is not.
func TestOpenIDUserInfoThroughDiscovery_G14(t *testing.T) {
	servers := testharness.StartFederation(t, "sqlite", 1, nil)
	hs := servers[0]
	g := hs.RegisterGuest(t)
	r := hs.Do(t, "POST", cs+"/user/"+url.PathEscape(g.UserID)+"/openid/request_token", g.Token, map[string]any{})
	if r.Status != 200 || r.Str("matrix_server_name") != hs.Config.ServerName {
		t.Fatalf("openid token: %s", r)
	}

	// The checking service's own client: discovery and TLS verified
	// against the test CA, as a deployed service verifies against the
	// system's.
	out, err := outbound.New(outbound.Options{AllowPrivateAddresses: true, TrustedCAFile: hs.Config.Outbound.TrustedCAFile})
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Transport: &serverdiscovery.FederationTransport{
		Discovery: serverdiscovery.New(serverdiscovery.Options{HTTP: out, DNS: net.DefaultResolver}),
		Outbound:  out,
	}}
	userInfo := func(token string) (int, string) {
		resp, err := client.Get("matrix-federation://" + r.Str("matrix_server_name") +
			"/_matrix/federation/v1/openid/userinfo?access_token=" + url.QueryEscape(token))
		if err != nil {
			t.Fatalf("userinfo through discovery: %v", err)
		}
		defer resp.Body.Close()
		var body struct {
			Sub string `json:"sub"`
		}
		raw, _ := io.ReadAll(resp.Body)
		_ = json.Unmarshal(raw, &body)
		return resp.StatusCode, body.Sub
	}
	if status, sub := userInfo(r.Str("access_token")); status != 200 || sub != g.UserID {
		t.Fatalf("userinfo of the guest's token: %d %q", status, sub)
	}
	if status, _ := userInfo("made-up"); status != 401 {
		t.Fatalf("userinfo of a made-up token: %d", status)
	}
}
