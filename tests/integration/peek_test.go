package integration

import (
	"slices"
	"testing"
	"time"

	"foyer/internal/testharness"
)

// Peeking (MSC2753): a device follows a world_readable room in its sync
// without joining; history from before the room became world_readable
// stays hidden, other devices see nothing, and the peek ends on unpeek,
// on joining, or when the room stops being world_readable (G-32).
func TestPeekIntoWorldReadableRooms_G32(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		hs := testharness.StartBackend(t, backend)
		alice := hs.RegisterUser(t, "alice")
		bob := hs.RegisterUser(t, "bob")
		bob2 := loginDevice(t, hs, bob, "BOBTWO")
		room := createRoom(t, hs, alice.Token, map[string]any{"preset": "public_chat", "room_alias_name": "peekable"})
		sendMessage(t, hs, alice.Token, room, "before")
		expect(t, putState(t, hs, alice.Token, room, "m.room.history_visibility", "", map[string]any{"history_visibility": "world_readable"}), 200, "")
		sendMessage(t, hs, alice.Token, room, "after")
		shared := createRoom(t, hs, alice.Token, map[string]any{"preset": "public_chat"})

		s0, _ := doSync(t, hs, bob.Token, "")
		s2, _ := doSync(t, hs, bob2.Token, "")

		expect(t, hs.Do(t, "POST", cs+"/peek/"+shared, bob.Token, map[string]any{}), 403, "M_FORBIDDEN")
		expect(t, hs.Do(t, "POST", cs+"/peek/!nowhere:localhost", bob.Token, map[string]any{}), 404, "M_NOT_FOUND")
		expect(t, hs.Do(t, "POST", cs+"/peek/"+room, "", map[string]any{}), 401, "M_MISSING_TOKEN")
		guest := hs.RegisterGuest(t)
		expect(t, hs.Do(t, "POST", cs+"/peek/"+room, guest.Token, map[string]any{}), 403, "M_GUEST_ACCESS_FORBIDDEN")
		r := hs.Do(t, "POST", cs+"/peek/%23peekable:localhost", bob.Token, map[string]any{})
		expect(t, r, 200, "")
		if r.Str("room_id") != room {
			t.Fatalf("peek by alias: %s", r)
		}

		s1, raw := doSync(t, hs, bob.Token, "since="+s0.NextBatch)
		pr, ok := s1.Rooms.Peek[room]
		if !ok || len(s1.Rooms.Join) != 0 {
			t.Fatalf("the peeked room, and no joined room: %s", raw)
		}
		ev := pr.Timeline.Events
		if len(ev) == 0 || ev[0].Type != "m.room.create" || !slices.Equal(bodies(ev), []string{"after"}) || len(pr.State.Events) != 0 {
			t.Fatalf("first peek: from m.room.create, current state, only the world_readable history: %s", raw)
		}
		if _, ok := s1.Rooms.Peek[shared]; ok {
			t.Fatal("a refused peek turned up")
		}
		// Another device of the same user sees nothing.
		if other, raw := doSync(t, hs, bob2.Token, "timeout=0&since="+s2.NextBatch); len(other.Rooms.Peek) != 0 {
			t.Fatalf("peek leaked to another device: %s", raw)
		}
		// Unchanged: absent; a new message wakes a waiting sync.
		s3, raw := doSync(t, hs, bob.Token, "timeout=0&since="+s1.NextBatch)
		if len(s3.Rooms.Peek) != 0 {
			t.Fatalf("an unchanged peeked room was sent again: %s", raw)
		}
		go func() {
			time.Sleep(200 * time.Millisecond)
			sendMessage(t, hs, alice.Token, room, "live")
		}()
		start := time.Now()
		s4, raw := doSync(t, hs, bob.Token, "timeout=10000&since="+s3.NextBatch)
		if pr := s4.Rooms.Peek[room]; !slices.Equal(bodies(pr.Timeline.Events), []string{"live"}) || pr.Timeline.Limited || time.Since(start) > 5*time.Second {
			t.Fatalf("the long-poll was not woken by the peeked room's message (%v): %s", time.Since(start), raw)
		}

		// Unpeek ends it.
		expect(t, hs.Do(t, "POST", cs+"/rooms/"+room+"/unpeek", bob.Token, map[string]any{}), 200, "")
		sendMessage(t, hs, alice.Token, room, "unseen")
		if s5, raw := doSync(t, hs, bob.Token, "timeout=0&since="+s4.NextBatch); len(s5.Rooms.Peek) != 0 {
			t.Fatalf("unpeeked room still sent: %s", raw)
		}

		// Joining moves the room to rooms.join for good.
		expect(t, hs.Do(t, "POST", "/_matrix/client/unstable/org.matrix.msc2753/peek/"+room, bob.Token, map[string]any{}), 200, "")
		s6, _ := doSync(t, hs, bob.Token, "timeout=0&since="+s4.NextBatch)
		mustJoin(t, hs, bob.Token, room)
		expect(t, hs.Do(t, "POST", roomPath(room, "/leave"), bob.Token, map[string]any{}), 200, "")
		sendMessage(t, hs, alice.Token, room, "after leaving")
		if s7, raw := doSync(t, hs, bob.Token, "timeout=0&since="+s6.NextBatch); len(s7.Rooms.Peek) != 0 {
			t.Fatalf("a peek survived a join: %s", raw)
		}

		// A room that stops being world_readable ends the peek.
		s8, _ := doSync(t, hs, bob2.Token, "")
		expect(t, hs.Do(t, "POST", cs+"/peek/"+room, bob2.Token, map[string]any{}), 200, "")
		s9, raw := doSync(t, hs, bob2.Token, "since="+s8.NextBatch)
		if _, ok := s9.Rooms.Peek[room]; !ok {
			t.Fatalf("second device's peek: %s", raw)
		}
		expect(t, putState(t, hs, alice.Token, room, "m.room.history_visibility", "", map[string]any{"history_visibility": "shared"}), 200, "")
		sendMessage(t, hs, alice.Token, room, "members only")
		if s10, raw := doSync(t, hs, bob2.Token, "timeout=0&since="+s9.NextBatch); len(s10.Rooms.Peek) != 0 {
			t.Fatalf("the peek outlived world_readable: %s", raw)
		}
		expect(t, putState(t, hs, alice.Token, room, "m.room.history_visibility", "", map[string]any{"history_visibility": "world_readable"}), 200, "")
		sendMessage(t, hs, alice.Token, room, "readable again")
		if s11, raw := doSync(t, hs, bob2.Token, "timeout=0&since="+s9.NextBatch); len(s11.Rooms.Peek) != 0 {
			t.Fatalf("an ended peek came back: %s", raw)
		}

		// A peek goes with its device: the same device ID logged in again
		// starts without it.
		expect(t, hs.Do(t, "POST", cs+"/peek/"+room, bob2.Token, map[string]any{}), 200, "")
		if s12, raw := doSync(t, hs, bob2.Token, ""); len(s12.Rooms.Peek) != 1 {
			t.Fatalf("peek before logout: %s", raw)
		}
		expect(t, hs.Do(t, "POST", cs+"/logout", bob2.Token, map[string]any{}), 200, "")
		bob2 = loginDevice(t, hs, bob, "BOBTWO")
		if s13, raw := doSync(t, hs, bob2.Token, ""); len(s13.Rooms.Peek) != 0 {
			t.Fatalf("a peek outlived its device: %s", raw)
		}
	})
}
