package integration

import (
	"net/url"
	"testing"

	"foyer/internal/testharness"
)

// G-36 across servers: a member on server B of a room that lives on
// server A makes a guest link on B; the guest it makes on B is in the
// room on both servers, and chats with A's member. B's guests stay B's:
// A sees an ordinary remote user.
func TestFederationGuestLinkForRemoteRoom_G36(t *testing.T) {
	servers := testharness.StartFederation(t, "sqlite", 2, nil)
	a, b := servers[0], servers[1]
	alice := a.RegisterUser(t, "alice")
	bob := b.RegisterUser(t, "bob")
	// Bob may invite, so he may make guest links.
	room := createRoom(t, a, alice.Token, map[string]any{"preset": "public_chat",
		"power_level_content_override": map[string]any{"users": map[string]any{alice.UserID: 100, bob.UserID: 50}},
		"initial_state":                []any{map[string]any{"type": "m.room.guest_access", "state_key": "", "content": map[string]any{"guest_access": "can_join"}}}})
	expect(t, b.Do(t, "POST", cs+"/join/"+url.PathEscape(room)+"?server_name="+url.QueryEscape(a.Config.ServerName), bob.Token, map[string]any{}), 200, "")

	link := b.Do(t, "POST", gmLinks(room), bob.Token, map[string]any{})
	expect(t, link, 200, "")
	red := b.Do(t, "POST", gmRedeem(link.Str("token")), "", map[string]any{})
	expect(t, red, 200, "")
	guest := testharness.Account{UserID: red.Str("user_id"), DeviceID: red.Str("device_id"), Token: red.Str("access_token")}
	if red.Str("room_id") != room {
		t.Fatalf("redemption: %s", red)
	}
	waitFor(t, func() bool { return memberOf(t, a, room, guest.UserID) == "join" })
	sendMessage(t, b, guest.Token, room, "a guest of B says hello")
	waitFor(t, func() bool { return syncHasMessage(t, a, alice.Token, room, "a guest of B says hello") })
	sendMessage(t, a, alice.Token, room, "welcome")
	waitFor(t, func() bool { return syncHasMessage(t, b, guest.Token, room, "welcome") })
}
