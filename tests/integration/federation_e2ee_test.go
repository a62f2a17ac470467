package integration

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"maunium.net/go/mautrix/crypto/goolm/account"
	"maunium.net/go/mautrix/id"

	"foyer/internal/rooms/matrixevents"
	"foyer/internal/testharness"
)

// e2eeFederation is two federating Foyer servers, alice on a and bob on
// b, each with device keys and one-time keys, each server seeing the
// other's user as a room-mate: alice's room on a, which bob joined
// through a transaction signed as b, and bob's room on b, which alice
// joined through one signed as a (what joins both ways leave behind).
type e2eeFederation struct {
	a, b         *testharness.Homeserver
	alice, bob   *cryptoDevice
	roomA, roomB string
	// asB signs requests to a as b; asA signs requests to b as a.
	asB, asA *remoteServer
}

func startE2EEFederation(t *testing.T, backend string) *e2eeFederation {
	t.Helper()
	servers := testharness.StartFederation(t, backend, 2, nil)
	f := &e2eeFederation{a: servers[0], b: servers[1]}
	f.alice = newCryptoDevice(t, f.a.RegisterUser(t, "alice"))
	f.alice.setUp(t, f.a, 2)
	f.bob = newCryptoDevice(t, f.b.RegisterUser(t, "bob"))
	f.bob.setUp(t, f.b, 2)
	f.asB = &remoteServer{name: f.b.Config.ServerName, key: f.b.SigningKey(t), hs: f.a}
	f.asA = &remoteServer{name: f.a.Config.ServerName, key: f.a.SigningKey(t), hs: f.b}
	f.roomA = createRoom(t, f.a, f.alice.Token, map[string]any{"preset": "public_chat"})
	joinByTxn(t, f.asB, "e2ee-join-bob", f.roomA, f.bob.UserID)
	f.roomB = createRoom(t, f.b, f.bob.Token, map[string]any{"preset": "public_chat"})
	joinByTxn(t, f.asA, "e2ee-join-alice", f.roomB, f.alice.UserID)
	return f
}

func queryKeysOf(t *testing.T, hs *testharness.Homeserver, token string, users map[string]any) *testharness.Response {
	t.Helper()
	r := hs.Do(t, "POST", cs+"/keys/query", token, map[string]any{"device_keys": users, "timeout": 5000})
	expect(t, r, 200, "")
	return r
}

// deviceIDsOf lists the devices of userID in a /keys/query answer.
func deviceIDsOf(r *testharness.Response, userID string) []string {
	devices, _ := jsonPath(r.JSON, "device_keys", userID).(map[string]any)
	var out []string
	for id := range devices {
		out = append(out, id)
	}
	slices.Sort(out)
	return out
}

// sorted returns ids sorted, to compare with deviceIDsOf.
func sorted(ids ...string) []string {
	slices.Sort(ids)
	return ids
}

func deviceListUpdate(userID, deviceID string, streamID int64, prev []int64, keys map[string]any) map[string]any {
	c := map[string]any{"user_id": userID, "device_id": deviceID, "stream_id": streamID, "prev_id": prev}
	if keys == nil {
		c["deleted"] = true
	} else {
		c["keys"] = keys
	}
	return eduOf("m.device_list_update", c)
}

// fakeDeviceKeys are signed keys of a device that bob's server does not
// have: seeing them proves an update was applied here, not fetched.
func fakeDeviceKeys(t *testing.T, userID, deviceID string) map[string]any {
	return newCryptoDevice(t, testharness.Account{UserID: userID, DeviceID: deviceID}).deviceKeys(t)
}

// A user on one server gets the keys of a user on another: device keys
// with the device's own signature intact, master and self-signing keys
// but never the user-signing key, also for a user who shares no room
// (asked with /user/keys/query); one-time keys claimed across servers one
// at a time and then the fallback key; a server that does not answer is
// named in failures while the others' keys are still given. A user
// signs the other server's user's master key, and sees that signature.
func TestFederationKeysQueryAndClaim(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		f := startE2EEFederation(t, backend)
		bob, alice := f.bob, f.alice
		cross := newCrossSigning(t, bob.UserID)
		expect(t, f.b.Do(t, "POST", cs+"/keys/device_signing/upload", bob.Token, cross.body()), 200, "")

		r := queryKeysOf(t, f.a, alice.Token, map[string]any{bob.UserID: []any{}})
		keys := jsonPath(r.JSON, "device_keys", bob.UserID, bob.DeviceID)
		if keys == nil || !verifyObj(t, keys, bob.UserID, bob.keyID(), bob.pub) {
			t.Fatalf("bob's device keys, signed by his device, through alice's server: %s", r)
		}
		if jsonPath(r.JSON, "master_keys", bob.UserID) == nil || jsonPath(r.JSON, "self_signing_keys", bob.UserID) == nil {
			t.Errorf("bob's master and self-signing keys missing: %s", r)
		}
		if jsonPath(r.JSON, "user_signing_keys", bob.UserID) != nil {
			t.Errorf("bob's user-signing key shown to alice: %s", r)
		}
		if failures, _ := r.JSON["failures"].(map[string]any); len(failures) != 0 {
			t.Errorf("failures: %v", failures)
		}
		// Alice verifies bob: her user-signing key's signature on his
		// master key is kept on her server, shown to her alone.
		aliceCross := newCrossSigning(t, alice.UserID)
		expect(t, f.a.Do(t, "POST", cs+"/keys/device_signing/upload", alice.Token, aliceCross.body()), 200, "")
		bobMaster := signObj(t, copyObj(t, jsonPath(r.JSON, "master_keys", bob.UserID)), alice.UserID, aliceCross.uskKID, aliceCross.uskPriv)
		r = f.a.Do(t, "POST", cs+"/keys/signatures/upload", alice.Token, map[string]any{bob.UserID: map[string]any{cross.masterID: bobMaster}})
		expect(t, r, 200, "")
		if failures, _ := r.JSON["failures"].(map[string]any); len(failures) != 0 {
			t.Fatalf("signing bob's master key: %s", r)
		}
		r = queryKeysOf(t, f.a, alice.Token, map[string]any{bob.UserID: []any{}})
		if m := jsonPath(r.JSON, "master_keys", bob.UserID); !verifyObj(t, m, alice.UserID, aliceCross.uskKID, aliceCross.uskPub) ||
			!verifyObj(t, m, bob.UserID, cross.masterKID, cross.masterPub) {
			t.Errorf("bob's master key as alice sees it: %s", r)
		}
		carol := f.a.RegisterUser(t, "carol")
		r = queryKeysOf(t, f.a, carol.Token, map[string]any{bob.UserID: []any{}})
		if jsonPath(r.JSON, "master_keys", bob.UserID, "signatures", alice.UserID) != nil {
			t.Errorf("alice's signature on bob's key shown to carol: %s", r)
		}

		// Narrowed to a device that does not exist: none.
		r = queryKeysOf(t, f.a, alice.Token, map[string]any{bob.UserID: []any{"NOSUCH"}})
		if ids := deviceIDsOf(r, bob.UserID); len(ids) != 0 {
			t.Errorf("devices for a query narrowed to NOSUCH: %v", ids)
		}

		// The other way round.
		r = queryKeysOf(t, f.b, bob.Token, map[string]any{alice.UserID: []any{}})
		if keys := jsonPath(r.JSON, "device_keys", alice.UserID, alice.DeviceID); keys == nil || !verifyObj(t, keys, alice.UserID, alice.keyID(), alice.pub) {
			t.Fatalf("alice's device keys through bob's server: %s", r)
		}

		// dave shares no room: asked with /user/keys/query. The server
		// named by the other user ID does not answer: a failure.
		dave := newCryptoDevice(t, f.b.RegisterUser(t, "dave"))
		dave.setUp(t, f.b, 1)
		nowhere := "@x:localhost:1"
		r = f.a.Do(t, "POST", cs+"/keys/query", alice.Token, map[string]any{
			"device_keys": map[string]any{dave.UserID: []any{}, nowhere: []any{}}, "timeout": 3000})
		expect(t, r, 200, "")
		if keys := jsonPath(r.JSON, "device_keys", dave.UserID, dave.DeviceID); keys == nil || !verifyObj(t, keys, dave.UserID, dave.keyID(), dave.pub) {
			t.Errorf("dave's keys: %s", r)
		}
		if jsonPath(r.JSON, "failures", "localhost:1") == nil {
			t.Errorf("no failure for the server that does not answer: %s", r)
		}

		// Two one-time keys, then the fallback key, each signed by bob's
		// device.
		var ids []string
		for range 3 {
			r := claim(t, f.a, alice.Token, map[string]any{bob.UserID: map[string]any{bob.DeviceID: "signed_curve25519"}})
			expect(t, r, 200, "")
			id := claimedKeyID(t, r, bob.UserID, bob.DeviceID)
			if key := jsonPath(r.JSON, "one_time_keys", bob.UserID, bob.DeviceID, id); key == nil || !verifyObj(t, key, bob.UserID, bob.keyID(), bob.pub) {
				t.Fatalf("claimed key %q: %s", id, r)
			}
			ids = append(ids, id)
		}
		if ids[0] == ids[1] || ids[2] != "signed_curve25519:FALLBACK1" {
			t.Errorf("claimed %v, want two one-time keys and then the fallback key", ids)
		}
		r = f.a.Do(t, "POST", cs+"/keys/claim", alice.Token, map[string]any{"timeout": 3000,
			"one_time_keys": map[string]any{nowhere: map[string]any{"DEV": "signed_curve25519"}}})
		expect(t, r, 200, "")
		if jsonPath(r.JSON, "failures", "localhost:1") == nil {
			t.Errorf("no claim failure for the server that does not answer: %s", r)
		}
	})
}

// Other servers may ask only about this server's users, signed, within
// bounds; /user/devices answers with the stream_id, keys and display
// names; /user/keys/query never gives a user-signing key.
func TestFederationUserKeysRefusals(t *testing.T) {
	servers := testharness.StartFederation(t, "sqlite", 2, nil)
	a, b := servers[0], servers[1]
	alice := newCryptoDevice(t, a.RegisterUser(t, "alice"))
	alice.setUp(t, a, 1)
	expect(t, a.Do(t, "PUT", cs+"/devices/"+alice.DeviceID, alice.Token, map[string]any{"display_name": "Alice's phone"}), 200, "")
	bKey, bName := b.SigningKey(t), b.Config.ServerName
	signed := func(method, path string, body any) *testharness.Response {
		return a.SignedRequest(t, bKey, bName, a.Config.ServerName, method, path, body)
	}
	devicesPath := func(userID string) string { return "/_matrix/federation/v1/user/devices/" + url.PathEscape(userID) }
	remoteUser := "@bob:" + bName

	r := signed("GET", devicesPath(alice.UserID), nil)
	expect(t, r, 200, "")
	var devs struct {
		UserID   string `json:"user_id"`
		StreamID *int64 `json:"stream_id"`
		Devices  []struct {
			DeviceID    string         `json:"device_id"`
			DisplayName string         `json:"device_display_name"`
			Keys        map[string]any `json:"keys"`
		} `json:"devices"`
	}
	if err := json.Unmarshal(r.Raw, &devs); err != nil || devs.UserID != alice.UserID || devs.StreamID == nil || len(devs.Devices) != 1 ||
		devs.Devices[0].DeviceID != alice.DeviceID || devs.Devices[0].DisplayName != "Alice's phone" ||
		!verifyObj(t, devs.Devices[0].Keys, alice.UserID, alice.keyID(), alice.pub) {
		t.Fatalf("/user/devices: %s", r)
	}
	expect(t, a.Do(t, "GET", devicesPath(alice.UserID), "", nil), 401, "M_UNAUTHORIZED")
	expect(t, signed("GET", devicesPath(remoteUser), nil), 400, "M_INVALID_PARAM")

	const query, claimPath = "/_matrix/federation/v1/user/keys/query", "/_matrix/federation/v1/user/keys/claim"
	cross := newCrossSigning(t, alice.UserID)
	expect(t, a.Do(t, "POST", cs+"/keys/device_signing/upload", alice.Token, cross.body()), 200, "")
	r = signed("POST", query, map[string]any{"device_keys": map[string]any{alice.UserID: []any{}}})
	expect(t, r, 200, "")
	if jsonPath(r.JSON, "device_keys", alice.UserID, alice.DeviceID) == nil || jsonPath(r.JSON, "master_keys", alice.UserID) == nil ||
		jsonPath(r.JSON, "self_signing_keys", alice.UserID) == nil || r.JSON["user_signing_keys"] != nil {
		t.Errorf("/user/keys/query: %s", r)
	}
	expect(t, signed("POST", query, map[string]any{"device_keys": map[string]any{alice.UserID: []any{}, remoteUser: []any{}}}), 400, "M_INVALID_PARAM")
	expect(t, signed("POST", query, map[string]any{}), 400, "M_MISSING_PARAM")
	many := map[string]any{}
	for i := range 10001 {
		many[fmt.Sprintf("@u%d:%s", i, a.Config.ServerName)] = []any{}
	}
	expect(t, signed("POST", query, map[string]any{"device_keys": many}), 400, "M_INVALID_PARAM")

	expect(t, signed("POST", claimPath, map[string]any{"one_time_keys": map[string]any{remoteUser: map[string]any{"D": "signed_curve25519"}}}), 400, "M_INVALID_PARAM")
	manyClaims := map[string]any{}
	for i := range 1001 {
		manyClaims[fmt.Sprintf("D%d", i)] = "signed_curve25519"
	}
	expect(t, signed("POST", claimPath, map[string]any{"one_time_keys": map[string]any{alice.UserID: manyClaims}}), 400, "M_INVALID_PARAM")
	r = signed("POST", claimPath, map[string]any{"one_time_keys": map[string]any{alice.UserID: map[string]any{alice.DeviceID: "signed_curve25519"}}})
	expect(t, r, 200, "")
	if claimedKeyID(t, r, alice.UserID, alice.DeviceID) == "" {
		t.Errorf("/user/keys/claim: %s", r)
	}
}

// A user's device changes reach the other server's users as they happen:
// a new device's keys, a logout and new cross-signing keys each arrive
// as an EDU that updates the cached list (which is served without asking
// again) and puts the user in the room-mate's device_lists.changed.
func TestFederationDeviceListUpdatesReachSync(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		f := startE2EEFederation(t, backend)
		alice, bob := f.alice, f.bob
		// Bob's server caches alice's list once he asks for it.
		r := queryKeysOf(t, f.b, bob.Token, map[string]any{alice.UserID: []any{}})
		if ids := deviceIDsOf(r, alice.UserID); !slices.Equal(ids, sorted(alice.DeviceID)) {
			t.Fatalf("alice's devices: %v", ids)
		}
		s0 := syncE2EE(t, f.b, bob.Token, "")

		second := newCryptoDevice(t, loginDevice(t, f.a, alice.Account, "SECOND"))
		second.setUp(t, f.a, 1)
		var s1 e2eeSync
		waitFor(t, func() bool {
			s1 = syncE2EE(t, f.b, bob.Token, "since="+s0.NextBatch)
			return slices.Contains(s1.DeviceLists.Changed, alice.UserID)
		})
		kc := f.b.Do(t, "GET", cs+"/keys/changes?from="+s0.NextBatch+"&to="+s1.NextBatch, bob.Token, nil)
		if !slices.Contains(anyStrings(kc.JSON["changed"]), alice.UserID) {
			t.Errorf("keys/changes: %s", kc)
		}
		waitFor(t, func() bool {
			r := queryKeysOf(t, f.b, bob.Token, map[string]any{alice.UserID: []any{}})
			return slices.Equal(deviceIDsOf(r, alice.UserID), sorted(alice.DeviceID, "SECOND"))
		})
		r = queryKeysOf(t, f.b, bob.Token, map[string]any{alice.UserID: []any{"SECOND"}})
		if keys := jsonPath(r.JSON, "device_keys", alice.UserID, "SECOND"); !verifyObj(t, keys, alice.UserID, second.keyID(), second.pub) {
			t.Errorf("SECOND's keys: %s", r)
		}

		expect(t, f.a.Do(t, "POST", cs+"/logout", second.Token, map[string]any{}), 200, "")
		waitFor(t, func() bool {
			r := queryKeysOf(t, f.b, bob.Token, map[string]any{alice.UserID: []any{}})
			return slices.Equal(deviceIDsOf(r, alice.UserID), sorted(alice.DeviceID))
		})

		cross := newCrossSigning(t, alice.UserID)
		expect(t, f.a.Do(t, "POST", cs+"/keys/device_signing/upload", alice.Token, cross.body()), 200, "")
		waitFor(t, func() bool {
			r := queryKeysOf(t, f.b, bob.Token, map[string]any{alice.UserID: []any{}})
			master, _ := jsonPath(r.JSON, "master_keys", alice.UserID, "keys").(map[string]any)
			return master[cross.masterKID] == cross.masterID && jsonPath(r.JSON, "self_signing_keys", alice.UserID) != nil
		})
		if r := queryKeysOf(t, f.b, bob.Token, map[string]any{alice.UserID: []any{}}); jsonPath(r.JSON, "user_signing_keys", alice.UserID) != nil {
			t.Errorf("alice's user-signing key reached bob: %s", r)
		}
	})
}

// An m.device_list_update that follows the cached list is applied as
// is; one after a gap in prev_id makes the server fetch the whole list
// again from the user's server, in the background; once the user shares
// no room with a local user the list is no longer kept, and the user is
// in device_lists.left.
func TestFederationDeviceListGapResync(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		f := startE2EEFederation(t, backend)
		alice, bob := f.alice, f.bob
		devicesOfBob := func() []string {
			return deviceIDsOf(queryKeysOf(t, f.a, alice.Token, map[string]any{bob.UserID: []any{}}), bob.UserID)
		}
		if ids := devicesOfBob(); !slices.Equal(ids, sorted(bob.DeviceID)) {
			t.Fatalf("bob's devices: %v", ids)
		}
		// Bob's server's position of his list, as alice's server fetched it.
		r := f.b.SignedRequest(t, f.asA.key, f.asA.name, f.b.Config.ServerName, "GET",
			"/_matrix/federation/v1/user/devices/"+url.PathEscape(bob.UserID), nil)
		expect(t, r, 200, "")
		sid := int64(r.JSON["stream_id"].(float64))
		s0 := syncE2EE(t, f.a, alice.Token, "")

		sendEDUs(t, f.asB, "dl-follows", deviceListUpdate(bob.UserID, "FAKEDEV", sid+1, []int64{sid}, fakeDeviceKeys(t, bob.UserID, "FAKEDEV")))
		if ids := devicesOfBob(); !slices.Equal(ids, sorted(bob.DeviceID, "FAKEDEV")) {
			t.Fatalf("after an update that follows: %v", ids)
		}
		s1 := syncE2EE(t, f.a, alice.Token, "since="+s0.NextBatch)
		if !slices.Contains(s1.DeviceLists.Changed, bob.UserID) {
			t.Errorf("bob not in alice's device_lists.changed: %+v", s1.DeviceLists)
		}
		// Another server's user, or keys of another device, are ignored.
		sendEDUs(t, f.asB, "dl-ignored",
			deviceListUpdate(alice.UserID, "EVIL", 1, nil, fakeDeviceKeys(t, alice.UserID, "EVIL")),
			deviceListUpdate(bob.UserID, "OTHER", sid+2, []int64{sid + 1}, fakeDeviceKeys(t, bob.UserID, "NOTOTHER")))
		if ids := deviceIDsOf(queryKeysOf(t, f.a, alice.Token, map[string]any{alice.UserID: []any{}}), alice.UserID); slices.Contains(ids, "EVIL") {
			t.Errorf("a remote server added a device to a local user: %v", ids)
		}

		// A gap: the list is fetched again from bob's server, which has
		// neither FAKEDEV nor GHOST.
		sendEDUs(t, f.asB, "dl-gap", deviceListUpdate(bob.UserID, "GHOST", sid+10, []int64{sid + 5}, fakeDeviceKeys(t, bob.UserID, "GHOST")))
		waitFor(t, func() bool { return slices.Equal(devicesOfBob(), sorted(bob.DeviceID)) })

		// The fetched list is current again: updates follow it.
		sendEDUs(t, f.asB, "dl-after", deviceListUpdate(bob.UserID, "FAKE2", sid+1, []int64{sid}, fakeDeviceKeys(t, bob.UserID, "FAKE2")))
		if ids := devicesOfBob(); !slices.Equal(ids, sorted(bob.DeviceID, "FAKE2")) {
			t.Fatalf("after the fetched list: %v", ids)
		}
		sendEDUs(t, f.asB, "dl-deleted", deviceListUpdate(bob.UserID, "FAKE2", sid+2, []int64{sid + 1}, nil))
		sendEDUs(t, f.asB, "dl-fake3", deviceListUpdate(bob.UserID, "FAKE3", sid+3, []int64{sid + 2}, fakeDeviceKeys(t, bob.UserID, "FAKE3")))
		if ids := devicesOfBob(); !slices.Equal(ids, sorted(bob.DeviceID, "FAKE3")) {
			t.Fatalf("after a deletion and an addition: %v", ids)
		}

		// Bob leaves alice's room: no room shared, the list is dropped
		// (his keys are asked of his server again) and he is in left.
		s2 := syncE2EE(t, f.a, alice.Token, "")
		snap := currentRoom(t, f.a, f.roomA)
		leave := f.asB.event(t, snap.State, f.roomA, bob.UserID, "m.room.member", strPtr(bob.UserID),
			map[string]any{"membership": "leave"}, extremityIDs(snap), time.Now())
		if e, ok := pduError(t, sendTxn(t, f.asB, "leave-bob", f.asB.name, []matrixevents.Event{leave}), leave.EventID()); !ok || e != "" {
			t.Fatalf("bob's leave: %q", e)
		}
		s3 := syncE2EE(t, f.a, alice.Token, "since="+s2.NextBatch)
		if !slices.Contains(s3.DeviceLists.Left, bob.UserID) {
			t.Errorf("bob not in alice's device_lists.left: %+v", s3.DeviceLists)
		}
		waitFor(t, func() bool { return slices.Equal(devicesOfBob(), sorted(bob.DeviceID)) })
		// Updates about a user who shares no room are not kept.
		sendEDUs(t, f.asB, "dl-unshared", deviceListUpdate(bob.UserID, "FAKE4", sid+4, []int64{sid + 3}, fakeDeviceKeys(t, bob.UserID, "FAKE4")))
		if ids := devicesOfBob(); !slices.Equal(ids, sorted(bob.DeviceID)) {
			t.Errorf("after an update about a user who shares no room: %v", ids)
		}
	})
}

// To-device messages to another server's user travel as
// m.direct_to_device EDUs and reach the device's sync once, for a
// device or for "*"; a retried transaction sends nothing again; remote
// devices count against the per-request cap as local ones do.
func TestFederationToDevice(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		f := startE2EEFederation(t, backend)
		alice, bob := f.alice, f.bob
		expect(t, sendToDevice(t, f.a, alice.Token, "m.test.ping", "bad", map[string]any{bob.UserID: map[string]any{bob.DeviceID: "not an object"}}), 400, "M_BAD_JSON")
		tooMany := map[string]any{}
		for i := range 10001 {
			tooMany[fmt.Sprintf("D%d", i)] = map[string]any{}
		}
		expect(t, sendToDevice(t, f.a, alice.Token, "m.test.ping", "many", map[string]any{bob.UserID: tooMany}), 400, "M_INVALID_PARAM")
		expect(t, sendToDevice(t, f.a, alice.Token, "m.test.ping", "td1", map[string]any{bob.UserID: map[string]any{bob.DeviceID: map[string]any{"body": "one"}}}), 200, "")
		expect(t, sendToDevice(t, f.a, alice.Token, "m.test.ping", "td1", map[string]any{bob.UserID: map[string]any{bob.DeviceID: map[string]any{"body": "one"}}}), 200, "")
		expect(t, sendToDevice(t, f.a, alice.Token, "m.test.ping", "td2", map[string]any{bob.UserID: map[string]any{"*": map[string]any{"body": "two"}}}), 200, "")
		// More than one EDU carries this one: bob's device comes after
		// two others' 20 KB messages.
		pad := strings.Repeat("x", 20000)
		expect(t, sendToDevice(t, f.a, alice.Token, "m.test.ping", "td3", map[string]any{bob.UserID: map[string]any{
			"0PAD1": map[string]any{"body": pad}, "0PAD2": map[string]any{"body": pad}, bob.DeviceID: map[string]any{"body": "three"}}}), 200, "")

		var got []string
		since := ""
		waitFor(t, func() bool {
			q := ""
			if since != "" {
				q = "since=" + since
			}
			s := syncE2EE(t, f.b, bob.Token, q)
			since = s.NextBatch
			for _, ev := range s.ToDevice.Events {
				if ev.Sender != alice.UserID || ev.Type != "m.test.ping" {
					t.Errorf("to-device event %+v", ev)
				}
				body, _ := ev.Content["body"].(string)
				got = append(got, body)
			}
			return slices.Contains(got, "three")
		})
		// A repeat of td1 would have been queued before td2, so it would
		// have arrived by now.
		if !slices.Equal(got, []string{"one", "two", "three"}) {
			t.Errorf("bob's to-device messages: %v, want one, two, three, once each", got)
		}
	})
}

// olmDevice is a device with a real olm account (mautrix-go's pure-Go
// olm), which publishes its keys as a client does.
type olmDevice struct {
	testharness.Account
	olm   *account.Account
	ed    id.Ed25519
	curve id.Curve25519
}

func newOlmDevice(t *testing.T, acct testharness.Account) *olmDevice {
	t.Helper()
	a, err := account.NewAccount()
	if err != nil {
		t.Fatal(err)
	}
	ed, curve, err := a.IdentityKeys()
	if err != nil {
		t.Fatal(err)
	}
	return &olmDevice{Account: acct, olm: a, ed: ed, curve: curve}
}

// signOlm signs obj with the device's olm account, over its canonical
// JSON without signatures and unsigned.
func (d *olmDevice) signOlm(t *testing.T, obj map[string]any) map[string]any {
	t.Helper()
	raw, err := json.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	canon, err := matrixevents.CanonicalJSON(raw)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := d.olm.Sign(canon)
	if err != nil {
		t.Fatal(err)
	}
	obj["signatures"] = map[string]any{d.UserID: map[string]any{"ed25519:" + d.DeviceID: string(sig)}}
	return obj
}

// upload publishes the device's identity keys and n signed one-time keys.
func (d *olmDevice) upload(t *testing.T, hs *testharness.Homeserver, n uint) {
	t.Helper()
	if err := d.olm.GenOneTimeKeys(n); err != nil {
		t.Fatal(err)
	}
	otks, err := d.olm.OneTimeKeys()
	if err != nil {
		t.Fatal(err)
	}
	signed := map[string]any{}
	for keyID, key := range otks {
		signed["signed_curve25519:"+keyID] = d.signOlm(t, map[string]any{"key": string(key)})
	}
	d.olm.MarkKeysAsPublished()
	keys := d.signOlm(t, map[string]any{
		"user_id": d.UserID, "device_id": d.DeviceID,
		"algorithms": []any{"m.olm.v1.curve25519-aes-sha2", "m.megolm.v1.aes-sha2"},
		"keys":       map[string]any{"curve25519:" + d.DeviceID: string(d.curve), "ed25519:" + d.DeviceID: string(d.ed)},
	})
	expect(t, uploadKeys(t, hs, d.Token, map[string]any{"device_keys": keys, "one_time_keys": signed}), 200, "")
}

// A user on one server opens an olm session with a device on the other,
// from the keys its own server got from the other (/keys/query and
// /keys/claim across servers), and sends an encrypted to-device message
// (as a room key is shared); the device decrypts it.
func TestFederationOlmMessageDecryptsAcrossServers(t *testing.T) {
	f := startE2EEFederation(t, "sqlite")
	alice := newOlmDevice(t, loginDevice(t, f.a, f.alice.Account, "OLMALICE"))
	alice.upload(t, f.a, 1)
	bob := newOlmDevice(t, loginDevice(t, f.b, f.bob.Account, "OLMBOB"))
	bob.upload(t, f.b, 2)

	r := queryKeysOf(t, f.a, alice.Token, map[string]any{bob.UserID: []any{bob.DeviceID}})
	bobKeys := jsonPath(r.JSON, "device_keys", bob.UserID, bob.DeviceID)
	edPub, _ := base64.RawStdEncoding.DecodeString(string(bob.ed))
	if bobKeys == nil || !verifyObj(t, bobKeys, bob.UserID, "ed25519:"+bob.DeviceID, ed25519.PublicKey(edPub)) {
		t.Fatalf("bob's olm device keys through alice's server: %s", r)
	}
	theirCurve, _ := jsonPath(bobKeys, "keys", "curve25519:"+bob.DeviceID).(string)
	r = claim(t, f.a, alice.Token, map[string]any{bob.UserID: map[string]any{bob.DeviceID: "signed_curve25519"}})
	expect(t, r, 200, "")
	keyID := claimedKeyID(t, r, bob.UserID, bob.DeviceID)
	otk, _ := jsonPath(r.JSON, "one_time_keys", bob.UserID, bob.DeviceID, keyID, "key").(string)
	if theirCurve == "" || otk == "" {
		t.Fatalf("bob's curve25519 key %q, one-time key %q", theirCurve, otk)
	}

	session, err := alice.olm.NewOutboundSession(id.Curve25519(theirCurve), id.Curve25519(otk))
	if err != nil {
		t.Fatal(err)
	}
	plaintext := `{"type":"m.room_key","content":{"algorithm":"m.megolm.v1.aes-sha2","room_id":"` + f.roomA + `","session_key":"SECRET"}}`
	msgType, ciphertext, err := session.Encrypt([]byte(plaintext))
	if err != nil {
		t.Fatal(err)
	}
	expect(t, sendToDevice(t, f.a, alice.Token, "m.room.encrypted", "olm1", map[string]any{bob.UserID: map[string]any{bob.DeviceID: map[string]any{
		"algorithm":  "m.olm.v1.curve25519-aes-sha2",
		"sender_key": string(alice.curve),
		"ciphertext": map[string]any{theirCurve: map[string]any{"type": int(msgType), "body": string(ciphertext)}},
	}}}), 200, "")

	var body string
	var bodyType float64
	since := ""
	waitFor(t, func() bool {
		q := ""
		if since != "" {
			q = "since=" + since
		}
		s := syncE2EE(t, f.b, bob.Token, q)
		since = s.NextBatch
		for _, ev := range s.ToDevice.Events {
			if ev.Type == "m.room.encrypted" && ev.Sender == alice.UserID && ev.Content["sender_key"] == string(alice.curve) {
				body, _ = jsonPath(ev.Content, "ciphertext", string(bob.curve), "body").(string)
				bodyType, _ = jsonPath(ev.Content, "ciphertext", string(bob.curve), "type").(float64)
			}
		}
		return body != ""
	})
	inbound, err := bob.olm.NewInboundSessionFrom(&alice.curve, body)
	if err != nil {
		t.Fatal(err)
	}
	got, err := inbound.Decrypt(body, id.OlmMsgType(bodyType))
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != plaintext {
		t.Errorf("bob decrypted %q, want %q", got, plaintext)
	}
}

// A server that accepts connections and never answers costs a key query
// no more than the client's timeout: the answer comes with that server in
// failures and the other servers' keys in place.
func TestFederationKeysQueryTimeoutNamesSilentServer(t *testing.T) {
	f := startE2EEFederation(t, "sqlite")
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { silent.Close() })
	var held []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			c, err := silent.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range held {
			c.Close()
		}
	})
	_, port, _ := net.SplitHostPort(silent.Addr().String())
	silentServer := "localhost:" + port
	start := time.Now()
	r := f.a.Do(t, "POST", cs+"/keys/query", f.alice.Token, map[string]any{"timeout": 1000,
		"device_keys": map[string]any{f.bob.UserID: []any{}, "@x:" + silentServer: []any{}}})
	expect(t, r, 200, "")
	// Far below the federation client's own 30 s: the client's timeout
	// bounded the wait.
	if waited := time.Since(start); waited > 20*time.Second {
		t.Errorf("the query waited %v for a server that never answers", waited)
	}
	if jsonPath(r.JSON, "failures", silentServer) == nil || jsonPath(r.JSON, "device_keys", f.bob.UserID, f.bob.DeviceID) == nil {
		t.Errorf("answer: %s", r)
	}
}

// Updates may not grow another server's user's cached list beyond 1,000
// devices: a new device past that makes the server fetch the list again
// (whose answer is capped the same way) instead of keeping it.
func TestFederationRemoteDeviceListCapped(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		f := startE2EEFederation(t, backend)
		alice, bob := f.alice, f.bob
		devicesOfBob := func() []string {
			return deviceIDsOf(queryKeysOf(t, f.a, alice.Token, map[string]any{bob.UserID: []any{}}), bob.UserID)
		}
		devicesOfBob() // cached
		r := f.b.SignedRequest(t, f.asA.key, f.asA.name, f.b.Config.ServerName, "GET",
			"/_matrix/federation/v1/user/devices/"+url.PathEscape(bob.UserID), nil)
		expect(t, r, 200, "")
		sid := int64(r.JSON["stream_id"].(float64))
		// Bob has one device; 999 more fill the list.
		keys := fakeDeviceKeys(t, bob.UserID, "TEMPLATE")
		stream := sid
		var edus []any
		send := func(deviceID string) {
			k := copyObj(t, keys)
			k["device_id"] = deviceID
			edus = append(edus, deviceListUpdate(bob.UserID, deviceID, stream+1, []int64{stream}, k))
			stream++
			if len(edus) == 100 {
				sendEDUs(t, f.asB, fmt.Sprintf("cap-%d", stream), edus...)
				edus = nil
			}
		}
		for i := range 999 {
			send(fmt.Sprintf("FILL%04d", i))
		}
		sendEDUs(t, f.asB, "cap-rest", edus...)
		edus = nil
		if n := len(devicesOfBob()); n != 1000 {
			t.Fatalf("%d devices after filling the list, want 1000", n)
		}
		sendEDUs(t, f.asB, "cap-over", deviceListUpdate(bob.UserID, "ONEMORE", stream+1, []int64{stream}, func() map[string]any {
			k := copyObj(t, keys)
			k["device_id"] = "ONEMORE"
			return k
		}()))
		waitFor(t, func() bool { return slices.Equal(devicesOfBob(), sorted(bob.DeviceID)) })
	})
}
