package integration

import (
	"encoding/json"
	"net/url"
	"testing"

	"foyer/internal/testharness"
)

// The device that sent an event sees its transaction ID in
// unsigned.transaction_id wherever the event is served to it — /sync,
// /event, /messages, /context — and nobody else does, not even another
// device of the same user.
func TestTransactionIDOnOwnEvents(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		hs := testharness.StartBackend(t, backend)
		alice := hs.RegisterUser(t, "alice")
		bob := hs.RegisterUser(t, "bob")
		login := hs.Do(t, "POST", cs+"/login", "", map[string]any{
			"type": "m.login.password", "identifier": map[string]any{"type": "m.id.user", "user": "alice"}, "password": "password-alice"})
		if login.Status != 200 {
			t.Fatalf("login: %s", login)
		}
		other := login.Str("access_token")
		room := createRoom(t, hs, alice.Token, map[string]any{"preset": "public_chat"})
		mustJoin(t, hs, bob.Token, room)
		r := hs.Do(t, "PUT", roomPath(room, "/send/m.room.message/txn-42"), alice.Token, map[string]any{"msgtype": "m.text", "body": "hi"})
		if r.Status != 200 {
			t.Fatalf("send: %s", r)
		}
		id := r.Str("event_id")

		txnOf := func(raw json.RawMessage) string {
			var ev struct {
				EventID  string `json:"event_id"`
				Unsigned struct {
					TransactionID string `json:"transaction_id"`
				} `json:"unsigned"`
			}
			_ = json.Unmarshal(raw, &ev)
			return ev.Unsigned.TransactionID
		}
		served := func(token string) map[string]string {
			t.Helper()
			got := map[string]string{}
			ev := hs.Do(t, "GET", roomPath(room, "/event/"+url.PathEscape(id)), token, nil)
			got["/event"] = txnOf(ev.Raw)
			var page struct {
				Chunk []json.RawMessage `json:"chunk"`
			}
			msgs := hs.Do(t, "GET", roomPath(room, "/messages?dir=b&limit=1"), token, nil)
			if err := json.Unmarshal(msgs.Raw, &page); err != nil || len(page.Chunk) != 1 {
				t.Fatalf("messages: %s", msgs)
			}
			got["/messages"] = txnOf(page.Chunk[0])
			var context struct {
				Event json.RawMessage `json:"event"`
			}
			c := hs.Do(t, "GET", roomPath(room, "/context/"+url.PathEscape(id)), token, nil)
			if err := json.Unmarshal(c.Raw, &context); err != nil {
				t.Fatalf("context: %s", c)
			}
			got["/context"] = txnOf(context.Event)
			_, sr := doSync(t, hs, token, "")
			var s struct {
				Rooms struct {
					Join map[string]struct {
						Timeline struct {
							Events []json.RawMessage `json:"events"`
						} `json:"timeline"`
					} `json:"join"`
				} `json:"rooms"`
			}
			if err := json.Unmarshal(sr.Raw, &s); err != nil {
				t.Fatal(err)
			}
			got["/sync"] = "(absent)"
			for _, raw := range s.Rooms.Join[room].Timeline.Events {
				var e struct {
					EventID string `json:"event_id"`
				}
				if json.Unmarshal(raw, &e) == nil && e.EventID == id {
					got["/sync"] = txnOf(raw)
				}
			}
			return got
		}
		for where, txn := range served(alice.Token) {
			if txn != "txn-42" {
				t.Errorf("%s to the sending device: transaction_id %q, want txn-42", where, txn)
			}
		}
		for who, token := range map[string]string{"alice's other device": other, "bob": bob.Token} {
			for where, txn := range served(token) {
				if txn != "" && txn != "(absent)" {
					t.Errorf("%s to %s: transaction_id %q, want none", where, who, txn)
				}
			}
		}
	})
}
