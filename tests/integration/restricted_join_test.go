package integration

import (
	"encoding/json"
	"testing"
	"time"

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

// signedBy fetches eventID from hs through the federation API, asked as
// the server asker (which must share the room), and reports whether
// server's signature is on it and whom its join names as authoriser.
func signedBy(t *testing.T, hs, asker *testharness.Homeserver, eventID, server string) (bool, string) {
	t.Helper()
	r := hs.SignedRequest(t, asker.SigningKey(t), asker.Config.ServerName, hs.Config.ServerName, "GET",
		"/_matrix/federation/v1/event/"+testharness.PathEscape(eventID), nil)
	expect(t, r, 200, "")
	pdus, _ := r.JSON["pdus"].([]any)
	if len(pdus) != 1 {
		t.Fatalf("/event %s: %s", eventID, r)
	}
	ev := pdus[0].(map[string]any)
	sigs, _ := ev["signatures"].(map[string]any)
	via, _ := ev["content"].(map[string]any)["join_authorised_via_users_server"].(string)
	_, ok := sigs[server]
	return ok, via
}

// A user of B joins A's restricted room because they are joined to the
// allowed room on A: make_join's template names A's user in
// join_authorised_via_users_server, A signs the join at send_join, and
// both servers store it with A's signature. A user of B in no allowed
// room is refused 403 M_FORBIDDEN; a room whose allowed room A is not in
// is 400 M_UNABLE_TO_AUTHORISE_JOIN; a room where no user of A may invite
// is 400 M_UNABLE_TO_GRANT_JOIN; knock_restricted lets B's users knock,
// and members of the allowed room join.
func TestFederationRestrictedJoin(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		servers := testharness.StartFederation(t, backend, 2, nil)
		home, away := servers[0], servers[1]
		alice := home.RegisterUser(t, "alice")
		bob := away.RegisterUser(t, "bob")
		carol := away.RegisterUser(t, "carol")
		hsName := home.Config.ServerName
		space := createRoom(t, home, alice.Token, map[string]any{"preset": "public_chat", "creation_content": map[string]any{"type": "m.space"}})
		room := restrictedRoom(t, home, alice.Token, "restricted", space, nil)

		expect(t, joinVia(t, away, bob.Token, space, hsName), 200, "")
		expect(t, joinVia(t, away, bob.Token, room, hsName), 200, "")
		if m := mustState(t, away, bob.Token, room, "m.room.member", bob.UserID); m.Str("membership") != "join" || m.Str("join_authorised_via_users_server") != alice.UserID {
			t.Fatalf("bob's restricted join on his server: %s", m)
		}
		waitFor(t, func() bool { return membershipOn(t, home, alice.Token, room, bob.UserID) == "join" })
		joinID := pdMemberEventID(t, away, bob.Token, room, bob.UserID)
		if id := pdMemberEventID(t, home, alice.Token, room, bob.UserID); id != joinID {
			t.Fatalf("the servers store different joins: %s and %s", id, joinID)
		}
		for _, stored := range []struct{ hs, asker *testharness.Homeserver }{{home, away}, {away, home}} {
			signed, via := signedBy(t, stored.hs, stored.asker, joinID, hsName)
			if !signed || via != alice.UserID {
				t.Errorf("the join on %s: signed by %s %v, authorised via %q", stored.hs.Config.ServerName, hsName, signed, via)
			}
		}
		sendMessage(t, away, bob.Token, room, "hello from bob")
		waitFor(t, func() bool { return syncHasMessage(t, home, alice.Token, room, "hello from bob") })

		// carol is in no allowed room, which home can tell.
		expect(t, joinVia(t, away, carol.Token, room, hsName), 403, "M_FORBIDDEN")
		if got := joinedRooms(t, away, carol.Token); len(got) != 0 {
			t.Fatalf("carol's rooms after a refused join: %v", got)
		}

		// A room restricted to a room of away's that home is not in:
		// home cannot tell.
		awayRoom := createRoom(t, away, carol.Token, map[string]any{"preset": "public_chat"})
		unseen := restrictedRoom(t, home, alice.Token, "restricted", awayRoom, nil)
		expect(t, joinVia(t, away, carol.Token, unseen, hsName), 400, "M_UNABLE_TO_AUTHORISE_JOIN")

		// knock_restricted: carol knocks, bob joins as a member of the space.
		knock := restrictedRoom(t, home, alice.Token, "knock_restricted", space, nil)
		expect(t, away.Do(t, "POST", cs+"/knock/"+testharness.PathEscape(knock)+"?via="+hsName, carol.Token, map[string]any{}), 200, "")
		waitFor(t, func() bool { return membershipOn(t, home, alice.Token, knock, carol.UserID) == "knock" })
		expect(t, joinVia(t, away, bob.Token, knock, hsName), 200, "")
		if m := mustState(t, away, bob.Token, knock, "m.room.member", bob.UserID); m.Str("join_authorised_via_users_server") != alice.UserID {
			t.Fatalf("bob's knock_restricted join: %s", m)
		}

		// No user of home may invite: home cannot grant the join.
		dave := home.RegisterUser(t, "dave")
		noInviter := restrictedRoom(t, home, alice.Token, "restricted", space, map[string]any{
			"power_level_content_override": map[string]any{"invite": 100}})
		expect(t, home.Do(t, "POST", roomPath(noInviter, "/invite"), alice.Token, map[string]any{"user_id": dave.UserID}), 200, "")
		expect(t, home.Do(t, "POST", roomPath(noInviter, "/join"), dave.Token, map[string]any{}), 200, "")
		expect(t, home.Do(t, "POST", roomPath(noInviter, "/leave"), alice.Token, map[string]any{}), 200, "")
		expect(t, joinVia(t, away, bob.Token, noInviter, hsName), 400, "M_UNABLE_TO_GRANT_JOIN")
	})
}

// A server of the room that is not in the allowed room answers
// make_join with 400 M_UNABLE_TO_AUTHORISE_JOIN, and the joining server
// asks the next one, which lets the user in. Storage plays no part:
// SQLite only.
func TestFederationRestrictedJoinTriesNextServer(t *testing.T) {
	servers := testharness.StartFederation(t, "sqlite", 3, nil)
	home, away, third := servers[0], servers[1], servers[2]
	alice := home.RegisterUser(t, "alice")
	bob := away.RegisterUser(t, "bob")
	carol := third.RegisterUser(t, "carol")
	space := createRoom(t, home, alice.Token, map[string]any{"preset": "public_chat"})
	room := restrictedRoom(t, home, alice.Token, "restricted", space, nil)
	expect(t, home.Do(t, "POST", roomPath(room, "/invite"), alice.Token, map[string]any{"user_id": carol.UserID}), 200, "")
	expect(t, joinVia(t, third, carol.Token, room, home.Config.ServerName), 200, "")
	waitFor(t, func() bool { return membershipOn(t, home, alice.Token, room, carol.UserID) == "join" })
	expect(t, joinVia(t, away, bob.Token, space, home.Config.ServerName), 200, "")

	// third is in the room but not in the space: it cannot tell, and says
	// so in a way that sends bob's server on to home (any other refusal
	// would be the client's answer).
	makeJoin := "/_matrix/federation/v1/make_join/" + testharness.PathEscape(room) + "/" + testharness.PathEscape(bob.UserID) + "?ver=10"
	expect(t, third.SignedRequest(t, away.SigningKey(t), away.Config.ServerName, third.Config.ServerName, "GET", makeJoin, nil), 400, "M_UNABLE_TO_AUTHORISE_JOIN")
	r := away.Do(t, "POST", cs+"/join/"+testharness.PathEscape(room)+"?via="+third.Config.ServerName+"&via="+home.Config.ServerName, bob.Token, map[string]any{})
	expect(t, r, 200, "")
	if m := mustState(t, away, bob.Token, room, "m.room.member", bob.UserID); m.Str("join_authorised_via_users_server") != alice.UserID {
		t.Fatalf("bob's join: %s", m)
	}
	waitFor(t, func() bool { return membershipOn(t, third, carol.Token, room, bob.UserID) == "join" })
}

// When no user of this server may invite to a restricted room it is in,
// a local user's join goes through another server of the room whose
// user may, as Synapse does: that server names its user, signs the join,
// and this server receives the join it answers with.
func TestRestrictedJoinThroughAnotherServersInviter(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		servers := testharness.StartFederation(t, backend, 2, nil)
		home, away := servers[0], servers[1]
		alice := home.RegisterUser(t, "alice")
		frank := home.RegisterUser(t, "frank")
		bob := away.RegisterUser(t, "bob")
		hsName := home.Config.ServerName
		space := createRoom(t, home, alice.Token, map[string]any{"preset": "public_chat"})
		expect(t, home.Do(t, "POST", roomPath(space, "/join"), frank.Token, map[string]any{}), 200, "")
		expect(t, joinVia(t, away, bob.Token, space, hsName), 200, "")
		waitFor(t, func() bool { return membershipOn(t, away, bob.Token, space, frank.UserID) == "join" })

		// bob may invite (100); alice, the one user of home in the room,
		// gives up her power.
		room := restrictedRoom(t, home, alice.Token, "restricted", space, map[string]any{
			"power_level_content_override": map[string]any{"invite": 100, "users": map[string]any{alice.UserID: 100, bob.UserID: 100}}})
		expect(t, home.Do(t, "POST", roomPath(room, "/invite"), alice.Token, map[string]any{"user_id": bob.UserID}), 200, "")
		expect(t, joinVia(t, away, bob.Token, room, hsName), 200, "")
		waitFor(t, func() bool { return membershipOn(t, home, alice.Token, room, bob.UserID) == "join" })
		pl := mustState(t, home, alice.Token, room, "m.room.power_levels", "")
		pl.JSON["users"] = map[string]any{alice.UserID: 0, bob.UserID: 100}
		expect(t, putState(t, home, alice.Token, room, "m.room.power_levels", "", pl.JSON), 200, "")
		waitFor(t, func() bool {
			return mustState(t, away, bob.Token, room, "m.room.power_levels", "").JSON["users"].(map[string]any)[alice.UserID] == float64(0)
		})

		expect(t, home.Do(t, "POST", roomPath(room, "/join"), frank.Token, map[string]any{}), 200, "")
		if m := mustState(t, home, frank.Token, room, "m.room.member", frank.UserID); m.Str("membership") != "join" || m.Str("join_authorised_via_users_server") != bob.UserID {
			t.Fatalf("frank's join: %s", m)
		}
		joinID := pdMemberEventID(t, home, frank.Token, room, frank.UserID)
		waitFor(t, func() bool { return membershipOn(t, away, bob.Token, room, frank.UserID) == "join" })
		for _, stored := range []struct{ hs, asker *testharness.Homeserver }{{home, away}, {away, home}} {
			if signed, _ := signedBy(t, stored.hs, stored.asker, joinID, away.Config.ServerName); !signed {
				t.Errorf("the join on %s lacks %s's signature", stored.hs.Config.ServerName, away.Config.ServerName)
			}
		}
		sendMessage(t, home, frank.Token, room, "hello from frank")
		waitFor(t, func() bool { return syncHasMessage(t, away, bob.Token, room, "hello from frank") })
	})
}

// send_join of a restricted join checks the conditions again and signs
// the join before accepting it: a join naming a local user, of a user in
// the allowed room, is answered with the join carrying this server's
// signature; one of a user in no allowed room is 403 M_FORBIDDEN; one
// naming another server's user is 400 M_UNABLE_TO_GRANT_JOIN; one naming
// no one is refused by the auth rules (403).
func TestFederationRestrictedSendJoin(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		hs := startNamed(t, backend, "local.test", nil)
		rs := txnRemote(t, backend, hs)
		alice := hs.RegisterUser(t, "alice")
		space := createRoom(t, hs, alice.Token, map[string]any{"preset": "public_chat"})
		room := restrictedRoom(t, hs, alice.Token, "restricted", space, nil)
		rita := "@rita:remote.test"
		sendJoin := func(content map[string]any) *testharness.Response {
			t.Helper()
			join := rs.event(t, currentRoom(t, hs, room).State, room, rita, "m.room.member", strPtr(rita), content, extremityIDs(currentRoom(t, hs, room)), time.Now())
			path := "/_matrix/federation/v2/send_join/" + testharness.PathEscape(room) + "/" + testharness.PathEscape(join.EventID())
			return hs.SignedRequest(t, rs.key, rs.name, hs.Config.ServerName, "PUT", path, json.RawMessage(join.JSON()))
		}
		via := map[string]any{"membership": "join", "join_authorised_via_users_server": alice.UserID}

		r := sendJoin(via)
		expect(t, r, 403, "M_FORBIDDEN")
		r = sendJoin(map[string]any{"membership": "join", "join_authorised_via_users_server": "@someone:other.test"})
		expect(t, r, 400, "M_UNABLE_TO_GRANT_JOIN")

		joinByTxn(t, rs, "t1", space, rita)
		r = sendJoin(map[string]any{"membership": "join"})
		expect(t, r, 403, "M_FORBIDDEN")
		r = sendJoin(via)
		expect(t, r, 200, "")
		ev, _ := r.JSON["event"].(map[string]any)
		sigs, _ := ev["signatures"].(map[string]any)
		if _, ok := sigs["local.test"]; !ok {
			t.Fatalf("send_join's event lacks this server's signature: %s", r)
		}
		if _, ok := sigs["remote.test"]; !ok {
			t.Fatalf("send_join's event lost the joining server's signature: %s", r)
		}
		if m := membershipOn(t, hs, alice.Token, room, rita); m != "join" {
			t.Fatalf("rita's membership after send_join: %q", m)
		}
	})
}
