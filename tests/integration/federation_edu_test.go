package integration

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"foyer/internal/testharness"
)

// sendEDUs sends a transaction of EDUs only, signed by rs as its origin,
// and requires it to be answered 200.
func sendEDUs(t *testing.T, rs *remoteServer, txnID string, edus ...any) {
	t.Helper()
	body := map[string]any{"origin": rs.name, "origin_server_ts": time.Now().UnixMilli(), "pdus": []any{}, "edus": edus}
	r := rs.hs.SignedRequest(t, rs.key, rs.name, rs.hs.Config.ServerName, "PUT", "/_matrix/federation/v1/send/"+txnID, body)
	if r.Status != 200 {
		t.Fatalf("transaction %s: %s", txnID, r)
	}
}

func eduOf(typ string, content any) map[string]any {
	return map[string]any{"edu_type": typ, "content": content}
}

func typingEDU(roomID, userID string) map[string]any {
	return eduOf("m.typing", map[string]any{"room_id": roomID, "user_id": userID, "typing": true})
}

func receiptEDU(roomID, userID, eventID string) map[string]any {
	return eduOf("m.receipt", map[string]any{roomID: map[string]any{"m.read": map[string]any{
		userID: map[string]any{"event_ids": []string{eventID}, "data": map[string]any{"ts": 1700000000000}}}}})
}

func presenceEDU(userID, status string) map[string]any {
	return eduOf("m.presence", map[string]any{"push": []any{map[string]any{
		"user_id": userID, "presence": "online", "status_msg": status, "last_active_ago": 5000, "currently_active": true}}})
}

func toDeviceEDU(sender, messageID, userID, deviceID, body string) map[string]any {
	return eduOf("m.direct_to_device", map[string]any{"sender": sender, "type": "m.test.ping", "message_id": messageID,
		"messages": map[string]any{userID: map[string]any{deviceID: map[string]any{"body": body}}}})
}

// EDUs of a remote server's transaction reach local members' syncs: a
// joined remote user's typing, read receipt, presence and to-device
// message. The same from a user of another server than the origin, for
// a room the user is not in, for a user who shares no room here, or from
// a server the room's ACL denies are ignored; malformed EDUs do not fail
// the transaction.
func TestFederationSendEDUs(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		hs := startNamed(t, backend, "local.test", nil)
		rs := txnRemote(t, backend, hs)
		alice := hs.RegisterUser(t, "alice")
		room := createRoom(t, hs, alice.Token, map[string]any{"preset": "public_chat"})
		other := createRoom(t, hs, alice.Token, map[string]any{"preset": "public_chat"})
		rita := "@rita:remote.test"
		joinByTxn(t, rs, "join", room, rita)
		msgID := sendMessage(t, hs, alice.Token, room, "read me")
		otherMsg := sendMessage(t, hs, alice.Token, other, "not for rita")

		// Ignored: users of another server, a room rita is not in, a
		// remote user who shares no room here; and malformed EDUs.
		mallory := "@mallory:elsewhere.test"
		sendEDUs(t, rs, "ignored",
			typingEDU(room, mallory), typingEDU(other, rita),
			receiptEDU(room, mallory, msgID), receiptEDU(other, rita, otherMsg),
			presenceEDU(mallory, "from mallory"), presenceEDU("@loner:remote.test", "from loner"),
			toDeviceEDU(mallory, "m1", alice.UserID, alice.DeviceID, "from mallory"),
			"not an EDU", eduOf("m.typing", "no object"), eduOf("m.receipt", []int{1}),
			eduOf("m.presence", map[string]any{"push": "x"}), eduOf("m.direct_to_device", map[string]any{"messages": 3}),
			typingEDU("", rita), receiptEDU(room, rita, "$unknown"), eduOf("m.device_list_update", map[string]any{}))

		s, raw := doSync(t, hs, alice.Token, "")
		for _, ignored := range []string{"mallory", "loner"} {
			if strings.Contains(string(raw.Raw), ignored) {
				t.Errorf("alice's sync shows an ignored EDU from %s", ignored)
			}
		}
		for roomID, jr := range s.Rooms.Join {
			for _, ev := range jr.Ephemeral.Events {
				if b, _ := json.Marshal(ev.Content); strings.Contains(string(b), "rita") {
					t.Errorf("room %s shows rita's ignored %s: %s", roomID, ev.Type, b)
				}
			}
		}
		if len(s.ToDevice.Events) != 0 {
			t.Errorf("an ignored to-device EDU reached alice: %v", s.ToDevice.Events)
		}
		for _, ev := range s.Presence.Events {
			if ev.Sender != alice.UserID {
				t.Errorf("an ignored presence EDU reached alice: %s %v", ev.Sender, ev.Content)
			}
		}

		sendEDUs(t, rs, "good", typingEDU(room, rita), receiptEDU(room, rita, msgID), presenceEDU(rita, "far away"),
			toDeviceEDU(rita, "m2", alice.UserID, alice.DeviceID, "psst"), "garbage between")
		// The same message ID again: delivered once.
		sendEDUs(t, rs, "again", toDeviceEDU(rita, "m2", alice.UserID, alice.DeviceID, "psst"))

		s, _ = doSync(t, hs, alice.Token, "")
		var typing, receipt bool
		for _, ev := range s.Rooms.Join[room].Ephemeral.Events {
			b, _ := json.Marshal(ev.Content)
			switch ev.Type {
			case "m.typing":
				typing = strings.Contains(string(b), rita)
			case "m.receipt":
				receipt = strings.Contains(string(b), msgID) && strings.Contains(string(b), rita)
			}
		}
		if !typing || !receipt {
			t.Errorf("typing %v, receipt %v in alice's sync: %v", typing, receipt, s.Rooms.Join[room].Ephemeral.Events)
		}
		var presence bool
		for _, ev := range s.Presence.Events {
			if ev.Sender == rita && ev.Content["presence"] == "online" && ev.Content["status_msg"] == "far away" {
				presence = true
			}
		}
		if !presence {
			t.Errorf("rita's presence is not in alice's sync: %v", s.Presence.Events)
		}
		if n := len(s.ToDevice.Events); n != 1 || s.ToDevice.Events[0].Sender != rita || s.ToDevice.Events[0].Content["body"] != "psst" {
			t.Errorf("alice's to-device: %v", s.ToDevice.Events)
		}

		// A server ACL that denies remote.test: rita's receipts are
		// ignored although she is still joined.
		later := sendMessage(t, hs, alice.Token, room, "after the ACL")
		if r := putState(t, hs, alice.Token, room, "m.room.server_acl", "", map[string]any{"allow": []string{"*"}, "deny": []string{"remote.test"}}); r.Status != 200 {
			t.Fatalf("server ACL: %s", r)
		}
		sendEDUs(t, rs, "denied", receiptEDU(room, rita, later))
		s, _ = doSync(t, hs, alice.Token, "")
		for _, ev := range s.Rooms.Join[room].Ephemeral.Events {
			if b, _ := json.Marshal(ev.Content); ev.Type == "m.receipt" && strings.Contains(string(b), later) {
				t.Errorf("a receipt from a server the ACL denies was stored: %s", b)
			}
		}
	})
}
