package integration

import (
	"net/url"
	"slices"
	"testing"

	"foyer/internal/testharness"
)

// A room the user left and forgot: an incremental sync from before the
// leave still reports it under rooms.leave, ending at the leave (as
// Synapse does, so the user's other devices learn of it); an initial sync
// never shows it, include_leave or not, nor does a later incremental one;
// its history is no longer readable; joining again brings it back
// (Complement's TestRoomForget).
func TestForgottenRoomInSync(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		hs := testharness.StartBackend(t, backend)
		alice := hs.RegisterUser(t, "alice")
		bob := hs.RegisterUser(t, "bob")
		room := createRoom(t, hs, alice.Token, map[string]any{"preset": "public_chat"})
		mustJoin(t, hs, bob.Token, room)
		sendMessage(t, hs, alice.Token, room, "hello")
		beforeLeave, _ := doSync(t, hs, alice.Token, "")
		if _, ok := beforeLeave.Rooms.Join[room]; !ok {
			t.Fatalf("alice's sync lacks the room")
		}
		expect(t, hs.Do(t, "POST", roomPath(room, "/leave"), alice.Token, map[string]any{}), 200, "")
		expect(t, hs.Do(t, "POST", roomPath(room, "/forget"), alice.Token, map[string]any{}), 200, "")
		sendMessage(t, hs, bob.Token, room, "after alice left")

		includeLeave := "filter=" + url.QueryEscape(`{"room":{"include_leave":true}}`)
		for _, query := range []string{"", includeLeave} {
			s, r := doSync(t, hs, alice.Token, "since="+url.QueryEscape(beforeLeave.NextBatch)+"&"+query)
			left, ok := s.Rooms.Leave[room]
			if !ok {
				t.Fatalf("incremental sync (%q) from before the leave lacks the forgotten room in rooms.leave: %s", query, r)
			}
			events := left.Timeline.Events
			if n := len(events); n == 0 || events[n-1].Type != "m.room.member" || events[n-1].Content["membership"] != "leave" {
				t.Errorf("rooms.leave timeline does not end at the leave: %s", r)
			}
			if slices.Contains(bodies(events), "after alice left") {
				t.Errorf("rooms.leave carries a message sent after the leave: %s", r)
			}
			if _, ok := s.Rooms.Join[room]; ok {
				t.Errorf("forgotten room under rooms.join: %s", r)
			}
		}
		initial, r := doSync(t, hs, alice.Token, includeLeave)
		if _, ok := initial.Rooms.Leave[room]; ok {
			t.Errorf("initial sync with include_leave shows the forgotten room: %s", r)
		}
		if _, ok := initial.Rooms.Join[room]; ok {
			t.Errorf("initial sync shows the forgotten room as joined: %s", r)
		}
		later, r := doSync(t, hs, alice.Token, "since="+url.QueryEscape(initial.NextBatch)+"&timeout=0")
		if _, ok := later.Rooms.Leave[room]; ok {
			t.Errorf("incremental sync from after the forget shows the room: %s", r)
		}

		// Its history is gone for her.
		expect(t, hs.Do(t, "GET", roomPath(room, "/messages?dir=b"), alice.Token, nil), 403, "M_FORBIDDEN")
		expect(t, hs.Do(t, "GET", roomPath(room, "/state"), alice.Token, nil), 403, "M_FORBIDDEN")
		expect(t, hs.Do(t, "GET", roomPath(room, "/members"), alice.Token, nil), 403, "M_FORBIDDEN")
		// Bob, who left but did not forget, still reads up to his leave.
		carol := hs.RegisterUser(t, "carol")
		mustJoin(t, hs, carol.Token, room)
		expect(t, hs.Do(t, "POST", roomPath(room, "/leave"), bob.Token, map[string]any{}), 200, "")
		expect(t, hs.Do(t, "GET", roomPath(room, "/messages?dir=b"), bob.Token, nil), 200, "")

		// Joining again brings the room back, history included.
		mustJoin(t, hs, alice.Token, room)
		again, r := doSync(t, hs, alice.Token, "")
		if _, ok := again.Rooms.Join[room]; !ok {
			t.Errorf("rejoined room missing from an initial sync: %s", r)
		}
		msgs := hs.Do(t, "GET", roomPath(room, "/messages?dir=b&limit=50"), alice.Token, nil)
		if msgs.Status != 200 || !slices.Contains(chunkBodies(msgs, "chunk"), "hello") {
			t.Errorf("messages after rejoining: %s", msgs)
		}
	})
}
