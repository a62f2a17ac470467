package integration

import (
	"encoding/json"
	"net/url"
	"testing"

	"foyer/internal/testharness"
)

// A user who deactivates with "erase": true has their messages served
// redacted to anyone who was not joined when they were sent — a member
// who joined later, in /event, /messages and /sync — and to other
// servers; members who saw them keep seeing them.
func TestDeactivateWithEraseRedactsForLaterJoiners(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		hs := startNamed(t, backend, "local.test", nil)
		rs := txnRemote(t, backend, hs)
		alice := hs.RegisterUser(t, "alice")
		bob := hs.RegisterUser(t, "bob")
		carol := hs.RegisterUser(t, "carol")
		room := createRoom(t, hs, alice.Token, map[string]any{"preset": "public_chat"})
		mustJoin(t, hs, bob.Token, room)
		joinByTxn(t, rs, "join", room, "@rita:remote.test")
		msg := sendMessage(t, hs, alice.Token, room, "body1")
		mustJoin(t, hs, carol.Token, room)

		body := func(token string) (string, string) {
			t.Helper()
			r := hs.Do(t, "GET", roomPath(room, "/event/"+url.PathEscape(msg)), token, nil)
			if r.Status != 200 {
				t.Fatalf("event: %s", r)
			}
			c, _ := r.JSON["content"].(map[string]any)
			b, _ := c["body"].(string)
			return r.Str("type"), b
		}
		if _, b := body(carol.Token); b != "body1" {
			t.Fatalf("before the erasure carol reads %q", b)
		}

		r := hs.Do(t, "POST", cs+"/account/deactivate", alice.Token, map[string]any{"erase": true,
			"auth": map[string]any{"type": "m.login.password", "identifier": map[string]any{"type": "m.id.user", "user": "alice"}, "password": alice.Password}})
		if r.Status != 200 {
			t.Fatalf("deactivate with erase: %s", r)
		}
		if typ, b := body(bob.Token); typ != "m.room.message" || b != "body1" {
			t.Errorf("bob, a member when it was sent, reads %s %q", typ, b)
		}
		if typ, b := body(carol.Token); typ != "m.room.message" || b != "" {
			t.Errorf("carol, who joined later, reads %s %q, want the message redacted", typ, b)
		}
		msgs := hs.Do(t, "GET", roomPath(room, "/messages?dir=b&limit=20"), carol.Token, nil)
		for _, b := range chunkBodies(msgs, "chunk") {
			if b != "" {
				t.Errorf("carol's /messages shows the body %q", b)
			}
		}
		if got := chunkBodies(hs.Do(t, "GET", roomPath(room, "/messages?dir=b&limit=20"), bob.Token, nil), "chunk"); len(got) != 1 || got[0] != "body1" {
			t.Errorf("bob's /messages shows %v", got)
		}
		s, _ := doSync(t, hs, carol.Token, "")
		for _, e := range s.Rooms.Join[room].Timeline.Events {
			if e.EventID == msg && e.Content["body"] != nil {
				t.Errorf("carol's /sync shows the erased message's body")
			}
		}

		fed := hs.SignedRequest(t, rs.key, rs.name, hs.Config.ServerName, "GET", "/_matrix/federation/v1/event/"+url.PathEscape(msg), nil)
		var answer struct {
			PDUs []struct {
				Content map[string]any `json:"content"`
			} `json:"pdus"`
		}
		if err := json.Unmarshal(fed.Raw, &answer); err != nil || fed.Status != 200 || len(answer.PDUs) != 1 || answer.PDUs[0].Content["body"] != nil {
			t.Errorf("another server fetches the erased message: %s", fed)
		}
	})
}
