package integration

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"foyer/internal/rooms/matrixevents"
	"foyer/internal/testharness"
)

// txnRemote is a remote server whose keys the local server can fetch: a
// second test server, whose signing key the event fixture signs with.
func txnRemote(t testing.TB, backend string, local *testharness.Homeserver) *remoteServer {
	t.Helper()
	other := startNamed(t, backend, "remote.test", nil)
	local.ReachServers(other)
	return &remoteServer{name: "remote.test", key: other.SigningKey(t), hs: local}
}

// sendTxn sends a transaction of pdus, signed by rs, claiming origin in
// its body.
func sendTxn(t testing.TB, rs *remoteServer, txnID, origin string, pdus []matrixevents.Event) *testharness.Response {
	t.Helper()
	raws := make([]json.RawMessage, 0, len(pdus))
	for _, ev := range pdus {
		raws = append(raws, json.RawMessage(ev.JSON()))
	}
	return sendRawTxn(t, rs, txnID, origin, raws)
}

func sendRawTxn(t testing.TB, rs *remoteServer, txnID, origin string, raws []json.RawMessage) *testharness.Response {
	t.Helper()
	body := map[string]any{"origin": origin, "origin_server_ts": time.Now().UnixMilli(), "pdus": raws,
		"edus": []any{map[string]any{"edu_type": "m.typing", "content": map[string]any{}}, "not an EDU"}}
	return rs.hs.SignedRequest(t, rs.key, rs.name, rs.hs.Config.ServerName, "PUT", "/_matrix/federation/v1/send/"+txnID, body)
}

// remoteJoin is user's join of roomID, built by rs on the room's
// current state here.
func remoteJoin(t *testing.T, rs *remoteServer, roomID, user string) matrixevents.Event {
	t.Helper()
	snap := currentRoom(t, rs.hs, roomID)
	return rs.event(t, snap.State, roomID, user, "m.room.member", strPtr(user), map[string]any{"membership": "join"}, extremityIDs(snap), time.Now())
}

// joinByTxn joins user to roomID through a transaction from rs.
func joinByTxn(t *testing.T, rs *remoteServer, txnID, roomID, user string) {
	t.Helper()
	join := remoteJoin(t, rs, roomID, user)
	if e, ok := pduError(t, sendTxn(t, rs, txnID, rs.name, []matrixevents.Event{join}), join.EventID()); !ok || e != "" {
		t.Fatalf("%s's join: %q", user, e)
	}
}

// pduError is the error a transaction's answer gives for an event, and
// whether the answer names the event at all.
func pduError(t testing.TB, r *testharness.Response, eventID string) (string, bool) {
	t.Helper()
	var answer struct {
		PDUs map[string]struct {
			Error string `json:"error"`
		} `json:"pdus"`
	}
	if r.Status != 200 || json.Unmarshal(r.Raw, &answer) != nil || answer.PDUs == nil {
		t.Fatalf("transaction: %s", r)
	}
	res, ok := answer.PDUs[eventID]
	return res.Error, ok
}

func storedEvent(t *testing.T, rs *remoteServer, eventID string) bool {
	t.Helper()
	found, err := rs.hs.Server.Services.Rooms.Store().EventsAnyStatus(context.Background(), []string{eventID})
	if err != nil {
		t.Fatal(err)
	}
	_, ok := found[eventID]
	return ok
}

// rejectedByTxn sends ev in a transaction from rs and fails the test
// unless it is answered without an error (it was processed, as Synapse
// answers) and stored as rejected.
func rejectedByTxn(t *testing.T, rs *remoteServer, txnID string, ev matrixevents.Event) {
	t.Helper()
	if e, ok := pduError(t, sendTxn(t, rs, txnID, rs.name, []matrixevents.Event{ev}), ev.EventID()); !ok || e != "" {
		t.Fatalf("%s: answered %q, want no error for a processed event", ev.EventID(), e)
	}
	if !rejectedEvent(t, rs, ev.EventID()) {
		t.Fatalf("%s is not stored as rejected", ev.EventID())
	}
}

// rejectedEvent reports whether eventID is stored as rejected.
func rejectedEvent(t *testing.T, rs *remoteServer, eventID string) bool {
	t.Helper()
	found, err := rs.hs.Server.Services.Rooms.Store().EventsAnyStatus(context.Background(), []string{eventID})
	if err != nil {
		t.Fatal(err)
	}
	se, ok := found[eventID]
	return ok && se.Rejected
}

// A signed transaction from another server: a joined remote user's
// message reaches a local member's /sync; a retried transaction ID is
// answered as before and not processed again.
func TestFederationSendTransaction(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		hs := startNamed(t, backend, "local.test", nil)
		rs := txnRemote(t, backend, hs)
		alice := hs.RegisterUser(t, "alice")
		room := createRoom(t, hs, alice.Token, map[string]any{"preset": "public_chat"})
		rita := "@rita:remote.test"

		joinByTxn(t, rs, "t1", room, rita)
		snap := currentRoom(t, hs, room)
		if snap.Membership(rita) != "join" {
			t.Fatalf("rita is %q after her join", snap.Membership(rita))
		}
		msg := rs.event(t, snap.State, room, rita, "m.room.message", nil, map[string]any{"msgtype": "m.text", "body": "hello from afar"}, extremityIDs(snap), time.Now())
		r := sendTxn(t, rs, "t2", rs.name, []matrixevents.Event{msg})
		if e, ok := pduError(t, r, msg.EventID()); !ok || e != "" {
			t.Fatalf("message: %s", r)
		}
		_, sync := doSync(t, hs, alice.Token, "")
		if !strings.Contains(string(sync.Raw), msg.EventID()) || !strings.Contains(string(sync.Raw), "hello from afar") {
			t.Fatalf("alice's sync lacks rita's message")
		}

		// The same transaction again: the same answer. Another body under
		// that ID is not looked at.
		again := sendTxn(t, rs, "t2", rs.name, []matrixevents.Event{msg})
		if again.Status != 200 || string(again.Raw) != string(r.Raw) {
			t.Fatalf("retried transaction: %s, first answer %s", again, r)
		}
		snap = currentRoom(t, hs, room)
		other := rs.event(t, snap.State, room, rita, "m.room.message", nil, map[string]any{"msgtype": "m.text", "body": "smuggled"}, extremityIDs(snap), time.Now())
		third := sendTxn(t, rs, "t2", rs.name, []matrixevents.Event{other})
		if string(third.Raw) != string(r.Raw) || storedEvent(t, rs, other.EventID()) {
			t.Fatalf("a reused transaction ID was processed: %s", third)
		}
		_, sync = doSync(t, hs, alice.Token, "")
		if n := strings.Count(string(sync.Raw), msg.EventID()); n != 1 {
			t.Errorf("rita's message is in alice's sync %d times", n)
		}

		// Content changed after signing: the hash fails, the event is
		// taken redacted. A PDU that is no event at all is dropped.
		snap = currentRoom(t, hs, room)
		edited := rs.event(t, snap.State, room, rita, "m.room.message", nil, map[string]any{"msgtype": "m.text", "body": "original"}, extremityIDs(snap), time.Now())
		var fields map[string]any
		if err := json.Unmarshal(edited.JSON(), &fields); err != nil {
			t.Fatal(err)
		}
		fields["content"] = map[string]any{"msgtype": "m.text", "body": "tampered"}
		tampered, err := json.Marshal(fields)
		if err != nil {
			t.Fatal(err)
		}
		garbage := json.RawMessage(`{"room_id": "` + room + `", "type": 5}`)
		r = sendRawTxn(t, rs, "t3", rs.name, []json.RawMessage{tampered, garbage, json.RawMessage(`null`)})
		if e, ok := pduError(t, r, edited.EventID()); !ok || e != "" {
			t.Fatalf("tampered event: %s", r)
		}
		if strings.Count(string(r.Raw), "$") != 1 {
			t.Errorf("the answer names more than the one event: %s", r)
		}
		got, err := hs.Server.Services.Rooms.Store().GetEvent(context.Background(), edited.EventID())
		if err != nil {
			t.Fatal(err)
		}
		if body := string(got.Event.Content()); strings.Contains(body, "tampered") || strings.Contains(body, "original") {
			t.Errorf("a tampered event was stored with its content %s", body)
		}
	})
}

// Refusals: a body whose origin is not the signer, and more than 50
// PDUs, are 400 M_BAD_JSON; a PDU with a bad signature, one for a room
// this server is not in (or does not know), and one from a server the
// room's ACL denies each get an error in the answer and are not stored.
func TestFederationSendTransactionRefusals(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		hs := startNamed(t, backend, "local.test", nil)
		rs := txnRemote(t, backend, hs)
		alice := hs.RegisterUser(t, "alice")
		room := createRoom(t, hs, alice.Token, map[string]any{"preset": "public_chat"})
		rita := "@rita:remote.test"
		joinByTxn(t, rs, "join", room, rita)
		snap := currentRoom(t, hs, room)
		msg := rs.event(t, snap.State, room, rita, "m.room.message", nil, map[string]any{"msgtype": "m.text", "body": "hi"}, extremityIDs(snap), time.Now())

		if r := sendTxn(t, rs, "wrong-origin", "elsewhere.test", []matrixevents.Event{msg}); r.Status != 400 || r.Errcode() != "M_BAD_JSON" {
			t.Errorf("origin not the signer: %s", r)
		}
		many := make([]matrixevents.Event, 51)
		for i := range many {
			many[i] = msg
		}
		if r := sendTxn(t, rs, "too-many", rs.name, many); r.Status != 400 || r.Errcode() != "M_BAD_JSON" {
			t.Errorf("51 PDUs: %s", r)
		}
		if storedEvent(t, rs, msg.EventID()) {
			t.Fatal("a refused transaction stored its PDU")
		}

		// Signed under remote.test's key ID with another key.
		forger := &remoteServer{name: rs.name, key: keyWithID(t, rs.key.KeyID()), hs: hs}
		forged := forger.event(t, snap.State, room, rita, "m.room.message", nil, map[string]any{"msgtype": "m.text", "body": "forged"}, extremityIDs(snap), time.Now())
		if e, ok := pduError(t, sendTxn(t, rs, "forged", rs.name, []matrixevents.Event{forged}), forged.EventID()); !ok || !strings.Contains(e, "signature") {
			t.Errorf("bad signature: %q", e)
		}
		if storedEvent(t, rs, forged.EventID()) {
			t.Error("an event with a bad signature was stored")
		}

		// A room alice has left: this server is no longer in it.
		left := createRoom(t, hs, alice.Token, map[string]any{"preset": "public_chat"})
		ljoin := remoteJoin(t, rs, left, rita)
		if r := hs.Do(t, "POST", roomPath(left, "/leave"), alice.Token, map[string]any{}); r.Status != 200 {
			t.Fatalf("leave: %s", r)
		}
		unknown, err := matrixevents.BuildEvent(matrixevents.ProtoEvent{RoomVersion: matrixevents.DefaultRoomVersion, RoomID: "!nowhere:remote.test",
			Sender: rita, Type: "m.room.message", Content: map[string]any{"body": "?"}, PrevEventIDs: []string{"$x"}, AuthEventIDs: []string{"$y"},
			Depth: 5, Origin: rs.name, Timestamp: time.Now()}, rs.key)
		if err != nil {
			t.Fatal(err)
		}
		r := sendTxn(t, rs, "not-in", rs.name, []matrixevents.Event{ljoin, unknown})
		for _, ev := range []matrixevents.Event{ljoin, unknown} {
			if e, ok := pduError(t, r, ev.EventID()); !ok || !strings.Contains(e, "not in room") {
				t.Errorf("event for %s: %s", ev.RoomID(), r)
			}
			if storedEvent(t, rs, ev.EventID()) {
				t.Errorf("an event for %s was stored", ev.RoomID())
			}
		}

		// An ACL that denies remote.test: its events are refused.
		if r := putState(t, hs, alice.Token, room, "m.room.server_acl", "", map[string]any{"allow": []string{"*"}, "deny": []string{"remote.test"}}); r.Status != 200 {
			t.Fatalf("server ACL: %s", r)
		}
		snap = currentRoom(t, hs, room)
		denied := rs.event(t, snap.State, room, rita, "m.room.message", nil, map[string]any{"msgtype": "m.text", "body": "denied"}, extremityIDs(snap), time.Now())
		if e, ok := pduError(t, sendTxn(t, rs, "acl", rs.name, []matrixevents.Event{denied}), denied.EventID()); !ok || !strings.Contains(e, "server ACL") {
			t.Errorf("ACL: %q", e)
		}
		if storedEvent(t, rs, denied.EventID()) {
			t.Error("an event from a denied server was stored")
		}
	})
}
