package integration

import (
	"net/url"
	"testing"

	"foyer/internal/testharness"
)

const sendServerNotice = "/_synapse/admin/v1/send_server_notice"

// Operators send users notices through Synapse's admin API: each user's
// arrive in one room the system user creates (named, tagged
// m.server_notice for the user, where the user cannot speak) and invites
// them to; the invite cannot be rejected, the room can be left once
// joined, and the next notice invites the user back to the same room; a
// transaction ID makes a send idempotent (Complement's TestServerNotices).
func TestServerNotices(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		cfg := testharness.Config(t, backend)
		cfg.ServerNotices.SystemUserLocalpart = "_server"
		hs := testharness.Start(t, cfg)
		admin := gmAdminAccount(t, hs, "admin")
		alice := hs.RegisterUser(t, "alice")
		system := "@_server:" + cfg.ServerName
		notice := map[string]any{"user_id": alice.UserID, "content": map[string]any{"msgtype": "m.text", "body": "hello from server notices!"}}

		expect(t, hs.Do(t, "POST", sendServerNotice, alice.Token, notice), 403, "M_FORBIDDEN")
		expect(t, hs.Do(t, "POST", sendServerNotice, admin.Token, map[string]any{"content": map[string]any{}}), 400, "M_MISSING_PARAM")
		expect(t, hs.Do(t, "POST", sendServerNotice, admin.Token, map[string]any{"user_id": alice.UserID}), 400, "M_MISSING_PARAM")
		expect(t, hs.Do(t, "POST", sendServerNotice, admin.Token, map[string]any{"user_id": alice.UserID, "content": "hi"}), 400, "M_BAD_JSON")
		expect(t, hs.Do(t, "POST", sendServerNotice, admin.Token, map[string]any{"user_id": "@nobody:" + cfg.ServerName, "content": map[string]any{}}), 404, "M_NOT_FOUND")
		expect(t, hs.Do(t, "POST", sendServerNotice, admin.Token, map[string]any{"user_id": "@bob:elsewhere.example", "content": map[string]any{}}), 400, "M_UNKNOWN")

		r := hs.Do(t, "POST", sendServerNotice, admin.Token, notice)
		if r.Status != 200 || r.Str("event_id") == "" {
			t.Fatalf("send_server_notice: %s", r)
		}
		eventID := r.Str("event_id")
		s, sr := doSync(t, hs, alice.Token, "")
		if len(s.Rooms.Invite) != 1 {
			t.Fatalf("want one invite: %s", sr)
		}
		var room string
		for id, inv := range s.Rooms.Invite {
			room = id
			invitedBy := ""
			for _, ev := range inv.InviteState.Events {
				if ev.Type == "m.room.member" && ev.StateKey != nil && *ev.StateKey == alice.UserID {
					invitedBy = ev.Sender
				}
			}
			if invitedBy != system {
				t.Errorf("invite from %q, want %s: %s", invitedBy, system, sr)
			}
		}
		expect(t, hs.Do(t, "POST", roomPath(room, "/leave"), alice.Token, map[string]any{}), 403, "M_CANNOT_LEAVE_SERVER_NOTICE_ROOM")
		mustJoin(t, hs, alice.Token, room)
		ev := hs.Do(t, "GET", roomPath(room, "/event/"+url.PathEscape(eventID)), alice.Token, nil)
		if ev.Status != 200 || ev.Str("sender") != system {
			t.Errorf("the notice: %s", ev)
		}
		if name := mustState(t, hs, alice.Token, room, "m.room.name", ""); name.Str("name") != "Server Notices" {
			t.Errorf("room name: %s", name)
		}
		tags := hs.Do(t, "GET", cs+"/user/"+url.PathEscape(alice.UserID)+"/rooms/"+url.PathEscape(room)+"/tags", alice.Token, nil)
		if tg, _ := tags.JSON["tags"].(map[string]any); tg == nil || tg["m.server_notice"] == nil {
			t.Errorf("tags: %s", tags)
		}
		expect(t, hs.Do(t, "PUT", roomPath(room, "/send/m.room.message/reply"), alice.Token, map[string]any{"msgtype": "m.text", "body": "no"}), 403, "M_FORBIDDEN")

		// Leaving is allowed once joined; the next notice reuses the room.
		expect(t, hs.Do(t, "POST", roomPath(room, "/leave"), alice.Token, map[string]any{}), 200, "")
		if r := hs.Do(t, "POST", sendServerNotice, admin.Token, notice); r.Status != 200 {
			t.Fatalf("second notice: %s", r)
		}
		again, sr := doSync(t, hs, alice.Token, "")
		if _, ok := again.Rooms.Invite[room]; !ok || len(again.Rooms.Invite) != 1 {
			t.Errorf("want the invite back to the same room %s: %s", room, sr)
		}

		// A transaction ID makes the send idempotent; another ID sends anew.
		first := hs.Do(t, "PUT", sendServerNotice+"/txn1", admin.Token, notice)
		second := hs.Do(t, "PUT", sendServerNotice+"/txn1", admin.Token, notice)
		other := hs.Do(t, "PUT", sendServerNotice+"/txn2", admin.Token, notice)
		if first.Status != 200 || first.Str("event_id") != second.Str("event_id") || other.Str("event_id") == first.Str("event_id") || other.Status != 200 {
			t.Errorf("transactions: %s / %s / %s", first, second, other)
		}
	})
}

// Without a system user configured, notices are refused clearly.
func TestServerNoticesOff(t *testing.T) {
	hs := testharness.StartBackend(t, "sqlite")
	admin := gmAdminAccount(t, hs, "admin")
	alice := hs.RegisterUser(t, "alice")
	r := hs.Do(t, "POST", sendServerNotice, admin.Token, map[string]any{"user_id": alice.UserID, "content": map[string]any{"body": "x", "msgtype": "m.text"}})
	expect(t, r, 400, "M_UNKNOWN")
}
