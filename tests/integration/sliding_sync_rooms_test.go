package integration

import (
	"encoding/json"
	"slices"
	"testing"

	"foyer/internal/testharness"
)

func stateKeys(events []syncEvent) []string {
	var out []string
	for _, e := range events {
		k := ""
		if e.StateKey != nil {
			k = *e.StateKey
		}
		out = append(out, e.Type+"|"+k)
	}
	slices.Sort(out)
	return out
}

// $LAZY sends the members of the timeline's senders, once per
// connection; ["*", "*"] sends all state; an entry added to a later
// request is sent without waiting for news.
func TestSlidingSyncRequiredStateLazyWildcardAndAdded(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		hs := testharness.StartBackend(t, backend)
		alice, bob, carol, room := threeInAPublicRoom(t, hs)
		mustPutState(t, hs, alice.Token, room, "m.room.topic", map[string]any{"topic": "t"})
		sendMessage(t, hs, carol.Token, room, "c1")
		sendMessage(t, hs, bob.Token, room, "b1")

		lazy := map[string]any{"lists": map[string]any{"l": ssList(0, 1, []string{"m.room.member", "$LAZY"}, []string{"m.room.create", ""})}}
		first := slidingSync(t, hs, alice.Token, "", 0, lazy)
		if got := stateKeys(first.Rooms[room].RequiredState); !slices.Equal(got, []string{"m.room.create|", "m.room.member|" + bob.UserID}) {
			t.Fatalf("lazy members of a timeline of bob's message: %v", got)
		}
		// Bob again: his member event is not resent; carol: hers is sent.
		sendMessage(t, hs, bob.Token, room, "b2")
		second := slidingSync(t, hs, alice.Token, first.Pos, 0, lazy)
		if got := stateKeys(second.Rooms[room].RequiredState); len(got) != 0 {
			t.Fatalf("bob's member resent: %v", got)
		}
		sendMessage(t, hs, carol.Token, room, "c2")
		third := slidingSync(t, hs, alice.Token, second.Pos, 0, lazy)
		if got := stateKeys(third.Rooms[room].RequiredState); !slices.Equal(got, []string{"m.room.member|" + carol.UserID}) {
			t.Fatalf("carol's member: %v", got)
		}
		// Asking for the topic now sends it, with no new event.
		withTopic := map[string]any{"lists": map[string]any{"l": ssList(0, 1, []string{"m.room.member", "$LAZY"}, []string{"m.room.create", ""}, []string{"m.room.topic", ""})}}
		fourth := slidingSync(t, hs, alice.Token, third.Pos, 0, withTopic)
		if got := stateKeys(fourth.Rooms[room].RequiredState); !slices.Equal(got, []string{"m.room.topic|"}) {
			t.Fatalf("added topic: %v", got)
		}

		all := slidingSync(t, hs, alice.Token, "", 0, map[string]any{"conn_id": "all",
			"lists": map[string]any{"l": ssList(0, 0, []string{"*", "*"})}})
		got := stateKeys(all.Rooms[room].RequiredState)
		for _, want := range []string{"m.room.create|", "m.room.topic|", "m.room.join_rules|", "m.room.power_levels|",
			"m.room.member|" + alice.UserID, "m.room.member|" + bob.UserID, "m.room.member|" + carol.UserID} {
			if !slices.Contains(got, want) {
				t.Fatalf("all state lacks %s: %v", want, got)
			}
		}
		// A wildcard state key for one type.
		members := slidingSync(t, hs, alice.Token, "", 0, map[string]any{"conn_id": "members",
			"lists": map[string]any{"l": ssList(0, 0, []string{"m.room.member", "*"})}})
		if got := stateKeys(members.Rooms[room].RequiredState); len(got) != 3 {
			t.Fatalf("all members: %v", got)
		}
	})
}

// A room subscription sends a room outside the windows; a larger
// timeline_limit than the room was sent with sends more history, marked
// as an expanded timeline; a room the user has no membership in is left
// out.
func TestSlidingSyncRoomSubscriptionsAndExpandedTimeline(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		hs := testharness.StartBackend(t, backend)
		alice := hs.RegisterUser(t, "alice")
		bob := hs.RegisterUser(t, "bob")
		old := createRoom(t, hs, alice.Token, nil)
		for _, b := range []string{"o1", "o2", "o3", "o4"} {
			sendMessage(t, hs, alice.Token, old, b)
		}
		recent := createRoom(t, hs, alice.Token, nil)
		sendMessage(t, hs, alice.Token, recent, "r1")
		foreign := createRoom(t, hs, bob.Token, nil)

		list := map[string]any{"l": ssList(0, 1)}
		first := slidingSync(t, hs, alice.Token, "", 0, map[string]any{"lists": list,
			"room_subscriptions": map[string]any{old: map[string]any{"timeline_limit": 1, "required_state": [][]string{}},
				foreign: map[string]any{"timeline_limit": 5, "required_state": [][]string{}}}})
		if _, ok := first.Rooms[foreign]; ok {
			t.Fatal("a room the user is not in was sent")
		}
		if got := keysOf(first.Rooms); !slices.Equal(got, sortedPair(old, recent)) {
			t.Fatalf("rooms %v", got)
		}
		if b := timelineBodies(first.Rooms[old].Timeline); !slices.Equal(b, []string{"o4"}) {
			t.Fatalf("old room's timeline %v", b)
		}
		// Opening the room: a subscription with a larger limit.
		second := slidingSync(t, hs, alice.Token, first.Pos, 0, map[string]any{"lists": list,
			"room_subscriptions": map[string]any{old: map[string]any{"timeline_limit": 3, "required_state": [][]string{}}}})
		r := second.Rooms[old]
		if !r.Expanded || r.Initial {
			t.Fatalf("expanded timeline: %+v", r)
		}
		if b := timelineBodies(r.Timeline); !slices.Equal(b, []string{"o2", "o3", "o4"}) {
			t.Fatalf("expanded timeline %v", b)
		}
		if _, ok := second.Rooms[recent]; ok {
			t.Fatal("a room with no news was sent again")
		}
	})
}

func sortedPair(a, b string) []string {
	s := []string{a, b}
	slices.Sort(s)
	return s
}

// Invites carry invite_state and are left out when the inviter is
// ignored; a room the user leaves is sent once with the leave, then
// drops out of lists; a kick stays listed.
func TestSlidingSyncInvitesLeavesAndKicks(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		hs := testharness.StartBackend(t, backend)
		alice := hs.RegisterUser(t, "alice")
		bob := hs.RegisterUser(t, "bob")
		carol := hs.RegisterUser(t, "carol")
		invited := createRoom(t, hs, bob.Token, map[string]any{"name": "bob's", "invite": []string{alice.UserID}})
		fromCarol := createRoom(t, hs, carol.Token, map[string]any{"invite": []string{alice.UserID}})
		expect(t, hs.Do(t, "PUT", cs+"/user/"+testharness.PathEscape(alice.UserID)+"/account_data/m.ignored_user_list", alice.Token,
			map[string]any{"ignored_users": map[string]any{carol.UserID: map[string]any{}}}), 200, "")
		left := createRoom(t, hs, bob.Token, map[string]any{"preset": "public_chat"})
		kicked := createRoom(t, hs, bob.Token, map[string]any{"preset": "public_chat"})
		mustJoin(t, hs, alice.Token, left)
		mustJoin(t, hs, alice.Token, kicked)

		body := map[string]any{"lists": map[string]any{"l": ssList(9, 5, []string{"m.room.member", "$ME"})}}
		first := slidingSync(t, hs, alice.Token, "", 0, body)
		if _, ok := first.Rooms[fromCarol]; ok {
			t.Fatal("an ignored user's invite was listed")
		}
		inv := first.Rooms[invited]
		if len(inv.InviteState) == 0 || len(inv.Timeline) != 0 || !slices.Contains(stateKeys(inv.InviteState), "m.room.name|") {
			t.Fatalf("invite: %+v", inv)
		}
		expect(t, hs.Do(t, "POST", roomPath(left, "/leave"), alice.Token, map[string]any{}), 200, "")
		expect(t, hs.Do(t, "POST", roomPath(kicked, "/kick"), bob.Token, map[string]any{"user_id": alice.UserID}), 200, "")
		second := slidingSync(t, hs, alice.Token, first.Pos, 0, body)
		for _, room := range []string{left, kicked} {
			r, ok := second.Rooms[room]
			if !ok {
				t.Fatalf("room %s not sent after the leave", room)
			}
			if len(r.Timeline) == 0 || r.Timeline[len(r.Timeline)-1].Type != "m.room.member" {
				t.Fatalf("leave not in the timeline: %+v", r)
			}
		}
		// Bob talks in both: alice sees none of it.
		sendMessage(t, hs, bob.Token, left, "after")
		sendMessage(t, hs, bob.Token, kicked, "after")
		third := slidingSync(t, hs, alice.Token, "", 0, map[string]any{"conn_id": "fresh", "lists": body["lists"]})
		got := third.listRooms("l")
		if slices.Contains(got, left) || !slices.Contains(got, kicked) || !slices.Contains(got, invited) {
			t.Fatalf("list after leave and kick: %v", got)
		}
		if b := timelineBodies(third.Rooms[kicked].Timeline); slices.Contains(b, "after") {
			t.Fatalf("saw past the kick: %v", b)
		}
		// Forgotten, the kick leaves the list.
		expect(t, hs.Do(t, "POST", roomPath(kicked, "/forget"), alice.Token, map[string]any{}), 200, "")
		fourth := slidingSync(t, hs, alice.Token, "", 0, map[string]any{"conn_id": "after forget", "lists": body["lists"]})
		if got := fourth.listRooms("l"); slices.Contains(got, kicked) || !slices.Contains(got, invited) {
			t.Fatalf("list after forgetting: %v", got)
		}
	})
}

// History visibility and ignored users apply as in /sync; a guest may
// sync the rooms it is in.
func TestSlidingSyncVisibilityAndGuests(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		hs := testharness.StartBackend(t, backend)
		alice := hs.RegisterUser(t, "alice")
		bob := hs.RegisterUser(t, "bob")
		carol := hs.RegisterUser(t, "carol")
		room := createRoom(t, hs, alice.Token, map[string]any{"preset": "public_chat",
			"initial_state": []any{
				map[string]any{"type": "m.room.history_visibility", "state_key": "", "content": map[string]any{"history_visibility": "joined"}},
				map[string]any{"type": "m.room.guest_access", "state_key": "", "content": map[string]any{"guest_access": "can_join"}},
			}})
		sendMessage(t, hs, alice.Token, room, "before bob")
		mustJoin(t, hs, bob.Token, room)
		mustJoin(t, hs, carol.Token, room)
		sendMessage(t, hs, carol.Token, room, "from carol")
		sendMessage(t, hs, alice.Token, room, "after bob")
		expect(t, hs.Do(t, "PUT", cs+"/user/"+testharness.PathEscape(bob.UserID)+"/account_data/m.ignored_user_list", bob.Token,
			map[string]any{"ignored_users": map[string]any{carol.UserID: map[string]any{}}}), 200, "")

		resp := slidingSync(t, hs, bob.Token, "", 0, map[string]any{"lists": map[string]any{"l": ssList(0, 20)}})
		if b := timelineBodies(resp.Rooms[room].Timeline); !slices.Equal(b, []string{"after bob"}) {
			t.Fatalf("bob sees %v", b)
		}

		guest := hs.RegisterGuest(t)
		mustJoin(t, hs, guest.Token, room)
		sendMessage(t, hs, alice.Token, room, "for the guest")
		g := slidingSync(t, hs, guest.Token, "", 0, map[string]any{"lists": map[string]any{"l": ssList(0, 20)}})
		if b := timelineBodies(g.Rooms[room].Timeline); !slices.Equal(b, []string{"for the guest"}) {
			t.Fatalf("guest sees %v", b)
		}
	})
}

// A room without a name comes with heroes (other members, with their
// profiles), member counts and unread counts from the push rules.
func TestSlidingSyncHeroesAndCounts(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		hs := testharness.StartBackend(t, backend)
		alice := hs.RegisterUser(t, "alice")
		bob := hs.RegisterUser(t, "bob")
		expect(t, hs.Do(t, "PUT", cs+"/profile/"+testharness.PathEscape(bob.UserID)+"/displayname", bob.Token, map[string]any{"displayname": "Bob B"}), 200, "")
		room := createRoom(t, hs, alice.Token, map[string]any{"invite": []string{bob.UserID}})
		mustJoin(t, hs, bob.Token, room)
		sendMessage(t, hs, bob.Token, room, "hi alice")
		sendMessage(t, hs, bob.Token, room, "again")

		resp := slidingSync(t, hs, alice.Token, "", 0, map[string]any{"lists": map[string]any{"l": ssList(0, 1)}})
		r := resp.Rooms[room]
		if r.Name != "" || len(r.Heroes) != 1 || r.Heroes[0].UserID != bob.UserID || r.Heroes[0].DisplayName != "Bob B" {
			t.Fatalf("heroes: %+v", r)
		}
		if r.JoinedCount == nil || *r.JoinedCount != 2 || r.InvitedCount == nil || *r.InvitedCount != 0 {
			t.Fatalf("counts: %+v", r)
		}
		if r.NotificationCount != 2 {
			t.Fatalf("notification_count %d, want 2", r.NotificationCount)
		}
	})
}

// A room that leaves the window and comes back is sent with only what
// the client missed since it left (not as new); a room joined on the
// connection comes whole, marked initial.
func TestSlidingSyncWindowReturnsAndNewJoins(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		hs := testharness.StartBackend(t, backend)
		alice := hs.RegisterUser(t, "alice")
		bob := hs.RegisterUser(t, "bob")
		a := createRoom(t, hs, alice.Token, nil)
		b := createRoom(t, hs, alice.Token, nil)
		sendMessage(t, hs, alice.Token, a, "a1")
		body := map[string]any{"lists": map[string]any{"top": ssList(0, 5, []string{"m.room.create", ""})}}
		s1 := slidingSync(t, hs, alice.Token, "", 0, body)
		if got := s1.listRooms("top"); !slices.Equal(got, []string{a}) {
			t.Fatalf("window %v", got)
		}
		sendMessage(t, hs, alice.Token, b, "b1")
		s2 := slidingSync(t, hs, alice.Token, s1.Pos, 0, body)
		if got := s2.listRooms("top"); !slices.Equal(got, []string{b}) || !s2.Rooms[b].Initial {
			t.Fatalf("b takes the window as new: %v %+v", got, s2.Rooms[b])
		}
		sendMessage(t, hs, alice.Token, a, "a2")
		s3 := slidingSync(t, hs, alice.Token, s2.Pos, 0, body)
		ra := s3.Rooms[a]
		if ra.Initial || len(ra.RequiredState) != 0 {
			t.Fatalf("a came back as new: %+v", ra)
		}
		if got := timelineBodies(ra.Timeline); !slices.Equal(got, []string{"a2"}) {
			t.Fatalf("a's missed events %v", got)
		}

		// Bob invites alice; she joins: the room comes whole.
		room := createRoom(t, hs, bob.Token, map[string]any{"name": "joined later", "invite": []string{alice.UserID}})
		sendMessage(t, hs, bob.Token, room, "before alice")
		s4 := slidingSync(t, hs, alice.Token, s3.Pos, 0, map[string]any{"lists": map[string]any{"top": ssList(5, 5, []string{"m.room.create", ""})}})
		if len(s4.Rooms[room].InviteState) == 0 {
			t.Fatalf("invite: %+v", s4.Rooms[room])
		}
		mustJoin(t, hs, alice.Token, room)
		s5 := slidingSync(t, hs, alice.Token, s4.Pos, 0, map[string]any{"lists": map[string]any{"top": ssList(5, 5, []string{"m.room.create", ""})}})
		r := s5.Rooms[room]
		if !r.Initial || r.Name != "joined later" || len(r.RequiredState) != 1 || len(r.InviteState) != 0 {
			t.Fatalf("joined room: %+v", r)
		}
		if got := timelineBodies(r.Timeline); !slices.Contains(got, "before alice") {
			t.Fatalf("history of a shared room not sent on join: %v", got)
		}
	})
}

// A knock is listed with its stripped state, as knock_state (and, as
// Synapse sends it, invite_state).
func TestSlidingSyncKnock(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		hs := testharness.StartBackend(t, backend)
		alice := hs.RegisterUser(t, "alice")
		bob := hs.RegisterUser(t, "bob")
		room := createRoom(t, hs, bob.Token, map[string]any{"name": "knock here", "initial_state": []any{
			map[string]any{"type": "m.room.join_rules", "state_key": "", "content": map[string]any{"join_rule": "knock"}}}})
		expect(t, hs.Do(t, "POST", cs+"/knock/"+testharness.PathEscape(room), alice.Token, map[string]any{}), 200, "")
		resp := slidingSync(t, hs, alice.Token, "", 0, map[string]any{"lists": map[string]any{"l": ssList(5, 5)}})
		r, ok := resp.Rooms[room]
		if !ok || !slices.Contains(stateKeys(r.KnockState), "m.room.name|") || len(r.InviteState) == 0 || len(r.Timeline) != 0 {
			t.Fatalf("knock: %+v", r)
		}
	})
}

// A name or avatar removed after the room was sent comes as null; an
// unknown set_presence is refused.
func TestSlidingSyncRemovedNameAndAvatar(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		hs := testharness.StartBackend(t, backend)
		alice := hs.RegisterUser(t, "alice")
		room := createRoom(t, hs, alice.Token, map[string]any{"name": "named"})
		mustPutState(t, hs, alice.Token, room, "m.room.avatar", map[string]any{"url": "mxc://localhost/a"})
		body := map[string]any{"lists": map[string]any{"l": ssList(0, 1)}}
		first := slidingSync(t, hs, alice.Token, "", 0, body)
		if r := first.Rooms[room]; r.Name != "named" || r.Avatar != "mxc://localhost/a" {
			t.Fatalf("first: %+v", r)
		}
		mustPutState(t, hs, alice.Token, room, "m.room.name", map[string]any{})
		mustPutState(t, hs, alice.Token, room, "m.room.avatar", map[string]any{})
		r := slidingSyncRaw(t, hs, alice.Token, first.Pos, 0, body)
		var raw struct {
			Rooms map[string]map[string]json.RawMessage `json:"rooms"`
		}
		if err := json.Unmarshal(r.Raw, &raw); err != nil {
			t.Fatal(err)
		}
		if got := raw.Rooms[room]; string(got["name"]) != "null" || string(got["avatar"]) != "null" {
			t.Fatalf("removed name and avatar: %s", r.Raw)
		}
		if r := hs.Do(t, "POST", slidingSyncPath+"?set_presence=busy", alice.Token, map[string]any{}); r.Status != 400 || r.Errcode() != "M_INVALID_PARAM" {
			t.Fatalf("set_presence=busy: %s", r)
		}
	})
}
