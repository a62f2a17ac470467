package integration

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"foyer/internal/rooms"
	"foyer/internal/rooms/matrixevents"
	"foyer/internal/testharness"
)

// remoteServer builds events as another server would, signed with its own
// test key, for rooms.Service.Receive (the entry point federation will use).
type remoteServer struct {
	name string
	key  *matrixevents.SigningKey
	hs   *testharness.Homeserver
}

func newRemoteServer(t testing.TB, hs *testharness.Homeserver) *remoteServer {
	t.Helper()
	key, err := matrixevents.NewSigningKey()
	if err != nil {
		t.Fatal(err)
	}
	return &remoteServer{name: "remote.test", key: key, hs: hs}
}

// event builds an event on prev, citing as auth events what the auth
// rules consult in state (the state before it, as its server saw it).
func (rs *remoteServer) event(t testing.TB, state map[matrixevents.StateTuple]rooms.StoredEvent, roomID, sender, typ string, stateKey *string, content any, prev []string, ts time.Time) matrixevents.Event {
	t.Helper()
	ctx := context.Background()
	snap, err := rs.hs.Server.Services.Rooms.Current(ctx, roomID)
	if err != nil {
		t.Fatal(err)
	}
	prevEvents, err := rs.hs.Server.Services.Rooms.Store().EventsAnyStatus(ctx, prev)
	if err != nil {
		t.Fatal(err)
	}
	p := matrixevents.ProtoEvent{RoomVersion: snap.Info.Version, RoomID: roomID, Sender: sender, Type: typ, StateKey: stateKey,
		Content: content, PrevEventIDs: prev, Origin: rs.name, Timestamp: ts}
	if c, ok := content.(map[string]any); ok && typ == "m.room.redaction" {
		p.Redacts, _ = c["redacts"].(string)
	}
	for _, se := range prevEvents {
		p.Depth = max(p.Depth, se.Event.Depth())
	}
	p.Depth++
	needed, err := matrixevents.StateNeededForAuth(p)
	if err != nil {
		t.Fatal(err)
	}
	for _, tup := range needed {
		if se, ok := state[tup]; ok {
			p.AuthEventIDs = append(p.AuthEventIDs, se.Event.EventID())
		}
	}
	ev, err := matrixevents.BuildEvent(p, rs.key)
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

func (rs *remoteServer) receive(t testing.TB, ev matrixevents.Event) rooms.Received {
	t.Helper()
	got, err := rs.hs.Server.Services.Rooms.Receive(context.Background(), ev)
	if err != nil {
		t.Fatalf("receive %s: %v", ev.Type(), err)
	}
	return got
}

// join sends user's join to roomID on its current state and fails the
// test unless it is accepted and shown.
func (rs *remoteServer) join(t testing.TB, roomID, user string) matrixevents.Event {
	t.Helper()
	snap := currentRoom(t, rs.hs, roomID)
	ev := rs.event(t, snap.State, roomID, user, "m.room.member", strPtr(user), map[string]any{"membership": "join"}, extremityIDs(snap), time.Now())
	if got := rs.receive(t, ev); got.Rejected || got.SoftFailed || got.StreamPos == 0 {
		t.Fatalf("%s's join: %+v", user, got)
	}
	return ev
}

func currentRoom(t testing.TB, hs *testharness.Homeserver, roomID string) rooms.RoomSnapshot {
	t.Helper()
	snap, err := hs.Server.Services.Rooms.Current(context.Background(), roomID)
	if err != nil {
		t.Fatal(err)
	}
	return snap
}

func extremityIDs(snap rooms.RoomSnapshot) []string {
	var out []string
	for _, x := range snap.Info.Extremities {
		out = append(out, x.EventID)
	}
	slices.Sort(out)
	return out
}

func strPtr(s string) *string { return &s }

// A room is a DAG: an event from another server that forks the room makes
// two forward extremities, the next local event names both as
// prev_events, the current state is the resolution of the branches', and
// an event that fails its auth checks is stored but never shown.
func TestRoomDAGForkMergeAndRejection(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		hs := testharness.StartBackend(t, backend)
		ctx := context.Background()
		remote := newRemoteServer(t, hs)
		alice := hs.RegisterUser(t, "alice")
		room := createRoom(t, hs, alice.Token, map[string]any{"preset": "public_chat"})
		early := sendMessage(t, hs, alice.Token, room, "before anyone else")
		_, first := doSync(t, hs, alice.Token, "")
		since := first.Str("next_batch")

		// Rita of remote.test joins, then gets power to set the topic.
		rita := "@rita:remote.test"
		joinEv := remote.join(t, room, rita)
		if snap := currentRoom(t, hs, room); snap.Membership(rita) != "join" || !slices.Equal(extremityIDs(snap), []string{joinEv.EventID()}) {
			t.Fatalf("after rita's join: membership %q, extremities %v", snap.Membership(rita), extremityIDs(snap))
		}
		if r := putState(t, hs, alice.Token, room, "m.room.power_levels", "", map[string]any{
			"users": map[string]any{alice.UserID: 100, rita: 100}}); r.Status != 200 {
			t.Fatalf("power levels: %s", r)
		}
		fork := currentRoom(t, hs, room)
		forkPoint := extremityIDs(fork)

		// The branches: Alice sets the topic here; Rita, not having seen
		// it, sets hers later (by origin_server_ts) on the fork point.
		if r := putState(t, hs, alice.Token, room, "m.room.topic", "", map[string]any{"topic": "alpha"}); r.Status != 200 {
			t.Fatalf("topic: %s", r)
		}
		ritaTopic := remote.event(t, fork.State, room, rita, "m.room.topic", strPtr(""), map[string]any{"topic": "beta"},
			forkPoint, time.Now().Add(time.Hour))
		if got := remote.receive(t, ritaTopic); got.Rejected || got.SoftFailed || got.StreamPos == 0 {
			t.Fatalf("rita's topic: %+v", got)
		}
		merged := currentRoom(t, hs, room)
		if len(merged.Info.Extremities) != 2 || !slices.Contains(extremityIDs(merged), ritaTopic.EventID()) {
			t.Fatalf("extremities after the fork: %v", extremityIDs(merged))
		}
		// Resolution orders the two topics (same power levels) by
		// origin_server_ts: Rita's, the later, wins.
		if r := hs.Do(t, "GET", roomPath(room, "/state/m.room.topic/"), alice.Token, nil); r.Str("topic") != "beta" {
			t.Fatalf("resolved topic: %s", r)
		}

		// The next local event takes both branches in.
		next := sendMessage(t, hs, alice.Token, room, "after the merge")
		stored, err := hs.Server.Services.Rooms.Store().GetEvent(ctx, next)
		if err != nil {
			t.Fatal(err)
		}
		prev := stored.Event.PrevEventIDs()
		slices.Sort(prev)
		if !slices.Equal(prev, extremityIDs(merged)) {
			t.Fatalf("prev_events of the merging event %v, want the extremities %v", prev, extremityIDs(merged))
		}
		wantDepth := max(merged.Info.Extremities[0].Depth, merged.Info.Extremities[1].Depth) + 1
		if stored.Event.Depth() != wantDepth {
			t.Errorf("depth of the merging event %d, want %d", stored.Event.Depth(), wantDepth)
		}
		if after := currentRoom(t, hs, room); !slices.Equal(extremityIDs(after), []string{next}) {
			t.Fatalf("extremities after the merge: %v", extremityIDs(after))
		}

		// Mallory, never joined, is rejected: stored, never shown.
		now := currentRoom(t, hs, room)
		bad := remote.event(t, now.State, room, "@mallory:remote.test", "m.room.message", nil,
			map[string]any{"msgtype": "m.text", "body": "let me in",
				"m.relates_to": map[string]any{"rel_type": "m.thread", "event_id": early}}, extremityIDs(now), time.Now())
		if got := remote.receive(t, bad); !got.Rejected || got.StreamPos != 0 {
			t.Fatalf("mallory's message: %+v", got)
		}
		if again := remote.receive(t, bad); !again.Rejected {
			t.Fatalf("mallory's message received again: %+v", again)
		}
		if after := currentRoom(t, hs, room); !slices.Equal(extremityIDs(after), []string{next}) {
			t.Fatalf("a rejected event became an extremity: %v", extremityIDs(after))
		}

		_, incr := doSync(t, hs, alice.Token, "since="+since)
		for _, id := range []string{joinEv.EventID(), ritaTopic.EventID(), next} {
			if !strings.Contains(string(incr.Raw), id) {
				t.Errorf("incremental sync lacks %s", id)
			}
		}
		_, full := doSync(t, hs, alice.Token, "")
		msgs := hs.Do(t, "GET", roomPath(room, "/messages?dir=b&limit=100"), alice.Token, nil)
		rels := hs.Do(t, "GET", "/_matrix/client/v1/rooms/"+testharness.PathEscape(room)+"/relations/"+testharness.PathEscape(early), alice.Token, nil)
		threads := hs.Do(t, "GET", "/_matrix/client/v1/rooms/"+testharness.PathEscape(room)+"/threads", alice.Token, nil)
		if rels.Status != 200 || threads.Status != 200 {
			t.Fatalf("relations %s, threads %s", rels, threads)
		}
		for name, r := range map[string]*testharness.Response{"incremental sync": incr, "initial sync": full, "/messages": msgs,
			"/relations": rels, "/threads": threads} {
			if strings.Contains(string(r.Raw), bad.EventID()) {
				t.Errorf("%s shows the rejected event", name)
			}
		}
		if !strings.Contains(string(msgs.Raw), ritaTopic.EventID()) {
			t.Errorf("/messages lacks rita's topic")
		}
		if r := hs.Do(t, "GET", roomPath(room, "/event/"+testharness.PathEscape(bad.EventID())), alice.Token, nil); r.Status != 404 {
			t.Errorf("GET /event of the rejected event: %s", r)
		}
		if r := hs.Do(t, "GET", roomPath(room, "/context/"+testharness.PathEscape(bad.EventID())), alice.Token, nil); r.Status != 404 {
			t.Errorf("GET /context of the rejected event: %s", r)
		}

		// A second fork where Rita's topic is the earlier: Alice's stays,
		// though Rita's arrived last.
		fork2 := currentRoom(t, hs, room)
		if r := putState(t, hs, alice.Token, room, "m.room.topic", "", map[string]any{"topic": "gamma"}); r.Status != 200 {
			t.Fatalf("topic: %s", r)
		}
		older := remote.event(t, fork2.State, room, rita, "m.room.topic", strPtr(""), map[string]any{"topic": "delta"},
			extremityIDs(fork2), time.Now().Add(-time.Hour))
		if got := remote.receive(t, older); got.Rejected || got.SoftFailed {
			t.Fatalf("rita's older topic: %+v", got)
		}
		if n := len(currentRoom(t, hs, room).Info.Extremities); n != 2 {
			t.Fatalf("%d extremities after the second fork", n)
		}
		if r := hs.Do(t, "GET", roomPath(room, "/state/m.room.topic/"), alice.Token, nil); r.Str("topic") != "gamma" {
			t.Fatalf("resolved topic after the second fork: %s", r)
		}

		// State at an old event is the state then: no topic, no Rita.
		r := hs.Do(t, "GET", roomPath(room, "/context/"+testharness.PathEscape(early)+"?limit=0"), alice.Token, nil)
		var ctxResp struct {
			State []struct {
				Type     string `json:"type"`
				StateKey string `json:"state_key"`
			} `json:"state"`
		}
		if err := json.Unmarshal(r.Raw, &ctxResp); err != nil || r.Status != 200 {
			t.Fatalf("context: %s", r)
		}
		if len(ctxResp.State) == 0 {
			t.Fatal("context of the first message has no state")
		}
		for _, s := range ctxResp.State {
			if s.Type == "m.room.topic" || s.StateKey == rita {
				t.Errorf("state at the first message holds %s %s", s.Type, s.StateKey)
			}
		}
	})
}

// An event that passes the auth rules against the state before it but
// not against the room's current state is soft-failed: stored, not shown,
// not a forward extremity.
func TestRoomDAGSoftFail(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		hs := testharness.StartBackend(t, backend)
		remote := newRemoteServer(t, hs)
		alice := hs.RegisterUser(t, "alice")
		room := createRoom(t, hs, alice.Token, map[string]any{"preset": "public_chat"})
		rita := "@rita:remote.test"
		remote.join(t, room, rita)
		before := currentRoom(t, hs, room)
		if r := hs.Do(t, "POST", roomPath(room, "/ban"), alice.Token, map[string]any{"user_id": rita}); r.Status != 200 {
			t.Fatalf("ban: %s", r)
		}
		banned := currentRoom(t, hs, room)
		msg := remote.event(t, before.State, room, rita, "m.room.message", nil, map[string]any{"msgtype": "m.text", "body": "sent before the ban reached me"},
			extremityIDs(before), time.Now())
		got := remote.receive(t, msg)
		if got.Rejected || !got.SoftFailed || got.StreamPos != 0 {
			t.Fatalf("message from a banned user on an old branch: %+v", got)
		}
		if after := currentRoom(t, hs, room); !slices.Equal(extremityIDs(after), extremityIDs(banned)) {
			t.Fatalf("extremities %v, want %v", extremityIDs(after), extremityIDs(banned))
		}
		msgs := hs.Do(t, "GET", roomPath(room, "/messages?dir=b&limit=100"), alice.Token, nil)
		_, full := doSync(t, hs, alice.Token, "")
		if strings.Contains(string(msgs.Raw), msg.EventID()) || strings.Contains(string(full.Raw), msg.EventID()) {
			t.Error("the soft-failed event is shown")
		}
	})
}

// An accepted event whose prev_events lead back through soft-failed events
// covers the extremity that chain grew from: the next local event names
// only the accepted one (a message on the old branch must not stay an
// extremity for ever because only soft-failed events followed it).
func TestRoomDAGSoftFailedChainCoveredByAcceptedEvent(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		hs := startNamed(t, backend, "local.test", nil)
		rs := txnRemote(t, backend, hs)
		alice := hs.RegisterUser(t, "alice")
		room := createRoom(t, hs, alice.Token, map[string]any{"preset": "public_chat"})
		rita := "@rita:remote.test"
		joinByTxn(t, rs, "join", room, rita)
		joined := currentRoom(t, hs, room)
		r := putState(t, hs, alice.Token, room, "m.room.power_levels", "", map[string]any{
			"users": map[string]any{alice.UserID: 100}, "events": map[string]any{"test.sf": 50}})
		if r.Status != 200 {
			t.Fatalf("power levels: %s", r)
		}
		pl := r.Str("event_id")
		send := func(txn string, ev matrixevents.Event) {
			t.Helper()
			if e, ok := pduError(t, sendTxn(t, rs, txn, rs.name, []matrixevents.Event{ev}), ev.EventID()); !ok || e != "" {
				t.Fatalf("%s: %q", txn, e)
			}
		}
		// On the branch from the join, before the power levels: a
		// message, then two events the new power levels forbid.
		m1 := rs.event(t, joined.State, room, rita, "m.room.message", nil, map[string]any{"body": "M1"}, extremityIDs(joined), time.Now())
		send("m1", m1)
		sf1 := rs.event(t, joined.State, room, rita, "test.sf", nil, map[string]any{"body": "SF1"}, []string{m1.EventID()}, time.Now())
		send("sf1", sf1)
		sf2 := rs.event(t, joined.State, room, rita, "test.sf", nil, map[string]any{"body": "SF2"}, []string{sf1.EventID()}, time.Now())
		send("sf2", sf2)
		stored, err := hs.Server.Services.Rooms.Store().EventsAnyStatus(context.Background(), []string{sf1.EventID(), sf2.EventID()})
		if err != nil || !stored[sf1.EventID()].SoftFailed || !stored[sf2.EventID()].SoftFailed {
			t.Fatalf("SF1 and SF2 are not soft-failed: %+v %v", stored, err)
		}
		if xs := extremityIDs(currentRoom(t, hs, room)); !slices.Equal(xs, sortedIDs(m1.EventID(), pl)) {
			t.Fatalf("extremities before M2: %v", xs)
		}
		m2 := rs.event(t, currentRoom(t, hs, room).State, room, rita, "m.room.message", nil, map[string]any{"body": "M2"}, []string{pl, sf2.EventID()}, time.Now())
		send("m2", m2)
		if xs := extremityIDs(currentRoom(t, hs, room)); !slices.Equal(xs, []string{m2.EventID()}) {
			t.Fatalf("extremities after M2: %v, want only M2", xs)
		}
		m3 := sendMessage(t, hs, alice.Token, room, "M3")
		got, err := hs.Server.Services.Rooms.Store().EventsAnyStatus(context.Background(), []string{m3})
		if err != nil || !slices.Equal(got[m3].Event.PrevEventIDs(), []string{m2.EventID()}) {
			t.Fatalf("M3's prev_events: %v (%v), want only M2", got[m3].Event.PrevEventIDs(), err)
		}
	})
}

func sortedIDs(ids ...string) []string {
	slices.Sort(ids)
	return ids
}

// /messages pages in topological order: an event that arrives late on an
// old branch sits at its depth, not at the end; /sync, in stream order,
// shows it as new.
func TestRoomDAGMessagesFollowTopologicalOrder(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		hs := testharness.StartBackend(t, backend)
		remote := newRemoteServer(t, hs)
		alice := hs.RegisterUser(t, "alice")
		room := createRoom(t, hs, alice.Token, map[string]any{"preset": "public_chat"})
		rita := "@rita:remote.test"
		joinEv := remote.join(t, room, rita)
		joined := currentRoom(t, hs, room)
		_, first := doSync(t, hs, alice.Token, "")
		var local []string
		for _, body := range []string{"one", "two", "three"} {
			local = append(local, sendMessage(t, hs, alice.Token, room, body))
		}
		late := remote.event(t, joined.State, room, rita, "m.room.message", nil, map[string]any{"msgtype": "m.text", "body": "late"},
			extremityIDs(joined), time.Now())
		if got := remote.receive(t, late); got.Rejected || got.SoftFailed || got.StreamPos == 0 {
			t.Fatalf("late message: %+v", got)
		}
		r := hs.Do(t, "GET", roomPath(room, "/messages?dir=b&limit=4"), alice.Token, nil)
		var page struct {
			Chunk []struct {
				EventID string `json:"event_id"`
			} `json:"chunk"`
			End string `json:"end"`
		}
		if err := json.Unmarshal(r.Raw, &page); err != nil || r.Status != 200 {
			t.Fatalf("messages: %s", r)
		}
		var got []string
		for _, e := range page.Chunk {
			got = append(got, e.EventID)
		}
		// Depths: "one" and the late message are both one below the join;
		// the later stream position goes first backwards.
		want := []string{local[2], local[1], late.EventID(), local[0]}
		if !slices.Equal(got, want) {
			t.Fatalf("/messages backwards: %v, want %v", got, want)
		}
		// The end token continues below the page: the join comes next.
		next := hs.Do(t, "GET", roomPath(room, "/messages?dir=b&limit=1&from="+page.End), alice.Token, nil)
		if !strings.Contains(string(next.Raw), joinEv.EventID()) {
			t.Errorf("the next page lacks the join: %s", next)
		}
		_, incr := doSync(t, hs, alice.Token, "since="+first.Str("next_batch"))
		if !strings.Contains(string(incr.Raw), late.EventID()) {
			t.Error("incremental sync lacks the late message")
		}
	})
}

// A received redaction redacts its target when its sender may: one of the
// target sender's server, or one with the power to redact others'.
func TestRoomDAGReceivedRedactions(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		hs := testharness.StartBackend(t, backend)
		remote := newRemoteServer(t, hs)
		other := newRemoteServer(t, hs)
		other.name = "other.test"
		alice := hs.RegisterUser(t, "alice")
		room := createRoom(t, hs, alice.Token, map[string]any{"preset": "public_chat"})
		rita, otto := "@rita:remote.test", "@otto:other.test"
		for _, who := range []struct {
			rs   *remoteServer
			user string
		}{{remote, rita}, {other, otto}} {
			snap := currentRoom(t, hs, room)
			remote := who.rs
			if got := remote.receive(t, remote.event(t, snap.State, room, who.user, "m.room.member", strPtr(who.user),
				map[string]any{"membership": "join"}, extremityIDs(snap), time.Now())); got.Rejected || got.SoftFailed {
				t.Fatalf("%s joins: %+v", who.user, got)
			}
		}
		mine := sendMessage(t, hs, alice.Token, room, "alice's words")
		snap := currentRoom(t, hs, room)
		ritaMsg := remote.event(t, snap.State, room, rita, "m.room.message", nil, map[string]any{"msgtype": "m.text", "body": "rita's words"},
			extremityIDs(snap), time.Now())
		remote.receive(t, ritaMsg)

		redact := func(rs *remoteServer, sender, target string) {
			t.Helper()
			snap := currentRoom(t, hs, room)
			ev := rs.event(t, snap.State, room, sender, "m.room.redaction", nil, map[string]any{"redacts": target},
				extremityIDs(snap), time.Now())
			if got := rs.receive(t, ev); got.Rejected || got.SoftFailed || got.StreamPos == 0 {
				t.Fatalf("redaction by %s: %+v", sender, got)
			}
		}
		body := func(id string) string {
			t.Helper()
			r := hs.Do(t, "GET", roomPath(room, "/event/"+testharness.PathEscape(id)), alice.Token, nil)
			if r.Status != 200 {
				t.Fatalf("event %s: %s", id, r)
			}
			c, _ := r.JSON["content"].(map[string]any)
			b, _ := c["body"].(string)
			return b
		}
		redact(other, otto, mine) // Otto, of another server and without power: not applied.
		redact(remote, rita, ritaMsg.EventID())
		if b := body(mine); b != "alice's words" {
			t.Errorf("alice's message after otto's redaction: %q", b)
		}
		if b := body(ritaMsg.EventID()); b != "" {
			t.Errorf("rita's message after her redaction: %q", b)
		}

		// A redaction sent in another room, of an event of this one, is
		// held back there (soft-failed: no client sees it) and redacts
		// nothing.
		elsewhere := createRoom(t, hs, alice.Token, map[string]any{"preset": "public_chat"})
		remote.join(t, elsewhere, rita)
		ritaWords := remote.event(t, currentRoom(t, hs, room).State, room, rita, "m.room.message", nil,
			map[string]any{"msgtype": "m.text", "body": "rita again"}, extremityIDs(currentRoom(t, hs, room)), time.Now())
		remote.receive(t, ritaWords)
		there := currentRoom(t, hs, elsewhere)
		cross := remote.event(t, there.State, elsewhere, rita, "m.room.redaction", nil, map[string]any{"redacts": ritaWords.EventID()},
			extremityIDs(there), time.Now())
		if got := remote.receive(t, cross); got.Rejected || !got.SoftFailed || got.StreamPos != 0 {
			t.Fatalf("redaction of another room's event: %+v", got)
		}
		if b := body(ritaWords.EventID()); b != "rita again" {
			t.Errorf("rita's message after a redaction from another room: %q", b)
		}
		msgs := hs.Do(t, "GET", roomPath(elsewhere, "/messages?dir=b&limit=50"), alice.Token, nil)
		if strings.Contains(string(msgs.Raw), cross.EventID()) {
			t.Error("the other room shows the redaction")
		}
	})
}

// The servers a room's events are queued for follow its membership from
// one event to the next: a message before a remote member joins is not
// queued for her server, one after is, and one after she is kicked is not.
func TestRoomDAGFederatedFanOutFollowsMembership(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		hs := startNamed(t, backend, "local.test", nil)
		rs := newRemoteServer(t, hs)
		alice := hs.RegisterUser(t, "alice")
		room := createRoom(t, hs, alice.Token, map[string]any{"preset": "public_chat"})
		rita := "@rita:remote.test"
		sendMessage(t, hs, alice.Token, room, "before rita")
		rs.join(t, room, rita)
		sendMessage(t, hs, alice.Token, room, "with rita")
		// A local kick: the servers must follow a state change made here too.
		expect(t, hs.Do(t, "POST", roomPath(room, "/kick"), alice.Token, map[string]any{"user_id": rita}), 200, "")
		sendMessage(t, hs, alice.Token, room, "after rita")

		queued := queuedPDUs(t, hs, "remote.test")
		if strings.Contains(queued, "before rita") {
			t.Errorf("a message sent before rita joined was queued for remote.test")
		}
		if !strings.Contains(queued, `"body":"with rita"`) {
			t.Errorf("a message sent while rita was joined is not queued for remote.test: %s", queued)
		}
		if strings.Contains(queued, "after rita") {
			t.Errorf("a message sent after rita was kicked was queued for remote.test")
		}
	})
}
