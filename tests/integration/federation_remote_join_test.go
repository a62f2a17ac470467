package integration

import (
	"context"
	"encoding/json"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"foyer/internal/testharness"
)

// joinedRooms is the caller's /joined_rooms.
func joinedRooms(t *testing.T, hs *testharness.Homeserver, token string) []string {
	t.Helper()
	r := hs.Do(t, "GET", cs+"/joined_rooms", token, nil)
	if r.Status != 200 {
		t.Fatalf("joined_rooms: %s", r)
	}
	var out []string
	for _, id := range r.JSON["joined_rooms"].([]any) {
		out = append(out, id.(string))
	}
	return out
}

// joinVia joins idOrAlias on hs through server (server_name).
func joinVia(t testing.TB, hs *testharness.Homeserver, token, idOrAlias, server string) *testharness.Response {
	t.Helper()
	return hs.Do(t, "POST", cs+"/join/"+testharness.PathEscape(idOrAlias)+"?server_name="+url.QueryEscape(server), token, map[string]any{})
}

// membershipOn is userID's membership of roomID as hs's /members shows it
// to token's user.
func membershipOn(t *testing.T, hs *testharness.Homeserver, token, roomID, userID string) string {
	t.Helper()
	r := hs.Do(t, "GET", roomPath(roomID, "/members"), token, nil)
	if r.Status != 200 {
		return ""
	}
	chunk, _ := r.JSON["chunk"].([]any)
	for _, raw := range chunk {
		ev := raw.(map[string]any)
		if ev["state_key"] == userID {
			return ev["content"].(map[string]any)["membership"].(string)
		}
	}
	return ""
}

// syncHasMessage reports whether token's sync on hs shows a message with
// body in roomID's timeline.
func syncHasMessage(t *testing.T, hs *testharness.Homeserver, token, roomID, body string) bool {
	t.Helper()
	s, _ := doSync(t, hs, token, "")
	return slices.Contains(bodies(s.Rooms.Join[roomID].Timeline.Events), body)
}

// A user joins a room of another server by room ID with server_name: the
// room's state shows in the join's /sync, /state and /members work, a
// message goes each way, /messages shows no event of the join's state,
// and the user leaves and rejoins (by alias), and forgets the room.
func TestFederationJoinRemoteRoomByIDAndAlias(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		servers := testharness.StartFederation(t, backend, 2, nil)
		home, away := servers[0], servers[1]
		alice := home.RegisterUser(t, "alice")
		bob := away.RegisterUser(t, "bob")
		room := createRoom(t, home, alice.Token, map[string]any{"preset": "public_chat", "name": "Lobby", "room_alias_name": "lobby"})
		sendMessage(t, home, alice.Token, room, "before bob")

		r := joinVia(t, away, bob.Token, room, home.Config.ServerName)
		if r.Status != 200 || r.Str("room_id") != room {
			t.Fatalf("remote join: %s", r)
		}
		if got := joinedRooms(t, away, bob.Token); !slices.Equal(got, []string{room}) {
			t.Fatalf("joined_rooms after the join: %v", got)
		}

		// The join's sync: the room's whole state before the join, the
		// join in the timeline, the summary's counts.
		s, _ := doSync(t, away, bob.Token, "")
		jr, ok := s.Rooms.Join[room]
		if !ok {
			t.Fatalf("the room is not in bob's sync")
		}
		state := map[string]bool{}
		for _, ev := range jr.State.Events {
			state[ev.Type+"|"+*ev.StateKey] = true
		}
		for _, want := range []string{"m.room.create|", "m.room.name|", "m.room.power_levels|", "m.room.join_rules|", "m.room.member|" + alice.UserID} {
			if !state[want] {
				t.Errorf("the join's sync state lacks %s: %v", want, state)
			}
		}
		if n := len(jr.Timeline.Events); n == 0 || jr.Timeline.Events[n-1].Type != "m.room.member" || jr.Timeline.Events[n-1].Sender != bob.UserID {
			t.Errorf("the join is not the end of the timeline: %+v", jr.Timeline.Events)
		}
		if jr.Summary.Joined != 2 {
			t.Errorf("summary joined count %d, want 2", jr.Summary.Joined)
		}
		if name := mustState(t, away, bob.Token, room, "m.room.name", ""); name.Str("name") != "Lobby" {
			t.Errorf("room name on the joining server: %s", name)
		}
		if m := membershipOn(t, away, bob.Token, room, alice.UserID); m != "join" {
			t.Errorf("alice's membership on the joining server: %q", m)
		}
		// Paging back from the join backfills the history before it from
		// the room's server (history visibility "shared"): each event
		// once, down to the create event, the room's start.
		msgs := away.Do(t, "GET", roomPath(room, "/messages?dir=b&limit=50"), bob.Token, nil)
		seen := map[string]bool{}
		var types []string
		for _, raw := range msgs.JSON["chunk"].([]any) {
			ev := raw.(map[string]any)
			id, _ := ev["event_id"].(string)
			if seen[id] {
				t.Errorf("/messages lists %s twice: %s", id, msgs)
			}
			seen[id] = true
			types = append(types, ev["type"].(string))
		}
		if len(types) == 0 || types[len(types)-1] != "m.room.create" || !strings.Contains(msgs.String(), "before bob") {
			t.Errorf("/messages after a remote join does not reach back to the room's start: %s", msgs)
		}

		// A message each way.
		waitFor(t, func() bool { return membershipOn(t, home, alice.Token, room, bob.UserID) == "join" })
		sendMessage(t, home, alice.Token, room, "hello bob")
		waitFor(t, func() bool { return syncHasMessage(t, away, bob.Token, room, "hello bob") })
		sendMessage(t, away, bob.Token, room, "hello alice")
		waitFor(t, func() bool { return syncHasMessage(t, home, alice.Token, room, "hello alice") })

		// Leave: built here, sent to the room's server.
		expect(t, away.Do(t, "POST", roomPath(room, "/leave"), bob.Token, map[string]any{}), 200, "")
		waitFor(t, func() bool { return membershipOn(t, home, alice.Token, room, bob.UserID) == "leave" })
		if got := joinedRooms(t, away, bob.Token); len(got) != 0 {
			t.Fatalf("joined_rooms after leaving: %v", got)
		}
		// With no user of its own left, the server refuses the room's
		// events, even signed by the room's own server.
		late := sendMessage(t, home, alice.Token, room, "after bob left")
		stored, err := home.Server.Services.Rooms.Store().GetEvent(context.Background(), late)
		if err != nil {
			t.Fatal(err)
		}
		txn := away.SignedRequest(t, home.SigningKey(t), home.Config.ServerName, away.Config.ServerName, "PUT", "/_matrix/federation/v1/send/late-1",
			map[string]any{"origin": home.Config.ServerName, "origin_server_ts": time.Now().UnixMilli(), "pdus": []json.RawMessage{stored.Event.JSON()}})
		if e, _ := pduError(t, txn, late); !strings.Contains(e, "not in room") {
			t.Errorf("an event of a room left: %q, want refused as not in room", e)
		}

		// Rejoin by the room's alias, which its server resolves.
		alias := "#lobby:" + home.Config.ServerName
		if r := away.Do(t, "GET", cs+"/directory/room/"+testharness.PathEscape(alias), bob.Token, nil); r.Status != 200 || r.Str("room_id") != room {
			t.Fatalf("remote alias lookup: %s", r)
		}
		if r := away.Do(t, "POST", cs+"/join/"+testharness.PathEscape(alias), bob.Token, map[string]any{}); r.Status != 200 || r.Str("room_id") != room {
			t.Fatalf("rejoin by alias: %s", r)
		}
		waitFor(t, func() bool { return membershipOn(t, home, alice.Token, room, bob.UserID) == "join" })
		sendMessage(t, home, alice.Token, room, "welcome back")
		waitFor(t, func() bool { return syncHasMessage(t, away, bob.Token, room, "welcome back") })

		expect(t, away.Do(t, "POST", roomPath(room, "/leave"), bob.Token, map[string]any{}), 200, "")
		expect(t, away.Do(t, "POST", roomPath(room, "/forget"), bob.Token, map[string]any{}), 200, "")
	})
}

// Joining a room of another server by alias alone: the alias's server is
// asked which room it names (/query/directory) and then asked to join.
// An alias it does not have is 404 M_NOT_FOUND.
func TestFederationJoinRemoteRoomByAlias(t *testing.T) {
	servers := testharness.StartFederation(t, "sqlite", 2, nil)
	home, away := servers[0], servers[1]
	alice := home.RegisterUser(t, "alice")
	bob := away.RegisterUser(t, "bob")
	room := createRoom(t, home, alice.Token, map[string]any{"preset": "public_chat", "room_alias_name": "hall"})
	alias := "#hall:" + home.Config.ServerName

	r := away.Do(t, "GET", cs+"/directory/room/"+testharness.PathEscape(alias), bob.Token, nil)
	if r.Status != 200 || r.Str("room_id") != room {
		t.Fatalf("remote alias lookup: %s", r)
	}
	if servers, _ := r.JSON["servers"].([]any); !slices.Contains(servers, any(home.Config.ServerName)) {
		t.Errorf("the alias's servers lack its own server: %s", r)
	}
	expect(t, away.Do(t, "GET", cs+"/directory/room/"+testharness.PathEscape("#nowhere:"+home.Config.ServerName), bob.Token, nil), 404, "M_NOT_FOUND")

	if r := away.Do(t, "POST", cs+"/join/"+testharness.PathEscape(alias), bob.Token, map[string]any{}); r.Status != 200 || r.Str("room_id") != room {
		t.Fatalf("join by alias: %s", r)
	}
	waitFor(t, func() bool { return membershipOn(t, home, alice.Token, room, bob.UserID) == "join" })
	sendMessage(t, away, bob.Token, room, "via the alias")
	waitFor(t, func() bool { return syncHasMessage(t, home, alice.Token, room, "via the alias") })
}

// A join the room's server refuses (an invite-only room) is the same
// refusal for the client, 403 M_FORBIDDEN, and nothing of the room is
// stored; a room whose server cannot be reached is 502 M_UNKNOWN (not a
// 500), with nothing stored either.
func TestFederationJoinRemoteRoomRefusedOrUnreachable(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		servers := testharness.StartFederation(t, backend, 2, nil)
		home, away := servers[0], servers[1]
		alice := home.RegisterUser(t, "alice")
		bob := away.RegisterUser(t, "bob")
		private := createRoom(t, home, alice.Token, map[string]any{"preset": "private_chat"})

		expect(t, joinVia(t, away, bob.Token, private, home.Config.ServerName), 403, "M_FORBIDDEN")
		if got := joinedRooms(t, away, bob.Token); len(got) != 0 {
			t.Fatalf("joined_rooms after a refused join: %v", got)
		}
		if r := away.Do(t, "GET", roomPath(private, "/state"), bob.Token, nil); r.Status == 200 {
			t.Errorf("the refused room's state is readable: %s", r)
		}

		down := "localhost:" + testharness.FreeLoopbackPort(t)
		// As Synapse answers when no server of the room could be reached.
		expect(t, joinVia(t, away, bob.Token, "!gone:"+down, down), 502, "M_UNKNOWN")
		if got := joinedRooms(t, away, bob.Token); len(got) != 0 {
			t.Fatalf("joined_rooms after a failed join: %v", got)
		}
		s, _ := doSync(t, away, bob.Token, "")
		if len(s.Rooms.Join) != 0 {
			t.Errorf("sync shows rooms after failed joins: %v", s.Rooms.Join)
		}

		// A server that fails is followed by the next one named.
		public := createRoom(t, home, alice.Token, map[string]any{"preset": "public_chat"})
		r := away.Do(t, "POST", cs+"/join/"+testharness.PathEscape(public)+"?via="+url.QueryEscape(down)+"&server_name="+url.QueryEscape(home.Config.ServerName), bob.Token, map[string]any{})
		if r.Status != 200 {
			t.Fatalf("join through a server that is down, then one that is up: %s", r)
		}
		if got := joinedRooms(t, away, bob.Token); !slices.Equal(got, []string{public}) {
			t.Fatalf("joined_rooms: %v", got)
		}
	})
}

// G-19, G-20 and G-54 over federation (G-36: a guest reaches a remote
// room only by joining it): our guest joins a remote room only when
// its m.room.guest_access is can_join (checked against the state the join
// brought; a refused join is left again on the room's server), and when
// the room's server turns guest access off, our guest is moved to leave.
func TestFederationGuestJoinsRemoteRoom_G19_G20_G36_G54(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		servers := testharness.StartFederation(t, backend, 2, nil)
		home, away := servers[0], servers[1]
		alice := home.RegisterUser(t, "alice")
		guest := away.RegisterGuest(t)
		open := createRoom(t, home, alice.Token, map[string]any{"preset": "public_chat", "initial_state": []any{
			map[string]any{"type": "m.room.guest_access", "state_key": "", "content": map[string]any{"guest_access": "can_join"}},
		}})
		closed := createRoom(t, home, alice.Token, map[string]any{"preset": "public_chat"})

		expect(t, joinVia(t, away, guest.Token, closed, home.Config.ServerName), 403, "M_GUEST_ACCESS_FORBIDDEN")
		if got := joinedRooms(t, away, guest.Token); len(got) != 0 {
			t.Fatalf("the guest's joined_rooms after a refused join: %v", got)
		}
		// The join the room's server accepted is undone there.
		waitFor(t, func() bool { return membershipOn(t, home, alice.Token, closed, guest.UserID) == "leave" })

		if r := joinVia(t, away, guest.Token, open, home.Config.ServerName); r.Status != 200 {
			t.Fatalf("guest join of a can_join remote room: %s", r)
		}
		if got := joinedRooms(t, away, guest.Token); !slices.Equal(got, []string{open}) {
			t.Fatalf("the guest's joined_rooms: %v", got)
		}
		waitFor(t, func() bool { return membershipOn(t, home, alice.Token, open, guest.UserID) == "join" })

		mustPutState(t, home, alice.Token, open, "m.room.guest_access", map[string]any{"guest_access": "forbidden"})
		waitFor(t, func() bool { return len(joinedRooms(t, away, guest.Token)) == 0 })
		waitFor(t, func() bool { return membershipOn(t, home, alice.Token, open, guest.UserID) == "leave" })
	})
}

// A room of version 12, whose ID names no server, is joined through the
// server the client names; without one there is no server to ask (404).
func TestFederationJoinRemoteRoomVersion12(t *testing.T) {
	servers := testharness.StartFederation(t, "sqlite", 2, nil)
	home, away := servers[0], servers[1]
	alice := home.RegisterUser(t, "alice")
	bob := away.RegisterUser(t, "bob")
	room := createRoom(t, home, alice.Token, map[string]any{"preset": "public_chat", "room_version": "12"})

	expect(t, away.Do(t, "POST", cs+"/join/"+testharness.PathEscape(room), bob.Token, map[string]any{}), 404, "M_NOT_FOUND")
	if r := joinVia(t, away, bob.Token, room, home.Config.ServerName); r.Status != 200 {
		t.Fatalf("join of a version 12 room: %s", r)
	}
	sendMessage(t, home, alice.Token, room, "hello bob")
	waitFor(t, func() bool { return syncHasMessage(t, away, bob.Token, room, "hello bob") })
	sendMessage(t, away, bob.Token, room, "hello alice")
	waitFor(t, func() bool { return syncHasMessage(t, home, alice.Token, room, "hello alice") })
}
