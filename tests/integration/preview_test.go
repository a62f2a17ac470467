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

		viewers := []testharness.Account{hs.RegisterGuest(t), hs.RegisterUser(t, "visitor")}
		for _, viewer := range viewers {
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
		var want []string
		for _, v := range viewers {
			want = append(want, "live "+v.UserID, "next "+v.UserID)
		}
		if got := bodies(after.Rooms.Join[room].Timeline.Events); !slices.Equal(got, want) {
			t.Fatalf("the member's sync should hold exactly the messages sent during the previews: %s", raw)
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

	// The stream also carries what /sync splits into sections: tags and
	// other account data, typing and receipts, each with its room_id.
	from := r.Str("end")
	tags := cs + "/user/" + url.PathEscape(alice.UserID) + "/rooms/" + url.PathEscape(room) + "/tags/u.work"
	expect(t, hs.Do(t, "PUT", tags, alice.Token, map[string]any{"order": 0.5}), 200, "")
	msg := sendMessage(t, hs, alice.Token, room, "read me")
	expect(t, hs.Do(t, "POST", roomPath(room, "/receipt/m.read/"+url.PathEscape(msg)), alice.Token, map[string]any{}), 200, "")
	expect(t, hs.Do(t, "PUT", roomPath(room, "/typing/"+url.PathEscape(alice.UserID)), alice.Token, map[string]any{"typing": true, "timeout": 30000}), 200, "")
	expect(t, hs.Do(t, "PUT", cs+"/user/"+url.PathEscape(alice.UserID)+"/account_data/org.example.theme", alice.Token, map[string]any{"dark": true}), 200, "")
	r = hs.Do(t, "GET", cs+"/events?timeout=0&from="+from, alice.Token, nil)
	expect(t, r, 200, "")
	seen := map[string]string{}
	for _, e := range r.JSON["chunk"].([]any) {
		ev := e.(map[string]any)
		roomID, _ := ev["room_id"].(string)
		seen[ev["type"].(string)] = roomID
	}
	for typ, wantRoom := range map[string]string{"m.tag": room, "m.receipt": room, "m.typing": room, "org.example.theme": "", "m.room.message": room} {
		if got, ok := seen[typ]; !ok || got != wantRoom {
			t.Errorf("/events lacks %s in %q: %s", typ, wantRoom, r)
		}
	}

	// initialSync: the caller's own presence, receipts, room account data.
	is = hs.Do(t, "GET", cs+"/initialSync?limit=3", alice.Token, nil)
	expect(t, is, 200, "")
	pres := is.JSON["presence"].([]any)
	if len(pres) == 0 || jsonPath(pres[0], "content", "user_id") != alice.UserID || jsonPath(pres[0], "content", "last_active_ago") == nil {
		t.Fatalf("initialSync presence: %s", is)
	}
	if rec, _ := is.JSON["receipts"].([]any); len(rec) != 1 || jsonPath(rec[0], "content", msg, "m.read", alice.UserID) == nil {
		t.Fatalf("initialSync receipts: %s", is)
	}
	roomEntry := is.JSON["rooms"].([]any)[0]
	if ad, _ := jsonPath(roomEntry, "account_data").([]any); len(ad) != 1 || jsonPath(ad[0], "type") != "m.tag" {
		t.Fatalf("initialSync room account data: %s", is)
	}
	ri := hs.Do(t, "GET", roomPath(room, "/initialSync"), alice.Token, nil)
	if ad, _ := ri.JSON["account_data"].([]any); len(ad) != 1 || jsonPath(ri.JSON, "receipts") == nil {
		t.Fatalf("room initialSync account data and receipts: %s", ri)
	}
	// A previewer learns none of it.
	bob := hs.RegisterUser(t, "bob")
	expect(t, putState(t, hs, alice.Token, room, "m.room.history_visibility", "", map[string]any{"history_visibility": "world_readable"}), 200, "")
	pv := hs.Do(t, "GET", roomPath(room, "/initialSync"), bob.Token, nil)
	expect(t, pv, 200, "")
	if ad, _ := pv.JSON["account_data"].([]any); len(ad) != 0 {
		t.Fatalf("a previewer got account data: %s", pv)
	}
	if rc, _ := pv.JSON["receipts"].([]any); len(rc) != 0 {
		t.Fatalf("a previewer got receipts: %s", pv)
	}
}
