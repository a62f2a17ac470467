package integration

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/hex"
	"strings"
	"testing"

	"foyer/internal/testharness"
)

// sharedSecretMAC is what a provisioning tool computes: HMAC-SHA1 over
// the NUL-joined nonce, username, password and admin flag.
func sharedSecretMAC(secret, nonce, user, password string, admin bool) string {
	m := hmac.New(sha1.New, []byte(secret))
	flag := "notadmin"
	if admin {
		flag = "admin"
	}
	m.Write([]byte(strings.Join([]string{nonce, user, password, flag}, "\x00")))
	return hex.EncodeToString(m.Sum(nil))
}

// Shared-secret registration creates users and admins while
// registration is closed; each nonce is single-use, a wrong MAC is
// refused, and a server without a secret refuses the API altogether.
func TestSharedSecretRegistration(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		cfg := testharness.Config(t, backend)
		cfg.Registration = "closed"
		cfg.RegistrationSharedSecret = "s3cret-for-tools"
		hs := testharness.Start(t, cfg)
		const path = "/_synapse/admin/v1/register"
		nonce := func() string {
			r := hs.Do(t, "GET", path, "", nil)
			if r.Status != 200 || r.Str("nonce") == "" {
				t.Fatalf("nonce: %s", r)
			}
			return r.Str("nonce")
		}
		register := func(n, user, password string, admin bool, mac string) *testharness.Response {
			return hs.Do(t, "POST", path, "", map[string]any{
				"nonce": n, "username": user, "password": password, "admin": admin, "mac": mac, "displayname": "Provisioned",
			})
		}

		n := nonce()
		r := register(n, "Carol", "long-password", false, sharedSecretMAC(cfg.RegistrationSharedSecret, n, "Carol", "long-password", false))
		if r.Status != 200 || r.Str("user_id") != "@carol:"+cfg.ServerName || r.Str("access_token") == "" || r.Str("device_id") == "" {
			t.Fatalf("registration: %s", r)
		}
		who := hs.Do(t, "GET", cs+"/account/whoami", r.Str("access_token"), nil)
		expect(t, who, 200, "")
		expect(t, hs.Do(t, "GET", cs+"/profile/@carol:"+cfg.ServerName+"/displayname", "", nil), 200, "")
		login := hs.Do(t, "POST", cs+"/login", "", map[string]any{
			"type": "m.login.password", "identifier": map[string]any{"type": "m.id.user", "user": "carol"}, "password": "long-password",
		})
		expect(t, login, 200, "")
		// The nonce was spent.
		expect(t, register(n, "carol2", "long-password", false, sharedSecretMAC(cfg.RegistrationSharedSecret, n, "carol2", "long-password", false)), 400, "M_UNKNOWN")

		// An admin: it may call the admin API; the plain user may not.
		n = nonce()
		admin := register(n, "root", "long-password", true, sharedSecretMAC(cfg.RegistrationSharedSecret, n, "root", "long-password", true))
		expect(t, admin, 200, "")
		expect(t, hs.Do(t, "GET", "/_foyer/admin/v1/guests/count", admin.Str("access_token"), nil), 200, "")
		expect(t, hs.Do(t, "GET", "/_foyer/admin/v1/guests/count", r.Str("access_token"), nil), 403, "M_FORBIDDEN")

		// A MAC for notadmin does not make an admin, nor does a wrong secret.
		n = nonce()
		expect(t, register(n, "eve", "long-password", true, sharedSecretMAC(cfg.RegistrationSharedSecret, n, "eve", "long-password", false)), 403, "M_FORBIDDEN")
		n = nonce()
		expect(t, register(n, "eve", "long-password", false, sharedSecretMAC("guess", n, "eve", "long-password", false)), 403, "M_FORBIDDEN")
		expect(t, register(nonce(), "eve", "long-password", false, "not-hex"), 403, "M_FORBIDDEN")
		expect(t, hs.Do(t, "GET", cs+"/profile/@eve:"+cfg.ServerName, "", nil), 404, "M_NOT_FOUND")

		// Bad names and taken names get the registration errors.
		n = nonce()
		expect(t, register(n, "us,er", "long-password", false, sharedSecretMAC(cfg.RegistrationSharedSecret, n, "us,er", "long-password", false)), 400, "M_INVALID_USERNAME")
		n = nonce()
		expect(t, register(n, "carol", "long-password", false, sharedSecretMAC(cfg.RegistrationSharedSecret, n, "carol", "long-password", false)), 400, "M_USER_IN_USE")
		expect(t, hs.Do(t, "POST", path, "", map[string]any{"nonce": nonce(), "username": "x"}), 400, "M_MISSING_PARAM")
		expect(t, hs.Do(t, "POST", path, "", []int{1}), 400, "M_BAD_JSON")
		expect(t, hs.Do(t, "POST", path, "", "{not json"), 400, "M_NOT_JSON")

		// Ordinary registration stays closed.
		expect(t, hs.Do(t, "POST", cs+"/register", "", map[string]any{"username": "dave", "password": "long-password", "auth": map[string]any{"type": "m.login.dummy"}}), 403, "M_FORBIDDEN")
	})

	// Without a secret the API is off.
	hs := testharness.StartBackend(t, "sqlite")
	expect(t, hs.Do(t, "GET", "/_synapse/admin/v1/register", "", nil), 400, "M_UNKNOWN")
	expect(t, hs.Do(t, "POST", "/_synapse/admin/v1/register", "", map[string]any{"nonce": "n", "username": "u", "password": "p", "mac": "00"}), 400, "M_UNKNOWN")
}

// GET /admin/whois/{userId}: a user sees their own devices with the IP,
// time and user agent each was last seen with; a server admin may look
// anyone up; other users may not (spec: "may be restricted").
func TestAdminWhois(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		cfg := testharness.Config(t, backend)
		cfg.RegistrationSharedSecret = "whois-secret"
		hs := testharness.Start(t, cfg)
		alice := hs.RegisterUser(t, "alice")
		bob := hs.RegisterUser(t, "bob")
		nonce := hs.Do(t, "GET", "/_synapse/admin/v1/register", "", nil).Str("nonce")
		admin := hs.Do(t, "POST", "/_synapse/admin/v1/register", "", map[string]any{
			"nonce": nonce, "username": "root", "password": "long-password", "admin": true,
			"mac": sharedSecretMAC(cfg.RegistrationSharedSecret, nonce, "root", "long-password", true),
		})
		expect(t, admin, 200, "")

		whois := cs + "/admin/whois/" + alice.UserID
		r := hs.Do(t, "GET", whois, alice.Token, nil)
		expect(t, r, 200, "")
		conns := jsonPath(r.JSON, "devices", alice.DeviceID, "sessions")
		sessions, _ := conns.([]any)
		if r.Str("user_id") != alice.UserID || len(sessions) != 1 {
			t.Fatalf("whois: %s", r)
		}
		c, _ := jsonPath(sessions[0], "connections").([]any)
		if len(c) != 1 || jsonPath(c[0], "ip") != "127.0.0.1" || jsonPath(c[0], "user_agent") == nil || jsonPath(c[0], "last_seen") == nil {
			t.Fatalf("whois connection: %s", r)
		}
		expect(t, hs.Do(t, "GET", whois, admin.Str("access_token"), nil), 200, "")
		expect(t, hs.Do(t, "GET", whois, bob.Token, nil), 403, "M_FORBIDDEN")
		expect(t, hs.Do(t, "GET", cs+"/admin/whois/@nobody:"+cfg.ServerName, admin.Str("access_token"), nil), 404, "M_NOT_FOUND")
		guest := hs.RegisterGuest(t)
		expect(t, hs.Do(t, "GET", cs+"/admin/whois/"+guest.UserID, guest.Token, nil), 403, "M_GUEST_ACCESS_FORBIDDEN")
	})
}
