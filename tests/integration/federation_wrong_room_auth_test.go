package integration

import (
	"maps"
	"slices"
	"testing"
	"time"

	"foyer/internal/rooms"
	"foyer/internal/rooms/matrixevents"
	"foyer/internal/testharness"
)

// An event citing as auth event an event of another room (the sender's
// membership there) is rejected, answered {} as any rejected PDU, and
// leaves the room's state as it was: a power held in one room counts for
// nothing in another.
func TestFederationAuthEventOfAnotherRoomRejects(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		hs := startNamed(t, backend, "local.test", nil)
		rs := txnRemote(t, backend, hs)
		alice := hs.RegisterUser(t, "alice")
		room1 := createRoom(t, hs, alice.Token, map[string]any{"preset": "public_chat"})
		room2 := createRoom(t, hs, alice.Token, map[string]any{"preset": "public_chat"})
		rita := "@rita:remote.test"
		joinByTxn(t, rs, "join1", room1, rita)
		joinByTxn(t, rs, "join2", room2, rita)
		member := matrixevents.StateTuple{Type: "m.room.member", StateKey: rita}
		joinedThere := currentRoom(t, hs, room1).State[member]
		here := currentRoom(t, hs, room2)
		mixed := maps.Clone(here.State)
		mixed[member] = joinedThere
		msg := rs.event(t, mixed, room2, rita, "m.room.message", nil, map[string]any{"body": "P"}, extremityIDs(here), time.Now())
		if !slices.Contains(msg.AuthEventIDs(), joinedThere.Event.EventID()) {
			t.Fatal("the message does not cite the other room's membership")
		}
		if e, ok := pduError(t, sendTxn(t, rs, "p", rs.name, []matrixevents.Event{msg}), msg.EventID()); !ok || e != "" {
			t.Fatalf("answered %q for a PDU to reject (want {})", e)
		}
		if !rejectedEvent(t, rs, msg.EventID()) {
			t.Error("the message is not stored as rejected")
		}
		after := currentRoom(t, hs, room2)
		if got := after.State[member].Event.EventID(); got != here.State[member].Event.EventID() {
			t.Errorf("rita's membership in the room is %s, want her join there", got)
		}
		if !slices.Equal(extremityIDs(after), extremityIDs(here)) {
			t.Errorf("extremities moved: %v, want %v", extremityIDs(after), extremityIDs(here))
		}
	})
}

// An outlier fetched for an event's auth (here one by one through /event,
// as the sending server does not serve /event_auth) whose own auth events
// are of another room is rejected, and so is what cites it: a user
// joined elsewhere does not become a member through it, while the next
// valid event of the room is shown.
func TestFederationOutlierWithAuthOfAnotherRoomRejected(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		d := startDAGRemote(t, backend)
		room := joinDAGRoom(t, d)
		rhea := "@rhea:" + d.name
		other := createRoom(t, d.hs, room.alice.Token, map[string]any{"preset": "public_chat"})
		joinByTxn(t, d.remoteServer, "join-other", other, rhea)
		member := matrixevents.StateTuple{Type: "m.room.member", StateKey: rhea}
		elsewhere := currentRoom(t, d.hs, other).State[member]

		mixed := maps.Clone(room.state)
		mixed[member] = elsewhere
		q := d.after(t, mixed, room.join, rhea, "m.room.member", &rhea, map[string]any{"membership": "join"})
		withQ := maps.Clone(room.state)
		withQ[member] = rooms.StoredEvent{Event: q}
		r := d.message(t, withQ, q, rhea, "R")
		s := d.message(t, room.state, r, room.rita, "S")
		d.mu.Lock()
		d.stateIDs[q.EventID()] = stateIDsOf(room.state)
		d.noEventAuth, d.missingLimit = true, 1
		d.mu.Unlock()
		_, first := doSync(t, d.hs, room.alice.Token, "")

		if e, ok := pduError(t, sendTxn(t, d.remoteServer, "s", d.name, []matrixevents.Event{s}), s.EventID()); !ok || e != "" {
			t.Fatalf("S: answered %q", e)
		}
		want := []string{"POST get_missing_events", "GET event_auth " + r.EventID(), "GET event " + q.EventID(), "GET state_ids " + q.EventID()}
		if got := d.asked(); !slices.Equal(got, want) {
			t.Errorf("the remote was asked %v, want %v", got, want)
		}
		if !rejectedEvent(t, d.remoteServer, q.EventID()) || !rejectedEvent(t, d.remoteServer, r.EventID()) {
			t.Error("Q (auth events of another room) or R (citing Q) is not stored as rejected")
		}
		if m := currentRoom(t, d.hs, room.id).Membership(rhea); m != "" {
			t.Errorf("rhea is %q in the room, want no membership", m)
		}
		if got := timelineIDs(t, d.hs, room.alice.Token, room.id, first.Str("next_batch")); !slices.Equal(got, []string{s.EventID()}) {
			t.Errorf("the timeline shows %v, want only S", got)
		}
	})
}
