package integration

import (
	"fmt"
	"net/url"
	"strings"
	"testing"

	"foyer/internal/testharness"
)

// Helpers of this file carry a pd prefix so they do not collide with
// other files' helpers in this package.

func pdProfile(userID, rest string) string {
	return cs + "/profile/" + testharness.PathEscape(userID) + rest
}

func pdAlias(alias string) string {
	return cs + "/directory/room/" + testharness.PathEscape(alias)
}

func pdSummary(idOrAlias string) string {
	return "/_matrix/client/v1/room_summary/" + testharness.PathEscape(idOrAlias)
}

// pdMemberEventID is the event ID of userID's current member event.
func pdMemberEventID(t *testing.T, hs *testharness.Homeserver, token, roomID, userID string) string {
	t.Helper()
	r := hs.Do(t, "GET", roomPath(roomID, "/state/m.room.member/"+testharness.PathEscape(userID))+"?format=event", token, nil)
	expect(t, r, 200, "")
	return r.Str("event_id")
}

// pdWantMember checks userID's member event content in a room.
func pdWantMember(t *testing.T, hs *testharness.Homeserver, token, roomID, userID, membership, displayname, avatar string) {
	t.Helper()
	r := mustState(t, hs, token, roomID, "m.room.member", userID)
	if r.Str("membership") != membership || r.Str("displayname") != displayname || r.Str("avatar_url") != avatar {
		t.Fatalf("member event of %s in %s: want %s/%q/%q, got %s", userID, roomID, membership, displayname, avatar, r)
	}
	if _, has := r.JSON["displayname"]; has && displayname == "" {
		t.Fatalf("member event of %s still has a displayname: %s", userID, r)
	}
	if _, has := r.JSON["reason"]; has {
		t.Fatalf("member event of %s kept the old reason: %s", userID, r)
	}
}

func pdDeactivate(t *testing.T, hs *testharness.Homeserver, acct testharness.Account) {
	t.Helper()
	lp := strings.TrimSuffix(strings.TrimPrefix(acct.UserID, "@"), ":localhost")
	expect(t, hs.Do(t, "POST", cs+"/account/deactivate", acct.Token, map[string]any{
		"auth": passwordAuth(lp, acct.Password, ""),
	}), 200, "")
}

// G-49: lookups of local users work for anyone — users sharing a room,
// users in public and world_readable rooms, guests' profiles, callers
// without a token — and unknown or deactivated users are not found.
func TestProfileLookup_G49(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		hs := testharness.StartBackend(t, backend)
		alice := hs.RegisterUser(t, "alice")
		bob := hs.RegisterUser(t, "bob")
		guest := hs.RegisterGuest(t)
		// Alice is in a world_readable room bob does not share.
		createRoom(t, hs, alice.Token, map[string]any{"preset": "private_chat",
			"initial_state": []map[string]any{{"type": "m.room.history_visibility", "content": map[string]any{"history_visibility": "world_readable"}}}})
		expect(t, hs.Do(t, "PUT", pdProfile(alice.UserID, "/avatar_url"), alice.Token, map[string]any{"avatar_url": "mxc://localhost/alicepic"}), 200, "")

		for name, token := range map[string]string{"no token": "", "self": alice.Token, "other user": bob.Token, "guest": guest.Token, "bad token": "nonsense"} {
			r := hs.Do(t, "GET", pdProfile(alice.UserID, ""), token, nil)
			expect(t, r, 200, "")
			if r.Str("displayname") != "alice" || r.Str("avatar_url") != "mxc://localhost/alicepic" {
				t.Fatalf("%s: profile: %s", name, r)
			}
			r = hs.Do(t, "GET", pdProfile(alice.UserID, "/displayname"), token, nil)
			expect(t, r, 200, "")
			if r.Str("displayname") != "alice" || len(r.JSON) != 1 {
				t.Fatalf("%s: displayname: %s", name, r)
			}
			r = hs.Do(t, "GET", pdProfile(alice.UserID, "/avatar_url"), token, nil)
			expect(t, r, 200, "")
			if r.Str("avatar_url") != "mxc://localhost/alicepic" {
				t.Fatalf("%s: avatar_url: %s", name, r)
			}
		}
		// A guest's profile can be looked up like anyone's; it starts empty.
		// An unset field of an existing user is a 200 without the field
		// (as Synapse answers), not a 404.
		r := hs.Do(t, "GET", pdProfile(guest.UserID, ""), bob.Token, nil)
		expect(t, r, 200, "")
		if len(r.JSON) != 0 {
			t.Fatalf("fresh guest profile: %s", r)
		}
		pdWantUnset(t, hs, bob.Token, guest.UserID, "displayname")
		pdWantUnset(t, hs, "", bob.UserID, "avatar_url")
		// Fields Foyer does not store are absent; bad field names are refused.
		expect(t, hs.Do(t, "GET", pdProfile(alice.UserID, "/m.tz"), "", nil), 404, "M_NOT_FOUND")
		expect(t, hs.Do(t, "GET", pdProfile(alice.UserID, "/Not-A-Key"), "", nil), 400, "M_INVALID_PARAM")
		// Unknown, remote and malformed users.
		expect(t, hs.Do(t, "GET", pdProfile("@nobody:localhost", ""), alice.Token, nil), 404, "M_NOT_FOUND")
		expect(t, hs.Do(t, "GET", pdProfile("@nobody:localhost", "/displayname"), "", nil), 404, "M_NOT_FOUND")
		// A remote user's server that cannot be reached: 502, as Synapse.
		expect(t, hs.Do(t, "GET", pdProfile("@alice:elsewhere.example", ""), alice.Token, nil), 502, "M_UNKNOWN")
		expect(t, hs.Do(t, "GET", pdProfile("not-a-user-id", ""), "", nil), 400, "M_INVALID_PARAM")
		// Deactivated users are gone.
		pdDeactivate(t, hs, bob)
		expect(t, hs.Do(t, "GET", pdProfile(bob.UserID, ""), alice.Token, nil), 404, "M_NOT_FOUND")
		expect(t, hs.Do(t, "GET", pdProfile(bob.UserID, "/displayname"), "", nil), 404, "M_NOT_FOUND")
	})
}

// G-50: a display name or avatar change is announced by a new join
// event, with the new values and nothing else of the old content, in
// every room the user has joined, and only there.
func TestProfileChangePropagates_G50(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		hs := testharness.StartBackend(t, backend)
		alice := hs.RegisterUser(t, "alice")
		bob := hs.RegisterUser(t, "bob")
		private := createRoom(t, hs, alice.Token, map[string]any{"preset": "private_chat"})
		public := createRoom(t, hs, alice.Token, map[string]any{"preset": "public_chat"})
		left := createRoom(t, hs, bob.Token, map[string]any{"preset": "public_chat"})
		expect(t, hs.Do(t, "POST", roomPath(public, "/join"), bob.Token, map[string]any{"reason": "saying hello"}), 200, "")
		mustJoin(t, hs, alice.Token, left)
		expect(t, hs.Do(t, "POST", roomPath(left, "/leave"), alice.Token, map[string]any{}), 200, "")
		pdWantMember(t, hs, alice.Token, private, alice.UserID, "join", "alice", "")

		expect(t, hs.Do(t, "PUT", pdProfile(alice.UserID, "/displayname"), alice.Token, map[string]any{"displayname": "Alice W."}), 200, "")
		r := hs.Do(t, "GET", pdProfile(alice.UserID, ""), "", nil)
		if r.Str("displayname") != "Alice W." {
			t.Fatalf("profile after PUT: %s", r)
		}
		pdWantMember(t, hs, alice.Token, private, alice.UserID, "join", "Alice W.", "")
		pdWantMember(t, hs, bob.Token, public, alice.UserID, "join", "Alice W.", "")
		// The room alice left keeps her leave event.
		pdWantMember(t, hs, bob.Token, left, alice.UserID, "leave", "", "")

		expect(t, hs.Do(t, "PUT", pdProfile(alice.UserID, "/avatar_url"), alice.Token, map[string]any{"avatar_url": "mxc://localhost/abc_DEF-1"}), 200, "")
		pdWantMember(t, hs, alice.Token, private, alice.UserID, "join", "Alice W.", "mxc://localhost/abc_DEF-1")
		pdWantMember(t, hs, bob.Token, public, alice.UserID, "join", "Alice W.", "mxc://localhost/abc_DEF-1")

		// Setting the same value again sends nothing.
		before := pdMemberEventID(t, hs, alice.Token, public, alice.UserID)
		expect(t, hs.Do(t, "PUT", pdProfile(alice.UserID, "/displayname"), alice.Token, map[string]any{"displayname": "Alice W."}), 200, "")
		if after := pdMemberEventID(t, hs, alice.Token, public, alice.UserID); after != before {
			t.Fatalf("an unchanged profile sent a new member event %s (was %s)", after, before)
		}

		// Bob joined with a reason; his profile event does not repeat it.
		expect(t, hs.Do(t, "PUT", pdProfile(bob.UserID, "/displayname"), bob.Token, map[string]any{"displayname": "Bob"}), 200, "")
		pdWantMember(t, hs, alice.Token, public, bob.UserID, "join", "Bob", "")
		pdWantMember(t, hs, bob.Token, left, bob.UserID, "join", "Bob", "")
		// Alice left that room: she still sees the state as it was when
		// she left.
		pdWantMember(t, hs, alice.Token, left, bob.UserID, "join", "bob", "")

		// Removing fields announces their absence.
		expect(t, hs.Do(t, "DELETE", pdProfile(alice.UserID, "/displayname"), alice.Token, nil), 200, "")
		pdWantUnset(t, hs, "", alice.UserID, "displayname")
		pdWantMember(t, hs, bob.Token, public, alice.UserID, "join", "", "mxc://localhost/abc_DEF-1")
		expect(t, hs.Do(t, "DELETE", pdProfile(alice.UserID, "/avatar_url"), alice.Token, nil), 200, "")
		pdWantUnset(t, hs, "", alice.UserID, "avatar_url")
		pdWantMember(t, hs, alice.Token, private, alice.UserID, "join", "", "")
		// An empty string is a removal too.
		expect(t, hs.Do(t, "PUT", pdProfile(bob.UserID, "/displayname"), bob.Token, map[string]any{"displayname": ""}), 200, "")
		pdWantMember(t, hs, alice.Token, public, bob.UserID, "join", "", "")
	})
}

// Profile changes are for one's own profile only, and are validated.
func TestProfileSetErrors(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		hs := testharness.StartBackend(t, backend)
		alice := hs.RegisterUser(t, "alice")
		bob := hs.RegisterUser(t, "bob")
		dn, av := pdProfile(alice.UserID, "/displayname"), pdProfile(alice.UserID, "/avatar_url")

		expect(t, hs.Do(t, "PUT", dn, bob.Token, map[string]any{"displayname": "Mallory"}), 403, "M_FORBIDDEN")
		expect(t, hs.Do(t, "DELETE", dn, bob.Token, nil), 403, "M_FORBIDDEN")
		expect(t, hs.Do(t, "PUT", av, bob.Token, map[string]any{"avatar_url": "mxc://localhost/x"}), 403, "M_FORBIDDEN")
		expect(t, hs.Do(t, "DELETE", av, bob.Token, nil), 403, "M_FORBIDDEN")
		expect(t, hs.Do(t, "PUT", dn, "", map[string]any{"displayname": "x"}), 401, "M_MISSING_TOKEN")
		expect(t, hs.Do(t, "DELETE", av, "", nil), 401, "M_MISSING_TOKEN")

		expect(t, hs.Do(t, "PUT", dn, alice.Token, map[string]any{"displayname": strings.Repeat("é", 257)}), 400, "M_INVALID_PARAM")
		expect(t, hs.Do(t, "PUT", dn, alice.Token, map[string]any{"displayname": strings.Repeat("é", 256)}), 200, "")
		expect(t, hs.Do(t, "PUT", dn, alice.Token, map[string]any{}), 400, "M_MISSING_PARAM")
		expect(t, hs.Do(t, "PUT", dn, alice.Token, map[string]any{"displayname": 5}), 400, "M_BAD_JSON")
		expect(t, hs.Do(t, "PUT", dn, alice.Token, map[string]any{"displayname": nil}), 400, "M_BAD_JSON")
		expect(t, hs.Do(t, "PUT", dn, alice.Token, "not json"), 400, "M_NOT_JSON")
		expect(t, hs.Do(t, "PUT", av, alice.Token, map[string]any{"avatar_url": 7}), 400, "M_BAD_JSON")
		expect(t, hs.Do(t, "PUT", av, alice.Token, map[string]any{"avatar_url": "mxc://localhost/" + strings.Repeat("a", 1100)}), 400, "M_INVALID_PARAM")
		expect(t, hs.Do(t, "PUT", av, alice.Token, map[string]any{"displayname": "wrong key"}), 400, "M_MISSING_PARAM")
		r := hs.Do(t, "GET", pdProfile(alice.UserID, ""), "", nil)
		if r.Str("displayname") != strings.Repeat("é", 256) || r.Str("avatar_url") != "" {
			t.Fatalf("refused changes leaked into the profile: %s", r)
		}
		// Remote avatars are fine: an mxc URI may name any server.
		expect(t, hs.Do(t, "PUT", av, alice.Token, map[string]any{"avatar_url": "mxc://matrix.org:8448/SomeMedia"}), 200, "")
		if r := hs.Do(t, "GET", pdProfile(alice.UserID, ""), "", nil); r.Str("avatar_url") != "mxc://matrix.org:8448/SomeMedia" {
			t.Fatalf("remote avatar not stored: %s", r)
		}
	})
}

// G-15, G-50: a guest may set and remove its display name — announced
// in its rooms — but not its avatar; and only its own.
func TestGuestProfile_G15_G50(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		hs := testharness.StartBackend(t, backend)
		alice := hs.RegisterUser(t, "alice")
		guest := hs.RegisterGuest(t)
		room := createRoom(t, hs, alice.Token, map[string]any{"preset": "public_chat",
			"initial_state": []map[string]any{{"type": "m.room.guest_access", "content": map[string]any{"guest_access": "can_join"}}}})
		mustJoin(t, hs, guest.Token, room)

		expect(t, hs.Do(t, "PUT", pdProfile(guest.UserID, "/displayname"), guest.Token, map[string]any{"displayname": "Visitor"}), 200, "")
		r := hs.Do(t, "GET", pdProfile(guest.UserID, "/displayname"), alice.Token, nil)
		expect(t, r, 200, "")
		if r.Str("displayname") != "Visitor" {
			t.Fatalf("guest displayname: %s", r)
		}
		pdWantMember(t, hs, alice.Token, room, guest.UserID, "join", "Visitor", "")

		expect(t, hs.Do(t, "PUT", pdProfile(guest.UserID, "/avatar_url"), guest.Token, map[string]any{"avatar_url": "mxc://localhost/g"}), 403, "M_GUEST_ACCESS_FORBIDDEN")
		expect(t, hs.Do(t, "DELETE", pdProfile(guest.UserID, "/avatar_url"), guest.Token, nil), 403, "M_GUEST_ACCESS_FORBIDDEN")
		pdWantUnset(t, hs, "", guest.UserID, "avatar_url")
		expect(t, hs.Do(t, "PUT", pdProfile(alice.UserID, "/displayname"), guest.Token, map[string]any{"displayname": "pwned"}), 403, "M_FORBIDDEN")
		expect(t, hs.Do(t, "DELETE", pdProfile(alice.UserID, "/displayname"), guest.Token, nil), 403, "M_FORBIDDEN")
		expect(t, hs.Do(t, "PUT", pdProfile(guest.UserID, "/displayname"), guest.Token, map[string]any{"displayname": strings.Repeat("x", 257)}), 400, "M_INVALID_PARAM")

		expect(t, hs.Do(t, "DELETE", pdProfile(guest.UserID, "/displayname"), guest.Token, nil), 200, "")
		pdWantUnset(t, hs, "", guest.UserID, "displayname")
		pdWantMember(t, hs, alice.Token, room, guest.UserID, "join", "", "")
	})
}

// Aliases: creation on our server by members, resolution by anyone,
// deletion by the creator or room moderators, and GET /aliases for
// members or, in world_readable rooms, anyone (G-35).
func TestRoomAliases_G35(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		hs := testharness.StartBackend(t, backend)
		alice := hs.RegisterUser(t, "alice")
		bob := hs.RegisterUser(t, "bob")
		carol := hs.RegisterUser(t, "carol")
		guest := hs.RegisterGuest(t)
		room := createRoom(t, hs, alice.Token, map[string]any{"preset": "public_chat", "room_alias_name": "canon"})
		body := map[string]any{"room_id": room}

		// Create.
		expect(t, hs.Do(t, "PUT", pdAlias("#foo:localhost"), alice.Token, body), 200, "")
		expect(t, hs.Do(t, "PUT", pdAlias("#foo:localhost"), alice.Token, body), 409, "M_UNKNOWN")
		expect(t, hs.Do(t, "PUT", pdAlias("#canon:localhost"), alice.Token, body), 409, "M_UNKNOWN")
		expect(t, hs.Do(t, "PUT", pdAlias("#foo:elsewhere.example"), alice.Token, body), 400, "M_INVALID_PARAM")
		expect(t, hs.Do(t, "PUT", pdAlias("foo"), alice.Token, body), 400, "M_INVALID_PARAM")
		expect(t, hs.Do(t, "PUT", pdAlias("#sp ace:localhost"), alice.Token, body), 400, "M_INVALID_PARAM")
		expect(t, hs.Do(t, "PUT", pdAlias("#x:localhost"), alice.Token, map[string]any{}), 400, "M_MISSING_PARAM")
		expect(t, hs.Do(t, "PUT", pdAlias("#x:localhost"), alice.Token, map[string]any{"room_id": "!nowhere:localhost"}), 404, "M_NOT_FOUND")
		expect(t, hs.Do(t, "PUT", pdAlias("#x:localhost"), alice.Token, map[string]any{"room_id": "not a room"}), 400, "M_INVALID_PARAM")
		expect(t, hs.Do(t, "PUT", pdAlias("#x:localhost"), bob.Token, body), 403, "M_FORBIDDEN")
		expect(t, hs.Do(t, "PUT", pdAlias("#x:localhost"), guest.Token, body), 403, "M_GUEST_ACCESS_FORBIDDEN")
		expect(t, hs.Do(t, "PUT", pdAlias("#x:localhost"), "", body), 401, "M_MISSING_TOKEN")

		// Resolve: open to everyone, guests and visitors included.
		for _, token := range []string{"", alice.Token, bob.Token, guest.Token} {
			r := hs.Do(t, "GET", pdAlias("#foo:localhost"), token, nil)
			expect(t, r, 200, "")
			servers, _ := r.JSON["servers"].([]any)
			if r.Str("room_id") != room || len(servers) != 1 || servers[0] != "localhost" {
				t.Fatalf("resolve: %s", r)
			}
		}
		expect(t, hs.Do(t, "GET", pdAlias("#nothing:localhost"), "", nil), 404, "M_NOT_FOUND")
		// Another server's alias is asked of that server; one that cannot
		// be reached is 502, as Synapse answers.
		expect(t, hs.Do(t, "GET", pdAlias("#nothing:elsewhere.example"), "", nil), 502, "M_UNKNOWN")
		expect(t, hs.Do(t, "GET", pdAlias("nothing"), "", nil), 400, "M_INVALID_PARAM")

		// List: members only while the room is not world_readable.
		aliases := func(token string) []string {
			t.Helper()
			r := hs.Do(t, "GET", roomPath(room, "/aliases"), token, nil)
			expect(t, r, 200, "")
			var out []string
			list, _ := r.JSON["aliases"].([]any)
			for _, a := range list {
				out = append(out, a.(string))
			}
			return out
		}
		if got := aliases(alice.Token); fmt.Sprint(got) != "[#canon:localhost #foo:localhost]" {
			t.Fatalf("aliases: %v", got)
		}
		expect(t, hs.Do(t, "GET", roomPath(room, "/aliases"), bob.Token, nil), 403, "M_FORBIDDEN")
		expect(t, hs.Do(t, "GET", roomPath(room, "/aliases"), guest.Token, nil), 403, "M_GUEST_ACCESS_FORBIDDEN")
		expect(t, hs.Do(t, "GET", roomPath(room, "/aliases"), "", nil), 401, "M_MISSING_TOKEN")
		expect(t, hs.Do(t, "GET", roomPath("!nowhere:localhost", "/aliases"), bob.Token, nil), 403, "M_FORBIDDEN")
		mustPutState(t, hs, alice.Token, room, "m.room.history_visibility", map[string]any{"history_visibility": "world_readable"})
		if got := aliases(bob.Token); len(got) != 2 {
			t.Fatalf("world_readable aliases for a non-member: %v", got)
		}
		// Guests stay out of this endpoint even for world_readable rooms.
		expect(t, hs.Do(t, "GET", roomPath(room, "/aliases"), guest.Token, nil), 403, "M_GUEST_ACCESS_FORBIDDEN")

		// Delete: the creator, or a member with power over
		// m.room.canonical_alias; nobody else.
		mustJoin(t, hs, bob.Token, room)
		for _, a := range []string{"#bob1:localhost", "#bob2:localhost"} {
			expect(t, hs.Do(t, "PUT", pdAlias(a), bob.Token, body), 200, "")
		}
		expect(t, hs.Do(t, "DELETE", pdAlias("#foo:localhost"), bob.Token, nil), 403, "M_FORBIDDEN")
		expect(t, hs.Do(t, "DELETE", pdAlias("#bob1:localhost"), carol.Token, nil), 403, "M_FORBIDDEN")
		expect(t, hs.Do(t, "DELETE", pdAlias("#bob1:localhost"), guest.Token, nil), 403, "M_GUEST_ACCESS_FORBIDDEN")
		expect(t, hs.Do(t, "DELETE", pdAlias("#bob1:localhost"), "", nil), 401, "M_MISSING_TOKEN")
		expect(t, hs.Do(t, "DELETE", pdAlias("#bob1:localhost"), bob.Token, nil), 200, "")
		expect(t, hs.Do(t, "DELETE", pdAlias("#bob2:localhost"), alice.Token, nil), 200, "")
		expect(t, hs.Do(t, "DELETE", pdAlias("#bob2:localhost"), alice.Token, nil), 404, "M_NOT_FOUND")
		expect(t, hs.Do(t, "GET", pdAlias("#bob1:localhost"), "", nil), 404, "M_NOT_FOUND")
		// Bob, given the power, may delete alice's alias.
		pl := mustState(t, hs, alice.Token, room, "m.room.power_levels", "").JSON
		pl["users"].(map[string]any)[bob.UserID] = 50
		mustPutState(t, hs, alice.Token, room, "m.room.power_levels", pl)
		expect(t, hs.Do(t, "DELETE", pdAlias("#foo:localhost"), bob.Token, nil), 200, "")
		if got := aliases(alice.Token); fmt.Sprint(got) != "[#canon:localhost]" {
			t.Fatalf("aliases after deletes: %v", got)
		}
		// Deleting the canonical alias takes it out of m.room.canonical_alias.
		expect(t, hs.Do(t, "DELETE", pdAlias("#canon:localhost"), alice.Token, nil), 200, "")
		if r := mustState(t, hs, alice.Token, room, "m.room.canonical_alias", ""); r.Str("alias") != "" {
			t.Fatalf("canonical alias still names the deleted alias: %s", r)
		}
		if got := aliases(alice.Token); len(got) != 0 {
			t.Fatalf("aliases at the end: %v", got)
		}
		// The alias is free again.
		expect(t, hs.Do(t, "PUT", pdAlias("#foo:localhost"), bob.Token, body), 200, "")
	})
}

// The published room directory's visibility setting: readable by anyone,
// changed by members with power over m.room.canonical_alias.
func TestDirectoryVisibility(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		hs := testharness.StartBackend(t, backend)
		alice := hs.RegisterUser(t, "alice")
		bob := hs.RegisterUser(t, "bob")
		carol := hs.RegisterUser(t, "carol")
		guest := hs.RegisterGuest(t)
		room := createRoom(t, hs, alice.Token, map[string]any{"preset": "public_chat", "name": "Hidden"})
		mustJoin(t, hs, bob.Token, room)
		path := cs + "/directory/list/room/" + testharness.PathEscape(room)
		vis := func(token string) string {
			t.Helper()
			r := hs.Do(t, "GET", path, token, nil)
			expect(t, r, 200, "")
			return r.Str("visibility")
		}
		listed := func() bool {
			t.Helper()
			r := hs.Do(t, "GET", cs+"/publicRooms", "", nil)
			expect(t, r, 200, "")
			return strings.Contains(string(r.Raw), room)
		}
		if vis("") != "private" || vis(guest.Token) != "private" || listed() {
			t.Fatal("a room created without visibility is published")
		}
		expect(t, hs.Do(t, "PUT", path, alice.Token, map[string]any{"visibility": "public"}), 200, "")
		if vis("") != "public" || !listed() {
			t.Fatal("publishing did not take")
		}
		expect(t, hs.Do(t, "PUT", path, bob.Token, map[string]any{"visibility": "private"}), 403, "M_FORBIDDEN")
		expect(t, hs.Do(t, "PUT", path, carol.Token, map[string]any{"visibility": "private"}), 403, "M_FORBIDDEN")
		expect(t, hs.Do(t, "PUT", path, guest.Token, map[string]any{"visibility": "private"}), 403, "M_GUEST_ACCESS_FORBIDDEN")
		expect(t, hs.Do(t, "PUT", path, "", map[string]any{"visibility": "private"}), 401, "M_MISSING_TOKEN")
		expect(t, hs.Do(t, "PUT", path, alice.Token, map[string]any{"visibility": "secret"}), 400, "M_INVALID_PARAM")
		if vis("") != "public" {
			t.Fatal("a refused change took effect")
		}
		expect(t, hs.Do(t, "PUT", path, alice.Token, map[string]any{"visibility": "private"}), 200, "")
		if vis("") != "private" || listed() {
			t.Fatal("unpublishing did not take")
		}
		// The body's visibility defaults to public.
		expect(t, hs.Do(t, "PUT", path, alice.Token, map[string]any{}), 200, "")
		if vis("") != "public" {
			t.Fatal("an empty body did not publish")
		}
		nowhere := cs + "/directory/list/room/" + testharness.PathEscape("!nowhere:localhost")
		expect(t, hs.Do(t, "GET", nowhere, "", nil), 404, "M_NOT_FOUND")
		expect(t, hs.Do(t, "PUT", nowhere, alice.Token, map[string]any{"visibility": "public"}), 404, "M_NOT_FOUND")
		expect(t, hs.Do(t, "GET", cs+"/directory/list/room/not-a-room", "", nil), 400, "M_INVALID_PARAM")
		// createRoom's visibility sets it too.
		pub := createRoom(t, hs, alice.Token, map[string]any{"visibility": "public"})
		if r := hs.Do(t, "GET", cs+"/directory/list/room/"+testharness.PathEscape(pub), "", nil); r.Str("visibility") != "public" {
			t.Fatalf("visibility of a room created public: %s", r)
		}
	})
}

// pdChunk finds a room in a /publicRooms answer.
func pdChunk(t *testing.T, r *testharness.Response, roomID string) map[string]any {
	t.Helper()
	list, _ := r.JSON["chunk"].([]any)
	for _, c := range list {
		m := c.(map[string]any)
		if m["room_id"] == roomID {
			return m
		}
	}
	t.Fatalf("room %s not in %s", roomID, r)
	return nil
}

func pdChunkIDs(r *testharness.Response) []string {
	var out []string
	list, _ := r.JSON["chunk"].([]any)
	for _, c := range list {
		out = append(out, c.(map[string]any)["room_id"].(string))
	}
	return out
}

// G-23: every published room carries num_joined_members, world_readable
// and guest_can_join, true or false as the room's state says, with the
// optional fields when present; paging, filters and the server parameter.
func TestPublicRooms_G23(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		hs := testharness.StartBackend(t, backend)
		alice := hs.RegisterUser(t, "alice")
		bob := hs.RegisterUser(t, "bob")
		guest := hs.RegisterGuest(t)
		alpha := createRoom(t, hs, alice.Token, map[string]any{"visibility": "public", "preset": "public_chat",
			"name": "Alpha", "topic": "The first room", "room_alias_name": "alpha"})
		mustJoin(t, hs, bob.Token, alpha)
		bravo := createRoom(t, hs, alice.Token, map[string]any{"visibility": "public", "preset": "public_chat", "name": "Bravo",
			"initial_state": []map[string]any{
				{"type": "m.room.guest_access", "content": map[string]any{"guest_access": "can_join"}},
				{"type": "m.room.history_visibility", "content": map[string]any{"history_visibility": "world_readable"}},
				{"type": "m.room.avatar", "content": map[string]any{"url": "mxc://localhost/bravo"}},
			}})
		charlie := createRoom(t, hs, alice.Token, map[string]any{"visibility": "public", "preset": "private_chat",
			"name": "Charlie space", "creation_content": map[string]any{"type": "m.space"}})
		hidden := createRoom(t, hs, alice.Token, map[string]any{"preset": "public_chat", "name": "Hidden"})

		for name, token := range map[string]string{"no token": "", "user": bob.Token, "guest": guest.Token} {
			r := hs.Do(t, "GET", cs+"/publicRooms", token, nil)
			expect(t, r, 200, "")
			ids := pdChunkIDs(r)
			if len(ids) != 3 || ids[0] != alpha || strings.Contains(string(r.Raw), hidden) {
				t.Fatalf("%s: directory %v (alpha %s first, hidden %s absent): %s", name, ids, alpha, hidden, r)
			}
			if r.JSON["total_room_count_estimate"] != float64(3) {
				t.Fatalf("%s: total: %s", name, r)
			}
			if _, has := r.JSON["next_batch"]; has {
				t.Fatalf("%s: next_batch without a limit: %s", name, r)
			}
			a := pdChunk(t, r, alpha)
			want := map[string]any{"room_id": alpha, "num_joined_members": float64(2), "world_readable": false, "guest_can_join": false,
				"name": "Alpha", "topic": "The first room", "canonical_alias": "#alpha:localhost", "join_rule": "public"}
			if fmt.Sprint(a) != fmt.Sprint(want) {
				t.Fatalf("%s: alpha chunk %v, want %v", name, a, want)
			}
			b := pdChunk(t, r, bravo)
			want = map[string]any{"room_id": bravo, "num_joined_members": float64(1), "world_readable": true, "guest_can_join": true,
				"name": "Bravo", "avatar_url": "mxc://localhost/bravo", "join_rule": "public"}
			if fmt.Sprint(b) != fmt.Sprint(want) {
				t.Fatalf("%s: bravo chunk %v, want %v", name, b, want)
			}
			c := pdChunk(t, r, charlie)
			if c["room_type"] != "m.space" || c["join_rule"] != "invite" || c["world_readable"] != false || c["guest_can_join"] != true {
				t.Fatalf("%s: charlie chunk %v", name, c)
			}
		}

		// The flags follow the state.
		mustPutState(t, hs, alice.Token, bravo, "m.room.guest_access", map[string]any{"guest_access": "forbidden"})
		mustPutState(t, hs, alice.Token, alpha, "m.room.history_visibility", map[string]any{"history_visibility": "world_readable"})
		r := hs.Do(t, "GET", cs+"/publicRooms", "", nil)
		if b := pdChunk(t, r, bravo); b["guest_can_join"] != false || b["world_readable"] != true {
			t.Fatalf("bravo after turning guests off: %v", b)
		}
		if a := pdChunk(t, r, alpha); a["world_readable"] != true {
			t.Fatalf("alpha after world_readable: %v", a)
		}

		// Paging with limit and since.
		var seen []string
		since := ""
		for page := 0; ; page++ {
			q := url.Values{"limit": {"1"}}
			if since != "" {
				q.Set("since", since)
			}
			r := hs.Do(t, "GET", cs+"/publicRooms?"+q.Encode(), "", nil)
			expect(t, r, 200, "")
			ids := pdChunkIDs(r)
			if len(ids) != 1 {
				t.Fatalf("page %d: %s", page, r)
			}
			seen = append(seen, ids[0])
			if _, has := r.JSON["prev_batch"]; has != (page > 0) {
				t.Fatalf("page %d prev_batch: %s", page, r)
			}
			since = r.Str("next_batch")
			if since == "" {
				break
			}
			if page > 3 {
				t.Fatalf("paging does not end: %v", seen)
			}
		}
		if len(seen) != 3 || seen[0] != alpha || seen[1] == seen[2] {
			t.Fatalf("paged through %v", seen)
		}
		// prev_batch leads back.
		r = hs.Do(t, "GET", cs+"/publicRooms?limit=1&since=p2", "", nil)
		r = hs.Do(t, "GET", cs+"/publicRooms?limit=1&since="+r.Str("prev_batch"), "", nil)
		if ids := pdChunkIDs(r); len(ids) != 1 || ids[0] != seen[1] {
			t.Fatalf("prev_batch page: %s", r)
		}
		expect(t, hs.Do(t, "GET", cs+"/publicRooms?since=garbage", "", nil), 400, "M_INVALID_PARAM")
		expect(t, hs.Do(t, "GET", cs+"/publicRooms?limit=-1", "", nil), 400, "M_INVALID_PARAM")
		expect(t, hs.Do(t, "GET", cs+"/publicRooms?server=localhost", "", nil), 200, "")
		expect(t, hs.Do(t, "GET", cs+"/publicRooms?server=elsewhere.example", "", nil), 502, "M_UNKNOWN")

		// POST filters, for registered users only.
		post := func(body map[string]any) []string {
			t.Helper()
			r := hs.Do(t, "POST", cs+"/publicRooms", bob.Token, body)
			expect(t, r, 200, "")
			return pdChunkIDs(r)
		}
		if got := post(map[string]any{"filter": map[string]any{"generic_search_term": "bRaVo"}}); fmt.Sprint(got) != fmt.Sprint([]string{bravo}) {
			t.Fatalf("search by name: %v", got)
		}
		if got := post(map[string]any{"filter": map[string]any{"generic_search_term": "first"}}); fmt.Sprint(got) != fmt.Sprint([]string{alpha}) {
			t.Fatalf("search by topic: %v", got)
		}
		if got := post(map[string]any{"filter": map[string]any{"generic_search_term": "#alpha:"}}); fmt.Sprint(got) != fmt.Sprint([]string{alpha}) {
			t.Fatalf("search by alias: %v", got)
		}
		if got := post(map[string]any{"filter": map[string]any{"generic_search_term": "zulu"}}); len(got) != 0 {
			t.Fatalf("search for nothing: %v", got)
		}
		if got := post(map[string]any{"filter": map[string]any{"room_types": []any{"m.space"}}}); fmt.Sprint(got) != fmt.Sprint([]string{charlie}) {
			t.Fatalf("spaces: %v", got)
		}
		if got := post(map[string]any{"filter": map[string]any{"room_types": []any{nil}}}); len(got) != 2 || strings.Contains(fmt.Sprint(got), charlie) {
			t.Fatalf("rooms without a type: %v", got)
		}
		if got := post(map[string]any{"limit": 2}); len(got) != 2 {
			t.Fatalf("POST limit: %v", got)
		}
		r = hs.Do(t, "POST", cs+"/publicRooms", bob.Token, map[string]any{"limit": 2, "since": "p2"})
		if ids := pdChunkIDs(r); len(ids) != 1 || r.Str("prev_batch") != "p0" {
			t.Fatalf("POST second page: %s", r)
		}
		if got := post(map[string]any{"third_party_instance_id": "irc"}); len(got) != 0 {
			t.Fatalf("a third-party network's rooms: %v", got)
		}
		expect(t, hs.Do(t, "POST", cs+"/publicRooms?server=elsewhere.example", bob.Token, map[string]any{}), 502, "M_UNKNOWN")
		expect(t, hs.Do(t, "POST", cs+"/publicRooms", bob.Token, map[string]any{"limit": -3}), 400, "M_INVALID_PARAM")
		expect(t, hs.Do(t, "POST", cs+"/publicRooms", bob.Token, map[string]any{"filter": "x"}), 400, "M_BAD_JSON")
		expect(t, hs.Do(t, "POST", cs+"/publicRooms", guest.Token, map[string]any{}), 403, "M_GUEST_ACCESS_FORBIDDEN")
		expect(t, hs.Do(t, "POST", cs+"/publicRooms", "", map[string]any{}), 401, "M_MISSING_TOKEN")
	})
}

// G-24: room summaries without a token for public, knock and
// world_readable rooms; members get theirs with their membership;
// private rooms are not found by anyone else.
func TestRoomSummary_G24(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		hs := testharness.StartBackend(t, backend)
		alice := hs.RegisterUser(t, "alice")
		bob := hs.RegisterUser(t, "bob")
		guest := hs.RegisterGuest(t)
		public := createRoom(t, hs, alice.Token, map[string]any{"preset": "public_chat", "name": "Lobby", "topic": "Come in", "room_alias_name": "lobby"})
		worldReadable := createRoom(t, hs, alice.Token, map[string]any{"preset": "private_chat", "name": "Glass house",
			"initial_state": []map[string]any{{"type": "m.room.history_visibility", "content": map[string]any{"history_visibility": "world_readable"}}}})
		knock := createRoom(t, hs, alice.Token, map[string]any{"preset": "private_chat",
			"initial_state": []map[string]any{{"type": "m.room.join_rules", "content": map[string]any{"join_rule": "knock"}}}})
		private := createRoom(t, hs, alice.Token, map[string]any{"preset": "private_chat", "name": "Secret", "room_alias_name": "secret",
			"initial_state": []map[string]any{{"type": "m.room.encryption", "content": map[string]any{"algorithm": "m.megolm.v1.aes-sha2"}}}})
		space := createRoom(t, hs, alice.Token, map[string]any{"preset": "public_chat", "creation_content": map[string]any{"type": "m.space"}})

		// Without a token.
		for _, id := range []string{public, "#lobby:localhost"} {
			r := hs.Do(t, "GET", pdSummary(id), "", nil)
			expect(t, r, 200, "")
			want := map[string]any{"room_id": public, "num_joined_members": float64(1), "world_readable": false, "guest_can_join": false,
				"name": "Lobby", "topic": "Come in", "canonical_alias": "#lobby:localhost", "join_rule": "public", "room_version": "10"}
			if fmt.Sprint(r.JSON) != fmt.Sprint(want) {
				t.Fatalf("unauthenticated summary of %s: %v, want %v", id, r.JSON, want)
			}
		}
		r := hs.Do(t, "GET", pdSummary(worldReadable), "", nil)
		expect(t, r, 200, "")
		if r.JSON["world_readable"] != true || r.JSON["guest_can_join"] != true || r.Str("join_rule") != "invite" || r.Str("name") != "Glass house" {
			t.Fatalf("world_readable summary: %s", r)
		}
		if _, has := r.JSON["membership"]; has {
			t.Fatalf("membership without a token: %s", r)
		}
		r = hs.Do(t, "GET", pdSummary(knock), "", nil)
		expect(t, r, 200, "")
		if r.Str("join_rule") != "knock" {
			t.Fatalf("knock summary: %s", r)
		}
		if r := hs.Do(t, "GET", pdSummary(space), "", nil); r.Str("room_type") != "m.space" {
			t.Fatalf("space summary: %s", r)
		}
		expect(t, hs.Do(t, "GET", pdSummary(private), "", nil), 404, "M_NOT_FOUND")
		expect(t, hs.Do(t, "GET", pdSummary("#secret:localhost"), "", nil), 404, "M_NOT_FOUND")
		expect(t, hs.Do(t, "GET", pdSummary("!nowhere:localhost"), "", nil), 404, "M_NOT_FOUND")
		expect(t, hs.Do(t, "GET", pdSummary("#nowhere:localhost"), "", nil), 404, "M_NOT_FOUND")
		expect(t, hs.Do(t, "GET", pdSummary("nonsense"), "", nil), 400, "M_INVALID_PARAM")
		// A token, when given, must be good.
		expect(t, hs.Do(t, "GET", pdSummary(public), "bad-token", nil), 401, "M_UNKNOWN_TOKEN")

		// A member sees a private room, with its membership and encryption.
		r = hs.Do(t, "GET", pdSummary(private), alice.Token, nil)
		expect(t, r, 200, "")
		if r.Str("membership") != "join" || r.Str("encryption") != "m.megolm.v1.aes-sha2" || r.Str("room_version") != "10" ||
			r.Str("canonical_alias") != "#secret:localhost" || r.JSON["num_joined_members"] != float64(1) {
			t.Fatalf("member's summary: %s", r)
		}
		// Non-members and guests: public rooms yes (membership leave), private no.
		for name, token := range map[string]string{"user": bob.Token, "guest": guest.Token} {
			r := hs.Do(t, "GET", pdSummary(public), token, nil)
			expect(t, r, 200, "")
			if r.Str("membership") != "leave" {
				t.Fatalf("%s: membership in a room never joined: %s", name, r)
			}
			expect(t, hs.Do(t, "GET", pdSummary(worldReadable), token, nil), 200, "")
			expect(t, hs.Do(t, "GET", pdSummary(private), token, nil), 404, "M_NOT_FOUND")
		}
		// An invitee sees the private room it is invited to.
		expect(t, hs.Do(t, "POST", roomPath(private, "/invite"), alice.Token, map[string]any{"user_id": bob.UserID}), 200, "")
		r = hs.Do(t, "GET", pdSummary("#secret:localhost"), bob.Token, nil)
		expect(t, r, 200, "")
		if r.Str("membership") != "invite" || r.Str("room_id") != private {
			t.Fatalf("invitee's summary: %s", r)
		}
		mustJoin(t, hs, bob.Token, private)
		if r := hs.Do(t, "GET", pdSummary(private), bob.Token, nil); r.Str("membership") != "join" || r.JSON["num_joined_members"] != float64(2) {
			t.Fatalf("after joining: %s", r)
		}
		// A guest who joined a guest-friendly room sees it as a member.
		mustPutState(t, hs, alice.Token, public, "m.room.guest_access", map[string]any{"guest_access": "can_join"})
		mustJoin(t, hs, guest.Token, public)
		if r := hs.Do(t, "GET", pdSummary(public), guest.Token, nil); r.Str("membership") != "join" || r.JSON["guest_can_join"] != true {
			t.Fatalf("joined guest's summary: %s", r)
		}
	})
}

// pdWantUnset checks that userID exists but has no value for field: 200
// with the field left out, as Synapse answers.
func pdWantUnset(t *testing.T, hs *testharness.Homeserver, token, userID, field string) {
	t.Helper()
	r := hs.Do(t, "GET", pdProfile(userID, "/"+field), token, nil)
	expect(t, r, 200, "")
	if _, has := r.JSON[field]; has {
		t.Fatalf("unset %s of %s: %s", field, userID, r)
	}
}
