package integration

import (
	"net/url"
	"strings"
	"testing"

	"foyer/internal/testharness"
)

// A room of server A is upgraded; when a user of server B joins the new
// room, B's aliases of the old room move to it and so does the old room's
// place in B's published directory, as for B's own upgrades.
func TestFederationUpgradeMovesRemoteAliasesAndDirectory(t *testing.T) {
	servers := testharness.StartFederation(t, "sqlite", 2, nil)
	a, b := servers[0], servers[1]
	alice := a.RegisterUser(t, "alice")
	bob := b.RegisterUser(t, "bob")
	old := createRoom(t, a, alice.Token, map[string]any{"preset": "public_chat",
		"power_level_content_override": map[string]any{"users": map[string]any{alice.UserID: 100, bob.UserID: 100}}})
	via := "?server_name=" + url.QueryEscape(a.Config.ServerName)
	expect(t, b.Do(t, "POST", cs+"/join/"+url.PathEscape(old)+via, bob.Token, map[string]any{}), 200, "")
	alias := "#lounge:" + b.Config.ServerName
	expect(t, b.Do(t, "PUT", cs+"/directory/room/"+url.PathEscape(alias), bob.Token, map[string]any{"room_id": old}), 200, "")
	expect(t, b.Do(t, "PUT", cs+"/directory/list/room/"+url.PathEscape(old), bob.Token, map[string]any{"visibility": "public"}), 200, "")

	up := a.Do(t, "POST", roomPath(old, "/upgrade"), alice.Token, map[string]any{"new_version": "11"})
	expect(t, up, 200, "")
	replacement := up.Str("replacement_room")
	waitFor(t, func() bool {
		r := b.Do(t, "GET", roomPath(old, "/state/m.room.tombstone/"), bob.Token, nil)
		return r.Status == 200
	})
	expect(t, b.Do(t, "POST", cs+"/join/"+url.PathEscape(replacement)+via, bob.Token, map[string]any{}), 200, "")

	if r := b.Do(t, "GET", cs+"/directory/room/"+url.PathEscape(alias), "", nil); r.Str("room_id") != replacement {
		t.Errorf("B's alias after the upgrade: %s", r)
	}
	pub := b.Do(t, "GET", cs+"/publicRooms", "", nil)
	if !strings.Contains(pub.String(), replacement) || strings.Contains(pub.String(), old) {
		t.Errorf("B's directory after the upgrade: %s", pub)
	}
}
