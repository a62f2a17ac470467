package integration

import (
	"testing"
	"time"

	"foyer/internal/testharness"
)

// TestAppServiceEphemeral: a service that asked for ephemeral events
// (receive_ephemeral) gets typing, read receipts and presence of the
// rooms and users it has an interest in, in its transactions.
func TestAppServiceEphemeral(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		as := newTestAppService(t, "irc")
		hs := testharness.Start(t, appServiceConfig(t, backend, as.registration(t, "irc", "ircbot", ircNamespaces, "receive_ephemeral: true")))
		server := hs.Config.ServerName
		carol := hs.RegisterUser(t, "carol")
		asDo(t, hs, as, "POST", "/_matrix/client/v3/register", "", map[string]any{"type": "m.login.application_service", "username": "irc_bob"})
		room := createRoom(t, hs, carol.Token, map[string]any{"preset": "public_chat"})
		if r := asDo(t, hs, as, "POST", "/_matrix/client/v3/join/"+testharness.PathEscape(room), "@irc_bob:"+server, map[string]any{}); r.Status != 200 {
			t.Fatalf("join: %s", r)
		}
		eventID := sendMessage(t, hs, carol.Token, room, "hello")
		if r := hs.Do(t, "PUT", roomPath(room, "/typing/"+testharness.PathEscape(carol.UserID)), carol.Token,
			map[string]any{"typing": true, "timeout": 30000}); r.Status != 200 {
			t.Fatalf("typing: %s", r)
		}
		if r := hs.Do(t, "POST", roomPath(room, "/receipt/m.read/"+testharness.PathEscape(eventID)), carol.Token, map[string]any{}); r.Status != 200 {
			t.Fatalf("receipt: %s", r)
		}
		if r := hs.Do(t, "PUT", "/_matrix/client/v3/presence/"+testharness.PathEscape(carol.UserID)+"/status", carol.Token,
			map[string]any{"presence": "online", "status_msg": "bridging"}); r.Status != 200 {
			t.Fatalf("presence: %s", r)
		}
		want := map[string]bool{"m.typing": false, "m.receipt": false, "m.presence": false}
		deadline := time.Now().Add(15 * time.Second)
		for time.Now().Before(deadline) {
			for _, ev := range as.ephemeral() {
				typ, _ := ev["type"].(string)
				c, _ := ev["content"].(map[string]any)
				switch typ {
				case "m.typing":
					if ids, _ := c["user_ids"].([]any); len(ids) == 1 && ids[0] == carol.UserID && ev["room_id"] == room {
						want[typ] = true
					}
				case "m.receipt":
					if _, ok := c[eventID]; ok && ev["room_id"] == room {
						want[typ] = true
					}
				case "m.presence":
					if ev["sender"] == carol.UserID && c["presence"] == "online" {
						want[typ] = true
					}
				}
			}
			if want["m.typing"] && want["m.receipt"] && want["m.presence"] {
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
		t.Fatalf("ephemeral events received %v: %v", want, as.ephemeral())
	})
}

// TestAppServiceToDeviceAndDeviceLists: to-device messages to the
// service's users' devices (MSC4203) and device-list changes of users in
// its rooms (MSC3202) come in its transactions.
func TestAppServiceToDeviceAndDeviceLists(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		as := newTestAppService(t, "irc")
		hs := testharness.Start(t, appServiceConfig(t, backend, as.registration(t, "irc", "ircbot", ircNamespaces,
			"receive_ephemeral: true\norg.matrix.msc3202: true")))
		server := hs.Config.ServerName
		carol := hs.RegisterUser(t, "carol")
		r := asDo(t, hs, as, "POST", "/_matrix/client/v3/register", "", map[string]any{"type": "m.login.application_service", "username": "irc_bob"})
		bobDevice := r.Str("device_id")
		room := createRoom(t, hs, carol.Token, map[string]any{"preset": "public_chat"})
		if r := asDo(t, hs, as, "POST", "/_matrix/client/v3/join/"+testharness.PathEscape(room), "@irc_bob:"+server, map[string]any{}); r.Status != 200 {
			t.Fatalf("join: %s", r)
		}
		if r := hs.Do(t, "PUT", "/_matrix/client/v3/sendToDevice/m.test/txn1", carol.Token, map[string]any{
			"messages": map[string]any{"@irc_bob:" + server: map[string]any{bobDevice: map[string]any{"hello": "bridge"}}}}); r.Status != 200 {
			t.Fatalf("sendToDevice: %s", r)
		}
		if r := hs.Do(t, "POST", "/_matrix/client/v3/keys/upload", carol.Token, map[string]any{
			"device_keys": signedDeviceKeys(t, carol.UserID, carol.DeviceID)}); r.Status != 200 {
			t.Fatalf("keys/upload: %s", r)
		}
		// Device masquerading (MSC3202): the service acts as the device.
		if r := hs.Do(t, "GET", "/_matrix/client/v3/account/whoami?user_id="+testharness.PathEscape("@irc_bob:"+server)+
			"&org.matrix.msc3202.device_id="+bobDevice, as.asToken, nil); r.Str("device_id") != bobDevice {
			t.Errorf("whoami as the device: %s", r)
		}
		if r := hs.Do(t, "GET", "/_matrix/client/v3/account/whoami?user_id="+testharness.PathEscape("@irc_bob:"+server)+
			"&device_id=NOPE", as.asToken, nil); r.Status != 403 {
			t.Errorf("whoami as a device the user does not have: %s", r)
		}
		deadline := time.Now().Add(15 * time.Second)
		var gotToDevice, gotDeviceList bool
		for time.Now().Before(deadline) && !(gotToDevice && gotDeviceList) {
			as.mu.Lock()
			for _, id := range as.txns {
				body := as.bodies[id]
				for _, m := range body.ToDevice {
					c, _ := m["content"].(map[string]any)
					if m["to_user_id"] == "@irc_bob:"+server && m["to_device_id"] == bobDevice && m["sender"] == carol.UserID && c["hello"] == "bridge" {
						gotToDevice = true
					}
				}
				if dl := body.DeviceLists; dl != nil {
					if changed, _ := dl["changed"].([]any); len(changed) > 0 {
						for _, u := range changed {
							if u == carol.UserID {
								gotDeviceList = true
							}
						}
					}
				}
			}
			as.mu.Unlock()
			time.Sleep(20 * time.Millisecond)
		}
		if !gotToDevice || !gotDeviceList {
			t.Fatalf("to-device received: %v, device-list change received: %v", gotToDevice, gotDeviceList)
		}
	})
}

// TestAppServiceManagesDevices: a service with io.element.msc4190 makes
// its users' devices with PUT /devices (201, no token), acts as them
// (uploading keys; with MSC3202 it learns their one-time key counts after
// a claim), and deletes them without user-interactive auth.
func TestAppServiceManagesDevices(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		as := newTestAppService(t, "irc")
		hs := testharness.Start(t, appServiceConfig(t, backend, as.registration(t, "irc", "ircbot", ircNamespaces,
			"org.matrix.msc3202: true\nio.element.msc4190: true")))
		server := hs.Config.ServerName
		bob := "@irc_bob:" + server
		asDo(t, hs, as, "POST", "/_matrix/client/v3/register", "", map[string]any{
			"type": "m.login.application_service", "username": "irc_bob", "inhibit_login": true})
		dev := "/_matrix/client/v3/devices/BRIDGEDEV"
		if r := asDo(t, hs, as, "PUT", dev, bob, map[string]any{"display_name": "bridge"}); r.Status != 201 {
			t.Fatalf("creating a device: %s", r)
		}
		if r := asDo(t, hs, as, "PUT", dev, bob, map[string]any{"display_name": "bridge 2"}); r.Status != 200 {
			t.Errorf("renaming it: %s", r)
		}
		if r := asDo(t, hs, as, "GET", dev, bob, nil); r.Status != 200 || r.Str("display_name") != "bridge 2" {
			t.Errorf("the device: %s", r)
		}
		asDev := "?user_id=" + testharness.PathEscape(bob) + "&device_id=BRIDGEDEV"
		crypto := newCryptoDevice(t, testharness.Account{UserID: bob, DeviceID: "BRIDGEDEV"})
		if r := hs.Do(t, "POST", "/_matrix/client/v3/keys/upload"+asDev, as.asToken, map[string]any{
			"device_keys": crypto.deviceKeys(t), "one_time_keys": crypto.oneTimeKeys(t, 3),
			"fallback_keys": crypto.fallbackKey(t, "FB1")}); r.Status != 200 {
			t.Fatalf("keys uploaded as the device: %s", r)
		}
		// Another user claims one: the service learns the counts left
		// (MSC3202).
		carol := hs.RegisterUser(t, "carol")
		if r := hs.Do(t, "POST", "/_matrix/client/v3/keys/claim", carol.Token, map[string]any{
			"one_time_keys": map[string]any{bob: map[string]any{"BRIDGEDEV": "signed_curve25519"}}}); r.Status != 200 {
			t.Fatalf("claim: %s", r)
		}
		deadline := time.Now().Add(10 * time.Second)
		for {
			as.mu.Lock()
			var count any
			for _, id := range as.txns {
				if c := as.bodies[id].OTKCounts; c != nil {
					if devs, _ := c[bob].(map[string]any); devs != nil {
						if counts, _ := devs["BRIDGEDEV"].(map[string]any); counts != nil {
							count = counts["signed_curve25519"]
						}
					}
				}
			}
			as.mu.Unlock()
			if count == float64(2) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("one-time key count after a claim: %v", count)
			}
			time.Sleep(20 * time.Millisecond)
		}
		if r := asDo(t, hs, as, "DELETE", dev, bob, map[string]any{}); r.Status != 200 {
			t.Errorf("deleting it without UIA: %s", r)
		}
		if r := asDo(t, hs, as, "GET", dev, bob, nil); r.Status != 404 {
			t.Errorf("the deleted device: %s", r)
		}
		// A user's own token still needs UIA to delete a device.
		if r := hs.Do(t, "DELETE", "/_matrix/client/v3/devices/"+carol.DeviceID, carol.Token, map[string]any{}); r.Status != 401 {
			t.Errorf("a user deleting a device without UIA: %s", r)
		}
	})
}
