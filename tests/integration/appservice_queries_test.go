package integration

import (
	"net/url"
	"strings"
	"testing"

	"foyer/internal/testharness"
)

// TestAppServiceQueriesPingAndDirectory: the server asks the service
// about unknown users and aliases of its namespaces (and the service
// creates them), forwards third-party lookups to it, pings it for it, and
// keeps the directories of its networks.
func TestAppServiceQueriesPingAndDirectory(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		as := newTestAppService(t, "irc")
		hs := testharness.Start(t, appServiceConfig(t, backend, as.registration(t, "irc", "ircbot", ircNamespaces, "protocols: [irc]")))
		server := hs.Config.ServerName
		carol := hs.RegisterUser(t, "carol")

		// A user query: the service registers the user when asked.
		newUser := "@irc_newcomer:" + server
		as.users[newUser] = true
		as.onUserQuery = func(userID string) {
			lp := strings.TrimPrefix(strings.Split(userID, ":")[0], "@")
			if r := asDo(t, hs, as, "POST", "/_matrix/client/v3/register", "", map[string]any{
				"type": "m.login.application_service", "username": lp, "inhibit_login": true}); r.Status != 200 {
				t.Errorf("the service registering %s: %s", userID, r)
			}
		}
		if r := hs.Do(t, "GET", "/_matrix/client/v3/profile/"+testharness.PathEscape(newUser), carol.Token, nil); r.Status != 200 {
			t.Errorf("the profile of a user the service made on demand: %s", r)
		}
		// An invite: asked too, before the invite.
		invitee := "@irc_invitee:" + server
		as.users[invitee] = true
		inviteRoom := createRoom(t, hs, carol.Token, nil)
		if r := hs.Do(t, "POST", roomPath(inviteRoom, "/invite"), carol.Token, map[string]any{"user_id": invitee}); r.Status != 200 {
			t.Errorf("inviting a user the service made on demand: %s", r)
		}
		if r := hs.Do(t, "GET", "/_matrix/client/v3/profile/"+testharness.PathEscape("@irc_unknown:"+server), carol.Token, nil); r.Status != 404 {
			t.Errorf("a user the service does not have: %s", r)
		}

		// An alias query: the service makes the room when asked.
		alias := "#irc_libera_chat:" + server
		as.aliases[alias] = true
		as.onAliasQuery = func(string) {
			if r := asDo(t, hs, as, "POST", "/_matrix/client/v3/createRoom", "", map[string]any{
				"preset": "public_chat", "room_alias_name": "irc_libera_chat"}); r.Status != 200 {
				t.Errorf("the service creating the room: %s", r)
			}
		}
		r := hs.Do(t, "GET", "/_matrix/client/v3/directory/room/"+testharness.PathEscape(alias), carol.Token, nil)
		if r.Status != 200 || r.Str("room_id") == "" {
			t.Fatalf("an alias the service made on demand: %s", r)
		}
		bridged := r.Str("room_id")
		if r := hs.Do(t, "POST", "/_matrix/client/v3/join/"+testharness.PathEscape("#irc_other:"+server), carol.Token, map[string]any{}); r.Status != 404 {
			t.Errorf("joining an alias the service does not have: %s", r)
		}

		// Ping.
		r = hs.Do(t, "POST", "/_matrix/client/v1/appservice/irc/ping", as.asToken, map[string]any{"transaction_id": "ping-1"})
		if r.Status != 200 || r.JSON["duration_ms"] == nil {
			t.Errorf("ping: %s", r)
		}
		as.mu.Lock()
		if len(as.pings) != 1 || as.pings[0] != "ping-1" {
			t.Errorf("the service saw pings %v", as.pings)
		}
		as.mu.Unlock()
		if r := hs.Do(t, "POST", "/_matrix/client/v1/appservice/irc/ping", carol.Token, map[string]any{}); r.Status != 403 {
			t.Errorf("a user pinging the service: %s", r)
		}
		if r := hs.Do(t, "POST", "/_matrix/client/v1/appservice/other/ping", as.asToken, map[string]any{}); r.Status != 403 {
			t.Errorf("pinging another service: %s", r)
		}
		as.setDown(true)
		if r := hs.Do(t, "POST", "/_matrix/client/v1/appservice/irc/ping", as.asToken, map[string]any{}); r.Status != 502 || r.Errcode() != "M_BAD_STATUS" {
			t.Errorf("pinging a service that is down: %s", r)
		}
		as.setDown(false)

		// Third-party lookups go to the service.
		r = hs.Do(t, "GET", "/_matrix/client/v3/thirdparty/protocols", carol.Token, nil)
		irc, _ := r.JSON["irc"].(map[string]any)
		insts, _ := irc["instances"].([]any)
		if len(insts) != 1 || insts[0].(map[string]any)["instance_id"] != "irc|libera" {
			t.Errorf("protocols: %s", r)
		}
		r = hs.Do(t, "GET", "/_matrix/client/v3/thirdparty/location/irc?channel=%23foyer", carol.Token, nil)
		if r.Status != 200 || !strings.Contains(string(r.Raw), `location/irc`) || !strings.Contains(string(r.Raw), `channel=%23foyer`) {
			t.Errorf("a location lookup: %s", r)
		}
		// A client's token in the query stays with Foyer.
		r = hs.Do(t, "GET", "/_matrix/client/v3/thirdparty/user/irc?nick=x&access_token="+url.QueryEscape(carol.Token), "", nil)
		if r.Status != 200 || !strings.Contains(string(r.Raw), `nick=x`) || strings.Contains(string(r.Raw), "access_token") {
			t.Errorf("a user lookup forwarded the caller's token: %s", r)
		}
		if r := hs.Do(t, "GET", "/_matrix/client/v3/thirdparty/user/xmpp", carol.Token, nil); r.Status != 200 || string(r.Raw) != "[]" {
			t.Errorf("a protocol no service speaks: %s", r)
		}

		// The directory of the service's network.
		path := "/_matrix/client/v3/directory/list/appservice/libera/" + testharness.PathEscape(bridged)
		if r := hs.Do(t, "PUT", path, carol.Token, map[string]any{"visibility": "public"}); r.Status != 403 {
			t.Errorf("a user publishing in a network's directory: %s", r)
		}
		if r := hs.Do(t, "PUT", path, as.asToken, map[string]any{"visibility": "public"}); r.Status != 200 {
			t.Fatalf("publishing in the network's directory: %s", r)
		}
		listed := func(body map[string]any) bool {
			r := hs.Do(t, "POST", "/_matrix/client/v3/publicRooms", carol.Token, body)
			return strings.Contains(string(r.Raw), bridged)
		}
		if !listed(map[string]any{"third_party_instance_id": "irc|libera"}) {
			t.Errorf("the room is not in its network's directory")
		}
		if listed(map[string]any{}) {
			t.Errorf("the room is in the server's own directory")
		}
		if !listed(map[string]any{"include_all_networks": true}) {
			t.Errorf("include_all_networks leaves the room out")
		}
		if r := hs.Do(t, "PUT", path, as.asToken, map[string]any{"visibility": "private"}); r.Status != 200 || listed(map[string]any{"third_party_instance_id": "irc|libera"}) {
			t.Errorf("removing the room from the network's directory: %s", r)
		}
		// DELETE removes it too, as Synapse serves it.
		expect(t, hs.Do(t, "PUT", path, as.asToken, map[string]any{"visibility": "public"}), 200, "")
		if r := hs.Do(t, "DELETE", path, carol.Token, nil); r.Status != 403 {
			t.Errorf("a user removing from a network's directory: %s", r)
		}
		if r := hs.Do(t, "DELETE", path, as.asToken, nil); r.Status != 200 || listed(map[string]any{"third_party_instance_id": "irc|libera"}) {
			t.Errorf("DELETE from the network's directory: %s", r)
		}
	})
}
