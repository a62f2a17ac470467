package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"foyer/internal/testharness"
)

// syncRoom is a joined (or peeked) room of a sync response.
type syncRoom struct {
	Summary struct {
		Heroes  []string `json:"m.heroes"`
		Joined  int      `json:"m.joined_member_count"`
		Invited int      `json:"m.invited_member_count"`
	} `json:"summary"`
	State    struct{ Events []syncEvent } `json:"state"`
	Timeline struct {
		Events    []syncEvent `json:"events"`
		Limited   bool        `json:"limited"`
		PrevBatch string      `json:"prev_batch"`
	} `json:"timeline"`
	Ephemeral   struct{ Events []syncEvent } `json:"ephemeral"`
	AccountData struct{ Events []syncEvent } `json:"account_data"`
}

// syncResp is the part of a sync response tests read.
type syncResp struct {
	NextBatch string `json:"next_batch"`
	Rooms     struct {
		Join   map[string]syncRoom `json:"join"`
		Peek   map[string]syncRoom `json:"peek"`
		Invite map[string]struct {
			InviteState struct{ Events []syncEvent } `json:"invite_state"`
		} `json:"invite"`
		Leave map[string]struct {
			Timeline struct{ Events []syncEvent } `json:"timeline"`
		} `json:"leave"`
	} `json:"rooms"`
	Presence    struct{ Events []syncEvent } `json:"presence"`
	AccountData struct{ Events []syncEvent } `json:"account_data"`
	ToDevice    struct{ Events []syncEvent } `json:"to_device"`
	DeviceLists struct {
		Changed []string `json:"changed"`
	} `json:"device_lists"`
}

type syncEvent struct {
	Type     string         `json:"type"`
	Sender   string         `json:"sender"`
	StateKey *string        `json:"state_key"`
	EventID  string         `json:"event_id"`
	RoomID   string         `json:"room_id"`
	Content  map[string]any `json:"content"`
}

func doSync(t testing.TB, hs *testharness.Homeserver, token, query string) (syncResp, *testharness.Response) {
	t.Helper()
	r := hs.Do(t, "GET", cs+"/sync?"+query, token, nil)
	if r.Status != 200 {
		t.Fatalf("sync %s: %s", query, r)
	}
	var s syncResp
	if err := json.Unmarshal(r.Raw, &s); err != nil {
		t.Fatal(err)
	}
	if s.NextBatch == "" {
		t.Fatalf("no next_batch: %s", r)
	}
	return s, r
}

func bodies(events []syncEvent) []string {
	var out []string
	for _, e := range events {
		if e.Type == "m.room.message" {
			out = append(out, fmt.Sprint(e.Content["body"]))
		}
	}
	return out
}

func TestSyncInitialAndIncremental(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		hs := testharness.StartBackend(t, backend)
		alice := hs.RegisterUser(t, "alice")
		bob := hs.RegisterUser(t, "bob")
		room := createRoom(t, hs, alice.Token, map[string]any{"preset": "public_chat"})
		mustJoin(t, hs, bob.Token, room)
		sendMessage(t, hs, alice.Token, room, "first")

		s, raw := doSync(t, hs, bob.Token, "")
		jr, ok := s.Rooms.Join[room]
		if !ok {
			t.Fatalf("room missing from initial sync: %s", raw)
		}
		if !slices.Contains(bodies(jr.Timeline.Events), "first") || jr.Summary.Joined != 2 {
			t.Fatalf("initial sync room: %s", raw)
		}
		hasCreate := false
		for _, e := range append(jr.State.Events, jr.Timeline.Events...) {
			if e.Type == "m.room.create" {
				hasCreate = true
			}
			if e.RoomID != "" {
				t.Fatalf("sync events carry room_id: %+v", e)
			}
		}
		if !hasCreate {
			t.Fatal("initial sync lacks the create event in state or timeline")
		}
		for _, key := range []string{`"to_device"`, `"device_lists"`, `"device_one_time_keys_count"`, `"device_unused_fallback_key_types"`, `"presence"`, `"account_data"`} {
			if !json.Valid(raw.Raw) || !strings.Contains(string(raw.Raw), key) {
				t.Fatalf("sync lacks %s: %s", key, raw)
			}
		}

		// Incremental with nothing new answers after the timeout, empty.
		start := time.Now()
		s2, _ := doSync(t, hs, bob.Token, "timeout=300&since="+s.NextBatch)
		if time.Since(start) < 250*time.Millisecond || len(s2.Rooms.Join) != 0 {
			t.Fatalf("empty incremental sync returned early or with rooms: %+v", s2.Rooms.Join)
		}
		// A long-poll is woken by a message.
		done := make(chan syncResp, 1)
		go func() {
			s3, _ := doSync(t, hs, bob.Token, "timeout=20000&since="+s2.NextBatch)
			done <- s3
		}()
		time.Sleep(200 * time.Millisecond)
		sendMessage(t, hs, alice.Token, room, "second")
		select {
		case s3 := <-done:
			if got := bodies(s3.Rooms.Join[room].Timeline.Events); !slices.Equal(got, []string{"second"}) {
				t.Fatalf("woken sync: %v", got)
			}
			if s3.Rooms.Join[room].Timeline.Limited {
				t.Fatal("incremental timeline marked limited")
			}
		case <-time.After(10 * time.Second):
			t.Fatal("long-poll not woken by a message")
		}
		// full_state resends state.
		s4, _ := doSync(t, hs, bob.Token, "full_state=true&since="+s2.NextBatch)
		if len(s4.Rooms.Join[room].State.Events) == 0 {
			t.Fatal("full_state returned no state")
		}
		expect(t, hs.Do(t, "GET", cs+"/sync?since=garbage", bob.Token, nil), 400, "M_INVALID_PARAM")
		expect(t, hs.Do(t, "GET", cs+"/sync?timeout=abc", bob.Token, nil), 400, "M_INVALID_PARAM")
		expect(t, hs.Do(t, "GET", cs+"/sync?filter=999", bob.Token, nil), 404, "M_NOT_FOUND")
		// Unknown parameters are ignored (matrix-js-sdk sends some).
		expect(t, hs.Do(t, "GET", cs+"/sync?org.matrix.msc4222.use_state_after=true", bob.Token, nil), 200, "")
	})
}

func TestSyncFiltersLimitedTimelineAndLazyMembers(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		hs := testharness.StartBackend(t, backend)
		alice := hs.RegisterUser(t, "alice")
		bob := hs.RegisterUser(t, "bob")
		carol := hs.RegisterUser(t, "carol")
		room := createRoom(t, hs, alice.Token, map[string]any{"preset": "public_chat", "name": "Filtered"})
		other := createRoom(t, hs, alice.Token, map[string]any{"preset": "public_chat"})
		mustJoin(t, hs, bob.Token, room)
		mustJoin(t, hs, carol.Token, room)
		mustJoin(t, hs, bob.Token, other)
		for i := 0; i < 6; i++ {
			sendMessage(t, hs, alice.Token, room, fmt.Sprint("msg", i))
		}
		f := hs.Do(t, "POST", cs+"/user/"+url.PathEscape(bob.UserID)+"/filter", bob.Token, map[string]any{
			"room": map[string]any{
				"timeline":  map[string]any{"limit": 3},
				"state":     map[string]any{"lazy_load_members": true},
				"not_rooms": []string{other},
			},
		})
		expect(t, f, 200, "")
		id := f.Str("filter_id")
		got := hs.Do(t, "GET", cs+"/user/"+url.PathEscape(bob.UserID)+"/filter/"+id, bob.Token, nil)
		if got.Status != 200 || !strings.Contains(string(got.Raw), `"limit":3`) {
			t.Fatalf("get filter: %s", got)
		}
		expect(t, hs.Do(t, "GET", cs+"/user/"+url.PathEscape(alice.UserID)+"/filter/"+id, bob.Token, nil), 403, "M_FORBIDDEN")
		expect(t, hs.Do(t, "POST", cs+"/user/"+url.PathEscape(bob.UserID)+"/filter", bob.Token, map[string]any{"room": map[string]any{"timeline": map[string]any{"limit": "x"}}}), 400, "M_BAD_JSON")

		s, raw := doSync(t, hs, bob.Token, "filter="+id)
		if _, ok := s.Rooms.Join[other]; ok {
			t.Fatal("not_rooms ignored")
		}
		jr := s.Rooms.Join[room]
		if !jr.Timeline.Limited || !slices.Equal(bodies(jr.Timeline.Events), []string{"msg3", "msg4", "msg5"}) || jr.Timeline.PrevBatch == "" {
			t.Fatalf("limited timeline: %s", raw)
		}
		// Lazy loading: alice (the only sender) and bob himself, not carol.
		members := map[string]bool{}
		for _, e := range jr.State.Events {
			if e.Type == "m.room.member" {
				members[*e.StateKey] = true
			}
		}
		if !members[alice.UserID] || !members[bob.UserID] || members[carol.UserID] {
			t.Fatalf("lazy-loaded members: %v", members)
		}
		// prev_batch continues backwards with /messages.
		back := hs.Do(t, "GET", roomPath(room, "/messages?dir=b&limit=3&from="+jr.Timeline.PrevBatch), bob.Token, nil)
		if g := chunkBodies(back, "chunk"); !slices.Equal(g, []string{"msg2", "msg1", "msg0"}) {
			t.Fatalf("prev_batch pagination: %v", g)
		}
		// Inline filters work too.
		s2, _ := doSync(t, hs, bob.Token, "filter="+url.QueryEscape(`{"room":{"timeline":{"limit":1,"types":["m.room.message"]}}}`))
		if g := bodies(s2.Rooms.Join[room].Timeline.Events); !slices.Equal(g, []string{"msg5"}) {
			t.Fatalf("inline filter: %v", g)
		}
		// An incremental limited timeline carries the state changes before it.
		expect(t, putState(t, hs, alice.Token, room, "m.room.topic", "", map[string]any{"topic": "changed"}), 200, "")
		for i := 0; i < 5; i++ {
			sendMessage(t, hs, alice.Token, room, fmt.Sprint("more", i))
		}
		s3, raw3 := doSync(t, hs, bob.Token, "filter="+id+"&since="+s.NextBatch)
		jr3 := s3.Rooms.Join[room]
		topic := false
		for _, e := range jr3.State.Events {
			if e.Type == "m.room.topic" {
				topic = true
			}
		}
		if !jr3.Timeline.Limited || !topic {
			t.Fatalf("limited incremental sync lacks the topic change: %s", raw3)
		}
	})
}

// A filtered timeline that holds every matching event is not limited on
// an initial sync; but a room joined since the last sync is new to the
// client, so its timeline is a gap whenever the room has earlier events.
func TestSyncNewlyJoinedRoomTimelineIsAGap(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		hs := testharness.StartBackend(t, backend)
		alice := hs.RegisterUser(t, "alice")
		bob := hs.RegisterUser(t, "bob")
		f := hs.Do(t, "POST", cs+"/user/"+url.PathEscape(bob.UserID)+"/filter", bob.Token, map[string]any{
			"room": map[string]any{"timeline": map[string]any{"types": []string{"m.room.message"}, "limit": 10}, "state": map[string]any{"types": []string{}}},
		})
		expect(t, f, 200, "")
		filter := "filter=" + f.Str("filter_id")
		room := createRoom(t, hs, alice.Token, map[string]any{"preset": "public_chat"})
		mustJoin(t, hs, bob.Token, room)
		for i := 0; i < 3; i++ {
			sendMessage(t, hs, alice.Token, room, fmt.Sprint("before", i))
		}
		s, raw := doSync(t, hs, bob.Token, filter)
		if jr := s.Rooms.Join[room]; jr.Timeline.Limited || len(bodies(jr.Timeline.Events)) != 3 {
			t.Fatalf("initial sync: every matching event, not limited: %s", raw)
		}

		other := createRoom(t, hs, alice.Token, map[string]any{"preset": "public_chat"})
		for i := 0; i < 3; i++ {
			sendMessage(t, hs, alice.Token, other, fmt.Sprint("earlier", i))
		}
		mustJoin(t, hs, bob.Token, other)
		s2, raw2 := doSync(t, hs, bob.Token, filter+"&since="+s.NextBatch)
		jr := s2.Rooms.Join[other]
		if !jr.Timeline.Limited || !slices.Equal(bodies(jr.Timeline.Events), []string{"earlier0", "earlier1", "earlier2"}) || jr.Timeline.PrevBatch == "" {
			t.Fatalf("newly joined room: shared history, marked as a gap: %s", raw2)
		}
		sendMessage(t, hs, alice.Token, other, "later")
		s3, raw3 := doSync(t, hs, bob.Token, filter+"&since="+s2.NextBatch)
		if jr := s3.Rooms.Join[other]; jr.Timeline.Limited || !slices.Equal(bodies(jr.Timeline.Events), []string{"later"}) {
			t.Fatalf("the next incremental sync is no gap: %s", raw3)
		}
	})
}

func TestSyncInvitesLeavesEphemeralAndAccountData(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		hs := testharness.StartBackend(t, backend)
		alice := hs.RegisterUser(t, "alice")
		bob := hs.RegisterUser(t, "bob")
		s, _ := doSync(t, hs, bob.Token, "")
		room := createRoom(t, hs, alice.Token, map[string]any{"preset": "private_chat", "name": "Secret", "invite": []string{bob.UserID}})
		s1, raw := doSync(t, hs, bob.Token, "since="+s.NextBatch)
		inv, ok := s1.Rooms.Invite[room]
		if !ok {
			t.Fatalf("invite missing: %s", raw)
		}
		types := map[string]bool{}
		for _, e := range inv.InviteState.Events {
			types[e.Type] = true
		}
		if !types["m.room.name"] || !types["m.room.member"] || !types["m.room.create"] {
			t.Fatalf("invite_state: %v", types)
		}
		mustJoin(t, hs, bob.Token, room)
		s2, raw2 := doSync(t, hs, bob.Token, "since="+s1.NextBatch)
		if _, ok := s2.Rooms.Join[room]; !ok {
			t.Fatalf("joined room missing: %s", raw2)
		}
		if len(s2.Rooms.Join[room].State.Events)+len(s2.Rooms.Join[room].Timeline.Events) < 4 {
			t.Fatalf("a newly joined room should come with its state: %s", raw2)
		}
		// Typing and receipts arrive as ephemeral events.
		msg := sendMessage(t, hs, alice.Token, room, "hello")
		expect(t, hs.Do(t, "PUT", roomPath(room, "/typing/"+url.PathEscape(alice.UserID)), alice.Token, map[string]any{"typing": true, "timeout": 30000}), 200, "")
		expect(t, hs.Do(t, "POST", roomPath(room, "/receipt/m.read/"+url.PathEscape(msg)), alice.Token, map[string]any{}), 200, "")
		expect(t, hs.Do(t, "PUT", cs+"/user/"+url.PathEscape(bob.UserID)+"/account_data/org.example.settings", bob.Token, map[string]any{"theme": "dark"}), 200, "")
		expect(t, hs.Do(t, "PUT", cs+"/user/"+url.PathEscape(bob.UserID)+"/rooms/"+url.PathEscape(room)+"/account_data/org.example.room", bob.Token, map[string]any{"pinned": true}), 200, "")
		s3, raw3 := doSync(t, hs, bob.Token, "since="+s2.NextBatch)
		eph := map[string]bool{}
		for _, e := range s3.Rooms.Join[room].Ephemeral.Events {
			eph[e.Type] = true
		}
		if !eph["m.typing"] || !eph["m.receipt"] {
			t.Fatalf("ephemeral: %s", raw3)
		}
		if len(s3.AccountData.Events) != 1 || s3.AccountData.Events[0].Type != "org.example.settings" ||
			len(s3.Rooms.Join[room].AccountData.Events) != 1 {
			t.Fatalf("account data: %s", raw3)
		}
		// Leaving shows the room under leave.
		expect(t, hs.Do(t, "POST", roomPath(room, "/leave"), bob.Token, map[string]any{}), 200, "")
		s4, raw4 := doSync(t, hs, bob.Token, "since="+s3.NextBatch)
		if _, ok := s4.Rooms.Leave[room]; !ok {
			t.Fatalf("left room missing: %s", raw4)
		}
		// include_leave brings it back on an initial sync.
		s5, _ := doSync(t, hs, bob.Token, "filter="+url.QueryEscape(`{"room":{"include_leave":true}}`))
		if _, ok := s5.Rooms.Leave[room]; !ok {
			t.Fatal("include_leave ignored")
		}
		s6, _ := doSync(t, hs, bob.Token, "")
		if _, ok := s6.Rooms.Leave[room]; ok {
			t.Fatal("left rooms appear in a plain initial sync")
		}
	})
}

// G-20 through sync: a guest removed by a guest_access change sees the
// room move to leave.
func TestSyncGuestRevokedMovesToLeave_G20(t *testing.T) {
	hs := testharness.StartBackend(t, "sqlite")
	alice := hs.RegisterUser(t, "alice")
	g := hs.RegisterGuest(t)
	room := createRoom(t, hs, alice.Token, map[string]any{"preset": "public_chat",
		"initial_state": []map[string]any{{"type": "m.room.guest_access", "content": map[string]any{"guest_access": "can_join"}}}})
	mustJoin(t, hs, g.Token, room)
	s, _ := doSync(t, hs, g.Token, "")
	if _, ok := s.Rooms.Join[room]; !ok {
		t.Fatal("guest's joined room missing")
	}
	expect(t, putState(t, hs, alice.Token, room, "m.room.guest_access", "", map[string]any{"guest_access": "forbidden"}), 200, "")
	s2, raw := doSync(t, hs, g.Token, "timeout=5000&since="+s.NextBatch)
	if _, ok := s2.Rooms.Leave[room]; !ok {
		t.Fatalf("guest not moved to leave in sync: %s", raw)
	}
}

func TestSyncTokenSurvivesRestart(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		cfg := testharness.Config(t, backend)
		hs := testharness.Start(t, cfg)
		alice := hs.RegisterUser(t, "alice")
		room := createRoom(t, hs, alice.Token, nil)
		sendMessage(t, hs, alice.Token, room, "before restart")
		s, _ := doSync(t, hs, alice.Token, "")
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := hs.Server.Stop(ctx); err != nil {
			t.Fatal(err)
		}
		hs2 := testharness.Start(t, cfg)
		sendMessage(t, hs2, alice.Token, room, "after restart")
		s2, raw := doSync(t, hs2, alice.Token, "since="+s.NextBatch)
		if g := bodies(s2.Rooms.Join[room].Timeline.Events); !slices.Equal(g, []string{"after restart"}) {
			t.Fatalf("sync across a restart: %s", raw)
		}
	})
}

// TestSyncPresence_G51: syncing marks a user online; room-mates see it,
// strangers do not.
func TestSyncPresence_G51(t *testing.T) {
	hs := testharness.StartBackend(t, "sqlite")
	alice := hs.RegisterUser(t, "alice")
	bob := hs.RegisterUser(t, "bob")
	eve := hs.RegisterUser(t, "eve")
	g := hs.RegisterGuest(t)
	room := createRoom(t, hs, alice.Token, map[string]any{"preset": "public_chat",
		"initial_state": []map[string]any{{"type": "m.room.guest_access", "content": map[string]any{"guest_access": "can_join"}}}})
	mustJoin(t, hs, bob.Token, room)
	mustJoin(t, hs, g.Token, room)
	doSync(t, hs, g.Token, "")
	doSync(t, hs, alice.Token, "set_presence=online")
	s, raw := doSync(t, hs, bob.Token, "")
	seen := map[string]string{}
	for _, e := range s.Presence.Events {
		seen[e.Sender] = fmt.Sprint(e.Content["presence"])
	}
	if seen[alice.UserID] != "online" || seen[g.UserID] != "online" {
		t.Fatalf("room-mates' presence: %s", raw)
	}
	se, _ := doSync(t, hs, eve.Token, "")
	for _, e := range se.Presence.Events {
		if e.Sender != eve.UserID {
			t.Fatalf("a stranger sees %s's presence", e.Sender)
		}
	}
	// A presence change wakes a room-mate's waiting long-poll, and only
	// with the change.
	woken := make(chan syncResp, 1)
	go func() {
		r, _ := doSync(t, hs, bob.Token, "timeout=10000&since="+s.NextBatch)
		woken <- r
	}()
	time.Sleep(200 * time.Millisecond)
	start := time.Now()
	expect(t, hs.Do(t, "PUT", cs+"/presence/"+url.PathEscape(alice.UserID)+"/status", alice.Token, map[string]any{"presence": "unavailable", "status_msg": "lunch"}), 200, "")
	w := <-woken
	if time.Since(start) > 5*time.Second || len(w.Presence.Events) != 1 || w.Presence.Events[0].Sender != alice.UserID ||
		w.Presence.Events[0].Content["presence"] != "unavailable" {
		t.Fatalf("the room-mate's long-poll was not woken by the presence change (%v): %+v", time.Since(start), w.Presence)
	}
	st := hs.Do(t, "GET", cs+"/presence/"+url.PathEscape(alice.UserID)+"/status", bob.Token, nil)
	if st.Str("presence") != "unavailable" || st.Str("status_msg") != "lunch" {
		t.Fatalf("presence status: %s", st)
	}
	expect(t, hs.Do(t, "GET", cs+"/presence/"+url.PathEscape(alice.UserID)+"/status", eve.Token, nil), 403, "M_FORBIDDEN")
	expect(t, hs.Do(t, "PUT", cs+"/presence/"+url.PathEscape(alice.UserID)+"/status", bob.Token, map[string]any{"presence": "online"}), 403, "M_FORBIDDEN")
	expect(t, hs.Do(t, "PUT", cs+"/presence/"+url.PathEscape(alice.UserID)+"/status", alice.Token, map[string]any{"presence": "asleep"}), 400, "M_INVALID_PARAM")
	expect(t, hs.Do(t, "GET", cs+"/presence/"+url.PathEscape(alice.UserID)+"/status", g.Token, nil), 403, "M_GUEST_ACCESS_FORBIDDEN")
	// An initial sync leaves out room-mates who are offline (as Synapse
	// does); incremental syncs still tell of someone going offline.
	carol := hs.RegisterUser(t, "carol")
	mustJoin(t, hs, carol.Token, room)
	doSync(t, hs, carol.Token, "")
	s1, _ := doSync(t, hs, bob.Token, "")
	expect(t, hs.Do(t, "PUT", cs+"/presence/"+url.PathEscape(carol.UserID)+"/status", carol.Token, map[string]any{"presence": "offline"}), 200, "")
	s2, raw2 := doSync(t, hs, bob.Token, "since="+s1.NextBatch)
	if len(s2.Presence.Events) != 1 || s2.Presence.Events[0].Sender != carol.UserID || s2.Presence.Events[0].Content["presence"] != "offline" {
		t.Fatalf("going offline not told incrementally: %s", raw2)
	}
	s0, raw0 := doSync(t, hs, bob.Token, "")
	for _, e := range s0.Presence.Events {
		if e.Sender == carol.UserID {
			t.Fatalf("an offline room-mate in an initial sync: %s", raw0)
		}
	}
}

// sync_limits.initial_presence bounds an initial sync's presence: the
// caller and the most recently active room-mates.
func TestSyncInitialPresenceBounded(t *testing.T) {
	cfg := testharness.Config(t, "sqlite")
	cfg.SyncLimits.InitialPresence = 2
	hs := testharness.Start(t, cfg)
	alice := hs.RegisterUser(t, "alice")
	room := createRoom(t, hs, alice.Token, map[string]any{"preset": "public_chat"})
	var last testharness.Account
	for i := range 4 {
		last = hs.RegisterUser(t, fmt.Sprintf("mate%d", i))
		mustJoin(t, hs, last.Token, room)
		doSync(t, hs, last.Token, "")
		time.Sleep(5 * time.Millisecond)
	}
	s, raw := doSync(t, hs, alice.Token, "")
	var senders []string
	for _, e := range s.Presence.Events {
		senders = append(senders, e.Sender)
	}
	if len(senders) != 2 || !slices.Contains(senders, alice.UserID) || !slices.Contains(senders, last.UserID) {
		t.Fatalf("initial presence %v, want alice and the latest active: %s", senders, raw)
	}
}

// TestSyncLongPollsEachWokenOnlyByItsRoom: 200 concurrent long-polls, each
// in a room of its own, each receive the one message sent to their room,
// quickly, and nothing else.
func TestSyncLongPollsEachWokenOnlyByItsRoom(t *testing.T) {
	hs := testharness.StartBackend(t, "sqlite")
	const n = 200
	type client struct {
		acct  testharness.Account
		room  string
		since string
	}
	owner := hs.RegisterUser(t, "owner")
	clients := make([]client, n)
	for i := range clients {
		acct := hs.RegisterUser(t, fmt.Sprintf("poller%d", i))
		room := createRoom(t, hs, acct.Token, map[string]any{"preset": "public_chat"})
		mustJoin(t, hs, owner.Token, room)
		s, _ := doSync(t, hs, acct.Token, "filter="+url.QueryEscape(`{"presence":{"limit":0}}`))
		clients[i] = client{acct: acct, room: room, since: s.NextBatch}
	}
	var wg sync.WaitGroup
	results := make([]syncResp, n)
	latency := make([]time.Duration, n)
	sent := make([]time.Time, n)
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := clients[i]
			r, err := hs.DoErr("GET", cs+"/sync?timeout=60000&filter="+url.QueryEscape(`{"presence":{"limit":0}}`)+"&since="+c.since, c.acct.Token, nil)
			if err != nil || r.Status != 200 {
				t.Errorf("poll %d: %v %v", i, err, r)
				return
			}
			latency[i] = time.Since(sent[i])
			_ = json.Unmarshal(r.Raw, &results[i])
		}()
	}
	waitFor(t, func() bool { return hs.Server.Services.Sync.Notifier().Waiting() >= n })
	for i := range clients {
		sent[i] = time.Now()
		sendMessage(t, hs, owner.Token, clients[i].room, fmt.Sprint("for ", i))
	}
	wg.Wait()
	var worst time.Duration
	for i, res := range results {
		if len(res.Rooms.Join) != 1 {
			t.Fatalf("poll %d got %d rooms", i, len(res.Rooms.Join))
		}
		if got := bodies(res.Rooms.Join[clients[i].room].Timeline.Events); !slices.Equal(got, []string{fmt.Sprint("for ", i)}) {
			t.Fatalf("poll %d got %v", i, got)
		}
		worst = max(worst, latency[i])
	}
	if worst > 30*time.Second {
		t.Fatalf("slowest delivery %v is not well within the 60 s timeout", worst)
	}
	t.Logf("200 long-polls each got their own message; slowest delivery %v", worst)
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in time")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Receipts, typing and account data wake a long-poll, not just events.
func TestSyncWokenByEphemeralAndAccountData(t *testing.T) {
	hs := testharness.StartBackend(t, "sqlite")
	alice := hs.RegisterUser(t, "alice")
	bob := hs.RegisterUser(t, "bob")
	room := createRoom(t, hs, alice.Token, map[string]any{"preset": "public_chat"})
	mustJoin(t, hs, bob.Token, room)
	msg := sendMessage(t, hs, alice.Token, room, "read me")
	s, _ := doSync(t, hs, bob.Token, "")
	for _, step := range []struct {
		name string
		do   func()
	}{
		{"receipt", func() {
			hs.Do(t, "POST", roomPath(room, "/receipt/m.read/"+url.PathEscape(msg)), alice.Token, map[string]any{})
		}},
		{"typing", func() {
			hs.Do(t, "PUT", roomPath(room, "/typing/"+url.PathEscape(alice.UserID)), alice.Token, map[string]any{"typing": true, "timeout": 10000})
		}},
		{"account data", func() {
			hs.Do(t, "PUT", cs+"/user/"+url.PathEscape(bob.UserID)+"/account_data/org.example.x", bob.Token, map[string]any{"n": 1})
		}},
	} {
		got := make(chan syncResp, 1)
		since := s.NextBatch
		go func() {
			r, _ := doSync(t, hs, bob.Token, "timeout=20000&since="+since)
			got <- r
		}()
		time.Sleep(200 * time.Millisecond)
		began := time.Now()
		step.do()
		select {
		case s = <-got:
			if time.Since(began) > 5*time.Second {
				t.Fatalf("%s: woken late", step.name)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s did not wake the long-poll", step.name)
		}
	}
}

// unread_notifications come from the push rules and reset on a receipt;
// m.push_rules arrives as account data.
func TestSyncUnreadCountsAndPushRules(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		hs := testharness.StartBackend(t, backend)
		alice, bob, _, room := threeInAPublicRoom(t, hs)
		s, raw := doSync(t, hs, bob.Token, "")
		pushRules := false
		for _, e := range s.AccountData.Events {
			pushRules = pushRules || e.Type == "m.push_rules"
		}
		if !pushRules {
			t.Fatalf("initial sync lacks m.push_rules: %s", raw)
		}
		sendMessage(t, hs, alice.Token, room, "one")
		sendMessage(t, hs, alice.Token, room, "two")
		last := hs.Do(t, "PUT", roomPath(room, "/send/m.room.message/mention1"), alice.Token, map[string]any{
			"msgtype": "m.text", "body": "hey bob", "m.mentions": map[string]any{"user_ids": []string{bob.UserID}},
		}).Str("event_id")
		hs.Do(t, "PUT", roomPath(room, "/send/m.room.message/notice1"), alice.Token, map[string]any{"msgtype": "m.notice", "body": "bot says"})
		counts := func(r *testharness.Response) (float64, float64) {
			rooms := r.JSON["rooms"].(map[string]any)["join"].(map[string]any)
			un := rooms[room].(map[string]any)["unread_notifications"].(map[string]any)
			return un["notification_count"].(float64), un["highlight_count"].(float64)
		}
		_, r := doSync(t, hs, bob.Token, "since="+s.NextBatch)
		if n, h := counts(r); n != 3 || h != 1 {
			t.Fatalf("unread: notifications %v highlights %v, want 3 and 1: %s", n, h, r)
		}
		expect(t, hs.Do(t, "POST", roomPath(room, "/receipt/m.read/"+url.PathEscape(last)), bob.Token, map[string]any{}), 200, "")
		_, r = doSync(t, hs, bob.Token, "")
		if n, h := counts(r); n != 0 || h != 0 {
			t.Fatalf("after the receipt: %v %v", n, h)
		}
		// Changing a rule reaches the client as m.push_rules.
		s2, _ := doSync(t, hs, bob.Token, "")
		expect(t, hs.Do(t, "PUT", cs+"/pushrules/global/room/"+url.PathEscape(room), bob.Token, map[string]any{"actions": []any{}}), 200, "")
		s3, raw3 := doSync(t, hs, bob.Token, "timeout=5000&since="+s2.NextBatch)
		changed := false
		for _, e := range s3.AccountData.Events {
			changed = changed || e.Type == "m.push_rules"
		}
		if !changed {
			t.Fatalf("rule change not synced: %s", raw3)
		}
	})
}

// What was said before a user joined is history, not unread: a newcomer's
// first sync counts 0 however many messages the room holds (as Synapse
// counts from the join when there is no receipt), and what comes after
// the join counts.
func TestSyncUnreadCountsStartAtTheJoin(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		hs := testharness.StartBackend(t, backend)
		alice := hs.RegisterUser(t, "alice")
		room := createRoom(t, hs, alice.Token, map[string]any{"preset": "public_chat"})
		for i := range 5 {
			sendMessage(t, hs, alice.Token, room, fmt.Sprintf("before %d", i))
		}
		bob := hs.RegisterUser(t, "bob")
		expect(t, hs.Do(t, "POST", roomPath(room, "/join"), bob.Token, map[string]any{}), 200, "")
		counts := func(r *testharness.Response) float64 {
			un := r.JSON["rooms"].(map[string]any)["join"].(map[string]any)[room].(map[string]any)["unread_notifications"].(map[string]any)
			return un["notification_count"].(float64)
		}
		s, r := doSync(t, hs, bob.Token, "")
		if n := counts(r); n != 0 {
			t.Fatalf("a newcomer has %v unread from before its join: %s", n, r)
		}
		sendMessage(t, hs, alice.Token, room, "after")
		_, r = doSync(t, hs, bob.Token, "since="+s.NextBatch)
		if n := counts(r); n != 1 {
			t.Fatalf("after the join: %v unread, want 1: %s", n, r)
		}
	})
}

// Ignoring users (m.ignored_user_list): from the next sync, the ignored
// user's messages and invites stay out of the ignorer's syncs, while their
// state events still arrive; others' messages are unaffected, and
// removing the user from the list brings their new messages back.
func TestSyncIgnoredUsers(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		hs := testharness.StartBackend(t, backend)
		alice, bob, carol, room := threeInAPublicRoom(t, hs)
		sendMessage(t, hs, bob.Token, room, "bob before")
		s0, _ := doSync(t, hs, alice.Token, "")

		ignore := func(users ...string) {
			list := map[string]any{}
			for _, u := range users {
				list[u] = map[string]any{}
			}
			expect(t, hs.Do(t, "PUT", cs+"/user/"+url.PathEscape(alice.UserID)+"/account_data/m.ignored_user_list", alice.Token,
				map[string]any{"ignored_users": list}), 200, "")
		}
		ignore(bob.UserID)
		sendMessage(t, hs, bob.Token, room, "bob ignored")
		sendMessage(t, hs, carol.Token, room, "carol seen")
		expect(t, putState(t, hs, bob.Token, room, "m.room.member", bob.UserID, map[string]any{"membership": "join", "displayname": "Bobby"}), 200, "")
		private := createRoom(t, hs, bob.Token, map[string]any{"preset": "private_chat", "invite": []string{alice.UserID}})

		s1, raw := doSync(t, hs, alice.Token, "since="+s0.NextBatch)
		jr := s1.Rooms.Join[room]
		if !slices.Equal(bodies(jr.Timeline.Events), []string{"carol seen"}) {
			t.Fatalf("the ignored user's message was sent: %s", raw)
		}
		stateFromBob := false
		for _, e := range jr.Timeline.Events {
			if e.Type == "m.room.member" && e.Sender == bob.UserID {
				stateFromBob = true
			}
		}
		if !stateFromBob {
			t.Fatalf("the ignored user's state event is missing: %s", raw)
		}
		if _, ok := s1.Rooms.Invite[private]; ok {
			t.Fatalf("the ignored user's invite was sent: %s", raw)
		}
		// Typing: bob's is left out, carol's comes through.
		for _, who := range []testharness.Account{bob, carol} {
			expect(t, hs.Do(t, "PUT", roomPath(room, "/typing/"+url.PathEscape(who.UserID)), who.Token, map[string]any{"typing": true, "timeout": 30000}), 200, "")
		}
		st, raw := doSync(t, hs, alice.Token, "since="+s1.NextBatch)
		typing := ""
		for _, e := range st.Rooms.Join[room].Ephemeral.Events {
			if e.Type == "m.typing" {
				typing = fmt.Sprint(e.Content["user_ids"])
			}
		}
		if strings.Contains(typing, bob.UserID) || !strings.Contains(typing, carol.UserID) {
			t.Fatalf("typing with an ignored user: %s", raw)
		}
		if full, raw := doSync(t, hs, alice.Token, ""); len(full.Rooms.Invite) != 0 || slices.Contains(bodies(full.Rooms.Join[room].Timeline.Events), "bob ignored") {
			t.Fatalf("an initial sync shows what the ignored user sent: %s", raw)
		}
		// /messages and /context leave bob's messages out too, old ones
		// included; his state events stay.
		msgs := hs.Do(t, "GET", roomPath(room, "/messages?dir=b&limit=50"), alice.Token, nil)
		expect(t, msgs, 200, "")
		if got := chunkBodies(msgs, "chunk"); slices.Contains(got, "bob ignored") || slices.Contains(got, "bob before") || !slices.Contains(got, "carol seen") {
			t.Fatalf("/messages with an ignored user: %v", got)
		}
		carolMsg := ""
		for _, e := range jr.Timeline.Events {
			if e.Sender == carol.UserID && e.Type == "m.room.message" {
				carolMsg = e.EventID
			}
		}
		ctx := hs.Do(t, "GET", roomPath(room, "/context/"+url.PathEscape(carolMsg)+"?limit=10"), alice.Token, nil)
		expect(t, ctx, 200, "")
		if got := append(chunkBodies(ctx, "events_before"), chunkBodies(ctx, "events_after")...); slices.Contains(got, "bob ignored") || slices.Contains(got, "bob before") {
			t.Fatalf("/context with an ignored user: %v", got)
		}

		// Bob is not ignoring alice: he sees everything.
		if bs, raw := doSync(t, hs, bob.Token, ""); !slices.Contains(bodies(bs.Rooms.Join[room].Timeline.Events), "carol seen") {
			t.Fatalf("bob's own sync: %s", raw)
		}

		ignore()
		sendMessage(t, hs, bob.Token, room, "bob again")
		s2, raw := doSync(t, hs, alice.Token, "since="+st.NextBatch)
		if !slices.Equal(bodies(s2.Rooms.Join[room].Timeline.Events), []string{"bob again"}) {
			t.Fatalf("un-ignored user's new message: %s", raw)
		}
	})
}
