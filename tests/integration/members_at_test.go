package integration

import (
	"encoding/json"
	"net/url"
	"slices"
	"testing"

	"foyer/internal/testharness"
)

// memberKeys lists the state keys of a /members answer, sorted.
func memberKeys(t *testing.T, r *testharness.Response) []string {
	t.Helper()
	var body struct {
		Chunk []struct {
			StateKey string `json:"state_key"`
			RoomID   string `json:"room_id"`
		} `json:"chunk"`
	}
	if r.Status != 200 || json.Unmarshal(r.Raw, &body) != nil {
		t.Fatalf("members: %s", r)
	}
	var out []string
	for _, m := range body.Chunk {
		out = append(out, m.StateKey)
	}
	slices.Sort(out)
	return out
}

// /members?at= with a sync timeline's prev_batch gives the members as of
// that point, as Synapse does: the state after the last event at or
// before the token. When the timeline holds the whole room, prev_batch is
// the sync's position (not one before the create event, where the room
// had no members), and /messages from it still leads back through the
// room (Complement's TestGetRoomMembersAtPoint; SyTest's "GET
// /rooms/:room_id/messages returns a message").
func TestMembersAtSyncPrevBatch(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		hs := testharness.StartBackend(t, backend)
		alice := hs.RegisterUser(t, "alice")
		bob := hs.RegisterUser(t, "bob")
		beforeRoom, _ := doSync(t, hs, bob.Token, "")
		room := createRoom(t, hs, alice.Token, map[string]any{"preset": "public_chat"})
		sendMessage(t, hs, alice.Token, room, "Hello world!")

		whole, r := doSync(t, hs, alice.Token, "timeout=0")
		tl := whole.Rooms.Join[room].Timeline
		if tl.Limited || len(tl.Events) == 0 || tl.Events[0].Type != "m.room.create" {
			t.Fatalf("want the whole room in the timeline: %s", r)
		}
		lastOnly, r := doSync(t, hs, alice.Token, "filter="+url.QueryEscape(`{"room":{"timeline":{"limit":1}}}`))
		if tl := lastOnly.Rooms.Join[room].Timeline; !tl.Limited || len(tl.Events) != 1 {
			t.Fatalf("want a limited timeline: %s", r)
		}

		mustJoin(t, hs, bob.Token, room)
		sendMessage(t, hs, bob.Token, room, "Hello back")

		for name, token := range map[string]string{
			"whole-room prev_batch": tl.PrevBatch,
			"limited prev_batch":    lastOnly.Rooms.Join[room].Timeline.PrevBatch,
		} {
			got := memberKeys(t, hs.Do(t, "GET", roomPath(room, "/members?at="+url.QueryEscape(token)), alice.Token, nil))
			if !slices.Equal(got, []string{alice.UserID}) {
				t.Errorf("/members?at= the %s %q: %v, want only alice", name, token, got)
			}
		}
		if got := memberKeys(t, hs.Do(t, "GET", roomPath(room, "/members"), alice.Token, nil)); len(got) != 2 {
			t.Errorf("/members now: %v", got)
		}
		// The whole-room prev_batch still pages back through the room.
		msgs := hs.Do(t, "GET", roomPath(room, "/messages?dir=b&from="+url.QueryEscape(tl.PrevBatch)), alice.Token, nil)
		if msgs.Status != 200 || !slices.Contains(chunkBodies(msgs, "chunk"), "Hello world!") || slices.Contains(chunkBodies(msgs, "chunk"), "Hello back") {
			t.Errorf("/messages from the whole-room prev_batch: %s", msgs)
		}
		// A token from before the room existed finds no state there.
		expect(t, hs.Do(t, "GET", roomPath(room, "/members?at="+url.QueryEscape(beforeRoom.NextBatch)), alice.Token, nil), 404, "M_NOT_FOUND")
	})
}
