package integration

import (
	"sync"
	"testing"
	"time"

	"foyer/internal/accounts"
	"foyer/internal/testharness"
)

// refreshLogin logs user in on deviceID ("" for a new device) asking for
// a refresh token, and returns the answer.
func refreshLogin(t *testing.T, hs *testharness.Homeserver, user testharness.Account, deviceID string) *testharness.Response {
	t.Helper()
	body := map[string]any{"type": "m.login.password", "user": user.UserID, "password": user.Password, "refresh_token": true}
	if deviceID != "" {
		body["device_id"] = deviceID
	}
	r := hs.Do(t, "POST", cs+"/login", "", body)
	expect(t, r, 200, "")
	if r.Str("refresh_token") == "" || r.Str("access_token") == "" {
		t.Fatalf("login with refresh_token: true gave no refresh token: %s", r)
	}
	return r
}

// refresh spends a refresh token and returns the new tokens.
func refresh(t *testing.T, hs *testharness.Homeserver, refreshToken string) (access, next string) {
	t.Helper()
	r := hs.Do(t, "POST", cs+"/refresh", "", map[string]any{"refresh_token": refreshToken})
	expect(t, r, 200, "")
	access, next = r.Str("access_token"), r.Str("refresh_token")
	if access == "" || next == "" || next == refreshToken {
		t.Fatalf("refresh did not rotate both tokens: %s", r)
	}
	if ms, _ := r.JSON["expires_in_ms"].(float64); ms <= 0 {
		t.Fatalf("refresh answer without expires_in_ms: %s", r)
	}
	return access, next
}

// whoamiDevice checks that token works and speaks for deviceID.
func whoamiDevice(t *testing.T, hs *testharness.Homeserver, token, deviceID string) {
	t.Helper()
	r := hs.Do(t, "GET", cs+"/account/whoami", token, nil)
	expect(t, r, 200, "")
	if r.Str("device_id") != deviceID {
		t.Fatalf("token speaks for device %q, want %q", r.Str("device_id"), deviceID)
	}
}

// expectRevoked checks that a token is refused as the spec says for a
// session that is over: 401 M_UNKNOWN_TOKEN, soft_logout false.
func expectRevoked(t *testing.T, r *testharness.Response) {
	t.Helper()
	expect(t, r, 401, "M_UNKNOWN_TOKEN")
	if r.JSON["soft_logout"] == true {
		t.Fatalf("a revoked token must not be a soft logout: %s", r)
	}
}

// A client that asks for a refresh token at login and at registration
// gets one, with expires_in_ms (the configured five minutes); /refresh
// rotates both tokens on the same device; the old refresh token may be
// repeated until the new tokens are used, and is refused after; the old
// access token stops working once the new one is used.
func TestRefreshTokensRotate(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		hs := testharness.StartBackend(t, backend)
		reg := hs.Do(t, "POST", cs+"/register", "", map[string]any{
			"username": "alice", "password": "password-alice", "refresh_token": true,
			"auth": map[string]any{"type": "m.login.dummy"},
		})
		expect(t, reg, 200, "")
		if reg.Str("refresh_token") == "" || reg.JSON["expires_in_ms"] != float64(5*time.Minute/time.Millisecond) {
			t.Fatalf("registration with refresh_token: true: %s", reg)
		}
		whoamiDevice(t, hs, reg.Str("access_token"), reg.Str("device_id"))
		regAccess, _ := refresh(t, hs, reg.Str("refresh_token"))
		whoamiDevice(t, hs, regAccess, reg.Str("device_id"))

		alice := testharness.Account{UserID: reg.Str("user_id"), Password: "password-alice"}
		login := refreshLogin(t, hs, alice, "")
		if login.JSON["expires_in_ms"] != float64(300000) {
			t.Fatalf("login expires_in_ms: %s", login)
		}
		dev, a1, r1 := login.Str("device_id"), login.Str("access_token"), login.Str("refresh_token")
		whoamiDevice(t, hs, a1, dev)

		// The answer of a refresh is lost: the client repeats it, and only
		// the tokens of the repeat count.
		lostAccess, lostRefresh := refresh(t, hs, r1)
		a2, r2 := refresh(t, hs, r1)
		expectRevoked(t, hs.Do(t, "GET", cs+"/account/whoami", lostAccess, nil))
		expectRevoked(t, hs.Do(t, "POST", cs+"/refresh", "", map[string]any{"refresh_token": lostRefresh}))
		// Until the new access token is used, the old one still works.
		whoamiDevice(t, hs, a1, dev)
		whoamiDevice(t, hs, a2, dev)
		// Its first use retires the old pair: the old refresh token is
		// refused as already used, and the old access token is gone.
		expectRevoked(t, hs.Do(t, "POST", cs+"/refresh", "", map[string]any{"refresh_token": r1}))
		expectRevoked(t, hs.Do(t, "GET", cs+"/account/whoami", a1, nil))
		// Refused reuse leaves the chain alone: its holder goes on.
		whoamiDevice(t, hs, a2, dev)
		a3, r3 := refresh(t, hs, r2)

		// Refreshing again without using the tokens in between spends
		// the refresh token before them, and their access token.
		_, r4 := refresh(t, hs, r3)
		a5, r5 := refresh(t, hs, r4)
		expectRevoked(t, hs.Do(t, "POST", cs+"/refresh", "", map[string]any{"refresh_token": r3}))
		expectRevoked(t, hs.Do(t, "GET", cs+"/account/whoami", a3, nil))
		whoamiDevice(t, hs, a5, dev)
		expectRevoked(t, hs.Do(t, "POST", cs+"/refresh", "", map[string]any{"refresh_token": r4}))

		// All of it on one device: the registration's and the login's.
		devs := hs.Do(t, "GET", cs+"/devices", a5, nil)
		expect(t, devs, 200, "")
		if list, _ := devs.JSON["devices"].([]any); len(list) != 2 {
			t.Fatalf("refreshing made devices: %s", devs)
		}
		// One chain per device: at most the current refresh token and
		// its predecessor are kept, with their access tokens.
		if n := gmCount(t, hs, `SELECT COUNT(*) FROM refresh_tokens WHERE user_id = $1 AND device_id = $2`, alice.UserID, dev); n > 2 {
			t.Fatalf("%d refresh tokens kept for one device", n)
		}
		if n := gmCount(t, hs, `SELECT COUNT(*) FROM access_tokens WHERE user_id = $1 AND device_id = $2`, alice.UserID, dev); n > 2 {
			t.Fatalf("%d access tokens kept for one device", n)
		}
		// Tokens are stored as hashes only.
		if n := gmCount(t, hs, `SELECT COUNT(*) FROM refresh_tokens WHERE token_hash = $1 OR token_hash = $2`, r5, accounts.HashToken(r5)); n != 1 {
			t.Fatalf("refresh token stored as %d rows by its hash (want exactly the hash)", n)
		}

		// The r0 path too (older clients); no access token is needed, and
		// an expired or bad one sent along is ignored.
		r := hs.Do(t, "POST", "/_matrix/client/r0/refresh", "not-a-token", map[string]any{"refresh_token": r5})
		expect(t, r, 200, "")
	})
}

// /refresh refuses what is not a refresh token with the spec's errors,
// and a refresh token is not an access token.
func TestRefreshTokenBadInput(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		hs := testharness.StartBackend(t, backend)
		alice := hs.RegisterUser(t, "alice")
		login := refreshLogin(t, hs, alice, "")

		expect(t, hs.Do(t, "POST", cs+"/refresh", "", map[string]any{}), 400, "M_MISSING_PARAM")
		expect(t, hs.Do(t, "POST", cs+"/refresh", "", map[string]any{"refresh_token": 5}), 400, "M_BAD_JSON")
		expect(t, hs.Do(t, "POST", cs+"/refresh", "", "not json"), 400, "M_NOT_JSON")
		expect(t, hs.Do(t, "POST", cs+"/refresh", "", "[]"), 400, "M_BAD_JSON")
		expectRevoked(t, hs.Do(t, "POST", cs+"/refresh", "", map[string]any{"refresh_token": ""}))
		expectRevoked(t, hs.Do(t, "POST", cs+"/refresh", "", map[string]any{"refresh_token": "foyer_refresh_nope"}))
		// Tokens do not stand in for one another.
		expectRevoked(t, hs.Do(t, "POST", cs+"/refresh", "", map[string]any{"refresh_token": login.Str("access_token")}))
		expectRevoked(t, hs.Do(t, "GET", cs+"/account/whoami", login.Str("refresh_token"), nil))
		// refresh_token at login and registration is a boolean.
		expect(t, hs.Do(t, "POST", cs+"/login", "", map[string]any{
			"type": "m.login.password", "user": alice.UserID, "password": alice.Password, "refresh_token": "yes",
		}), 400, "M_BAD_JSON")
		expect(t, hs.Do(t, "POST", cs+"/register", "", map[string]any{
			"username": "bob", "password": "password-bob", "refresh_token": 1, "auth": map[string]any{"type": "m.login.dummy"},
		}), 400, "M_BAD_JSON")
		// Nothing was spent by the refusals.
		refresh(t, hs, login.Str("refresh_token"))
	})
}

// An access token issued with a refresh token expires after
// auth.refreshable_access_token_lifetime: 401 M_UNKNOWN_TOKEN with
// soft_logout true, and /refresh brings the session back. Clients that
// did not ask keep tokens that do not expire, and get neither field.
func TestRefreshableAccessTokenExpires(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		cfg := testharness.Config(t, backend)
		cfg.Auth.RefreshableAccessTokenLifetime = 1500 * time.Millisecond
		hs := testharness.Start(t, cfg)
		alice := hs.RegisterUser(t, "alice")
		if alice.Token == "" {
			t.Fatal("no token")
		}
		plain := hs.Do(t, "POST", cs+"/login", "", map[string]any{
			"type": "m.login.password", "user": alice.UserID, "password": alice.Password,
		})
		expect(t, plain, 200, "")
		if _, ok := plain.JSON["refresh_token"]; ok {
			t.Fatalf("a login that did not ask got a refresh token: %s", plain)
		}
		if _, ok := plain.JSON["expires_in_ms"]; ok {
			t.Fatalf("a login that did not ask got expires_in_ms: %s", plain)
		}
		login := refreshLogin(t, hs, alice, "")
		if login.JSON["expires_in_ms"] != float64(1500) {
			t.Fatalf("expires_in_ms: %s", login)
		}
		dev := login.Str("device_id")
		whoamiDevice(t, hs, login.Str("access_token"), dev)

		time.Sleep(1600 * time.Millisecond)
		for _, path := range []string{"/account/whoami", "/sync?timeout=0"} {
			r := hs.Do(t, "GET", cs+path, login.Str("access_token"), nil)
			expect(t, r, 401, "M_UNKNOWN_TOKEN")
			if r.JSON["soft_logout"] != true {
				t.Fatalf("%s with an expired token: want soft_logout true, got %s", path, r)
			}
		}
		// Tokens of clients that did not ask live on.
		whoamiDevice(t, hs, plain.Str("access_token"), plain.Str("device_id"))
		whoamiDevice(t, hs, alice.Token, alice.DeviceID)

		// The session survives its expired access token.
		access, next := refresh(t, hs, login.Str("refresh_token"))
		whoamiDevice(t, hs, access, dev)
		expect(t, hs.Do(t, "GET", cs+"/account/whoami", login.Str("access_token"), nil), 401, "M_UNKNOWN_TOKEN")

		// A session whose token expired can still be logged out, as in
		// Synapse: /logout and /logout/all take the expired token.
		time.Sleep(1600 * time.Millisecond)
		expect(t, hs.Do(t, "POST", cs+"/logout", access, map[string]any{}), 200, "")
		expectRevoked(t, hs.Do(t, "POST", cs+"/refresh", "", map[string]any{"refresh_token": next}))
		expectRevoked(t, hs.Do(t, "GET", cs+"/account/whoami", access, nil))
		other := refreshLogin(t, hs, alice, "")
		time.Sleep(1600 * time.Millisecond)
		expect(t, hs.Do(t, "POST", cs+"/logout/all", other.Str("access_token"), map[string]any{}), 200, "")
		expectRevoked(t, hs.Do(t, "GET", cs+"/account/whoami", alice.Token, nil))
		expectRevoked(t, hs.Do(t, "POST", cs+"/refresh", "", map[string]any{"refresh_token": other.Str("refresh_token")}))
	})
}

// With auth.refreshable_access_token_lifetime 0 the server issues no
// refresh tokens: a client that asks gets a token that does not expire.
func TestRefreshTokensSwitchedOff(t *testing.T) {
	cfg := testharness.Config(t, "sqlite")
	cfg.Auth.RefreshableAccessTokenLifetime = 0
	hs := testharness.Start(t, cfg)
	alice := hs.RegisterUser(t, "alice")
	r := hs.Do(t, "POST", cs+"/login", "", map[string]any{
		"type": "m.login.password", "user": alice.UserID, "password": alice.Password, "refresh_token": true,
	})
	expect(t, r, 200, "")
	if _, ok := r.JSON["refresh_token"]; ok {
		t.Fatalf("refresh token issued while switched off: %s", r)
	}
	if _, ok := r.JSON["expires_in_ms"]; ok {
		t.Fatalf("expires_in_ms while refresh tokens are off: %s", r)
	}
	whoamiDevice(t, hs, r.Str("access_token"), r.Str("device_id"))
}

// Logging out, logging out everywhere, deleting the device, logging in
// again on the same device, changing the password with logout_devices and
// deactivating each end the device's refresh token chain too.
func TestRefreshTokensEndWithSession(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		hs := testharness.StartBackend(t, backend)
		alice := hs.RegisterUser(t, "alice")
		refused := func(refreshToken string) {
			t.Helper()
			expectRevoked(t, hs.Do(t, "POST", cs+"/refresh", "", map[string]any{"refresh_token": refreshToken}))
		}

		// /logout with the refreshed access token.
		login := refreshLogin(t, hs, alice, "")
		access, next := refresh(t, hs, login.Str("refresh_token"))
		expect(t, hs.Do(t, "POST", cs+"/logout", access, map[string]any{}), 200, "")
		refused(next)
		refused(login.Str("refresh_token"))

		// /logout/all from another device.
		login = refreshLogin(t, hs, alice, "")
		expect(t, hs.Do(t, "POST", cs+"/logout/all", alice.Token, map[string]any{}), 200, "")
		refused(login.Str("refresh_token"))
		alice = hs.RegisterUser(t, "alice2")

		// Deleting the device.
		login = refreshLogin(t, hs, alice, "")
		path := cs + "/devices/" + login.Str("device_id")
		r := hs.Do(t, "DELETE", path, alice.Token, nil)
		expect(t, r, 401, "")
		expect(t, hs.Do(t, "DELETE", path, alice.Token, map[string]any{
			"auth": passwordAuth("alice2", alice.Password, r.Str("session")),
		}), 200, "")
		refused(login.Str("refresh_token"))

		// A new login on the same device replaces the device's tokens.
		login = refreshLogin(t, hs, alice, "PHONE")
		again := refreshLogin(t, hs, alice, "PHONE")
		refused(login.Str("refresh_token"))
		expectRevoked(t, hs.Do(t, "GET", cs+"/account/whoami", login.Str("access_token"), nil))
		whoamiDevice(t, hs, again.Str("access_token"), "PHONE")

		// A new password with logout_devices.
		r = hs.Do(t, "POST", cs+"/account/password", alice.Token, map[string]any{"new_password": "another-password"})
		expect(t, r, 401, "")
		expect(t, hs.Do(t, "POST", cs+"/account/password", alice.Token, map[string]any{
			"new_password": "another-password", "logout_devices": true,
			"auth": passwordAuth("alice2", alice.Password, r.Str("session")),
		}), 200, "")
		refused(again.Str("refresh_token"))
		alice.Password = "another-password"

		// Deactivation.
		login = refreshLogin(t, hs, alice, "")
		r = hs.Do(t, "POST", cs+"/account/deactivate", alice.Token, map[string]any{})
		expect(t, r, 401, "")
		expect(t, hs.Do(t, "POST", cs+"/account/deactivate", alice.Token, map[string]any{
			"auth": passwordAuth("alice2", alice.Password, r.Str("session")),
		}), 200, "")
		refused(login.Str("refresh_token"))
		if n := gmCount(t, hs, `SELECT COUNT(*) FROM refresh_tokens WHERE user_id = $1`, alice.UserID); n != 0 {
			t.Fatalf("%d refresh tokens left after deactivation", n)
		}
	})
}

// Guests get no refresh token, as in Synapse, even when they ask: their
// access token lives as long as the guest. A guest upgraded with
// refresh_token: true gets one for its new login.
func TestRefreshTokensGuests(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		cfg := testharness.Config(t, backend)
		cfg.Auth.RefreshableAccessTokenLifetime = 1500 * time.Millisecond
		hs := testharness.Start(t, cfg)
		r := hs.Do(t, "POST", cs+"/register?kind=guest", "", map[string]any{"refresh_token": true})
		expect(t, r, 200, "")
		if _, ok := r.JSON["refresh_token"]; ok {
			t.Fatalf("guest got a refresh token: %s", r)
		}
		if _, ok := r.JSON["expires_in_ms"]; ok {
			t.Fatalf("guest got expires_in_ms: %s", r)
		}
		guest := testharness.Account{UserID: r.Str("user_id"), DeviceID: r.Str("device_id"), Token: r.Str("access_token")}
		time.Sleep(1600 * time.Millisecond)
		whoamiDevice(t, hs, guest.Token, guest.DeviceID)

		lp := guest.UserID[1 : len(guest.UserID)-len(":localhost")]
		up := hs.Do(t, "POST", cs+"/register", "", map[string]any{
			"username": lp, "password": "password-guest", "guest_access_token": guest.Token, "refresh_token": true,
			"auth": map[string]any{"type": "m.login.dummy"},
		})
		expect(t, up, 200, "")
		if up.Str("refresh_token") == "" || up.JSON["expires_in_ms"] != float64(1500) {
			t.Fatalf("upgrade with refresh_token: true: %s", up)
		}
		whoamiDevice(t, hs, up.Str("access_token"), guest.DeviceID)
		access, _ := refresh(t, hs, up.Str("refresh_token"))
		whoamiDevice(t, hs, access, guest.DeviceID)

		// A rename upgrade (a new account in the guest's place) too.
		other := hs.RegisterGuest(t)
		renamed := hs.Do(t, "POST", cs+"/register", "", map[string]any{
			"username": "vera", "password": "password-vera", "guest_access_token": other.Token, "refresh_token": true,
			"auth": map[string]any{"type": "m.login.dummy"},
		})
		expect(t, renamed, 200, "")
		if renamed.Str("refresh_token") == "" || renamed.JSON["expires_in_ms"] != float64(1500) {
			t.Fatalf("rename upgrade with refresh_token: true: %s", renamed)
		}
		access, _ = refresh(t, hs, renamed.Str("refresh_token"))
		whoamiDevice(t, hs, access, renamed.Str("device_id"))
	})
}

// Refreshes of one refresh token at once, and a refresh racing the first
// use of the tokens it replaces, take turns: every answer is 200 or 401
// (never a 500 or a deadlock), exactly the last refresh's tokens work,
// and the device keeps one chain.
func TestRefreshTokensConcurrent(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		hs := testharness.StartBackend(t, backend)
		alice := hs.RegisterUser(t, "alice")
		login := refreshLogin(t, hs, alice, "")
		dev, r1 := login.Str("device_id"), login.Str("refresh_token")

		type answer struct {
			resp *testharness.Response
			err  error
		}
		race := func(requests ...func() (*testharness.Response, error)) []answer {
			out := make([]answer, len(requests))
			var wg sync.WaitGroup
			for i, req := range requests {
				wg.Add(1)
				go func() {
					defer wg.Done()
					out[i].resp, out[i].err = req()
				}()
			}
			wg.Wait()
			for _, a := range out {
				if a.err != nil {
					t.Fatal(a.err)
				}
				if a.resp.Status != 200 && a.resp.Status != 401 {
					t.Fatalf("racing token changes: %s", a.resp)
				}
			}
			return out
		}
		refreshReq := func(token string) func() (*testharness.Response, error) {
			return func() (*testharness.Response, error) {
				return hs.DoErr("POST", cs+"/refresh", "", map[string]any{"refresh_token": token})
			}
		}

		var reqs []func() (*testharness.Response, error)
		for range 6 {
			reqs = append(reqs, refreshReq(r1))
		}
		working, winner := 0, answer{}
		for _, a := range race(reqs...) {
			if a.resp.Status != 200 {
				t.Fatalf("a repeated refresh of an unused chain was refused: %s", a.resp)
			}
			if hs.Do(t, "GET", cs+"/account/whoami", a.resp.Str("access_token"), nil).Status == 200 {
				working++
				winner = a
			}
		}
		if working != 1 {
			t.Fatalf("%d of the racing refreshes' access tokens work, want exactly one", working)
		}

		// The winner's tokens are in use now; race a refresh of them, a
		// reuse of the spent token and a new login on the device.
		race(refreshReq(winner.resp.Str("refresh_token")), refreshReq(r1), refreshReq(winner.resp.Str("refresh_token")),
			func() (*testharness.Response, error) {
				return hs.DoErr("POST", cs+"/login", "", map[string]any{"type": "m.login.password", "user": alice.UserID,
					"password": alice.Password, "device_id": dev, "refresh_token": true})
			})
		if n := gmCount(t, hs, `SELECT COUNT(*) FROM refresh_tokens WHERE user_id = $1 AND device_id = $2`, alice.UserID, dev); n > 2 {
			t.Fatalf("%d refresh tokens kept for one device", n)
		}
	})
}
