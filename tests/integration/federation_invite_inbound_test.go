package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"testing"
	"time"

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
		forger, err := matrixevents.LoadOrCreateSigningKey(t.TempDir())
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
			{"forged signature", newRemoteRoomInvite(t, rs, forger, "10", rita, bob.UserID, nil), "10", 400, "M_INVALID_PARAM"},
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
