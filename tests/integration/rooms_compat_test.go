package integration

import (
	"strings"
	"testing"

	"foyer/internal/testharness"
)

// Room behaviour clients rely on as Synapse has it: custom join content,
// POST /send without a transaction ID, joined_members' keys, the create
// event's creator, and idempotent state.

// The body of POST /join goes into the member event; membership and
// server-set keys cannot be overridden, and the profile fills in
// displayname and avatar_url unless the body gives them.
func TestJoinWithCustomContent(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		hs := testharness.StartBackend(t, backend)
		alice := hs.RegisterUser(t, "alice")
		bob := hs.RegisterUser(t, "bob")
		carol := hs.RegisterUser(t, "carol")
		expect(t, hs.Do(t, "PUT", cs+"/profile/"+testharness.PathEscape(bob.UserID)+"/avatar_url", bob.Token, map[string]any{"avatar_url": "mxc://localhost/bob"}), 200, "")
		room := createRoom(t, hs, alice.Token, map[string]any{"preset": "public_chat", "room_alias_name": "lobby"})

		r := hs.Do(t, "POST", cs+"/join/"+testharness.PathEscape(room), bob.Token, map[string]any{
			"foo": "bar", "n": 7, "membership": "leave", "reason": "hello",
			"join_authorised_via_users_server": alice.UserID,
		})
		expect(t, r, 200, "")
		if r.Str("room_id") != room {
			t.Fatalf("join: %s", r)
		}
		m := stateContent(t, hs, bob.Token, room, "m.room.member", bob.UserID)
		if m.Str("membership") != "join" || m.Str("foo") != "bar" || m.JSON["n"] != float64(7) || m.Str("reason") != "hello" ||
			m.Str("displayname") != "bob" || m.Str("avatar_url") != "mxc://localhost/bob" {
			t.Fatalf("member content: %s", m)
		}
		if _, has := m.JSON["join_authorised_via_users_server"]; has {
			t.Fatalf("a client set join_authorised_via_users_server: %s", m)
		}

		// By alias, with the body's own display name.
		r = hs.Do(t, "POST", cs+"/join/"+testharness.PathEscape("#lobby:localhost"), carol.Token, map[string]any{"foo": "baz", "displayname": "Caz"})
		expect(t, r, 200, "")
		m = stateContent(t, hs, carol.Token, room, "m.room.member", carol.UserID)
		if m.Str("membership") != "join" || m.Str("foo") != "baz" || m.Str("displayname") != "Caz" {
			t.Fatalf("member content by alias: %s", m)
		}
		// Joining again with new content sends a new event; with none it
		// changes nothing.
		before := pdMemberEventID(t, hs, carol.Token, room, carol.UserID)
		expect(t, hs.Do(t, "POST", roomPath(room, "/join"), carol.Token, nil), 200, "")
		if after := pdMemberEventID(t, hs, carol.Token, room, carol.UserID); after != before {
			t.Fatalf("an empty re-join sent %s", after)
		}
		expect(t, hs.Do(t, "POST", roomPath(room, "/join"), carol.Token, map[string]any{"foo": "qux"}), 200, "")
		if m := stateContent(t, hs, carol.Token, room, "m.room.member", carol.UserID); m.Str("foo") != "qux" {
			t.Fatalf("re-join content: %s", m)
		}
		// reason must still be a string.
		expect(t, hs.Do(t, "POST", roomPath(room, "/join"), carol.Token, map[string]any{"reason": 5}), 400, "M_BAD_JSON")
	})
}

// POST /rooms/{roomId}/send/{eventType} sends without a transaction ID:
// each request is a new event. It is not for guests.
func TestSendWithoutTransactionID(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		hs := testharness.StartBackend(t, backend)
		alice := hs.RegisterUser(t, "alice")
		room := createRoom(t, hs, alice.Token, map[string]any{"preset": "public_chat",
			"initial_state": []map[string]any{{"type": "m.room.guest_access", "content": map[string]any{"guest_access": "can_join"}}}})
		msg := map[string]any{"msgtype": "m.text", "body": "hello"}
		a := hs.Do(t, "POST", roomPath(room, "/send/m.room.message"), alice.Token, msg)
		expect(t, a, 200, "")
		b := hs.Do(t, "POST", roomPath(room, "/send/m.room.message"), alice.Token, msg)
		expect(t, b, 200, "")
		if a.Str("event_id") == "" || a.Str("event_id") == b.Str("event_id") {
			t.Fatalf("two sends: %s and %s", a, b)
		}
		ev := hs.Do(t, "GET", roomPath(room, "/event/"+testharness.PathEscape(a.Str("event_id"))), alice.Token, nil)
		expect(t, ev, 200, "")
		if ev.Str("type") != "m.room.message" || ev.JSON["content"].(map[string]any)["body"] != "hello" {
			t.Fatalf("sent event: %s", ev)
		}
		// The r0 form too.
		expect(t, hs.Do(t, "POST", "/_matrix/client/r0/rooms/"+testharness.PathEscape(room)+"/send/m.room.message", alice.Token, msg), 200, "")
		big := map[string]any{"msgtype": "m.text", "body": strings.Repeat("x", 70000)}
		expect(t, hs.Do(t, "POST", roomPath(room, "/send/m.room.message"), alice.Token, big), 413, "M_TOO_LARGE")
		g := hs.RegisterGuest(t)
		mustJoin(t, hs, g.Token, room)
		expect(t, hs.Do(t, "POST", roomPath(room, "/send/m.room.message"), g.Token, msg), 403, "M_GUEST_ACCESS_FORBIDDEN")
		expect(t, hs.Do(t, "POST", roomPath(room, "/send/m.room.message"), "", msg), 401, "M_MISSING_TOKEN")
	})
}

// Every /joined_members entry has display_name and avatar_url, null when
// unset.
func TestJoinedMembersHaveBothKeys(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		hs := testharness.StartBackend(t, backend)
		alice := hs.RegisterUser(t, "alice")
		room := createRoom(t, hs, alice.Token, nil)
		r := hs.Do(t, "GET", roomPath(room, "/joined_members"), alice.Token, nil)
		expect(t, r, 200, "")
		me, _ := r.JSON["joined"].(map[string]any)[alice.UserID].(map[string]any)
		if me == nil || me["display_name"] != "alice" {
			t.Fatalf("joined_members: %s", r)
		}
		if v, has := me["avatar_url"]; !has || v != nil {
			t.Fatalf("avatar_url should be present and null: %s", r)
		}
	})
}

// New rooms are version 10, whose create event names its creator; v11 and
// v12 are there for the asking.
func TestDefaultRoomVersionCarriesCreator(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		hs := testharness.StartBackend(t, backend)
		alice := hs.RegisterUser(t, "alice")
		room := createRoom(t, hs, alice.Token, nil)
		c := stateContent(t, hs, alice.Token, room, "m.room.create", "")
		expect(t, c, 200, "")
		if c.Str("room_version") != "10" || c.Str("creator") != alice.UserID {
			t.Fatalf("default create content: %s", c)
		}
		caps := hs.Do(t, "GET", cs+"/capabilities", alice.Token, nil)
		if rv := caps.JSON["capabilities"].(map[string]any)["m.room_versions"].(map[string]any); rv["default"] != "10" {
			t.Fatalf("capabilities default: %v", rv)
		}
		room = createRoom(t, hs, alice.Token, map[string]any{"room_version": "11"})
		c = stateContent(t, hs, alice.Token, room, "m.room.create", "")
		if _, has := c.JSON["creator"]; c.Str("room_version") != "11" || has {
			t.Fatalf("v11 create content: %s", c)
		}
	})
}

// Putting the state that is already current (same type, key, sender and
// content) returns the current event and sends none; anything else is a
// new event. The repeat is still authorised.
func TestSettingStateTwiceIsIdempotent(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		hs := testharness.StartBackend(t, backend)
		alice := hs.RegisterUser(t, "alice")
		bob := hs.RegisterUser(t, "bob")
		room := createRoom(t, hs, alice.Token, map[string]any{"preset": "public_chat",
			"power_level_content_override": map[string]any{"users": map[string]any{alice.UserID: 100, bob.UserID: 50}}})
		mustJoin(t, hs, bob.Token, room)

		put := func(token string, content map[string]any) string {
			t.Helper()
			r := putState(t, hs, token, room, "a.test.state.type", "", content)
			expect(t, r, 200, "")
			return r.Str("event_id")
		}
		first := put(alice.Token, map[string]any{"a_key": "a_value", "n": 1})
		// Same content, keys in another order: the same event.
		if again := putState(t, hs, alice.Token, room, "a.test.state.type", "", `{"n":1,"a_key":"a_value"}`); again.Str("event_id") != first {
			t.Fatalf("same state again: %s, want %s", again, first)
		}
		changed := put(alice.Token, map[string]any{"a_key": "other", "n": 1})
		if changed == first {
			t.Fatal("new content did not make a new event")
		}
		// Another sender's identical content is a new event.
		byBob := put(bob.Token, map[string]any{"a_key": "other", "n": 1})
		if byBob == changed {
			t.Fatal("another sender's state reused the current event")
		}
		if byBob2 := put(bob.Token, map[string]any{"a_key": "other", "n": 1}); byBob2 != byBob {
			t.Fatalf("bob's repeat: %s, want %s", byBob2, byBob)
		}
		// Bob loses the power to set it: the repeat is refused, not
		// answered with the old event.
		pl := stateContent(t, hs, alice.Token, room, "m.room.power_levels", "")
		users := pl.JSON["users"].(map[string]any)
		users[bob.UserID] = 0
		pl.JSON["users"] = users
		expect(t, putState(t, hs, alice.Token, room, "m.room.power_levels", "", pl.JSON), 200, "")
		expect(t, putState(t, hs, bob.Token, room, "a.test.state.type", "", map[string]any{"a_key": "other", "n": 1}), 403, "M_FORBIDDEN")
		// Membership too: an identical profile-free join is the same event.
		r := hs.Do(t, "GET", roomPath(room, "/state/m.room.member/"+testharness.PathEscape(bob.UserID)), bob.Token, nil)
		expect(t, r, 200, "")
		memberID := pdMemberEventID(t, hs, bob.Token, room, bob.UserID)
		if again := putState(t, hs, bob.Token, room, "m.room.member", bob.UserID, r.JSON); again.Str("event_id") != memberID {
			t.Fatalf("same member state again: %s, want %s", again, memberID)
		}
	})
}

// Bad input found by SyTest: invalid UTF-8, canonical aliases that do not
// point to the room, redacting an event of another room.
func TestAliasUTF8AndCrossRoomRedaction(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		hs := testharness.StartBackend(t, backend)
		alice := hs.RegisterUser(t, "alice")
		expect(t, hs.Do(t, "POST", cs+"/register", "", []byte("{\"username\": \"a\x81\"}")), 400, "M_NOT_JSON")
		room := createRoom(t, hs, alice.Token, map[string]any{"room_alias_name": "mine"})
		other := createRoom(t, hs, alice.Token, map[string]any{"room_alias_name": "theirs"})
		expect(t, putState(t, hs, alice.Token, room, "m.room.canonical_alias", "", map[string]any{"alias": "#mine:localhost"}), 200, "")
		expect(t, putState(t, hs, alice.Token, room, "m.room.canonical_alias", "", map[string]any{"alias": "#nothere:localhost"}), 400, "M_BAD_ALIAS")
		expect(t, putState(t, hs, alice.Token, room, "m.room.canonical_alias", "", map[string]any{"alias": "#mine:localhost", "alt_aliases": []string{"#theirs:localhost"}}), 400, "M_BAD_ALIAS")
		expect(t, putState(t, hs, alice.Token, room, "m.room.canonical_alias", "", map[string]any{"alias": "not an alias"}), 400, "M_INVALID_PARAM")
		msg := sendMessage(t, hs, alice.Token, other, "elsewhere")
		expect(t, hs.Do(t, "PUT", roomPath(room, "/redact/"+testharness.PathEscape(msg)+"/x1"), alice.Token, map[string]any{}), 400, "M_INVALID_PARAM")
	})
}

// An event type longer than the room version allows is refused as too
// large, recognised by gomatrixserverlib's error code, on both databases.
func TestOverlongEventTypeIsTooLarge(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		hs := testharness.StartBackend(t, backend)
		alice := hs.RegisterUser(t, "alice")
		room := createRoom(t, hs, alice.Token, map[string]any{})
		r := hs.Do(t, "PUT", roomPath(room, "/send/"+strings.Repeat("t", 300)+"/txn1"), alice.Token, map[string]any{"body": "x"})
		if r.Status != 413 || r.Errcode() != "M_TOO_LARGE" {
			t.Fatalf("overlong type: %s", r)
		}
	})
}
