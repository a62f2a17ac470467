package integration

import (
	"testing"

	"foyer/internal/testharness"
)

// restrictedRoom creates a room whose join rule (restricted or
// knock_restricted) admits the members of allowed.
func restrictedRoom(t *testing.T, hs *testharness.Homeserver, token, rule, allowed string, extra map[string]any) string {
	t.Helper()
	body := map[string]any{"preset": "private_chat",
		"initial_state": []map[string]any{{"type": "m.room.join_rules", "content": map[string]any{"join_rule": rule,
			"allow": []map[string]any{{"type": "m.room_membership", "room_id": allowed}}}}}}
	for k, v := range extra {
		body[k] = v
	}
	return createRoom(t, hs, token, body)
}

// A local user joined to a room a restricted room's allow list names
// joins it; the join names a local user with the power to invite in
// join_authorised_via_users_server. A user in no allowed room is refused
// 403 M_FORBIDDEN; an invited user joins without the check; a
// knock_restricted room lets anyone knock and members of the allowed
// room join.
func TestRestrictedJoinLocal(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		hs := testharness.StartBackend(t, backend)
		alice := hs.RegisterUser(t, "alice")
		bob := hs.RegisterUser(t, "bob")
		carol := hs.RegisterUser(t, "carol")
		dave := hs.RegisterUser(t, "dave")
		space := createRoom(t, hs, alice.Token, map[string]any{"preset": "public_chat", "creation_content": map[string]any{"type": "m.space"}})
		room := restrictedRoom(t, hs, alice.Token, "restricted", space, nil)

		expect(t, hs.Do(t, "POST", roomPath(space, "/join"), bob.Token, map[string]any{}), 200, "")
		expect(t, hs.Do(t, "POST", roomPath(room, "/join"), bob.Token, map[string]any{}), 200, "")
		if m := mustState(t, hs, bob.Token, room, "m.room.member", bob.UserID); m.Str("membership") != "join" || m.Str("join_authorised_via_users_server") != alice.UserID {
			t.Fatalf("bob's restricted join: %s", m)
		}

		// Not in the space: refused, and nothing changes.
		expect(t, hs.Do(t, "POST", roomPath(room, "/join"), carol.Token, map[string]any{}), 403, "M_FORBIDDEN")
		if m := membershipOn(t, hs, alice.Token, room, carol.UserID); m != "" {
			t.Fatalf("carol's membership after a refused join: %q", m)
		}
		// A client cannot name an authoriser itself.
		expect(t, hs.Do(t, "POST", roomPath(room, "/join"), carol.Token, map[string]any{"join_authorised_via_users_server": alice.UserID}), 403, "M_FORBIDDEN")

		// Invited: joins without being in the space, and no authoriser.
		expect(t, hs.Do(t, "POST", roomPath(room, "/invite"), alice.Token, map[string]any{"user_id": dave.UserID}), 200, "")
		expect(t, hs.Do(t, "POST", roomPath(room, "/join"), dave.Token, map[string]any{}), 200, "")
		if m := mustState(t, hs, dave.Token, room, "m.room.member", dave.UserID); m.Str("membership") != "join" {
			t.Fatalf("dave's invited join: %s", m)
		} else if _, has := m.JSON["join_authorised_via_users_server"]; has {
			t.Fatalf("an invited join names an authoriser: %s", m)
		}

		// knock_restricted: carol (not in the space) knocks; bob (in it) joins.
		knock := restrictedRoom(t, hs, alice.Token, "knock_restricted", space, nil)
		expect(t, hs.Do(t, "POST", roomPath(knock, "/join"), carol.Token, map[string]any{}), 403, "M_FORBIDDEN")
		expect(t, hs.Do(t, "POST", cs+"/knock/"+testharness.PathEscape(knock), carol.Token, map[string]any{}), 200, "")
		if m := membershipOn(t, hs, alice.Token, knock, carol.UserID); m != "knock" {
			t.Fatalf("carol's knock: %q", m)
		}
		expect(t, hs.Do(t, "POST", roomPath(knock, "/join"), bob.Token, map[string]any{}), 200, "")
		if m := mustState(t, hs, bob.Token, knock, "m.room.member", bob.UserID); m.Str("join_authorised_via_users_server") != alice.UserID {
			t.Fatalf("bob's knock_restricted join: %s", m)
		}

		// No local user may invite (invite needs 100, the only one who
		// had it left): the join cannot be granted here.
		noInviter := restrictedRoom(t, hs, alice.Token, "restricted", space, map[string]any{
			"power_level_content_override": map[string]any{"invite": 100}})
		expect(t, hs.Do(t, "POST", roomPath(noInviter, "/invite"), alice.Token, map[string]any{"user_id": dave.UserID}), 200, "")
		expect(t, hs.Do(t, "POST", roomPath(noInviter, "/join"), dave.Token, map[string]any{}), 200, "")
		expect(t, hs.Do(t, "POST", roomPath(noInviter, "/leave"), alice.Token, map[string]any{}), 200, "")
		expect(t, hs.Do(t, "POST", roomPath(noInviter, "/join"), bob.Token, map[string]any{}), 400, "M_UNABLE_TO_GRANT_JOIN")
	})
}
