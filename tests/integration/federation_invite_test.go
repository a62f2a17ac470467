package integration

import (
	"context"
	"encoding/json"
	"net/url"
	"slices"
	"strings"
	"testing"

	"foyer/internal/testharness"
)

// strippedTypes lists the types of a sync room's invite_state or
// knock_state events.
func strippedTypes(events []syncEvent) []string {
	var out []string
	for _, e := range events {
		out = append(out, e.Type)
	}
	return out
}

// memberOf is target's membership in room as hs's room state says ("" if none).
func memberOf(t *testing.T, hs *testharness.Homeserver, room, target string) string {
	t.Helper()
	snap, err := hs.Server.Services.Rooms.Current(context.Background(), room)
	if err != nil {
		t.Fatal(err)
	}
	return snap.Membership(target)
}

// knockSync is the knock section of a sync response.
type knockSync struct {
	NextBatch string `json:"next_batch"`
	Rooms     struct {
		Knock map[string]struct {
			KnockState struct{ Events []syncEvent } `json:"knock_state"`
		} `json:"knock"`
	} `json:"rooms"`
}

func doKnockSync(t *testing.T, hs *testharness.Homeserver, token, query string) knockSync {
	t.Helper()
	_, r := doSync(t, hs, token, query)
	var s knockSync
	if err := json.Unmarshal(r.Raw, &s); err != nil {
		t.Fatal(err)
	}
	return s
}

// A user of server A invites a user of server B: B signs the invite,
// which enters A's room with both servers' signatures, and B's user sees
// it in /sync's rooms.invite with the room's state; she rejects it, the
// leave goes to A through make_leave and send_leave, and the room moves
// to her rooms.leave. An invite of a user B does not have is refused
// with B's refusal and stores nothing.
func TestFederationInviteBetweenServers(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		servers := testharness.StartFederation(t, backend, 2, nil)
		a, b := servers[0], servers[1]
		alice := a.RegisterUser(t, "alice")
		bob := b.RegisterUser(t, "bob")
		room := createRoom(t, a, alice.Token, map[string]any{"preset": "private_chat", "name": "Garden"})

		if r := a.Do(t, "POST", roomPath(room, "/invite"), alice.Token, map[string]any{"user_id": bob.UserID}); r.Status != 200 {
			t.Fatalf("invite: %s", r)
		}
		if m := memberOf(t, a, room, bob.UserID); m != "invite" {
			t.Fatalf("bob is %q in A's room after the invite", m)
		}
		snap := currentRoom(t, a, room)
		invite, _ := snap.Get("m.room.member", bob.UserID)
		var signed struct {
			Signatures map[string]json.RawMessage `json:"signatures"`
		}
		if err := json.Unmarshal(invite.Event.JSON(), &signed); err != nil || signed.Signatures[a.Config.ServerName] == nil || signed.Signatures[b.Config.ServerName] == nil {
			t.Fatalf("the invite A stored is not signed by both servers: %s", invite.Event.JSON())
		}

		s, raw := doSync(t, b, bob.Token, "")
		inv, ok := s.Rooms.Invite[room]
		if !ok {
			t.Fatalf("bob's sync has no invite to %s: %s", room, raw)
		}
		types := strippedTypes(inv.InviteState.Events)
		for _, want := range []string{"m.room.create", "m.room.join_rules", "m.room.name", "m.room.member"} {
			if !slices.Contains(types, want) {
				t.Errorf("invite_state lacks %s: %v", want, types)
			}
		}
		var own, inviter bool
		for _, e := range inv.InviteState.Events {
			if e.Type == "m.room.member" && e.StateKey != nil && *e.StateKey == bob.UserID && e.Content["membership"] == "invite" && e.Sender == alice.UserID {
				own = true
			}
			if e.Type == "m.room.member" && e.StateKey != nil && *e.StateKey == alice.UserID {
				inviter = true
			}
		}
		if !own || !inviter {
			t.Errorf("invite_state lacks the invite or the inviter's member event: %s", raw)
		}

		if r := b.Do(t, "POST", roomPath(room, "/leave"), bob.Token, map[string]any{"reason": "no thanks"}); r.Status != 200 {
			t.Fatalf("rejecting the invite: %s", r)
		}
		s2, raw2 := doSync(t, b, bob.Token, "since="+url.QueryEscape(s.NextBatch))
		if _, ok := s2.Rooms.Invite[room]; ok {
			t.Errorf("the rejected invite is still in bob's sync: %s", raw2)
		}
		left, ok := s2.Rooms.Leave[room]
		if !ok || len(left.Timeline.Events) != 1 || left.Timeline.Events[0].Content["membership"] != "leave" {
			t.Fatalf("bob's sync has no leave of %s: %s", room, raw2)
		}
		if s3, raw3 := doSync(t, b, bob.Token, ""); len(s3.Rooms.Invite) != 0 {
			t.Errorf("a fresh sync still shows the invite: %s", raw3)
		}
		if m := memberOf(t, a, room, bob.UserID); m != "leave" {
			t.Fatalf("bob is %q in A's room after rejecting", m)
		}
		leaveID := left.Timeline.Events[0].EventID
		if _, araw := doSync(t, a, alice.Token, ""); !strings.Contains(string(araw.Raw), leaveID) {
			t.Errorf("alice's sync lacks bob's leave %s", leaveID)
		}

		// B has no such user: B's refusal is the client's, and A keeps
		// nothing.
		ghost := "@ghost:" + b.Config.ServerName
		r := a.Do(t, "POST", roomPath(room, "/invite"), alice.Token, map[string]any{"user_id": ghost})
		if r.Status != 403 || r.Str("errcode") != "M_FORBIDDEN" {
			t.Fatalf("inviting a user B does not have: %s", r)
		}
		if m := memberOf(t, a, room, ghost); m != "" {
			t.Fatalf("a refused invite left %q in the room", m)
		}
		// A server that cannot be reached refuses too.
		r = a.Do(t, "POST", roomPath(room, "/invite"), alice.Token, map[string]any{"user_id": "@x:unreachable.invalid"})
		if r.Status != 403 || memberOf(t, a, room, "@x:unreachable.invalid") != "" {
			t.Fatalf("inviting a user of an unreachable server: %s", r)
		}

		// Room version 12: the room ID names no server, and the state
		// that comes with the invite holds the create event it derives from.
		v12 := createRoom(t, a, alice.Token, map[string]any{"preset": "private_chat", "room_version": "12"})
		if r := a.Do(t, "POST", roomPath(v12, "/invite"), alice.Token, map[string]any{"user_id": bob.UserID}); r.Status != 200 {
			t.Fatalf("invite to a version 12 room: %s", r)
		}
		if s, raw := doSync(t, b, bob.Token, ""); !containsRoom(s.Rooms.Invite, v12) {
			t.Fatalf("bob's sync lacks the version 12 invite: %s", raw)
		}
		if servers, err := b.Server.Services.Rooms.PendingInviteServers(context.Background(), v12, bob.UserID); err != nil ||
			!slices.Equal(servers, []string{a.Config.ServerName}) {
			t.Errorf("PendingInviteServers of a version 12 room = %v, %v", servers, err)
		}
	})
}

// A user of server B knocks on a room of server A through
// /knock?via=: B keeps the knock with the room's state from A's answer
// and shows it in rooms.knock; A's members see the knock, and accepting it
// by inviting her sends the invite to B, where it replaces the knock.
func TestFederationKnockBetweenServers(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		servers := testharness.StartFederation(t, backend, 2, nil)
		a, b := servers[0], servers[1]
		alice := a.RegisterUser(t, "alice")
		bob := b.RegisterUser(t, "bob")
		room := createRoom(t, a, alice.Token, map[string]any{"preset": "private_chat", "room_version": "10",
			"initial_state": []any{map[string]any{"type": "m.room.join_rules", "state_key": "", "content": map[string]any{"join_rule": "knock"}}}})
		aliceSince, _ := doSync(t, a, alice.Token, "")

		r := b.Do(t, "POST", cs+"/knock/"+url.PathEscape(room)+"?via="+url.QueryEscape(a.Config.ServerName), bob.Token, map[string]any{"reason": "let me in"})
		if r.Status != 200 || r.Str("room_id") != room {
			t.Fatalf("knock: %s", r)
		}
		ks := doKnockSync(t, b, bob.Token, "")
		k, ok := ks.Rooms.Knock[room]
		if !ok {
			t.Fatalf("bob's sync has no knock on %s", room)
		}
		types := strippedTypes(k.KnockState.Events)
		if !slices.Contains(types, "m.room.create") || !slices.Contains(types, "m.room.join_rules") {
			t.Errorf("knock_state lacks the create or join rules: %v", types)
		}
		var ownKnock bool
		for _, e := range k.KnockState.Events {
			if e.Type == "m.room.member" && e.StateKey != nil && *e.StateKey == bob.UserID && e.Content["membership"] == "knock" {
				ownKnock = true
			}
		}
		if !ownKnock {
			t.Errorf("knock_state lacks bob's knock: %+v", k.KnockState.Events)
		}

		if m := memberOf(t, a, room, bob.UserID); m != "knock" {
			t.Fatalf("bob is %q in A's room after knocking", m)
		}
		_, araw := doSync(t, a, alice.Token, "since="+url.QueryEscape(aliceSince.NextBatch))
		if !strings.Contains(string(araw.Raw), `"knock"`) || !strings.Contains(string(araw.Raw), bob.UserID) {
			t.Errorf("alice's sync does not show bob's knock: %s", araw)
		}

		if r := a.Do(t, "POST", roomPath(room, "/invite"), alice.Token, map[string]any{"user_id": bob.UserID}); r.Status != 200 {
			t.Fatalf("accepting the knock by an invite: %s", r)
		}
		s, raw := doSync(t, b, bob.Token, "since="+url.QueryEscape(ks.NextBatch))
		if _, ok := s.Rooms.Invite[room]; !ok {
			t.Fatalf("bob's sync has no invite after the knock was accepted: %s", raw)
		}
		if again := doKnockSync(t, b, bob.Token, ""); len(again.Rooms.Knock) != 0 {
			t.Errorf("the knock is still shown after the invite replaced it")
		}
		servers2, err := b.Server.Services.Rooms.PendingInviteServers(context.Background(), room, bob.UserID)
		if err != nil || !slices.Equal(servers2, []string{a.Config.ServerName}) {
			t.Errorf("PendingInviteServers = %v, %v; want [%s]", servers2, err, a.Config.ServerName)
		}

		// A knock retracted by leaving goes to the room's server too.
		other := createRoom(t, a, alice.Token, map[string]any{"preset": "private_chat", "room_version": "10",
			"initial_state": []any{map[string]any{"type": "m.room.join_rules", "state_key": "", "content": map[string]any{"join_rule": "knock"}}}})
		if r := b.Do(t, "POST", cs+"/knock/"+url.PathEscape(other), bob.Token, map[string]any{}); r.Status != 200 {
			t.Fatalf("knock on the second room: %s", r)
		}
		before, _ := doSync(t, b, bob.Token, "")
		if r := b.Do(t, "POST", roomPath(other, "/leave"), bob.Token, map[string]any{}); r.Status != 200 {
			t.Fatalf("retracting the knock: %s", r)
		}
		if m := memberOf(t, a, other, bob.UserID); m != "leave" {
			t.Fatalf("bob is %q in A's room after retracting his knock", m)
		}
		if after, raw := doSync(t, b, bob.Token, "since="+url.QueryEscape(before.NextBatch)); !containsRoom(after.Rooms.Leave, other) {
			t.Fatalf("bob's sync lacks the retracted knock's leave: %s", raw)
		}
		if again := doKnockSync(t, b, bob.Token, ""); containsRoom(again.Rooms.Knock, other) {
			t.Errorf("the retracted knock is still shown")
		}
		if pending, err := b.Server.Services.Rooms.PendingInviteServers(context.Background(), other, bob.UserID); err != nil || len(pending) != 0 {
			t.Errorf("PendingInviteServers for a retracted knock = %v, %v", pending, err)
		}
	})
}

// An invite from another server is accepted by joining with nothing but
// the room ID: the join goes through the inviting server, even in a room
// version whose room IDs name no server. The room then moves from the
// invitee's invites to her joined rooms, and messages flow both ways.
func TestFederationInviteAcceptedByJoin(t *testing.T) {
	servers := testharness.StartFederation(t, "sqlite", 2, nil)
	a, b := servers[0], servers[1]
	alice := a.RegisterUser(t, "alice")
	bob := b.RegisterUser(t, "bob")
	room := createRoom(t, a, alice.Token, map[string]any{"preset": "private_chat", "room_version": "12"})
	if strings.Contains(room, ":") {
		t.Fatalf("a version 12 room ID names a server: %s", room)
	}
	expect(t, a.Do(t, "POST", roomPath(room, "/invite"), alice.Token, map[string]any{"user_id": bob.UserID}), 200, "")
	expect(t, b.Do(t, "POST", cs+"/join/"+url.PathEscape(room), bob.Token, map[string]any{}), 200, "")
	if m := memberOf(t, a, room, bob.UserID); m != "join" {
		t.Fatalf("bob is %q in A's room after joining", m)
	}
	s, raw := doSync(t, b, bob.Token, "")
	if _, ok := s.Rooms.Join[room]; !ok {
		t.Fatalf("bob's sync does not list the room as joined: %s", raw)
	}
	if _, ok := s.Rooms.Invite[room]; ok {
		t.Fatalf("bob's sync still lists the invite: %s", raw)
	}
	sendMessage(t, b, bob.Token, room, "thanks for the invite")
	waitFor(t, func() bool { return syncHasMessage(t, a, alice.Token, room, "thanks for the invite") })
}

// createRoom's invite list may name users of other servers: each is
// invited through their server once the room exists.
func TestFederationCreateRoomInvitesRemoteUser(t *testing.T) {
	servers := testharness.StartFederation(t, "sqlite", 2, nil)
	a, b := servers[0], servers[1]
	alice := a.RegisterUser(t, "alice")
	bob := b.RegisterUser(t, "bob")
	room := createRoom(t, a, alice.Token, map[string]any{"preset": "trusted_private_chat", "is_direct": true, "invite": []string{bob.UserID}})
	if m := memberOf(t, a, room, bob.UserID); m != "invite" {
		t.Fatalf("bob is %q in the new room", m)
	}
	s, raw := doSync(t, b, bob.Token, "")
	if _, ok := s.Rooms.Invite[room]; !ok {
		t.Fatalf("bob's sync has no invite to the new room: %s", raw)
	}
}

// An invite reaches the invitee's server through /invite only: the room's
// later traffic (the invite event itself, then a message) is not sent to
// a server with no member joined, which has no use for it. Once the
// invitee joins, her server gets the room's events.
func TestFederationInviteNotSentAsPDUToInviteesServer(t *testing.T) {
	servers := testharness.StartFederation(t, "sqlite", 2, nil)
	a, b := servers[0], servers[1]
	alice := a.RegisterUser(t, "alice")
	bob := b.RegisterUser(t, "bob")
	room := createRoom(t, a, alice.Token, map[string]any{"preset": "private_chat"})
	expect(t, a.Do(t, "POST", roomPath(room, "/invite"), alice.Token, map[string]any{"user_id": bob.UserID}), 200, "")
	invite, _ := currentRoom(t, a, room).Get("m.room.member", bob.UserID)
	sendMessage(t, a, alice.Token, room, "before bob joins")
	expect(t, b.Do(t, "POST", cs+"/join/"+url.PathEscape(room), bob.Token, map[string]any{}), 200, "")
	after := sendMessage(t, a, alice.Token, room, "after bob joined")
	waitFor(t, func() bool { return syncHasMessage(t, b, bob.Token, room, "after bob joined") })
	// The transaction's answer is recorded after its events are stored
	// (and seen by sync): wait for it too.
	var answers string
	readAnswers := func() bool {
		rows, err := b.Server.DB.Read.Query(`SELECT answer FROM federation_transactions WHERE origin = $1`, a.Config.ServerName)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		answers = ""
		for rows.Next() {
			var s string
			if err := rows.Scan(&s); err != nil {
				t.Fatal(err)
			}
			answers += s
		}
		return strings.Contains(answers, after)
	}
	waitFor(t, readAnswers)
	if strings.Contains(answers, invite.Event.EventID()) {
		t.Errorf("the invite event was sent to the invitee's server as a PDU: %s", answers)
	}
}

// An invitee's server that answers an invite with JSON the room version
// does not allow (a float, from version 6 on) gets the client a 400
// M_BAD_JSON, and the invite is not stored.
func TestFederationInviteAnswerWithBadJSON(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		d := startDAGRemote(t, backend)
		alice := d.hs.RegisterUser(t, "alice")
		room := createRoom(t, d.hs, alice.Token, map[string]any{"room_version": "6"})
		d.mu.Lock()
		d.floatInInvite = true
		d.mu.Unlock()
		rhea := "@rhea:" + d.name
		r := d.hs.Do(t, "POST", roomPath(room, "/invite"), alice.Token, map[string]any{"user_id": rhea})
		if r.Status != 400 || r.Str("errcode") != "M_BAD_JSON" {
			t.Fatalf("invite answered with a float: got %s, want 400 M_BAD_JSON", r)
		}
		if !slices.Equal(d.asked(), []string{"PUT invite"}) {
			t.Errorf("the remote was asked %v", d.asked())
		}
		if m := memberOf(t, d.hs, room, rhea); m != "" {
			t.Errorf("rhea is %q after the refused invite", m)
		}
	})
}
