package integration

import (
	"slices"
	"testing"
	"time"

	"foyer/internal/testharness"
)

// The room list is ordered by the newest bump event (a message, not a
// state change), its window says the count and the rooms in range, and
// each room comes with its name, counts, timeline and required state.
func TestSlidingSyncListOrderAndRoomData(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		hs := testharness.StartBackend(t, backend)
		alice := hs.RegisterUser(t, "alice")
		bob := hs.RegisterUser(t, "bob")
		var rooms []string
		for i := 0; i < 4; i++ {
			room := createRoom(t, hs, alice.Token, map[string]any{"preset": "public_chat", "name": "room " + string(rune('A'+i))})
			rooms = append(rooms, room)
		}
		// rooms[1] gets the newest message; rooms[3] only a topic change,
		// which does not bump it above rooms[1].
		sendMessage(t, hs, alice.Token, rooms[0], "zero")
		sendMessage(t, hs, alice.Token, rooms[1], "one")
		mustPutState(t, hs, alice.Token, rooms[3], "m.room.topic", map[string]any{"topic": "quiet"})
		mustJoin(t, hs, bob.Token, rooms[1])

		resp := slidingSync(t, hs, alice.Token, "", 0, map[string]any{
			"lists": map[string]any{"all": ssList(2, 3, []string{"m.room.topic", ""}, []string{"m.room.member", "$ME"})},
		})
		if resp.Lists["all"].Count != 4 {
			t.Fatalf("count %d, want 4: %+v", resp.Lists["all"].Count, resp.Lists)
		}
		want := []string{rooms[1], rooms[0], rooms[3]}
		if got := resp.listRooms("all"); !slices.Equal(got, want) {
			t.Fatalf("window %v, want %v", got, want)
		}
		if len(resp.Rooms) != 3 {
			t.Fatalf("%d rooms, want 3", len(resp.Rooms))
		}
		r1 := resp.Rooms[rooms[1]]
		if r1.Name != "room B" || !r1.Initial || r1.JoinedCount == nil || *r1.JoinedCount != 2 || r1.BumpStamp == nil {
			t.Fatalf("room data: %+v", r1)
		}
		if len(r1.Timeline) != 3 || r1.Limited == nil || !*r1.Limited || r1.PrevBatch == "" {
			t.Fatalf("timeline of 3, limited: %+v", r1)
		}
		if b := timelineBodies(r1.Timeline); !slices.Equal(b, []string{"one"}) {
			t.Fatalf("timeline bodies %v", b)
		}
		if *resp.Rooms[rooms[1]].BumpStamp <= *resp.Rooms[rooms[0]].BumpStamp {
			t.Fatalf("bump stamps out of order")
		}
		var keys []string
		for _, e := range resp.Rooms[rooms[3]].RequiredState {
			keys = append(keys, e.Type+"|"+*e.StateKey)
		}
		slices.Sort(keys)
		if !slices.Equal(keys, []string{"m.room.member|" + alice.UserID, "m.room.topic|"}) {
			t.Fatalf("required state %v", keys)
		}

		// Incremental: only the room with news, with only the news.
		sendMessage(t, hs, alice.Token, rooms[2], "two")
		next := slidingSync(t, hs, alice.Token, resp.Pos, 0, map[string]any{
			"lists": map[string]any{"all": ssList(2, 3, []string{"m.room.topic", ""}, []string{"m.room.member", "$ME"})},
		})
		if got := next.listRooms("all"); !slices.Equal(got, []string{rooms[2], rooms[1], rooms[0]}) {
			t.Fatalf("window after a message %v", got)
		}
		r2, ok := next.Rooms[rooms[2]]
		if !ok || len(next.Rooms) != 1 {
			t.Fatalf("rooms %v, want only %s", keysOf(next.Rooms), rooms[2])
		}
		// rooms[2] was never sent on this connection: it comes whole.
		if !r2.Initial || r2.Name != "room C" {
			t.Fatalf("room new to the window: %+v", r2)
		}
		sendMessage(t, hs, alice.Token, rooms[2], "three")
		again := slidingSync(t, hs, alice.Token, next.Pos, 0, map[string]any{
			"lists": map[string]any{"all": ssList(2, 3, []string{"m.room.topic", ""}, []string{"m.room.member", "$ME"})},
		})
		r2 = again.Rooms[rooms[2]]
		if r2.Initial || r2.Name != "" || len(r2.RequiredState) != 0 || r2.NumLive == nil || *r2.NumLive != 1 {
			t.Fatalf("a live room's news only: %+v", r2)
		}
		if b := timelineBodies(r2.Timeline); !slices.Equal(b, []string{"three"}) {
			t.Fatalf("news %v", b)
		}
	})
}

func keysOf[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// A long-poll parks until something the connection shows happens, and an
// unknown or garbled pos is M_UNKNOWN_POS.
func TestSlidingSyncLongPollAndUnknownPos(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		hs := testharness.StartBackend(t, backend)
		alice := hs.RegisterUser(t, "alice")
		room := createRoom(t, hs, alice.Token, nil)
		body := map[string]any{"lists": map[string]any{"l": ssList(9, 5)}}
		first := slidingSync(t, hs, alice.Token, "", 0, body)

		start := time.Now()
		empty := slidingSync(t, hs, alice.Token, first.Pos, 300, body)
		if time.Since(start) < 250*time.Millisecond || len(empty.Rooms) != 0 {
			t.Fatalf("an idle long-poll answered after %v with %v", time.Since(start), keysOf(empty.Rooms))
		}
		go func() {
			time.Sleep(200 * time.Millisecond)
			sendMessage(t, hs, alice.Token, room, "wake")
		}()
		start = time.Now()
		woken := slidingSync(t, hs, alice.Token, empty.Pos, 10000, body)
		if time.Since(start) > 5*time.Second {
			t.Fatalf("long-poll not woken: %v", time.Since(start))
		}
		if b := timelineBodies(woken.Rooms[room].Timeline); !slices.Equal(b, []string{"wake"}) {
			t.Fatalf("woken with %v", b)
		}
		// The pos before last is forgotten once a later one is used.
		if r := slidingSyncRaw(t, hs, alice.Token, first.Pos, 0, body); r.Status != 400 || r.Errcode() != "M_UNKNOWN_POS" {
			t.Fatalf("old pos: %s", r)
		}
		// The pos just synced from stays usable (a retried request).
		if r := slidingSyncRaw(t, hs, alice.Token, empty.Pos, 0, body); r.Status != 200 {
			t.Fatalf("retried pos: %s", r)
		}
		for _, pos := range []string{"garbage", "abc_1_2_3", "x_1_99999999_0"} {
			if r := slidingSyncRaw(t, hs, alice.Token, pos, 0, body); r.Status != 400 || r.Errcode() != "M_UNKNOWN_POS" {
				t.Fatalf("pos %q: %s", pos, r)
			}
		}
		// Another device cannot use the connection.
		other := loginAgain(t, hs, alice)
		if r := slidingSyncRaw(t, hs, other, woken.Pos, 0, body); r.Status != 400 || r.Errcode() != "M_UNKNOWN_POS" {
			t.Fatalf("other device: %s", r)
		}
		// After a restart the connection is gone: M_UNKNOWN_POS, never a
		// silently wrong answer.
		hs.Stop(t)
		hs.Resume(t)
		if r := slidingSyncRaw(t, hs, alice.Token, woken.Pos, 0, body); r.Status != 400 || r.Errcode() != "M_UNKNOWN_POS" {
			t.Fatalf("after restart: %s", r)
		}
	})
}

// Bad bodies are M_BAD_JSON, never a 500.
func TestSlidingSyncBadBodies(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		hs := testharness.StartBackend(t, backend)
		alice := hs.RegisterUser(t, "alice")
		for _, body := range []string{
			`{"lists": {"l": {"ranges": [[5, 1]], "timeline_limit": 1, "required_state": []}}}`,
			`{"lists": {"l": {"ranges": [[0]], "timeline_limit": 1, "required_state": []}}}`,
			`{"lists": {"l": {"ranges": [[-1, 3]], "timeline_limit": 1, "required_state": []}}}`,
			`{"lists": {"l": {"ranges": [[0, 3]], "timeline_limit": -1, "required_state": []}}}`,
			`{"lists": {"l": {"ranges": [[0, 3]], "timeline_limit": 5000, "required_state": []}}}`,
			`{"lists": {"l": {"ranges": [[0, 3]], "timeline_limit": 1, "required_state": [["a"]]}}}`,
			`{"lists": {"l": {"ranges": [[0, 3]], "timeline_limit": 1, "required_state": [["a", 1]]}}}`,
			`{"room_subscriptions": {"!a:b": {"timeline_limit": "x"}}}`,
			`{"extensions": {"to_device": {"enabled": true, "since": "nope"}}}`,
			`[1]`,
			`{`,
		} {
			r := hs.Do(t, "POST", slidingSyncPath, alice.Token, body)
			if r.Status != 400 {
				t.Errorf("%s: %s", body, r)
			}
		}
		if r := hs.Do(t, "POST", slidingSyncPath, "", `{}`); r.Status != 401 {
			t.Fatalf("no token: %s", r)
		}
	})
}
