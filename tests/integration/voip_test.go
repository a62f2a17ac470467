package integration

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"net/url"
	"strings"
	"testing"
	"time"

	"foyer/internal/testharness"
)

// G-14 extensions for Element Call: a guest gets an OpenID token that the
// call's SFU service can check, and TURN credentials.
func TestOpenIDTokenForCalls_G14(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		hs := testharness.StartBackend(t, backend)
		g := hs.RegisterGuest(t)
		alice := hs.RegisterUser(t, "alice")
		r := hs.Do(t, "POST", cs+"/user/"+url.PathEscape(g.UserID)+"/openid/request_token", g.Token, map[string]any{})
		expect(t, r, 200, "")
		if r.Str("token_type") != "Bearer" || r.Str("matrix_server_name") != "localhost" || r.JSON["expires_in"].(float64) <= 0 {
			t.Fatalf("openid token: %s", r)
		}
		info := hs.Do(t, "GET", "/_matrix/federation/v1/openid/userinfo?access_token="+url.QueryEscape(r.Str("access_token")), "", nil)
		if info.Status != 200 || info.Str("sub") != g.UserID {
			t.Fatalf("userinfo: %s", info)
		}
		expect(t, hs.Do(t, "GET", "/_matrix/federation/v1/openid/userinfo?access_token=nope", "", nil), 401, "M_UNKNOWN_TOKEN")
		expect(t, hs.Do(t, "GET", "/_matrix/federation/v1/openid/userinfo", "", nil), 401, "M_MISSING_TOKEN")
		// The access token itself is not an OpenID token, and one may only
		// ask for one's own.
		expect(t, hs.Do(t, "GET", "/_matrix/federation/v1/openid/userinfo?access_token="+url.QueryEscape(g.Token), "", nil), 401, "M_UNKNOWN_TOKEN")
		expect(t, hs.Do(t, "POST", cs+"/user/"+url.PathEscape(alice.UserID)+"/openid/request_token", g.Token, map[string]any{}), 403, "M_FORBIDDEN")
		expect(t, hs.Do(t, "POST", cs+"/user/"+url.PathEscape(g.UserID)+"/openid/request_token", "", map[string]any{}), 401, "M_MISSING_TOKEN")
	})
}

func TestTurnServer_G14(t *testing.T) {
	hs := testharness.StartBackend(t, "sqlite")
	g := hs.RegisterGuest(t)
	r := hs.Do(t, "GET", cs+"/voip/turnServer", g.Token, nil)
	if r.Status != 200 || string(r.Raw) != "{}" {
		t.Fatalf("unconfigured TURN: %s", r)
	}

	cfg := testharness.Config(t, "sqlite")
	cfg.TURN.URIs = []string{"turn:turn.example.org:3478?transport=udp"}
	cfg.TURN.SharedSecret = "s3cret"
	cfg.TURN.TTL = time.Hour
	hs = testharness.Start(t, cfg)
	g = hs.RegisterGuest(t)
	r = hs.Do(t, "GET", cs+"/voip/turnServer", g.Token, nil)
	expect(t, r, 200, "")
	user := r.Str("username")
	if !strings.HasSuffix(user, ":"+g.UserID) || r.JSON["ttl"] != float64(3600) {
		t.Fatalf("TURN credentials: %s", r)
	}
	mac := hmac.New(sha1.New, []byte("s3cret"))
	mac.Write([]byte(user))
	if r.Str("password") != base64.StdEncoding.EncodeToString(mac.Sum(nil)) {
		t.Fatalf("TURN password is not the HMAC of the username: %s", r)
	}
	expect(t, hs.Do(t, "GET", cs+"/voip/turnServer", "", nil), 401, "M_MISSING_TOKEN")
}
