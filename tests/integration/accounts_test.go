package integration

import (
	"strings"
	"testing"

	"foyer/internal/config"
	"foyer/internal/testharness"
)

func expect(t *testing.T, r *testharness.Response, status int, errcode string) {
	t.Helper()
	if r.Status != status || r.Errcode() != errcode {
		t.Fatalf("want %d %q, got %s", status, errcode, r)
	}
}

// G-4, G-5, G-6, G-7, G-8, G-17: one request, no UIA, body fields other
// than initial_device_display_name ignored, a real device, numeric ID.
func TestGuestRegistration_G4_G5_G6_G7_G8_G17(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		hs := testharness.StartBackend(t, backend)
		r := hs.Do(t, "POST", "/_matrix/client/v3/register?kind=guest", "", map[string]any{
			"username": "mallory", "password": "x", "device_id": "CHOSEN", "inhibit_login": true,
			"auth": 5, "initial_device_display_name": "Guest laptop",
		})
		expect(t, r, 200, "")
		userID, deviceID, token := r.Str("user_id"), r.Str("device_id"), r.Str("access_token")
		lp := strings.TrimSuffix(strings.TrimPrefix(userID, "@"), ":localhost")
		if lp == "" || strings.Trim(lp, "0123456789") != "" {
			t.Fatalf("guest user ID %q is not numeric", userID)
		}
		if deviceID == "" || deviceID == "CHOSEN" || token == "" {
			t.Fatalf("device %q token %q: server must pick the device and log in", deviceID, token)
		}
		who := hs.Do(t, "GET", "/_matrix/client/v3/account/whoami", token, nil)
		expect(t, who, 200, "")
		if who.Str("user_id") != userID || who.Str("device_id") != deviceID || who.JSON["is_guest"] != true {
			t.Fatalf("whoami: %s", who)
		}
		// G-6: the password in the body was ignored, not stored.
		expect(t, hs.Do(t, "POST", "/_matrix/client/v3/login", "", map[string]any{
			"type": "m.login.password", "user": userID, "password": "x",
		}), 403, "M_FORBIDDEN")
		dev := hs.Do(t, "GET", "/_matrix/client/v3/devices/"+deviceID, token, nil)
		expect(t, dev, 200, "")
		if dev.Str("display_name") != "Guest laptop" {
			t.Fatalf("device display name not honoured: %s", dev)
		}
		second := hs.RegisterGuest(t)
		if second.UserID == userID {
			t.Fatal("two guests got one ID")
		}
		// The body is still required to be JSON.
		expect(t, hs.Do(t, "POST", "/_matrix/client/v3/register?kind=guest", "", "not json"), 400, "M_NOT_JSON")
		expect(t, hs.Do(t, "POST", "/_matrix/client/v3/register?kind=robot", "", map[string]any{}), 400, "M_INVALID_PARAM")
	})
}

// G-1: guests switched off means 403 on guest registration.
func TestGuestRegistrationDisabled_G1(t *testing.T) {
	cfg := testharness.Config(t, "sqlite")
	cfg.Guests = false
	hs := testharness.Start(t, cfg)
	expect(t, hs.Do(t, "POST", "/_matrix/client/v3/register?kind=guest", "", map[string]any{}), 403, "M_FORBIDDEN")
}

// G-10: guest registration has its own per-IP limit.
func TestGuestRegistrationRateLimit_G10(t *testing.T) {
	cfg := testharness.Config(t, "sqlite")
	cfg.RateLimit.GuestRegistration = config.Rate{PerSecond: 0.01, Burst: 2}
	hs := testharness.Start(t, cfg)
	hs.RegisterGuest(t)
	hs.RegisterGuest(t)
	r := hs.Do(t, "POST", "/_matrix/client/v3/register?kind=guest", "", map[string]any{})
	expect(t, r, 429, "M_LIMIT_EXCEEDED")
	if ms, ok := r.JSON["retry_after_ms"].(float64); !ok || ms <= 0 {
		t.Fatalf("no retry_after_ms: %s", r)
	}
	if r.Header.Get("Retry-After") == "" {
		t.Fatal("no Retry-After header")
	}
	// Full-user registration has a bucket of its own.
	hs.RegisterUser(t, "alice")
}

func TestUserRegistrationUIA(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		hs := testharness.StartBackend(t, backend)
		r := hs.Do(t, "POST", "/_matrix/client/v3/register", "", map[string]any{"username": "alice", "password": "pw"})
		expect(t, r, 401, "")
		session := r.Str("session")
		flows, _ := r.JSON["flows"].([]any)
		if session == "" || len(flows) != 1 || !strings.Contains(string(r.Raw), "m.login.dummy") || r.JSON["params"] == nil {
			t.Fatalf("challenge: %s", r)
		}
		r = hs.Do(t, "POST", "/_matrix/client/v3/register", "", map[string]any{
			"username": "Alice", "password": "pw", "device_id": "MYDEVICE", "initial_device_display_name": "phone",
			"auth": map[string]any{"type": "m.login.dummy", "session": session},
		})
		expect(t, r, 200, "")
		if r.Str("user_id") != "@alice:localhost" || r.Str("device_id") != "MYDEVICE" {
			t.Fatalf("registration: %s", r)
		}
		who := hs.Do(t, "GET", "/_matrix/client/v3/account/whoami", r.Str("access_token"), nil)
		if who.JSON["is_guest"] != false {
			t.Fatalf("whoami: %s", who)
		}
		// A taken name is refused before any auth.
		expect(t, hs.Do(t, "POST", "/_matrix/client/v3/register", "", map[string]any{"username": "alice", "password": "pw"}), 400, "M_USER_IN_USE")
		// Numeric localparts are for guests (G-9).
		expect(t, hs.Do(t, "POST", "/_matrix/client/v3/register", "", map[string]any{"username": "12345", "password": "pw"}), 400, "M_INVALID_USERNAME")
		expect(t, hs.Do(t, "POST", "/_matrix/client/v3/register", "", map[string]any{"username": "bad name", "password": "pw"}), 400, "M_INVALID_USERNAME")
		// inhibit_login creates the account without a token.
		r = hs.Do(t, "POST", "/_matrix/client/v3/register", "", map[string]any{
			"username": "quiet", "password": "pw", "inhibit_login": true, "auth": map[string]any{"type": "m.login.dummy"},
		})
		expect(t, r, 200, "")
		if _, has := r.JSON["access_token"]; has || r.Str("user_id") != "@quiet:localhost" {
			t.Fatalf("inhibit_login: %s", r)
		}
		// Availability.
		expect(t, hs.Do(t, "GET", "/_matrix/client/v3/register/available?username=alice", "", nil), 400, "M_USER_IN_USE")
		expect(t, hs.Do(t, "GET", "/_matrix/client/v3/register/available?username=42", "", nil), 400, "M_INVALID_USERNAME")
		avail := hs.Do(t, "GET", "/_matrix/client/v3/register/available?username=fresh", "", nil)
		if avail.Status != 200 || avail.JSON["available"] != true {
			t.Fatalf("available: %s", avail)
		}
		// Wrong types and malformed bodies.
		expect(t, hs.Do(t, "POST", "/_matrix/client/v3/register", "", `{"username": 5}`), 400, "M_BAD_JSON")
		expect(t, hs.Do(t, "POST", "/_matrix/client/v3/register", "", `{"username": `), 400, "M_NOT_JSON")
		expect(t, hs.Do(t, "POST", "/_matrix/client/v3/register", "", `[]`), 400, "M_BAD_JSON")
		// An unknown UIA session.
		expect(t, hs.Do(t, "POST", "/_matrix/client/v3/register", "", map[string]any{
			"username": "zed", "password": "pw", "auth": map[string]any{"type": "m.login.dummy", "session": "nope"},
		}), 400, "M_UNKNOWN")
	})
}

func TestRegistrationClosedAndTokenModes(t *testing.T) {
	cfg := testharness.Config(t, "sqlite")
	cfg.Registration = config.RegistrationClosed
	hs := testharness.Start(t, cfg)
	expect(t, hs.Do(t, "POST", "/_matrix/client/v3/register", "", map[string]any{"username": "a", "password": "pw"}), 403, "M_FORBIDDEN")
	// Guests are independent of user registration.
	hs.RegisterGuest(t)

	cfg = testharness.Config(t, "sqlite")
	cfg.Registration = config.RegistrationToken
	hs = testharness.Start(t, cfg)
	r := hs.Do(t, "POST", "/_matrix/client/v3/register", "", map[string]any{"username": "a", "password": "pw"})
	expect(t, r, 401, "")
	if !strings.Contains(string(r.Raw), "m.login.registration_token") {
		t.Fatalf("token flow not offered: %s", r)
	}
	r = hs.Do(t, "POST", "/_matrix/client/v3/register", "", map[string]any{"username": "a", "password": "pw",
		"auth": map[string]any{"type": "m.login.registration_token", "token": "wrong", "session": r.Str("session")}})
	expect(t, r, 401, "M_FORBIDDEN")
	v := hs.Do(t, "GET", "/_matrix/client/v1/register/m.login.registration_token/validity?token=wrong", "", nil)
	if v.Status != 200 || v.JSON["valid"] != false {
		t.Fatalf("validity: %s", v)
	}
}

func TestLoginLogoutAndTokens_G40_G43(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		hs := testharness.StartBackend(t, backend)
		alice := hs.RegisterUser(t, "alice")
		flows := hs.Do(t, "GET", "/_matrix/client/v3/login", "", nil)
		if flows.Status != 200 || !strings.Contains(string(flows.Raw), "m.login.password") {
			t.Fatalf("login flows: %s", flows)
		}
		r := hs.Do(t, "POST", "/_matrix/client/v3/login", "", map[string]any{
			"type": "m.login.password", "identifier": map[string]any{"type": "m.id.user", "user": "alice"}, "password": alice.Password,
		})
		expect(t, r, 200, "")
		tok := r.Str("access_token")
		// The legacy user field and a full user ID.
		expect(t, hs.Do(t, "POST", "/_matrix/client/v3/login", "", map[string]any{
			"type": "m.login.password", "user": "@alice:localhost", "password": alice.Password,
		}), 200, "")
		// Upper case, as typed: the localpart is lower-cased as at
		// registration, so these are alice too.
		for _, typed := range []string{"Alice", "@Alice:localhost", "@ALICE:localhost"} {
			r := hs.Do(t, "POST", "/_matrix/client/v3/login", "", map[string]any{
				"type": "m.login.password", "identifier": map[string]any{"type": "m.id.user", "user": typed}, "password": alice.Password,
			})
			if r.Status != 200 || r.Str("user_id") != alice.UserID {
				t.Errorf("login as %q: %s", typed, r)
			}
		}
		expect(t, hs.Do(t, "POST", "/_matrix/client/v3/login", "", map[string]any{
			"type": "m.login.password", "identifier": map[string]any{"type": "m.id.user", "user": "alice"}, "password": "wrong",
		}), 403, "M_FORBIDDEN")
		expect(t, hs.Do(t, "POST", "/_matrix/client/v3/login", "", map[string]any{"type": "m.login.password", "password": "x"}), 400, "M_MISSING_PARAM")
		// G-40: a guest has no password to log in with.
		guest := hs.RegisterGuest(t)
		expect(t, hs.Do(t, "POST", "/_matrix/client/v3/login", "", map[string]any{
			"type": "m.login.password", "user": guest.UserID, "password": "",
		}), 403, "M_FORBIDDEN")
		// G-43: header and query-string tokens; missing and unknown.
		expect(t, hs.Do(t, "GET", "/_matrix/client/v3/account/whoami?access_token="+tok, "", nil), 200, "")
		expect(t, hs.Do(t, "GET", "/_matrix/client/v3/account/whoami", "", nil), 401, "M_MISSING_TOKEN")
		bad := hs.Do(t, "GET", "/_matrix/client/v3/account/whoami", "foyer_nonsense", nil)
		expect(t, bad, 401, "M_UNKNOWN_TOKEN")
		// Logout ends that token and deletes its device.
		expect(t, hs.Do(t, "POST", "/_matrix/client/v3/logout", tok, map[string]any{}), 200, "")
		expect(t, hs.Do(t, "GET", "/_matrix/client/v3/account/whoami", tok, nil), 401, "M_UNKNOWN_TOKEN")
		// Logout/all ends every token.
		expect(t, hs.Do(t, "POST", "/_matrix/client/v3/logout/all", alice.Token, map[string]any{}), 200, "")
		expect(t, hs.Do(t, "GET", "/_matrix/client/v3/account/whoami", alice.Token, nil), 401, "M_UNKNOWN_TOKEN")
		// G-42 extension: a guest may log itself out.
		expect(t, hs.Do(t, "POST", "/_matrix/client/v3/logout", guest.Token, map[string]any{}), 200, "")
		expect(t, hs.Do(t, "GET", "/_matrix/client/v3/account/whoami", guest.Token, nil), 401, "M_UNKNOWN_TOKEN")
	})
}

func TestLoginReusesDeviceAndRevokesItsOldToken(t *testing.T) {
	hs := testharness.StartBackend(t, "sqlite")
	alice := hs.RegisterUser(t, "alice")
	login := func() string {
		r := hs.Do(t, "POST", "/_matrix/client/v3/login", "", map[string]any{
			"type": "m.login.password", "user": "alice", "password": alice.Password, "device_id": "LAPTOP",
		})
		expect(t, r, 200, "")
		if r.Str("device_id") != "LAPTOP" {
			t.Fatalf("device_id not kept: %s", r)
		}
		return r.Str("access_token")
	}
	first := login()
	second := login()
	expect(t, hs.Do(t, "GET", "/_matrix/client/v3/account/whoami", first, nil), 401, "M_UNKNOWN_TOKEN")
	expect(t, hs.Do(t, "GET", "/_matrix/client/v3/account/whoami", second, nil), 200, "")
}

func passwordAuth(user, password, session string) map[string]any {
	a := map[string]any{"type": "m.login.password", "identifier": map[string]any{"type": "m.id.user", "user": user}, "password": password}
	if session != "" {
		a["session"] = session
	}
	return a
}

func TestPasswordChangeAndDeactivation(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		hs := testharness.StartBackend(t, backend)
		alice := hs.RegisterUser(t, "alice")
		other := hs.Do(t, "POST", "/_matrix/client/v3/login", "", map[string]any{"type": "m.login.password", "user": "alice", "password": alice.Password})
		expect(t, other, 200, "")

		r := hs.Do(t, "POST", "/_matrix/client/v3/account/password", alice.Token, map[string]any{"new_password": "new-pw"})
		expect(t, r, 401, "")
		if !strings.Contains(string(r.Raw), "m.login.password") {
			t.Fatalf("password flow not offered: %s", r)
		}
		r = hs.Do(t, "POST", "/_matrix/client/v3/account/password", alice.Token, map[string]any{
			"new_password": "new-pw", "auth": passwordAuth("alice", "wrong", r.Str("session")),
		})
		expect(t, r, 401, "M_FORBIDDEN")
		r = hs.Do(t, "POST", "/_matrix/client/v3/account/password", alice.Token, map[string]any{
			"new_password": "new-pw", "auth": passwordAuth("alice", alice.Password, r.Str("session")),
		})
		expect(t, r, 200, "")
		// The caller's session survives; the other device is logged out.
		expect(t, hs.Do(t, "GET", "/_matrix/client/v3/account/whoami", alice.Token, nil), 200, "")
		expect(t, hs.Do(t, "GET", "/_matrix/client/v3/account/whoami", other.Str("access_token"), nil), 401, "M_UNKNOWN_TOKEN")
		expect(t, hs.Do(t, "POST", "/_matrix/client/v3/login", "", map[string]any{"type": "m.login.password", "user": "alice", "password": "new-pw"}), 200, "")
		expect(t, hs.Do(t, "POST", "/_matrix/client/v3/account/password", alice.Token, map[string]any{}), 400, "M_MISSING_PARAM")

		// Authenticating as someone else is refused outright (403, as in
		// Synapse), not answered with another challenge.
		bob := hs.RegisterUser(t, "bob")
		expect(t, hs.Do(t, "POST", "/_matrix/client/v3/account/deactivate", alice.Token, map[string]any{
			"auth": passwordAuth("bob", bob.Password, ""),
		}), 403, "M_FORBIDDEN")

		r = hs.Do(t, "POST", "/_matrix/client/v3/account/deactivate", alice.Token, map[string]any{
			"auth": passwordAuth("alice", "new-pw", ""),
		})
		expect(t, r, 200, "")
		if r.Str("id_server_unbind_result") != "no-support" {
			t.Fatalf("deactivate: %s", r)
		}
		expect(t, hs.Do(t, "GET", "/_matrix/client/v3/account/whoami", alice.Token, nil), 401, "M_UNKNOWN_TOKEN")
		expect(t, hs.Do(t, "POST", "/_matrix/client/v3/login", "", map[string]any{"type": "m.login.password", "user": "alice", "password": "new-pw"}), 403, "M_FORBIDDEN")
		// The name stays taken.
		expect(t, hs.Do(t, "GET", "/_matrix/client/v3/register/available?username=alice", "", nil), 400, "M_USER_IN_USE")
	})
}

// G-7, G-44: device listing, renaming, deleting (deleting is not for guests).
func TestDevices_G7_G44(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		hs := testharness.StartBackend(t, backend)
		alice := hs.RegisterUser(t, "alice")
		second := hs.Do(t, "POST", "/_matrix/client/v3/login", "", map[string]any{"type": "m.login.password", "user": "alice", "password": alice.Password, "device_id": "SECOND"})
		expect(t, second, 200, "")
		list := hs.Do(t, "GET", "/_matrix/client/v3/devices", alice.Token, nil)
		expect(t, list, 200, "")
		if devs, _ := list.JSON["devices"].([]any); len(devs) != 2 {
			t.Fatalf("devices: %s", list)
		}
		expect(t, hs.Do(t, "PUT", "/_matrix/client/v3/devices/SECOND", alice.Token, map[string]any{"display_name": "tablet"}), 200, "")
		d := hs.Do(t, "GET", "/_matrix/client/v3/devices/SECOND", alice.Token, nil)
		if d.Str("display_name") != "tablet" || d.Str("device_id") != "SECOND" {
			t.Fatalf("device: %s", d)
		}
		expect(t, hs.Do(t, "GET", "/_matrix/client/v3/devices/NOPE", alice.Token, nil), 404, "M_NOT_FOUND")
		expect(t, hs.Do(t, "PUT", "/_matrix/client/v3/devices/NOPE", alice.Token, map[string]any{"display_name": "x"}), 404, "M_NOT_FOUND")
		expect(t, hs.Do(t, "PUT", "/_matrix/client/v3/devices/SECOND", alice.Token, map[string]any{"display_name": 7}), 400, "M_BAD_JSON")

		// Delete with UIA.
		r := hs.Do(t, "DELETE", "/_matrix/client/v3/devices/SECOND", alice.Token, nil)
		expect(t, r, 401, "")
		r = hs.Do(t, "DELETE", "/_matrix/client/v3/devices/SECOND", alice.Token, map[string]any{"auth": passwordAuth("alice", alice.Password, r.Str("session"))})
		expect(t, r, 200, "")
		expect(t, hs.Do(t, "GET", "/_matrix/client/v3/account/whoami", second.Str("access_token"), nil), 401, "M_UNKNOWN_TOKEN")
		expect(t, hs.Do(t, "DELETE", "/_matrix/client/v3/devices/SECOND", alice.Token, nil), 404, "M_NOT_FOUND")

		third := hs.Do(t, "POST", "/_matrix/client/v3/login", "", map[string]any{"type": "m.login.password", "user": "alice", "password": alice.Password, "device_id": "THIRD"})
		expect(t, third, 200, "")
		expect(t, hs.Do(t, "POST", "/_matrix/client/v3/delete_devices", alice.Token, map[string]any{}), 400, "M_MISSING_PARAM")
		expect(t, hs.Do(t, "POST", "/_matrix/client/v3/delete_devices", alice.Token, map[string]any{
			"devices": []string{"THIRD"}, "auth": passwordAuth("alice", alice.Password, ""),
		}), 200, "")
		expect(t, hs.Do(t, "GET", "/_matrix/client/v3/account/whoami", third.Str("access_token"), nil), 401, "M_UNKNOWN_TOKEN")

		// Guests list and rename their device but may not delete it.
		g := hs.RegisterGuest(t)
		gl := hs.Do(t, "GET", "/_matrix/client/v3/devices", g.Token, nil)
		expect(t, gl, 200, "")
		if devs, _ := gl.JSON["devices"].([]any); len(devs) != 1 || devs[0].(map[string]any)["device_id"] != g.DeviceID {
			t.Fatalf("a guest's device list: %s", gl)
		}
		expect(t, hs.Do(t, "PUT", "/_matrix/client/v3/devices/"+g.DeviceID, g.Token, map[string]any{"display_name": "visitor"}), 200, "")
		if d := hs.Do(t, "GET", "/_matrix/client/v3/devices/"+g.DeviceID, g.Token, nil); d.Str("display_name") != "visitor" {
			t.Fatalf("a guest's renamed device: %s", d)
		}
		expect(t, hs.Do(t, "DELETE", "/_matrix/client/v3/devices/"+g.DeviceID, g.Token, nil), 403, "M_GUEST_ACCESS_FORBIDDEN")
		// One user cannot see another's device.
		expect(t, hs.Do(t, "GET", "/_matrix/client/v3/devices/"+g.DeviceID, alice.Token, nil), 404, "M_NOT_FOUND")
	})
}

// G-37, G-38, G-39: a guest upgrades in place, keeping its user ID and
// device; anyone else asking for its name is refused.
func TestGuestUpgrade_G37_G38_G39(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		hs := testharness.StartBackend(t, backend)
		g := hs.RegisterGuest(t)
		lp := strings.TrimSuffix(strings.TrimPrefix(g.UserID, "@"), ":localhost")
		// Someone else cannot take the guest's name.
		expect(t, hs.Do(t, "POST", "/_matrix/client/v3/register", "", map[string]any{"username": lp, "password": "pw"}), 400, "M_INVALID_USERNAME")
		// The guest token must be a guest's, the username the guest's own.
		alice := hs.RegisterUser(t, "alice")
		expect(t, hs.Do(t, "POST", "/_matrix/client/v3/register", "", map[string]any{"username": "alice", "password": "pw", "guest_access_token": alice.Token}), 403, "M_FORBIDDEN")
		// Another username is not refused: it is the rename upgrade (a Foyer
		// extension, rename_upgrade_test.go), which asks for UIA first.
		expect(t, hs.Do(t, "POST", "/_matrix/client/v3/register", "", map[string]any{"username": "someoneelse", "password": "pw", "guest_access_token": g.Token}), 401, "")
		expect(t, hs.Do(t, "POST", "/_matrix/client/v3/register", "", map[string]any{"password": "pw", "guest_access_token": g.Token}), 400, "M_MISSING_PARAM")

		r := hs.Do(t, "POST", "/_matrix/client/v3/register", "", map[string]any{"username": lp, "password": "pw", "guest_access_token": g.Token})
		expect(t, r, 401, "")
		r = hs.Do(t, "POST", "/_matrix/client/v3/register", "", map[string]any{
			"username": lp, "password": "pw", "guest_access_token": g.Token,
			"auth": map[string]any{"type": "m.login.dummy", "session": r.Str("session")},
		})
		expect(t, r, 200, "")
		if r.Str("user_id") != g.UserID || r.Str("device_id") != g.DeviceID {
			t.Fatalf("upgrade changed identity or device: %s (guest %s %s)", r, g.UserID, g.DeviceID)
		}
		who := hs.Do(t, "GET", "/_matrix/client/v3/account/whoami", r.Str("access_token"), nil)
		if who.JSON["is_guest"] != false || who.Str("user_id") != g.UserID {
			t.Fatalf("after upgrade: %s", who)
		}
		// The guest token died with the upgrade (TestUpgradedGuestTokenRevoked).
		expect(t, hs.Do(t, "GET", "/_matrix/client/v3/account/whoami", g.Token, nil), 401, "M_UNKNOWN_TOKEN")
		expect(t, hs.Do(t, "POST", "/_matrix/client/v3/login", "", map[string]any{"type": "m.login.password", "user": g.UserID, "password": "pw"}), 200, "")
		// A second upgrade is refused: it is no longer a guest.
		expect(t, hs.Do(t, "POST", "/_matrix/client/v3/register", "", map[string]any{
			"username": lp, "password": "pw", "guest_access_token": g.Token, "auth": map[string]any{"type": "m.login.dummy"},
		}), 403, "M_FORBIDDEN")
	})
}

// Named guests: a username and no password (issue: guest access, item 4).
func TestNamedGuestRegistration(t *testing.T) {
	hs := testharness.StartBackend(t, "sqlite")
	r := hs.Do(t, "POST", "/_matrix/client/v3/register", "", map[string]any{"username": "visitor", "auth": map[string]any{"type": "m.login.dummy"}})
	expect(t, r, 200, "")
	who := hs.Do(t, "GET", "/_matrix/client/v3/account/whoami", r.Str("access_token"), nil)
	if who.JSON["is_guest"] != false || who.Str("user_id") != "@visitor:localhost" {
		t.Fatalf("named guest whoami: %s", who)
	}
	// It cannot log in with a password it does not have.
	expect(t, hs.Do(t, "POST", "/_matrix/client/v3/login", "", map[string]any{"type": "m.login.password", "user": "visitor", "password": ""}), 403, "M_FORBIDDEN")
}

func TestHTTPBase(t *testing.T) {
	hs := testharness.StartBackend(t, "sqlite")
	expect(t, hs.Do(t, "GET", "/_matrix/client/v3/nonexistent", "", nil), 404, "M_UNRECOGNIZED")
	r := hs.Do(t, "DELETE", "/_matrix/client/v3/login", "", nil)
	expect(t, r, 405, "M_UNRECOGNIZED")
	if allow := r.Header.Get("Allow"); !strings.Contains(allow, "POST") || !strings.Contains(allow, "GET") {
		t.Fatalf("405 Allow: %q", allow)
	}
	opt := hs.Do(t, "OPTIONS", "/_matrix/client/v3/rooms/whatever/send/x/y", "", nil)
	if opt.Status != 200 || opt.Header.Get("Access-Control-Allow-Origin") != "*" ||
		!strings.Contains(opt.Header.Get("Access-Control-Allow-Headers"), "Authorization") {
		t.Fatalf("CORS preflight: %d %v", opt.Status, opt.Header)
	}
	v := hs.Do(t, "GET", "/_matrix/client/versions", "", nil)
	if v.Status != 200 || v.Header.Get("Access-Control-Allow-Origin") != "*" {
		t.Fatalf("versions: %s", v)
	}
	if _, ok := v.JSON["versions"].([]any); !ok {
		t.Fatalf("versions list missing: %s", v)
	}
	wk := hs.Do(t, "GET", "/.well-known/matrix/client", "", nil)
	if !strings.HasPrefix(string(wk.Raw), `{"m.homeserver":{"base_url":"http://127.0.0.1:`) {
		t.Fatalf("well-known: %s", wk)
	}
	expect(t, hs.Do(t, "GET", "/health", "", nil), 200, "")
	m := hs.Do(t, "GET", "/metrics", "", nil)
	if m.Status != 200 || !strings.Contains(string(m.Raw), "foyer_http_requests_total") || !strings.Contains(string(m.Raw), "foyer_registrations_total") {
		t.Fatalf("metrics: %d %.300s", m.Status, m.Raw)
	}
	// Requests are counted by route pattern; no route: "unmatched".
	for _, want := range []string{`route="GET /_matrix/client/versions"`, `method="GET",route="unmatched",status="404"`, `method="DELETE",route="unmatched",status="405"`} {
		if !strings.Contains(string(m.Raw), want) {
			t.Fatalf("metrics lack %s", want)
		}
	}
	// Body cap: beyond max_request_bytes is 413 M_TOO_LARGE.
	big := `{"username":"` + strings.Repeat("a", int(hs.Config.Limits.MaxRequestBytes)) + `"}`
	expect(t, hs.Do(t, "POST", "/_matrix/client/v3/register", "", big), 413, "M_TOO_LARGE")
	// r0 paths are served too.
	g := hs.RegisterGuest(t)
	expect(t, hs.Do(t, "GET", "/_matrix/client/r0/account/whoami", g.Token, nil), 200, "")
}

func TestCapabilities_G15_G41(t *testing.T) {
	hs := testharness.StartBackend(t, "sqlite")
	g := hs.RegisterGuest(t)
	u := hs.RegisterUser(t, "alice")
	caps := func(tok string) map[string]any {
		r := hs.Do(t, "GET", "/_matrix/client/v3/capabilities", tok, nil)
		expect(t, r, 200, "")
		return r.JSON["capabilities"].(map[string]any)
	}
	gc, uc := caps(g.Token), caps(u.Token)
	if gc["m.change_password"].(map[string]any)["enabled"] != false || uc["m.change_password"].(map[string]any)["enabled"] != true {
		t.Fatalf("m.change_password: guest %v user %v", gc["m.change_password"], uc["m.change_password"])
	}
	allowed := gc["m.profile_fields"].(map[string]any)["allowed"].([]any)
	if len(allowed) != 1 || allowed[0] != "displayname" {
		t.Fatalf("guest profile fields: %v", gc["m.profile_fields"])
	}
	rv := uc["m.room_versions"].(map[string]any)
	if rv["default"] == "" || rv["available"].(map[string]any)[rv["default"].(string)] != "stable" {
		t.Fatalf("room versions: %v", rv)
	}
}

// A panic in a handler is a 500 M_UNKNOWN, not a dropped connection.
func TestPanicBecomes500(t *testing.T) {
	hs := testharness.StartBackend(t, "sqlite")
	// A handler whose store is closed under it fails with an internal
	// error; a real panic is exercised by the unit test in httpapi.
	hs.Server.DB.Read.Close()
	r := hs.Do(t, "GET", "/_matrix/client/v3/register/available?username=x", "", nil)
	expect(t, r, 500, "M_UNKNOWN")
	if strings.Contains(string(r.Raw), "sql") {
		t.Fatalf("internal error text leaked: %s", r)
	}
}

// A completed registration session answers a resubmission with the same
// result, with or without a username (as Synapse does), instead of an
// unknown-session or user-in-use error.
func TestRegistrationSessionIsIdempotent(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		hs := testharness.StartBackend(t, backend)
		for _, body := range []map[string]any{{"password": "sUp3rs3kr1t"}, {"username": "alice", "password": "sUp3rs3kr1t"}} {
			r := hs.Do(t, "POST", cs+"/register", "", body)
			expect(t, r, 401, "")
			session := r.Str("session")
			withAuth := func() map[string]any {
				b := map[string]any{"auth": map[string]any{"type": "m.login.dummy", "session": session}}
				for k, v := range body {
					b[k] = v
				}
				return b
			}
			first := hs.Do(t, "POST", cs+"/register", "", withAuth())
			expect(t, first, 200, "")
			again := hs.Do(t, "POST", cs+"/register", "", withAuth())
			expect(t, again, 200, "")
			if again.Str("user_id") != first.Str("user_id") || again.Str("access_token") != first.Str("access_token") ||
				again.Str("device_id") != first.Str("device_id") {
				t.Fatalf("resubmission changed the result: %s, then %s", first, again)
			}
			if body["username"] != nil && first.Str("user_id") != "@alice:localhost" {
				t.Fatalf("registered %s", first)
			}
			expect(t, hs.Do(t, "GET", cs+"/account/whoami", again.Str("access_token"), nil), 200, "")
			// Other parameters do not make a finished session register
			// anyone else.
			other := hs.Do(t, "POST", cs+"/register", "", map[string]any{
				"username": "someone-else", "password": "pw", "auth": map[string]any{"type": "m.login.dummy", "session": session},
			})
			if other.Status != 200 || other.Str("user_id") != first.Str("user_id") {
				t.Fatalf("finished session with new parameters: %s", other)
			}
			expect(t, hs.Do(t, "GET", cs+"/register/available?username=someone-else", "", nil), 200, "")
			// A finished session is not a credential for anything else.
			expect(t, hs.Do(t, "POST", cs+"/delete_devices", first.Str("access_token"), map[string]any{
				"devices": []string{"X"}, "auth": map[string]any{"type": "m.login.password", "session": session},
			}), 400, "M_UNKNOWN")
		}
	})
}

// The parameters of a session's first request are remembered, so later
// requests of the session may carry only auth; what a later request gives
// wins; inhibit_login is remembered too.
func TestRegistrationRemembersParameters(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		hs := testharness.StartBackend(t, backend)
		start := func(body map[string]any) string {
			t.Helper()
			r := hs.Do(t, "POST", cs+"/register", "", body)
			expect(t, r, 401, "")
			return r.Str("session")
		}
		dummy := func(session string) map[string]any {
			return map[string]any{"type": "m.login.dummy", "session": session}
		}

		session := start(map[string]any{"username": "alice", "password": "sUp3rs3kr1t", "device_id": "xyzzy", "initial_device_display_name": "display_name"})
		r := hs.Do(t, "POST", cs+"/register", "", map[string]any{"auth": dummy(session)})
		expect(t, r, 200, "")
		if r.Str("user_id") != "@alice:localhost" || r.Str("device_id") != "xyzzy" {
			t.Fatalf("remembered registration: %s", r)
		}
		dev := hs.Do(t, "GET", cs+"/devices/xyzzy", r.Str("access_token"), nil)
		if dev.Status != 200 || dev.Str("display_name") != "display_name" {
			t.Fatalf("device: %s", dev)
		}
		// The remembered password is the account's.
		expect(t, hs.Do(t, "POST", cs+"/login", "", map[string]any{"type": "m.login.password", "user": "alice", "password": "sUp3rs3kr1t"}), 200, "")

		// inhibit_login from the first request holds for the last.
		session = start(map[string]any{"username": "quiet", "password": "sUp3rs3kr1t", "inhibit_login": true})
		r = hs.Do(t, "POST", cs+"/register", "", map[string]any{"auth": dummy(session)})
		expect(t, r, 200, "")
		_, hasToken := r.JSON["access_token"]
		_, hasDevice := r.JSON["device_id"]
		if hasToken || hasDevice || r.Str("user_id") != "@quiet:localhost" {
			t.Fatalf("inhibit_login not remembered: %s", r)
		}

		// A later request's own parameters win; a malformed one is
		// refused without spoiling what is remembered.
		session = start(map[string]any{"username": "first", "password": "sUp3rs3kr1t"})
		expect(t, hs.Do(t, "POST", cs+"/register", "", map[string]any{"username": 5, "auth": dummy(session)}), 400, "M_BAD_JSON")
		r = hs.Do(t, "POST", cs+"/register", "", map[string]any{"username": "second", "auth": dummy(session)})
		expect(t, r, 200, "")
		if r.Str("user_id") != "@second:localhost" {
			t.Fatalf("later username: %s", r)
		}
		expect(t, hs.Do(t, "GET", cs+"/register/available?username=first", "", nil), 200, "")
		// Remembered parameters are checked like given ones: the name is
		// taken by now.
		session = start(map[string]any{"username": "third", "password": "sUp3rs3kr1t"})
		hs.RegisterUser(t, "third")
		expect(t, hs.Do(t, "POST", cs+"/register", "", map[string]any{"auth": dummy(session)}), 400, "M_USER_IN_USE")
	})
}

// Authenticating as another user in user-interactive auth is refused
// with 403 (as Synapse does), and nothing happens.
func TestUIARefusesAnotherUsersCredentials(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		hs := testharness.StartBackend(t, backend)
		alice := hs.RegisterUser(t, "alice")
		eve := hs.RegisterUser(t, "eve")
		second := hs.Do(t, "POST", cs+"/login", "", map[string]any{"type": "m.login.password", "user": "alice", "password": alice.Password, "device_id": "SECOND"})
		expect(t, second, 200, "")
		expect(t, hs.Do(t, "DELETE", cs+"/devices/SECOND", alice.Token, map[string]any{
			"auth": passwordAuth(eve.UserID, eve.Password, ""),
		}), 403, "M_FORBIDDEN")
		// Even with a wrong password for the other user: no probing.
		expect(t, hs.Do(t, "DELETE", cs+"/devices/SECOND", alice.Token, map[string]any{
			"auth": passwordAuth("eve", "wrong", ""),
		}), 403, "M_FORBIDDEN")
		expect(t, hs.Do(t, "GET", cs+"/devices/SECOND", alice.Token, nil), 200, "")
		expect(t, hs.Do(t, "DELETE", cs+"/devices/SECOND", alice.Token, map[string]any{
			"auth": passwordAuth(alice.UserID, alice.Password, ""),
		}), 200, "")
		expect(t, hs.Do(t, "GET", cs+"/devices/SECOND", alice.Token, nil), 404, "M_NOT_FOUND")
	})
}

// A UIA session begun to delete some devices cannot delete others: the
// operation changed during the session (403), and nothing is deleted.
func TestUIASessionBoundToItsDevices(t *testing.T) {
	hs := testharness.StartBackend(t, "sqlite")
	alice := hs.RegisterUser(t, "alice")
	for _, d := range []string{"ONE", "TWO"} {
		expect(t, hs.Do(t, "POST", "/_matrix/client/v3/login", "", map[string]any{"type": "m.login.password", "user": "alice", "password": alice.Password, "device_id": d}), 200, "")
	}
	r := hs.Do(t, "POST", "/_matrix/client/v3/delete_devices", alice.Token, map[string]any{"devices": []string{"ONE"}})
	expect(t, r, 401, "")
	expect(t, hs.Do(t, "POST", "/_matrix/client/v3/delete_devices", alice.Token, map[string]any{
		"devices": []string{"TWO"}, "auth": passwordAuth("alice", alice.Password, r.Str("session")),
	}), 403, "M_FORBIDDEN")
	expect(t, hs.Do(t, "GET", cs+"/devices/TWO", alice.Token, nil), 200, "")
	expect(t, hs.Do(t, "POST", "/_matrix/client/v3/delete_devices", alice.Token, map[string]any{
		"devices": []string{"ONE"}, "auth": passwordAuth("alice", alice.Password, r.Str("session")),
	}), 200, "")
	expect(t, hs.Do(t, "GET", cs+"/devices/ONE", alice.Token, nil), 404, "M_NOT_FOUND")
	expect(t, hs.Do(t, "GET", cs+"/devices/TWO", alice.Token, nil), 200, "")
}
