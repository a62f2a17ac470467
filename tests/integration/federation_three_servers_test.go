package integration

import (
	"net/url"
	"strings"
	"testing"

	"foyer/internal/testharness"
)

// Three servers in one room: the room lives on A; users of B and C join
// through A. Each server sends its own users' events to both others (C's
// message reaches B without A passing it on), typing, receipts and
// presence reach every server, and a leave on B is seen on A and C. Both
// databases.
func TestFederationThreeServersInOneRoom(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		servers := testharness.StartFederation(t, backend, 3, nil)
		a, b, c := servers[0], servers[1], servers[2]
		alice := a.RegisterUser(t, "alice")
		bob := b.RegisterUser(t, "bob")
		carol := c.RegisterUser(t, "carol")
		room := createRoom(t, a, alice.Token, map[string]any{"preset": "public_chat"})
		via := "?server_name=" + url.QueryEscape(a.Config.ServerName)
		expect(t, b.Do(t, "POST", cs+"/join/"+url.PathEscape(room)+via, bob.Token, map[string]any{}), 200, "")
		expect(t, c.Do(t, "POST", cs+"/join/"+url.PathEscape(room)+via, carol.Token, map[string]any{}), 200, "")
		// B hears of carol's join from A, the resident server that took it.
		waitFor(t, func() bool { return memberOf(t, b, room, carol.UserID) == "join" })

		msg := sendMessage(t, c, carol.Token, room, "carol to everyone")
		waitFor(t, func() bool { return syncHasMessage(t, a, alice.Token, room, "carol to everyone") })
		waitFor(t, func() bool { return syncHasMessage(t, b, bob.Token, room, "carol to everyone") })
		sendMessage(t, b, bob.Token, room, "bob to everyone")
		waitFor(t, func() bool { return syncHasMessage(t, c, carol.Token, room, "bob to everyone") })

		// Typing and a read receipt from B reach C.
		expect(t, b.Do(t, "PUT", roomPath(room, "/typing/"+url.PathEscape(bob.UserID)), bob.Token, map[string]any{"typing": true, "timeout": 30000}), 200, "")
		expect(t, b.Do(t, "POST", roomPath(room, "/receipt/m.read/"+url.PathEscape(msg)), bob.Token, map[string]any{}), 200, "")
		var last string
		defer func() {
			if t.Failed() {
				t.Logf("carol's last sync: %s", last)
			}
		}()
		waitFor(t, func() bool {
			_, raw := doSync(t, c, carol.Token, "")
			last = string(raw.Raw)
			body := string(raw.Raw)
			return strings.Contains(body, `"m.typing"`) && strings.Contains(body, `"user_ids":["`+bob.UserID+`"]`) &&
				strings.Contains(body, `"m.receipt"`)
		})

		// Bob's presence reaches carol's sync on C.
		expect(t, b.Do(t, "PUT", cs+"/presence/"+url.PathEscape(bob.UserID)+"/status", bob.Token, map[string]any{"presence": "online", "status_msg": "on server B"}), 200, "")
		waitFor(t, func() bool {
			_, raw := doSync(t, c, carol.Token, "")
			return strings.Contains(string(raw.Raw), "on server B")
		})

		expect(t, b.Do(t, "POST", roomPath(room, "/leave"), bob.Token, map[string]any{}), 200, "")
		waitFor(t, func() bool { return memberOf(t, a, room, bob.UserID) == "leave" })
		waitFor(t, func() bool { return memberOf(t, c, room, bob.UserID) == "leave" })
	})
}
