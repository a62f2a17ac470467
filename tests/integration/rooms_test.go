package integration

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"

	"foyer/internal/testharness"
)

// G-21: presets set join rules, history visibility and guest access.
func TestCreateRoomPresets_G21(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		hs := testharness.StartBackend(t, backend)
		alice := hs.RegisterUser(t, "alice")
		for _, c := range []struct {
			preset, visibility          string
			joinRule, history, guestAcc string
		}{
			{"private_chat", "", "invite", "shared", "can_join"},
			{"trusted_private_chat", "", "invite", "shared", "can_join"},
			{"public_chat", "", "public", "shared", "forbidden"},
			{"", "public", "public", "shared", "forbidden"},
			{"", "", "invite", "shared", "can_join"},
		} {
			room := createRoom(t, hs, alice.Token, map[string]any{"preset": c.preset, "visibility": c.visibility})
			guestAccess := stateContent(t, hs, alice.Token, room, "m.room.guest_access", "")
			ga := guestAccess.Str("guest_access")
			if guestAccess.Status == 404 {
				ga = "forbidden" // no event means forbidden (G-18)
			}
			got := []string{
				stateContent(t, hs, alice.Token, room, "m.room.join_rules", "").Str("join_rule"),
				stateContent(t, hs, alice.Token, room, "m.room.history_visibility", "").Str("history_visibility"),
				ga,
			}
			want := []string{c.joinRule, c.history, c.guestAcc}
			if !slices.Equal(got, want) {
				t.Errorf("preset %q visibility %q: got %v want %v", c.preset, c.visibility, got, want)
			}
		}
		// initial_state beats the preset; name, topic, alias, invites.
		bob := hs.RegisterUser(t, "bob")
		room := createRoom(t, hs, alice.Token, map[string]any{
			"preset": "public_chat", "name": "Lobby", "topic": "Say hi", "room_alias_name": "lobby",
			"invite": []string{bob.UserID}, "is_direct": true,
			"initial_state": []map[string]any{
				{"type": "m.room.guest_access", "state_key": "", "content": map[string]any{"guest_access": "can_join"}},
				{"type": "m.room.history_visibility", "content": map[string]any{"history_visibility": "world_readable"}},
			},
			"power_level_content_override": map[string]any{"events_default": 10},
			"creation_content":             map[string]any{"m.federate": false},
		})
		checks := map[string]string{
			"m.room.guest_access|guest_access":             "can_join",
			"m.room.history_visibility|history_visibility": "world_readable",
			"m.room.name|name":                             "Lobby",
			"m.room.topic|topic":                           "Say hi",
			"m.room.canonical_alias|alias":                 "#lobby:localhost",
		}
		for k, want := range checks {
			typ, field, _ := strings.Cut(k, "|")
			if got := stateContent(t, hs, alice.Token, room, typ, "").Str(field); got != want {
				t.Errorf("%s: got %q want %q", k, got, want)
			}
		}
		// The topic also as a text/plain m.topic block (spec v1.15).
		topic := stateContent(t, hs, alice.Token, room, "m.room.topic", "")
		if !strings.Contains(string(topic.Raw), `"m.topic":{"m.text":[{"body":"Say hi","mimetype":"text/plain"}]}`) {
			t.Errorf("topic content: %s", topic)
		}
		pl := stateContent(t, hs, alice.Token, room, "m.room.power_levels", "")
		if pl.JSON["events_default"] != float64(10) || pl.JSON["users"].(map[string]any)[alice.UserID] != float64(100) {
			t.Errorf("power levels: %s", pl)
		}
		create := stateContent(t, hs, alice.Token, room, "m.room.create", "")
		if create.JSON["m.federate"] != false || create.Str("room_version") == "" {
			t.Errorf("create content: %s", create)
		}
		inv := stateContent(t, hs, alice.Token, room, "m.room.member", bob.UserID)
		if inv.Str("membership") != "invite" || inv.JSON["is_direct"] != true {
			t.Errorf("invite: %s", inv)
		}
		resolved := hs.Do(t, "POST", cs+"/join/"+url.PathEscape("#lobby:localhost"), bob.Token, map[string]any{})
		if resolved.Status != 200 || resolved.Str("room_id") != room {
			t.Errorf("join by alias: %s", resolved)
		}
		// Errors.
		expect(t, hs.Do(t, "POST", cs+"/createRoom", alice.Token, map[string]any{"room_alias_name": "lobby"}), 400, "M_ROOM_IN_USE")
		expect(t, hs.Do(t, "POST", cs+"/createRoom", alice.Token, map[string]any{"room_version": "999"}), 400, "M_UNSUPPORTED_ROOM_VERSION")
		expect(t, hs.Do(t, "POST", cs+"/createRoom", alice.Token, map[string]any{"preset": "party"}), 400, "M_BAD_JSON")
		expect(t, hs.Do(t, "POST", cs+"/createRoom", alice.Token, map[string]any{"name": 5}), 400, "M_BAD_JSON")
		expect(t, hs.Do(t, "POST", cs+"/createRoom", alice.Token, map[string]any{"invite": []string{"not-a-user"}}), 400, "M_INVALID_PARAM")
		expect(t, hs.Do(t, "POST", cs+"/createRoom", alice.Token, map[string]any{"invite": []string{"@nobody:localhost"}}), 404, "M_NOT_FOUND")
		// Every stable version the library supports can be created.
		for _, v := range []string{"1", "6", "9", "10", "11", "12"} {
			r := hs.Do(t, "POST", cs+"/createRoom", alice.Token, map[string]any{"room_version": v, "name": "v" + v})
			if r.Status != 200 {
				t.Errorf("room version %s: %s", v, r)
				continue
			}
			sendMessage(t, hs, alice.Token, r.Str("room_id"), "hello v"+v)
		}
	})
}

func TestSendStateAndTransactions(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		hs := testharness.StartBackend(t, backend)
		alice := hs.RegisterUser(t, "alice")
		room := createRoom(t, hs, alice.Token, nil)
		path := roomPath(room, "/send/m.room.message/abc")
		first := hs.Do(t, "PUT", path, alice.Token, map[string]any{"msgtype": "m.text", "body": "one"})
		again := hs.Do(t, "PUT", path, alice.Token, map[string]any{"msgtype": "m.text", "body": "one"})
		expect(t, first, 200, "")
		if again.Str("event_id") != first.Str("event_id") {
			t.Fatalf("transaction replay made a new event: %s vs %s", first, again)
		}
		// Another device of the same user: a new transaction scope.
		login := hs.Do(t, "POST", cs+"/login", "", map[string]any{"type": "m.login.password", "user": "alice", "password": alice.Password})
		other := hs.Do(t, "PUT", path, login.Str("access_token"), map[string]any{"msgtype": "m.text", "body": "one"})
		if other.Status != 200 || other.Str("event_id") == first.Str("event_id") {
			t.Fatalf("other device reused the transaction: %s", other)
		}
		ev := hs.Do(t, "GET", roomPath(room, "/event/"+url.PathEscape(first.Str("event_id"))), alice.Token, nil)
		if ev.Status != 200 || ev.JSON["content"].(map[string]any)["body"] != "one" || ev.Str("sender") != alice.UserID {
			t.Fatalf("event: %s", ev)
		}
		// State, including the empty state key written both ways.
		expect(t, putState(t, hs, alice.Token, room, "m.room.topic", "", map[string]any{"topic": "first"}), 200, "")
		expect(t, hs.Do(t, "PUT", roomPath(room, "/state/m.room.name"), alice.Token, map[string]any{"name": "Named"}), 200, "")
		expect(t, putState(t, hs, alice.Token, room, "org.example.custom", "a/b", map[string]any{"k": 1}), 200, "")
		if stateContent(t, hs, alice.Token, room, "m.room.topic", "").Str("topic") != "first" ||
			hs.Do(t, "GET", roomPath(room, "/state/m.room.name"), alice.Token, nil).Str("name") != "Named" {
			t.Fatal("state not stored")
		}
		if c := hs.Do(t, "GET", roomPath(room, "/state/org.example.custom/a/b"), alice.Token, nil); c.JSON["k"] != float64(1) {
			t.Fatalf("slash state key: %s", c)
		}
		full := hs.Do(t, "GET", roomPath(room, "/state/m.room.topic/?format=event"), alice.Token, nil)
		if full.Str("type") != "m.room.topic" || full.Str("event_id") == "" || full.JSON["unsigned"].(map[string]any)["replaces_state"] != nil {
			t.Fatalf("format=event: %s", full)
		}
		expect(t, putState(t, hs, alice.Token, room, "m.room.topic", "", map[string]any{"topic": "second"}), 200, "")
		full = hs.Do(t, "GET", roomPath(room, "/state/m.room.topic/?format=event"), alice.Token, nil)
		if u := full.JSON["unsigned"].(map[string]any); u["prev_content"].(map[string]any)["topic"] != "first" || u["replaces_state"] == nil {
			t.Fatalf("prev_content: %s", full)
		}
		all := hs.Do(t, "GET", roomPath(room, "/state"), alice.Token, nil)
		if all.Status != 200 || !strings.Contains(string(all.Raw), `"m.room.create"`) {
			t.Fatalf("state: %s", all)
		}
		expect(t, stateContent(t, hs, alice.Token, room, "m.room.nothing", ""), 404, "M_NOT_FOUND")
		// Bad input.
		expect(t, hs.Do(t, "PUT", roomPath(room, "/send/m.room.message/x1"), alice.Token, `[1,2]`), 400, "M_BAD_JSON")
		expect(t, hs.Do(t, "PUT", roomPath(room, "/send/m.room.message/x2"), alice.Token, `{"body":`), 400, "M_NOT_JSON")
		big := map[string]any{"msgtype": "m.text", "body": strings.Repeat("x", 70000)}
		expect(t, hs.Do(t, "PUT", roomPath(room, "/send/m.room.message/x3"), alice.Token, big), 413, "M_TOO_LARGE")
		near := map[string]any{"msgtype": "m.text", "body": strings.Repeat("x", 65000)}
		expect(t, hs.Do(t, "PUT", roomPath(room, "/send/m.room.message/x4"), alice.Token, near), 413, "M_TOO_LARGE")
		expect(t, hs.Do(t, "PUT", cs+"/rooms/not-a-room/send/m.room.message/x5", alice.Token, map[string]any{}), 400, "M_INVALID_PARAM")
		expect(t, hs.Do(t, "PUT", roomPath("!missing:localhost", "/send/m.room.message/x6"), alice.Token, map[string]any{}), 404, "M_NOT_FOUND")
		// A non-member cannot send, read state or events.
		eve := hs.RegisterUser(t, "eve")
		expect(t, hs.Do(t, "PUT", roomPath(room, "/send/m.room.message/e1"), eve.Token, map[string]any{"body": "hi"}), 403, "M_FORBIDDEN")
		expect(t, hs.Do(t, "GET", roomPath(room, "/state"), eve.Token, nil), 403, "M_FORBIDDEN")
		// An event the caller may not see is not found (spec, G-31).
		expect(t, hs.Do(t, "GET", roomPath(room, "/event/"+url.PathEscape(first.Str("event_id"))), eve.Token, nil), 404, "M_NOT_FOUND")
		expect(t, hs.Do(t, "GET", roomPath("!missing:localhost", "/event/"+url.PathEscape(first.Str("event_id"))), eve.Token, nil), 404, "M_NOT_FOUND")
		// Power levels: a plain member cannot change the name.
		bob := hs.RegisterUser(t, "bob")
		expect(t, hs.Do(t, "POST", roomPath(room, "/invite"), alice.Token, map[string]any{"user_id": bob.UserID}), 200, "")
		mustJoin(t, hs, bob.Token, room)
		r := putState(t, hs, bob.Token, room, "m.room.name", "", map[string]any{"name": "mine"})
		expect(t, r, 403, "M_FORBIDDEN")
		if !strings.Contains(r.Str("error"), "power level") {
			t.Errorf("refusal does not explain itself: %s", r)
		}
		// The @-state-key rule: bob cannot set state keyed to alice.
		expect(t, putState(t, hs, bob.Token, room, "org.example.presence", alice.UserID, map[string]any{}), 403, "M_FORBIDDEN")
	})
}

func TestMessagesPaginationAndFilters(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		hs := testharness.StartBackend(t, backend)
		alice := hs.RegisterUser(t, "alice")
		bob := hs.RegisterUser(t, "bob")
		room := createRoom(t, hs, alice.Token, map[string]any{"preset": "public_chat"})
		mustJoin(t, hs, bob.Token, room)
		var want []string
		for i := 0; i < 12; i++ {
			tok := alice.Token
			if i%3 == 2 {
				tok = bob.Token
			}
			body := fmt.Sprintf("m%02d", i)
			sendMessage(t, hs, tok, room, body)
			want = append(want, body)
		}
		hs.Do(t, "PUT", roomPath(room, "/send/m.room.message/img"), alice.Token, map[string]any{"msgtype": "m.image", "body": "pic", "url": "mxc://localhost/abc"})
		// Backwards in pages of 5 until the beginning.
		var got []string
		from := ""
		for page := 0; page < 20; page++ {
			q := "/messages?dir=b&limit=5&filter=" + url.QueryEscape(`{"types":["m.room.message"],"contains_url":false}`)
			if from != "" {
				q += "&from=" + from
			}
			r := hs.Do(t, "GET", roomPath(room, q), alice.Token, nil)
			expect(t, r, 200, "")
			got = append(got, chunkBodies(r, "chunk")...)
			end := r.Str("end")
			if end == "" {
				break
			}
			from = end
		}
		slices.Reverse(got)
		if !slices.Equal(got, want) {
			t.Fatalf("backwards pagination: got %v want %v", got, want)
		}
		// Forwards from the beginning.
		r := hs.Do(t, "GET", roomPath(room, "/messages?dir=f&limit=100&filter="+url.QueryEscape(`{"not_types":["m.room.member"],"senders":["`+bob.UserID+`"]}`)), alice.Token, nil)
		if g := chunkBodies(r, "chunk"); !slices.Equal(g, []string{"m02", "m05", "m08", "m11"}) {
			t.Fatalf("senders filter: %v", g)
		}
		r = hs.Do(t, "GET", roomPath(room, "/messages?dir=b&limit=1&filter="+url.QueryEscape(`{"contains_url":true}`)), alice.Token, nil)
		if g := chunkBodies(r, "chunk"); !slices.Equal(g, []string{"pic"}) {
			t.Fatalf("contains_url: %v", g)
		}
		// Lazy-loaded members come with the chunk.
		r = hs.Do(t, "GET", roomPath(room, "/messages?dir=b&limit=2&filter="+url.QueryEscape(`{"lazy_load_members":true}`)), alice.Token, nil)
		// Exactly the members who sent the chunk's events.
		senders, members := map[string]bool{}, map[string]bool{}
		for _, e := range r.JSON["chunk"].([]any) {
			senders[jsonPath(e, "sender").(string)] = true
		}
		state, _ := r.JSON["state"].([]any)
		for _, e := range state {
			if jsonPath(e, "type") == "m.room.member" {
				members[jsonPath(e, "state_key").(string)] = true
			}
		}
		if len(senders) == 0 || !maps.Equal(senders, members) {
			t.Fatalf("lazy-loaded members are not the chunk's senders: %s", r)
		}
		// A forward page then continuing from its end token sees new events.
		fwd := hs.Do(t, "GET", roomPath(room, "/messages?dir=b&limit=1"), alice.Token, nil)
		start := fwd.Str("start")
		sendMessage(t, hs, alice.Token, room, "later")
		next := hs.Do(t, "GET", roomPath(room, "/messages?dir=f&from="+start), alice.Token, nil)
		if g := chunkBodies(next, "chunk"); !slices.Equal(g, []string{"later"}) {
			t.Fatalf("forward from start token: %v (%s)", g, next)
		}
		expect(t, hs.Do(t, "GET", roomPath(room, "/messages"), alice.Token, nil), 400, "M_MISSING_PARAM")
		expect(t, hs.Do(t, "GET", roomPath(room, "/messages?dir=x"), alice.Token, nil), 400, "M_INVALID_PARAM")
		expect(t, hs.Do(t, "GET", roomPath(room, "/messages?dir=b&from=garbage"), alice.Token, nil), 400, "M_INVALID_PARAM")
		expect(t, hs.Do(t, "GET", roomPath(room, "/messages?dir=b&filter=notjson"), alice.Token, nil), 400, "M_INVALID_PARAM")
		expect(t, hs.Do(t, "GET", roomPath(room, "/messages?dir=b&limit=-1"), alice.Token, nil), 400, "M_INVALID_PARAM")
	})
}

func TestContextMembersAndRedaction(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		hs := testharness.StartBackend(t, backend)
		alice := hs.RegisterUser(t, "alice")
		bob := hs.RegisterUser(t, "bob")
		room := createRoom(t, hs, alice.Token, map[string]any{"preset": "public_chat"})
		mustJoin(t, hs, bob.Token, room)
		var ids []string
		for i := 0; i < 7; i++ {
			ids = append(ids, sendMessage(t, hs, alice.Token, room, fmt.Sprint("c", i)))
		}
		r := hs.Do(t, "GET", roomPath(room, "/context/"+url.PathEscape(ids[3])+"?limit=4"), bob.Token, nil)
		expect(t, r, 200, "")
		if r.JSON["event"].(map[string]any)["event_id"] != ids[3] ||
			!slices.Equal(chunkBodies(r, "events_before"), []string{"c2", "c1"}) ||
			!slices.Equal(chunkBodies(r, "events_after"), []string{"c4", "c5"}) ||
			r.Str("start") == "" || r.Str("end") == "" || len(r.JSON["state"].([]any)) == 0 {
			t.Fatalf("context: %s", r)
		}
		// Continue after the context window with its end token.
		after := hs.Do(t, "GET", roomPath(room, "/messages?dir=f&from="+r.Str("end")), bob.Token, nil)
		if g := chunkBodies(after, "chunk"); !slices.Equal(g, []string{"c6"}) {
			t.Fatalf("after context end: %v", g)
		}
		expect(t, hs.Do(t, "GET", roomPath(room, "/context/"+url.PathEscape("$missing")), bob.Token, nil), 404, "M_NOT_FOUND")

		members := hs.Do(t, "GET", roomPath(room, "/members"), bob.Token, nil)
		if n := len(members.JSON["chunk"].([]any)); n != 2 {
			t.Fatalf("members: %d", n)
		}
		eve := hs.RegisterUser(t, "eve")
		expect(t, hs.Do(t, "POST", roomPath(room, "/invite"), alice.Token, map[string]any{"user_id": eve.UserID}), 200, "")
		inv := hs.Do(t, "GET", roomPath(room, "/members?membership=invite"), alice.Token, nil)
		notJoin := hs.Do(t, "GET", roomPath(room, "/members?not_membership=join"), alice.Token, nil)
		if len(inv.JSON["chunk"].([]any)) != 1 || len(notJoin.JSON["chunk"].([]any)) != 1 {
			t.Fatalf("membership filters: %s / %s", inv, notJoin)
		}
		// members?at= a token from before bob joined.
		// The first two events are the create event and alice's join.
		early := hs.Do(t, "GET", roomPath(room, "/messages?dir=f&limit=2"), alice.Token, nil)
		at := hs.Do(t, "GET", roomPath(room, "/members?at="+early.Str("end")), alice.Token, nil)
		if n := len(at.JSON["chunk"].([]any)); n != 1 {
			t.Fatalf("members at an early token: %s", at)
		}
		jm := hs.Do(t, "GET", roomPath(room, "/joined_members"), bob.Token, nil)
		if j := jm.JSON["joined"].(map[string]any); len(j) != 2 || j[alice.UserID].(map[string]any)["display_name"] != "alice" {
			t.Fatalf("joined_members: %s", jm)
		}
		expect(t, hs.Do(t, "GET", roomPath(room, "/joined_members"), eve.Token, nil), 403, "M_FORBIDDEN")

		// Redaction: others' events need power; own events do not.
		expect(t, hs.Do(t, "PUT", roomPath(room, "/redact/"+url.PathEscape(ids[0])+"/r1"), bob.Token, map[string]any{}), 403, "M_FORBIDDEN")
		own := sendMessage(t, hs, bob.Token, room, "oops")
		red := hs.Do(t, "PUT", roomPath(room, "/redact/"+url.PathEscape(own)+"/r2"), bob.Token, map[string]any{"reason": "typo"})
		expect(t, red, 200, "")
		ev := hs.Do(t, "GET", roomPath(room, "/event/"+url.PathEscape(own)), alice.Token, nil)
		content := ev.JSON["content"].(map[string]any)
		because := ev.JSON["unsigned"].(map[string]any)["redacted_because"].(map[string]any)
		if len(content) != 0 || because["event_id"] != red.Str("event_id") || ev.JSON["unsigned"].(map[string]any)["redacted_by"] != red.Str("event_id") {
			t.Fatalf("redacted event: %s", ev)
		}
		expect(t, hs.Do(t, "PUT", roomPath(room, "/redact/"+url.PathEscape(ids[1])+"/r3"), alice.Token, map[string]any{}), 200, "")
		expect(t, hs.Do(t, "PUT", roomPath(room, "/redact/"+url.PathEscape("$nothing")+"/r4"), alice.Token, map[string]any{}), 404, "M_NOT_FOUND")
		// The form without a transaction ID: each POST is a redaction.
		second := sendMessage(t, hs, bob.Token, room, "oops again")
		for range 2 {
			expect(t, hs.Do(t, "POST", roomPath(room, "/redact/"+url.PathEscape(second)), bob.Token, map[string]any{}), 200, "")
		}
		if c := hs.Do(t, "GET", roomPath(room, "/event/"+url.PathEscape(second)), alice.Token, nil); len(c.JSON["content"].(map[string]any)) != 0 {
			t.Fatalf("redacted by POST: %s", c)
		}
		// Redaction sent through /send (v1.18 form) works too.
		viaSend := hs.Do(t, "PUT", roomPath(room, "/send/m.room.redaction/r5"), alice.Token, map[string]any{"redacts": ids[2]})
		expect(t, viaSend, 200, "")
		if c := hs.Do(t, "GET", roomPath(room, "/event/"+url.PathEscape(ids[2])), alice.Token, nil); len(c.JSON["content"].(map[string]any)) != 0 {
			t.Fatalf("redaction via send did not redact: %s", c)
		}
	})
}

func TestMembershipOperations(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		hs := testharness.StartBackend(t, backend)
		alice := hs.RegisterUser(t, "alice")
		bob := hs.RegisterUser(t, "bob")
		room := createRoom(t, hs, alice.Token, map[string]any{"preset": "private_chat"})
		expect(t, join(t, hs, bob.Token, room), 403, "M_FORBIDDEN")
		expect(t, hs.Do(t, "POST", roomPath(room, "/invite"), alice.Token, map[string]any{"user_id": bob.UserID}), 200, "")
		expect(t, hs.Do(t, "POST", roomPath(room, "/invite"), alice.Token, map[string]any{}), 400, "M_MISSING_PARAM")
		expect(t, hs.Do(t, "POST", roomPath(room, "/invite"), alice.Token, map[string]any{"user_id": "bob"}), 400, "M_INVALID_PARAM")
		mustJoin(t, hs, bob.Token, room)
		jr := hs.Do(t, "GET", cs+"/joined_rooms", bob.Token, nil)
		if rooms := jr.JSON["joined_rooms"].([]any); len(rooms) != 1 || rooms[0] != room {
			t.Fatalf("joined_rooms: %s", jr)
		}
		// Member content carries the profile.
		if m := stateContent(t, hs, alice.Token, room, "m.room.member", bob.UserID); m.Str("displayname") != "bob" {
			t.Fatalf("member content: %s", m)
		}
		expect(t, hs.Do(t, "POST", roomPath(room, "/kick"), bob.Token, map[string]any{"user_id": alice.UserID}), 403, "M_FORBIDDEN")
		expect(t, hs.Do(t, "POST", roomPath(room, "/kick"), alice.Token, map[string]any{"user_id": bob.UserID, "reason": "bye"}), 200, "")
		if m := stateContent(t, hs, alice.Token, room, "m.room.member", bob.UserID); m.Str("membership") != "leave" || m.Str("reason") != "bye" {
			t.Fatalf("kick: %s", m)
		}
		// A kicked user still reads the room as it was when he left; a
		// banned one reads nothing of it, as in Synapse.
		expect(t, hs.Do(t, "GET", roomPath(room, "/state"), bob.Token, nil), 200, "")
		expect(t, hs.Do(t, "POST", roomPath(room, "/ban"), alice.Token, map[string]any{"user_id": bob.UserID}), 200, "")
		expect(t, hs.Do(t, "GET", roomPath(room, "/state"), bob.Token, nil), 403, "M_FORBIDDEN")
		expect(t, hs.Do(t, "GET", roomPath(room, "/state/m.room.member/"+url.PathEscape(bob.UserID)), bob.Token, nil), 403, "M_FORBIDDEN")
		expect(t, hs.Do(t, "GET", roomPath(room, "/messages?dir=b"), bob.Token, nil), 403, "M_FORBIDDEN")
		expect(t, hs.Do(t, "POST", roomPath(room, "/invite"), alice.Token, map[string]any{"user_id": bob.UserID}), 403, "M_FORBIDDEN")
		expect(t, hs.Do(t, "POST", roomPath(room, "/unban"), alice.Token, map[string]any{"user_id": bob.UserID}), 200, "")
		expect(t, hs.Do(t, "POST", roomPath(room, "/unban"), alice.Token, map[string]any{"user_id": bob.UserID}), 403, "M_FORBIDDEN")
		expect(t, hs.Do(t, "POST", roomPath(room, "/forget"), alice.Token, map[string]any{}), 400, "M_UNKNOWN")
		expect(t, hs.Do(t, "POST", roomPath(room, "/forget"), bob.Token, map[string]any{}), 200, "")
		// Leave.
		expect(t, hs.Do(t, "POST", roomPath(room, "/invite"), alice.Token, map[string]any{"user_id": bob.UserID}), 200, "")
		expect(t, hs.Do(t, "POST", roomPath(room, "/leave"), bob.Token, map[string]any{}), 200, "")
		if m := stateContent(t, hs, alice.Token, room, "m.room.member", bob.UserID); m.Str("membership") != "leave" {
			t.Fatalf("rejecting an invite: %s", m)
		}
		eve := hs.RegisterUser(t, "eve")
		expect(t, hs.Do(t, "POST", roomPath(room, "/leave"), eve.Token, map[string]any{}), 403, "M_FORBIDDEN")
		// Knocking needs a knock join rule.
		expect(t, hs.Do(t, "POST", cs+"/knock/"+url.PathEscape(room), eve.Token, map[string]any{}), 403, "M_FORBIDDEN")
		expect(t, putState(t, hs, alice.Token, room, "m.room.join_rules", "", map[string]any{"join_rule": "knock"}), 200, "")
		kr := hs.Do(t, "POST", cs+"/knock/"+url.PathEscape(room), eve.Token, map[string]any{"reason": "let me in"})
		if kr.Status != 200 || kr.Str("room_id") != room {
			t.Fatalf("knock: %s", kr)
		}
		if m := stateContent(t, hs, alice.Token, room, "m.room.member", eve.UserID); m.Str("membership") != "knock" {
			t.Fatalf("knock state: %s", m)
		}
		expect(t, hs.Do(t, "POST", cs+"/join/"+url.PathEscape("#nothing:localhost"), eve.Token, map[string]any{}), 404, "M_NOT_FOUND")
		expect(t, hs.Do(t, "POST", cs+"/join/garbage", eve.Token, map[string]any{}), 400, "M_INVALID_PARAM")
	})
}

// G-16, G-19: guests join only can_join rooms (an invite does not
// exempt them) and send any event or state the power levels allow, such
// as Element Call's m.call.member.
func TestGuestJoinAndSend_G16_G19(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		hs := testharness.StartBackend(t, backend)
		alice := hs.RegisterUser(t, "alice")
		g := hs.RegisterGuest(t)
		// A public room without can_join: forbidden, even by alias.
		public := createRoom(t, hs, alice.Token, map[string]any{"preset": "public_chat", "room_alias_name": "pub"})
		expect(t, join(t, hs, g.Token, public), 403, "M_GUEST_ACCESS_FORBIDDEN")
		expect(t, hs.Do(t, "POST", cs+"/join/"+url.PathEscape("#pub:localhost"), g.Token, map[string]any{}), 403, "M_GUEST_ACCESS_FORBIDDEN")
		// An invite does not exempt a guest.
		invited := createRoom(t, hs, alice.Token, map[string]any{"preset": "public_chat", "invite": []string{g.UserID}})
		expect(t, join(t, hs, g.Token, invited), 403, "M_GUEST_ACCESS_FORBIDDEN")
		// No guest_access event at all means forbidden.
		bare := createRoom(t, hs, alice.Token, map[string]any{"preset": "public_chat"})
		expect(t, putState(t, hs, alice.Token, bare, "m.room.guest_access", "", map[string]any{}), 200, "")
		expect(t, join(t, hs, g.Token, bare), 403, "M_GUEST_ACCESS_FORBIDDEN")
		// can_join plus a public join rule: in.
		open := createRoom(t, hs, alice.Token, map[string]any{
			"preset":                       "public_chat",
			"initial_state":                []map[string]any{{"type": "m.room.guest_access", "content": map[string]any{"guest_access": "can_join"}}},
			"power_level_content_override": map[string]any{"events": map[string]any{"m.call.member": 0}},
		})
		mustJoin(t, hs, g.Token, open)
		// can_join alone does not override an invite-only join rule.
		private := createRoom(t, hs, alice.Token, map[string]any{"preset": "private_chat"})
		expect(t, join(t, hs, g.Token, private), 403, "M_FORBIDDEN")

		sendMessage(t, hs, g.Token, open, "hello from a guest")
		expect(t, hs.Do(t, "PUT", roomPath(open, "/send/org.example.custom/c1"), g.Token, map[string]any{"any": "type"}), 200, "")
		callKey := "_" + g.UserID + "_" + g.DeviceID
		expect(t, putState(t, hs, g.Token, open, "m.call.member", callKey, map[string]any{"application": "m.call", "call_id": ""}), 200, "")
		expect(t, putState(t, hs, g.Token, open, "m.room.name", "", map[string]any{"name": "guest rename"}), 403, "M_FORBIDDEN")
		// Guests cannot create rooms, invite, kick or ban (G-14).
		expect(t, hs.Do(t, "POST", cs+"/createRoom", g.Token, map[string]any{}), 403, "M_GUEST_ACCESS_FORBIDDEN")
		for _, op := range []string{"invite", "kick", "ban", "unban"} {
			expect(t, hs.Do(t, "POST", roomPath(open, "/"+op), g.Token, map[string]any{"user_id": alice.UserID}), 403, "M_GUEST_ACCESS_FORBIDDEN")
		}
		// Nor kick through the state endpoint.
		expect(t, putState(t, hs, g.Token, open, "m.room.member", alice.UserID, map[string]any{"membership": "leave"}), 403, "M_GUEST_ACCESS_FORBIDDEN")
		// Leaving works.
		expect(t, hs.Do(t, "POST", roomPath(open, "/leave"), g.Token, map[string]any{}), 200, "")
	})
}

// G-20: when guest access stops being can_join — by a new event or a
// redaction — local guests are moved to leave, by their own leave event;
// full users (and upgraded guests) stay.
func TestGuestsRemovedWhenGuestAccessRevoked_G20(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		hs := testharness.StartBackend(t, backend)
		alice := hs.RegisterUser(t, "alice")
		bob := hs.RegisterUser(t, "bob")
		g1, g2 := hs.RegisterGuest(t), hs.RegisterGuest(t)
		room := createRoom(t, hs, alice.Token, map[string]any{
			"preset":        "public_chat",
			"initial_state": []map[string]any{{"type": "m.room.guest_access", "content": map[string]any{"guest_access": "can_join"}}},
		})
		for _, tok := range []string{bob.Token, g1.Token, g2.Token} {
			mustJoin(t, hs, tok, room)
		}
		r := putState(t, hs, alice.Token, room, "m.room.guest_access", "", map[string]any{"guest_access": "forbidden"})
		expect(t, r, 200, "")
		for _, g := range []testharness.Account{g1, g2} {
			m := hs.Do(t, "GET", roomPath(room, "/state/m.room.member/"+url.PathEscape(g.UserID)+"?format=event"), alice.Token, nil)
			if m.JSON["content"].(map[string]any)["membership"] != "leave" || m.Str("sender") != g.UserID {
				t.Fatalf("guest %s not moved to leave by itself: %s", g.UserID, m)
			}
		}
		if m := stateContent(t, hs, alice.Token, room, "m.room.member", bob.UserID); m.Str("membership") != "join" {
			t.Fatalf("full user removed: %s", m)
		}
		expect(t, join(t, hs, g1.Token, room), 403, "M_GUEST_ACCESS_FORBIDDEN")

		// Redaction of can_join also revokes.
		allow := putState(t, hs, alice.Token, room, "m.room.guest_access", "", map[string]any{"guest_access": "can_join"})
		mustJoin(t, hs, g1.Token, room)
		expect(t, hs.Do(t, "PUT", roomPath(room, "/redact/"+url.PathEscape(allow.Str("event_id"))+"/red1"), alice.Token, map[string]any{}), 200, "")
		m := hs.Do(t, "GET", roomPath(room, "/state/m.room.member/"+url.PathEscape(g1.UserID)+"?format=event"), alice.Token, nil)
		if c, _ := m.JSON["content"].(map[string]any); c["membership"] != "leave" || m.Str("sender") != g1.UserID {
			t.Fatalf("guest not moved to leave by itself after redaction of can_join: %s", m)
		}
	})
}

// G-27..G-32: history visibility decides per event, for members, former
// members and non-members, on every read path.
func TestHistoryVisibility_G27_G29_G30_G31_G32(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		hs := testharness.StartBackend(t, backend)
		alice := hs.RegisterUser(t, "alice")
		bob := hs.RegisterUser(t, "bob")

		// joined: a late joiner sees nothing from before its join.
		joinedRoom := createRoom(t, hs, alice.Token, map[string]any{"preset": "public_chat",
			"initial_state": []map[string]any{{"type": "m.room.history_visibility", "content": map[string]any{"history_visibility": "joined"}}}})
		early := sendMessage(t, hs, alice.Token, joinedRoom, "before bob")
		mustJoin(t, hs, bob.Token, joinedRoom)
		sendMessage(t, hs, alice.Token, joinedRoom, "after bob")
		r := hs.Do(t, "GET", roomPath(joinedRoom, "/messages?dir=b&limit=50"), bob.Token, nil)
		if g := chunkBodies(r, "chunk"); !slices.Equal(g, []string{"after bob"}) {
			t.Fatalf("joined visibility: %v", g)
		}
		expect(t, hs.Do(t, "GET", roomPath(joinedRoom, "/event/"+url.PathEscape(early)), bob.Token, nil), 404, "M_NOT_FOUND")

		// shared: a late joiner sees everything; after leaving, nothing new.
		shared := createRoom(t, hs, alice.Token, map[string]any{"preset": "public_chat"})
		sendMessage(t, hs, alice.Token, shared, "s1")
		mustJoin(t, hs, bob.Token, shared)
		sendMessage(t, hs, alice.Token, shared, "s2")
		expect(t, putState(t, hs, alice.Token, shared, "m.room.topic", "", map[string]any{"topic": "topic at leave"}), 200, "")
		expect(t, hs.Do(t, "POST", roomPath(shared, "/leave"), bob.Token, map[string]any{}), 200, "")
		sendMessage(t, hs, alice.Token, shared, "s3 after bob left")
		expect(t, putState(t, hs, alice.Token, shared, "m.room.topic", "", map[string]any{"topic": "secret topic"}), 200, "")
		r = hs.Do(t, "GET", roomPath(shared, "/messages?dir=b&limit=50"), bob.Token, nil)
		if g := chunkBodies(r, "chunk"); !slices.Equal(g, []string{"s2", "s1"}) {
			t.Fatalf("former member sees %v", g)
		}
		// G-30/G-31: a former member's /state is the state at its leave.
		if tp := stateContent(t, hs, bob.Token, shared, "m.room.topic", ""); tp.Status != 200 || tp.Str("topic") != "topic at leave" {
			t.Fatalf("former member should see the topic as it was at its leave: %s", tp)
		}
		if m := stateContent(t, hs, bob.Token, shared, "m.room.member", bob.UserID); m.Str("membership") != "leave" {
			t.Fatalf("former member's own leave: %s", m)
		}

		// Never a member of a shared room: 403 everywhere (not an empty 200).
		eve := hs.RegisterUser(t, "eve")
		for _, p := range []string{"/messages?dir=b", "/state", "/members", "/state/m.room.name/"} {
			expect(t, hs.Do(t, "GET", roomPath(shared, p), eve.Token, nil), 403, "M_FORBIDDEN")
		}

		// world_readable: anyone may read, guests included (G-29, G-32).
		wr := createRoom(t, hs, alice.Token, map[string]any{"preset": "public_chat", "name": "Open book",
			"initial_state": []map[string]any{{"type": "m.room.history_visibility", "content": map[string]any{"history_visibility": "world_readable"}}}})
		wrEvent := sendMessage(t, hs, alice.Token, wr, "for everyone")
		g := hs.RegisterGuest(t)
		for _, tok := range []string{g.Token, eve.Token} {
			r := hs.Do(t, "GET", roomPath(wr, "/messages?dir=b&limit=10"), tok, nil)
			if !slices.Contains(chunkBodies(r, "chunk"), "for everyone") {
				t.Fatalf("world_readable /messages: %s", r)
			}
			expect(t, hs.Do(t, "GET", roomPath(wr, "/event/"+url.PathEscape(wrEvent)), tok, nil), 200, "")
			expect(t, hs.Do(t, "GET", roomPath(wr, "/context/"+url.PathEscape(wrEvent)), tok, nil), 200, "")
			if n := stateContent(t, hs, tok, wr, "m.room.name", ""); n.Str("name") != "Open book" {
				t.Fatalf("world_readable state: %s", n)
			}
			if m := hs.Do(t, "GET", roomPath(wr, "/members"), tok, nil); m.Status != 200 || len(m.JSON["chunk"].([]any)) != 1 {
				t.Fatalf("world_readable members: %s", m)
			}
		}
		// Events sent while the room was not world_readable stay hidden.
		toJoined := putState(t, hs, alice.Token, wr, "m.room.history_visibility", "", map[string]any{"history_visibility": "joined"})
		expect(t, toJoined, 200, "")
		hidden := sendMessage(t, hs, alice.Token, wr, "members only")
		expect(t, putState(t, hs, alice.Token, wr, "m.room.history_visibility", "", map[string]any{"history_visibility": "world_readable"}), 200, "")
		expect(t, hs.Do(t, "GET", roomPath(wr, "/event/"+url.PathEscape(hidden)), g.Token, nil), 404, "M_NOT_FOUND")
		r = hs.Do(t, "GET", roomPath(wr, "/messages?dir=b&limit=50"), g.Token, nil)
		if slices.Contains(chunkBodies(r, "chunk"), "members only") || !slices.Contains(chunkBodies(r, "chunk"), "for everyone") {
			t.Fatalf("per-event visibility: %v", chunkBodies(r, "chunk"))
		}
		// G-28: the history-visibility changes themselves are visible (the
		// event itself, not only its content quoted as a later event's
		// prev_content).
		sawChange := false
		for _, e := range r.JSON["chunk"].([]any) {
			ev := e.(map[string]any)
			if ev["event_id"] == toJoined.Str("event_id") && jsonPath(ev, "content", "history_visibility") == "joined" {
				sawChange = true
			}
		}
		if !sawChange {
			t.Fatalf("history visibility change hidden from non-member: %s", r)
		}
		// Previewers leave no trace among members (G-34).
		if m := hs.Do(t, "GET", roomPath(wr, "/members"), alice.Token, nil); len(m.JSON["chunk"].([]any)) != 1 {
			t.Fatalf("a previewer shows up as a member: %s", m)
		}
	})
}

// TestConcurrentSendsOneRoom: 100 concurrent sends into one room are all
// accepted, each transaction once, on one linear chain of events.
func TestConcurrentSendsOneRoom(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		hs := testharness.StartBackend(t, backend)
		alice := hs.RegisterUser(t, "alice")
		room := createRoom(t, hs, alice.Token, nil)
		const n = 100
		ids := make([]string, 2*n)
		var wg sync.WaitGroup
		for i := 0; i < 2*n; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				// Every transaction is sent twice at once.
				r, err := hs.DoErr("PUT", roomPath(room, fmt.Sprintf("/send/m.room.message/c%d", i%n)), alice.Token,
					map[string]any{"msgtype": "m.text", "body": fmt.Sprint(i % n)})
				if err != nil || r.Status != 200 {
					t.Errorf("send %d: %v %v", i, err, r)
					return
				}
				ids[i] = r.Str("event_id")
			}()
		}
		wg.Wait()
		unique := map[string]bool{}
		for i := 0; i < n; i++ {
			if ids[i] != ids[i+n] {
				t.Errorf("transaction c%d produced two events", i)
			}
			unique[ids[i]] = true
		}
		if len(unique) != n {
			t.Fatalf("%d distinct events, want %d", len(unique), n)
		}
		// One linear chain: each event's only prev_event is the one before.
		rows, err := hs.Server.DB.Read.Query(`SELECT event_id, json FROM events WHERE room_id = $1 ORDER BY stream_pos`, room)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		prev, count := "", 0
		for rows.Next() {
			var id, raw string
			if err := rows.Scan(&id, &raw); err != nil {
				t.Fatal(err)
			}
			var pdu struct {
				PrevEvents []any `json:"prev_events"`
				Depth      int64 `json:"depth"`
			}
			_ = json.Unmarshal([]byte(raw), &pdu)
			count++
			if prev == "" {
				if len(pdu.PrevEvents) != 0 {
					t.Fatalf("create event has prev_events")
				}
			} else if len(pdu.PrevEvents) != 1 || pdu.PrevEvents[0] != prev || pdu.Depth != int64(count) {
				t.Fatalf("event %d (%s) prev %v depth %d, want [%s] %d", count, id, pdu.PrevEvents, pdu.Depth, prev, count)
			}
			prev = id
		}
		if count < n {
			t.Fatalf("chain has %d events", count)
		}
	})
}

// In room version 12 creators hold unlimited power: the server's own
// checks (redacting others' events) must agree with the auth rules.
func TestRoomVersion12CreatorPower(t *testing.T) {
	hs := testharness.StartBackend(t, "sqlite")
	alice := hs.RegisterUser(t, "alice")
	bob := hs.RegisterUser(t, "bob")
	room := createRoom(t, hs, alice.Token, map[string]any{"room_version": "12", "preset": "public_chat"})
	if !strings.HasPrefix(room, "!") || strings.Contains(room, ":") {
		t.Fatalf("v12 room IDs carry no server name: %s", room)
	}
	mustJoin(t, hs, bob.Token, room)
	msg := sendMessage(t, hs, bob.Token, room, "bob's")
	expect(t, putState(t, hs, alice.Token, room, "m.room.name", "", map[string]any{"name": "v12"}), 200, "")
	expect(t, hs.Do(t, "PUT", roomPath(room, "/redact/"+url.PathEscape(msg)+"/r1"), alice.Token, map[string]any{}), 200, "")
	expect(t, putState(t, hs, bob.Token, room, "m.room.name", "", map[string]any{"name": "bob"}), 403, "M_FORBIDDEN")
}

// G-2, G-54: being a guest is a local fact: nothing in a guest's events
// says so (Synapse's "kind": "guest" in member content is not copied).
func TestGuestEventsCarryNoKind_G2_G54(t *testing.T) {
	hs := testharness.StartBackend(t, "sqlite")
	alice := hs.RegisterUser(t, "alice")
	g := hs.RegisterGuest(t)
	room := createRoom(t, hs, alice.Token, map[string]any{"preset": "private_chat", "invite": []string{g.UserID}})
	mustJoin(t, hs, g.Token, room)
	sendMessage(t, hs, g.Token, room, "hi")
	r := hs.Do(t, "GET", roomPath(room, "/messages?dir=b&limit=20"), alice.Token, nil)
	expect(t, r, 200, "")
	if bodies := chunkBodies(r, "chunk"); !slices.Equal(bodies, []string{"hi"}) {
		t.Fatalf("the guest's message is not in the page: %s", r)
	}
	if !strings.Contains(string(r.Raw), `"state_key":"`+g.UserID+`"`) {
		t.Fatalf("the guest's join is not in the page: %s", r)
	}
	if strings.Contains(string(r.Raw), `"kind"`) {
		t.Fatalf("a guest's events reveal its kind: %s", r)
	}
	// G-54: nor do the events as stored, which federation would send.
	var stored, withKind int
	if err := hs.Server.DB.Read.QueryRow(`SELECT COUNT(*), COALESCE(SUM(CASE WHEN json LIKE '%"kind"%' THEN 1 ELSE 0 END), 0)
		FROM events WHERE room_id = $1`, room).Scan(&stored, &withKind); err != nil {
		t.Fatal(err)
	}
	if stored == 0 || withKind != 0 {
		t.Fatalf("%d of the room's %d stored events carry a kind", withKind, stored)
	}
}

// G-11: the legacy authentication API is served, with no OAuth-aware
// flag that would stop clients from registering guests.
func TestLegacyAuthAPIServed_G11(t *testing.T) {
	hs := testharness.StartBackend(t, "sqlite")
	r := hs.Do(t, "GET", cs+"/login", "", nil)
	if r.Status != 200 || strings.Contains(string(r.Raw), "oauth_aware_preferred") {
		t.Fatalf("GET /login: %s", r)
	}
	hs.RegisterGuest(t)
}
