package integration

import (
	"fmt"
	"net/url"
	"slices"
	"testing"
	"time"

	"foyer/internal/testharness"
)

const cv1 = "/_matrix/client/v1"

func relRoomPath(roomID, rest string) string {
	return cv1 + "/rooms/" + testharness.PathEscape(roomID) + rest
}

func relationsPath(roomID, eventID, rest string) string {
	return relRoomPath(roomID, "/relations/"+testharness.PathEscape(eventID)+rest)
}

// relSend sends any message event and returns its ID.
func relSend(t testing.TB, hs *testharness.Homeserver, token, roomID, typ string, content map[string]any) string {
	t.Helper()
	r := hs.Do(t, "PUT", roomPath(roomID, fmt.Sprintf("/send/%s/rel%d", typ, txnCounter.Add(1))), token, content)
	if r.Status != 200 {
		t.Fatalf("send %s: %s", typ, r)
	}
	return r.Str("event_id")
}

func threadReply(t testing.TB, hs *testharness.Homeserver, token, roomID, rootID, body string) string {
	t.Helper()
	return relSend(t, hs, token, roomID, "m.room.message", map[string]any{
		"msgtype": "m.text", "body": body,
		"m.relates_to": map[string]any{"rel_type": "m.thread", "event_id": rootID, "is_falling_back": true},
	})
}

// relIDs lists the event_id of each event in a response's list.
func relIDs(r *testharness.Response, key string) []string {
	out := []string{}
	list, _ := r.JSON[key].([]any)
	for _, e := range list {
		ev, _ := e.(map[string]any)
		id, _ := ev["event_id"].(string)
		out = append(out, id)
	}
	return out
}

func wantIDs(t *testing.T, what string, got []string, want ...string) {
	t.Helper()
	if want == nil {
		want = []string{}
	}
	if !slices.Equal(got, want) {
		t.Errorf("%s: got %v, want %v", what, got, want)
	}
}

// GET /relations: every child of an event, newest first, filtered by
// rel_type and event type, paginated both ways, recursing on request,
// without redacted children; errors for bad parameters, non-members and
// guests.
func TestRelationsEndpoint(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		hs := testharness.StartBackend(t, backend)
		alice := hs.RegisterUser(t, "alice")
		bob := hs.RegisterUser(t, "bob")
		room := createRoom(t, hs, alice.Token, map[string]any{"preset": "public_chat"})
		root := sendMessage(t, hs, alice.Token, room, "root")
		t1 := threadReply(t, hs, alice.Token, room, root, "t1")
		t2 := threadReply(t, hs, alice.Token, room, root, "t2")
		react := relSend(t, hs, alice.Token, room, "m.reaction", map[string]any{
			"m.relates_to": map[string]any{"rel_type": "m.annotation", "event_id": root, "key": "👍"}})
		edit := relSend(t, hs, alice.Token, room, "m.room.message", map[string]any{
			"msgtype": "m.text", "body": "* root!", "m.new_content": map[string]any{"msgtype": "m.text", "body": "root!"},
			"m.relates_to": map[string]any{"rel_type": "m.replace", "event_id": root}})
		// A rich reply has no rel_type: not a relation for the server.
		relSend(t, hs, alice.Token, room, "m.room.message", map[string]any{
			"msgtype": "m.text", "body": "reply", "m.relates_to": map[string]any{"m.in_reply_to": map[string]any{"event_id": root}}})
		t3 := threadReply(t, hs, alice.Token, room, root, "t3")
		// A reaction to a thread reply is a grandchild of the root.
		grand := relSend(t, hs, alice.Token, room, "m.reaction", map[string]any{
			"m.relates_to": map[string]any{"rel_type": "m.annotation", "event_id": t1, "key": "👀"}})

		all := hs.Do(t, "GET", relationsPath(room, root, ""), alice.Token, nil)
		expect(t, all, 200, "")
		wantIDs(t, "all children", relIDs(all, "chunk"), t3, edit, react, t2, t1)
		if _, ok := all.JSON["next_batch"]; ok {
			t.Errorf("next_batch on the only page: %s", all)
		}
		if _, ok := all.JSON["recursion_depth"]; ok {
			t.Errorf("recursion_depth without recurse: %s", all)
		}
		if chunk := all.JSON["chunk"].([]any); jsonPath(chunk[0], "room_id") != room || jsonPath(chunk[0], "content", "body") != "t3" {
			t.Errorf("child events are client events: %v", chunk[0])
		}

		threads := hs.Do(t, "GET", relationsPath(room, root, "/m.thread"), alice.Token, nil)
		wantIDs(t, "m.thread", relIDs(threads, "chunk"), t3, t2, t1)
		reactions := hs.Do(t, "GET", relationsPath(room, root, "/m.annotation/m.reaction"), alice.Token, nil)
		wantIDs(t, "m.annotation m.reaction", relIDs(reactions, "chunk"), react)
		none := hs.Do(t, "GET", relationsPath(room, root, "/m.thread/m.reaction"), alice.Token, nil)
		expect(t, none, 200, "")
		wantIDs(t, "m.thread m.reaction", relIDs(none, "chunk"))

		// Backwards pages of two, following next_batch.
		var pages [][]string
		from := ""
		for i := 0; i < 5; i++ {
			q := "?limit=2"
			if from != "" {
				q += "&from=" + url.QueryEscape(from)
			}
			p := hs.Do(t, "GET", relationsPath(room, root, q), alice.Token, nil)
			expect(t, p, 200, "")
			if from != "" && p.Str("prev_batch") != from {
				t.Errorf("prev_batch %q, want the from token %q", p.Str("prev_batch"), from)
			}
			pages = append(pages, relIDs(p, "chunk"))
			if from = p.Str("next_batch"); from == "" {
				break
			}
		}
		if fmt.Sprint(pages) != fmt.Sprint([][]string{{t3, edit}, {react, t2}, {t1}}) {
			t.Errorf("backward pages %v", pages)
		}
		// Forwards, and a to token stopping the second page.
		f1 := hs.Do(t, "GET", relationsPath(room, root, "?dir=f&limit=2"), alice.Token, nil)
		wantIDs(t, "forward page 1", relIDs(f1, "chunk"), t1, t2)
		f2 := hs.Do(t, "GET", relationsPath(room, root, "?dir=f&limit=2&from="+url.QueryEscape(f1.Str("next_batch"))), alice.Token, nil)
		wantIDs(t, "forward page 2", relIDs(f2, "chunk"), react, edit)
		f3 := hs.Do(t, "GET", relationsPath(room, root, "?dir=f&limit=2&from="+url.QueryEscape(f2.Str("next_batch"))), alice.Token, nil)
		wantIDs(t, "forward page 3", relIDs(f3, "chunk"), t3)
		upTo := hs.Do(t, "GET", relationsPath(room, root, "?dir=f&to="+url.QueryEscape(f1.Str("next_batch"))), alice.Token, nil)
		wantIDs(t, "forward up to page 1's end", relIDs(upTo, "chunk"), t1, t2)
		backTo := hs.Do(t, "GET", relationsPath(room, root, "?dir=b&from="+url.QueryEscape(f2.Str("next_batch"))+"&to="+url.QueryEscape(f1.Str("next_batch"))), alice.Token, nil)
		wantIDs(t, "backward between pages", relIDs(backTo, "chunk"), edit, react)

		// recurse follows children of children; filters apply at every hop.
		rec := hs.Do(t, "GET", relationsPath(room, root, "?recurse=true"), alice.Token, nil)
		wantIDs(t, "recursive", relIDs(rec, "chunk"), grand, t3, edit, react, t2, t1)
		if rec.JSON["recursion_depth"] != float64(3) {
			t.Errorf("recursion_depth: %s", rec)
		}
		recAnn := hs.Do(t, "GET", relationsPath(room, root, "/m.annotation?recurse=true"), alice.Token, nil)
		wantIDs(t, "recursive annotations (the thread reply between does not match)", relIDs(recAnn, "chunk"), react)
		flat := hs.Do(t, "GET", relationsPath(room, root, "?recurse=false"), alice.Token, nil)
		wantIDs(t, "recurse=false", relIDs(flat, "chunk"), t3, edit, react, t2, t1)
		if flat.JSON["recursion_depth"] != float64(1) {
			t.Errorf("recursion_depth with recurse=false: %s", flat)
		}

		// A redacted child is no longer related.
		if r := hs.Do(t, "PUT", roomPath(room, "/redact/"+testharness.PathEscape(t2)+"/rel-redact"), alice.Token, map[string]any{}); r.Status != 200 {
			t.Fatalf("redact: %s", r)
		}
		after := hs.Do(t, "GET", relationsPath(room, root, "/m.thread"), alice.Token, nil)
		wantIDs(t, "after redacting t2", relIDs(after, "chunk"), t3, t1)

		// Errors.
		expect(t, hs.Do(t, "GET", relationsPath(room, "$nothing", ""), alice.Token, nil), 404, "M_NOT_FOUND")
		expect(t, hs.Do(t, "GET", relationsPath(room, root, "?dir=x"), alice.Token, nil), 400, "M_INVALID_PARAM")
		expect(t, hs.Do(t, "GET", relationsPath(room, root, "?from=garbage"), alice.Token, nil), 400, "M_INVALID_PARAM")
		expect(t, hs.Do(t, "GET", relationsPath(room, root, "?to=garbage"), alice.Token, nil), 400, "M_INVALID_PARAM")
		expect(t, hs.Do(t, "GET", relationsPath(room, root, "?limit=-1"), alice.Token, nil), 400, "M_INVALID_PARAM")
		expect(t, hs.Do(t, "GET", relationsPath(room, root, "?recurse=yes"), alice.Token, nil), 400, "M_INVALID_PARAM")
		expect(t, hs.Do(t, "GET", relRoomPath("not-a-room", "/relations/"+testharness.PathEscape(root)), alice.Token, nil), 400, "M_INVALID_PARAM")
		// Bob is not in the room (shared history): refused like /messages.
		expect(t, hs.Do(t, "GET", relationsPath(room, root, ""), bob.Token, nil), 403, "M_FORBIDDEN")
		expect(t, hs.Do(t, "GET", roomPath(room, "/messages?dir=b"), bob.Token, nil), 403, "M_FORBIDDEN")
		expect(t, hs.Do(t, "GET", relationsPath("!nowhere:localhost", root, ""), bob.Token, nil), 403, "M_FORBIDDEN")
		guest := hs.RegisterGuest(t)
		expect(t, hs.Do(t, "GET", relationsPath(room, root, ""), guest.Token, nil), 403, "M_GUEST_ACCESS_FORBIDDEN")
	})
}

// History visibility applies to every new endpoint and to bundled
// aggregations: under "joined", a member sees neither events from before
// they joined nor those sent while they were away, and counts only what
// they can see.
func TestRelationsThreadsAndTimestampFollowHistoryVisibility(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		hs := testharness.StartBackend(t, backend)
		alice := hs.RegisterUser(t, "alice")
		bob := hs.RegisterUser(t, "bob")
		carol := hs.RegisterUser(t, "carol")
		room := createRoom(t, hs, alice.Token, map[string]any{"preset": "public_chat", "initial_state": []map[string]any{
			{"type": "m.room.history_visibility", "content": map[string]any{"history_visibility": "joined"}}}})
		time.Sleep(10 * time.Millisecond) // rootA's timestamp is the room's own
		rootA := sendMessage(t, hs, alice.Token, room, "before bob")
		threadReply(t, hs, alice.Token, room, rootA, "a1")
		mustJoin(t, hs, bob.Token, room)
		rootB := sendMessage(t, hs, alice.Token, room, "while bob is here")
		b1 := threadReply(t, hs, alice.Token, room, rootB, "b1")
		if r := hs.Do(t, "POST", roomPath(room, "/leave"), bob.Token, map[string]any{}); r.Status != 200 {
			t.Fatalf("leave: %s", r)
		}
		b2 := threadReply(t, hs, alice.Token, room, rootB, "b2 while bob is away")
		threadReply(t, hs, alice.Token, room, rootA, "a2 while bob is away")
		mustJoin(t, hs, bob.Token, room)
		b3 := threadReply(t, hs, alice.Token, room, rootB, "b3")

		// Relations: the earlier root is not found for bob; the away reply
		// is left out.
		expect(t, hs.Do(t, "GET", relationsPath(room, rootA, ""), bob.Token, nil), 404, "M_NOT_FOUND")
		wantIDs(t, "bob's view of rootB", relIDs(hs.Do(t, "GET", relationsPath(room, rootB, ""), bob.Token, nil), "chunk"), b3, b1)
		wantIDs(t, "alice's view of rootB", relIDs(hs.Do(t, "GET", relationsPath(room, rootB, ""), alice.Token, nil), "chunk"), b3, b2, b1)
		// A page of one does not skip past hidden events.
		p1 := hs.Do(t, "GET", relationsPath(room, rootB, "?limit=1"), bob.Token, nil)
		p2 := hs.Do(t, "GET", relationsPath(room, rootB, "?limit=1&from="+url.QueryEscape(p1.Str("next_batch"))), bob.Token, nil)
		wantIDs(t, "bob's pages", append(relIDs(p1, "chunk"), relIDs(p2, "chunk")...), b3, b1)

		// Threads: rootA, sent before bob joined, is not listed for him;
		// rootB counts only what bob can see.
		bt := hs.Do(t, "GET", relRoomPath(room, "/threads"), bob.Token, nil)
		expect(t, bt, 200, "")
		wantIDs(t, "bob's threads", relIDs(bt, "chunk"), rootB)
		at := hs.Do(t, "GET", relRoomPath(room, "/threads"), alice.Token, nil)
		wantIDs(t, "alice's threads", relIDs(at, "chunk"), rootB, rootA)
		if c := jsonPath(bt.JSON["chunk"].([]any)[0], "unsigned", "m.relations", "m.thread", "count"); c != float64(2) {
			t.Errorf("bob's thread count %v, want 2: %s", c, bt)
		}
		if c := jsonPath(at.JSON["chunk"].([]any)[0], "unsigned", "m.relations", "m.thread", "count"); c != float64(3) {
			t.Errorf("alice's thread count %v, want 3: %s", c, at)
		}
		ev := hs.Do(t, "GET", roomPath(room, "/event/"+testharness.PathEscape(rootB)), bob.Token, nil)
		if c := jsonPath(ev.JSON, "unsigned", "m.relations", "m.thread", "count"); c != float64(2) {
			t.Errorf("bob's /event thread count %v, want 2: %s", c, ev)
		}

		// Jumping to rootA's time: alice lands on it, bob on the first
		// event after it he may see, his own first join.
		tsA := int64(hs.Do(t, "GET", roomPath(room, "/event/"+testharness.PathEscape(rootA)), alice.Token, nil).JSON["origin_server_ts"].(float64))
		jumpA := relRoomPath(room, fmt.Sprintf("/timestamp_to_event?ts=%d&dir=f", tsA))
		if first := hs.Do(t, "GET", jumpA, alice.Token, nil); first.Str("event_id") != rootA {
			t.Errorf("alice's jump %s, want rootA %s", first, rootA)
		}
		bobFirst := hs.Do(t, "GET", jumpA, bob.Token, nil)
		expect(t, bobFirst, 200, "")
		bobEv := hs.Do(t, "GET", roomPath(room, "/event/"+testharness.PathEscape(bobFirst.Str("event_id"))), bob.Token, nil)
		if bobEv.Str("type") != "m.room.member" || bobEv.Str("state_key") != bob.UserID || jsonPath(bobEv.JSON, "content", "membership") != "join" {
			t.Errorf("bob's first visible event: %s", bobEv)
		}

		// Carol, never a member: 403 everywhere, as /messages.
		for _, p := range []string{relationsPath(room, rootB, ""), relRoomPath(room, "/threads"), relRoomPath(room, "/timestamp_to_event?ts=0&dir=f")} {
			expect(t, hs.Do(t, "GET", p, carol.Token, nil), 403, "M_FORBIDDEN")
		}
	})
}

// GET /threads: roots by latest activity, include=participated,
// pagination, and the m.thread bundled aggregation (with m.replace) on
// /threads, /event, /messages, /context and sync.
func TestThreadsAndBundledAggregations(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		hs := testharness.StartBackend(t, backend)
		alice, bob, carol, room := threeInAPublicRoom(t, hs)
		root1 := sendMessage(t, hs, alice.Token, room, "root1")
		root2 := sendMessage(t, hs, alice.Token, room, "root2")
		sendMessage(t, hs, alice.Token, room, "not a thread")
		threadReply(t, hs, alice.Token, room, root1, "r1a")
		threadReply(t, hs, alice.Token, room, root2, "r2a")
		bobReply := threadReply(t, hs, bob.Token, room, root1, "r1b")
		latest2 := threadReply(t, hs, alice.Token, room, root2, "r2b")
		// An edit of the latest reply, bundled inside latest_event.
		edit2 := relSend(t, hs, alice.Token, room, "m.room.message", map[string]any{
			"msgtype": "m.text", "body": "* r2b!", "m.new_content": map[string]any{"msgtype": "m.text", "body": "r2b!"},
			"m.relates_to": map[string]any{"rel_type": "m.replace", "event_id": latest2}})
		// Edits of root1: alice's valid one, and bob's, which may not
		// replace alice's event.
		edit1 := relSend(t, hs, alice.Token, room, "m.room.message", map[string]any{
			"msgtype": "m.text", "body": "* root1!", "m.new_content": map[string]any{"msgtype": "m.text", "body": "root1!"},
			"m.relates_to": map[string]any{"rel_type": "m.replace", "event_id": root1}})
		relSend(t, hs, bob.Token, room, "m.room.message", map[string]any{
			"msgtype": "m.text", "body": "* hijack", "m.new_content": map[string]any{"msgtype": "m.text", "body": "hijack"},
			"m.relates_to": map[string]any{"rel_type": "m.replace", "event_id": root1}})
		ref := relSend(t, hs, bob.Token, room, "m.room.message", map[string]any{
			"msgtype": "m.text", "body": "see root1", "m.relates_to": map[string]any{"rel_type": "m.reference", "event_id": root1}})

		all := hs.Do(t, "GET", relRoomPath(room, "/threads"), bob.Token, nil)
		expect(t, all, 200, "")
		wantIDs(t, "threads by latest activity", relIDs(all, "chunk"), root2, root1)
		chunk := all.JSON["chunk"].([]any)
		th1 := jsonPath(chunk[1], "unsigned", "m.relations", "m.thread")
		if jsonPath(th1, "count") != float64(2) || jsonPath(th1, "latest_event", "event_id") != bobReply || jsonPath(th1, "current_user_participated") != true {
			t.Errorf("root1's thread for bob: %v", th1)
		}
		th2 := jsonPath(chunk[0], "unsigned", "m.relations", "m.thread")
		if jsonPath(th2, "count") != float64(2) || jsonPath(th2, "latest_event", "event_id") != latest2 || jsonPath(th2, "current_user_participated") != false {
			t.Errorf("root2's thread for bob: %v", th2)
		}
		if got := jsonPath(th2, "latest_event", "unsigned", "m.relations", "m.replace", "event_id"); got != edit2 {
			t.Errorf("latest_event's own edit %v, want %s: %v", got, edit2, th2)
		}

		participated := hs.Do(t, "GET", relRoomPath(room, "/threads?include=participated"), bob.Token, nil)
		wantIDs(t, "bob's threads", relIDs(participated, "chunk"), root1)
		wantIDs(t, "carol's threads", relIDs(hs.Do(t, "GET", relRoomPath(room, "/threads?include=participated"), carol.Token, nil), "chunk"))
		wantIDs(t, "alice's threads", relIDs(hs.Do(t, "GET", relRoomPath(room, "/threads?include=participated"), alice.Token, nil), "chunk"), root2, root1)

		p1 := hs.Do(t, "GET", relRoomPath(room, "/threads?limit=1"), bob.Token, nil)
		wantIDs(t, "threads page 1", relIDs(p1, "chunk"), root2)
		if p1.Str("next_batch") == "" {
			t.Fatalf("no next_batch: %s", p1)
		}
		p2 := hs.Do(t, "GET", relRoomPath(room, "/threads?limit=1&from="+url.QueryEscape(p1.Str("next_batch"))), bob.Token, nil)
		wantIDs(t, "threads page 2", relIDs(p2, "chunk"), root1)
		if p2.Str("next_batch") != "" {
			p3 := hs.Do(t, "GET", relRoomPath(room, "/threads?limit=1&from="+url.QueryEscape(p2.Str("next_batch"))), bob.Token, nil)
			wantIDs(t, "threads page 3", relIDs(p3, "chunk"))
		}

		// The same aggregations on the other endpoints.
		checkRoot1 := func(where string, ev any) {
			t.Helper()
			rel := jsonPath(ev, "unsigned", "m.relations")
			if jsonPath(rel, "m.thread", "count") != float64(2) || jsonPath(rel, "m.thread", "latest_event", "event_id") != bobReply {
				t.Errorf("%s: m.thread %v", where, rel)
			}
			if jsonPath(rel, "m.replace", "event_id") != edit1 || jsonPath(rel, "m.replace", "content", "m.new_content", "body") != "root1!" {
				t.Errorf("%s: m.replace %v", where, rel)
			}
			refs, _ := jsonPath(rel, "m.reference", "chunk").([]any)
			if len(refs) != 1 || jsonPath(refs[0], "event_id") != ref {
				t.Errorf("%s: m.reference %v", where, rel)
			}
			if jsonPath(ev, "content", "body") != "root1" {
				t.Errorf("%s: the original content must be served as sent: %v", where, ev)
			}
		}
		ev := hs.Do(t, "GET", roomPath(room, "/event/"+testharness.PathEscape(root1)), bob.Token, nil)
		checkRoot1("/event", ev.JSON)
		ctx := hs.Do(t, "GET", roomPath(room, "/context/"+testharness.PathEscape(root1)+"?limit=2"), bob.Token, nil)
		checkRoot1("/context", ctx.JSON["event"])
		msgs := hs.Do(t, "GET", roomPath(room, "/messages?dir=b&limit=50"), bob.Token, nil)
		inMessages, inSync := false, false
		for _, e := range msgs.JSON["chunk"].([]any) {
			if jsonPath(e, "event_id") == root1 {
				inMessages = true
				checkRoot1("/messages", e)
			}
		}
		filter := url.QueryEscape(`{"room":{"timeline":{"limit":50}}}`)
		sync := hs.Do(t, "GET", cs+"/sync?filter="+filter, bob.Token, nil)
		events, _ := jsonPath(sync.JSON, "rooms", "join", room, "timeline", "events").([]any)
		for _, e := range events {
			if jsonPath(e, "event_id") == root1 {
				inSync = true
				checkRoot1("/sync", e)
				if jsonPath(e, "unsigned", "m.relations", "m.thread", "latest_event", "room_id") != nil {
					t.Errorf("sync's latest_event carries room_id: %v", e)
				}
			}
		}
		if !inMessages || !inSync {
			t.Errorf("root1 in /messages: %v, in /sync: %v", inMessages, inSync)
		}

		// Errors.
		expect(t, hs.Do(t, "GET", relRoomPath(room, "/threads?include=mine"), bob.Token, nil), 400, "M_INVALID_PARAM")
		expect(t, hs.Do(t, "GET", relRoomPath(room, "/threads?limit=0"), bob.Token, nil), 400, "M_INVALID_PARAM")
		expect(t, hs.Do(t, "GET", relRoomPath(room, "/threads?from=garbage"), bob.Token, nil), 400, "M_INVALID_PARAM")
		guest := hs.RegisterGuest(t)
		expect(t, hs.Do(t, "GET", relRoomPath(room, "/threads"), guest.Token, nil), 403, "M_GUEST_ACCESS_FORBIDDEN")
	})
}

// GET /hierarchy: a depth-first walk of local spaces listing the rooms
// the caller may see (G-25), with children_state, max_depth,
// suggested_only and pagination.
func TestSpaceHierarchy_G25(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		hs := testharness.StartBackend(t, backend)
		alice := hs.RegisterUser(t, "alice")
		bob := hs.RegisterUser(t, "bob")
		space := createRoom(t, hs, alice.Token, map[string]any{"preset": "public_chat", "name": "Space",
			"creation_content": map[string]any{"type": "m.space"}})
		public := createRoom(t, hs, alice.Token, map[string]any{"preset": "public_chat", "name": "Public", "topic": "hello"})
		private := createRoom(t, hs, alice.Token, map[string]any{"preset": "private_chat", "name": "Private"})
		readable := createRoom(t, hs, alice.Token, map[string]any{"preset": "private_chat", "name": "Readable",
			"initial_state": []map[string]any{{"type": "m.room.history_visibility", "content": map[string]any{"history_visibility": "world_readable"}}}})
		knock := createRoom(t, hs, alice.Token, map[string]any{"preset": "private_chat", "name": "Knock",
			"initial_state": []map[string]any{{"type": "m.room.join_rules", "content": map[string]any{"join_rule": "knock"}}}})
		restricted := createRoom(t, hs, alice.Token, map[string]any{"preset": "private_chat", "name": "Restricted",
			"initial_state": []map[string]any{{"type": "m.room.join_rules", "content": map[string]any{"join_rule": "restricted",
				"allow": []map[string]any{{"type": "m.room_membership", "room_id": space}}}}}})
		sub := createRoom(t, hs, alice.Token, map[string]any{"preset": "public_chat", "name": "Subspace",
			"creation_content": map[string]any{"type": "m.space"}})
		deep := createRoom(t, hs, alice.Token, map[string]any{"preset": "public_chat", "name": "Deep"})
		elsewhere := "!elsewhere:example.org"
		child := func(parent, kid string, content map[string]any) {
			t.Helper()
			if content == nil {
				content = map[string]any{"via": []string{"localhost"}}
			}
			time.Sleep(2 * time.Millisecond) // children without order go by timestamp
			if r := putState(t, hs, alice.Token, parent, "m.space.child", kid, content); r.Status != 200 {
				t.Fatalf("m.space.child: %s", r)
			}
		}
		// Ordered: "a" and "b" first, then by timestamp.
		child(space, sub, map[string]any{"via": []string{"localhost"}, "order": "b"})
		child(space, public, map[string]any{"via": []string{"localhost"}, "order": "a", "suggested": true})
		child(space, private, nil)
		child(space, readable, nil)
		child(space, knock, nil)
		child(space, restricted, nil)
		child(space, elsewhere, nil)
		child(space, deep, map[string]any{"via": []string{}}) // no via: not a child
		child(sub, deep, nil)
		child(sub, space, nil) // a cycle

		path := relRoomPath(space, "/hierarchy")
		h := hs.Do(t, "GET", path, bob.Token, nil)
		expect(t, h, 200, "")
		ids := func(r *testharness.Response) []string {
			out := []string{}
			for _, e := range r.JSON["rooms"].([]any) {
				out = append(out, jsonPath(e, "room_id").(string))
			}
			return out
		}
		wantIDs(t, "bob's hierarchy", ids(h), space, public, sub, deep, readable, knock)
		rooms := h.JSON["rooms"].([]any)
		top := rooms[0]
		if jsonPath(top, "room_type") != "m.space" || jsonPath(top, "name") != "Space" || jsonPath(top, "num_joined_members") != float64(1) ||
			jsonPath(top, "join_rule") != "public" || jsonPath(top, "world_readable") != false || jsonPath(top, "guest_can_join") != false {
			t.Errorf("space summary: %v", top)
		}
		if _, ok := top.(map[string]any)["membership"]; ok {
			t.Errorf("hierarchy rooms carry no membership: %v", top)
		}
		cs0, _ := jsonPath(top, "children_state").([]any)
		var kids []string
		for _, c := range cs0 {
			kids = append(kids, jsonPath(c, "state_key").(string))
			if jsonPath(c, "type") != "m.space.child" || jsonPath(c, "sender") != alice.UserID || jsonPath(c, "origin_server_ts") == nil || jsonPath(c, "event_id") != nil {
				t.Errorf("stripped child: %v", c)
			}
		}
		wantIDs(t, "children_state", kids, public, sub, private, readable, knock, restricted, elsewhere)
		if jsonPath(rooms[1], "topic") != "hello" || len(jsonPath(rooms[1], "children_state").([]any)) != 0 {
			t.Errorf("a plain room: %v", rooms[1])
		}

		// Joining the space satisfies the restricted room's allow rule.
		mustJoin(t, hs, bob.Token, space)
		wantIDs(t, "bob in the space", ids(hs.Do(t, "GET", path, bob.Token, nil)), space, public, sub, deep, readable, knock, restricted)
		wantIDs(t, "alice sees all", ids(hs.Do(t, "GET", path, alice.Token, nil)), space, public, sub, deep, private, readable, knock, restricted)

		wantIDs(t, "max_depth=1", ids(hs.Do(t, "GET", path+"?max_depth=1", bob.Token, nil)), space, public, sub, readable, knock, restricted)
		wantIDs(t, "max_depth=0", ids(hs.Do(t, "GET", path+"?max_depth=0", bob.Token, nil)), space)
		wantIDs(t, "suggested_only", ids(hs.Do(t, "GET", path+"?suggested_only=true", bob.Token, nil)), space, public)

		// Pages of three.
		var got []string
		from := ""
		for i := 0; i < 5; i++ {
			q := "?limit=3"
			if from != "" {
				q += "&from=" + url.QueryEscape(from)
			}
			p := hs.Do(t, "GET", path+q, bob.Token, nil)
			expect(t, p, 200, "")
			got = append(got, ids(p)...)
			if from = p.Str("next_batch"); from == "" {
				break
			}
			expect(t, hs.Do(t, "GET", path+"?limit=3&max_depth=1&from="+url.QueryEscape(from), bob.Token, nil), 400, "M_INVALID_PARAM")
			expect(t, hs.Do(t, "GET", path+"?limit=3&suggested_only=true&from="+url.QueryEscape(from), bob.Token, nil), 400, "M_INVALID_PARAM")
		}
		wantIDs(t, "paged hierarchy", got, space, public, sub, deep, readable, knock, restricted)

		// A subspace as root; rooms the caller may not view are refused.
		wantIDs(t, "from the subspace", ids(hs.Do(t, "GET", relRoomPath(sub, "/hierarchy"), bob.Token, nil)), sub, deep, space, public, readable, knock, restricted)
		expect(t, hs.Do(t, "GET", relRoomPath(private, "/hierarchy"), bob.Token, nil), 403, "M_FORBIDDEN")
		expect(t, hs.Do(t, "GET", relRoomPath("!nowhere:localhost", "/hierarchy"), bob.Token, nil), 403, "M_FORBIDDEN")
		expect(t, hs.Do(t, "GET", path+"?limit=0", bob.Token, nil), 400, "M_INVALID_PARAM")
		expect(t, hs.Do(t, "GET", path+"?max_depth=-1", bob.Token, nil), 400, "M_INVALID_PARAM")
		expect(t, hs.Do(t, "GET", path+"?suggested_only=maybe", bob.Token, nil), 400, "M_INVALID_PARAM")
		expect(t, hs.Do(t, "GET", path+"?from=garbage", bob.Token, nil), 400, "M_INVALID_PARAM")
		guest := hs.RegisterGuest(t)
		expect(t, hs.Do(t, "GET", path, guest.Token, nil), 403, "M_GUEST_ACCESS_FORBIDDEN")
	})
}

// GET /timestamp_to_event: the nearest event at or after (f) or at or
// before (b) a time.
func TestTimestampToEvent(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		hs := testharness.StartBackend(t, backend)
		alice := hs.RegisterUser(t, "alice")
		bob := hs.RegisterUser(t, "bob")
		room := createRoom(t, hs, alice.Token, nil)
		var ids []string
		var stamps []int64
		for i := 0; i < 3; i++ {
			time.Sleep(5 * time.Millisecond)
			id := sendMessage(t, hs, alice.Token, room, fmt.Sprint("m", i))
			ev := hs.Do(t, "GET", roomPath(room, "/event/"+testharness.PathEscape(id)), alice.Token, nil)
			ids = append(ids, id)
			stamps = append(stamps, int64(ev.JSON["origin_server_ts"].(float64)))
			time.Sleep(5 * time.Millisecond)
		}
		jump := func(ts int64, dir string) *testharness.Response {
			return hs.Do(t, "GET", relRoomPath(room, fmt.Sprintf("/timestamp_to_event?ts=%d&dir=%s", ts, dir)), alice.Token, nil)
		}
		for _, c := range []struct {
			ts   int64
			dir  string
			want string
		}{
			{stamps[1], "f", ids[1]}, {stamps[1], "b", ids[1]},
			{stamps[1] + 1, "f", ids[2]}, {stamps[1] - 1, "b", ids[0]},
			{stamps[2] + 60000, "b", ids[2]},
		} {
			r := jump(c.ts, c.dir)
			if r.Status != 200 || r.Str("event_id") != c.want {
				t.Errorf("ts %d dir %s: %s, want %s", c.ts, c.dir, r, c.want)
			}
		}
		if r := jump(stamps[1], "f"); r.JSON["origin_server_ts"] != float64(stamps[1]) {
			t.Errorf("origin_server_ts: %s", r)
		}
		expect(t, jump(stamps[2]+60000, "f"), 404, "M_NOT_FOUND")
		expect(t, jump(1, "b"), 404, "M_NOT_FOUND")
		base := relRoomPath(room, "/timestamp_to_event")
		expect(t, hs.Do(t, "GET", base+"?dir=f", alice.Token, nil), 400, "M_MISSING_PARAM")
		expect(t, hs.Do(t, "GET", base+"?ts=soon&dir=f", alice.Token, nil), 400, "M_INVALID_PARAM")
		expect(t, hs.Do(t, "GET", base+"?ts=1", alice.Token, nil), 400, "M_MISSING_PARAM")
		expect(t, hs.Do(t, "GET", base+"?ts=1&dir=up", alice.Token, nil), 400, "M_INVALID_PARAM")
		expect(t, hs.Do(t, "GET", base+"?ts=1&dir=f", bob.Token, nil), 403, "M_FORBIDDEN")
		guest := hs.RegisterGuest(t)
		expect(t, hs.Do(t, "GET", base+"?ts=1&dir=f", guest.Token, nil), 403, "M_GUEST_ACCESS_FORBIDDEN")
	})
}

// With relations, threads, hierarchy and timestamp_to_event served,
// /versions reaches v1.6.
func TestVersionsReachV16(t *testing.T) {
	hs := testharness.StartBackend(t, "sqlite")
	r := hs.Do(t, "GET", "/_matrix/client/versions", "", nil)
	var got []string
	for _, v := range r.JSON["versions"].([]any) {
		got = append(got, v.(string))
	}
	t.Logf("advertised: %v", got)
	for _, v := range []string{"v1.1", "v1.2", "v1.3", "v1.4", "v1.5", "v1.6"} {
		if !slices.Contains(got, v) {
			t.Errorf("/versions lacks %s: %v", v, got)
		}
	}
}
