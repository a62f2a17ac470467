package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/url"
	"slices"
	"strings"
	"testing"

	"foyer/internal/clientdata"
	"foyer/internal/server"
	"foyer/internal/storage"
	"foyer/internal/testharness"
)

// clientDataRoom is a public room guests may join, with alice as creator,
// bob joined and two messages from alice.
type clientDataRoom struct {
	hs         *testharness.Homeserver
	alice, bob testharness.Account
	room       string
	e1, e2     string
}

func newClientDataRoom(t *testing.T, backend string) clientDataRoom {
	t.Helper()
	hs := testharness.StartBackend(t, backend)
	alice, bob := hs.RegisterUser(t, "alice"), hs.RegisterUser(t, "bob")
	room := createRoom(t, hs, alice.Token, map[string]any{
		"preset":        "public_chat",
		"initial_state": []map[string]any{{"type": "m.room.guest_access", "content": map[string]any{"guest_access": "can_join"}}},
	})
	mustJoin(t, hs, bob.Token, room)
	return clientDataRoom{
		hs: hs, alice: alice, bob: bob, room: room,
		e1: sendMessage(t, hs, alice.Token, room, "one"),
		e2: sendMessage(t, hs, alice.Token, room, "two"),
	}
}

func typingPath(roomID, userID string) string {
	return roomPath(roomID, "/typing/"+testharness.PathEscape(userID))
}

func receiptPath(roomID, typ, eventID string) string {
	return roomPath(roomID, "/receipt/"+typ+"/"+url.PathEscape(eventID))
}

func accountDataPath(userID, typ string) string {
	return cs + "/user/" + testharness.PathEscape(userID) + "/account_data/" + typ
}

func roomAccountDataPath(userID, roomID, typ string) string {
	return cs + "/user/" + testharness.PathEscape(userID) + "/rooms/" + testharness.PathEscape(roomID) + "/account_data/" + typ
}

func tagsPath(userID, roomID string) string {
	return cs + "/user/" + testharness.PathEscape(userID) + "/rooms/" + testharness.PathEscape(roomID) + "/tags"
}

// receipts is what /sync would deliver to forUser for the room in
// positions (since, to].
func receipts(t *testing.T, hs *testharness.Homeserver, roomID string, since, to int64, forUser string) clientdata.ReceiptContent {
	t.Helper()
	all, err := hs.Server.Services.ClientData.ReceiptsSince(context.Background(), []string{roomID}, since, to, forUser)
	if err != nil {
		t.Fatalf("ReceiptsSince: %v", err)
	}
	return all[roomID]
}

// receiptOf finds user's receipt of typ in content: its event and thread.
func receiptOf(c clientdata.ReceiptContent, typ, userID string) (eventIDs []string, threads []string) {
	for ev, byType := range c {
		if r, ok := byType[typ][userID]; ok {
			eventIDs = append(eventIDs, ev)
			threads = append(threads, r.ThreadID)
		}
	}
	return
}

// streamMarker writes a global account data entry and returns its stream
// position: a point in the shared stream between writes.
func streamMarker(t *testing.T, hs *testharness.Homeserver, acct testharness.Account) int64 {
	t.Helper()
	expect(t, hs.Do(t, "PUT", accountDataPath(acct.UserID, "org.example.marker"), acct.Token, map[string]any{"n": txnCounter.Add(1)}), 200, "")
	ch, err := hs.Server.Services.ClientData.AccountDataSince(context.Background(), acct.UserID, 0, math.MaxInt64)
	if err != nil || ch.MaxPos == 0 {
		t.Fatalf("AccountDataSince: %v %+v", err, ch)
	}
	return ch.MaxPos
}

func TestTypingEndpoint_G52(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		c := newClientDataRoom(t, backend)
		hs, alice, bob, room := c.hs, c.alice, c.bob, c.room
		typing := hs.Server.Services.Typing
		v0 := typing.RoomVersion(room)

		expect(t, hs.Do(t, "PUT", typingPath(room, alice.UserID), alice.Token, map[string]any{"typing": true, "timeout": 30000}), 200, "")
		expect(t, hs.Do(t, "PUT", typingPath(room, bob.UserID), bob.Token, map[string]any{"typing": true}), 200, "")
		if got := typing.Current(room); !slices.Equal(got, []string{alice.UserID, bob.UserID}) {
			t.Fatalf("typing: %v", got)
		}
		if typing.RoomVersion(room) <= v0 {
			t.Fatal("room version did not move")
		}
		expect(t, hs.Do(t, "PUT", typingPath(room, alice.UserID), alice.Token, map[string]any{"typing": false}), 200, "")
		if got := typing.Current(room); !slices.Equal(got, []string{bob.UserID}) {
			t.Fatalf("after stop: %v", got)
		}
		// A huge timeout is accepted (and capped).
		expect(t, hs.Do(t, "PUT", typingPath(room, alice.UserID), alice.Token, map[string]any{"typing": true, "timeout": int64(1) << 50}), 200, "")

		// Only for oneself.
		expect(t, hs.Do(t, "PUT", typingPath(room, bob.UserID), alice.Token, map[string]any{"typing": true}), 403, "M_FORBIDDEN")
		// Only in a room one is joined to.
		carol := hs.RegisterUser(t, "carol")
		expect(t, hs.Do(t, "PUT", typingPath(room, carol.UserID), carol.Token, map[string]any{"typing": true}), 403, "M_FORBIDDEN")
		expect(t, hs.Do(t, "PUT", typingPath("!nowhere:localhost", carol.UserID), carol.Token, map[string]any{"typing": true}), 403, "M_FORBIDDEN")
		expect(t, hs.Do(t, "PUT", typingPath("not-a-room", carol.UserID), carol.Token, map[string]any{"typing": true}), 400, "M_INVALID_PARAM")
		// Bodies.
		expect(t, hs.Do(t, "PUT", typingPath(room, alice.UserID), alice.Token, map[string]any{"typing": "yes"}), 400, "M_BAD_JSON")
		expect(t, hs.Do(t, "PUT", typingPath(room, alice.UserID), alice.Token, map[string]any{"typing": true, "timeout": "soon"}), 400, "M_BAD_JSON")
		expect(t, hs.Do(t, "PUT", typingPath(room, alice.UserID), alice.Token, []any{true}), 400, "M_BAD_JSON")
		expect(t, hs.Do(t, "PUT", typingPath(room, alice.UserID), alice.Token, map[string]any{}), 400, "M_MISSING_PARAM")
		expect(t, hs.Do(t, "PUT", typingPath(room, alice.UserID), alice.Token, "{typing"), 400, "M_NOT_JSON")
		expect(t, hs.Do(t, "PUT", typingPath(room, alice.UserID), "", map[string]any{"typing": true}), 401, "M_MISSING_TOKEN")

		// Leaving the room ends typing there.
		expect(t, hs.Do(t, "POST", roomPath(room, "/leave"), bob.Token, map[string]any{}), 200, "")
		if got := typing.Current(room); slices.Contains(got, bob.UserID) {
			t.Fatalf("bob left but still types: %v", got)
		}

		// An initial sync shows a room's typing list once the room has
		// seen typing, empty when everyone stopped; a room never typed in
		// has none.
		expect(t, hs.Do(t, "PUT", typingPath(room, alice.UserID), alice.Token, map[string]any{"typing": false}), 200, "")
		quiet := createRoom(t, hs, alice.Token, map[string]any{})
		initial, raw := doSync(t, hs, alice.Token, "")
		typingIn := func(roomID string) (users []any, seen bool) {
			for _, e := range initial.Rooms.Join[roomID].Ephemeral.Events {
				if e.Type == "m.typing" {
					users, _ = e.Content["user_ids"].([]any)
					return users, true
				}
			}
			return nil, false
		}
		if users, seen := typingIn(room); !seen || users == nil || len(users) != 0 {
			t.Errorf("the initial sync lacks the room's empty typing list: %s", raw)
		}
		if _, seen := typingIn(quiet); seen {
			t.Errorf("the initial sync has a typing list for a room never typed in: %s", raw)
		}
	})
}

func TestReceiptEndpoint(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		c := newClientDataRoom(t, backend)
		hs, alice, bob, room, e1, e2 := c.hs, c.alice, c.bob, c.room, c.e1, c.e2
		const all = math.MaxInt64

		expect(t, hs.Do(t, "POST", receiptPath(room, "m.read", e1), bob.Token, map[string]any{}), 200, "")
		if evs, threads := receiptOf(receipts(t, hs, room, 0, all, alice.UserID), "m.read", bob.UserID); !slices.Equal(evs, []string{e1}) || threads[0] != "" {
			t.Fatalf("bob's receipt: %v %v", evs, threads)
		}
		content := receipts(t, hs, room, 0, all, alice.UserID)
		if ts := content[e1]["m.read"][bob.UserID].TS; ts <= 0 {
			t.Fatalf("receipt without ts: %+v", content)
		}
		// The EDU content shape: {eventId: {m.read: {userId: {ts}}}}.
		raw, _ := json.Marshal(content)
		var shape map[string]map[string]map[string]map[string]any
		if err := json.Unmarshal(raw, &shape); err != nil || shape[e1]["m.read"][bob.UserID]["ts"] == nil {
			t.Fatalf("content shape: %s", raw)
		}
		if _, has := shape[e1]["m.read"][bob.UserID]["thread_id"]; has {
			t.Fatalf("unthreaded receipt has a thread_id: %s", raw)
		}

		// A later receipt replaces it; the range after the first write
		// holds only the new one, the range before holds nothing now.
		mark := streamMarker(t, hs, bob)
		expect(t, hs.Do(t, "POST", receiptPath(room, "m.read", e2), bob.Token, nil), 200, "") // no body: older clients
		if evs, _ := receiptOf(receipts(t, hs, room, 0, all, alice.UserID), "m.read", bob.UserID); !slices.Equal(evs, []string{e2}) {
			t.Fatalf("after replacement: %v", evs)
		}
		if evs, _ := receiptOf(receipts(t, hs, room, mark, all, alice.UserID), "m.read", bob.UserID); !slices.Equal(evs, []string{e2}) {
			t.Fatalf("since the marker: %v", evs)
		}
		if evs, _ := receiptOf(receipts(t, hs, room, 0, mark, alice.UserID), "m.read", bob.UserID); len(evs) != 0 {
			t.Fatalf("the replaced receipt is still served: %v", evs)
		}
		if got := receipts(t, hs, room, all-1, all, alice.UserID); got != nil {
			t.Fatalf("an empty range gave %v", got)
		}

		// A receipt never moves back to an earlier event: the request
		// succeeds, the receipt stays.
		expect(t, hs.Do(t, "POST", receiptPath(room, "m.read", e1), bob.Token, map[string]any{}), 200, "")
		if evs, _ := receiptOf(receipts(t, hs, room, 0, all, alice.UserID), "m.read", bob.UserID); !slices.Equal(evs, []string{e2}) {
			t.Fatalf("a receipt moved back: %v", evs)
		}

		// Threaded receipts live beside the unthreaded one.
		expect(t, hs.Do(t, "POST", receiptPath(room, "m.read", e1), bob.Token, map[string]any{"thread_id": "main"}), 200, "")
		content = receipts(t, hs, room, 0, all, alice.UserID)
		if content[e1]["m.read"][bob.UserID].ThreadID != "main" || content[e2]["m.read"][bob.UserID].ThreadID != "" {
			t.Fatalf("threaded and unthreaded: %+v", content)
		}
		expect(t, hs.Do(t, "POST", receiptPath(room, "m.read", e2), bob.Token, map[string]any{"thread_id": e1}), 200, "")

		// Private receipts are for their owner only.
		expect(t, hs.Do(t, "POST", receiptPath(room, "m.read.private", e2), alice.Token, map[string]any{}), 200, "")
		if evs, _ := receiptOf(receipts(t, hs, room, 0, all, alice.UserID), "m.read.private", alice.UserID); !slices.Equal(evs, []string{e2}) {
			t.Fatalf("alice cannot see her private receipt: %v", evs)
		}
		if evs, _ := receiptOf(receipts(t, hs, room, 0, all, bob.UserID), "m.read.private", alice.UserID); len(evs) != 0 {
			t.Fatalf("bob sees alice's private receipt: %v", evs)
		}

		// m.fully_read through this endpoint is the read marker.
		expect(t, hs.Do(t, "POST", receiptPath(room, "m.fully_read", e1), bob.Token, map[string]any{}), 200, "")
		fr := hs.Do(t, "GET", roomAccountDataPath(bob.UserID, room, "m.fully_read"), bob.Token, nil)
		expect(t, fr, 200, "")
		if fr.Str("event_id") != e1 {
			t.Fatalf("m.fully_read: %s", fr)
		}
		for _, byType := range receipts(t, hs, room, 0, all, bob.UserID) {
			if _, ok := byType["m.fully_read"]; ok {
				t.Fatal("m.fully_read appears as a receipt")
			}
		}

		// Refusals.
		carol := hs.RegisterUser(t, "carol")
		expect(t, hs.Do(t, "POST", receiptPath(room, "m.read", e1), carol.Token, map[string]any{}), 403, "M_FORBIDDEN")
		expect(t, hs.Do(t, "POST", receiptPath("!nowhere:localhost", "m.read", e1), bob.Token, map[string]any{}), 403, "M_FORBIDDEN")
		expect(t, hs.Do(t, "POST", receiptPath(room, "m.read", "$nothing"), bob.Token, map[string]any{}), 404, "M_NOT_FOUND")
		other := createRoom(t, hs, alice.Token, nil)
		elsewhere := sendMessage(t, hs, alice.Token, other, "elsewhere")
		expect(t, hs.Do(t, "POST", receiptPath(room, "m.read", elsewhere), alice.Token, map[string]any{}), 404, "M_NOT_FOUND")
		expect(t, hs.Do(t, "POST", receiptPath(room, "m.unread", e1), bob.Token, map[string]any{}), 400, "M_INVALID_PARAM")
		expect(t, hs.Do(t, "POST", receiptPath(room, "m.read", e1), bob.Token, map[string]any{"thread_id": 5}), 400, "M_INVALID_PARAM")
		expect(t, hs.Do(t, "POST", receiptPath(room, "m.read", e1), bob.Token, map[string]any{"thread_id": ""}), 400, "M_INVALID_PARAM")
		expect(t, hs.Do(t, "POST", receiptPath(room, "m.read", e1), bob.Token, map[string]any{"thread_id": "side"}), 400, "M_INVALID_PARAM")
		expect(t, hs.Do(t, "POST", receiptPath(room, "m.fully_read", e1), bob.Token, map[string]any{"thread_id": "main"}), 400, "M_INVALID_PARAM")
		expect(t, hs.Do(t, "POST", receiptPath(room, "m.read", e1), bob.Token, []any{}), 400, "M_BAD_JSON")
		expect(t, hs.Do(t, "POST", receiptPath(room, "m.read", e1), bob.Token, "not json"), 400, "M_NOT_JSON")
		expect(t, hs.Do(t, "POST", receiptPath("bad", "m.read", e1), bob.Token, map[string]any{}), 400, "M_INVALID_PARAM")
	})
}

func TestReadMarkerEndpoint(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		c := newClientDataRoom(t, backend)
		hs, alice, bob, room, e1, e2 := c.hs, c.alice, c.bob, c.room, c.e1, c.e2
		const all = math.MaxInt64
		markers := roomPath(room, "/read_markers")

		expect(t, hs.Do(t, "POST", markers, bob.Token, map[string]any{"m.fully_read": e1, "m.read": e2, "m.read.private": e2}), 200, "")
		fr := hs.Do(t, "GET", roomAccountDataPath(bob.UserID, room, "m.fully_read"), bob.Token, nil)
		if fr.Status != 200 || fr.Str("event_id") != e1 {
			t.Fatalf("m.fully_read: %s", fr)
		}
		if evs, _ := receiptOf(receipts(t, hs, room, 0, all, alice.UserID), "m.read", bob.UserID); !slices.Equal(evs, []string{e2}) {
			t.Fatalf("m.read: %v", evs)
		}
		if evs, _ := receiptOf(receipts(t, hs, room, 0, all, bob.UserID), "m.read.private", bob.UserID); !slices.Equal(evs, []string{e2}) {
			t.Fatalf("m.read.private for bob: %v", evs)
		}
		if evs, _ := receiptOf(receipts(t, hs, room, 0, all, alice.UserID), "m.read.private", bob.UserID); len(evs) != 0 {
			t.Fatalf("m.read.private leaked to alice: %v", evs)
		}
		// Each part is optional; the marker moves.
		expect(t, hs.Do(t, "POST", markers, bob.Token, map[string]any{"m.fully_read": e2}), 200, "")
		if fr := hs.Do(t, "GET", roomAccountDataPath(bob.UserID, room, "m.fully_read"), bob.Token, nil); fr.Str("event_id") != e2 {
			t.Fatalf("marker did not move: %s", fr)
		}
		// It never moves back to an earlier event.
		expect(t, hs.Do(t, "POST", markers, bob.Token, map[string]any{"m.fully_read": e1}), 200, "")
		expect(t, hs.Do(t, "POST", receiptPath(room, "m.fully_read", e1), bob.Token, map[string]any{}), 200, "")
		if fr := hs.Do(t, "GET", roomAccountDataPath(bob.UserID, room, "m.fully_read"), bob.Token, nil); fr.Str("event_id") != e2 {
			t.Fatalf("marker moved back: %s", fr)
		}
		// The marker reaches sync as room account data.
		ch, err := hs.Server.Services.ClientData.AccountDataSince(context.Background(), bob.UserID, 0, all)
		if err != nil || len(ch.Rooms[room]) != 1 || ch.Rooms[room][0].Type != "m.fully_read" {
			t.Fatalf("AccountDataSince: %v %+v", err, ch)
		}
		expect(t, hs.Do(t, "POST", markers, bob.Token, map[string]any{}), 200, "")

		// Refusals; nothing is written when any event is unknown.
		carol := hs.RegisterUser(t, "carol")
		expect(t, hs.Do(t, "POST", markers, carol.Token, map[string]any{"m.fully_read": e1}), 403, "M_FORBIDDEN")
		expect(t, hs.Do(t, "POST", markers, bob.Token, map[string]any{"m.fully_read": e1, "m.read": "$nothing"}), 404, "M_NOT_FOUND")
		if fr := hs.Do(t, "GET", roomAccountDataPath(bob.UserID, room, "m.fully_read"), bob.Token, nil); fr.Str("event_id") != e2 {
			t.Fatalf("a refused request moved the marker: %s", fr)
		}
		expect(t, hs.Do(t, "POST", markers, bob.Token, map[string]any{"m.fully_read": 7}), 400, "M_BAD_JSON")
		expect(t, hs.Do(t, "POST", markers, bob.Token, "{"), 400, "M_NOT_JSON")
		expect(t, hs.Do(t, "POST", roomPath("nope", "/read_markers"), bob.Token, map[string]any{}), 400, "M_INVALID_PARAM")
		// Clients cannot set the marker as account data (405 M_BAD_JSON).
		expect(t, hs.Do(t, "PUT", roomAccountDataPath(bob.UserID, room, "m.fully_read"), bob.Token, map[string]any{"event_id": e1}), 405, "M_BAD_JSON")
	})
}

func TestAccountDataEndpoints(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		hs := testharness.StartBackend(t, backend)
		alice, bob := hs.RegisterUser(t, "alice"), hs.RegisterUser(t, "bob")
		room := createRoom(t, hs, alice.Token, nil)
		ctx := context.Background()

		// Global: missing, set, read, replace.
		expect(t, hs.Do(t, "GET", accountDataPath(alice.UserID, "org.example.cfg"), alice.Token, nil), 404, "M_NOT_FOUND")
		expect(t, hs.Do(t, "PUT", accountDataPath(alice.UserID, "org.example.cfg"), alice.Token, map[string]any{"theme": "dark"}), 200, "")
		got := hs.Do(t, "GET", accountDataPath(alice.UserID, "org.example.cfg"), alice.Token, nil)
		expect(t, got, 200, "")
		if got.Str("theme") != "dark" {
			t.Fatalf("global: %s", got)
		}
		mark := streamMarker(t, hs, alice)
		expect(t, hs.Do(t, "PUT", accountDataPath(alice.UserID, "org.example.cfg"), alice.Token, map[string]any{"theme": "light"}), 200, "")
		if got := hs.Do(t, "GET", accountDataPath(alice.UserID, "org.example.cfg"), alice.Token, nil); got.Str("theme") != "light" {
			t.Fatalf("replaced: %s", got)
		}

		// Per room, with no fallback between global and room data.
		expect(t, hs.Do(t, "GET", roomAccountDataPath(alice.UserID, room, "org.example.cfg"), alice.Token, nil), 404, "M_NOT_FOUND")
		expect(t, hs.Do(t, "PUT", roomAccountDataPath(alice.UserID, room, "org.example.room"), alice.Token, map[string]any{"pinned": true}), 200, "")
		got = hs.Do(t, "GET", roomAccountDataPath(alice.UserID, room, "org.example.room"), alice.Token, nil)
		if got.Status != 200 || got.JSON["pinned"] != true {
			t.Fatalf("room: %s", got)
		}
		expect(t, hs.Do(t, "GET", accountDataPath(alice.UserID, "org.example.room"), alice.Token, nil), 404, "M_NOT_FOUND")

		// What sync sees: since the marker, the replaced global entry and
		// the room entry; everything from 0 has the marker too.
		ch, err := hs.Server.Services.ClientData.AccountDataSince(ctx, alice.UserID, mark, math.MaxInt64)
		if err != nil || len(ch.Global) != 1 || ch.Global[0].Type != "org.example.cfg" || len(ch.Rooms[room]) != 1 {
			t.Fatalf("since marker: %v %+v", err, ch)
		}
		if string(ch.Global[0].Content) != `{"theme":"light"}` || ch.Rooms[room][0].Type != "org.example.room" {
			t.Fatalf("since marker content: %s %+v", ch.Global[0].Content, ch.Rooms)
		}
		ch, _ = hs.Server.Services.ClientData.AccountDataSince(ctx, alice.UserID, 0, math.MaxInt64)
		if len(ch.Global) != 2 {
			t.Fatalf("from 0: %+v", ch)
		}
		if ch, _ := hs.Server.Services.ClientData.AccountDataSince(ctx, bob.UserID, 0, math.MaxInt64); len(ch.Global)+len(ch.Rooms) != 0 {
			t.Fatalf("bob sees alice's data: %+v", ch)
		}

		// Only one's own.
		for _, p := range []string{accountDataPath(alice.UserID, "org.example.cfg"), roomAccountDataPath(alice.UserID, room, "org.example.room")} {
			expect(t, hs.Do(t, "GET", p, bob.Token, nil), 403, "M_FORBIDDEN")
			expect(t, hs.Do(t, "PUT", p, bob.Token, map[string]any{"x": 1}), 403, "M_FORBIDDEN")
		}
		// Bodies must be JSON objects.
		for _, p := range []string{accountDataPath(alice.UserID, "org.example.x"), roomAccountDataPath(alice.UserID, room, "org.example.x")} {
			expect(t, hs.Do(t, "PUT", p, alice.Token, []any{1, 2}), 400, "M_BAD_JSON")
			expect(t, hs.Do(t, "PUT", p, alice.Token, `"text"`), 400, "M_BAD_JSON")
			expect(t, hs.Do(t, "PUT", p, alice.Token, "not json"), 400, "M_NOT_JSON")
			expect(t, hs.Do(t, "PUT", p, alice.Token, ""), 400, "M_NOT_JSON")
		}
		// Server-managed types: 405 M_BAD_JSON, globally and per room.
		for _, typ := range []string{"m.fully_read", "m.push_rules"} {
			expect(t, hs.Do(t, "PUT", accountDataPath(alice.UserID, typ), alice.Token, map[string]any{"event_id": "$x"}), 405, "M_BAD_JSON")
			expect(t, hs.Do(t, "PUT", roomAccountDataPath(alice.UserID, room, typ), alice.Token, map[string]any{"event_id": "$x"}), 405, "M_BAD_JSON")
		}
		// Room IDs are checked.
		expect(t, hs.Do(t, "GET", roomAccountDataPath(alice.UserID, "@notaroom:localhost", "x"), alice.Token, nil), 400, "M_INVALID_PARAM")
		expect(t, hs.Do(t, "PUT", roomAccountDataPath(alice.UserID, "@notaroom:localhost", "x"), alice.Token, map[string]any{}), 400, "M_INVALID_PARAM")
		expect(t, hs.Do(t, "GET", accountDataPath(alice.UserID, "org.example.cfg"), "", nil), 401, "M_MISSING_TOKEN")
	})
}

func TestRoomTagEndpoints(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		hs := testharness.StartBackend(t, backend)
		alice, bob := hs.RegisterUser(t, "alice"), hs.RegisterUser(t, "bob")
		room := createRoom(t, hs, alice.Token, nil)
		tags := tagsPath(alice.UserID, room)
		tagMap := func() map[string]any {
			t.Helper()
			r := hs.Do(t, "GET", tags, alice.Token, nil)
			expect(t, r, 200, "")
			m, ok := r.JSON["tags"].(map[string]any)
			if !ok {
				t.Fatalf("tags: %s", r)
			}
			return m
		}
		if m := tagMap(); len(m) != 0 {
			t.Fatalf("new room has tags: %v", m)
		}
		expect(t, hs.Do(t, "PUT", tags+"/m.favourite", alice.Token, map[string]any{"order": 0.25}), 200, "")
		expect(t, hs.Do(t, "PUT", tags+"/u.work", alice.Token, map[string]any{}), 200, "")
		m := tagMap()
		fav, _ := m["m.favourite"].(map[string]any)
		work, _ := m["u.work"].(map[string]any)
		if len(m) != 2 || fav["order"] != 0.25 || work == nil || len(work) != 0 {
			t.Fatalf("tags: %v", m)
		}
		// The tags are the room account data m.tag.
		ad := hs.Do(t, "GET", roomAccountDataPath(alice.UserID, room, "m.tag"), alice.Token, nil)
		if inner, _ := ad.JSON["tags"].(map[string]any); ad.Status != 200 || len(inner) != 2 {
			t.Fatalf("m.tag: %s", ad)
		}
		// Re-tagging replaces; deleting removes; deleting twice is fine.
		expect(t, hs.Do(t, "PUT", tags+"/m.favourite", alice.Token, map[string]any{"order": 1}), 200, "")
		expect(t, hs.Do(t, "DELETE", tags+"/u.work", alice.Token, nil), 200, "")
		expect(t, hs.Do(t, "DELETE", tags+"/u.work", alice.Token, nil), 200, "")
		m = tagMap()
		if fav, _ := m["m.favourite"].(map[string]any); len(m) != 1 || fav["order"] != 1.0 {
			t.Fatalf("after replace and delete: %v", m)
		}
		ch, err := hs.Server.Services.ClientData.AccountDataSince(context.Background(), alice.UserID, 0, math.MaxInt64)
		if err != nil || len(ch.Rooms[room]) != 1 || ch.Rooms[room][0].Type != "m.tag" {
			t.Fatalf("sync view of tags: %v %+v", err, ch)
		}

		// Refusals.
		expect(t, hs.Do(t, "PUT", tags+"/u.x", alice.Token, map[string]any{"order": "first"}), 400, "M_BAD_JSON")
		expect(t, hs.Do(t, "PUT", tags+"/u.x", alice.Token, map[string]any{"order": 2}), 400, "M_INVALID_PARAM")
		expect(t, hs.Do(t, "PUT", tags+"/u.x", alice.Token, []any{}), 400, "M_BAD_JSON")
		expect(t, hs.Do(t, "PUT", tags+"/u.x", alice.Token, "nope"), 400, "M_NOT_JSON")
		expect(t, hs.Do(t, "GET", tags, bob.Token, nil), 403, "M_FORBIDDEN")
		expect(t, hs.Do(t, "PUT", tags+"/u.x", bob.Token, map[string]any{}), 403, "M_FORBIDDEN")
		expect(t, hs.Do(t, "DELETE", tags+"/m.favourite", bob.Token, nil), 403, "M_FORBIDDEN")
		expect(t, hs.Do(t, "GET", tagsPath(alice.UserID, "nope"), alice.Token, nil), 400, "M_INVALID_PARAM")
		if m := tagMap(); len(m) != 1 {
			t.Fatalf("refusals changed tags: %v", m)
		}
	})
}

// G-52: guests may send typing, receipts and read markers (a deliberate
// extension), but account data and tags stay closed to them (G-13).
func TestGuestTypingReceiptsReadMarkersAccountDataTags_G52(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		c := newClientDataRoom(t, backend)
		hs, alice, room, e1, e2 := c.hs, c.alice, c.room, c.e1, c.e2
		g := hs.RegisterGuest(t)
		// Not joined yet: refused like anyone.
		expect(t, hs.Do(t, "PUT", typingPath(room, g.UserID), g.Token, map[string]any{"typing": true}), 403, "M_FORBIDDEN")
		mustJoin(t, hs, g.Token, room)

		expect(t, hs.Do(t, "PUT", typingPath(room, g.UserID), g.Token, map[string]any{"typing": true, "timeout": 5000}), 200, "")
		if !slices.Contains(hs.Server.Services.Typing.Current(room), g.UserID) {
			t.Fatal("guest typing not recorded")
		}
		expect(t, hs.Do(t, "POST", receiptPath(room, "m.read", e1), g.Token, map[string]any{}), 200, "")
		expect(t, hs.Do(t, "POST", roomPath(room, "/read_markers"), g.Token, map[string]any{"m.fully_read": e2, "m.read": e2}), 200, "")
		if evs, _ := receiptOf(receipts(t, hs, room, 0, math.MaxInt64, alice.UserID), "m.read", g.UserID); !slices.Equal(evs, []string{e2}) {
			t.Fatalf("guest receipt: %v", evs)
		}
		// What clients see: the member's sync shows the guest typing and
		// its receipt; the guest's own sync receives both kinds too, and
		// its fully-read marker.
		s, raw := doSync(t, hs, alice.Token, "")
		var typingSeen, receiptSeen bool
		for _, e := range s.Rooms.Join[room].Ephemeral.Events {
			switch e.Type {
			case "m.typing":
				users, _ := e.Content["user_ids"].([]any)
				typingSeen = slices.Contains(users, any(g.UserID))
			case "m.receipt":
				receiptSeen = strings.Contains(string(mustJSON(t, e.Content)), g.UserID)
			}
		}
		if !typingSeen || !receiptSeen {
			t.Fatalf("the member's sync lacks the guest's typing (%v) or receipt (%v): %s", typingSeen, receiptSeen, raw)
		}
		gs, graw := doSync(t, hs, g.Token, "")
		kinds := map[string]bool{}
		for _, e := range gs.Rooms.Join[room].Ephemeral.Events {
			kinds[e.Type] = true
		}
		fullyRead := false
		for _, e := range gs.Rooms.Join[room].AccountData.Events {
			fullyRead = fullyRead || (e.Type == "m.fully_read" && e.Content["event_id"] == e2)
		}
		if !kinds["m.typing"] || !kinds["m.receipt"] || !fullyRead {
			t.Fatalf("the guest's sync lacks typing, receipts or its fully-read marker: %s", graw)
		}

		for _, rq := range []struct{ method, path string }{
			{"GET", accountDataPath(g.UserID, "org.example.cfg")},
			{"PUT", accountDataPath(g.UserID, "org.example.cfg")},
			{"GET", roomAccountDataPath(g.UserID, room, "m.fully_read")},
			{"PUT", roomAccountDataPath(g.UserID, room, "org.example.cfg")},
			{"GET", tagsPath(g.UserID, room)},
			{"PUT", tagsPath(g.UserID, room) + "/u.x"},
			{"DELETE", tagsPath(g.UserID, room) + "/u.x"},
		} {
			var body any
			if rq.method == "PUT" {
				body = map[string]any{}
			}
			expect(t, hs.Do(t, rq.method, rq.path, g.Token, body), 403, "M_GUEST_ACCESS_FORBIDDEN")
		}
	})
}

// Receipts and account data share the stream with events: after a
// restart the stream must resume above their positions too, or a later
// write would reuse a position a sync token has already passed.
func TestReceiptAndAccountDataStreamResumesAfterRestart(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		cfg := testharness.Config(t, backend)
		ctx := context.Background()
		log := slog.New(slog.NewTextHandler(io.Discard, nil))
		svc, err := server.OpenServices(ctx, cfg, log)
		if err != nil {
			t.Fatal(err)
		}
		// Many writes and no events: only these tables hold the maximum.
		for i := range 5 {
			if err := svc.ClientData.SetAccountData(ctx, "@alice:localhost", "", "org.example.n", json.RawMessage(fmt.Sprintf(`{"n":%d}`, i))); err != nil {
				t.Fatal(err)
			}
		}
		before := svc.Stream.Current()
		ch, err := svc.ClientData.AccountDataSince(ctx, "@alice:localhost", 0, before)
		if err != nil || ch.MaxPos != before || len(ch.Global) != 1 || string(ch.Global[0].Content) != `{"n":4}` {
			t.Fatalf("before restart: current %d, %v %+v", before, err, ch)
		}
		svc.DB.Close()

		svc, err = server.OpenServices(ctx, cfg, log)
		if err != nil {
			t.Fatal(err)
		}
		defer svc.DB.Close()
		if got := svc.Stream.Current(); got < before {
			t.Fatalf("stream restarted at %d, below the stored position %d", got, before)
		}
		if err := svc.ClientData.SetAccountData(ctx, "@alice:localhost", "", "org.example.n", json.RawMessage(`{"n":5}`)); err != nil {
			t.Fatal(err)
		}
		ch, _ = svc.ClientData.AccountDataSince(ctx, "@alice:localhost", before, svc.Stream.Current())
		if len(ch.Global) != 1 || string(ch.Global[0].Content) != `{"n":5}` {
			t.Fatalf("write after restart not seen after the old position: %+v", ch)
		}
	})
}

// Writes take positions before they commit, so two writes to one key can
// commit out of order; the one with the later position must win.
func TestReceiptAndAccountDataStoreKeepLaterPosition(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		cfg := testharness.Config(t, backend)
		ctx := context.Background()
		db, err := storage.Open(ctx, cfg.DatabaseURL, cfg.DataDir, storage.AccountLimits{})
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		st := storage.NewClientDataStore(db)
		r := clientdata.Receipt{RoomID: "!r:localhost", Type: "m.read", UserID: "@a:localhost", EventID: "$late", TS: 2, StreamPos: 20}
		if err := st.PutReceipt(ctx, r); err != nil {
			t.Fatal(err)
		}
		r.EventID, r.StreamPos = "$early", 10
		if err := st.PutReceipt(ctx, r); err != nil {
			t.Fatal(err)
		}
		list, err := st.ReceiptsBetween(ctx, []string{"!r:localhost", "!other:localhost"}, 0, 100)
		if err != nil || len(list) != 1 || list[0].EventID != "$late" || list[0].StreamPos != 20 {
			t.Fatalf("receipts: %v %+v", err, list)
		}
		d := clientdata.AccountData{UserID: "@a:localhost", Type: "t", Content: json.RawMessage(`{"v":"late"}`), StreamPos: 20}
		if err := st.PutAccountData(ctx, d); err != nil {
			t.Fatal(err)
		}
		d.Content, d.StreamPos = json.RawMessage(`{"v":"early"}`), 10
		if err := st.PutAccountData(ctx, d); err != nil {
			t.Fatal(err)
		}
		got, err := st.GetAccountData(ctx, "@a:localhost", "", "t")
		if err != nil || string(got.Content) != `{"v":"late"}` || got.StreamPos != 20 {
			t.Fatalf("account data: %v %+v", err, got)
		}
		if _, err := st.GetAccountData(ctx, "@a:localhost", "!r:localhost", "t"); err != clientdata.ErrNotFound {
			t.Fatalf("room entry fell back to global: %v", err)
		}
	})
}
