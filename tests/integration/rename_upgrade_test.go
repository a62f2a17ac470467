package integration

import (
	"slices"
	"strings"
	"testing"

	"foyer/internal/testharness"
)

// The rename upgrade (a Foyer extension beside G-37..G-39): POST /register
// with guest_access_token and a username other than the guest's localpart
// makes a new account that takes the guest's place in its rooms.

// registerRename runs the rename upgrade through UIA (m.login.dummy).
func registerRename(t *testing.T, hs *testharness.Homeserver, body map[string]any) *testharness.Response {
	t.Helper()
	first := hs.Do(t, "POST", cs+"/register", "", body)
	expect(t, first, 401, "")
	withAuth := map[string]any{"auth": map[string]any{"type": "m.login.dummy", "session": first.Str("session")}}
	for k, v := range body {
		withAuth[k] = v
	}
	return hs.Do(t, "POST", cs+"/register", "", withAuth)
}

func strList(v any) []string {
	var out []string
	list, _ := v.([]any)
	for _, x := range list {
		s, _ := x.(string)
		out = append(out, s)
	}
	slices.Sort(out)
	return out
}

// messageSenders maps each m.room.message body of a /messages chunk to
// its sender.
func messageSenders(r *testharness.Response) map[string]string {
	out := map[string]string{}
	list, _ := r.JSON["chunk"].([]any)
	for _, e := range list {
		ev := e.(map[string]any)
		if ev["type"] != "m.room.message" {
			continue
		}
		c, _ := ev["content"].(map[string]any)
		b, _ := c["body"].(string)
		out[b], _ = ev["sender"].(string)
	}
	return out
}

func TestGuestRenameUpgrade(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		hs := testharness.StartBackend(t, backend)
		alice := hs.RegisterUser(t, "alice")
		canJoin := []any{map[string]any{"type": "m.room.guest_access", "state_key": "", "content": map[string]any{"guest_access": "can_join"}}}
		pub := createRoom(t, hs, alice.Token, map[string]any{"preset": "public_chat", "initial_state": canJoin})
		priv := createRoom(t, hs, alice.Token, map[string]any{"preset": "private_chat"})
		mute := createRoom(t, hs, alice.Token, map[string]any{"preset": "private_chat", "power_level_content_override": map[string]any{"invite": 50}})
		pending := createRoom(t, hs, alice.Token, map[string]any{"preset": "private_chat"})
		sendMessage(t, hs, alice.Token, priv, "said before the guest came")

		g := hs.RegisterGuest(t)
		expect(t, hs.Do(t, "PUT", cs+"/profile/"+testharness.PathEscape(g.UserID)+"/displayname", g.Token, map[string]any{"displayname": "Vera"}), 200, "")
		mustJoin(t, hs, g.Token, pub)
		for _, room := range []string{priv, mute, pending} {
			expect(t, hs.Do(t, "POST", roomPath(room, "/invite"), alice.Token, map[string]any{"user_id": g.UserID}), 200, "")
		}
		mustJoin(t, hs, g.Token, priv)
		mustJoin(t, hs, g.Token, mute)
		sendMessage(t, hs, g.Token, pub, "guest in public")
		sendMessage(t, hs, g.Token, priv, "guest in private")

		// The registration checks come first, before UIA.
		expect(t, hs.Do(t, "POST", cs+"/register", "", map[string]any{"username": "alice", "guest_access_token": g.Token}), 400, "M_USER_IN_USE")
		expect(t, hs.Do(t, "POST", cs+"/register", "", map[string]any{"username": "4711", "guest_access_token": g.Token}), 400, "M_INVALID_USERNAME")
		expect(t, hs.Do(t, "POST", cs+"/register", "", map[string]any{"username": "_server", "guest_access_token": g.Token}), 400, "M_INVALID_USERNAME")
		expect(t, hs.Do(t, "POST", cs+"/register", "", map[string]any{"username": "vera", "guest_access_token": alice.Token}), 403, "M_FORBIDDEN")
		expect(t, hs.Do(t, "POST", cs+"/register", "", map[string]any{"username": "vera", "guest_access_token": g.Token, "inhibit_login": true}), 400, "M_INVALID_PARAM")

		body := map[string]any{"username": "Vera", "guest_access_token": g.Token, "initial_device_display_name": "new laptop"}
		r := registerRename(t, hs, body)
		expect(t, r, 200, "")
		if r.Str("user_id") != "@vera:localhost" || r.Str("previous_user_id") != g.UserID || r.Str("home_server") != "localhost" ||
			r.Str("access_token") == "" || r.Str("device_id") == "" || r.Str("device_id") == g.DeviceID {
			t.Fatalf("rename: %s", r)
		}
		if got, want := strList(r.JSON["rooms_moved"]), strList([]any{pub, priv}); !slices.Equal(got, want) {
			t.Errorf("rooms_moved %v, want %v", got, want)
		}
		notMoved := map[string]map[string]any{}
		for _, x := range r.JSON["rooms_not_moved"].([]any) {
			n := x.(map[string]any)
			notMoved[n["room_id"].(string)] = n
		}
		if len(notMoved) != 2 || notMoved[mute]["membership"] != "join" || notMoved[mute]["errcode"] != "M_FORBIDDEN" ||
			notMoved[pending]["membership"] != "invite" || notMoved[pending]["errcode"] != "M_FORBIDDEN" {
			t.Errorf("rooms_not_moved: %v", r.JSON["rooms_not_moved"])
		}
		if msg, _ := notMoved[mute]["error"].(string); !strings.Contains(msg, "could not invite") {
			t.Errorf("mute reason: %q", msg)
		}
		vera := r.Str("access_token")

		// The new account: not a guest, the guest's display name, joined
		// to the moved rooms.
		who := hs.Do(t, "GET", cs+"/account/whoami", vera, nil)
		if who.Status != 200 || who.Str("user_id") != "@vera:localhost" || who.JSON["is_guest"] != false {
			t.Fatalf("whoami: %s", who)
		}
		if p := hs.Do(t, "GET", cs+"/profile/@vera:localhost/displayname", vera, nil); p.Str("displayname") != "Vera" {
			t.Errorf("display name: %s", p)
		}
		if jr := hs.Do(t, "GET", cs+"/joined_rooms", vera, nil); !slices.Equal(strList(jr.JSON["joined_rooms"]), strList([]any{pub, priv})) {
			t.Errorf("joined_rooms: %s", jr)
		}
		// Earlier messages are readable (shared history), and the guest's
		// stay under the guest's ID.
		for room, want := range map[string]map[string]string{
			pub:  {"guest in public": g.UserID},
			priv: {"guest in private": g.UserID, "said before the guest came": alice.UserID},
		} {
			msgs := messageSenders(hs.Do(t, "GET", roomPath(room, "/messages?dir=b&limit=50"), vera, nil))
			for body, sender := range want {
				if msgs[body] != sender {
					t.Errorf("%s: %q sent by %q, want %q (all: %v)", room, body, msgs[body], sender, msgs)
				}
			}
		}
		// The new account writes there.
		sendMessage(t, hs, vera, priv, "vera here")

		// The guest left every room by its own leave, naming the new account.
		for _, room := range []string{pub, priv, mute, pending} {
			m := stateContent(t, hs, alice.Token, room, "m.room.member", g.UserID)
			if m.Str("membership") != "leave" || !strings.Contains(m.Str("reason"), "@vera:localhost") {
				t.Errorf("%s: the guest's membership: %s", room, m)
			}
		}
		if m := stateContent(t, hs, alice.Token, mute, "m.room.member", "@vera:localhost"); m.Status != 404 {
			t.Errorf("vera got into the room the guest could not invite to: %s", m)
		}
		// The guest is gone: its token is dead, its name cannot log in.
		expect(t, hs.Do(t, "GET", cs+"/account/whoami", g.Token, nil), 401, "M_UNKNOWN_TOKEN")
		expect(t, hs.Do(t, "POST", cs+"/register", "", map[string]any{"username": "vera2", "guest_access_token": g.Token}), 403, "M_FORBIDDEN")
		// A named guest: no password to log in with.
		expect(t, hs.Do(t, "POST", cs+"/login", "", map[string]any{"type": "m.login.password", "user": "vera", "password": ""}), 403, "M_FORBIDDEN")

		if m := hs.Do(t, "GET", "/metrics", "", nil); !strings.Contains(string(m.Raw), "foyer_guests_upgraded_total 1\n") ||
			!strings.Contains(string(m.Raw), `foyer_registrations_total{kind="upgrade"} 1`) {
			t.Errorf("metrics do not count the rename")
		}
	})
}

// With a password the new account is a full user who can log in; a
// completed session answers a resubmission with the same result.
func TestGuestRenameUpgradeWithPassword(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		hs := testharness.StartBackend(t, backend)
		alice := hs.RegisterUser(t, "alice")
		room := createRoom(t, hs, alice.Token, map[string]any{"preset": "private_chat"})
		g := hs.RegisterGuest(t)
		expect(t, hs.Do(t, "POST", roomPath(room, "/invite"), alice.Token, map[string]any{"user_id": g.UserID}), 200, "")
		mustJoin(t, hs, g.Token, room)

		body := map[string]any{"username": "bob", "password": "a long enough password", "guest_access_token": g.Token}
		first := hs.Do(t, "POST", cs+"/register", "", body)
		expect(t, first, 401, "")
		withAuth := map[string]any{"auth": map[string]any{"type": "m.login.dummy", "session": first.Str("session")}}
		for k, v := range body {
			withAuth[k] = v
		}
		r := hs.Do(t, "POST", cs+"/register", "", withAuth)
		expect(t, r, 200, "")
		if r.Str("user_id") != "@bob:localhost" || !slices.Equal(strList(r.JSON["rooms_moved"]), []string{room}) ||
			len(r.JSON["rooms_not_moved"].([]any)) != 0 {
			t.Fatalf("rename: %s", r)
		}
		again := hs.Do(t, "POST", cs+"/register", "", withAuth)
		if again.Status != 200 || again.Str("access_token") != r.Str("access_token") {
			t.Errorf("resubmission: %s", again)
		}
		who := hs.Do(t, "GET", cs+"/account/whoami", r.Str("access_token"), nil)
		if who.Str("user_id") != "@bob:localhost" || who.JSON["is_guest"] != false {
			t.Fatalf("whoami: %s", who)
		}
		login := hs.Do(t, "POST", cs+"/login", "", map[string]any{"type": "m.login.password", "user": "bob", "password": "a long enough password"})
		expect(t, login, 200, "")
		if jr := hs.Do(t, "GET", cs+"/joined_rooms", login.Str("access_token"), nil); !slices.Equal(strList(jr.JSON["joined_rooms"]), []string{room}) {
			t.Errorf("joined_rooms: %s", jr)
		}
		expect(t, hs.Do(t, "GET", cs+"/account/whoami", g.Token, nil), 401, "M_UNKNOWN_TOKEN")
		// The guest's numeric ID stays taken (deactivated).
		lp := strings.TrimSuffix(strings.TrimPrefix(g.UserID, "@"), ":localhost")
		expect(t, hs.Do(t, "GET", cs+"/register/available?username="+lp, "", nil), 400, "M_INVALID_USERNAME")
	})
}

// The spec's upgrade (username = the guest's localpart) is unchanged: the
// same user ID, the same rooms, and no rename fields.
func TestGuestUpgradeInPlaceIsUnchangedBesideRename(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		hs := testharness.StartBackend(t, backend)
		alice := hs.RegisterUser(t, "alice")
		room := createRoom(t, hs, alice.Token, map[string]any{"preset": "private_chat"})
		g := hs.RegisterGuest(t)
		expect(t, hs.Do(t, "POST", roomPath(room, "/invite"), alice.Token, map[string]any{"user_id": g.UserID}), 200, "")
		mustJoin(t, hs, g.Token, room)
		lp := strings.TrimSuffix(strings.TrimPrefix(g.UserID, "@"), ":localhost")
		r := registerRename(t, hs, map[string]any{"username": lp, "guest_access_token": g.Token})
		expect(t, r, 200, "")
		if r.Str("user_id") != g.UserID || r.Str("device_id") != g.DeviceID {
			t.Fatalf("upgrade: %s", r)
		}
		for _, k := range []string{"previous_user_id", "rooms_moved", "rooms_not_moved"} {
			if _, ok := r.JSON[k]; ok {
				t.Errorf("the in-place upgrade answered %s: %s", k, r)
			}
		}
		if who := hs.Do(t, "GET", cs+"/account/whoami", r.Str("access_token"), nil); who.Str("user_id") != g.UserID || who.JSON["is_guest"] != false {
			t.Errorf("whoami: %s", who)
		}
		// The upgrade's token replaced the guest's (TestUpgradedGuestTokenRevoked).
		expect(t, hs.Do(t, "GET", cs+"/account/whoami", g.Token, nil), 401, "M_UNKNOWN_TOKEN")
		if m := stateContent(t, hs, alice.Token, room, "m.room.member", g.UserID); m.Str("membership") != "join" {
			t.Errorf("membership after the upgrade: %s", m)
		}
	})
}
