package integration

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"

	"foyer/internal/testharness"
)

// searchRooms posts a room_events search (criteria as given) and returns
// the response; nextBatch, when set, asks for that page.
func searchRooms(t testing.TB, hs *testharness.Homeserver, token string, criteria map[string]any, nextBatch string) *testharness.Response {
	t.Helper()
	path := cs + "/search"
	if nextBatch != "" {
		path += "?next_batch=" + url.QueryEscape(nextBatch)
	}
	return hs.Do(t, "POST", path, token, map[string]any{"search_categories": map[string]any{"room_events": criteria}})
}

// roomEvents is the room_events part of a search answer (fails on an error).
func roomEvents(t testing.TB, r *testharness.Response) map[string]any {
	t.Helper()
	if r.Status != 200 {
		t.Fatalf("search: %s", r)
	}
	cats, _ := r.JSON["search_categories"].(map[string]any)
	re, ok := cats["room_events"].(map[string]any)
	if !ok {
		t.Fatalf("search answer without room_events: %s", r)
	}
	return re
}

// searchResults lists the event IDs and ranks of a search answer's results.
func searchResults(t testing.TB, re map[string]any) ([]string, []float64) {
	t.Helper()
	ids, ranks := []string{}, []float64{}
	for _, raw := range re["results"].([]any) {
		res := raw.(map[string]any)
		ev := res["result"].(map[string]any)
		ids = append(ids, ev["event_id"].(string))
		rank, _ := res["rank"].(float64)
		ranks = append(ranks, rank)
	}
	return ids, ranks
}

func searchIDs(t testing.TB, hs *testharness.Homeserver, token string, criteria map[string]any) []string {
	t.Helper()
	ids, _ := searchResults(t, roomEvents(t, searchRooms(t, hs, token, criteria, "")))
	return ids
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// Words find messages (stemmed, by prefix, as phrases, with exclusions
// and alternatives); rank order puts the better match first, recent order
// the newest; count and highlights come with the results; names and
// topics are found under their keys.
func TestSearchFindsMessagesByWordRankAndRecent(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		hs := testharness.StartBackend(t, backend)
		alice := hs.RegisterUser(t, "alice")
		room := createRoom(t, hs, alice.Token, map[string]any{"preset": "private_chat"})
		quick := sendMessage(t, hs, alice.Token, room, "The quick brown fox")
		many := sendMessage(t, hs, alice.Token, room, "fox fox fox, said the fox")
		sendMessage(t, hs, alice.Token, room, "a lazy dog sleeps")
		foxes := sendMessage(t, hs, alice.Token, room, "Foxes are running")
		jumps := sendMessage(t, hs, alice.Token, room, "the fox jumps")

		re := roomEvents(t, searchRooms(t, hs, alice.Token, map[string]any{"search_term": "fox"}, ""))
		ids, ranks := searchResults(t, re)
		if !sameSet(ids, []string{quick, many, foxes, jumps}) {
			t.Fatalf("search fox: %v", ids)
		}
		if ids[0] != many {
			t.Errorf("rank order: the message saying fox four times is not first: %v %v", ids, ranks)
		}
		for i := 1; i < len(ranks); i++ {
			if ranks[i] > ranks[i-1] {
				t.Errorf("ranks not in decreasing order: %v", ranks)
			}
		}
		if re["count"] != float64(4) {
			t.Errorf("count %v, want 4", re["count"])
		}
		hl, _ := re["highlights"].([]any)
		if !slices.Contains(hl, any("fox")) || !slices.Contains(hl, any("foxes")) {
			t.Errorf("highlights %v lack fox and foxes", hl)
		}
		if _, ok := re["next_batch"]; ok {
			t.Errorf("next_batch with every result on the page: %v", re["next_batch"])
		}

		recent := searchIDs(t, hs, alice.Token, map[string]any{"search_term": "fox", "order_by": "recent"})
		if !slices.Equal(recent, []string{jumps, foxes, many, quick}) {
			t.Errorf("recent order %v, want newest first", recent)
		}

		for term, want := range map[string][]string{
			"qui":                  {quick},       // prefix
			"run":                  {foxes},       // stem
			"FOX BROWN":            {quick},       // every word, any case
			`"brown fox"`:          {quick},       // phrase
			`"fox brown"`:          nil,           // phrase in order
			"fox -jumps -running":  {quick, many}, // exclusion
			"lazy OR jumps":        nil,           // alternatives (checked below)
			"nothing-matches-this": nil,
		} {
			got := searchIDs(t, hs, alice.Token, map[string]any{"search_term": term, "order_by": "recent"})
			if term == "lazy OR jumps" {
				if len(got) != 2 || !slices.Contains(got, jumps) {
					t.Errorf("search %q: %v", term, got)
				}
				continue
			}
			if !sameSet(got, want) && !(len(got) == 0 && len(want) == 0) {
				t.Errorf("search %q: %v, want %v", term, got, want)
			}
		}

		// Names and topics, under their own keys.
		name := putState(t, hs, alice.Token, room, "m.room.name", "", map[string]any{"name": "The Foxhole"}).Str("event_id")
		topic := putState(t, hs, alice.Token, room, "m.room.topic", "", map[string]any{"topic": "all about foxholes"}).Str("event_id")
		if got := searchIDs(t, hs, alice.Token, map[string]any{"search_term": "foxhole", "keys": []string{"content.name"}}); !slices.Equal(got, []string{name}) {
			t.Errorf("search of content.name: %v, want the name event", got)
		}
		if got := searchIDs(t, hs, alice.Token, map[string]any{"search_term": "foxhole", "keys": []string{"content.topic"}}); !slices.Equal(got, []string{topic}) {
			t.Errorf("search of content.topic: %v, want the topic event", got)
		}
		if got := searchIDs(t, hs, alice.Token, map[string]any{"search_term": "foxhole", "keys": []string{"content.body"}}); len(got) != 0 {
			t.Errorf("search of content.body found names or topics: %v", got)
		}
		if got := searchIDs(t, hs, alice.Token, map[string]any{"search_term": "foxhole"}); !sameSet(got, []string{name, topic}) {
			t.Errorf("search of every key: %v", got)
		}
	})
}

// The filter narrows by room, sender and type, and limits the page.
func TestSearchFiltersRoomsSendersAndLimit(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		hs := testharness.StartBackend(t, backend)
		alice, bob, _, room1 := threeInAPublicRoom(t, hs)
		room2 := createRoom(t, hs, alice.Token, map[string]any{"preset": "public_chat"})
		mustJoin(t, hs, bob.Token, room2)
		a1 := sendMessage(t, hs, alice.Token, room1, "apple from alice")
		b1 := sendMessage(t, hs, bob.Token, room1, "apple from bob")
		a2 := sendMessage(t, hs, alice.Token, room2, "apple again from alice")
		b2 := sendMessage(t, hs, bob.Token, room2, "apple again from bob")

		for what, c := range map[string]struct {
			filter map[string]any
			want   []string
		}{
			"rooms":       {map[string]any{"rooms": []string{room1}}, []string{a1, b1}},
			"not_rooms":   {map[string]any{"not_rooms": []string{room1}}, []string{a2, b2}},
			"senders":     {map[string]any{"senders": []string{bob.UserID}}, []string{b1, b2}},
			"not_senders": {map[string]any{"not_senders": []string{bob.UserID}}, []string{a1, a2}},
			"both":        {map[string]any{"rooms": []string{room2}, "senders": []string{alice.UserID}}, []string{a2}},
			"types":       {map[string]any{"types": []string{"m.room.topic"}}, nil},
			"not_types":   {map[string]any{"not_types": []string{"m.room.*"}}, nil},
			"unjoined":    {map[string]any{"rooms": []string{"!nowhere:" + hs.Config.ServerName}}, nil},
		} {
			got := searchIDs(t, hs, bob.Token, map[string]any{"search_term": "apple", "filter": c.filter})
			if !sameSet(got, c.want) && !(len(got) == 0 && len(c.want) == 0) {
				t.Errorf("filter %s: %v, want %v", what, got, c.want)
			}
		}
		re := roomEvents(t, searchRooms(t, hs, bob.Token, map[string]any{"search_term": "apple", "order_by": "recent", "filter": map[string]any{"limit": 3}}, ""))
		if ids, _ := searchResults(t, re); !slices.Equal(ids, []string{b2, a2, b1}) {
			t.Errorf("limit 3, recent: %v", ids)
		}
		if re["next_batch"] == nil || re["count"] != float64(4) {
			t.Errorf("a limited page has next_batch and the whole count: %v %v", re["next_batch"], re["count"])
		}
	})
}

// next_batch pages through every result once, in both orders, and the
// last page has none.
func TestSearchPaginatesWithNextBatch(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		hs := testharness.StartBackend(t, backend)
		alice := hs.RegisterUser(t, "alice")
		room := createRoom(t, hs, alice.Token, nil)
		var sent []string
		for i := 0; i < 23; i++ {
			sent = append(sent, sendMessage(t, hs, alice.Token, room, "pager message "+strings.Repeat("x", i%5+1)))
		}
		for _, order := range []string{"rank", "recent"} {
			var all []string
			var sizes []int
			next := ""
			for page := 0; page < 10; page++ {
				re := roomEvents(t, searchRooms(t, hs, alice.Token, map[string]any{"search_term": "pager", "order_by": order, "filter": map[string]any{"limit": 10}}, next))
				ids, _ := searchResults(t, re)
				all = append(all, ids...)
				sizes = append(sizes, len(ids))
				nb, _ := re["next_batch"].(string)
				if nb == "" {
					break
				}
				next = nb
			}
			if !sameSet(all, sent) || len(all) != len(sent) {
				t.Errorf("%s: pages %v hold %d results, want each of %d once", order, sizes, len(all), len(sent))
			}
			if order == "recent" {
				want := slices.Clone(sent)
				slices.Reverse(want)
				if !slices.Equal(all, want) {
					t.Errorf("recent pages are not newest first")
				}
			}
		}
		// A full last page still gives next_batch (as Synapse: a client
		// cannot tell it is the last), and the page after it is empty
		// and ends the pages.
		numbered := createRoom(t, hs, alice.Token, nil)
		var ids []string
		for i := 0; i < 20; i++ {
			ids = append(ids, sendMessage(t, hs, alice.Token, numbered, fmt.Sprintf("Message number %d", i)))
		}
		criteria := map[string]any{"search_term": "Message", "order_by": "recent", "keys": []string{"content.body"},
			"filter": map[string]any{"limit": 10, "rooms": []string{numbered}}}
		next := ""
		for page, want := range [][]string{{ids[19], ids[10]}, {ids[9], ids[0]}, nil} {
			re := roomEvents(t, searchRooms(t, hs, alice.Token, criteria, next))
			got, _ := searchResults(t, re)
			nb, _ := re["next_batch"].(string)
			if re["count"] != float64(20) {
				t.Errorf("page %d: count %v, want 20", page, re["count"])
			}
			if want == nil {
				if len(got) != 0 || nb != "" {
					t.Errorf("page %d: %v, next_batch %q; want none", page, got, nb)
				}
				continue
			}
			if len(got) != 10 || got[0] != want[0] || got[9] != want[1] || nb == "" {
				t.Fatalf("page %d: %v, next_batch %q", page, got, nb)
			}
			next = nb
		}

		// A token of the other order, or none of ours, is refused.
		re := roomEvents(t, searchRooms(t, hs, alice.Token, map[string]any{"search_term": "pager", "filter": map[string]any{"limit": 5}}, ""))
		tok := re["next_batch"].(string)
		expect(t, searchRooms(t, hs, alice.Token, map[string]any{"search_term": "pager", "order_by": "recent"}, tok), 400, "M_INVALID_PARAM")
		expect(t, searchRooms(t, hs, alice.Token, map[string]any{"search_term": "pager"}, "garbage!"), 400, "M_INVALID_PARAM")
	})
}

// event_context gives the events around each result with tokens and the
// senders' profiles; include_state gives each room's state; groupings
// group the results by room and by sender.
func TestSearchContextStateAndGroupings(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		hs := testharness.StartBackend(t, backend)
		alice, bob, _, room := threeInAPublicRoom(t, hs)
		expect(t, hs.Do(t, "PUT", cs+"/profile/"+testharness.PathEscape(bob.UserID)+"/displayname", bob.Token, map[string]any{"displayname": "Bobby"}), 200, "")
		other := createRoom(t, hs, bob.Token, nil)
		b1 := sendMessage(t, hs, alice.Token, room, "one")
		b2 := sendMessage(t, hs, bob.Token, room, "two")
		hit := sendMessage(t, hs, bob.Token, room, "the needle is here")
		a1 := sendMessage(t, hs, alice.Token, room, "three")
		sendMessage(t, hs, alice.Token, room, "four")
		elsewhere := sendMessage(t, hs, bob.Token, other, "another needle")

		re := roomEvents(t, searchRooms(t, hs, bob.Token, map[string]any{
			"search_term":   "needle",
			"order_by":      "recent",
			"event_context": map[string]any{"before_limit": 2, "after_limit": 1, "include_profile": true},
			"include_state": true,
			"groupings":     map[string]any{"group_by": []map[string]any{{"key": "room_id"}, {"key": "sender"}}},
		}, ""))
		ids, _ := searchResults(t, re)
		if !slices.Equal(ids, []string{elsewhere, hit}) {
			t.Fatalf("results %v", ids)
		}
		res := re["results"].([]any)[1].(map[string]any)
		c, ok := res["context"].(map[string]any)
		if !ok {
			t.Fatalf("no context: %v", res)
		}
		var before, after []string
		for _, e := range c["events_before"].([]any) {
			before = append(before, e.(map[string]any)["event_id"].(string))
		}
		for _, e := range c["events_after"].([]any) {
			after = append(after, e.(map[string]any)["event_id"].(string))
		}
		if !slices.Equal(before, []string{b2, b1}) || !slices.Equal(after, []string{a1}) {
			t.Errorf("context before %v (want %v), after %v (want %v)", before, []string{b2, b1}, after, []string{a1})
		}
		if s, _ := c["start"].(string); s == "" {
			t.Errorf("context without start: %v", c)
		}
		if e, _ := c["end"].(string); e == "" {
			t.Errorf("context without end: %v", c)
		}
		// The tokens page on in /messages.
		if m := hs.Do(t, "GET", roomPath(room, "/messages?dir=f&limit=10&from="+url.QueryEscape(c["end"].(string))), bob.Token, nil); m.Status != 200 || !slices.Contains(chunkBodies(m, "chunk"), "four") {
			t.Errorf("/messages from the context's end: %s", m)
		}
		profiles, _ := c["profile_info"].(map[string]any)
		if p, _ := profiles[bob.UserID].(map[string]any); p["displayname"] != "Bobby" {
			t.Errorf("profile_info %v lacks Bobby", profiles)
		}
		if _, ok := profiles[alice.UserID]; !ok {
			t.Errorf("profile_info %v lacks alice, a sender of the context", profiles)
		}

		state, _ := re["state"].(map[string]any)
		for _, r := range []string{room, other} {
			var types []string
			list, _ := state[r].([]any)
			for _, e := range list {
				types = append(types, e.(map[string]any)["type"].(string))
			}
			if !slices.Contains(types, "m.room.create") || !slices.Contains(types, "m.room.member") {
				t.Errorf("state of %s: %v", r, types)
			}
		}

		groups, _ := re["groups"].(map[string]any)
		byRoom, _ := groups["room_id"].(map[string]any)
		bySender, _ := groups["sender"].(map[string]any)
		roomGroup, _ := byRoom[room].(map[string]any)
		if got, _ := roomGroup["results"].([]any); len(got) != 1 || got[0] != hit {
			t.Errorf("group of %s: %v", room, roomGroup)
		}
		if _, ok := roomGroup["order"].(float64); !ok {
			t.Errorf("group without order: %v", roomGroup)
		}
		if senderGroup, _ := bySender[bob.UserID].(map[string]any); len(senderGroup["results"].([]any)) != 2 {
			t.Errorf("group of bob: %v", bySender)
		}
		if len(byRoom) != 2 || len(bySender) != 1 {
			t.Errorf("groups %v", groups)
		}

		// Context is in the order /context gives: before, newest first.
		numbered := createRoom(t, hs, bob.Token, nil)
		for i := 1; i <= 7; i++ {
			sendMessage(t, hs, bob.Token, numbered, fmt.Sprintf("Message number %d", i))
		}
		re = roomEvents(t, searchRooms(t, hs, bob.Token, map[string]any{"search_term": "Message 4", "order_by": "recent",
			"filter": map[string]any{"limit": 1, "rooms": []string{numbered}}, "event_context": map[string]any{"before_limit": 2, "after_limit": 2}}, ""))
		res = re["results"].([]any)[0].(map[string]any)
		c = res["context"].(map[string]any)
		var got []string
		for _, key := range []string{"events_before", "events_after"} {
			for _, e := range c[key].([]any) {
				got = append(got, e.(map[string]any)["content"].(map[string]any)["body"].(string))
			}
		}
		if want := []string{"Message number 3", "Message number 2", "Message number 5", "Message number 6"}; !slices.Equal(got, want) || re["count"] != float64(1) {
			t.Errorf("context %v, count %v; want %v, 1", got, re["count"], want)
		}

		// No context unless asked.
		plain := roomEvents(t, searchRooms(t, hs, bob.Token, map[string]any{"search_term": "needle"}, ""))
		if _, ok := plain["results"].([]any)[0].(map[string]any)["context"]; ok {
			t.Errorf("context given unasked: %v", plain)
		}
		if _, ok := plain["state"]; ok {
			t.Errorf("state given unasked")
		}
	})
}

// Search shows only what the caller may see: nothing of rooms they are
// not in, nothing from before their join where history is "joined", the
// shared history of a room they joined, nothing of a room they left (as
// Synapse: joined rooms only); guests may not search (G-14).
func TestSearchOnlyWhatTheCallerMaySee_G14(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		hs := testharness.StartBackend(t, backend)
		alice := hs.RegisterUser(t, "alice")
		bob := hs.RegisterUser(t, "bob")
		joinedOnly := createRoom(t, hs, alice.Token, map[string]any{"preset": "public_chat",
			"initial_state": []map[string]any{{"type": "m.room.history_visibility", "state_key": "", "content": map[string]any{"history_visibility": "joined"}}}})
		shared := createRoom(t, hs, alice.Token, map[string]any{"preset": "public_chat"})
		private := createRoom(t, hs, alice.Token, map[string]any{"preset": "private_chat"})
		sendMessage(t, hs, alice.Token, joinedOnly, "secret before bob")
		sharedBefore := sendMessage(t, hs, alice.Token, shared, "secret shared before bob")
		sendMessage(t, hs, alice.Token, private, "secret of the private room")
		mustJoin(t, hs, bob.Token, joinedOnly)
		mustJoin(t, hs, bob.Token, shared)
		after := sendMessage(t, hs, alice.Token, joinedOnly, "secret after bob")

		for _, order := range []string{"rank", "recent"} {
			re := roomEvents(t, searchRooms(t, hs, bob.Token, map[string]any{"search_term": "secret", "order_by": order}, ""))
			ids, _ := searchResults(t, re)
			if !sameSet(ids, []string{after, sharedBefore}) {
				t.Errorf("%s: bob finds %v, want only %s and %s", order, ids, after, sharedBefore)
			}
			if re["count"] != float64(2) {
				t.Errorf("%s: count %v counts events bob may not see", order, re["count"])
			}
		}
		// Asking for the other rooms by name does not open them.
		if got := searchIDs(t, hs, bob.Token, map[string]any{"search_term": "secret", "filter": map[string]any{"rooms": []string{private}}}); len(got) != 0 {
			t.Errorf("bob finds events of a room he is not in: %v", got)
		}
		// Alice sees all four.
		if got := searchIDs(t, hs, alice.Token, map[string]any{"search_term": "secret"}); len(got) != 4 {
			t.Errorf("alice finds %v, want 4", got)
		}
		// Left: no longer searched.
		expect(t, hs.Do(t, "POST", roomPath(shared, "/leave"), bob.Token, map[string]any{}), 200, "")
		if got := searchIDs(t, hs, bob.Token, map[string]any{"search_term": "secret"}); !slices.Equal(got, []string{after}) {
			t.Errorf("after leaving the shared room, bob finds %v", got)
		}
		guest := hs.RegisterGuest(t)
		expect(t, searchRooms(t, hs, guest.Token, map[string]any{"search_term": "secret"}, ""), 403, "M_GUEST_ACCESS_FORBIDDEN")
		expect(t, searchRooms(t, hs, "", map[string]any{"search_term": "secret"}, ""), 401, "M_MISSING_TOKEN")
	})
}

// A redacted event leaves the index: search no longer finds or counts it.
func TestSearchRedactedEventsDisappear(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		hs := testharness.StartBackend(t, backend)
		alice := hs.RegisterUser(t, "alice")
		room := createRoom(t, hs, alice.Token, nil)
		gone := sendMessage(t, hs, alice.Token, room, "regrettable words")
		kept := sendMessage(t, hs, alice.Token, room, "kind words")
		if got := searchIDs(t, hs, alice.Token, map[string]any{"search_term": "words"}); !sameSet(got, []string{gone, kept}) {
			t.Fatalf("before the redaction: %v", got)
		}
		expect(t, hs.Do(t, "PUT", roomPath(room, "/redact/"+testharness.PathEscape(gone)+"/r1"), alice.Token, map[string]any{"reason": "oops"}), 200, "")
		re := roomEvents(t, searchRooms(t, hs, alice.Token, map[string]any{"search_term": "words"}, ""))
		if ids, _ := searchResults(t, re); !slices.Equal(ids, []string{kept}) || re["count"] != float64(1) {
			t.Errorf("after the redaction: %v, count %v", ids, re["count"])
		}
		if got := searchIDs(t, hs, alice.Token, map[string]any{"search_term": "regrettable"}); len(got) != 0 {
			t.Errorf("the redacted event is still found: %v", got)
		}
	})
}

// Events that arrive over federation are indexed like local ones, on the
// server that receives them.
func TestSearchFindsFederatedEvents(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		servers := testharness.StartFederation(t, backend, 2, nil)
		home, away := servers[0], servers[1]
		alice := home.RegisterUser(t, "alice")
		bob := away.RegisterUser(t, "bob")
		room := createRoom(t, home, alice.Token, map[string]any{"preset": "public_chat"})
		history := sendMessage(t, home, alice.Token, room, "zebra crossing before bob")
		if r := joinVia(t, away, bob.Token, room, home.Config.ServerName); r.Status != 200 {
			t.Fatalf("remote join: %s", r)
		}
		waitFor(t, func() bool { return membershipOn(t, home, alice.Token, room, bob.UserID) == "join" })
		fromHome := sendMessage(t, home, alice.Token, room, "zebra stripes from home")
		waitFor(t, func() bool { return syncHasMessage(t, away, bob.Token, room, "zebra stripes from home") })
		fromAway := sendMessage(t, away, bob.Token, room, "zebra herd from away")
		waitFor(t, func() bool { return syncHasMessage(t, home, alice.Token, room, "zebra herd from away") })

		if got := searchIDs(t, home, alice.Token, map[string]any{"search_term": "zebra"}); !sameSet(got, []string{history, fromHome, fromAway}) {
			t.Errorf("home: alice finds %v", got)
		}
		if got := searchIDs(t, away, bob.Token, map[string]any{"search_term": "stripes"}); !slices.Equal(got, []string{fromHome}) {
			t.Errorf("away: bob finds %v, want the message received from home", got)
		}
		// History fetched by paginating back (backfill) is searchable too.
		away.Do(t, "GET", roomPath(room, "/messages?dir=b&limit=50"), bob.Token, nil)
		if got := searchIDs(t, away, bob.Token, map[string]any{"search_term": "crossing"}); !slices.Equal(got, []string{history}) {
			t.Errorf("away: backfilled history: %v", got)
		}
	})
}

// Bad requests are 400s with the right code; terms holding the query
// syntax of either database, or nothing searchable, are plain text.
func TestSearchBadInput(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		hs := testharness.StartBackend(t, backend)
		alice := hs.RegisterUser(t, "alice")
		room := createRoom(t, hs, alice.Token, nil)
		odd := sendMessage(t, hs, alice.Token, room, `odd "quoted" text: a*b (c) AND d OR NOT e & f | !g <-> h:* 'i' \j NEAR(k l)`)

		post := func(body any) *testharness.Response { return hs.Do(t, "POST", cs+"/search", alice.Token, body) }
		expect(t, post("not json"), 400, "M_NOT_JSON")
		expect(t, post("[1]"), 400, "M_BAD_JSON")
		expect(t, post(map[string]any{}), 400, "M_MISSING_PARAM")
		expect(t, post(map[string]any{"search_categories": "room_events"}), 400, "M_BAD_JSON")
		expect(t, post(map[string]any{"search_categories": map[string]any{}}), 400, "M_MISSING_PARAM")
		expect(t, post(map[string]any{"search_categories": map[string]any{"room_events": map[string]any{"search_term": "x"}, "people": map[string]any{}}}), 400, "M_INVALID_PARAM")
		expect(t, post(map[string]any{"search_categories": map[string]any{"room_events": "x"}}), 400, "M_BAD_JSON")
		for _, c := range []struct {
			criteria map[string]any
			errcode  string
		}{
			{map[string]any{}, "M_MISSING_PARAM"},
			{map[string]any{"search_term": 5}, "M_BAD_JSON"},
			{map[string]any{"search_term": strings.Repeat("long ", 200)}, "M_INVALID_PARAM"},
			{map[string]any{"search_term": "x", "keys": []string{"content.url"}}, "M_INVALID_PARAM"},
			{map[string]any{"search_term": "x", "keys": "content.body"}, "M_BAD_JSON"},
			{map[string]any{"search_term": "x", "order_by": "best"}, "M_INVALID_PARAM"},
			{map[string]any{"search_term": "x", "filter": map[string]any{"limit": -1}}, "M_INVALID_PARAM"},
			{map[string]any{"search_term": "x", "filter": map[string]any{"limit": "ten"}}, "M_BAD_JSON"},
			{map[string]any{"search_term": "x", "filter": map[string]any{"senders": make([]string, 501)}}, "M_BAD_JSON"},
			{map[string]any{"search_term": "x", "event_context": map[string]any{"before_limit": -2}}, "M_INVALID_PARAM"},
			{map[string]any{"search_term": "x", "groupings": map[string]any{"group_by": []map[string]any{{"key": "type"}}}}, "M_INVALID_PARAM"},
		} {
			r := searchRooms(t, hs, alice.Token, c.criteria, "")
			if r.Status != 400 || r.Errcode() != c.errcode {
				t.Errorf("%v: want 400 %s, got %s", c.criteria, c.errcode, r)
			}
		}
		// Query syntax is text: never an error, found as words.
		for _, term := range []string{`"`, `"unclosed`, `*`, `a*b`, `(c)`, `AND`, `OR`, `NOT`, `e & f | !g`, `<->`, `h:*`, `'i'`, `\j`,
			`NEAR(k l)`, `-`, `- -`, `--x`, `""`, `:`, `^`, `{}`, `-odd`, `OR odd OR`, "\u00e9\u0301", "☃", strings.Repeat("w ", 100)} {
			r := searchRooms(t, hs, alice.Token, map[string]any{"search_term": term}, "")
			if r.Status != 200 {
				t.Errorf("search %q: %s", term, r)
			}
		}
		for _, term := range []string{`"quoted"`, `a*b`, `NEAR(k l)`, `h:*`, `'quoted'`, `\j`, `!g`, `odd OR nothing`} {
			if got := searchIDs(t, hs, alice.Token, map[string]any{"search_term": term}); !slices.Equal(got, []string{odd}) {
				t.Errorf("search %q: %v, want the message", term, got)
			}
		}
		// A big limit is capped, not refused.
		if r := searchRooms(t, hs, alice.Token, map[string]any{"search_term": "odd", "filter": map[string]any{"limit": 100000}, "event_context": map[string]any{"before_limit": 100000}}, ""); r.Status != 200 {
			t.Errorf("large limits: %s", r)
		}
	})
}

// A room and the room that replaced it are searched together when the
// filter names both; equal ranks list the older first, as Synapse does.
func TestSearchAcrossAnUpgradedRoomAndItsPredecessor(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		hs := testharness.StartBackend(t, backend)
		alice := hs.RegisterUser(t, "alice")
		old := createRoom(t, hs, alice.Token, map[string]any{"preset": "private_chat", "room_version": "8"})
		before := sendMessage(t, hs, alice.Token, old, "Message before upgrade")
		up := hs.Do(t, "POST", roomPath(old, "/upgrade"), alice.Token, map[string]any{"new_version": "9"})
		if up.Status != 200 {
			t.Fatalf("upgrade: %s", up)
		}
		replacement := up.Str("replacement_room")
		after := sendMessage(t, hs, alice.Token, replacement, "Message after upgrade")
		re := roomEvents(t, searchRooms(t, hs, alice.Token, map[string]any{"search_term": "upgrade", "keys": []string{"content.body"},
			"filter": map[string]any{"rooms": []string{old, replacement}}}, ""))
		if ids, ranks := searchResults(t, re); !slices.Equal(ids, []string{before, after}) || re["count"] != float64(2) {
			t.Errorf("results %v (ranks %v), count %v; want %s then %s", ids, ranks, re["count"], before, after)
		}
	})
}
