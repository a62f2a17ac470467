package integration

import (
	"context"
	"testing"
	"time"

	"foyer/internal/testharness"
)

// eventContent reads an event's content through /event.
func eventContent(t *testing.T, hs *testharness.Homeserver, token, roomID, eventID string) map[string]any {
	t.Helper()
	r := hs.Do(t, "GET", roomPath(roomID, "/event/"+eventID), token, nil)
	expect(t, r, 200, "")
	c, _ := r.JSON["content"].(map[string]any)
	return c
}

// Self-destructing messages (MSC2228, experimental.self_destructing_messages):
// a message loses its content once its org.matrix.self_destruct_after
// time passes, on every read path and across a restart; other messages
// keep theirs, and a server without the switch prunes nothing.
func TestSelfDestructingMessages(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		cfg := testharness.Config(t, backend)
		cfg.Experimental.SelfDestructingMessages = true
		hs := testharness.Start(t, cfg)
		alice := hs.RegisterUser(t, "alice")
		room := createRoom(t, hs, alice.Token, nil)
		soon := time.Now().Add(700 * time.Millisecond).UnixMilli()
		doomed := relSend(t, hs, alice.Token, room, "m.room.message", map[string]any{"msgtype": "m.text", "body": "gone soon", "org.matrix.self_destruct_after": soon})
		kept := relSend(t, hs, alice.Token, room, "m.room.message", map[string]any{"msgtype": "m.text", "body": "stays"})
		later := relSend(t, hs, alice.Token, room, "m.room.message", map[string]any{"msgtype": "m.text", "body": "gone after a restart",
			"org.matrix.self_destruct_after": time.Now().Add(2500 * time.Millisecond).UnixMilli()})
		if c := eventContent(t, hs, alice.Token, room, doomed); c["body"] != "gone soon" {
			t.Fatalf("before its time the content is there: %v", c)
		}

		deadline := time.Now().Add(5 * time.Second)
		for len(eventContent(t, hs, alice.Token, room, doomed)) != 0 {
			if time.Now().After(deadline) {
				t.Fatalf("not pruned 5 s after its time: %v", eventContent(t, hs, alice.Token, room, doomed))
			}
			time.Sleep(50 * time.Millisecond)
		}
		if time.Now().UnixMilli() < soon {
			t.Fatal("pruned before its time")
		}
		msgs := hs.Do(t, "GET", roomPath(room, "/messages?dir=b&limit=10&filter="+`{"types":["m.room.message"]}`), alice.Token, nil)
		expect(t, msgs, 200, "")
		// The event stays, with an empty content.
		contentByID := map[string]map[string]any{}
		for _, e := range msgs.JSON["chunk"].([]any) {
			ev := e.(map[string]any)
			contentByID[ev["event_id"].(string)] = ev["content"].(map[string]any)
		}
		if c, ok := contentByID[doomed]; !ok || len(c) != 0 || contentByID[kept]["body"] != "stays" {
			t.Fatalf("/messages after the expiry: %s", msgs)
		}
		// Search forgets the pruned words.
		if got := searchIDs(t, hs, alice.Token, map[string]any{"search_term": "soon"}); len(got) != 0 {
			t.Errorf("search still finds a pruned message: %v", got)
		}
		if got := searchIDs(t, hs, alice.Token, map[string]any{"search_term": "stays"}); len(got) != 1 || got[0] != kept {
			t.Errorf("search of a kept message: %v", got)
		}
		s, raw := doSync(t, hs, alice.Token, "")
		inSync := false
		for _, e := range s.Rooms.Join[room].Timeline.Events {
			if e.EventID == doomed {
				inSync = true
				if len(e.Content) != 0 {
					t.Fatalf("sync serves the pruned content: %s", raw)
				}
			}
		}
		if !inSync {
			t.Fatalf("the pruned event is missing from sync: %s", raw)
		}

		// An expiry pending at shutdown happens after the restart.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := hs.Server.Stop(ctx); err != nil {
			t.Fatal(err)
		}
		hs2 := testharness.Start(t, cfg)
		deadline = time.Now().Add(8 * time.Second)
		for len(eventContent(t, hs2, alice.Token, room, later)) != 0 {
			if time.Now().After(deadline) {
				t.Fatal("a pending expiry was lost over a restart")
			}
			time.Sleep(50 * time.Millisecond)
		}
		if c := eventContent(t, hs2, alice.Token, room, kept); c["body"] != "stays" {
			t.Fatalf("an ordinary message lost its content: %v", c)
		}
	})

	// Off by default: the key means nothing.
	hs := testharness.StartBackend(t, "sqlite")
	alice := hs.RegisterUser(t, "alice")
	room := createRoom(t, hs, alice.Token, nil)
	id := relSend(t, hs, alice.Token, room, "m.room.message", map[string]any{"msgtype": "m.text", "body": "ordinary", "org.matrix.self_destruct_after": time.Now().Add(-time.Second).UnixMilli()})
	time.Sleep(300 * time.Millisecond)
	if c := eventContent(t, hs, alice.Token, room, id); c["body"] != "ordinary" {
		t.Fatalf("pruned without the switch: %v", c)
	}
}
