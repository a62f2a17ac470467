package integration

import (
	"net/url"
	"slices"
	"testing"

	"foyer/internal/testharness"
)

// A server fetches another server's user's whole device list when it has
// none cached: on a client's /keys/query (and tells its room-mates'
// syncs, so a client that asked first asks again) and on an
// m.device_list_update, whose lone device says nothing of the others.
// Once cached, the list is served while its server is down; a list
// made stale by a gap whose fetch fails is still answered as last known,
// with the server in failures, not emptied.
func TestFederationDeviceListFetchedWhenNotCached(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		f := startE2EEFederation(t, backend)
		alice, bob := f.alice, f.bob

		// Bob's server has no list of alice: his query fetches it, and
		// his sync names her in changed.
		s0 := syncE2EE(t, f.b, bob.Token, "")
		r := queryKeysOf(t, f.b, bob.Token, map[string]any{alice.UserID: []any{}})
		if ids := deviceIDsOf(r, alice.UserID); !slices.Equal(ids, sorted(alice.DeviceID)) {
			t.Fatalf("alice's devices: %s", r)
		}
		if s1 := syncE2EE(t, f.b, bob.Token, "since="+s0.NextBatch); !slices.Contains(s1.DeviceLists.Changed, alice.UserID) {
			t.Errorf("alice not in bob's device_lists.changed after the fetch: %+v", s1.DeviceLists)
		}

		// Alice's server has no list of bob: an update about one device
		// makes it fetch his whole list, from his server (which has no
		// FAKEDEV), and alice's sync names him in changed.
		s2 := syncE2EE(t, f.a, alice.Token, "")
		sendEDUs(t, f.asB, "dl-untracked", deviceListUpdate(bob.UserID, "FAKEDEV", 1, nil, fakeDeviceKeys(t, bob.UserID, "FAKEDEV")))
		waitFor(t, func() bool {
			return slices.Contains(syncE2EE(t, f.a, alice.Token, "since="+s2.NextBatch).DeviceLists.Changed, bob.UserID)
		})
		sid := int64(jsonPath(f.b.SignedRequest(t, f.asA.key, f.asA.name, f.b.Config.ServerName, "GET",
			"/_matrix/federation/v1/user/devices/"+url.PathEscape(bob.UserID), nil).JSON, "stream_id").(float64))

		// Bob's server goes down: the fetched list is served as cached.
		f.b.Stop(t)
		r = queryKeysOf(t, f.a, alice.Token, map[string]any{bob.UserID: []any{}})
		if ids := deviceIDsOf(r, bob.UserID); !slices.Equal(ids, sorted(bob.DeviceID)) || len(jsonPath(r.JSON, "failures").(map[string]any)) != 0 {
			t.Fatalf("bob's keys while his server is down: %s", r)
		}

		// A gap makes the list stale; fetching it fails, so alice's sync
		// names bob in changed and her query gets the last known list
		// with his server in failures.
		s3 := syncE2EE(t, f.a, alice.Token, "")
		sendEDUs(t, f.asB, "dl-gap-down", deviceListUpdate(bob.UserID, "GHOST", sid+10, []int64{sid + 5}, fakeDeviceKeys(t, bob.UserID, "GHOST")))
		waitFor(t, func() bool {
			return slices.Contains(syncE2EE(t, f.a, alice.Token, "since="+s3.NextBatch).DeviceLists.Changed, bob.UserID)
		})
		r = queryKeysOf(t, f.a, alice.Token, map[string]any{bob.UserID: []any{}})
		if ids := deviceIDsOf(r, bob.UserID); !slices.Equal(ids, sorted(bob.DeviceID)) {
			t.Errorf("bob's devices from a stale list his server could not refresh: %s", r)
		}
		if jsonPath(r.JSON, "failures", f.b.Config.ServerName) == nil {
			t.Errorf("bob's server not in failures: %s", r)
		}
	})
}

// A device whose keys another server sends without naming a user or
// device (some servers send such objects) is kept, with its display
// name; keys that name another user or device are still refused.
func TestFederationDeviceListKeepsKeysThatNameNoOne(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		f := startE2EEFederation(t, backend)
		alice, bob := f.alice, f.bob
		queryKeysOf(t, f.a, alice.Token, map[string]any{bob.UserID: []any{}}) // cached
		r := f.b.SignedRequest(t, f.asA.key, f.asA.name, f.b.Config.ServerName, "GET",
			"/_matrix/federation/v1/user/devices/"+url.PathEscape(bob.UserID), nil)
		expect(t, r, 200, "")
		sid := int64(r.JSON["stream_id"].(float64))

		bare := eduOf("m.device_list_update", map[string]any{"user_id": bob.UserID, "device_id": "BARE",
			"device_display_name": "bare device", "stream_id": sid + 1, "prev_id": []int64{sid},
			"keys": map[string]any{"device_keys": map[string]any{}}})
		sendEDUs(t, f.asB, "dl-bare", bare)
		r = queryKeysOf(t, f.a, alice.Token, map[string]any{bob.UserID: []any{"BARE"}})
		if jsonPath(r.JSON, "device_keys", bob.UserID, "BARE", "unsigned", "device_display_name") != "bare device" {
			t.Fatalf("the bare device: %s", r)
		}

		claims := eduOf("m.device_list_update", map[string]any{"user_id": bob.UserID, "device_id": "CLAIMS",
			"stream_id": sid + 2, "prev_id": []int64{sid + 1},
			"keys": map[string]any{"user_id": alice.UserID, "device_id": "CLAIMS"}})
		sendEDUs(t, f.asB, "dl-claims", claims)
		if ids := deviceIDsOf(queryKeysOf(t, f.a, alice.Token, map[string]any{bob.UserID: []any{}}), bob.UserID); !slices.Equal(ids, sorted(bob.DeviceID, "BARE")) {
			t.Errorf("after keys naming another user: %v", ids)
		}
	})
}
