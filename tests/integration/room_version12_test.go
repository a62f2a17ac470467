package integration

import (
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"

	"foyer/internal/rooms/matrixevents"
	"foyer/internal/testharness"
)

// maxCanonicalInt is the largest integer canonical JSON allows (2^53-1).
const maxCanonicalInt = int64(1)<<53 - 1

func joinedRoomCount(t *testing.T, hs *testharness.Homeserver, token string) int {
	t.Helper()
	r := hs.Do(t, "GET", cs+"/joined_rooms", token, nil)
	if r.Status != 200 {
		t.Fatalf("joined_rooms: %s", r)
	}
	rooms, _ := r.JSON["joined_rooms"].([]any)
	return len(rooms)
}

// Room version 12 (MSC4289): creators have unlimited power, so createRoom
// lists nobody in the power levels' users, and m.room.tombstone needs 150
// so that only creators can upgrade, as Synapse sets it. Older versions
// keep the creator at 100 and tombstone at 100.
func TestRoomVersion12CreateRoomPowerLevels(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		hs := testharness.StartBackend(t, backend)
		alice := hs.RegisterUser(t, "alice")
		bob := hs.RegisterUser(t, "bob")

		room := createRoom(t, hs, alice.Token, map[string]any{"room_version": "12", "preset": "public_chat"})
		pl := stateContent(t, hs, alice.Token, room, "m.room.power_levels", "")
		if users, ok := pl.JSON["users"].(map[string]any); !ok || len(users) != 0 {
			t.Errorf("v12 power levels list users: %s", pl)
		}
		if events, _ := pl.JSON["events"].(map[string]any); events["m.room.tombstone"] != float64(150) {
			t.Errorf("v12 tombstone level: %s", pl)
		}
		// A user at 100 cannot upgrade; the creator can.
		mustJoin(t, hs, bob.Token, room)
		expect(t, putState(t, hs, alice.Token, room, "m.room.power_levels", "",
			map[string]any{"users": map[string]any{bob.UserID: 100}, "events": map[string]any{"m.room.tombstone": 150}}), 200, "")
		expect(t, upgradeRoom(t, hs, bob.Token, room, map[string]any{"new_version": "12"}), 403, "M_FORBIDDEN")
		expect(t, upgradeRoom(t, hs, alice.Token, room, map[string]any{"new_version": "12"}), 200, "")

		old := createRoom(t, hs, alice.Token, map[string]any{"room_version": "11"})
		pl = stateContent(t, hs, alice.Token, old, "m.room.power_levels", "")
		if users, _ := pl.JSON["users"].(map[string]any); users[alice.UserID] != float64(100) {
			t.Errorf("v11 power levels lack the creator: %s", pl)
		}
		if events, _ := pl.JSON["events"].(map[string]any); events["m.room.tombstone"] != float64(100) {
			t.Errorf("v11 tombstone level: %s", pl)
		}

		// power_level_content_override may list others, not the creator.
		room = createRoom(t, hs, alice.Token, map[string]any{"room_version": "12", "invite": []string{bob.UserID},
			"power_level_content_override": map[string]any{"users": map[string]any{bob.UserID: 100}}})
		pl = stateContent(t, hs, alice.Token, room, "m.room.power_levels", "")
		if users, _ := pl.JSON["users"].(map[string]any); len(users) != 1 || users[bob.UserID] != float64(100) {
			t.Errorf("v12 override users: %s", pl)
		}
		before := joinedRoomCount(t, hs, alice.Token)
		expect(t, hs.Do(t, "POST", cs+"/createRoom", alice.Token, map[string]any{"room_version": "12", "invite": []string{bob.UserID},
			"power_level_content_override": map[string]any{"users": map[string]any{alice.UserID: 100}}}), 400, "M_INVALID_PARAM")
		expect(t, hs.Do(t, "POST", cs+"/createRoom", alice.Token, map[string]any{"room_version": "12",
			"creation_content":             map[string]any{"additional_creators": []string{bob.UserID}},
			"power_level_content_override": map[string]any{"users": map[string]any{bob.UserID: 50}}}), 400, "M_INVALID_PARAM")
		if after := joinedRoomCount(t, hs, alice.Token); after != before {
			t.Errorf("refused createRoom requests left rooms behind: %d joined rooms, had %d", after, before)
		}
	})
}

// Room version 12: a trusted_private_chat makes its invitees additional
// creators (in the create event, with any the request names), as Synapse
// does, instead of giving them power 100 in the power levels.
func TestRoomVersion12TrustedPrivateChatCreators(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		hs := testharness.StartBackend(t, backend)
		alice := hs.RegisterUser(t, "alice")
		bob := hs.RegisterUser(t, "bob")
		carol := hs.RegisterUser(t, "carol")

		room := createRoom(t, hs, alice.Token, map[string]any{"room_version": "12", "preset": "trusted_private_chat",
			"is_direct": true, "invite": []string{bob.UserID}})
		create := stateContent(t, hs, alice.Token, room, "m.room.create", "")
		if got, _ := create.JSON["additional_creators"].([]any); !slices.Equal(got, []any{bob.UserID}) {
			t.Errorf("create content: %s", create)
		}
		pl := stateContent(t, hs, alice.Token, room, "m.room.power_levels", "")
		if users, ok := pl.JSON["users"].(map[string]any); !ok || len(users) != 0 {
			t.Errorf("v12 trusted_private_chat power levels list users: %s", pl)
		}
		// Bob, a creator, outranks everyone: alice cannot kick him.
		mustJoin(t, hs, bob.Token, room)
		expect(t, hs.Do(t, "POST", roomPath(room, "/kick"), alice.Token, map[string]any{"user_id": bob.UserID}), 403, "M_FORBIDDEN")
		expect(t, putState(t, hs, bob.Token, room, "m.room.name", "", map[string]any{"name": "bob's"}), 200, "")

		// Creators the request names are kept, the invitees added once.
		room = createRoom(t, hs, alice.Token, map[string]any{"room_version": "12", "preset": "trusted_private_chat",
			"is_direct": true, "invite": []string{bob.UserID},
			"creation_content": map[string]any{"additional_creators": []string{carol.UserID, bob.UserID}}})
		create = stateContent(t, hs, alice.Token, room, "m.room.create", "")
		if got, _ := create.JSON["additional_creators"].([]any); !slices.Equal(got, []any{carol.UserID, bob.UserID}) {
			t.Errorf("create content with named creators: %s", create)
		}

		// Before version 12 invitees get the creator's power, as before.
		room = createRoom(t, hs, alice.Token, map[string]any{"room_version": "11", "preset": "trusted_private_chat",
			"invite": []string{bob.UserID}})
		pl = stateContent(t, hs, alice.Token, room, "m.room.power_levels", "")
		if users, _ := pl.JSON["users"].(map[string]any); users[bob.UserID] != float64(100) || users[alice.UserID] != float64(100) {
			t.Errorf("v11 trusted_private_chat power levels: %s", pl)
		}
		if create := stateContent(t, hs, alice.Token, room, "m.room.create", ""); create.JSON["additional_creators"] != nil {
			t.Errorf("v11 create content names additional creators: %s", create)
		}
	})
}

// The malformed requests Complement's MSC4289 and MSC4291 tests send are
// refused with 400, not the 403 of an auth rule, and leave nothing behind.
func TestRoomVersion12MalformedRequests(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		hs := testharness.StartBackend(t, backend)
		alice := hs.RegisterUser(t, "alice")
		bob := hs.RegisterUser(t, "bob")

		before := joinedRoomCount(t, hs, alice.Token)
		for _, c := range []struct {
			name    string
			value   any
			errcode string
		}{
			{"not an array", "not-an-array", "M_BAD_JSON"},
			{"not strings", []any{"@foo:example.com", 42}, "M_BAD_JSON"},
			{"not user IDs", []any{"@foo:example.com", "not-a-user-id"}, "M_INVALID_PARAM"},
			{"invalid server name", []any{"@invalid:dom$ain$.com"}, "M_INVALID_PARAM"},
			{"too long", []any{"@" + strings.Repeat("a", 250) + ":example.com"}, "M_INVALID_PARAM"},
		} {
			r := hs.Do(t, "POST", cs+"/createRoom", alice.Token, map[string]any{"room_version": "12", "preset": "public_chat",
				"creation_content": map[string]any{"additional_creators": c.value}})
			if r.Status != 400 || r.Errcode() != c.errcode {
				t.Errorf("additional_creators %s: %s", c.name, r)
			}
		}
		if after := joinedRoomCount(t, hs, alice.Token); after != before {
			t.Errorf("refused createRoom requests left rooms behind: %d joined rooms, had %d", after, before)
		}
		room := createRoom(t, hs, alice.Token, map[string]any{"room_version": "12", "preset": "public_chat",
			"creation_content": map[string]any{"additional_creators": []string{"@foo:example.com", "@bar:baz.code"}}})

		// Power levels naming a creator, or beyond canonical JSON.
		mustJoin(t, hs, bob.Token, room)
		expect(t, putState(t, hs, alice.Token, room, "m.room.power_levels", "",
			map[string]any{"users": map[string]any{alice.UserID: 100}}), 400, "M_INVALID_PARAM")
		expect(t, putState(t, hs, alice.Token, room, "m.room.power_levels", "",
			map[string]any{"users": map[string]any{"@foo:example.com": 100}}), 400, "M_INVALID_PARAM")
		expect(t, putState(t, hs, alice.Token, room, "m.room.power_levels", "",
			json.RawMessage(fmt.Sprintf(`{"users":{%q:%d}}`, bob.UserID, maxCanonicalInt+1))), 400, "M_BAD_JSON")
		expect(t, putState(t, hs, alice.Token, room, "m.room.power_levels", "",
			map[string]any{"users": map[string]any{bob.UserID: maxCanonicalInt}}), 200, "")
		// An admin at the largest level still cannot kick a creator.
		expect(t, hs.Do(t, "POST", roomPath(room, "/kick"), bob.Token, map[string]any{"user_id": alice.UserID}), 403, "M_FORBIDDEN")
		expect(t, hs.Do(t, "POST", roomPath(room, "/kick"), alice.Token, map[string]any{"user_id": bob.UserID}), 200, "")

		// A room has one create event, in every version.
		for _, v := range []string{"11", "12"} {
			room := createRoom(t, hs, alice.Token, map[string]any{"room_version": v})
			expect(t, putState(t, hs, alice.Token, room, "m.room.create", "", map[string]any{"room_version": v, "entropy": 100}), 400, "M_INVALID_PARAM")
		}
	})
}

// MSC4291: the create event of a version 12 room, whose ID is the event's
// hash, carries the room ID on every client API that returns it.
func TestRoomVersion12CreateEventHasRoomID(t *testing.T) {
	hs := testharness.StartBackend(t, "sqlite")
	alice := hs.RegisterUser(t, "alice")
	room := createRoom(t, hs, alice.Token, map[string]any{"room_version": "12"})
	msg := sendMessage(t, hs, alice.Token, room, "hello")
	createID := "$" + room[1:]
	find := func(list any) map[string]any {
		items, _ := list.([]any)
		for _, it := range items {
			if ev, _ := it.(map[string]any); ev["type"] == "m.room.create" {
				return ev
			}
		}
		return nil
	}
	for _, c := range []struct {
		name, path string
		pick       func(r *testharness.Response) map[string]any
	}{
		{"/state", roomPath(room, "/state"), func(r *testharness.Response) map[string]any {
			var list []any
			_ = json.Unmarshal(r.Raw, &list)
			return find(list)
		}},
		{"/messages", roomPath(room, "/messages?dir=b&limit=100"), func(r *testharness.Response) map[string]any { return find(r.JSON["chunk"]) }},
		{"/event", roomPath(room, "/event/"+url.PathEscape(createID)), func(r *testharness.Response) map[string]any { return r.JSON }},
		{"/context direct", roomPath(room, "/context/"+url.PathEscape(createID)), func(r *testharness.Response) map[string]any {
			ev, _ := r.JSON["event"].(map[string]any)
			return ev
		}},
		{"/context before", roomPath(room, "/context/"+url.PathEscape(msg)+"?limit=100"), func(r *testharness.Response) map[string]any { return find(r.JSON["events_before"]) }},
		{"/context state", roomPath(room, "/context/"+url.PathEscape(msg)+"?limit=100"), func(r *testharness.Response) map[string]any { return find(r.JSON["state"]) }},
		{"/state?format=event", roomPath(room, "/state/m.room.create/?format=event"), func(r *testharness.Response) map[string]any { return r.JSON }},
	} {
		r := hs.Do(t, "GET", c.path, alice.Token, nil)
		if r.Status != 200 {
			t.Errorf("%s: %s", c.name, r)
			continue
		}
		ev := c.pick(r)
		if ev == nil || ev["room_id"] != room || ev["event_id"] != createID {
			t.Errorf("%s: create event %v, want room_id %s", c.name, ev, room)
		}
	}
}

// inviteStateCreate is the create event of the room's invite_state in the
// user's sync.
func inviteStateCreate(t *testing.T, hs *testharness.Homeserver, token, room string) map[string]json.RawMessage {
	t.Helper()
	return strippedStateCreate(t, hs, token, room, "invite")
}

// strippedStateCreate is the create event of the room's invite_state or
// knock_state (section "invite" or "knock") in the user's sync.
func strippedStateCreate(t *testing.T, hs *testharness.Homeserver, token, room, section string) map[string]json.RawMessage {
	t.Helper()
	r := hs.Do(t, "GET", cs+"/sync", token, nil)
	if r.Status != 200 {
		t.Fatalf("sync: %s", r)
	}
	type events struct {
		Events []map[string]json.RawMessage `json:"events"`
	}
	var s struct {
		Rooms map[string]map[string]struct {
			InviteState events `json:"invite_state"`
			KnockState  events `json:"knock_state"`
		} `json:"rooms"`
	}
	if err := json.Unmarshal(r.Raw, &s); err != nil {
		t.Fatal(err)
	}
	entry, ok := s.Rooms[section][room]
	if !ok {
		t.Fatalf("no %s of %s: %s", section, room, r)
	}
	list := entry.InviteState.Events
	if section == "knock" {
		list = entry.KnockState.Events
	}
	for _, ev := range list {
		if string(ev["type"]) == `"m.room.create"` {
			return ev
		}
	}
	t.Fatalf("the %s state lacks the create event: %s", section, r)
	return nil
}

// checkFullCreate fails unless ev is the room's full create event: a PDU
// whose reference hash is the room ID, as MSC4291 derives it.
func checkFullCreate(t *testing.T, room string, ev map[string]json.RawMessage) {
	t.Helper()
	if _, ok := ev["origin_server_ts"]; !ok {
		t.Fatalf("the invite_state create event is stripped: %v", ev)
	}
	raw, _ := json.Marshal(ev)
	parsed, err := matrixevents.ParseTrusted("12", raw)
	if err != nil {
		t.Fatalf("the invite_state create event is not a PDU: %v: %s", err, raw)
	}
	if parsed.EventID() != "$"+room[1:] {
		t.Fatalf("the invite_state create event hashes to %s, not the room %s", parsed.EventID(), room)
	}
}

// checkStrippedCreate fails unless ev has only the stripped state keys.
func checkStrippedCreate(t *testing.T, ev map[string]json.RawMessage) {
	t.Helper()
	for k := range ev {
		if !slices.Contains([]string{"type", "state_key", "sender", "content"}, k) {
			t.Fatalf("a stripped create event has %q: %v", k, ev)
		}
	}
}

// MSC4311: in room version 12 the create event in an invite's state is
// the full event, so the invitee can check the room ID is its hash; older
// versions keep the stripped form. Local invites show it in /sync.
func TestRoomVersion12InviteStateFullCreateEvent(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		hs := testharness.StartBackend(t, backend)
		alice := hs.RegisterUser(t, "alice")
		bob := hs.RegisterUser(t, "bob")
		room := createRoom(t, hs, alice.Token, map[string]any{"room_version": "12", "preset": "public_chat"})
		expect(t, hs.Do(t, "POST", roomPath(room, "/invite"), alice.Token, map[string]any{"user_id": bob.UserID}), 200, "")
		checkFullCreate(t, room, inviteStateCreate(t, hs, bob.Token, room))

		old := createRoom(t, hs, alice.Token, map[string]any{"room_version": "11", "preset": "public_chat"})
		expect(t, hs.Do(t, "POST", roomPath(old, "/invite"), alice.Token, map[string]any{"user_id": bob.UserID}), 200, "")
		checkStrippedCreate(t, inviteStateCreate(t, hs, bob.Token, old))

		// A knocker's knock_state too.
		carol := hs.RegisterUser(t, "carol")
		knockRule := []any{map[string]any{"type": "m.room.join_rules", "state_key": "", "content": map[string]any{"join_rule": "knock"}}}
		knockable := createRoom(t, hs, alice.Token, map[string]any{"room_version": "12", "initial_state": knockRule})
		expect(t, hs.Do(t, "POST", cs+"/knock/"+url.PathEscape(knockable), carol.Token, map[string]any{}), 200, "")
		checkFullCreate(t, knockable, strippedStateCreate(t, hs, carol.Token, knockable, "knock"))
	})
}

// MSC4311 across servers: the invite_room_state sent with an invite holds
// the full create event, which the invitee's server shows its user in
// full for room version 12 (stripped for older versions).
func TestFederationRoomVersion12InviteStateFullCreateEvent(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		servers := testharness.StartFederation(t, backend, 2, nil)
		a, b := servers[0], servers[1]
		alice := a.RegisterUser(t, "alice")
		bob := b.RegisterUser(t, "bob")
		room := createRoom(t, a, alice.Token, map[string]any{"room_version": "12", "preset": "public_chat"})
		expect(t, a.Do(t, "POST", roomPath(room, "/invite"), alice.Token, map[string]any{"user_id": bob.UserID}), 200, "")
		checkFullCreate(t, room, inviteStateCreate(t, b, bob.Token, room))

		old := createRoom(t, a, alice.Token, map[string]any{"room_version": "10", "preset": "public_chat"})
		expect(t, a.Do(t, "POST", roomPath(old, "/invite"), alice.Token, map[string]any{"user_id": bob.UserID}), 200, "")
		checkStrippedCreate(t, inviteStateCreate(t, b, bob.Token, old))
	})
}

// newRemoteV12Invite is a version 12 room of rs's server that hs is not
// in: its create event (whose hash is the room ID) and an invite of
// invitee by inviter.
func newRemoteV12Invite(t *testing.T, rs *remoteServer, inviter, invitee, name string) remoteRoomInvite {
	t.Helper()
	create, err := matrixevents.BuildEvent(matrixevents.ProtoEvent{RoomVersion: "12", Sender: inviter,
		Type: "m.room.create", StateKey: strPtr(""), Content: map[string]any{"room_version": "12", "name": name},
		Depth: 1, Origin: rs.name}, rs.key)
	if err != nil {
		t.Fatal(err)
	}
	invite, err := matrixevents.BuildEvent(matrixevents.ProtoEvent{RoomVersion: "12", RoomID: create.RoomID(), Sender: inviter,
		Type: "m.room.member", StateKey: strPtr(invitee), Content: map[string]any{"membership": "invite"},
		PrevEventIDs: []string{create.EventID()}, Depth: 2, Origin: rs.name}, rs.key)
	if err != nil {
		t.Fatal(err)
	}
	return remoteRoomInvite{version: "12", roomID: create.RoomID(), create: create, invite: invite}
}

// MSC4311, received: another server's invite to a version 12 room must
// bring the room's full create event, the one whose hash is the room ID
// (400 M_INVALID_PARAM, nothing kept, for a stripped one or one of another
// room); the invitee's client then gets that event whole.
func TestFederationInboundInviteRoomVersion12CreateEvent(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		hs := startNamed(t, backend, "local.test", nil)
		rs := txnRemote(t, backend, hs)
		bob := hs.RegisterUser(t, "bob")
		rita := "@rita:remote.test"
		ri := newRemoteV12Invite(t, rs, rita, bob.UserID, "one")
		other := newRemoteV12Invite(t, rs, rita, bob.UserID, "another")

		stripped := map[string]any{"type": "m.room.create", "state_key": "", "sender": rita, "content": map[string]any{"room_version": "12"}}
		for name, state := range map[string][]any{
			"no create event":           {},
			"a stripped create event":   {stripped},
			"another room's create":     {json.RawMessage(other.create.JSON())},
			"a create of wrong content": {json.RawMessage(strings.Replace(string(ri.create.JSON()), `"one"`, `"two"`, 1))},
		} {
			if r := sendInvite(t, rs, ri, "12", state); r.Status != 400 || r.Errcode() != "M_INVALID_PARAM" {
				t.Errorf("an invite with %s: %s", name, r)
			}
		}
		if n := pendingRemote(t, hs, bob.UserID); n != 0 {
			t.Fatalf("refused invites left %d pending memberships", n)
		}
		expect(t, sendInvite(t, rs, ri, "12", ri.state("Lake")), 200, "")
		checkFullCreate(t, ri.roomID, inviteStateCreate(t, hs, bob.Token, ri.roomID))
	})
}
