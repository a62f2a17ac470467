package integration

import (
	"strings"
	"testing"

	"foyer/internal/testharness"
)

// After an in-place guest upgrade the token the upgrade returns is the
// only live one: the guest token is revoked in the same transaction
// (alone it could otherwise, for one, set a named guest's first
// password). The device and its keys stay. With inhibit_login no token
// is returned, so the guest token is the account's way in and stays.
func TestUpgradedGuestTokenRevoked(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		hs := testharness.StartBackend(t, backend)
		alice := hs.RegisterUser(t, "alice")
		for _, password := range []string{"", "pw"} {
			g := hs.RegisterGuest(t)
			dev := newCryptoDevice(t, g)
			dev.setUp(t, hs, 2)

			token := gmUpgrade(t, hs, g, password)
			if token == "" || token == g.Token {
				t.Fatalf("password %q: the upgrade returned token %q", password, token)
			}
			expect(t, hs.Do(t, "GET", cs+"/account/whoami", g.Token, nil), 401, "M_UNKNOWN_TOKEN")
			expect(t, hs.Do(t, "POST", cs+"/account/password", g.Token, map[string]any{
				"new_password": "stolen", "auth": map[string]any{"type": "m.login.dummy"},
			}), 401, "M_UNKNOWN_TOKEN")
			who := hs.Do(t, "GET", cs+"/account/whoami", token, nil)
			if who.Status != 200 || who.Str("user_id") != g.UserID || who.Str("device_id") != g.DeviceID || who.JSON["is_guest"] != false {
				t.Fatalf("password %q: whoami with the new token: %s", password, who)
			}
			// The device and its keys are kept.
			q := hs.Do(t, "POST", cs+"/keys/query", alice.Token, map[string]any{"device_keys": map[string]any{g.UserID: []any{}}})
			expect(t, q, 200, "")
			if k := jsonPath(q.JSON, "device_keys", g.UserID, g.DeviceID, "keys", "ed25519:"+g.DeviceID); k != b64(dev.pub) {
				t.Fatalf("password %q: the device's keys after the upgrade: %s", password, q)
			}
			if c := hs.Do(t, "POST", cs+"/keys/upload", token, map[string]any{}); c.Status != 200 || jsonPath(c.JSON, "one_time_key_counts", "signed_curve25519") != float64(2) {
				t.Fatalf("password %q: one-time keys after the upgrade: %s", password, c)
			}
		}

		// inhibit_login: nothing new to switch to, so the guest token stays.
		g := hs.RegisterGuest(t)
		lp := strings.TrimSuffix(strings.TrimPrefix(g.UserID, "@"), ":localhost")
		r := hs.Do(t, "POST", cs+"/register", "", map[string]any{
			"username": lp, "password": "pw", "inhibit_login": true, "guest_access_token": g.Token,
			"auth": map[string]any{"type": "m.login.dummy"},
		})
		expect(t, r, 200, "")
		if r.Str("access_token") != "" {
			t.Fatalf("inhibit_login returned a token: %s", r)
		}
		if who := hs.Do(t, "GET", cs+"/account/whoami", g.Token, nil); who.Status != 200 || who.JSON["is_guest"] != false {
			t.Fatalf("the guest token after an upgrade with inhibit_login: %s", who)
		}
	})
}
