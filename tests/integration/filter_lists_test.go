package integration

import (
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"testing"

	"foyer/internal/clientsync"
	"foyer/internal/testharness"
)

// inlineFilter is a filter as a query parameter value.
func inlineFilter(t testing.TB, filter any) string {
	t.Helper()
	raw, err := json.Marshal(filter)
	if err != nil {
		t.Fatal(err)
	}
	return url.QueryEscape(string(raw))
}

// manyTypes is n event types, the last one m.room.message.
// manyIDs is n short IDs of the form prefixI:x (user or room IDs).
func manyIDs(prefix string, n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("%s%d:x", prefix, i)
	}
	return ids
}

func manyTypes(n int) []string {
	types := make([]string, n)
	for i := range types {
		types[i] = fmt.Sprintf("org.example.type%d", i)
	}
	types[n-1] = "m.room.message"
	return types
}

// TestFilterListCap: a filter list longer than the cap is refused with
// 400 M_BAD_JSON wherever a filter is taken, on both databases; lists up
// to the cap still filter.
func TestFilterListCap(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		hs := testharness.StartBackend(t, backend)
		user := hs.RegisterUser(t, "filtercap")
		room := createRoom(t, hs, user.Token, nil)
		eventID := sendMessage(t, hs, user.Token, room, "hello")
		filterPath := cs + "/user/" + testharness.PathEscape(user.UserID) + "/filter"
		expectBadJSON := func(what string, r *testharness.Response) {
			t.Helper()
			if r.Status != 400 || r.Errcode() != "M_BAD_JSON" {
				t.Errorf("%s: %s", what, r)
			}
		}

		long := manyTypes(1000)
		for name, filter := range map[string]map[string]any{
			"room.timeline.types":     {"room": map[string]any{"timeline": map[string]any{"types": long}}},
			"room.state.not_senders":  {"room": map[string]any{"state": map[string]any{"not_senders": long}}},
			"room.not_rooms":          {"room": map[string]any{"not_rooms": long}},
			"presence.senders":        {"presence": map[string]any{"senders": long}},
			"account_data.not_types":  {"account_data": map[string]any{"not_types": long}},
			"room.ephemeral.rooms":    {"room": map[string]any{"ephemeral": map[string]any{"rooms": long}}},
			"event_fields":            {"event_fields": long},
			"room.account_data.types": {"room": map[string]any{"account_data": map[string]any{"types": long}}},
		} {
			expectBadJSON("upload "+name, hs.Do(t, "POST", filterPath, user.Token, filter))
			expectBadJSON("inline sync "+name, hs.Do(t, "GET", cs+"/sync?filter="+inlineFilter(t, filter), user.Token, nil))
		}
		// One past the cap is the first length refused.
		expectBadJSON("upload one past the cap", hs.Do(t, "POST", filterPath, user.Token,
			map[string]any{"room": map[string]any{"timeline": map[string]any{"types": manyTypes(clientsync.MaxFilterListLength + 1)}}}))
		for _, key := range []string{"types", "not_types", "senders", "not_senders"} {
			f := inlineFilter(t, map[string]any{key: long})
			expectBadJSON("messages "+key, hs.Do(t, "GET", roomPath(room, "/messages?dir=b&filter="+f), user.Token, nil))
			expectBadJSON("context "+key, hs.Do(t, "GET", roomPath(room, "/context/"+testharness.PathEscape(eventID)+"?filter="+f), user.Token, nil))
		}

		for _, n := range []int{100, clientsync.MaxFilterListLength} {
			types := manyTypes(n)
			senders := append(manyIDs("@s", n-1), user.UserID)
			f := map[string]any{"types": types, "senders": senders, "not_types": manyTypes(n)[:n-1], "not_senders": manyIDs("@o", n)}
			msgs := hs.Do(t, "GET", roomPath(room, "/messages?dir=b&filter="+inlineFilter(t, f)), user.Token, nil)
			if got := chunkBodies(msgs, "chunk"); msgs.Status != 200 || !slices.Equal(got, []string{"hello"}) {
				t.Errorf("messages with %d-entry lists: %v %s", n, got, msgs)
			}
			ctx := hs.Do(t, "GET", roomPath(room, "/context/"+testharness.PathEscape(eventID)+"?filter="+inlineFilter(t, f)), user.Token, nil)
			if ctx.Status != 200 {
				t.Errorf("context with %d-entry lists: %s", n, ctx)
			}
			syncFilter := map[string]any{"room": map[string]any{"timeline": f, "rooms": append(manyIDs("!r", n-1), room)}}
			up := hs.Do(t, "POST", filterPath, user.Token, syncFilter)
			if up.Status != 200 {
				t.Fatalf("upload a filter with %d-entry lists: %s", n, up)
			}
			for _, filter := range []string{up.Str("filter_id"), inlineFilter(t, syncFilter)} {
				s, _ := doSync(t, hs, user.Token, "filter="+filter)
				if got := bodies(s.Rooms.Join[room].Timeline.Events); !slices.Equal(got, []string{"hello"}) {
					t.Errorf("sync with %d-entry lists: %v", n, got)
				}
			}
		}
	})
}

// TestFilterWildcardsOnlyStar: in filter types only '*' is a wildcard;
// '%' and '_' match themselves and matching is case-sensitive, on both
// databases, in /messages and in /sync.
func TestFilterWildcardsOnlyStar(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		hs := testharness.StartBackend(t, backend)
		user := hs.RegisterUser(t, "wildcards")
		room := createRoom(t, hs, user.Token, nil)
		sendMessage(t, hs, user.Token, room, "hello")

		messageTypes := func(filter map[string]any) (fromMessages, fromSync []string) {
			t.Helper()
			msgs := hs.Do(t, "GET", roomPath(room, "/messages?dir=f&limit=100&filter="+inlineFilter(t, filter)), user.Token, nil)
			if msgs.Status != 200 {
				t.Fatalf("messages with %v: %s", filter, msgs)
			}
			list, _ := msgs.JSON["chunk"].([]any)
			for _, e := range list {
				fromMessages = append(fromMessages, e.(map[string]any)["type"].(string))
			}
			timeline := map[string]any{"limit": 100}
			for k, v := range filter {
				timeline[k] = v
			}
			s, _ := doSync(t, hs, user.Token, "filter="+inlineFilter(t, map[string]any{"room": map[string]any{"timeline": timeline}}))
			for _, e := range s.Rooms.Join[room].Timeline.Events {
				fromSync = append(fromSync, e.Type)
			}
			return fromMessages, fromSync
		}

		for _, types := range [][]string{
			{"%"}, {"m.room._essage"}, {"M.ROOM.MESSAGE"},
			{"%*"}, {"m.room._essage*"}, {"M.ROOM.*"}, {"m_room*"}, {"m.room.messag?"}, {"m.room.[m]essage"},
		} {
			m, s := messageTypes(map[string]any{"types": types})
			if len(m) != 0 || len(s) != 0 {
				t.Errorf("types %q matched: messages %v, sync %v", types, m, s)
			}
		}
		for _, types := range [][]string{{"m.room.*"}, {"m.room.mess*"}, {"*.message"}, {"m.*.message"}, {"*"}} {
			m, s := messageTypes(map[string]any{"types": types})
			if !slices.Contains(m, "m.room.message") || !slices.Contains(s, "m.room.message") {
				t.Errorf("types %q did not match m.room.message: messages %v, sync %v", types, m, s)
			}
		}
		// not_types takes the same patterns: "%*" excludes nothing here,
		// "m.room.*" everything.
		if m, s := messageTypes(map[string]any{"not_types": []string{"%*", "M.ROOM.*", "m.room._essage"}}); !slices.Contains(m, "m.room.message") || !slices.Contains(s, "m.room.message") {
			t.Errorf("not_types excluded m.room.message: messages %v, sync %v", m, s)
		}
		if m, s := messageTypes(map[string]any{"not_types": []string{"m.room.*"}}); len(m) != 0 || len(s) != 0 {
			t.Errorf("not_types m.room.* left: messages %v, sync %v", m, s)
		}
	})
}

// A new filter whose room or sender lists hold what is not a room or user
// ID is refused (400 M_INVALID_PARAM), as Complement's invalid-filter
// cases expect a 4xx; lists of real IDs are taken.
func TestFilterRefusesMalformedIDs(t *testing.T) {
	hs := testharness.StartBackend(t, "sqlite")
	user := hs.RegisterUser(t, "filterids")
	filterPath := cs + "/user/" + testharness.PathEscape(user.UserID) + "/filter"
	for name, filter := range map[string]map[string]any{
		"room.timeline.rooms":       {"room": map[string]any{"timeline": map[string]any{"rooms": []string{"not_a_room_id"}}}},
		"room.timeline.senders":     {"room": map[string]any{"timeline": map[string]any{"senders": []string{"not_a_sender_id"}}}},
		"room.not_rooms":            {"room": map[string]any{"not_rooms": []string{"#alias:localhost"}}},
		"room.state.not_senders":    {"room": map[string]any{"state": map[string]any{"not_senders": []string{"bob"}}}},
		"presence.senders":          {"presence": map[string]any{"senders": []string{""}}},
		"account_data.not_senders":  {"account_data": map[string]any{"not_senders": []string{"!room:localhost"}}},
		"room.ephemeral.not_rooms":  {"room": map[string]any{"ephemeral": map[string]any{"not_rooms": []string{"@user:localhost"}}}},
		"room.account_data.senders": {"room": map[string]any{"account_data": map[string]any{"senders": []string{"x"}}}},
	} {
		if r := hs.Do(t, "POST", filterPath, user.Token, filter); r.Status != 400 || r.Errcode() != "M_INVALID_PARAM" {
			t.Errorf("%s: %s, want 400 M_INVALID_PARAM", name, r)
		}
	}
	ok := map[string]any{"room": map[string]any{"rooms": []string{"!abc:localhost"},
		"timeline": map[string]any{"senders": []string{user.UserID}, "not_rooms": []string{"!def:localhost"}}}}
	if r := hs.Do(t, "POST", filterPath, user.Token, ok); r.Status != 200 {
		t.Errorf("a filter of real IDs: %s", r)
	}
}
