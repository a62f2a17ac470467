package integration

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"foyer/internal/testharness"
)

// to_device delivers the device's messages until a since acknowledges
// them, and wakes a long-poll; e2ee gives key counts, unused fallback key
// types and device list changes.
func TestSlidingSyncToDeviceAndE2EEExtensions(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		hs := testharness.StartBackend(t, backend)
		aliceAcct := hs.RegisterUser(t, "alice")
		alice := newCryptoDevice(t, aliceAcct)
		bob := newCryptoDevice(t, hs.RegisterUser(t, "bob"))
		room := createRoom(t, hs, alice.Token, map[string]any{"preset": "public_chat"})
		mustJoin(t, hs, bob.Token, room)
		alice.setUp(t, hs, 3)

		expect(t, sendToDevice(t, hs, bob.Token, "m.test", "t1", map[string]any{alice.UserID: map[string]any{alice.DeviceID: map[string]any{"n": 1}}}), 200, "")
		ext := func(since string) map[string]any {
			td := map[string]any{"enabled": true}
			if since != "" {
				td["since"] = since
			}
			return map[string]any{"lists": map[string]any{"l": ssList(0, 1)},
				"extensions": map[string]any{"to_device": td, "e2ee": map[string]any{"enabled": true}}}
		}
		first := slidingSync(t, hs, alice.Token, "", 0, ext(""))
		td, e := first.Extensions.ToDevice, first.Extensions.E2EE
		if td == nil || len(td.Events) != 1 || td.Events[0].Sender != bob.UserID || td.NextBatch == "" {
			t.Fatalf("to_device: %+v", td)
		}
		if e == nil || e.OTKCounts["signed_curve25519"] != 3 || !slices.Equal(e.UnusedFallbacks, []string{"signed_curve25519"}) {
			t.Fatalf("e2ee: %+v", e)
		}
		// Not acknowledged: sent again; acknowledged: gone.
		again := slidingSync(t, hs, alice.Token, first.Pos, 0, ext(""))
		if len(again.Extensions.ToDevice.Events) != 1 {
			t.Fatalf("unacknowledged message not resent: %+v", again.Extensions.ToDevice)
		}
		acked := slidingSync(t, hs, alice.Token, again.Pos, 0, ext(again.Extensions.ToDevice.NextBatch))
		if len(acked.Extensions.ToDevice.Events) != 0 {
			t.Fatalf("acknowledged message resent: %+v", acked.Extensions.ToDevice)
		}

		// A to-device message and a key change wake a long-poll.
		woken := make(chan ssResp, 1)
		go func() {
			woken <- slidingSync(t, hs, alice.Token, acked.Pos, 10000, ext(acked.Extensions.ToDevice.NextBatch))
		}()
		time.Sleep(200 * time.Millisecond)
		bob.setUp(t, hs, 1)
		var w ssResp
		select {
		case w = <-woken:
		case <-time.After(8 * time.Second):
			t.Fatal("long-poll not woken by bob's keys")
		}
		if !slices.Contains(w.Extensions.E2EE.DeviceLists.Changed, bob.UserID) {
			t.Fatalf("device lists: %+v", w.Extensions.E2EE.DeviceLists)
		}
		go func() {
			woken <- slidingSync(t, hs, alice.Token, w.Pos, 10000, ext(w.Extensions.ToDevice.NextBatch))
		}()
		time.Sleep(200 * time.Millisecond)
		expect(t, sendToDevice(t, hs, bob.Token, "m.test", "t2", map[string]any{alice.UserID: map[string]any{"*": map[string]any{"n": 2}}}), 200, "")
		select {
		case w = <-woken:
		case <-time.After(8 * time.Second):
			t.Fatal("long-poll not woken by a to-device message")
		}
		if len(w.Extensions.ToDevice.Events) != 1 || w.Extensions.ToDevice.Events[0].Content["n"] != float64(2) {
			t.Fatalf("woken with %+v", w.Extensions.ToDevice)
		}
	})
}

// account_data, receipts and typing cover the rooms of the lists and
// subscriptions they name.
func TestSlidingSyncAccountDataReceiptsTypingExtensions(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		hs := testharness.StartBackend(t, backend)
		alice := hs.RegisterUser(t, "alice")
		bob := hs.RegisterUser(t, "bob")
		inList := createRoom(t, hs, alice.Token, map[string]any{"preset": "public_chat"})
		inSub := createRoom(t, hs, alice.Token, map[string]any{"preset": "public_chat"})
		mustJoin(t, hs, bob.Token, inList)
		mustJoin(t, hs, bob.Token, inSub)
		// inList has the newest message: the list's one-room window holds
		// it, and inSub comes by its subscription.
		sendMessage(t, hs, bob.Token, inSub, "sub")
		ev := sendMessage(t, hs, bob.Token, inList, "list")
		userPath := cs + "/user/" + testharness.PathEscape(alice.UserID)
		expect(t, hs.Do(t, "PUT", userPath+"/account_data/m.test.global", alice.Token, map[string]any{"g": 1}), 200, "")
		expect(t, hs.Do(t, "PUT", userPath+"/rooms/"+testharness.PathEscape(inList)+"/account_data/m.test.room", alice.Token, map[string]any{"r": 1}), 200, "")
		expect(t, hs.Do(t, "PUT", userPath+"/rooms/"+testharness.PathEscape(inSub)+"/account_data/m.test.room", alice.Token, map[string]any{"r": 2}), 200, "")
		expect(t, hs.Do(t, "POST", roomPath(inList, "/receipt/m.read/"+testharness.PathEscape(ev)), bob.Token, map[string]any{}), 200, "")
		expect(t, hs.Do(t, "PUT", roomPath(inList, "/typing/"+testharness.PathEscape(bob.UserID)), bob.Token, map[string]any{"typing": true, "timeout": 30000}), 200, "")

		body := func(lists, rooms []string) map[string]any {
			return map[string]any{
				"lists":              map[string]any{"l": ssList(0, 1)},
				"room_subscriptions": map[string]any{inSub: map[string]any{"timeline_limit": 1, "required_state": [][]string{}}},
				"extensions": map[string]any{
					"account_data": map[string]any{"enabled": true, "lists": lists, "rooms": rooms},
					"receipts":     map[string]any{"enabled": true},
					"typing":       map[string]any{"enabled": true},
				},
			}
		}
		first := slidingSync(t, hs, alice.Token, "", 0, body([]string{"l"}, []string{}))
		ad := first.Extensions.AccountData
		if ad == nil || !slices.ContainsFunc(ad.Global, func(e syncEvent) bool { return e.Type == "m.test.global" }) ||
			!slices.ContainsFunc(ad.Global, func(e syncEvent) bool { return e.Type == "m.push_rules" }) {
			t.Fatalf("global account data: %+v", ad)
		}
		if got := keysOf(ad.Rooms); !slices.Equal(got, []string{inList}) {
			t.Fatalf("room account data scoped to the list: %v", got)
		}
		rc := first.Extensions.Receipts
		if rc == nil || rc.Rooms[inList].Type != "m.receipt" || rc.Rooms[inList].Content[ev] == nil {
			t.Fatalf("receipts: %+v", rc)
		}
		ty := first.Extensions.Typing
		if ty == nil || fmt.Sprint(ty.Rooms[inList].Content["user_ids"]) != fmt.Sprintf("[%s]", bob.UserID) {
			t.Fatalf("typing: %+v", ty)
		}

		// Incremental: only changes.
		expect(t, hs.Do(t, "PUT", roomPath(inList, "/typing/"+testharness.PathEscape(bob.UserID)), bob.Token, map[string]any{"typing": false}), 200, "")
		expect(t, hs.Do(t, "PUT", userPath+"/rooms/"+testharness.PathEscape(inSub)+"/account_data/m.test.room", alice.Token, map[string]any{"r": 3}), 200, "")
		next := slidingSync(t, hs, alice.Token, first.Pos, 0, body(nil, nil))
		if got := fmt.Sprint(next.Extensions.Typing.Rooms[inList].Content["user_ids"]); got != "[]" {
			t.Fatalf("typing stopped: %v", got)
		}
		ad = next.Extensions.AccountData
		if len(ad.Global) != 0 || len(ad.Rooms[inList]) != 0 || len(ad.Rooms[inSub]) != 1 || ad.Rooms[inSub][0].Content["r"] != float64(3) {
			t.Fatalf("account data changes: %+v", ad)
		}
		if len(next.Extensions.Receipts.Rooms) != 0 {
			t.Fatalf("receipts resent: %+v", next.Extensions.Receipts)
		}
	})
}
