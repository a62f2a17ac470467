package integration

import (
	"net/url"
	"slices"
	"testing"

	"foyer/internal/testharness"
)

// Two users of another server share a room of ours; one leaves. A later
// change of the other's device keys still reaches our member's sync as a
// device-list change — also when this server keeps no list of her
// devices yet — and the leaver's does not.
func TestFederationDeviceListAfterARemoteLeave(t *testing.T) {
	servers := testharness.StartFederation(t, "sqlite", 2, nil)
	a, b := servers[0], servers[1]
	alice := a.RegisterUser(t, "alice")
	leaver := newCryptoDevice(t, b.RegisterUser(t, "leaver"))
	stayer := newCryptoDevice(t, b.RegisterUser(t, "stayer"))
	room := createRoom(t, a, alice.Token, map[string]any{"preset": "public_chat"})
	for _, u := range []*cryptoDevice{leaver, stayer} {
		expect(t, b.Do(t, "POST", cs+"/join/"+url.PathEscape(room), u.Token, map[string]any{}), 200, "")
		u.setUp(t, b, 1)
	}
	s := syncE2EE(t, a, alice.Token, "")
	// Only the leaver's keys are asked for: this server keeps no list of
	// the stayer's devices when her change arrives.
	waitFor(t, func() bool {
		r := queryKeysOf(t, a, alice.Token, map[string]any{leaver.UserID: []any{}})
		return len(deviceIDsOf(r, leaver.UserID)) == 1
	})
	expect(t, b.Do(t, "POST", roomPath(room, "/leave"), leaver.Token, map[string]any{}), 200, "")
	waitFor(t, func() bool { return memberOf(t, a, room, leaver.UserID) == "leave" })
	s = syncE2EE(t, a, alice.Token, "since="+s.NextBatch)

	expect(t, uploadKeys(t, b, leaver.Token, map[string]any{"device_keys": leaver.deviceKeys(t)}), 200, "")
	expect(t, uploadKeys(t, b, stayer.Token, map[string]any{"device_keys": stayer.deviceKeys(t)}), 200, "")
	var changed []string
	waitFor(t, func() bool {
		next := syncE2EE(t, a, alice.Token, "since="+s.NextBatch+"&timeout=500")
		changed = append(changed, next.DeviceLists.Changed...)
		s = next
		return slices.Contains(changed, stayer.UserID)
	})
	if slices.Contains(changed, leaver.UserID) {
		t.Errorf("the leaver's key change reached alice after the leave: %v", changed)
	}
}

// A user invited to a room, here from another server, is in the
// inviter's device_lists.changed at once, as in Synapse: a client may
// encrypt for the invitee before she joins.
func TestFederationInvitedUserInDeviceListChanges(t *testing.T) {
	servers := testharness.StartFederation(t, "sqlite", 2, nil)
	a, b := servers[0], servers[1]
	alice := a.RegisterUser(t, "alice")
	bob := b.RegisterUser(t, "bob")
	room := createRoom(t, a, alice.Token, map[string]any{"preset": "private_chat"})
	s := syncE2EE(t, a, alice.Token, "")
	expect(t, a.Do(t, "POST", roomPath(room, "/invite"), alice.Token, map[string]any{"user_id": bob.UserID}), 200, "")
	next := syncE2EE(t, a, alice.Token, "since="+s.NextBatch)
	if !slices.Contains(next.DeviceLists.Changed, bob.UserID) {
		t.Fatalf("the invitee is not in changed: %+v", next.DeviceLists)
	}
}
