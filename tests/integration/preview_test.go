package integration

import (
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"foyer/internal/testharness"
)

// G-32, G-33, G-34: a guest (or any non-member) previews a world_readable
// room with /rooms/{roomId}/initialSync then long-polls /events?room_id=,
// and the members never see it.
func TestRoomPreview_G32_G33_G34(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		hs := testharness.StartBackend(t, backend)
		alice := hs.RegisterUser(t, "alice")
		room := createRoom(t, hs, alice.Token, map[string]any{"preset": "public_chat", "name": "Preview me",
			"initial_state": []map[string]any{{"type": "m.room.history_visibility", "content": map[string]any{"history_visibility": "world_readable"}}}})
		sendMessage(t, hs, alice.Token, room, "hello previewers")
		closed := createRoom(t, hs, alice.Token, map[string]any{"preset": "public_chat"})
		aliceSync, _ := doSync(t, hs, alice.Token, "")

		for _, viewer := range []testharness.Account{hs.RegisterGuest(t), hs.RegisterUser(t, "visitor")} {
			r := hs.Do(t, "GET", roomPath(room, "/initialSync?limit=5"), viewer.Token, nil)
			expect(t, r, 200, "")
			msgs := r.JSON["messages"].(map[string]any)
			if !slices.Contains(chunkBodies(&testharness.Response{JSON: msgs}, "chunk"), "hello previewers") {
				t.Fatalf("preview messages: %s", r)
			}
			if _, has := r.JSON["membership"]; has || r.Str("room_id") != room || r.Str("visibility") != "private" {
				t.Fatalf("preview metadata: %s", r)
			}
			if !strings.Contains(string(r.Raw), `"name":"Preview me"`) {
				t.Fatalf("preview state: %s", r)
			}
			end := msgs["end"].(string)
			expect(t, hs.Do(t, "GET", roomPath(closed, "/initialSync"), viewer.Token, nil), 403, "M_FORBIDDEN")
			expect(t, hs.Do(t, "GET", cs+"/events?room_id="+url.QueryEscape(closed)+"&timeout=0", viewer.Token, nil), 403, "M_FORBIDDEN")

			// A real long-poll: nothing new means waiting, not spinning.
			began := time.Now()
			idle := hs.Do(t, "GET", cs+"/events?room_id="+url.QueryEscape(room)+"&timeout=300&from="+end, viewer.Token, nil)
			if idle.Status != 200 || time.Since(began) < 250*time.Millisecond || len(idle.JSON["chunk"].([]any)) != 0 {
				t.Fatalf("idle /events returned early or with events: %s after %v", idle, time.Since(began))
			}
			got := make(chan *testharness.Response, 1)
			go func() {
				got <- hs.Do(t, "GET", cs+"/events?room_id="+url.QueryEscape(room)+"&timeout=20000&from="+idle.Str("end"), viewer.Token, nil)
			}()
			time.Sleep(150 * time.Millisecond)
			sendMessage(t, hs, alice.Token, room, "live "+viewer.UserID)
			var live *testharness.Response
			select {
			case live = <-got:
			case <-time.After(10 * time.Second):
				t.Fatal("/events not woken by a new message")
			}
			if g := chunkBodies(live, "chunk"); !slices.Equal(g, []string{"live " + viewer.UserID}) {
				t.Fatalf("live preview: %v", g)
			}
			// end resumes exactly where it left off.
			sendMessage(t, hs, alice.Token, room, "next "+viewer.UserID)
			next := hs.Do(t, "GET", cs+"/events?room_id="+url.QueryEscape(room)+"&timeout=5000&from="+live.Str("end"), viewer.Token, nil)
			if g := chunkBodies(next, "chunk"); !slices.Equal(g, []string{"next " + viewer.UserID}) {
				t.Fatalf("resume from end: %v", g)
			}
			expect(t, hs.Do(t, "GET", cs+"/events?room_id="+url.QueryEscape(room)+"&from=bogus", viewer.Token, nil), 400, "M_INVALID_PARAM")
		}
		// G-34: the members learn nothing of the previewers.
		after, raw := doSync(t, hs, alice.Token, "since="+aliceSync.NextBatch)
		messages := 0
		for _, e := range after.Rooms.Join[room].Timeline.Events {
			if e.Type == "m.room.message" {
				messages++
			}
		}
		if messages == 0 {
			t.Fatalf("the member's sync lacks the messages sent during the previews: %s", raw)
		}
		for _, e := range after.Presence.Events {
			if e.Sender != alice.UserID {
				t.Fatalf("a previewer's presence reached a member: %s", raw)
			}
		}
		for _, e := range after.Rooms.Join[room].Timeline.Events {
			if e.Type == "m.room.member" {
				t.Fatalf("a previewer shows up as a member event: %s", raw)
			}
		}
		members := hs.Do(t, "GET", roomPath(room, "/joined_members"), alice.Token, nil)
		if len(members.JSON["joined"].(map[string]any)) != 1 {
			t.Fatalf("previewers among joined members: %s", members)
		}
	})
}

func TestLegacyEventsAndInitialSync(t *testing.T) {
	hs := testharness.StartBackend(t, "sqlite")
	alice := hs.RegisterUser(t, "alice")
	room := createRoom(t, hs, alice.Token, map[string]any{"name": "Mine"})
	sendMessage(t, hs, alice.Token, room, "old")
	is := hs.Do(t, "GET", cs+"/initialSync?limit=3", alice.Token, nil)
	expect(t, is, 200, "")
	rooms := is.JSON["rooms"].([]any)
	if len(rooms) != 1 || rooms[0].(map[string]any)["membership"] != "join" || is.Str("end") == "" {
		t.Fatalf("initialSync: %s", is)
	}
	got := make(chan *testharness.Response, 1)
	go func() { got <- hs.Do(t, "GET", cs+"/events?timeout=10000&from="+is.Str("end"), alice.Token, nil) }()
	time.Sleep(150 * time.Millisecond)
	sendMessage(t, hs, alice.Token, room, "new")
	r := <-got
	if g := chunkBodies(r, "chunk"); !slices.Equal(g, []string{"new"}) {
		t.Fatalf("legacy /events: %s", r)
	}
	g := hs.RegisterGuest(t)
	expect(t, hs.Do(t, "GET", cs+"/events?timeout=0", g.Token, nil), 403, "M_GUEST_ACCESS_FORBIDDEN")
	expect(t, hs.Do(t, "GET", cs+"/initialSync", g.Token, nil), 403, "M_GUEST_ACCESS_FORBIDDEN")
}
