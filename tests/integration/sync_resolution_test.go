package integration

import (
	"encoding/json"
	"maps"
	"net/url"
	"strings"
	"testing"
	"time"

	"foyer/internal/testharness"
)

// clientRoomState is a room's state as a client that follows /sync keeps
// it: by (type, state_key), the event ID and content last applied.
type clientRoomState map[[2]string]syncEvent

// apply updates the state from one sync's room section, as the spec says
// a client does: state first, then the timeline's state events in order.
func (c clientRoomState) apply(room syncRoom) {
	for _, ev := range append(append([]syncEvent{}, room.State.Events...), room.Timeline.Events...) {
		if ev.StateKey != nil {
			c[[2]string{ev.Type, *ev.StateKey}] = ev
		}
	}
}

// stateAfterSection is a room's state_after (MSC4222) under either name,
// and whether state is present.
type stateAfterSection struct {
	State      *json.RawMessage              `json:"state"`
	StateAfter *struct{ Events []syncEvent } `json:"state_after"`
	Unstable   *struct{ Events []syncEvent } `json:"org.matrix.msc4222.state_after"`
}

func stateAfterOf(t *testing.T, r *testharness.Response, roomID string) stateAfterSection {
	t.Helper()
	var body struct {
		Rooms struct {
			Join map[string]stateAfterSection `json:"join"`
		} `json:"rooms"`
	}
	if err := json.Unmarshal(r.Raw, &body); err != nil {
		t.Fatal(err)
	}
	room, ok := body.Rooms.Join[roomID]
	if !ok {
		t.Fatalf("room missing from the sync: %s", r)
	}
	return room
}

// A room whose branches are resolved to a state that no event in stream
// order gives: another server's user sets the name, then a concurrent
// branch takes her power to do so, so resolution drops her name. A client
// syncing incrementally ends with the room's resolved state (the old name
// comes in the state section), also after a later message on the losing
// branch; use_state_after gives the state at the timeline's end; a quiet
// room's sync sends nothing.
func TestSyncStateFollowsResolution(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		hs := testharness.StartBackend(t, backend)
		remote := newRemoteServer(t, hs)
		alice := hs.RegisterUser(t, "alice")
		room := createRoom(t, hs, alice.Token, map[string]any{"preset": "public_chat", "name": "Zeta"})
		quiet := createRoom(t, hs, alice.Token, map[string]any{"preset": "private_chat"})
		rita, rob := "@rita:remote.test", "@rob:remote.test"
		remote.join(t, room, rita)
		remote.join(t, room, rob)
		pl := hs.Do(t, "GET", roomPath(room, "/state/m.room.power_levels/"), alice.Token, nil)
		var plContent map[string]any
		if err := json.Unmarshal(pl.Raw, &plContent); err != nil || pl.Status != 200 {
			t.Fatalf("power levels: %s", pl)
		}
		plContent["users"] = map[string]any{alice.UserID: 100, rob: 100, rita: 50}
		plContent["state_default"] = 50
		if r := putState(t, hs, alice.Token, room, "m.room.power_levels", "", plContent); r.Status != 200 {
			t.Fatalf("power levels: %s", r)
		}
		fork := currentRoom(t, hs, room)
		forkPoint := extremityIDs(fork)

		client := clientRoomState{}
		first, _ := doSync(t, hs, alice.Token, "")
		client.apply(first.Rooms.Join[room])
		since := first.NextBatch

		// Rita renames the room; the client sees it.
		ritaName := remote.event(t, fork.State, room, rita, "m.room.name", strPtr(""), map[string]any{"name": "Ypsilon"},
			forkPoint, time.Now())
		if got := remote.receive(t, ritaName); got.Rejected || got.SoftFailed || got.StreamPos == 0 {
			t.Fatalf("rita's name: %+v", got)
		}
		second, _ := doSync(t, hs, alice.Token, "since="+since)
		client.apply(second.Rooms.Join[room])
		if got := client[[2]string{"m.room.name", ""}].Content["name"]; got != "Ypsilon" {
			t.Fatalf("client's name after rita's rename: %v", got)
		}
		since = second.NextBatch

		// Rob, on a branch from before her rename, takes Rita's power to
		// set state: resolution applies his power levels first and drops
		// her name, with no name event after hers.
		robContent := maps.Clone(plContent)
		robContent["users"] = map[string]any{alice.UserID: 100, rob: 100, rita: 0}
		robPL := remote.event(t, fork.State, room, rob, "m.room.power_levels", strPtr(""), robContent, forkPoint, time.Now())
		if got := remote.receive(t, robPL); got.Rejected || got.SoftFailed || got.StreamPos == 0 {
			t.Fatalf("rob's power levels: %+v", got)
		}
		if r := hs.Do(t, "GET", roomPath(room, "/state/m.room.name/"), alice.Token, nil); r.Str("name") != "Zeta" {
			t.Fatalf("resolved name: %s", r)
		}
		beforeRob := since
		third, thirdRaw := doSync(t, hs, alice.Token, "since="+since)
		client.apply(third.Rooms.Join[room])
		if got := client[[2]string{"m.room.name", ""}].Content["name"]; got != "Zeta" {
			t.Errorf("client's name after the resolution: %v, want Zeta (state section %+v)", got, third.Rooms.Join[room].State.Events)
		}
		if got := client[[2]string{"m.room.power_levels", ""}].EventID; got != robPL.EventID() {
			t.Errorf("client's power levels %s, want rob's %s", got, robPL.EventID())
		}
		if _, ok := third.Rooms.Join[quiet]; ok {
			t.Errorf("the quiet room is in the sync: %s", thirdRaw)
		}
		since = third.NextBatch

		// Rita's message on her branch: the room's state stays the
		// resolved one, which is not her branch's.
		ritaMsg := remote.event(t, fork.State, room, rita, "m.room.message", nil, map[string]any{"msgtype": "m.text", "body": "hello"},
			[]string{ritaName.EventID()}, time.Now())
		if got := remote.receive(t, ritaMsg); got.Rejected || got.SoftFailed || got.StreamPos == 0 {
			t.Fatalf("rita's message: %+v", got)
		}
		if n := len(currentRoom(t, hs, room).Info.Extremities); n != 2 {
			t.Fatalf("%d extremities after rita's message", n)
		}
		fourth, fourthRaw := doSync(t, hs, alice.Token, "since="+since)
		if len(fourth.Rooms.Join[room].Timeline.Events) != 1 {
			t.Fatalf("sync after rita's message: %s", fourthRaw)
		}
		client.apply(fourth.Rooms.Join[room])
		if got := client[[2]string{"m.room.name", ""}].Content["name"]; got != "Zeta" {
			t.Errorf("client's name after rita's message: %v, want Zeta (state section %+v)", got, fourth.Rooms.Join[room].State.Events)
		}
		if got := client[[2]string{"m.room.power_levels", ""}].EventID; got != robPL.EventID() {
			t.Errorf("client's power levels after rita's message %s, want rob's %s", got, robPL.EventID())
		}

		// Nothing new: nothing sent.
		quietSync, quietRaw := doSync(t, hs, alice.Token, "since="+fourth.NextBatch)
		if len(quietSync.Rooms.Join) != 0 {
			t.Errorf("an incremental sync with nothing new has rooms: %s", quietRaw)
		}

		// MSC4222: the state at the timeline's end, under the name asked.
		for _, param := range []string{"use_state_after", "org.matrix.msc4222.use_state_after"} {
			r := hs.Do(t, "GET", cs+"/sync?since="+beforeRob+"&"+param+"=true", alice.Token, nil)
			sec := stateAfterOf(t, r, room)
			after := sec.StateAfter
			if param != "use_state_after" {
				after = sec.Unstable
				if sec.StateAfter != nil {
					t.Errorf("%s: stable state_after given too", param)
				}
			}
			if sec.State != nil || after == nil {
				t.Fatalf("%s: want state_after only: %s", param, r)
			}
			got := map[string]string{}
			for _, ev := range after.Events {
				got[ev.Type] = ev.EventID
			}
			if got["m.room.power_levels"] != robPL.EventID() || got["m.room.name"] != client[[2]string{"m.room.name", ""}].EventID || len(got) != 2 {
				t.Errorf("%s: state_after %v, want rob's power levels and the first name", param, got)
			}
			r = hs.Do(t, "GET", cs+"/sync?since="+since+"&"+param+"=true", alice.Token, nil)
			if sec := stateAfterOf(t, r, room); sec.State != nil || (sec.StateAfter == nil && sec.Unstable == nil) ||
				(sec.StateAfter != nil && len(sec.StateAfter.Events) != 0) || (sec.Unstable != nil && len(sec.Unstable.Events) != 0) {
				t.Errorf("%s after rita's message: want an empty state_after: %s", param, r)
			}
		}
		// An initial sync whose timeline holds Rita's losing name: only
		// state_after can give the resolved one.
		initial := stateAfterOf(t, hs.Do(t, "GET", cs+"/sync?use_state_after=true", alice.Token, nil), room)
		if initial.State != nil || initial.StateAfter == nil {
			t.Fatalf("initial sync with use_state_after: want state_after only")
		}
		names := 0
		for _, ev := range initial.StateAfter.Events {
			if ev.Type == "m.room.name" {
				names++
				if ev.Content["name"] != "Zeta" {
					t.Errorf("initial state_after's name: %v, want Zeta", ev.Content["name"])
				}
			}
		}
		if names != 1 || len(initial.StateAfter.Events) < 5 {
			t.Errorf("initial state_after: %d names among %d events", names, len(initial.StateAfter.Events))
		}

		// Lazy-loaded members: the resolved name still comes, and of the
		// members only the timeline's senders.
		lazy, lazyRaw := doSync(t, hs, alice.Token, "since="+beforeRob+"&filter="+
			url.QueryEscape(`{"room":{"state":{"lazy_load_members":true}}}`))
		var sawName bool
		for _, ev := range lazy.Rooms.Join[room].State.Events {
			switch {
			case ev.Type == "m.room.name":
				sawName = ev.Content["name"] == "Zeta"
			case ev.Type == "m.room.member" && *ev.StateKey != rob && *ev.StateKey != rita:
				t.Errorf("lazy sync sends the member %s", *ev.StateKey)
			}
		}
		if !sawName {
			t.Errorf("lazy sync lacks the resolved name: %s", lazyRaw)
		}

		if r := hs.Do(t, "GET", "/_matrix/client/versions", "", nil); !strings.Contains(string(r.Raw), `"org.matrix.msc4222":true`) {
			t.Errorf("/versions does not name MSC4222: %s", r)
		}
		if r := hs.Do(t, "GET", cs+"/sync?use_state_after=maybe", alice.Token, nil); r.Status != 400 || r.Errcode() != "M_INVALID_PARAM" {
			t.Errorf("use_state_after=maybe: %s", r)
		}
	})
}
