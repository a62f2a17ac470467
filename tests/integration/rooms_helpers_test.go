package integration

import (
	"fmt"
	"sync/atomic"
	"testing"

	"foyer/internal/testharness"
)

const cs = "/_matrix/client/v3"

var txnCounter atomic.Int64

func roomPath(roomID, rest string) string {
	return cs + "/rooms/" + testharness.PathEscape(roomID) + rest
}

func createRoom(t testing.TB, hs *testharness.Homeserver, token string, body map[string]any) string {
	t.Helper()
	if body == nil {
		body = map[string]any{}
	}
	r := hs.Do(t, "POST", cs+"/createRoom", token, body)
	if r.Status != 200 || r.Str("room_id") == "" {
		t.Fatalf("createRoom: %s", r)
	}
	return r.Str("room_id")
}

func sendMessage(t testing.TB, hs *testharness.Homeserver, token, roomID, body string) string {
	t.Helper()
	r := hs.Do(t, "PUT", roomPath(roomID, fmt.Sprintf("/send/m.room.message/txn%d", txnCounter.Add(1))), token,
		map[string]any{"msgtype": "m.text", "body": body})
	if r.Status != 200 {
		t.Fatalf("send %q: %s", body, r)
	}
	return r.Str("event_id")
}

func putState(t testing.TB, hs *testharness.Homeserver, token, roomID, typ, key string, content any) *testharness.Response {
	t.Helper()
	return hs.Do(t, "PUT", roomPath(roomID, "/state/"+typ+"/"+testharness.PathEscape(key)), token, content)
}

func join(t testing.TB, hs *testharness.Homeserver, token, roomID string) *testharness.Response {
	t.Helper()
	return hs.Do(t, "POST", roomPath(roomID, "/join"), token, map[string]any{})
}

func mustJoin(t testing.TB, hs *testharness.Homeserver, token, roomID string) {
	t.Helper()
	if r := join(t, hs, token, roomID); r.Status != 200 {
		t.Fatalf("join %s: %s", roomID, r)
	}
}

// threeInAPublicRoom registers alice, bob and carol, and has alice create
// a public_chat room the other two join.
func threeInAPublicRoom(t testing.TB, hs *testharness.Homeserver) (alice, bob, carol testharness.Account, room string) {
	t.Helper()
	alice = hs.RegisterUser(t, "alice")
	bob = hs.RegisterUser(t, "bob")
	carol = hs.RegisterUser(t, "carol")
	room = createRoom(t, hs, alice.Token, map[string]any{"preset": "public_chat"})
	mustJoin(t, hs, bob.Token, room)
	mustJoin(t, hs, carol.Token, room)
	return alice, bob, carol, room
}

// chunkBodies returns the body of each m.room.message in a chunk.
func chunkBodies(r *testharness.Response, key string) []string {
	var out []string
	list, _ := r.JSON[key].([]any)
	for _, e := range list {
		ev := e.(map[string]any)
		if ev["type"] != "m.room.message" {
			continue
		}
		c, _ := ev["content"].(map[string]any)
		b, _ := c["body"].(string)
		out = append(out, b)
	}
	return out
}

func stateContent(t testing.TB, hs *testharness.Homeserver, token, roomID, typ, key string) *testharness.Response {
	t.Helper()
	return hs.Do(t, "GET", roomPath(roomID, "/state/"+typ+"/"+testharness.PathEscape(key)), token, nil)
}

// mustState is stateContent that must answer 200.
func mustState(t *testing.T, hs *testharness.Homeserver, token, roomID, typ, key string) *testharness.Response {
	t.Helper()
	r := stateContent(t, hs, token, roomID, typ, key)
	expect(t, r, 200, "")
	return r
}

// mustPutState sets state with the empty state key, which must succeed.
func mustPutState(t *testing.T, hs *testharness.Homeserver, token, roomID, typ string, content map[string]any) {
	t.Helper()
	expect(t, putState(t, hs, token, roomID, typ, "", content), 200, "")
}
