package integration

import (
	"encoding/json"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"

	"foyer/internal/testharness"
)

func upgradeRoom(t testing.TB, hs *testharness.Homeserver, token, roomID string, body map[string]any) *testharness.Response {
	t.Helper()
	return hs.Do(t, "POST", roomPath(roomID, "/upgrade"), token, body)
}

// contentOf decodes a state event's content, as GET /state answers it.
func contentOf(t testing.TB, r *testharness.Response) map[string]any {
	t.Helper()
	if r.Status != 200 {
		t.Fatalf("state: %s", r)
	}
	var c map[string]any
	if err := json.Unmarshal(r.Raw, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

// Spec room_upgrades "Server behaviour" and G-22: the replacement room
// carries the recommended state (guest_access included, so guests can
// still join), names its predecessor, takes the aliases and the directory
// entry; the old room gets the tombstone and is closed to ordinary
// members.
func TestRoomUpgradeCopiesStateAndGuestAccess_G22(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		hs := testharness.StartBackend(t, backend)
		alice := hs.RegisterUser(t, "alice")
		bob := hs.RegisterUser(t, "bob")
		carol := hs.RegisterUser(t, "carol")
		old := createRoom(t, hs, alice.Token, map[string]any{
			"preset": "public_chat", "visibility": "public", "room_alias_name": "lounge",
			"name": "Lounge", "topic": "Chat here", "room_version": "10",
			"initial_state": []map[string]any{
				{"type": "m.room.guest_access", "content": map[string]any{"guest_access": "can_join"}},
				{"type": "m.room.history_visibility", "content": map[string]any{"history_visibility": "world_readable"}},
				{"type": "m.room.avatar", "content": map[string]any{"url": "mxc://localhost/avatar"}},
				{"type": "m.room.server_acl", "content": map[string]any{"allow": []string{"*"}, "deny": []string{"evil.example"}, "allow_ip_literals": false}},
				{"type": "m.room.encryption", "content": map[string]any{"algorithm": "m.megolm.v1.aes-sha2"}},
				{"type": "org.example.custom", "content": map[string]any{"kept": "behind"}},
			},
		})
		mustJoin(t, hs, bob.Token, old)
		mustJoin(t, hs, carol.Token, old)
		expect(t, hs.Do(t, "POST", roomPath(old, "/ban"), alice.Token, map[string]any{"user_id": carol.UserID, "reason": "spam"}), 200, "")
		pl := contentOf(t, stateContent(t, hs, alice.Token, old, "m.room.power_levels", ""))
		pl["users"].(map[string]any)[bob.UserID] = 50
		expect(t, putState(t, hs, alice.Token, old, "m.room.power_levels", "", pl), 200, "")
		expect(t, hs.Do(t, "PUT", cs+"/directory/room/"+testharness.PathEscape("#lounge-alt:localhost"), alice.Token, map[string]any{"room_id": old}), 200, "")
		expect(t, putState(t, hs, alice.Token, old, "m.room.canonical_alias", "", map[string]any{
			"alias": "#lounge:localhost", "alt_aliases": []string{"#lounge-alt:localhost", "#lounge:elsewhere.example"},
		}), 200, "")
		sendMessage(t, hs, bob.Token, old, "before the upgrade")

		r := upgradeRoom(t, hs, alice.Token, old, map[string]any{"new_version": "11"})
		expect(t, r, 200, "")
		repl := r.Str("replacement_room")
		if repl == "" || repl == old {
			t.Fatalf("replacement_room: %s", r)
		}

		// The tombstone, and the predecessor pointing back at it.
		tomb := hs.Do(t, "GET", roomPath(old, "/state/m.room.tombstone/?format=event"), alice.Token, nil)
		tc, _ := tomb.JSON["content"].(map[string]any)
		if tomb.Status != 200 || tc["replacement_room"] != repl || tc["body"] == "" || tomb.Str("sender") != alice.UserID {
			t.Fatalf("tombstone: %s", tomb)
		}
		create := contentOf(t, stateContent(t, hs, alice.Token, repl, "m.room.create", ""))
		wantPred := map[string]any{"room_id": old, "event_id": tomb.Str("event_id")}
		if !reflect.DeepEqual(create["predecessor"], wantPred) || create["room_version"] != "11" {
			t.Errorf("create content: %v", create)
		}

		// The recommended state, guest access among it (G-22).
		for _, typ := range []string{"m.room.join_rules", "m.room.history_visibility", "m.room.guest_access", "m.room.name",
			"m.room.topic", "m.room.avatar", "m.room.encryption", "m.room.server_acl"} {
			was := contentOf(t, stateContent(t, hs, alice.Token, old, typ, ""))
			now := contentOf(t, stateContent(t, hs, alice.Token, repl, typ, ""))
			if !reflect.DeepEqual(was, now) {
				t.Errorf("%s: old %v, new %v", typ, was, now)
			}
		}
		if stateContent(t, hs, alice.Token, repl, "m.room.guest_access", "").Str("guest_access") != "can_join" {
			t.Error("guest_access was not carried over")
		}
		// State outside the recommended list stays behind.
		expect(t, stateContent(t, hs, alice.Token, repl, "org.example.custom", ""), 404, "M_NOT_FOUND")
		newPL := contentOf(t, stateContent(t, hs, alice.Token, repl, "m.room.power_levels", ""))
		users := newPL["users"].(map[string]any)
		if users[alice.UserID] != float64(100) || users[bob.UserID] != float64(50) || newPL["events_default"] != float64(0) {
			t.Errorf("new power levels: %v", newPL)
		}
		// Only the upgrading user is in the new room; bans carry over.
		if m := stateContent(t, hs, alice.Token, repl, "m.room.member", alice.UserID).Str("membership"); m != "join" {
			t.Errorf("alice in the new room: %q", m)
		}
		expect(t, stateContent(t, hs, alice.Token, repl, "m.room.member", bob.UserID), 404, "M_NOT_FOUND")
		if ban := stateContent(t, hs, alice.Token, repl, "m.room.member", carol.UserID); ban.Str("membership") != "ban" || ban.Str("reason") != "spam" {
			t.Errorf("ban in the new room: %s", ban)
		}
		expect(t, join(t, hs, carol.Token, repl), 403, "M_FORBIDDEN")

		// Guests can still join (G-22), and so can bob, by following the tombstone.
		guest := hs.RegisterGuest(t)
		mustJoin(t, hs, guest.Token, repl)
		mustJoin(t, hs, bob.Token, repl)
		sendMessage(t, hs, bob.Token, repl, "after the upgrade")

		// Aliases moved; the canonical alias's local part moved with them.
		for _, alias := range []string{"#lounge:localhost", "#lounge-alt:localhost"} {
			if got := hs.Do(t, "GET", cs+"/directory/room/"+testharness.PathEscape(alias), "", nil).Str("room_id"); got != repl {
				t.Errorf("%s points at %q, want the new room", alias, got)
			}
		}
		newCanon := contentOf(t, stateContent(t, hs, alice.Token, repl, "m.room.canonical_alias", ""))
		if !reflect.DeepEqual(newCanon, map[string]any{"alias": "#lounge:localhost", "alt_aliases": []any{"#lounge-alt:localhost"}}) {
			t.Errorf("new canonical alias: %v", newCanon)
		}
		oldCanon := contentOf(t, stateContent(t, hs, alice.Token, old, "m.room.canonical_alias", ""))
		if !reflect.DeepEqual(oldCanon, map[string]any{"alt_aliases": []any{"#lounge:elsewhere.example"}}) {
			t.Errorf("old canonical alias: %v", oldCanon)
		}
		if aliases := hs.Do(t, "GET", roomPath(old, "/aliases"), alice.Token, nil); len(aliases.JSON["aliases"].([]any)) != 0 {
			t.Errorf("old room still has aliases: %s", aliases)
		}

		// The directory lists the new room instead of the old.
		if v := hs.Do(t, "GET", cs+"/directory/list/room/"+testharness.PathEscape(repl), "", nil).Str("visibility"); v != "public" {
			t.Errorf("new room's visibility: %q", v)
		}
		if v := hs.Do(t, "GET", cs+"/directory/list/room/"+testharness.PathEscape(old), "", nil).Str("visibility"); v != "private" {
			t.Errorf("old room's visibility: %q", v)
		}
		pub := hs.Do(t, "GET", cs+"/publicRooms", "", nil)
		if !strings.Contains(string(pub.Raw), repl) || strings.Contains(string(pub.Raw), old) {
			t.Errorf("publicRooms: %s", pub)
		}

		// The old room: events_default and invite raised to 50.
		oldPL := contentOf(t, stateContent(t, hs, alice.Token, old, "m.room.power_levels", ""))
		if oldPL["events_default"] != float64(50) || oldPL["invite"] != float64(50) {
			t.Errorf("old room's power levels: %v", oldPL)
		}
		dave := hs.RegisterUser(t, "dave")
		expect(t, join(t, hs, dave.Token, old), 200, "")
		expect(t, hs.Do(t, "PUT", roomPath(old, "/send/m.room.message/late"), dave.Token, map[string]any{"msgtype": "m.text", "body": "hello?"}), 403, "M_FORBIDDEN")
		sendMessage(t, hs, bob.Token, old, "moderators may still speak")
	})
}

// A room that does not let guests in still does not after an upgrade; the
// replacement says so with an explicit guest_access of forbidden.
func TestRoomUpgradeKeepsGuestsOut_G22(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		hs := testharness.StartBackend(t, backend)
		alice := hs.RegisterUser(t, "alice")
		old := createRoom(t, hs, alice.Token, map[string]any{"preset": "public_chat"})
		r := upgradeRoom(t, hs, alice.Token, old, map[string]any{"new_version": "11"})
		expect(t, r, 200, "")
		repl := r.Str("replacement_room")
		// The replacement states the old room's implicit policy.
		if ga := stateContent(t, hs, alice.Token, repl, "m.room.guest_access", ""); ga.Status != 200 || ga.Str("guest_access") != "forbidden" {
			t.Fatalf("replacement room's guest access: %s", ga)
		}
		guest := hs.RegisterGuest(t)
		expect(t, join(t, hs, guest.Token, repl), 403, "M_GUEST_ACCESS_FORBIDDEN")
		user := hs.RegisterUser(t, "bob")
		mustJoin(t, hs, user.Token, repl)
	})
}

// Spec step 1, the 400 for an unknown version, and guests (G-13).
func TestRoomUpgradeRefusals(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		hs := testharness.StartBackend(t, backend)
		alice := hs.RegisterUser(t, "alice")
		bob := hs.RegisterUser(t, "bob")
		eve := hs.RegisterUser(t, "eve")
		old := createRoom(t, hs, alice.Token, map[string]any{"preset": "public_chat"})
		mustJoin(t, hs, bob.Token, old)
		guest := hs.RegisterGuest(t)
		putState(t, hs, alice.Token, old, "m.room.guest_access", "", map[string]any{"guest_access": "can_join"})
		mustJoin(t, hs, guest.Token, old)

		r := upgradeRoom(t, hs, bob.Token, old, map[string]any{"new_version": "11"})
		expect(t, r, 403, "M_FORBIDDEN")
		if !strings.Contains(r.Str("error"), "m.room.tombstone") {
			t.Errorf("refusal does not explain itself: %s", r)
		}
		expect(t, upgradeRoom(t, hs, eve.Token, old, map[string]any{"new_version": "11"}), 403, "M_FORBIDDEN")
		expect(t, upgradeRoom(t, hs, guest.Token, old, map[string]any{"new_version": "11"}), 403, "M_GUEST_ACCESS_FORBIDDEN")
		expect(t, upgradeRoom(t, hs, alice.Token, old, map[string]any{"new_version": "999"}), 400, "M_UNSUPPORTED_ROOM_VERSION")
		expect(t, upgradeRoom(t, hs, alice.Token, old, map[string]any{"new_version": "org.example.unstable"}), 400, "M_UNSUPPORTED_ROOM_VERSION")
		expect(t, upgradeRoom(t, hs, alice.Token, old, map[string]any{}), 400, "M_MISSING_PARAM")
		expect(t, upgradeRoom(t, hs, alice.Token, old, map[string]any{"new_version": 11}), 400, "M_BAD_JSON")
		expect(t, upgradeRoom(t, hs, alice.Token, "!missing:localhost", map[string]any{"new_version": "11"}), 404, "M_NOT_FOUND")
		expect(t, hs.Do(t, "POST", cs+"/rooms/not-a-room/upgrade", alice.Token, map[string]any{"new_version": "11"}), 400, "M_INVALID_PARAM")
		expect(t, hs.Do(t, "POST", roomPath(old, "/upgrade"), "", map[string]any{"new_version": "11"}), 401, "M_MISSING_TOKEN")
		// Nothing happened to the room.
		expect(t, stateContent(t, hs, alice.Token, old, "m.room.tombstone", ""), 404, "M_NOT_FOUND")
		if joined := hs.Do(t, "GET", cs+"/joined_rooms", alice.Token, nil); len(joined.JSON["joined_rooms"].([]any)) != 1 {
			t.Errorf("a refused upgrade left a room behind: %s", joined)
		}
		// A moderator allowed to send the tombstone may upgrade. The new
		// room's state needs level 100; the moderator is raised for the
		// copy and put back at 50 afterwards. Restricting the old room's
		// power levels takes 100, so it is skipped (spec: "if possible").
		pl := contentOf(t, stateContent(t, hs, alice.Token, old, "m.room.power_levels", ""))
		pl["users"].(map[string]any)[bob.UserID] = 50
		pl["events"].(map[string]any)["m.room.tombstone"] = 50
		expect(t, putState(t, hs, alice.Token, old, "m.room.power_levels", "", pl), 200, "")
		r = upgradeRoom(t, hs, bob.Token, old, map[string]any{"new_version": "11"})
		expect(t, r, 200, "")
		repl := r.Str("replacement_room")
		newPL := contentOf(t, stateContent(t, hs, bob.Token, repl, "m.room.power_levels", ""))
		if u := newPL["users"].(map[string]any); u[bob.UserID] != float64(50) || u[alice.UserID] != float64(100) {
			t.Errorf("new room's power levels: %v", newPL)
		}
		if stateContent(t, hs, bob.Token, repl, "m.room.join_rules", "").Str("join_rule") != "public" ||
			stateContent(t, hs, bob.Token, repl, "m.room.history_visibility", "").Str("history_visibility") != "shared" {
			t.Error("state needing level 100 was not copied")
		}
		if oldPL := contentOf(t, stateContent(t, hs, alice.Token, old, "m.room.power_levels", "")); oldPL["events_default"] != float64(0) {
			t.Errorf("old power levels changed without the power to: %v", oldPL)
		}
		if tomb := stateContent(t, hs, alice.Token, old, "m.room.tombstone", ""); tomb.Str("replacement_room") != repl {
			t.Errorf("tombstone: %s", tomb)
		}
	})
}

// Upgrading to room version 12: the room ID comes from the create event,
// the creators are not listed in power_levels, additional_creators is
// honoured, and predecessor.event_id may be left out (spec v1.16).
func TestRoomUpgradeToVersion12(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		hs := testharness.StartBackend(t, backend)
		alice := hs.RegisterUser(t, "alice")
		bob := hs.RegisterUser(t, "bob")
		old := createRoom(t, hs, alice.Token, map[string]any{"preset": "private_chat", "invite": []string{bob.UserID}, "name": "Twelve"})
		mustJoin(t, hs, bob.Token, old)
		pl := contentOf(t, stateContent(t, hs, alice.Token, old, "m.room.power_levels", ""))
		pl["users"].(map[string]any)[bob.UserID] = 100
		expect(t, putState(t, hs, alice.Token, old, "m.room.power_levels", "", pl), 200, "")

		expect(t, upgradeRoom(t, hs, alice.Token, old, map[string]any{"new_version": "12", "additional_creators": []string{"not-a-user"}}), 400, "M_INVALID_PARAM")
		expect(t, upgradeRoom(t, hs, alice.Token, old, map[string]any{"new_version": "12", "additional_creators": "bob"}), 400, "M_BAD_JSON")

		r := upgradeRoom(t, hs, alice.Token, old, map[string]any{"new_version": "12", "additional_creators": []string{bob.UserID}})
		expect(t, r, 200, "")
		repl := r.Str("replacement_room")
		if !strings.HasPrefix(repl, "!") || strings.Contains(repl, ":") {
			t.Errorf("a v12 room ID is the create event's hash: %q", repl)
		}
		createEv := hs.Do(t, "GET", roomPath(repl, "/state/m.room.create/?format=event"), alice.Token, nil)
		if createEv.Str("event_id") != "$"+strings.TrimPrefix(repl, "!") || createEv.Str("sender") != alice.UserID {
			t.Errorf("create event: %s", createEv)
		}
		create := createEv.JSON["content"].(map[string]any)
		if !reflect.DeepEqual(create["predecessor"], map[string]any{"room_id": old}) || create["room_version"] != "12" ||
			!reflect.DeepEqual(create["additional_creators"], []any{bob.UserID}) || create["creator"] != nil {
			t.Errorf("create content: %v", create)
		}
		newPL := contentOf(t, stateContent(t, hs, alice.Token, repl, "m.room.power_levels", ""))
		users, _ := newPL["users"].(map[string]any)
		if _, ok := users[alice.UserID]; ok {
			t.Errorf("the creator is listed in power_levels.users: %v", newPL)
		}
		if _, ok := users[bob.UserID]; ok {
			t.Errorf("an additional creator is listed in power_levels.users: %v", newPL)
		}
		if stateContent(t, hs, alice.Token, repl, "m.room.name", "").Str("name") != "Twelve" ||
			stateContent(t, hs, alice.Token, repl, "m.room.guest_access", "").Str("guest_access") != "can_join" {
			t.Error("state not copied into the v12 room")
		}
		if tomb := stateContent(t, hs, alice.Token, old, "m.room.tombstone", ""); tomb.Str("replacement_room") != repl {
			t.Errorf("tombstone: %s", tomb)
		}
		// bob, an additional creator, has a creator's power once joined.
		expect(t, hs.Do(t, "POST", roomPath(repl, "/invite"), alice.Token, map[string]any{"user_id": bob.UserID}), 200, "")
		mustJoin(t, hs, bob.Token, repl)
		expect(t, putState(t, hs, bob.Token, repl, "m.room.topic", "", map[string]any{"topic": "creator power"}), 200, "")

		// v12 to v12, then back to v11: the creator keeps top power by a
		// users entry in a version without privileged creators.
		r = upgradeRoom(t, hs, alice.Token, repl, map[string]any{"new_version": "12"})
		expect(t, r, 200, "")
		v12b := r.Str("replacement_room")
		if c := contentOf(t, stateContent(t, hs, alice.Token, v12b, "m.room.create", "")); c["additional_creators"] != nil {
			t.Errorf("additional creators were carried over: %v", c)
		}
		r = upgradeRoom(t, hs, alice.Token, v12b, map[string]any{"new_version": "11"})
		expect(t, r, 200, "")
		v11 := r.Str("replacement_room")
		create11 := contentOf(t, stateContent(t, hs, alice.Token, v11, "m.room.create", ""))
		pred, _ := create11["predecessor"].(map[string]any)
		if pred["room_id"] != v12b || pred["event_id"] == nil {
			t.Errorf("v11 predecessor: %v", create11)
		}
		pl11 := contentOf(t, stateContent(t, hs, alice.Token, v11, "m.room.power_levels", ""))
		if pl11["users"].(map[string]any)[alice.UserID] != float64(100) {
			t.Errorf("v11 power levels: %v", pl11)
		}
		joined := hs.Do(t, "GET", cs+"/joined_rooms", alice.Token, nil)
		var rooms []string
		for _, id := range joined.JSON["joined_rooms"].([]any) {
			rooms = append(rooms, id.(string))
		}
		for _, id := range []string{old, repl, v12b, v11} {
			if !slices.Contains(rooms, id) {
				t.Errorf("alice is not in %s: %v", id, rooms)
			}
		}
	})
}

// Moving to a replacement room keeps what a user set up for the old one:
// the upgrader at once, another member when they join the new room. Tags,
// the m.direct entry and a room push rule follow; settings already made
// for the new room stay, and a user who was not in the old room gets none.
func TestRoomUpgradeCarriesUserSettings(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		hs := testharness.StartBackend(t, backend)
		alice := hs.RegisterUser(t, "alice")
		bob := hs.RegisterUser(t, "bob")
		carol := hs.RegisterUser(t, "carol")
		old := createRoom(t, hs, alice.Token, map[string]any{"preset": "public_chat"})
		mustJoin(t, hs, bob.Token, old)
		tag := func(who testharness.Account, room, name string) {
			expect(t, hs.Do(t, "PUT", cs+"/user/"+url.PathEscape(who.UserID)+"/rooms/"+url.PathEscape(room)+"/tags/"+name, who.Token, map[string]any{"order": 0.25}), 200, "")
		}
		tags := func(who testharness.Account, room string) map[string]any {
			r := hs.Do(t, "GET", cs+"/user/"+url.PathEscape(who.UserID)+"/rooms/"+url.PathEscape(room)+"/tags", who.Token, nil)
			expect(t, r, 200, "")
			m, _ := r.JSON["tags"].(map[string]any)
			return m
		}
		for _, who := range []testharness.Account{alice, bob} {
			tag(who, old, "m.favourite")
			expect(t, hs.Do(t, "PUT", cs+"/user/"+url.PathEscape(who.UserID)+"/account_data/m.direct", who.Token,
				map[string]any{carol.UserID: []string{old}}), 200, "")
			expect(t, hs.Do(t, "PUT", cs+"/pushrules/global/room/"+url.PathEscape(old), who.Token, map[string]any{"actions": []string{"notify"}}), 200, "")
		}

		r := upgradeRoom(t, hs, alice.Token, old, map[string]any{"new_version": "11"})
		expect(t, r, 200, "")
		repl := r.Str("replacement_room")
		// The upgrader's settings moved with the upgrade.
		if _, ok := tags(alice, repl)["m.favourite"]; !ok {
			t.Fatalf("upgrader's tags: %v", tags(alice, repl))
		}
		direct := hs.Do(t, "GET", cs+"/user/"+url.PathEscape(alice.UserID)+"/account_data/m.direct", alice.Token, nil)
		if lists, _ := direct.JSON[carol.UserID].([]any); len(lists) != 2 || lists[0] != old || lists[1] != repl {
			t.Fatalf("upgrader's m.direct: %s", direct)
		}
		expect(t, hs.Do(t, "GET", cs+"/pushrules/global/room/"+url.PathEscape(repl), alice.Token, nil), 200, "")

		// Bob's follow when he joins; a tag he set on the new room first stays.
		tag(bob, repl, "u.mine")
		mustJoin(t, hs, bob.Token, repl)
		if got := tags(bob, repl); len(got) != 1 || got["u.mine"] == nil {
			t.Fatalf("a tag set for the new room was overwritten: %v", got)
		}
		expect(t, hs.Do(t, "GET", cs+"/pushrules/global/room/"+url.PathEscape(repl), bob.Token, nil), 200, "")

		// Carol was never in the old room: nothing to carry.
		tag(carol, old, "m.lowpriority")
		mustJoin(t, hs, carol.Token, repl)
		if got := tags(carol, repl); len(got) != 0 {
			t.Fatalf("carol got settings from a room she was not in: %v", got)
		}
	})
}
