package integration

import (
	"context"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"foyer/internal/accounts"
	"foyer/internal/config"
	"foyer/internal/testharness"
)

// Tests of the guest module's server side beyond the spec's rules: named
// guests, room guest links, expiry, throttles, the admin API, the
// public-room policy, auto-join rooms, configurable extensions and
// metrics. Helpers carry a gm prefix so they do not collide with other
// files' helpers in this package.

const (
	gmClient = "/_foyer/client/v1"
	gmAdmin  = "/_foyer/admin/v1"
)

func gmLinks(roomID string) string {
	return gmClient + "/rooms/" + testharness.PathEscape(roomID) + "/guest_links"
}

func gmRedeem(token string) string {
	return gmClient + "/guest_links/" + url.PathEscape(token) + "/redeem"
}

// gmAdminAccount creates a server admin as `foyer user create --admin`
// does, logged in.
func gmAdminAccount(t *testing.T, hs *testharness.Homeserver, name string) testharness.Account {
	t.Helper()
	creds, err := hs.Server.Services.Accounts.Register(context.Background(), accounts.RegisterRequest{
		Username: name, Password: "pw-" + name, Admin: true,
	})
	if err != nil {
		t.Fatalf("creating admin %s: %v", name, err)
	}
	return testharness.Account{UserID: creds.UserID, DeviceID: creds.DeviceID, Token: creds.AccessToken, Password: "pw-" + name}
}

// gmGuestRoom creates a room guests may join: public join rule plus
// can_join, published in the directory when public is true.
func gmGuestRoom(t *testing.T, hs *testharness.Homeserver, token string, public bool, extra map[string]any) string {
	t.Helper()
	body := map[string]any{
		"preset":        "public_chat",
		"initial_state": []map[string]any{{"type": "m.room.guest_access", "content": map[string]any{"guest_access": "can_join"}}},
	}
	if public {
		body["visibility"] = "public"
	}
	for k, v := range extra {
		body[k] = v
	}
	return createRoom(t, hs, token, body)
}

func gmMembership(t *testing.T, hs *testharness.Homeserver, token, roomID, userID string) string {
	t.Helper()
	return stateContent(t, hs, token, roomID, "m.room.member", userID).Str("membership")
}

func gmLimited(t *testing.T, r *testharness.Response) {
	t.Helper()
	expect(t, r, 429, "M_LIMIT_EXCEEDED")
	if ms, ok := r.JSON["retry_after_ms"].(float64); !ok || ms <= 0 {
		t.Fatalf("429 without retry_after_ms: %s", r)
	}
	if r.Header.Get("Retry-After") == "" {
		t.Fatalf("429 without Retry-After: %s", r)
	}
}

// gmSetLastSeen moves a user's last activity, as if it had been idle.
func gmSetLastSeen(t *testing.T, hs *testharness.Homeserver, userID string, ts time.Time) {
	t.Helper()
	if _, err := hs.Server.DB.Write.Exec(`UPDATE users SET last_seen_ts = $1 WHERE user_id = $2`, ts.UnixMilli(), userID); err != nil {
		t.Fatal(err)
	}
}

func gmCount(t *testing.T, hs *testharness.Homeserver, query string, args ...any) int {
	t.Helper()
	var n int
	if err := hs.Server.DB.Read.QueryRow(query, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func gmLiveGuests(t *testing.T, hs *testharness.Homeserver) int {
	return gmCount(t, hs, `SELECT COUNT(*) FROM users WHERE kind = 'guest' AND NOT deactivated`)
}

// gmUpgrade upgrades g in place and returns the access token the upgrade
// issued, the only one that works afterwards.
func gmUpgrade(t *testing.T, hs *testharness.Homeserver, g testharness.Account, password string) string {
	t.Helper()
	lp := strings.TrimSuffix(strings.TrimPrefix(g.UserID, "@"), ":localhost")
	body := map[string]any{"username": lp, "guest_access_token": g.Token, "auth": map[string]any{"type": "m.login.dummy"}}
	if password != "" {
		body["password"] = password
	}
	r := hs.Do(t, "POST", cs+"/register", "", body)
	expect(t, r, 200, "")
	return r.Str("access_token")
}

// ---------------------------------------------------------------------
// Named guests.

// A named guest (no password) sets its first password through
// /account/password, authenticating with its own access token (the
// m.login.dummy stage, offered only to accounts without a password),
// becomes a full user and logs in with it.
func TestNamedGuestSetsPasswordWithOwnToken(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		hs := testharness.StartBackend(t, backend)
		r := hs.Do(t, "POST", cs+"/register", "", map[string]any{"username": "visitor", "auth": map[string]any{"type": "m.login.dummy"}})
		expect(t, r, 200, "")
		tok := r.Str("access_token")
		caps := hs.Do(t, "GET", cs+"/capabilities", tok, nil)
		if caps.JSON["capabilities"].(map[string]any)["m.change_password"].(map[string]any)["enabled"] != true {
			t.Fatalf("named guest may not change password: %s", caps)
		}

		r = hs.Do(t, "POST", cs+"/account/password", tok, map[string]any{"new_password": "first-pw"})
		expect(t, r, 401, "")
		if !strings.Contains(string(r.Raw), `"flows":[{"stages":["m.login.dummy"]}]`) {
			t.Fatalf("a passwordless account must be offered exactly m.login.dummy: %s", r)
		}
		// It has no password to give.
		expect(t, hs.Do(t, "POST", cs+"/account/password", tok, map[string]any{
			"new_password": "first-pw", "auth": passwordAuth("visitor", "", r.Str("session")),
		}), 401, "M_UNRECOGNIZED")
		expect(t, hs.Do(t, "POST", cs+"/account/password", tok, map[string]any{
			"new_password": "first-pw", "logout_devices": false,
			"auth": map[string]any{"type": "m.login.dummy", "session": r.Str("session")},
		}), 200, "")
		expect(t, hs.Do(t, "GET", cs+"/account/whoami", tok, nil), 200, "")
		login := hs.Do(t, "POST", cs+"/login", "", map[string]any{"type": "m.login.password", "user": "visitor", "password": "first-pw"})
		expect(t, login, 200, "")
		if login.Str("user_id") != "@visitor:localhost" {
			t.Fatalf("login: %s", login)
		}
		if k := gmCount(t, hs, `SELECT COUNT(*) FROM users WHERE user_id = '@visitor:localhost' AND kind = 'user'`); k != 1 {
			t.Fatal("kind did not become user")
		}

		// Now it has a password: dummy is no longer a way in.
		r = hs.Do(t, "POST", cs+"/account/password", tok, map[string]any{"new_password": "second-pw"})
		expect(t, r, 401, "")
		if strings.Contains(string(r.Raw), "m.login.dummy") || !strings.Contains(string(r.Raw), "m.login.password") {
			t.Fatalf("an account with a password must be offered only m.login.password: %s", r)
		}
		expect(t, hs.Do(t, "POST", cs+"/account/password", tok, map[string]any{
			"new_password": "second-pw", "auth": map[string]any{"type": "m.login.dummy", "session": r.Str("session")},
		}), 401, "M_UNRECOGNIZED")
		expect(t, hs.Do(t, "POST", cs+"/account/password", tok, map[string]any{
			"new_password": "second-pw", "auth": map[string]any{"type": "m.login.dummy"},
		}), 401, "M_UNRECOGNIZED")
		// Nor for an ordinary user.
		alice := hs.RegisterUser(t, "alice")
		expect(t, hs.Do(t, "POST", cs+"/account/password", alice.Token, map[string]any{
			"new_password": "x", "auth": map[string]any{"type": "m.login.dummy"},
		}), 401, "M_UNRECOGNIZED")

		// A guest upgraded without a password is a named guest and does the
		// same; anonymous guests still cannot reach the endpoint (G-41).
		g := hs.RegisterGuest(t)
		expect(t, hs.Do(t, "POST", cs+"/account/password", g.Token, map[string]any{"new_password": "x"}), 403, "M_GUEST_ACCESS_FORBIDDEN")
		named := gmUpgrade(t, hs, g, "")
		expect(t, hs.Do(t, "POST", cs+"/account/password", named, map[string]any{
			"new_password": "guest-pw", "auth": map[string]any{"type": "m.login.dummy"},
		}), 200, "")
		expect(t, hs.Do(t, "POST", cs+"/login", "", map[string]any{"type": "m.login.password", "user": g.UserID, "password": "guest-pw"}), 200, "")
	})
}

// Named-guest registration goes through the server's registration flow:
// in token mode it needs a registration token like anyone, closed mode
// refuses it.
func TestNamedGuestRegistrationFollowsRegistrationMode(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		cfg := testharness.Config(t, backend)
		cfg.Registration = config.RegistrationToken
		hs := testharness.Start(t, cfg)
		r := hs.Do(t, "POST", cs+"/register", "", map[string]any{"username": "named"})
		expect(t, r, 401, "")
		if !strings.Contains(string(r.Raw), "m.login.registration_token") {
			t.Fatalf("token flow not offered: %s", r)
		}
		expect(t, hs.Do(t, "POST", cs+"/register", "", map[string]any{"username": "named", "auth": map[string]any{"type": "m.login.dummy"}}), 401, "M_UNRECOGNIZED")
		expect(t, hs.Do(t, "POST", cs+"/register", "", map[string]any{
			"username": "named", "auth": map[string]any{"type": "m.login.registration_token", "token": "nope"},
		}), 401, "M_FORBIDDEN")
		tok, err := hs.Server.Services.Accounts.CreateRegistrationToken(context.Background(), 1, 0)
		if err != nil {
			t.Fatal(err)
		}
		r = hs.Do(t, "POST", cs+"/register", "", map[string]any{
			"username": "named", "auth": map[string]any{"type": "m.login.registration_token", "token": tok.Token},
		})
		expect(t, r, 200, "")
		if n := gmCount(t, hs, `SELECT COUNT(*) FROM users WHERE user_id = '@named:localhost' AND kind = 'named_guest'`); n != 1 {
			t.Fatal("not a named guest")
		}
	})
	cfg := testharness.Config(t, "sqlite")
	cfg.Registration = config.RegistrationClosed
	hs := testharness.Start(t, cfg)
	expect(t, hs.Do(t, "POST", cs+"/register", "", map[string]any{"username": "named", "auth": map[string]any{"type": "m.login.dummy"}}), 403, "M_FORBIDDEN")
}

// ---------------------------------------------------------------------
// Guest links.

// Links: created by members with the power to invite in rooms that admit
// guests, listed, redeemed without a token into that room (an invite-only
// room too: the link stands for its creator's invite), limited by
// max_uses and expiry, revoked.
func TestGuestLinks(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		hs := testharness.StartBackend(t, backend)
		alice, bob, carol := hs.RegisterUser(t, "alice"), hs.RegisterUser(t, "bob"), hs.RegisterUser(t, "carol")
		// private_chat: invite-only, can_join (G-21), invite power 0.
		room := createRoom(t, hs, alice.Token, map[string]any{"preset": "private_chat", "invite": []string{bob.UserID}})
		mustJoin(t, hs, bob.Token, room)

		r := hs.Do(t, "POST", gmLinks(room), alice.Token, map[string]any{"max_uses": 2})
		expect(t, r, 200, "")
		token := r.Str("token")
		if len(token) < 20 || r.Str("room_id") != room || r.JSON["max_uses"] != float64(2) || r.JSON["uses"] != float64(0) ||
			r.JSON["expires_at"] != nil || r.Str("creator") != alice.UserID {
			t.Fatalf("created link: %s", r)
		}
		if _, has := r.JSON["url"]; has {
			t.Fatalf("url without guest_access.link_url: %s", r)
		}
		// Any member with the power to invite: bob too; a body is optional.
		expect(t, hs.Do(t, "POST", gmLinks(room), bob.Token, nil), 200, "")
		// Not a member, a guest, bad parameters.
		expect(t, hs.Do(t, "POST", gmLinks(room), carol.Token, map[string]any{}), 403, "M_FORBIDDEN")
		expect(t, hs.Do(t, "GET", gmLinks(room), carol.Token, nil), 403, "M_FORBIDDEN")
		g0 := hs.RegisterGuest(t)
		expect(t, hs.Do(t, "POST", gmLinks(room), g0.Token, map[string]any{}), 403, "M_GUEST_ACCESS_FORBIDDEN")
		expect(t, hs.Do(t, "POST", gmLinks(room), alice.Token, map[string]any{"max_uses": 0}), 400, "M_INVALID_PARAM")
		expect(t, hs.Do(t, "POST", gmLinks(room), alice.Token, map[string]any{"expires_in_ms": -5}), 400, "M_INVALID_PARAM")
		expect(t, hs.Do(t, "POST", gmLinks(room), alice.Token, map[string]any{"max_uses": "two"}), 400, "M_BAD_JSON")
		expect(t, hs.Do(t, "POST", gmLinks("!nowhere:localhost"), alice.Token, map[string]any{}), 403, "M_FORBIDDEN")
		// A member without the power to invite (public_chat: invite 50).
		pub := createRoom(t, hs, alice.Token, map[string]any{"preset": "public_chat",
			"initial_state": []map[string]any{{"type": "m.room.guest_access", "content": map[string]any{"guest_access": "can_join"}}}})
		mustJoin(t, hs, carol.Token, pub)
		expect(t, hs.Do(t, "POST", gmLinks(pub), carol.Token, map[string]any{}), 403, "M_FORBIDDEN")
		// A room that does not admit guests.
		closed := createRoom(t, hs, alice.Token, map[string]any{"preset": "public_chat"})
		expect(t, hs.Do(t, "POST", gmLinks(closed), alice.Token, map[string]any{}), 403, "M_GUEST_ACCESS_FORBIDDEN")

		list := hs.Do(t, "GET", gmLinks(room), bob.Token, nil)
		expect(t, list, 200, "")
		if links, _ := list.JSON["guest_links"].([]any); len(links) != 2 {
			t.Fatalf("list: %s", list)
		}

		// Redeem: no token needed; a guest in that room.
		red := hs.Do(t, "POST", gmRedeem(token), "", map[string]any{"initial_device_display_name": "link laptop", "username": "ignored"})
		expect(t, red, 200, "")
		g := testharness.Account{UserID: red.Str("user_id"), DeviceID: red.Str("device_id"), Token: red.Str("access_token")}
		if red.Str("room_id") != room || red.Str("home_server") != "localhost" || g.Token == "" || strings.Contains(g.UserID, "ignored") {
			t.Fatalf("redemption: %s", red)
		}
		if who := hs.Do(t, "GET", cs+"/account/whoami", g.Token, nil); who.JSON["is_guest"] != true {
			t.Fatalf("not a guest: %s", who)
		}
		if m := gmMembership(t, hs, alice.Token, room, g.UserID); m != "join" {
			t.Fatalf("guest membership %q", m)
		}
		if d := hs.Do(t, "GET", cs+"/devices/"+g.DeviceID, g.Token, nil); d.Str("display_name") != "link laptop" {
			t.Fatalf("device: %s", d)
		}
		sendMessage(t, hs, g.Token, room, "hello via link")
		// Only that room.
		if jr := hs.Do(t, "GET", cs+"/joined_rooms", g.Token, nil); len(jr.JSON["joined_rooms"].([]any)) != 1 {
			t.Fatalf("joined rooms: %s", jr)
		}
		// No body at all is fine; the second use is the last.
		expect(t, hs.Do(t, "POST", gmRedeem(token), "", nil), 200, "")
		r = hs.Do(t, "POST", gmRedeem(token), "", map[string]any{})
		expect(t, r, 403, "M_FORBIDDEN")
		if !strings.Contains(r.Str("error"), "no longer valid") {
			t.Fatalf("message: %s", r)
		}
		list = hs.Do(t, "GET", gmLinks(room), alice.Token, nil)
		expect(t, list, 200, "")
		usedUp := false
		for _, l := range list.JSON["guest_links"].([]any) {
			if l.(map[string]any)["token"] == token {
				usedUp = true
				if l.(map[string]any)["uses"] != float64(2) {
					t.Fatalf("uses not counted: %s", list)
				}
			}
		}
		if !usedUp {
			t.Fatalf("the used-up link is not listed: %s", list)
		}

		// Unknown links.
		expect(t, hs.Do(t, "POST", gmRedeem("no-such-link"), "", map[string]any{}), 404, "M_NOT_FOUND")

		// Revocation.
		rv := hs.Do(t, "POST", gmLinks(room), alice.Token, map[string]any{})
		expect(t, hs.Do(t, "DELETE", gmLinks(room)+"/"+rv.Str("token"), bob.Token, nil), 200, "")
		r = hs.Do(t, "POST", gmRedeem(rv.Str("token")), "", map[string]any{})
		expect(t, r, 403, "M_FORBIDDEN")
		if !strings.Contains(r.Str("error"), "no longer valid") {
			t.Fatalf("message: %s", r)
		}
		expect(t, hs.Do(t, "DELETE", gmLinks(room)+"/"+rv.Str("token"), alice.Token, nil), 404, "M_NOT_FOUND")
		expect(t, hs.Do(t, "DELETE", gmLinks(room)+"/"+rv.Str("token"), carol.Token, nil), 403, "M_FORBIDDEN")
		after := hs.Do(t, "GET", gmLinks(room), alice.Token, nil)
		expect(t, after, 200, "")
		if strings.Contains(string(after.Raw), rv.Str("token")) || !strings.Contains(string(after.Raw), token) {
			t.Fatalf("the revoked link should be gone and the used-up one still listed: %s", after)
		}

		// Expiry.
		ex := hs.Do(t, "POST", gmLinks(room), alice.Token, map[string]any{"expires_in_ms": 1})
		expect(t, ex, 200, "")
		if at, _ := ex.JSON["expires_at"].(float64); at <= 0 {
			t.Fatalf("expires_at: %s", ex)
		}
		time.Sleep(10 * time.Millisecond)
		r = hs.Do(t, "POST", gmRedeem(ex.Str("token")), "", map[string]any{})
		expect(t, r, 403, "M_FORBIDDEN")
		if !strings.Contains(r.Str("error"), "expired") {
			t.Fatalf("message: %s", r)
		}

		// A public room is joined without an invite.
		pl := hs.Do(t, "POST", gmLinks(pub), alice.Token, map[string]any{})
		pr := hs.Do(t, "POST", gmRedeem(pl.Str("token")), "", map[string]any{})
		expect(t, pr, 200, "")
		if m := gmMembership(t, hs, alice.Token, pub, pr.Str("user_id")); m != "join" {
			t.Fatalf("public room membership %q", m)
		}
	})
}

// When the room stops admitting guests, its links stop working: 403
// M_GUEST_ACCESS_FORBIDDEN, and no guest account or link use is left
// behind.
func TestGuestLinkRoomStoppedAllowingGuests(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		hs := testharness.StartBackend(t, backend)
		alice := hs.RegisterUser(t, "alice")
		room := createRoom(t, hs, alice.Token, map[string]any{"preset": "private_chat"})
		l := hs.Do(t, "POST", gmLinks(room), alice.Token, map[string]any{"max_uses": 5})
		expect(t, l, 200, "")
		expect(t, putState(t, hs, alice.Token, room, "m.room.guest_access", "", map[string]any{"guest_access": "forbidden"}), 200, "")
		before := gmCount(t, hs, `SELECT COUNT(*) FROM users`)
		r := hs.Do(t, "POST", gmRedeem(l.Str("token")), "", map[string]any{})
		expect(t, r, 403, "M_GUEST_ACCESS_FORBIDDEN")
		if after := gmCount(t, hs, `SELECT COUNT(*) FROM users`); after != before {
			t.Fatalf("an orphan account was left: %d users before, %d after", before, after)
		}
		if n := gmCount(t, hs, `SELECT uses FROM guest_links WHERE token = $1`, l.Str("token")); n != 0 {
			t.Fatalf("a use was spent: %d", n)
		}
		// The link creator left: the implied invite fails, nothing is left
		// behind either.
		expect(t, putState(t, hs, alice.Token, room, "m.room.guest_access", "", map[string]any{"guest_access": "can_join"}), 200, "")
		bob := hs.RegisterUser(t, "bob")
		expect(t, hs.Do(t, "POST", roomPath(room, "/invite"), alice.Token, map[string]any{"user_id": bob.UserID}), 200, "")
		mustJoin(t, hs, bob.Token, room)
		bl := hs.Do(t, "POST", gmLinks(room), bob.Token, map[string]any{})
		expect(t, hs.Do(t, "POST", roomPath(room, "/leave"), bob.Token, map[string]any{}), 200, "")
		before = gmCount(t, hs, `SELECT COUNT(*) FROM users WHERE NOT deactivated`)
		r = hs.Do(t, "POST", gmRedeem(bl.Str("token")), "", map[string]any{})
		expect(t, r, 403, "M_FORBIDDEN")
		if after := gmCount(t, hs, `SELECT COUNT(*) FROM users WHERE NOT deactivated`); after != before {
			t.Fatalf("a live guest was left behind: %d before, %d after", before, after)
		}
	})
}

// guest_access.open_registration: false closes POST /register?kind=guest
// (403 M_FORBIDDEN) but links keep working; guests: false closes both.
func TestGuestLinksWithOpenRegistrationOff_G1(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		cfg := testharness.Config(t, backend)
		cfg.GuestAccess.OpenRegistration = false
		hs := testharness.Start(t, cfg)
		r := hs.Do(t, "POST", cs+"/register?kind=guest", "", map[string]any{})
		expect(t, r, 403, "M_FORBIDDEN")
		if !strings.Contains(r.Str("error"), "guest link") {
			t.Fatalf("message: %s", r)
		}
		alice := hs.RegisterUser(t, "alice")
		room := createRoom(t, hs, alice.Token, map[string]any{"preset": "private_chat"})
		l := hs.Do(t, "POST", gmLinks(room), alice.Token, map[string]any{})
		expect(t, l, 200, "")
		red := hs.Do(t, "POST", gmRedeem(l.Str("token")), "", map[string]any{})
		expect(t, red, 200, "")
		if m := gmMembership(t, hs, alice.Token, room, red.Str("user_id")); m != "join" {
			t.Fatalf("membership %q", m)
		}
	})
	cfg := testharness.Config(t, "sqlite")
	cfg.Guests = false
	hs := testharness.Start(t, cfg)
	alice := hs.RegisterUser(t, "alice")
	room := createRoom(t, hs, alice.Token, map[string]any{"preset": "private_chat"})
	expect(t, hs.Do(t, "POST", gmLinks(room), alice.Token, map[string]any{}), 403, "M_FORBIDDEN")
	if _, err := hs.Server.DB.Write.Exec(`INSERT INTO guest_links (token, room_id, creator, uses, created_ts) VALUES ('oldlink', $1, $2, 0, 0)`, room, alice.UserID); err != nil {
		t.Fatal(err)
	}
	expect(t, hs.Do(t, "POST", gmRedeem("oldlink"), "", map[string]any{}), 403, "M_FORBIDDEN")
}

// ---------------------------------------------------------------------
// Expiry.

// Guests idle for longer than guest_access.expire_after leave every room
// (each by its own leave), lose devices and tokens, and are deactivated;
// named guests, upgraded guests and active guests stay (G-42, G-43).
func TestGuestExpiry_G42_G43(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		hs := testharness.StartBackend(t, backend)
		admin := gmAdminAccount(t, hs, "admin")
		alice := hs.RegisterUser(t, "alice")
		room := gmGuestRoom(t, hs, alice.Token, false, nil)
		other := createRoom(t, hs, alice.Token, map[string]any{"preset": "private_chat"})

		idle, active, upgraded := hs.RegisterGuest(t), hs.RegisterGuest(t), hs.RegisterGuest(t)
		mustJoin(t, hs, idle.Token, room)
		expect(t, hs.Do(t, "POST", roomPath(other, "/invite"), alice.Token, map[string]any{"user_id": idle.UserID}), 200, "")
		mustJoin(t, hs, active.Token, room)
		mustJoin(t, hs, upgraded.Token, room)
		upgradedToken := gmUpgrade(t, hs, upgraded, "pw")
		named := hs.Do(t, "POST", cs+"/register", "", map[string]any{"username": "named", "auth": map[string]any{"type": "m.login.dummy"}})
		expect(t, named, 200, "")

		longAgo := time.Now().Add(-31 * 24 * time.Hour)
		for _, id := range []string{idle.UserID, upgraded.UserID, named.Str("user_id"), alice.UserID} {
			gmSetLastSeen(t, hs, id, longAgo)
		}
		gmSetLastSeen(t, hs, active.UserID, time.Now().Add(-29*24*time.Hour))

		r := hs.Do(t, "POST", gmAdmin+"/guests/expire", admin.Token, map[string]any{})
		expect(t, r, 200, "")
		if r.JSON["expired"] != float64(1) {
			t.Fatalf("expired: %s", r)
		}
		expect(t, hs.Do(t, "GET", cs+"/account/whoami", idle.Token, nil), 401, "M_UNKNOWN_TOKEN")
		for _, rm := range []string{room, other} {
			ev := hs.Do(t, "GET", roomPath(rm, "/state/m.room.member/"+url.PathEscape(idle.UserID)+"?format=event"), alice.Token, nil)
			if ev.JSON["content"].(map[string]any)["membership"] != "leave" || ev.Str("sender") != idle.UserID {
				t.Fatalf("expired guest did not leave %s by itself: %s", rm, ev)
			}
		}
		if n := gmCount(t, hs, `SELECT COUNT(*) FROM devices WHERE user_id = $1`, idle.UserID); n != 0 {
			t.Fatalf("%d devices left", n)
		}
		if n := gmCount(t, hs, `SELECT COUNT(*) FROM access_tokens WHERE user_id = $1`, idle.UserID); n != 0 {
			t.Fatalf("%d tokens left", n)
		}
		for _, tok := range []string{active.Token, upgradedToken, named.Str("access_token"), alice.Token} {
			expect(t, hs.Do(t, "GET", cs+"/account/whoami", tok, nil), 200, "")
		}
		for _, a := range []testharness.Account{active, upgraded} {
			if m := gmMembership(t, hs, alice.Token, room, a.UserID); m != "join" {
				t.Fatalf("%s: membership %q", a.UserID, m)
			}
		}
		// Nothing more to do.
		r = hs.Do(t, "POST", gmAdmin+"/guests/expire", admin.Token, nil)
		if r.JSON["expired"] != float64(0) {
			t.Fatalf("second run: %s", r)
		}
		if v := gmMetric(t, hs, "foyer_guests_expired_total"); v != 1 {
			t.Fatalf("foyer_guests_expired_total %v", v)
		}
	})
}

// The background job expires guests by itself, every expire_interval.
func TestGuestExpiryJob(t *testing.T) {
	cfg := testharness.Config(t, "sqlite")
	cfg.GuestAccess.ExpireAfter = time.Hour
	cfg.GuestAccess.ExpireInterval = 100 * time.Millisecond
	hs := testharness.Start(t, cfg)
	alice := hs.RegisterUser(t, "alice")
	room := gmGuestRoom(t, hs, alice.Token, false, nil)
	g := hs.RegisterGuest(t)
	mustJoin(t, hs, g.Token, room)
	gmSetLastSeen(t, hs, g.UserID, time.Now().Add(-2*time.Hour))
	waitFor(t, func() bool { return gmMembership(t, hs, alice.Token, room, g.UserID) == "leave" })
	expect(t, hs.Do(t, "GET", cs+"/account/whoami", g.Token, nil), 401, "M_UNKNOWN_TOKEN")
}

// `foyer guests expire` beside a running server: it deactivates idle
// guests and prints how many; the server makes them leave their rooms
// (only the serving process writes room events).
func TestGuestsExpireSubcommand(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		storage := storageArgs(t, backend)
		env := foyerEnv("FOYER_GUEST_EXPIRE_INTERVAL=200ms")
		// The server's own job would race the subcommand to expire the
		// idle guest; with a longer expire_after it only leaves rooms.
		serverEnv := append(slices.Clone(env), "FOYER_GUEST_EXPIRE_AFTER=100000h")
		p := startFoyerProc(t, append([]string{"--listen", "127.0.0.1:0", "--registration", "open"}, storage...), serverEnv)
		reg := func(body map[string]any, query string) *testharness.Response {
			r := p.must("POST", cs+"/register"+query, "", body)
			if r.Status != 200 {
				t.Fatalf("register: %s", r)
			}
			return r
		}
		alice := reg(map[string]any{"username": "alice", "password": "pw", "auth": map[string]any{"type": "m.login.dummy"}}, "")
		named := reg(map[string]any{"username": "named", "auth": map[string]any{"type": "m.login.dummy"}}, "")
		cr := p.must("POST", cs+"/createRoom", alice.Str("access_token"), map[string]any{"preset": "public_chat",
			"initial_state": []map[string]any{{"type": "m.room.guest_access", "content": map[string]any{"guest_access": "can_join"}}}})
		room := cr.Str("room_id")
		idle := reg(map[string]any{}, "?kind=guest")
		fresh := reg(map[string]any{}, "?kind=guest")
		for _, g := range []*testharness.Response{idle, fresh} {
			if r := p.must("POST", roomPath(room, "/join"), g.Str("access_token"), map[string]any{}); r.Status != 200 {
				t.Fatalf("join: %s", r)
			}
		}
		longAgo := time.Now().Add(-31 * 24 * time.Hour).UnixMilli()
		gmExecProcDB(t, backend, storage, `UPDATE users SET last_seen_ts = $1 WHERE user_id IN ($2, $3)`, longAgo, idle.Str("user_id"), named.Str("user_id"))

		out, errOut, code := runFoyer(t, env, append([]string{"guests", "expire"}, storage...)...)
		if code != 0 || !strings.HasPrefix(out, "Expired 1 guest(s)") {
			t.Fatalf("foyer guests expire: exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
		}
		if r := p.must("GET", cs+"/account/whoami", idle.Str("access_token"), nil); r.Status != 401 || r.Errcode() != "M_UNKNOWN_TOKEN" {
			t.Fatalf("expired guest's token: %s", r)
		}
		for _, tok := range []string{fresh.Str("access_token"), named.Str("access_token")} {
			if r := p.must("GET", cs+"/account/whoami", tok, nil); r.Status != 200 {
				t.Fatalf("untouched account: %s", r)
			}
		}
		member := func(userID string) string {
			r := p.must("GET", roomPath(room, "/state/m.room.member/"+url.PathEscape(userID)), alice.Str("access_token"), nil)
			return r.Str("membership")
		}
		waitFor(t, func() bool { return member(idle.Str("user_id")) == "leave" })
		if m := member(fresh.Str("user_id")); m != "join" {
			t.Fatalf("active guest: %q", m)
		}
		out, _, code = runFoyer(t, env, append([]string{"guests", "expire"}, storage...)...)
		if code != 0 || !strings.HasPrefix(out, "Expired 0 guest(s)") {
			t.Fatalf("second run: %d %s", code, out)
		}
		if _, errOut, code := runFoyer(t, env, append([]string{"guests", "frobnicate"}, storage...)...); code == 0 || !strings.Contains(errOut, "usage: foyer guests expire") {
			t.Fatalf("bad subcommand: %d %s", code, errOut)
		}
	})
}

// gmExecProcDB runs a statement on the database of a subprocess server.
func gmExecProcDB(t *testing.T, backend string, args []string, query string, params ...any) {
	t.Helper()
	db := openProcDB(t, backend, args)
	defer db.Close()
	if _, err := db.Exec(query, params...); err != nil {
		t.Fatal(err)
	}
}

// ---------------------------------------------------------------------
// Throttles.

// G-10, MSC3419's security note: per-guest event and state-event rates,
// the room cap, the live-guest cap and the per-IP link redemption limit
// all answer 429 M_LIMIT_EXCEEDED with retry_after_ms.
func TestGuestThrottles_G10(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		cfg := testharness.Config(t, backend)
		cfg.RateLimit.GuestEvents = config.Rate{PerSecond: 0.001, Burst: 2}
		cfg.RateLimit.GuestStateEvents = config.Rate{PerSecond: 0.001, Burst: 1}
		cfg.RateLimit.GuestLinkRedemption = config.Rate{PerSecond: 0.001, Burst: 1}
		cfg.GuestAccess.MaxRooms = 1
		cfg.GuestAccess.MaxLive = 3
		hs := testharness.Start(t, cfg)
		alice := hs.RegisterUser(t, "alice")
		room := gmGuestRoom(t, hs, alice.Token, false, map[string]any{
			"power_level_content_override": map[string]any{"events": map[string]any{"m.call.member": 0}},
		})
		second := gmGuestRoom(t, hs, alice.Token, false, nil)
		g := hs.RegisterGuest(t)
		mustJoin(t, hs, g.Token, room)

		// Events: two, then 429; full users are not throttled.
		sendMessage(t, hs, g.Token, room, "one")
		sendMessage(t, hs, g.Token, room, "two")
		gmLimited(t, hs.Do(t, "PUT", roomPath(room, "/send/m.room.message/over"), g.Token, map[string]any{"msgtype": "m.text", "body": "three"}))
		for i := range 5 {
			sendMessage(t, hs, alice.Token, room, fmt.Sprint("alice ", i))
		}
		// State events have a budget of their own.
		key := "_" + g.UserID + "_" + g.DeviceID
		expect(t, putState(t, hs, g.Token, room, "m.call.member", key, map[string]any{"application": "m.call"}), 200, "")
		gmLimited(t, putState(t, hs, g.Token, room, "m.call.member", key, map[string]any{"application": "m.call", "x": 1}))

		// Room cap: one room; the second is refused, by every way of
		// joining; rejoining the first is fine.
		gmLimited(t, join(t, hs, g.Token, second))
		gmLimited(t, hs.Do(t, "POST", cs+"/join/"+url.PathEscape(second), g.Token, map[string]any{}))
		mustJoin(t, hs, g.Token, room)

		// Live guests: g plus two more, then 429 — for registration and
		// for links alike.
		hs.RegisterGuest(t)
		hs.RegisterGuest(t)
		gmLimited(t, hs.Do(t, "POST", cs+"/register?kind=guest", "", map[string]any{}))
		l := hs.Do(t, "POST", gmLinks(room), alice.Token, map[string]any{})
		gmLimited(t, hs.Do(t, "POST", gmRedeem(l.Str("token")), "", map[string]any{}))
		if n := gmLiveGuests(t, hs); n != 3 {
			t.Fatalf("%d live guests", n)
		}
		// An upgrade frees a slot.
		gmUpgrade(t, hs, g, "pw")
		// The redemption above spent this IP's one token.
		gmLimited(t, hs.Do(t, "POST", gmRedeem(l.Str("token")), "", map[string]any{}))
		expect(t, hs.Do(t, "POST", cs+"/register?kind=guest", "", map[string]any{}), 200, "")
	})
}

// ---------------------------------------------------------------------
// Admin API.

// The admin API lists, counts, deactivates and expires guests, for server
// admins only: 403 M_FORBIDDEN for other users, 403
// M_GUEST_ACCESS_FORBIDDEN for guests (G-13).
func TestAdminGuestAPI_G13(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		hs := testharness.StartBackend(t, backend)
		admin := gmAdminAccount(t, hs, "admin")
		alice := hs.RegisterUser(t, "alice")
		room := gmGuestRoom(t, hs, alice.Token, false, nil)
		g1, g2, g3 := hs.RegisterGuest(t), hs.RegisterGuest(t), hs.RegisterGuest(t)
		mustJoin(t, hs, g2.Token, room)

		paths := []struct{ method, path string }{
			{"GET", gmAdmin + "/guests"}, {"GET", gmAdmin + "/guests/count"},
			{"POST", gmAdmin + "/guests/" + url.PathEscape(g1.UserID) + "/deactivate"}, {"POST", gmAdmin + "/guests/expire"},
		}
		for _, p := range paths {
			expect(t, hs.Do(t, p.method, p.path, alice.Token, map[string]any{}), 403, "M_FORBIDDEN")
			expect(t, hs.Do(t, p.method, p.path, g3.Token, map[string]any{}), 403, "M_GUEST_ACCESS_FORBIDDEN")
			expect(t, hs.Do(t, p.method, p.path, "", map[string]any{}), 401, "M_MISSING_TOKEN")
		}

		c := hs.Do(t, "GET", gmAdmin+"/guests/count", admin.Token, nil)
		expect(t, c, 200, "")
		if c.JSON["count"] != float64(3) {
			t.Fatalf("count: %s", c)
		}
		page := hs.Do(t, "GET", gmAdmin+"/guests?limit=2", admin.Token, nil)
		expect(t, page, 200, "")
		guests := page.JSON["guests"].([]any)
		if len(guests) != 2 || page.Str("next_token") != "2" || page.JSON["total"] != float64(3) {
			t.Fatalf("first page: %s", page)
		}
		rest := hs.Do(t, "GET", gmAdmin+"/guests?limit=2&from="+page.Str("next_token"), admin.Token, nil)
		if more := rest.JSON["guests"].([]any); len(more) != 1 || rest.Str("next_token") != "" {
			t.Fatalf("second page: %s", rest)
		} else {
			guests = append(guests, more...)
		}
		byID := map[string]map[string]any{}
		for _, x := range guests {
			m := x.(map[string]any)
			byID[m["user_id"].(string)] = m
		}
		for _, g := range []testharness.Account{g1, g2, g3} {
			m := byID[g.UserID]
			if m == nil || m["devices"] != float64(1) || m["created_ts"].(float64) <= 0 || m["last_seen_ts"].(float64) <= 0 {
				t.Fatalf("guest %s listed as %v", g.UserID, m)
			}
		}
		if byID[g2.UserID]["rooms"] != float64(1) || byID[g1.UserID]["rooms"] != float64(0) {
			t.Fatalf("room counts: %v", byID)
		}
		expect(t, hs.Do(t, "GET", gmAdmin+"/guests?limit=0", admin.Token, nil), 400, "M_INVALID_PARAM")
		expect(t, hs.Do(t, "GET", gmAdmin+"/guests?from=x", admin.Token, nil), 400, "M_INVALID_PARAM")

		// Deactivate one: it leaves its rooms and its token dies.
		d := hs.Do(t, "POST", gmAdmin+"/guests/"+url.PathEscape(g2.UserID)+"/deactivate", admin.Token, map[string]any{})
		expect(t, d, 200, "")
		expect(t, hs.Do(t, "GET", cs+"/account/whoami", g2.Token, nil), 401, "M_UNKNOWN_TOKEN")
		if m := gmMembership(t, hs, alice.Token, room, g2.UserID); m != "leave" {
			t.Fatalf("membership %q", m)
		}
		expect(t, hs.Do(t, "POST", gmAdmin+"/guests/"+url.PathEscape(g2.UserID)+"/deactivate", admin.Token, nil), 404, "M_NOT_FOUND")
		expect(t, hs.Do(t, "POST", gmAdmin+"/guests/"+url.PathEscape(alice.UserID)+"/deactivate", admin.Token, nil), 404, "M_NOT_FOUND")
		expect(t, hs.Do(t, "POST", gmAdmin+"/guests/"+url.PathEscape("@x:elsewhere")+"/deactivate", admin.Token, nil), 400, "M_INVALID_PARAM")
		expect(t, hs.Do(t, "GET", cs+"/account/whoami", alice.Token, nil), 200, "")
		if c := hs.Do(t, "GET", gmAdmin+"/guests/count", admin.Token, nil); c.JSON["count"] != float64(2) {
			t.Fatalf("count after deactivation: %s", c)
		}
		e := hs.Do(t, "POST", gmAdmin+"/guests/expire", admin.Token, nil)
		expect(t, e, 200, "")
		if e.JSON["expired"] != float64(0) {
			t.Fatalf("expire: %s", e)
		}
	})
}

// ---------------------------------------------------------------------
// Public-room policy, auto-join, extensions, metrics.

// guest_access.forbid_public_rooms (off by default) keeps guests out of
// rooms in the public directory, by every way of joining, with a message
// telling them to register; a guest link still gets them in.
func TestGuestPublicRoomPolicy_G19(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		for _, forbid := range []bool{false, true} {
			cfg := testharness.Config(t, backend)
			cfg.GuestAccess.ForbidPublicRooms = forbid
			hs := testharness.Start(t, cfg)
			alice := hs.RegisterUser(t, "alice")
			listed := gmGuestRoom(t, hs, alice.Token, true, map[string]any{"room_alias_name": "listed"})
			unlisted := gmGuestRoom(t, hs, alice.Token, false, nil)
			g := hs.RegisterGuest(t)
			mustJoin(t, hs, g.Token, unlisted)
			if !forbid {
				mustJoin(t, hs, g.Token, listed)
				continue
			}
			r := join(t, hs, g.Token, listed)
			expect(t, r, 403, "M_GUEST_ACCESS_FORBIDDEN")
			if !strings.Contains(r.Str("error"), "register") {
				t.Fatalf("message does not tell the guest to register: %s", r)
			}
			expect(t, hs.Do(t, "POST", cs+"/join/"+url.PathEscape("#listed:localhost"), g.Token, map[string]any{}), 403, "M_GUEST_ACCESS_FORBIDDEN")
			expect(t, putState(t, hs, g.Token, listed, "m.room.member", g.UserID, map[string]any{"membership": "join"}), 403, "M_GUEST_ACCESS_FORBIDDEN")
			// Full users are not affected; a link gets a guest in.
			bob := hs.RegisterUser(t, "bob")
			mustJoin(t, hs, bob.Token, listed)
			l := hs.Do(t, "POST", gmLinks(listed), alice.Token, map[string]any{})
			red := hs.Do(t, "POST", gmRedeem(l.Str("token")), "", map[string]any{})
			expect(t, red, 200, "")
			if m := gmMembership(t, hs, alice.Token, listed, red.Str("user_id")); m != "join" {
				t.Fatalf("link guest: %q", m)
			}
			// Taking the room out of the directory lets guests in again.
			expect(t, hs.Do(t, "PUT", cs+"/directory/list/room/"+url.PathEscape(listed), alice.Token, map[string]any{"visibility": "private"}), 200, "")
			mustJoin(t, hs, g.Token, listed)
		}
	})
}

// guest_access.auto_join_rooms: new guests join each listed room that
// admits guests, after open registration and after a link redemption;
// rooms that do not admit guests or do not exist are skipped.
func TestGuestAutoJoinRooms(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		cfg := testharness.Config(t, backend)
		cfg.GuestAccess.AutoJoinRooms = []string{"#lobby:localhost", "#closed:localhost", "#missing:localhost"}
		hs := testharness.Start(t, cfg)
		alice := hs.RegisterUser(t, "alice")
		lobby := gmGuestRoom(t, hs, alice.Token, false, map[string]any{"room_alias_name": "lobby"})
		closed := createRoom(t, hs, alice.Token, map[string]any{"preset": "public_chat", "room_alias_name": "closed"})
		g := hs.RegisterGuest(t)
		if m := gmMembership(t, hs, alice.Token, lobby, g.UserID); m != "join" {
			t.Fatalf("not auto-joined: %q", m)
		}
		if m := gmMembership(t, hs, alice.Token, closed, g.UserID); m != "" {
			t.Fatalf("joined a room without can_join: %q", m)
		}
		room := createRoom(t, hs, alice.Token, map[string]any{"preset": "private_chat"})
		l := hs.Do(t, "POST", gmLinks(room), alice.Token, map[string]any{})
		red := hs.Do(t, "POST", gmRedeem(l.Str("token")), "", map[string]any{})
		expect(t, red, 200, "")
		jr := hs.Do(t, "GET", cs+"/joined_rooms", red.Str("access_token"), nil)
		if rooms := jr.JSON["joined_rooms"].([]any); len(rooms) != 2 {
			t.Fatalf("link guest's rooms: %s", jr)
		}
	})
}

// G-14: each extension group can be switched off for guests
// (guest_access.disabled_extensions); spec routes and full users are
// unaffected.
func TestGuestExtensionsConfigurable_G14(t *testing.T) {
	cfg := testharness.Config(t, "sqlite")
	cfg.GuestAccess.DisabledExtensions = []string{"joined_rooms", "typing_receipts"}
	hs := testharness.Start(t, cfg)
	alice := hs.RegisterUser(t, "alice")
	room := gmGuestRoom(t, hs, alice.Token, false, nil)
	g := hs.RegisterGuest(t)
	mustJoin(t, hs, g.Token, room)
	expect(t, hs.Do(t, "GET", cs+"/joined_rooms", g.Token, nil), 403, "M_GUEST_ACCESS_FORBIDDEN")
	expect(t, hs.Do(t, "PUT", roomPath(room, "/typing/"+url.PathEscape(g.UserID)), g.Token, map[string]any{"typing": true, "timeout": 1000}), 403, "M_GUEST_ACCESS_FORBIDDEN")
	expect(t, hs.Do(t, "GET", cs+"/joined_rooms", alice.Token, nil), 200, "")
	expect(t, hs.Do(t, "GET", cs+"/capabilities", g.Token, nil), 200, "")
	expect(t, hs.Do(t, "GET", cs+"/account/whoami", g.Token, nil), 200, "")
}

// gmMetric reads one unlabelled sample from /metrics.
func gmMetric(t *testing.T, hs *testharness.Homeserver, name string) float64 {
	t.Helper()
	m := hs.Do(t, "GET", "/metrics", "", nil)
	match := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + ` (\S+)$`).FindStringSubmatch(string(m.Raw))
	if match == nil {
		t.Fatalf("%s not in /metrics", name)
	}
	v, err := strconv.ParseFloat(match[1], 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// Metrics: guests registered (registrations_total{kind="guest"}), live,
// upgraded and expired.
func TestGuestMetrics(t *testing.T) {
	hs := testharness.StartBackend(t, "sqlite")
	for _, name := range []string{"foyer_guests_live", "foyer_guests_upgraded_total", "foyer_guests_expired_total"} {
		if v := gmMetric(t, hs, name); v != 0 {
			t.Fatalf("%s = %v at start", name, v)
		}
	}
	g := hs.RegisterGuest(t)
	hs.RegisterGuest(t)
	gmUpgrade(t, hs, g, "pw")
	if v := gmMetric(t, hs, "foyer_guests_live"); v != 1 {
		t.Fatalf("live %v", v)
	}
	if v := gmMetric(t, hs, "foyer_guests_upgraded_total"); v != 1 {
		t.Fatalf("upgraded %v", v)
	}
	if m := hs.Do(t, "GET", "/metrics", "", nil); !strings.Contains(string(m.Raw), `foyer_registrations_total{kind="guest"} 2`) {
		t.Fatalf("registrations: %.2000s", m.Raw)
	}
}
