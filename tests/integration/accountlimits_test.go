package integration

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"

	"foyer/internal/config"
	"foyer/internal/testharness"
)

// Caps and rates that bound what one account, and one sync, make the
// server hold (config account_limits, sync_limits, rate_limits.guest_*).

// toDeviceTo addresses one message to one device.
func toDeviceTo(userID, deviceID string, content any) map[string]any {
	return map[string]any{userID: map[string]any{deviceID: content}}
}

// padded is a message content of about n bytes.
func padded(i, n int) map[string]any {
	return map[string]any{"i": i, "pad": strings.Repeat("x", n)}
}

// syncToDeviceBytes is the size of a sync response's to-device events.
func syncToDeviceBytes(t *testing.T, s e2eeSync) int {
	t.Helper()
	n := 0
	for _, e := range s.ToDevice.Events {
		b, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		n += len(b)
	}
	return n
}

func expectUserLimit(t *testing.T, r *testharness.Response, canUpgrade bool) {
	t.Helper()
	expect(t, r, 403, "M_USER_LIMIT_EXCEEDED")
	if r.Str("info_uri") == "" || r.JSON["can_upgrade"] != canUpgrade {
		t.Fatalf("want info_uri and can_upgrade %v: %s", canUpgrade, r)
	}
}

func TestToDeviceSyncBoundedInBytes(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		cfg := testharness.Config(t, backend)
		cfg.SyncLimits.ToDeviceBytes = 100_000
		hs := testharness.Start(t, cfg)
		alice := hs.RegisterUser(t, "alice")
		bob := hs.RegisterUser(t, "bob")

		// Seven messages of 30 kB, then one of 200 kB, larger than the
		// whole budget, then one more small one.
		for i := range 7 {
			expect(t, sendToDevice(t, hs, alice.Token, "m.test", fmt.Sprintf("t%d", i), toDeviceTo(bob.UserID, bob.DeviceID, padded(i, 30_000))), 200, "")
		}
		expect(t, sendToDevice(t, hs, alice.Token, "m.test", "big", toDeviceTo(bob.UserID, bob.DeviceID, padded(7, 200_000))), 200, "")
		expect(t, sendToDevice(t, hs, alice.Token, "m.test", "last", toDeviceTo(bob.UserID, bob.DeviceID, padded(8, 10))), 200, "")

		var got []int
		var batches []int
		since := ""
		for range 10 {
			s := syncE2EE(t, hs, bob.Token, since)
			since = "since=" + s.NextBatch
			if len(s.ToDevice.Events) == 0 {
				break
			}
			size := syncToDeviceBytes(t, s)
			if int64(size) > cfg.SyncLimits.ToDeviceBytes && len(s.ToDevice.Events) > 1 {
				t.Fatalf("a sync carried %d bytes of to-device messages in %d messages; the budget is %d", size, len(s.ToDevice.Events), cfg.SyncLimits.ToDeviceBytes)
			}
			batches = append(batches, len(s.ToDevice.Events))
			for _, e := range s.ToDevice.Events {
				got = append(got, int(e.Content["i"].(float64)))
			}
		}
		if fmt.Sprint(got) != "[0 1 2 3 4 5 6 7 8]" {
			t.Fatalf("messages arrived as %v in batches %v", got, batches)
		}
		// 3 x 30 kB fit 100 kB, 4 do not; the 200 kB message goes alone.
		if fmt.Sprint(batches) != "[3 3 1 1 1]" {
			t.Fatalf("batches of %v, want [3 3 1 1 1]", batches)
		}
	})
}

func TestToDevicePendingCapPerDevice(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		cfg := testharness.Config(t, backend)
		cfg.Limits.MaxRequestBytes = 65536
		cfg.AccountLimits.MaxPendingToDeviceBytes = 65536
		hs := testharness.Start(t, cfg)
		alice := hs.RegisterUser(t, "alice")
		bob := hs.RegisterUser(t, "bob")
		carol := hs.RegisterUser(t, "carol")

		// Three messages of 20 kB fit bob's queue of 64 KiB; a fourth does not.
		for i := range 3 {
			expect(t, sendToDevice(t, hs, alice.Token, "m.test", fmt.Sprintf("t%d", i), toDeviceTo(bob.UserID, bob.DeviceID, padded(i, 20_000))), 200, "")
		}
		r := sendToDevice(t, hs, alice.Token, "m.test", "t3", toDeviceTo(bob.UserID, bob.DeviceID, padded(3, 20_000)))
		expect(t, r, 429, "M_LIMIT_EXCEEDED")
		if !strings.Contains(r.Str("error"), bob.DeviceID) || !strings.Contains(r.Str("error"), bob.UserID) {
			t.Fatalf("the refusal does not name bob's device: %s", r)
		}
		if _, ok := r.JSON["retry_after_ms"].(float64); !ok || r.Header.Get("Retry-After") == "" {
			t.Fatalf("no retry_after_ms or Retry-After: %s", r)
		}
		// A retry of a transaction already accepted is still answered 200.
		expect(t, sendToDevice(t, hs, alice.Token, "m.test", "t0", toDeviceTo(bob.UserID, bob.DeviceID, padded(0, 20_000))), 200, "")

		// A request for carol and bob's full device is refused whole:
		// carol gets nothing either.
		both := map[string]any{
			bob.UserID:   map[string]any{bob.DeviceID: padded(4, 20_000)},
			carol.UserID: map[string]any{"*": padded(4, 10)},
		}
		expect(t, sendToDevice(t, hs, alice.Token, "m.test", "both", both), 429, "M_LIMIT_EXCEEDED")
		if s := syncE2EE(t, hs, carol.Token, ""); len(s.ToDevice.Events) != 0 {
			t.Fatalf("carol got part of a refused request: %+v", s.ToDevice.Events)
		}

		// Once bob has synced and acknowledged, the same transaction goes
		// through, to both.
		s1 := syncE2EE(t, hs, bob.Token, "")
		if len(s1.ToDevice.Events) != 3 {
			t.Fatalf("bob got %d messages, want 3", len(s1.ToDevice.Events))
		}
		syncE2EE(t, hs, bob.Token, "since="+s1.NextBatch)
		expect(t, sendToDevice(t, hs, alice.Token, "m.test", "both", both), 200, "")
		if s := syncE2EE(t, hs, carol.Token, ""); len(s.ToDevice.Events) != 1 {
			t.Fatalf("carol got %d messages after the retry, want 1", len(s.ToDevice.Events))
		}
	})
}

func TestToDevicePendingCapHoldsUnderConcurrentSends(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		cfg := testharness.Config(t, backend)
		cfg.Limits.MaxRequestBytes = 65536
		cfg.AccountLimits.MaxPendingToDeviceBytes = 65536
		hs := testharness.Start(t, cfg)
		bob := hs.RegisterUser(t, "bob")
		senders := make([]testharness.Account, 4)
		for i := range senders {
			senders[i] = hs.RegisterUser(t, fmt.Sprintf("sender%d", i))
		}
		// 16 sends of 10 kB race for bob's 64 KiB: six fit.
		accepted := raceAccepted(t, 16, 429, func(i int) int {
			return sendToDevice(t, hs, senders[i%4].Token, "m.test", fmt.Sprintf("c%d", i), toDeviceTo(bob.UserID, bob.DeviceID, padded(i, 10_000))).Status
		})
		s := syncE2EE(t, hs, bob.Token, "")
		if accepted != 6 || len(s.ToDevice.Events) != 6 {
			t.Fatalf("%d sends accepted and %d messages queued; want 6 and 6", accepted, len(s.ToDevice.Events))
		}
	})
}

func TestGuestToDeviceRateLimited(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		cfg := testharness.Config(t, backend)
		cfg.RateLimit.GuestToDevice = config.Rate{PerSecond: 0.001, Burst: 3}
		hs := testharness.Start(t, cfg)
		alice := hs.RegisterUser(t, "alice")
		guest := hs.RegisterGuest(t)
		other := hs.RegisterGuest(t)

		for i := range 3 {
			expect(t, sendToDevice(t, hs, guest.Token, "m.test", fmt.Sprintf("g%d", i), toDeviceTo(alice.UserID, alice.DeviceID, padded(i, 10))), 200, "")
		}
		r := sendToDevice(t, hs, guest.Token, "m.test", "g3", toDeviceTo(alice.UserID, alice.DeviceID, padded(3, 10)))
		expect(t, r, 429, "M_LIMIT_EXCEEDED")
		if ms, ok := r.JSON["retry_after_ms"].(float64); !ok || ms <= 0 {
			t.Fatalf("no retry_after_ms: %s", r)
		}
		// The budget is the guest's own: another guest, and users, are
		// not held back.
		expect(t, sendToDevice(t, hs, other.Token, "m.test", "o0", toDeviceTo(alice.UserID, alice.DeviceID, padded(0, 10))), 200, "")
		for i := range 5 {
			expect(t, sendToDevice(t, hs, alice.Token, "m.test", fmt.Sprintf("a%d", i), toDeviceTo(guest.UserID, guest.DeviceID, padded(i, 10))), 200, "")
		}
	})
}

func TestGuestWritesRateLimited(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		cfg := testharness.Config(t, backend)
		cfg.RateLimit.GuestWrites = config.Rate{PerSecond: 0.001, Burst: 2}
		hs := testharness.Start(t, cfg)
		guest := hs.RegisterGuest(t)
		alice := hs.RegisterUser(t, "alice")

		filterPath := func(a testharness.Account) string {
			return cs + "/user/" + testharness.PathEscape(a.UserID) + "/filter"
		}
		expect(t, hs.Do(t, "POST", filterPath(guest), guest.Token, map[string]any{"room": map[string]any{"timeline": map[string]any{"limit": 1}}}), 200, "")
		dev := newCryptoDevice(t, guest)
		expect(t, uploadKeys(t, hs, guest.Token, map[string]any{"device_keys": dev.deviceKeys(t)}), 200, "")
		// Filters and key uploads share the one budget.
		expect(t, hs.Do(t, "POST", filterPath(guest), guest.Token, map[string]any{"room": map[string]any{"timeline": map[string]any{"limit": 2}}}), 429, "M_LIMIT_EXCEEDED")
		expect(t, uploadKeys(t, hs, guest.Token, map[string]any{"one_time_keys": dev.oneTimeKeys(t, 1)}), 429, "M_LIMIT_EXCEEDED")
		for i := range 4 {
			expect(t, hs.Do(t, "POST", filterPath(alice), alice.Token, map[string]any{"room": map[string]any{"timeline": map[string]any{"limit": i}}}), 200, "")
		}
	})
}

func TestAccountCapsFiltersKeysAccountData(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		cfg := testharness.Config(t, backend)
		cfg.AccountLimits.MaxFilters = 3
		cfg.AccountLimits.GuestMaxFilters = 2
		cfg.AccountLimits.MaxOneTimeKeysPerDevice = 10
		cfg.AccountLimits.GuestMaxOneTimeKeysPerDevice = 5
		cfg.AccountLimits.MaxAccountDataEntries = 3
		cfg.AccountLimits.MaxAccountDataBytes = 2000
		hs := testharness.Start(t, cfg)
		alice := hs.RegisterUser(t, "alice")
		guest := hs.RegisterGuest(t)

		// Filters: an unchanged filter again costs nothing.
		filter := func(a testharness.Account, limit int) *testharness.Response {
			return hs.Do(t, "POST", cs+"/user/"+testharness.PathEscape(a.UserID)+"/filter", a.Token,
				map[string]any{"room": map[string]any{"timeline": map[string]any{"limit": limit}}})
		}
		first := filter(alice, 1)
		expect(t, first, 200, "")
		for _, limit := range []int{2, 3, 1} {
			expect(t, filter(alice, limit), 200, "")
		}
		if again := filter(alice, 1); again.Str("filter_id") != first.Str("filter_id") {
			t.Fatalf("the same filter got a new ID: %s then %s", first.Str("filter_id"), again.Str("filter_id"))
		}
		expectUserLimit(t, filter(alice, 4), false)
		expect(t, filter(guest, 1), 200, "")
		expect(t, filter(guest, 2), 200, "")
		expectUserLimit(t, filter(guest, 3), true)

		// One-time keys: an upload beyond the cap stores none of its keys.
		dev := newCryptoDevice(t, alice)
		expect(t, uploadKeys(t, hs, alice.Token, map[string]any{"device_keys": dev.deviceKeys(t), "one_time_keys": dev.oneTimeKeys(t, 8)}), 200, "")
		expectUserLimit(t, uploadKeys(t, hs, alice.Token, map[string]any{"one_time_keys": dev.oneTimeKeys(t, 3)}), false)
		if n := syncE2EE(t, hs, alice.Token, "").OTKCount["signed_curve25519"]; n != 8 {
			t.Fatalf("%d one-time keys stored after a refused upload, want 8", n)
		}
		claimer := hs.RegisterUser(t, "claimer")
		expect(t, claim(t, hs, claimer.Token, map[string]any{alice.UserID: map[string]any{alice.DeviceID: "signed_curve25519"}}), 200, "")
		expect(t, uploadKeys(t, hs, alice.Token, map[string]any{"one_time_keys": dev.oneTimeKeys(t, 3)}), 200, "")
		gdev := newCryptoDevice(t, guest)
		expect(t, uploadKeys(t, hs, guest.Token, map[string]any{"device_keys": gdev.deviceKeys(t), "one_time_keys": gdev.oneTimeKeys(t, 5)}), 200, "")
		expectUserLimit(t, uploadKeys(t, hs, guest.Token, map[string]any{"one_time_keys": gdev.oneTimeKeys(t, 1)}), true)

		// Account data: entries and bytes; replacing an entry counts only
		// its new size, and a refused write leaves the old content.
		put := func(typ string, content any) *testharness.Response {
			return hs.Do(t, "PUT", accountDataPath(alice.UserID, typ), alice.Token, content)
		}
		for _, typ := range []string{"org.example.a", "org.example.b", "org.example.c"} {
			expect(t, put(typ, map[string]any{"v": 1}), 200, "")
		}
		expect(t, put("org.example.a", map[string]any{"v": strings.Repeat("a", 1500)}), 200, "")
		expectUserLimit(t, put("org.example.d", map[string]any{"v": 1}), false)
		expectUserLimit(t, put("org.example.b", map[string]any{"v": strings.Repeat("b", 600)}), false)
		if r := hs.Do(t, "GET", accountDataPath(alice.UserID, "org.example.b"), alice.Token, nil); r.JSON["v"] != float64(1) {
			t.Fatalf("a refused write changed the entry: %s", r)
		}
		expect(t, put("org.example.a", map[string]any{"v": 2}), 200, "")
		expect(t, put("org.example.b", map[string]any{"v": strings.Repeat("b", 600)}), 200, "")
	})
}

func TestAccountCapsHoldUnderConcurrentWrites(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		cfg := testharness.Config(t, backend)
		cfg.AccountLimits.MaxFilters = 5
		hs := testharness.Start(t, cfg)
		alice := hs.RegisterUser(t, "alice")
		created := raceAccepted(t, 20, 403, func(i int) int {
			return hs.Do(t, "POST", cs+"/user/"+testharness.PathEscape(alice.UserID)+"/filter", alice.Token,
				map[string]any{"room": map[string]any{"timeline": map[string]any{"limit": i}}}).Status
		})
		if created != 5 {
			t.Fatalf("%d filters created against a cap of 5", created)
		}
	})
}

func TestThreadReceiptsCappedPerRoom(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		cfg := testharness.Config(t, backend)
		cfg.AccountLimits.MaxThreadReceiptsPerRoom = 3
		hs := testharness.Start(t, cfg)
		alice := hs.RegisterUser(t, "alice")
		room := createRoom(t, hs, alice.Token, nil)
		other := createRoom(t, hs, alice.Token, nil)
		var events []string
		for i := range 5 {
			events = append(events, sendMessage(t, hs, alice.Token, room, fmt.Sprintf("m%d", i)))
		}
		receipt := func(typ, eventID, thread string) *testharness.Response {
			return hs.Do(t, "POST", receiptPath(room, typ, eventID), alice.Token, map[string]any{"thread_id": thread})
		}
		for _, root := range events[:3] {
			expect(t, receipt("m.read", events[4], root), 200, "")
		}
		expectUserLimit(t, receipt("m.read", events[4], events[3]), false)
		// Moving a receipt in a thread already counted, the main timeline,
		// an unthreaded receipt, another receipt type and another room are
		// not held back.
		expect(t, receipt("m.read", events[4], events[0]), 200, "")
		expect(t, receipt("m.read", events[4], "main"), 200, "")
		expect(t, hs.Do(t, "POST", receiptPath(room, "m.read", events[4]), alice.Token, map[string]any{}), 200, "")
		expect(t, receipt("m.read.private", events[4], events[3]), 200, "")
		otherEvent := sendMessage(t, hs, alice.Token, other, "elsewhere")
		expect(t, hs.Do(t, "POST", receiptPath(other, "m.read", otherEvent), alice.Token, map[string]any{"thread_id": events[3]}), 200, "")
	})
}

func TestToDeviceRequestBoundedAfterExpansion(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		hs := testharness.StartBackend(t, backend)
		alice := hs.RegisterUser(t, "alice")
		many := hs.RegisterUser(t, "many")
		for i := range 30 {
			loginDevice(t, hs, many, fmt.Sprintf("D%02d", i))
		}
		// 600 kB fit the body, but for "*" of 31 devices they would be
		// stored 31 times.
		r := sendToDevice(t, hs, alice.Token, "m.test", "wide", map[string]any{many.UserID: map[string]any{"*": padded(0, 600_000)}})
		expect(t, r, 413, "M_TOO_LARGE")
		if s := syncE2EE(t, hs, many.Token, ""); len(s.ToDevice.Events) != 0 {
			t.Fatalf("a refused request was stored: %d messages", len(s.ToDevice.Events))
		}
		expect(t, sendToDevice(t, hs, alice.Token, "m.test", "narrow", map[string]any{many.UserID: map[string]any{"*": padded(0, 1000)}}), 200, "")
	})
}

// raceAccepted runs n requests at once and counts those answered 200; a
// request may also be refused with refused, and any other answer fails
// the test.
func raceAccepted(t *testing.T, n, refused int, request func(i int) int) int {
	t.Helper()
	statuses := make([]int, n)
	var wg sync.WaitGroup
	for i := range statuses {
		wg.Go(func() { statuses[i] = request(i) })
	}
	wg.Wait()
	accepted := 0
	for i, st := range statuses {
		switch st {
		case 200:
			accepted++
		case refused:
		default:
			t.Fatalf("request %d answered %d", i, st)
		}
	}
	return accepted
}
