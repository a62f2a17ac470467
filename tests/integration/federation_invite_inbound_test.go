package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"foyer/internal/rooms"
	"foyer/internal/rooms/matrixevents"
	"foyer/internal/testharness"
)

// remoteRoomInvite is a room of rs's server that hs is not in: its create
// event, and an invite built on it by inviter for invitee, signed with
// key (rs's own unless a test forges one).
type remoteRoomInvite struct {
	version string
	roomID  string
	create  matrixevents.Event
	invite  matrixevents.Event
}

func newRemoteRoomInvite(t *testing.T, rs *remoteServer, key *matrixevents.SigningKey, version, inviter, invitee string, content map[string]any) remoteRoomInvite {
	t.Helper()
	roomID := fmt.Sprintf("!r%d:%s", time.Now().UnixNano(), rs.name)
	create, err := matrixevents.BuildEvent(matrixevents.ProtoEvent{RoomVersion: version, RoomID: roomID, Sender: inviter,
		Type: "m.room.create", StateKey: strPtr(""), Content: map[string]any{"creator": inviter, "room_version": version},
		Depth: 1, Origin: rs.name}, rs.key)
	if err != nil {
		t.Fatal(err)
	}
	if content == nil {
		content = map[string]any{"membership": "invite"}
	}
	invite, err := matrixevents.BuildEvent(matrixevents.ProtoEvent{RoomVersion: version, RoomID: roomID, Sender: inviter,
		Type: "m.room.member", StateKey: strPtr(invitee), Content: content,
		PrevEventIDs: []string{create.EventID()}, AuthEventIDs: []string{create.EventID()}, Depth: 2, Origin: rs.name}, key)
	if err != nil {
		t.Fatal(err)
	}
	return remoteRoomInvite{version: version, roomID: roomID, create: create, invite: invite}
}

// state is the invite_room_state rs gives: the create event and a name.
func (ri remoteRoomInvite) state(name string) []any {
	return []any{json.RawMessage(ri.create.JSON()),
		map[string]any{"type": "m.room.name", "state_key": "", "sender": ri.create.Sender(), "content": map[string]any{"name": name}}}
}

// sendInvite is rs's PUT /_matrix/federation/v2/invite of ri.
func sendInvite(t *testing.T, rs *remoteServer, ri remoteRoomInvite, roomVersion string, state []any) *testharness.Response {
	t.Helper()
	path := "/_matrix/federation/v2/invite/" + url.PathEscape(ri.roomID) + "/" + url.PathEscape(ri.invite.EventID())
	return rs.hs.SignedRequest(t, rs.key, rs.name, rs.hs.Config.ServerName, "PUT", path,
		map[string]any{"room_version": roomVersion, "event": json.RawMessage(ri.invite.JSON()), "invite_room_state": state})
}

func pendingRemote(t *testing.T, hs *testharness.Homeserver, userID string) int {
	t.Helper()
	all, err := hs.Server.Services.Rooms.RemoteMemberships(context.Background(), userID)
	if err != nil {
		t.Fatal(err)
	}
	return len(all)
}

// Another server's invite of a local user: answered with the event
// signed by both servers, shown in the user's sync with the state that
// came with it, and replaced by a second invite to the same room; v1
// answers in its own shape. Bad invites are refused with the spec's
// codes and keep nothing: a forged signature, an invitee of another
// server, a user who does not exist or is deactivated, an unsupported
// room version, a membership other than invite, an inviter of another
// server. A rejection that no server of the room takes still drops the
// invite here.
func TestFederationInboundInvite(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		hs := startNamed(t, backend, "local.test", nil)
		rs := txnRemote(t, backend, hs)
		bob := hs.RegisterUser(t, "bob")
		rita := "@rita:remote.test"

		// A sync first: the server then knows bob has no memberships in
		// other servers' rooms, and must forget it when the invite comes.
		if s, raw := doSync(t, hs, bob.Token, ""); len(s.Rooms.Invite) != 0 {
			t.Fatalf("bob has invites before any was sent: %s", raw)
		}
		ri := newRemoteRoomInvite(t, rs, rs.key, "10", rita, bob.UserID, nil)
		r := sendInvite(t, rs, ri, "10", ri.state("Lake"))
		if r.Status != 200 {
			t.Fatalf("invite: %s", r)
		}
		var answer struct {
			Event struct {
				Signatures map[string]json.RawMessage `json:"signatures"`
			} `json:"event"`
		}
		if err := json.Unmarshal(r.Raw, &answer); err != nil || answer.Event.Signatures["local.test"] == nil || answer.Event.Signatures["remote.test"] == nil {
			t.Fatalf("the answer is not the event signed by both servers: %s", r)
		}
		s, raw := doSync(t, hs, bob.Token, "")
		inv, ok := s.Rooms.Invite[ri.roomID]
		if !ok {
			t.Fatalf("bob's sync lacks the invite: %s", raw)
		}
		var name string
		var invited bool
		for _, e := range inv.InviteState.Events {
			if e.Type == "m.room.name" {
				name, _ = e.Content["name"].(string)
			}
			if e.Type == "m.room.member" && e.Sender == rita && e.Content["membership"] == "invite" {
				invited = true
			}
		}
		if name != "Lake" || !invited {
			t.Fatalf("invite_state lacks the name or the invite: %s", raw)
		}

		if r := hs.Do(t, "GET", cs+"/initialSync", bob.Token, nil); r.Status != 200 || !strings.Contains(string(r.Raw), ri.roomID) {
			t.Fatalf("initialSync lacks the invite: %s", r)
		}

		// A second invite to the room replaces the first.
		second := ri
		second.invite = reinvite(t, rs, ri, bob.UserID)
		if r := sendInvite(t, rs, second, "10", second.state("Lake 2")); r.Status != 200 {
			t.Fatalf("second invite: %s", r)
		}
		s2, raw2 := doSync(t, hs, bob.Token, "since="+url.QueryEscape(s.NextBatch))
		if inv, ok := s2.Rooms.Invite[ri.roomID]; !ok || !containsName(inv.InviteState.Events, "Lake 2") {
			t.Fatalf("the second invite does not replace the first: %s", raw2)
		}
		if n := pendingRemote(t, hs, bob.UserID); n != 1 {
			t.Fatalf("bob has %d remote memberships after two invites to one room, want 1", n)
		}

		// v1: the event is the body, the answer [200, {"event": ...}].
		v1 := newRemoteRoomInvite(t, rs, rs.key, "1", rita, bob.UserID, nil)
		var v1Body map[string]any
		if err := json.Unmarshal(v1.invite.JSON(), &v1Body); err != nil {
			t.Fatal(err)
		}
		v1Body["unsigned"] = map[string]any{"invite_room_state": v1.state("Old")}
		r = rs.hs.SignedRequest(t, rs.key, rs.name, "local.test", "PUT",
			"/_matrix/federation/v1/invite/"+url.PathEscape(v1.roomID)+"/"+url.PathEscape(v1.invite.EventID()), v1Body)
		var v1Answer []json.RawMessage
		if r.Status != 200 || json.Unmarshal(r.Raw, &v1Answer) != nil || len(v1Answer) != 2 || string(v1Answer[0]) != "200" {
			t.Fatalf("v1 invite: %s", r)
		}

		before := pendingRemote(t, hs, bob.UserID)
		forger, err := matrixevents.NewSigningKey()
		if err != nil {
			t.Fatal(err)
		}
		carol := hs.RegisterUser(t, "carol")
		if r := hs.Do(t, "POST", cs+"/account/deactivate", carol.Token, map[string]any{
			"auth": map[string]any{"type": "m.login.password", "user": carol.UserID, "password": "password-carol"}}); r.Status != 200 {
			t.Fatalf("deactivate: %s", r)
		}
		cases := []struct {
			name    string
			ri      remoteRoomInvite
			version string
			status  int
			code    string
		}{
			{"forged signature", newRemoteRoomInvite(t, rs, forger, "10", rita, bob.UserID, nil), "10", 403, "M_FORBIDDEN"},
			{"invitee of another server", newRemoteRoomInvite(t, rs, rs.key, "10", rita, "@bob:elsewhere.test", nil), "10", 400, "M_INVALID_PARAM"},
			{"unknown user", newRemoteRoomInvite(t, rs, rs.key, "10", rita, "@nobody:local.test", nil), "10", 404, "M_NOT_FOUND"},
			{"deactivated user", newRemoteRoomInvite(t, rs, rs.key, "10", rita, carol.UserID, nil), "10", 404, "M_NOT_FOUND"},
			{"unsupported version", newRemoteRoomInvite(t, rs, rs.key, "10", rita, bob.UserID, nil), "999", 400, "M_INCOMPATIBLE_ROOM_VERSION"},
			{"not an invite", newRemoteRoomInvite(t, rs, rs.key, "10", rita, bob.UserID, map[string]any{"membership": "join"}), "10", 400, "M_INVALID_PARAM"},
			{"inviter of another server", newRemoteRoomInvite(t, rs, rs.key, "10", "@eve:elsewhere.test", bob.UserID, nil), "10", 400, "M_INVALID_PARAM"},
		}
		for _, c := range cases {
			r := sendInvite(t, rs, c.ri, c.version, c.ri.state("Bad"))
			if r.Status != c.status || r.Str("errcode") != c.code {
				t.Errorf("%s: got %s, want %d %s", c.name, r, c.status, c.code)
			}
			if c.code == "M_INCOMPATIBLE_ROOM_VERSION" && r.Str("room_version") != "999" {
				t.Errorf("%s: the answer lacks room_version: %s", c.name, r)
			}
		}
		// Not JSON a room of version 6 or later takes (an integer beyond
		// the safe range): 400 M_BAD_JSON, as for any PDU that does not parse.
		bad := newRemoteRoomInvite(t, rs, rs.key, "10", rita, bob.UserID, nil)
		var obj map[string]any
		if err := json.Unmarshal(bad.invite.JSON(), &obj); err != nil {
			t.Fatal(err)
		}
		obj["content"] = json.RawMessage(`{"membership":"invite","n":9007199254740993}`)
		path := "/_matrix/federation/v2/invite/" + url.PathEscape(bad.roomID) + "/" + url.PathEscape(bad.invite.EventID())
		if r := hs.SignedRequest(t, rs.key, rs.name, hs.Config.ServerName, "PUT", path,
			map[string]any{"room_version": "10", "event": obj, "invite_room_state": bad.state("Bad")}); r.Status != 400 || r.Str("errcode") != "M_BAD_JSON" {
			t.Errorf("an invite with an integer out of range: got %s, want 400 M_BAD_JSON", r)
		}
		if n := pendingRemote(t, hs, bob.UserID); n != before {
			t.Errorf("refused invites were kept: %d remote memberships, want %d", n, before)
		}
		if n := pendingRemote(t, hs, carol.UserID); n != 0 {
			t.Errorf("an invite of a deactivated user was kept")
		}

		// remote.test cannot be reached by name from here: the rejection
		// drops the invite locally all the same.
		if r := hs.Do(t, "POST", roomPath(ri.roomID, "/leave"), bob.Token, map[string]any{}); r.Status != 200 {
			t.Fatalf("rejecting with the inviting server down: %s", r)
		}
		s3, raw3 := doSync(t, hs, bob.Token, "since="+url.QueryEscape(s2.NextBatch))
		if _, ok := s3.Rooms.Leave[ri.roomID]; !ok {
			t.Fatalf("the dropped invite is not in rooms.leave: %s", raw3)
		}
		if s4, raw4 := doSync(t, hs, bob.Token, ""); containsRoom(s4.Rooms.Invite, ri.roomID) {
			t.Fatalf("the dropped invite is still shown: %s", raw4)
		}
		includeLeave := "filter=" + url.QueryEscape(`{"room":{"include_leave":true}}`)
		if s5, raw5 := doSync(t, hs, bob.Token, includeLeave); !containsRoom(s5.Rooms.Leave, ri.roomID) {
			t.Fatalf("include_leave does not show the rejected invite: %s", raw5)
		}
		if r := hs.Do(t, "POST", roomPath(ri.roomID, "/forget"), bob.Token, map[string]any{}); r.Status != 200 {
			t.Fatalf("forgetting the rejected invite's room: %s", r)
		}
		if s6, raw6 := doSync(t, hs, bob.Token, includeLeave); containsRoom(s6.Rooms.Leave, ri.roomID) {
			t.Fatalf("the forgotten room is still shown: %s", raw6)
		}

		// An invite from a user bob ignores is kept but not shown.
		if r := hs.Do(t, "PUT", cs+"/user/"+url.PathEscape(bob.UserID)+"/account_data/m.ignored_user_list", bob.Token,
			map[string]any{"ignored_users": map[string]any{rita: map[string]any{}}}); r.Status != 200 {
			t.Fatalf("ignoring rita: %s", r)
		}
		ignored := newRemoteRoomInvite(t, rs, rs.key, "10", rita, bob.UserID, nil)
		if r := sendInvite(t, rs, ignored, "10", ignored.state("Ignored")); r.Status != 200 {
			t.Fatalf("invite from an ignored user: %s", r)
		}
		if s7, raw7 := doSync(t, hs, bob.Token, ""); containsRoom(s7.Rooms.Invite, ignored.roomID) {
			t.Fatalf("an ignored user's invite is shown: %s", raw7)
		}
	})
}

// reinvite is a second invite of invitee on ri's room, after the first.
func reinvite(t *testing.T, rs *remoteServer, ri remoteRoomInvite, invitee string) matrixevents.Event {
	t.Helper()
	ev, err := matrixevents.BuildEvent(matrixevents.ProtoEvent{RoomVersion: ri.version, RoomID: ri.roomID, Sender: ri.invite.Sender(),
		Type: "m.room.member", StateKey: strPtr(invitee), Content: map[string]any{"membership": "invite", "reason": "again"},
		PrevEventIDs: []string{ri.invite.EventID()}, AuthEventIDs: []string{ri.create.EventID()}, Depth: 3, Origin: rs.name}, rs.key)
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

func containsName(events []syncEvent, name string) bool {
	for _, e := range events {
		if e.Type == "m.room.name" && e.Content["name"] == name {
			return true
		}
	}
	return false
}

func containsRoom[V any](m map[string]V, roomID string) bool {
	_, ok := m[roomID]
	return ok
}

// The bounds on invites from other servers: a guest keeps at most 5
// pending ones (403 beyond, while a new invite to a room it is already
// invited to still replaces the old one), and a user receives 20 at once
// before the rate limit answers 429 with retry_after_ms.
func TestFederationInboundInviteBounds(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		hs := startNamed(t, backend, "local.test", nil)
		rs := txnRemote(t, backend, hs)
		rita := "@rita:remote.test"
		guest := hs.RegisterGuest(t)
		var first remoteRoomInvite
		for i := range 5 {
			ri := newRemoteRoomInvite(t, rs, rs.key, "10", rita, guest.UserID, nil)
			if i == 0 {
				first = ri
			}
			if r := sendInvite(t, rs, ri, "10", ri.state("Room")); r.Status != 200 {
				t.Fatalf("guest invite %d: %s", i+1, r)
			}
		}
		over := newRemoteRoomInvite(t, rs, rs.key, "10", rita, guest.UserID, nil)
		if r := sendInvite(t, rs, over, "10", over.state("Room")); r.Status != 403 || r.Str("errcode") != "M_FORBIDDEN" {
			t.Fatalf("a guest's sixth pending invite: %s", r)
		}
		again := first
		again.invite = reinvite(t, rs, first, guest.UserID)
		if r := sendInvite(t, rs, again, "10", again.state("Room")); r.Status != 200 {
			t.Fatalf("a new invite to a room the guest is invited to: %s", r)
		}
		if n := pendingRemote(t, hs, guest.UserID); n != 5 {
			t.Fatalf("the guest keeps %d invites, want 5", n)
		}
		s, raw := doSync(t, hs, guest.Token, "")
		if len(s.Rooms.Invite) != 5 {
			t.Fatalf("the guest's sync shows %d invites, want 5: %s", len(s.Rooms.Invite), raw)
		}

		bob := hs.RegisterUser(t, "bob")
		for i := range 20 {
			ri := newRemoteRoomInvite(t, rs, rs.key, "10", rita, bob.UserID, nil)
			if r := sendInvite(t, rs, ri, "10", ri.state("Room")); r.Status != 200 {
				t.Fatalf("invite %d: %s", i+1, r)
			}
		}
		ri := newRemoteRoomInvite(t, rs, rs.key, "10", rita, bob.UserID, nil)
		r := sendInvite(t, rs, ri, "10", ri.state("Room"))
		if r.Status != 429 || r.Str("errcode") != "M_LIMIT_EXCEEDED" || r.JSON["retry_after_ms"] == nil {
			t.Fatalf("the 21st invite at once: %s", r)
		}
		if n := pendingRemote(t, hs, bob.UserID); n != 20 {
			t.Fatalf("bob keeps %d invites, want 20", n)
		}

		// invite_room_state is bounded too.
		big := make([]any, 51)
		for i := range big {
			big[i] = map[string]any{"type": "m.room.name", "state_key": "", "content": map[string]any{}}
		}
		carol := hs.RegisterUser(t, "carol")
		ri = newRemoteRoomInvite(t, rs, rs.key, "10", rita, carol.UserID, nil)
		if r := sendInvite(t, rs, ri, "10", big); r.Status != 413 || r.Str("errcode") != "M_TOO_LARGE" {
			t.Fatalf("51 invite_room_state events: %s", r)
		}
	})
}

// make_knock and send_knock from another server: a knock on a room whose
// join rule is knock is accepted, answered with knock_room_state, and
// shown to the room's members; a room that is not knockable refuses
// (403), and so does one whose version lacks knocking or is not among
// the asking server's (400 M_INCOMPATIBLE_ROOM_VERSION with room_version).
func TestFederationInboundKnock(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		hs := startNamed(t, backend, "local.test", nil)
		rs := txnRemote(t, backend, hs)
		alice := hs.RegisterUser(t, "alice")
		rita := "@rita:remote.test"
		knockRule := []any{map[string]any{"type": "m.room.join_rules", "state_key": "", "content": map[string]any{"join_rule": "knock"}}}
		room := createRoom(t, hs, alice.Token, map[string]any{"preset": "private_chat", "room_version": "10", "initial_state": knockRule})
		since, _ := doSync(t, hs, alice.Token, "")

		knock := signTemplate(t, rs, makeMembership(t, rs, "knock", room, rita, "?ver=9&ver=10"))
		r := rs.hs.SignedRequest(t, rs.key, rs.name, "local.test", "PUT",
			"/_matrix/federation/v1/send_knock/"+url.PathEscape(room)+"/"+url.PathEscape(knock.EventID()), json.RawMessage(knock.JSON()))
		var answer struct {
			State []struct {
				Type string `json:"type"`
			} `json:"knock_room_state"`
		}
		if r.Status != 200 || json.Unmarshal(r.Raw, &answer) != nil {
			t.Fatalf("send_knock: %s", r)
		}
		var types []string
		for _, e := range answer.State {
			types = append(types, e.Type)
		}
		if !containsAll(types, "m.room.create", "m.room.join_rules", "m.room.member") {
			t.Errorf("knock_room_state: %v", types)
		}
		if m := memberOf(t, hs, room, rita); m != "knock" {
			t.Fatalf("rita is %q after send_knock", m)
		}
		if _, raw := doSync(t, hs, alice.Token, "since="+url.QueryEscape(since.NextBatch)); !strings.Contains(string(raw.Raw), knock.EventID()) {
			t.Errorf("alice's sync lacks rita's knock: %s", raw)
		}

		public := createRoom(t, hs, alice.Token, map[string]any{"preset": "public_chat", "room_version": "10"})
		if r := makeMembership(t, rs, "knock", public, rita, "?ver=10"); r.Status != 403 || r.Str("errcode") != "M_FORBIDDEN" {
			t.Errorf("make_knock on a public room: %s", r)
		}
		if r := makeMembership(t, rs, "knock", room, rita, "?ver=9"); r.Status != 400 || r.Str("errcode") != "M_INCOMPATIBLE_ROOM_VERSION" || r.Str("room_version") != "10" {
			t.Errorf("make_knock without the room's version: %s", r)
		}
		old := createRoom(t, hs, alice.Token, map[string]any{"preset": "private_chat", "room_version": "6"})
		if r := makeMembership(t, rs, "knock", old, rita, "?ver=6"); r.Status != 400 || r.Str("errcode") != "M_INCOMPATIBLE_ROOM_VERSION" || r.Str("room_version") != "6" {
			t.Errorf("make_knock on a version 6 room: %s", r)
		}
	})
}

func containsAll(have []string, want ...string) bool {
	for _, w := range want {
		if !slices.Contains(have, w) {
			return false
		}
	}
	return true
}

// An invite over /invite to a room this server is in enters the room
// like any event (the local user's membership in its state is invite,
// shown through the room's own state), even for a user who does not exist
// here; one the room's rules refuse is signed (as other servers do) but
// stored nowhere, and one from a server the room's ACL denies is refused
// with 403.
func TestFederationInboundInviteToKnownRoom(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		hs := startNamed(t, backend, "local.test", nil)
		rs := txnRemote(t, backend, hs)
		alice := hs.RegisterUser(t, "alice")
		bob := hs.RegisterUser(t, "bob")
		carol := hs.RegisterUser(t, "carol")
		rita := "@rita:remote.test"
		room := createRoom(t, hs, alice.Token, map[string]any{"preset": "public_chat"})
		joinByTxn(t, rs, "join-rita", room, rita)
		if r := putState(t, hs, alice.Token, room, "m.room.power_levels", "", map[string]any{
			"users": map[string]any{alice.UserID: 100, rita: 50}, "invite": 50}); r.Status != 200 {
			t.Fatalf("power levels: %s", r)
		}

		snap := currentRoom(t, hs, room)
		invite := rs.event(t, snap.State, room, rita, "m.room.member", strPtr(bob.UserID), map[string]any{"membership": "invite"}, extremityIDs(snap), time.Now())
		ri := remoteRoomInvite{version: snap.Info.Version, roomID: room, invite: invite}
		state := []any{json.RawMessage(mustGet(t, snap, "m.room.create").JSON())}
		if r := sendInvite(t, rs, ri, snap.Info.Version, state); r.Status != 200 {
			t.Fatalf("invite to a room this server is in: %s", r)
		}
		if m := memberOf(t, hs, room, bob.UserID); m != "invite" {
			t.Fatalf("bob is %q in the room after the invite", m)
		}
		if n := pendingRemote(t, hs, bob.UserID); n != 0 {
			t.Fatalf("the invite was kept as a remote membership too")
		}
		if s, raw := doSync(t, hs, bob.Token, ""); !containsRoom(s.Rooms.Invite, room) {
			t.Fatalf("bob's sync lacks the invite: %s", raw)
		}

		// An invite of a user who does not exist here still enters the
		// room (its other servers have it), with no invite kept for anyone.
		nobody := "@nobody:" + hs.Config.ServerName
		snap = currentRoom(t, hs, room)
		toNobody := rs.event(t, snap.State, room, rita, "m.room.member", strPtr(nobody), map[string]any{"membership": "invite"}, extremityIDs(snap), time.Now())
		if r := sendInvite(t, rs, remoteRoomInvite{version: snap.Info.Version, roomID: room, invite: toNobody}, snap.Info.Version, state); r.Status != 200 {
			t.Fatalf("an invite of no one into a room this server is in: %s", r)
		}
		if m := memberOf(t, hs, room, nobody); m != "invite" || pendingRemote(t, hs, nobody) != 0 {
			t.Fatalf("the invite of no one is %q in the room", m)
		}

		// Without her power level, Rita may not invite.
		if r := putState(t, hs, alice.Token, room, "m.room.power_levels", "", map[string]any{
			"users": map[string]any{alice.UserID: 100}, "invite": 50}); r.Status != 200 {
			t.Fatalf("power levels: %s", r)
		}
		snap = currentRoom(t, hs, room)
		refused := rs.event(t, snap.State, room, rita, "m.room.member", strPtr(carol.UserID), map[string]any{"membership": "invite"}, extremityIDs(snap), time.Now())
		// Signed all the same, as other servers do (the room judges it when
		// it is sent into the room), but kept nowhere.
		r := sendInvite(t, rs, remoteRoomInvite{version: snap.Info.Version, roomID: room, invite: refused}, snap.Info.Version, state)
		if r.Status != 200 || !strings.Contains(string(r.Raw), `"`+hs.Config.ServerName+`"`) {
			t.Fatalf("an invite the room's rules refuse: %s, want it signed", r)
		}
		if m := memberOf(t, hs, room, carol.UserID); m != "" {
			t.Fatalf("carol is %q after a refused invite", m)
		}
		if n := pendingRemote(t, hs, carol.UserID); n != 0 || storedEvent(t, rs, refused.EventID()) {
			t.Fatalf("a refused invite was kept")
		}

		// A server the room's ACL denies may not invite into it.
		if r := putState(t, hs, alice.Token, room, "m.room.power_levels", "", map[string]any{
			"users": map[string]any{alice.UserID: 100, rita: 50}, "invite": 50}); r.Status != 200 {
			t.Fatalf("power levels: %s", r)
		}
		if r := putState(t, hs, alice.Token, room, "m.room.server_acl", "", map[string]any{
			"allow": []string{"*"}, "deny": []string{"remote.test"}}); r.Status != 200 {
			t.Fatalf("server ACL: %s", r)
		}
		snap = currentRoom(t, hs, room)
		denied := rs.event(t, snap.State, room, rita, "m.room.member", strPtr(carol.UserID), map[string]any{"membership": "invite"}, extremityIDs(snap), time.Now())
		r = sendInvite(t, rs, remoteRoomInvite{version: snap.Info.Version, roomID: room, invite: denied}, snap.Info.Version, state)
		if r.Status != 403 || memberOf(t, hs, room, carol.UserID) != "" || storedEvent(t, rs, denied.EventID()) {
			t.Fatalf("an invite from a server the ACL denies: %s", r)
		}
		// Nor does it learn whether the invitee exists: 403 before 404.
		ghost := "@ghost:" + hs.Config.ServerName
		toGhost := rs.event(t, snap.State, room, rita, "m.room.member", strPtr(ghost), map[string]any{"membership": "invite"}, extremityIDs(snap), time.Now())
		if r := sendInvite(t, rs, remoteRoomInvite{version: snap.Info.Version, roomID: room, invite: toGhost}, snap.Info.Version, state); r.Status != 403 {
			t.Fatalf("an invite of no one from a server the ACL denies: %s", r)
		}
	})
}

func mustGet(t *testing.T, snap rooms.RoomSnapshot, typ string) matrixevents.Event {
	t.Helper()
	se, ok := snap.Get(typ, "")
	if !ok {
		t.Fatalf("no %s in the room", typ)
	}
	return se.Event
}
