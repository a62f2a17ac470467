package integration

import (
	"slices"
	"strings"
	"testing"
	"time"

	"foyer/internal/rooms/matrixevents"
	"foyer/internal/testharness"
)

// The events of one transaction share their database writes, yet each is
// received as if alone: a message following one of the same transaction,
// the same PDU twice, a redaction of a message of the transaction, a
// state event the auth rules reject between them, and what follows; and
// the room's next local event builds on the last of them.
func TestFederationTransactionEventsWrittenTogether(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		hs := startNamed(t, backend, "local.test", nil)
		rs := txnRemote(t, backend, hs)
		alice := hs.RegisterUser(t, "alice")
		room := createRoom(t, hs, alice.Token, map[string]any{"preset": "public_chat"})
		rita := "@rita:remote.test"
		rs.join(t, room, rita)
		snap := currentRoom(t, hs, room)
		var auth []string
		for _, tup := range [][2]string{{"m.room.create", ""}, {"m.room.power_levels", ""}, {"m.room.member", rita}} {
			se, ok := snap.Get(tup[0], tup[1])
			if !ok {
				t.Fatalf("no %v in the room's state", tup)
			}
			auth = append(auth, se.Event.EventID())
		}
		depth := snap.Info.Depth
		build := func(typ string, stateKey *string, content map[string]any, redacts string, prev ...string) matrixevents.Event {
			t.Helper()
			depth++
			ev, err := matrixevents.BuildEvent(matrixevents.ProtoEvent{
				RoomVersion: snap.Info.Version, RoomID: room, Sender: rita, Type: typ, StateKey: stateKey, Content: content,
				Redacts: redacts, PrevEventIDs: prev, AuthEventIDs: auth, Depth: depth, Origin: rs.name, Timestamp: time.Now(),
			}, rs.key)
			if err != nil {
				t.Fatal(err)
			}
			return ev
		}
		text := func(body string) map[string]any { return map[string]any{"msgtype": "m.text", "body": body} }
		first := build("m.room.message", nil, text("first of the batch"), "", extremityIDs(snap)...)
		second := build("m.room.message", nil, text("second of the batch"), "", first.EventID())
		redaction := build("m.room.redaction", nil, map[string]any{"redacts": first.EventID()}, first.EventID(), second.EventID())
		// Rita's power level is below the topic's: rejected.
		topic := build("m.room.topic", strPtr(""), map[string]any{"topic": "not hers to set"}, "", redaction.EventID())
		last := build("m.room.message", nil, text("last of the batch"), "", redaction.EventID())

		r := sendTxn(t, rs, "batch1", rs.name, []matrixevents.Event{first, second, second, redaction, topic, last})
		for _, ev := range []matrixevents.Event{first, second, redaction, last} {
			if e, ok := pduError(t, r, ev.EventID()); !ok || e != "" {
				t.Fatalf("%s (%s): %q in %s", ev.EventID(), ev.Type(), e, r)
			}
		}
		if e, ok := pduError(t, r, topic.EventID()); !ok || e != "" || !rejectedEvent(t, rs, topic.EventID()) {
			t.Fatalf("the topic rita may not set is not stored as rejected (answered %q): %s", e, r)
		}

		_, sync := doSync(t, hs, alice.Token, "")
		raw := string(sync.Raw)
		for _, ev := range []matrixevents.Event{first, second, redaction, last} {
			if !strings.Contains(raw, ev.EventID()) {
				t.Errorf("alice's sync lacks %s (%s)", ev.EventID(), ev.Type())
			}
		}
		if strings.Contains(raw, "first of the batch") || strings.Contains(raw, "not hers to set") {
			t.Errorf("alice's sync shows a redacted message or a rejected topic: %s", raw)
		}
		if n := strings.Count(raw, `"second of the batch"`); n != 1 {
			t.Errorf("the message sent twice is in alice's sync %d times", n)
		}
		if xs := extremityIDs(currentRoom(t, hs, room)); !slices.Equal(xs, []string{last.EventID()}) {
			t.Errorf("forward extremities %v, want the batch's last event %s", xs, last.EventID())
		}
		id := sendMessage(t, hs, alice.Token, room, "after the batch")
		got, err := hs.Server.Services.Rooms.Store().GetEvent(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got.Event.PrevEventIDs(), []string{last.EventID()}) {
			t.Errorf("alice's next message follows %v, want %s", got.Event.PrevEventIDs(), last.EventID())
		}
	})
}
