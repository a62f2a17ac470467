package integration

import (
	"context"
	"encoding/json"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"foyer/internal/rooms/matrixevents"
	"foyer/internal/storage"
	"foyer/internal/testharness"
)

// makeMembership asks hs, as rs, for the template of user's membership
// ("join" or "leave") in room; query is make_join's ver parameters.
func makeMembership(t *testing.T, rs *remoteServer, membership, room, user, query string) *testharness.Response {
	t.Helper()
	path := "/_matrix/federation/v1/make_" + membership + "/" + url.PathEscape(room) + "/" + url.PathEscape(user) + query
	return rs.hs.SignedRequest(t, rs.key, rs.name, rs.hs.Config.ServerName, "GET", path, nil)
}

// signTemplate builds, as rs, the event of a make_join or make_leave
// answer: the template's fields, hashed and signed by rs.
func signTemplate(t *testing.T, rs *remoteServer, r *testharness.Response) matrixevents.Event {
	t.Helper()
	var answer struct {
		Event struct {
			Type       string          `json:"type"`
			RoomID     string          `json:"room_id"`
			Sender     string          `json:"sender"`
			StateKey   *string         `json:"state_key"`
			Content    json.RawMessage `json:"content"`
			PrevEvents []string        `json:"prev_events"`
			AuthEvents []string        `json:"auth_events"`
			Depth      int64           `json:"depth"`
		} `json:"event"`
		RoomVersion string `json:"room_version"`
	}
	if r.Status != 200 || json.Unmarshal(r.Raw, &answer) != nil || answer.RoomVersion == "" {
		t.Fatalf("template: %s", r)
	}
	e := answer.Event
	ev, err := matrixevents.BuildEvent(matrixevents.ProtoEvent{
		RoomVersion: answer.RoomVersion, RoomID: e.RoomID, Sender: e.Sender, Type: e.Type, StateKey: e.StateKey,
		Content: e.Content, PrevEventIDs: e.PrevEvents, AuthEventIDs: e.AuthEvents, Depth: e.Depth, Origin: rs.name,
	}, rs.key)
	if err != nil {
		t.Fatalf("signing the template %s: %v", r, err)
	}
	return ev
}

func sendMembership(t *testing.T, rs *remoteServer, membership string, ev matrixevents.Event) *testharness.Response {
	t.Helper()
	path := "/_matrix/federation/v2/send_" + membership + "/" + url.PathEscape(ev.RoomID()) + "/" + url.PathEscape(ev.EventID())
	return rs.hs.SignedRequest(t, rs.key, rs.name, rs.hs.Config.ServerName, "PUT", path, json.RawMessage(ev.JSON()))
}

// A user of another server joins a public room through make_join and
// send_join: the join reaches a local member's /sync and /members, and
// the answer holds the room's state before it; then she leaves through
// make_leave and send_leave.
func TestFederationJoinAndLeave(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		hs := startNamed(t, backend, "local.test", nil)
		rs := txnRemote(t, backend, hs)
		alice := hs.RegisterUser(t, "alice")
		room := createRoom(t, hs, alice.Token, map[string]any{"preset": "public_chat"})
		rita := "@rita:remote.test"
		// A second power levels event: the join's auth chain holds both.
		if r := putState(t, hs, alice.Token, room, "m.room.power_levels", "", map[string]any{
			"users": map[string]any{alice.UserID: 100, rita: 100}}); r.Status != 200 {
			t.Fatalf("power levels: %s", r)
		}
		snap := currentRoom(t, hs, room)
		version := snap.Info.Version
		create, _ := snap.Get("m.room.create", "")
		aliceJoin, _ := snap.Get("m.room.member", alice.UserID)

		join := signTemplate(t, rs, makeMembership(t, rs, "join", room, rita, "?ver=1&ver="+url.QueryEscape(version)))
		r := sendMembership(t, rs, "join", join)
		if r.Status != 200 {
			t.Fatalf("send_join: %s", r)
		}
		var answer struct {
			State         []json.RawMessage `json:"state"`
			AuthChain     []json.RawMessage `json:"auth_chain"`
			Origin        string            `json:"origin"`
			Servers       []string          `json:"servers_in_room"`
			MembersOmited bool              `json:"members_omitted"`
		}
		if err := json.Unmarshal(r.Raw, &answer); err != nil {
			t.Fatal(err)
		}
		state := string(r.Raw[:0])
		for _, raw := range answer.State {
			state += string(raw)
		}
		for _, id := range []string{create.Event.EventID(), aliceJoin.Event.EventID()} {
			if !strings.Contains(state, id) {
				t.Errorf("send_join's state lacks %s: %s", id, r)
			}
		}
		if strings.Contains(state, join.EventID()) {
			t.Errorf("send_join's state is not the state before the join")
		}
		if len(answer.AuthChain) == 0 || answer.Origin != "local.test" || !slices.Contains(answer.Servers, "local.test") {
			t.Errorf("send_join answer: %s", r)
		}
		// Oldest first, so that a server taking the answer in order ends
		// with the later of two events for one state key.
		for name, list := range map[string][]json.RawMessage{"state": answer.State, "auth_chain": answer.AuthChain} {
			var last int64
			for _, raw := range list {
				var ev struct{ Depth int64 }
				if err := json.Unmarshal(raw, &ev); err != nil || ev.Depth < last {
					t.Fatalf("send_join's %s is not in depth order", name)
				}
				last = ev.Depth
			}
		}
		if currentRoom(t, hs, room).Membership(rita) != "join" {
			t.Fatalf("rita is not joined after send_join")
		}
		_, sync := doSync(t, hs, alice.Token, "")
		if !strings.Contains(string(sync.Raw), join.EventID()) {
			t.Errorf("alice's sync lacks rita's join")
		}
		members := hs.Do(t, "GET", cs+"/rooms/"+url.PathEscape(room)+"/members", alice.Token, nil)
		if members.Status != 200 || !strings.Contains(string(members.Raw), join.EventID()) {
			t.Errorf("members: %s", members)
		}

		leave := signTemplate(t, rs, makeMembership(t, rs, "leave", room, rita, ""))
		if r := sendMembership(t, rs, "leave", leave); r.Status != 200 {
			t.Fatalf("send_leave: %s", r)
		}
		if m := currentRoom(t, hs, room).Membership(rita); m != "leave" {
			t.Fatalf("rita is %q after send_leave", m)
		}
	})
}

// make_join's refusals: an invite-only room (403), a room version the
// asking server lacks (400 M_INCOMPATIBLE_ROOM_VERSION), a user not of
// the asking server (403), an unknown room or one without local
// members (404); send_join of a join
// the room's rules refuse or of another server's user (403), or under
// another event ID (400).
func TestFederationJoinRefusals(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		hs := startNamed(t, backend, "local.test", nil)
		rs := txnRemote(t, backend, hs)
		alice := hs.RegisterUser(t, "alice")
		public := createRoom(t, hs, alice.Token, map[string]any{"preset": "public_chat"})
		private := createRoom(t, hs, alice.Token, map[string]any{"preset": "private_chat"})
		rita := "@rita:remote.test"
		version := "?ver=" + url.QueryEscape(currentRoom(t, hs, public).Info.Version)

		if r := makeMembership(t, rs, "join", private, rita, version); r.Status != 403 || r.Errcode() != "M_FORBIDDEN" {
			t.Errorf("make_join on an invite-only room: %s", r)
		}
		if r := makeMembership(t, rs, "join", public, rita, "?ver=1"); r.Status != 400 || r.Errcode() != "M_INCOMPATIBLE_ROOM_VERSION" {
			t.Errorf("make_join with a room version the room lacks: %s", r)
		}
		if r := makeMembership(t, rs, "join", public, "@rita:elsewhere.test", version); r.Status != 403 || r.Errcode() != "M_FORBIDDEN" {
			t.Errorf("make_join for another server's user: %s", r)
		}
		if r := makeMembership(t, rs, "join", "!nowhere:local.test", rita, version); r.Status != 404 {
			t.Errorf("make_join for an unknown room: %s", r)
		}
		// A room every local member has left: this server cannot vouch
		// for it.
		left := createRoom(t, hs, alice.Token, map[string]any{"preset": "public_chat"})
		if r := hs.Do(t, "POST", cs+"/rooms/"+url.PathEscape(left)+"/leave", alice.Token, map[string]any{}); r.Status != 200 {
			t.Fatalf("leave: %s", r)
		}
		if r := makeMembership(t, rs, "join", left, rita, version); r.Status != 404 {
			t.Errorf("make_join for a room without local members: %s", r)
		}
		// A remote leave of a user who never joined is refused too.
		if r := makeMembership(t, rs, "leave", public, rita, ""); r.Status != 403 {
			t.Errorf("make_leave of a non-member: %s", r)
		}

		// send_join: a join the room's rules refuse, one under another
		// event ID, and one of another server's user.
		refused := remoteJoin(t, rs, private, rita)
		if r := sendMembership(t, rs, "join", refused); r.Status != 403 || r.Errcode() != "M_FORBIDDEN" {
			t.Errorf("send_join into an invite-only room: %s", r)
		}
		join := remoteJoin(t, rs, public, rita)
		path := "/_matrix/federation/v2/send_join/" + url.PathEscape(public) + "/" + url.PathEscape("$other")
		if r := hs.SignedRequest(t, rs.key, rs.name, "local.test", "PUT", path, json.RawMessage(join.JSON())); r.Status != 400 {
			t.Errorf("send_join under another event ID: %s", r)
		}
		eve := "@eve:elsewhere.test"
		foreign := remoteJoin(t, rs, public, eve)
		if r := sendMembership(t, rs, "join", foreign); r.Status != 403 || r.Errcode() != "M_FORBIDDEN" {
			t.Errorf("send_join of another server's user: %s", r)
		}
		if currentRoom(t, hs, public).Membership(eve) != "" ||
			currentRoom(t, hs, public).Membership(rita) != "" || currentRoom(t, hs, private).Membership(rita) != "" {
			t.Errorf("a refused request changed membership")
		}
	})
}

// queuedPDUs are the PDUs the local server has queued for destination
// and not yet delivered.
func queuedPDUs(t *testing.T, hs *testharness.Homeserver, destination string) string {
	t.Helper()
	items, err := storage.NewFederationQueue(hs.Server.DB).Next(context.Background(), destination, 1000, 0)
	if err != nil {
		t.Fatal(err)
	}
	var all string
	for _, it := range items {
		all += string(it.JSON)
	}
	return all
}

// Events of a room with a member on another server are queued for that
// server: local events, not the ones it sent itself, and none of a room
// it has no member in. The remote server cannot be reached here, so
// what is queued stays queued.
func TestFederationEventsQueuedForRemoteMembers(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		hs := startNamed(t, backend, "local.test", nil)
		rs := newRemoteServer(t, hs)
		alice := hs.RegisterUser(t, "alice")
		room := createRoom(t, hs, alice.Token, map[string]any{"preset": "public_chat"})
		other := createRoom(t, hs, alice.Token, map[string]any{"preset": "public_chat"})
		rita := "@rita:remote.test"
		join := remoteJoin(t, rs, room, rita)
		if got := rs.receive(t, join); got.Rejected || got.SoftFailed {
			t.Fatalf("rita's join: %+v", got)
		}
		sendMessage(t, hs, alice.Token, room, "for everyone")
		sendMessage(t, hs, alice.Token, other, "for here only")

		queued := queuedPDUs(t, hs, "remote.test")
		if !strings.Contains(queued, `"body":"for everyone"`) {
			t.Errorf("alice's message in a room with rita is not queued for remote.test: %s", queued)
		}
		if strings.Contains(queued, "for here only") {
			t.Errorf("a message of a room without remote members was queued for remote.test")
		}
		// Events are queued as sent, without their IDs: rita's join is
		// known by its sender.
		if strings.Contains(queued, `"sender":"`+rita+`"`) {
			t.Errorf("rita's own join was queued back to her server")
		}
	})
}

// An event another server sent is that server's to send to the room's
// other servers: received here, it is not queued for them (no echo, no
// duplicates in rooms of three servers). A join handed to this server
// through send_join is sent on, since its server is not in the room yet.
func TestFederationReceivedEventsAreNotRelayed(t *testing.T) {
	hs := startNamed(t, "sqlite", "local.test", nil)
	rs := txnRemote(t, "sqlite", hs)
	alice := hs.RegisterUser(t, "alice")
	room := createRoom(t, hs, alice.Token, map[string]any{"preset": "public_chat"})
	third := &remoteServer{name: "third.test", key: rs.key, hs: hs}
	third.join(t, room, "@tom:third.test")

	// rita joins through send_join: third.test hears of it from us.
	rita := "@rita:remote.test"
	join := signTemplate(t, rs, makeMembership(t, rs, "join", room, rita, "?ver="+url.QueryEscape(currentRoom(t, hs, room).Info.Version)))
	if r := sendMembership(t, rs, "join", join); r.Status != 200 {
		t.Fatalf("send_join: %s", r)
	}
	if !strings.Contains(queuedPDUs(t, hs, "third.test"), `"sender":"`+rita+`"`) {
		t.Fatalf("rita's join through send_join was not sent on to third.test")
	}

	// rita's message, sent by her server in a transaction, is not.
	snap := currentRoom(t, hs, room)
	msg := rs.event(t, snap.State, room, rita, "m.room.message", nil, map[string]any{"msgtype": "m.text", "body": "from rita's server"}, extremityIDs(snap), time.Now())
	if e, ok := pduError(t, sendTxn(t, rs, "t1", rs.name, []matrixevents.Event{msg}), msg.EventID()); !ok || e != "" {
		t.Fatalf("rita's message: %q", e)
	}
	if q := queuedPDUs(t, hs, "third.test"); strings.Contains(q, "from rita's server") {
		t.Errorf("rita's message from her own server was relayed to third.test")
	}
	sendMessage(t, hs, alice.Token, room, "from alice")
	if q := queuedPDUs(t, hs, "third.test"); !strings.Contains(q, "from alice") {
		t.Errorf("alice's message is not queued for third.test")
	}
}
