package integration

import (
	"testing"

	"foyer/internal/testharness"
)

func udSearch(t *testing.T, hs *testharness.Homeserver, token string, body any) *testharness.Response {
	t.Helper()
	return hs.Do(t, "POST", cs+"/user_directory/search", token, body)
}

// udFound returns the user IDs a search finds, failing on an error.
func udFound(t *testing.T, hs *testharness.Homeserver, token, term string) map[string]map[string]any {
	t.Helper()
	r := udSearch(t, hs, token, map[string]any{"search_term": term})
	expect(t, r, 200, "")
	if _, ok := r.JSON["limited"].(bool); !ok {
		t.Fatalf("no limited flag: %s", r)
	}
	list, ok := r.JSON["results"].([]any)
	if !ok {
		t.Fatalf("no results list: %s", r)
	}
	out := map[string]map[string]any{}
	for _, e := range list {
		m := e.(map[string]any)
		out[m["user_id"].(string)] = m
	}
	return out
}

func udWant(t *testing.T, hs *testharness.Homeserver, token, term, userID string, want bool) {
	t.Helper()
	if _, got := udFound(t, hs, token, term)[userID]; got != want {
		t.Fatalf("search %q: found %s = %v, want %v", term, userID, got, want)
	}
}

func udSetName(t *testing.T, hs *testharness.Homeserver, a testharness.Account, name string) {
	t.Helper()
	expect(t, hs.Do(t, "PUT", cs+"/profile/"+testharness.PathEscape(a.UserID)+"/displayname", a.Token, map[string]any{"displayname": name}), 200, "")
}

// G-35, G-49, users.yaml: the directory covers users who share a room
// with the searcher and users joined to public or world_readable rooms,
// and follows joins, leaves, join rules, history visibility and profile
// changes at once.
func TestUserDirectoryVisibility_G35_G49(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		hs := testharness.StartBackend(t, backend)
		alice := hs.RegisterUser(t, "alice")
		bob := hs.RegisterUser(t, "bob")
		carol := hs.RegisterUser(t, "carol")
		dave := hs.RegisterUser(t, "dave")
		udSetName(t, hs, bob, "Bob Builder")
		udSetName(t, hs, carol, "Carol Singer")

		// Bob shares a private room with alice: each finds the other, but
		// not themselves through it.
		shared := createRoom(t, hs, alice.Token, map[string]any{"preset": "private_chat", "invite": []string{bob.UserID}})
		mustJoin(t, hs, bob.Token, shared)
		udWant(t, hs, alice.Token, "builder", bob.UserID, true)
		udWant(t, hs, bob.Token, "alice", alice.UserID, true)
		udWant(t, hs, bob.Token, "builder", bob.UserID, false)
		// Carol, in a private room with dave only, is hidden from alice.
		private := createRoom(t, hs, carol.Token, map[string]any{"preset": "private_chat", "invite": []string{dave.UserID}})
		mustJoin(t, hs, dave.Token, private)
		udWant(t, hs, alice.Token, "carol", carol.UserID, false)

		// The join rule turns public: everyone finds carol and dave, carol
		// herself included; back to invite, they are hidden again.
		expect(t, putState(t, hs, carol.Token, private, "m.room.join_rules", "", map[string]any{"join_rule": "public"}), 200, "")
		udWant(t, hs, alice.Token, "carol", carol.UserID, true)
		udWant(t, hs, alice.Token, "dave", dave.UserID, true)
		udWant(t, hs, carol.Token, "singer", carol.UserID, true)
		expect(t, putState(t, hs, carol.Token, private, "m.room.join_rules", "", map[string]any{"join_rule": "invite"}), 200, "")
		udWant(t, hs, alice.Token, "carol", carol.UserID, false)

		// world_readable history does the same, whatever the join rule.
		expect(t, putState(t, hs, carol.Token, private, "m.room.history_visibility", "", map[string]any{"history_visibility": "world_readable"}), 200, "")
		udWant(t, hs, alice.Token, "carol", carol.UserID, true)
		expect(t, putState(t, hs, carol.Token, private, "m.room.history_visibility", "", map[string]any{"history_visibility": "shared"}), 200, "")
		udWant(t, hs, alice.Token, "carol", carol.UserID, false)

		// Joining a public room shows a user; leaving hides them again.
		lobby := createRoom(t, hs, alice.Token, map[string]any{"preset": "public_chat"})
		mustJoin(t, hs, carol.Token, lobby)
		udWant(t, hs, dave.Token, "singer", carol.UserID, true)
		expect(t, hs.Do(t, "POST", roomPath(lobby, "/leave"), carol.Token, map[string]any{}), 200, "")
		udWant(t, hs, alice.Token, "singer", carol.UserID, false)
		// An invite is not a shared room.
		invited := createRoom(t, hs, alice.Token, map[string]any{"preset": "private_chat", "invite": []string{carol.UserID}})
		_ = invited
		udWant(t, hs, alice.Token, "singer", carol.UserID, false)

		// A new display name is found at once, the old one no longer.
		udSetName(t, hs, bob, "Robert")
		udWant(t, hs, alice.Token, "robert", bob.UserID, true)
		udWant(t, hs, alice.Token, "builder", bob.UserID, false)
		// The user ID matches too, case-insensitively.
		udWant(t, hs, alice.Token, "BOB", bob.UserID, true)
		udWant(t, hs, alice.Token, "@bob:localhost", bob.UserID, true)

		// Deactivated users are gone.
		pdDeactivate(t, hs, bob)
		udWant(t, hs, alice.Token, "robert", bob.UserID, false)
	})
}

// The shape of answers, ranking, limits, guests and bad requests.
func TestUserDirectorySearchRequests(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		hs := testharness.StartBackend(t, backend)
		alice := hs.RegisterUser(t, "alice")
		lobby := createRoom(t, hs, alice.Token, map[string]any{"preset": "public_chat",
			"initial_state": []map[string]any{{"type": "m.room.guest_access", "content": map[string]any{"guest_access": "can_join"}}}})
		var sams []testharness.Account
		for _, name := range []string{"sam", "samantha", "samuel", "isam"} {
			a := hs.RegisterUser(t, name)
			mustJoin(t, hs, a.Token, lobby)
			sams = append(sams, a)
		}
		expect(t, hs.Do(t, "PUT", cs+"/profile/"+testharness.PathEscape(sams[1].UserID)+"/avatar_url", sams[1].Token, map[string]any{"avatar_url": "mxc://localhost/sam"}), 200, "")
		g := hs.RegisterGuest(t)
		mustJoin(t, hs, g.Token, lobby)
		udSetName(t, hs, g, "Sam the guest")

		r := udSearch(t, hs, alice.Token, map[string]any{"search_term": "Sam"})
		expect(t, r, 200, "")
		results := r.JSON["results"].([]any)
		if len(results) != 5 || r.JSON["limited"] != false {
			t.Fatalf("search: %s", r)
		}
		// The exact match first; a mid-word match last.
		if first := results[0].(map[string]any); first["user_id"] != sams[0].UserID || first["display_name"] != "sam" {
			t.Fatalf("ranking: %s", r)
		}
		if last := results[4].(map[string]any); last["user_id"] != sams[3].UserID {
			t.Fatalf("ranking: %s", r)
		}
		found := udFound(t, hs, alice.Token, "samantha")
		if e := found[sams[1].UserID]; e == nil || e["avatar_url"] != "mxc://localhost/sam" || e["display_name"] != "samantha" {
			t.Fatalf("entry: %v", found)
		}
		if e := udFound(t, hs, alice.Token, "samuel")[sams[2].UserID]; e == nil {
			t.Fatal("samuel not found")
		} else if _, has := e["avatar_url"]; has {
			t.Fatalf("unset avatar_url present: %v", e)
		}
		// Guests in public rooms are users like others; words may match
		// either field, in any order.
		udWant(t, hs, alice.Token, "guest sam", g.UserID, true)

		r = udSearch(t, hs, alice.Token, map[string]any{"search_term": "sam", "limit": 2})
		expect(t, r, 200, "")
		if len(r.JSON["results"].([]any)) != 2 || r.JSON["limited"] != true {
			t.Fatalf("limit 2: %s", r)
		}
		r = udSearch(t, hs, alice.Token, map[string]any{"search_term": "   "})
		if r.Status != 200 || len(r.JSON["results"].([]any)) != 0 || r.JSON["limited"] != false {
			t.Fatalf("blank term: %s", r)
		}

		expect(t, udSearch(t, hs, g.Token, map[string]any{"search_term": "sam"}), 403, "M_GUEST_ACCESS_FORBIDDEN")
		expect(t, udSearch(t, hs, "", map[string]any{"search_term": "sam"}), 401, "M_MISSING_TOKEN")
		expect(t, udSearch(t, hs, alice.Token, map[string]any{}), 400, "M_MISSING_PARAM")
		expect(t, udSearch(t, hs, alice.Token, map[string]any{"search_term": 5}), 400, "M_BAD_JSON")
		expect(t, udSearch(t, hs, alice.Token, map[string]any{"search_term": "sam", "limit": "ten"}), 400, "M_BAD_JSON")
		expect(t, udSearch(t, hs, alice.Token, map[string]any{"search_term": "sam", "limit": -1}), 400, "M_INVALID_PARAM")
		expect(t, udSearch(t, hs, alice.Token, "not json"), 400, "M_NOT_JSON")
	})
}

// Users of other servers are in the directory while they share a room
// with the searcher, under the name their member event gives; once the
// searcher's server has left the room they are gone. Both databases.
func TestUserDirectoryRemoteUsers_G49(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		servers := testharness.StartFederation(t, backend, 2, nil)
		a, b := servers[0], servers[1]
		alice := a.RegisterUser(t, "alice")
		bob := b.RegisterUser(t, "bob")
		udSetName(t, a, alice, "Alice Faraway")
		room := createRoom(t, a, alice.Token, map[string]any{"preset": "private_chat", "invite": []string{bob.UserID}})
		expect(t, b.Do(t, "POST", cs+"/join/"+testharness.PathEscape(room), bob.Token, map[string]any{}), 200, "")
		found := udFound(t, b, bob.Token, "faraway")
		if u, ok := found[alice.UserID]; !ok || u["display_name"] != "Alice Faraway" {
			t.Fatalf("alice of the other server in bob's directory: %v", found)
		}
		expect(t, b.Do(t, "POST", roomPath(room, "/leave"), bob.Token, map[string]any{}), 200, "")
		udWant(t, b, bob.Token, "faraway", alice.UserID, false)

		// Nor through a public room this server has left: its state here
		// is stale.
		public := createRoom(t, a, alice.Token, map[string]any{"preset": "public_chat"})
		expect(t, b.Do(t, "POST", cs+"/join/"+testharness.PathEscape(public)+"?server_name="+testharness.PathEscape(a.Config.ServerName), bob.Token, map[string]any{}), 200, "")
		udWant(t, b, bob.Token, "faraway", alice.UserID, true)
		expect(t, b.Do(t, "POST", roomPath(public, "/leave"), bob.Token, map[string]any{}), 200, "")
		udWant(t, b, bob.Token, "faraway", alice.UserID, false)
	})
}
