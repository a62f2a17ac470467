package integration

import (
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"sync"
	"testing"
	"time"

	"foyer/internal/testharness"
)

// fanoutSync is what the fan-out tests read of a sync response.
type fanoutSync struct {
	NextBatch string `json:"next_batch"`
	Rooms     struct {
		Join map[string]struct {
			State    struct{ Events []syncEvent } `json:"state"`
			Timeline struct {
				Events []syncEvent `json:"events"`
			} `json:"timeline"`
			Unread struct {
				Notifications int `json:"notification_count"`
			} `json:"unread_notifications"`
		} `json:"join"`
	} `json:"rooms"`
	ToDevice    struct{ Events []syncEvent } `json:"to_device"`
	DeviceLists struct {
		Changed []string `json:"changed"`
	} `json:"device_lists"`
	OTKCount map[string]int `json:"device_one_time_keys_count"`
	Fallback []string       `json:"device_unused_fallback_key_types"`
}

func fanoutDo(t testing.TB, hs *testharness.Homeserver, token, query string) fanoutSync {
	t.Helper()
	r := hs.Do(t, "GET", cs+"/sync?"+query, token, nil)
	if r.Status != 200 {
		t.Errorf("sync %s: %s", query, r)
		return fanoutSync{}
	}
	var s fanoutSync
	if err := json.Unmarshal(r.Raw, &s); err != nil {
		t.Error(err)
	}
	return s
}

func (s fanoutSync) bodies(roomID string) []string {
	var out []string
	for _, ev := range s.Rooms.Join[roomID].Timeline.Events {
		if b, ok := ev.Content["body"].(string); ok {
			out = append(out, b)
		}
	}
	return out
}

// One message wakes long-polls that differ in filter, in ignored users
// and in lazy-loading: the syncs it wakes share their reads of the room,
// yet each answer is the one its own sync gives alone.
func TestFanoutWakeKeepsEachSyncsOwnAnswer(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		hs := testharness.StartBackend(t, backend)
		owner := hs.RegisterUser(t, "owner")
		room := createRoom(t, hs, owner.Token, map[string]any{"preset": "public_chat",
			"initial_state": []map[string]any{{"type": "m.room.guest_access", "content": map[string]any{"guest_access": "can_join"}}}})
		lazy := "filter=" + url.QueryEscape(`{"room":{"timeline":{"limit":50},"state":{"lazy_load_members":true}}}`)
		noMessages := "filter=" + url.QueryEscape(`{"room":{"timeline":{"not_types":["m.room.message"]}}}`)
		type poller struct {
			name, token, filter string
			since               string
		}
		var polls []*poller
		add := func(name, token, filter string) *poller {
			p := &poller{name: name, token: token, filter: filter}
			polls = append(polls, p)
			return p
		}
		plain := hs.RegisterUser(t, "plain")
		ignorer := hs.RegisterUser(t, "ignorer")
		filtered := hs.RegisterUser(t, "filtered")
		for _, a := range []testharness.Account{plain, ignorer, filtered} {
			mustJoin(t, hs, a.Token, room)
		}
		expect(t, hs.Do(t, "PUT", cs+"/user/"+testharness.PathEscape(ignorer.UserID)+"/account_data/m.ignored_user_list", ignorer.Token,
			map[string]any{"ignored_users": map[string]any{owner.UserID: map[string]any{}}}), 200, "")
		pPlain := add("plain", plain.Token, "")
		pIgnorer := add("ignorer", ignorer.Token, lazy)
		pFiltered := add("filtered", filtered.Token, noMessages)
		var guests []*poller
		for i := range 12 {
			g := hs.RegisterGuest(t)
			mustJoin(t, hs, g.Token, room)
			guests = append(guests, add(fmt.Sprintf("guest%d", i), g.Token, lazy))
		}
		// The owner speaks once first, so the lazy-loaded guests have its
		// member event already when the wake comes.
		sendMessage(t, hs, owner.Token, room, "before")
		for _, p := range polls {
			p.since = fanoutDo(t, hs, p.token, p.filter).NextBatch
		}

		// Each long-polls until it has the message (others' presence may
		// wake it first); those who must not see it poll for a while.
		var wg sync.WaitGroup
		got := make([]fanoutSync, len(polls))
		gotBodies := make([][]string, len(polls))
		for i, p := range polls {
			wg.Add(1)
			go func() {
				defer wg.Done()
				deadline := time.Now().Add(15 * time.Second)
				if p == pIgnorer || p == pFiltered {
					deadline = time.Now().Add(2 * time.Second)
				}
				since := p.since
				for time.Now().Before(deadline) {
					r := fanoutDo(t, hs, p.token, p.filter+"&timeout=1000&since="+since)
					since = r.NextBatch
					gotBodies[i] = append(gotBodies[i], r.bodies(room)...)
					if slices.Contains(r.bodies(room), "woken") {
						got[i] = r
						return
					}
				}
			}()
		}
		time.Sleep(300 * time.Millisecond)
		sendMessage(t, hs, owner.Token, room, "woken")
		wg.Wait()
		for i, p := range polls {
			want := []string{"woken"}
			if p == pIgnorer || p == pFiltered {
				want = nil
			}
			if !slices.Equal(gotBodies[i], want) {
				t.Errorf("%s got %v, want %v", p.name, gotBodies[i], want)
			}
		}
		// A lazy-loading sync that already had the sender's member event is
		// not sent it again; the plain sync counts the message unread.
		for i, p := range guests {
			_ = i
			for j, q := range polls {
				if q == p && len(got[j].Rooms.Join[room].State.Events) != 0 {
					t.Errorf("%s was sent state again: %+v", p.name, got[j].Rooms.Join[room].State.Events)
				}
			}
		}
		if n := got[slices.Index(polls, pPlain)].Rooms.Join[room].Unread.Notifications; n != 2 {
			t.Errorf("plain's unread count is %d, want 2", n)
		}

		// A redaction after the shared reads shows in a sync from the
		// earlier token: nothing read before it is served again.
		redacted := sendMessage(t, hs, owner.Token, room, "to redact")
		s1 := fanoutDo(t, hs, plain.Token, "since="+pPlain.since)
		if !slices.Contains(s1.bodies(room), "to redact") {
			t.Fatalf("plain missed the message: %v", s1.bodies(room))
		}
		expect(t, hs.Do(t, "PUT", roomPath(room, "/redact/"+testharness.PathEscape(redacted)+"/r1"), owner.Token, map[string]any{}), 200, "")
		s2 := fanoutDo(t, hs, plain.Token, "since="+pPlain.since)
		if slices.Contains(s2.bodies(room), "to redact") {
			t.Fatalf("the redacted message's content came back: %v", s2.bodies(room))
		}
	})
}

// Long-polls woken by nothing but their end-to-end encryption streams
// still get them, alone or beside room events, and the key counts every
// sync reports follow uploads, claims and a device's deletion.
func TestFanoutE2EEStreamsStillDelivered(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		hs := testharness.StartBackend(t, backend)
		aliceAcct := hs.RegisterUser(t, "alice")
		alice := newCryptoDevice(t, aliceAcct)
		bob := newCryptoDevice(t, hs.RegisterUser(t, "bob"))
		room := encryptedGuestRoom(t, hs, alice.Token)
		mustJoin(t, hs, bob.Token, room)
		bob.setUp(t, hs, 3)

		// Quiet syncs first, so bob's device is known to have nothing
		// waiting.
		s := fanoutDo(t, hs, bob.Token, "")
		for range 3 {
			s = fanoutDo(t, hs, bob.Token, "since="+s.NextBatch)
		}
		if s.OTKCount["signed_curve25519"] != 3 || !slices.Equal(s.Fallback, []string{"signed_curve25519"}) {
			t.Fatalf("counts after upload: %v %v", s.OTKCount, s.Fallback)
		}

		poll := func(since string, send func()) fanoutSync {
			t.Helper()
			done := make(chan fanoutSync, 1)
			go func() { done <- fanoutDo(t, hs, bob.Token, "timeout=20000&since="+since) }()
			time.Sleep(300 * time.Millisecond)
			send()
			select {
			case r := <-done:
				return r
			case <-time.After(15 * time.Second):
				t.Fatal("long-poll not woken")
				return fanoutSync{}
			}
		}
		// A to-device message alone.
		r := poll(s.NextBatch, func() {
			expect(t, sendToDevice(t, hs, alice.Token, "m.only", "t1", map[string]any{bob.UserID: map[string]any{bob.DeviceID: map[string]any{"n": 1}}}), 200, "")
		})
		if len(r.ToDevice.Events) != 1 || r.ToDevice.Events[0].Type != "m.only" {
			t.Fatalf("to-device alone: %+v", r.ToDevice)
		}
		// A device-list change alone.
		r = poll(r.NextBatch, func() { alice.setUp(t, hs, 1) })
		if !slices.Contains(r.DeviceLists.Changed, alice.UserID) {
			t.Fatalf("device list change alone: %+v", r.DeviceLists)
		}
		// A to-device message beside a room message: both come, in one
		// response or the next.
		var toDevice, messages int
		since := r.NextBatch
		r = poll(since, func() {
			expect(t, sendToDevice(t, hs, alice.Token, "m.mixed", "t2", map[string]any{bob.UserID: map[string]any{"*": map[string]any{}}}), 200, "")
			sendMessage(t, hs, alice.Token, room, "mixed")
		})
		for range 3 {
			toDevice += len(r.ToDevice.Events)
			messages += len(r.bodies(room))
			if toDevice > 0 && messages > 0 {
				break
			}
			r = fanoutDo(t, hs, bob.Token, "timeout=5000&since="+r.NextBatch)
		}
		if toDevice != 1 || messages != 1 {
			t.Fatalf("mixed: %d to-device messages, %d room messages", toDevice, messages)
		}

		// A claim lowers the count the next sync reports, then uses the
		// fallback key.
		claim := func() {
			expect(t, hs.Do(t, "POST", cs+"/keys/claim", alice.Token, map[string]any{
				"one_time_keys": map[string]any{bob.UserID: map[string]any{bob.DeviceID: "signed_curve25519"}}}), 200, "")
		}
		claim()
		r = fanoutDo(t, hs, bob.Token, "since="+r.NextBatch)
		if r.OTKCount["signed_curve25519"] != 2 {
			t.Fatalf("count after a claim: %v", r.OTKCount)
		}
		claim()
		claim()
		claim()
		r = fanoutDo(t, hs, bob.Token, "since="+r.NextBatch)
		if r.OTKCount["signed_curve25519"] != 0 || len(r.Fallback) != 0 {
			t.Fatalf("after the fallback key was used: %v %v", r.OTKCount, r.Fallback)
		}

		// The device goes and comes back under the same ID: neither its
		// old counts nor its old queue follow it.
		expect(t, sendToDevice(t, hs, alice.Token, "m.stale", "t3", map[string]any{bob.UserID: map[string]any{bob.DeviceID: map[string]any{}}}), 200, "")
		bob.setUp(t, hs, 2)
		before := fanoutDo(t, hs, bob.Token, "since="+r.NextBatch)
		if before.OTKCount["signed_curve25519"] != 2 || len(before.ToDevice.Events) != 1 {
			t.Fatalf("before logout: %v %+v", before.OTKCount, before.ToDevice)
		}
		expect(t, hs.Do(t, "POST", cs+"/logout", bob.Token, map[string]any{}), 200, "")
		again := loginDevice(t, hs, bob.Account, bob.DeviceID)
		fresh := fanoutDo(t, hs, again.Token, "since="+before.NextBatch)
		if fresh.OTKCount["signed_curve25519"] != 0 || len(fresh.Fallback) != 0 || len(fresh.ToDevice.Events) != 0 {
			t.Fatalf("the new device inherited: %v %v %+v", fresh.OTKCount, fresh.Fallback, fresh.ToDevice)
		}
		expect(t, sendToDevice(t, hs, alice.Token, "m.new", "t4", map[string]any{bob.UserID: map[string]any{bob.DeviceID: map[string]any{}}}), 200, "")
		if r := fanoutDo(t, hs, again.Token, "since="+fresh.NextBatch); len(r.ToDevice.Events) != 1 || r.ToDevice.Events[0].Type != "m.new" {
			t.Fatalf("the new device's message: %+v", r.ToDevice)
		}
	})
}
