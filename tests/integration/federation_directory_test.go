package integration

import (
	"net/url"
	"slices"
	"testing"

	"foyer/internal/config"
	"foyer/internal/testharness"
)

// downServerName is a server name at a loopback port nothing listens on.
func downServerName(t *testing.T) string {
	return "localhost:" + testharness.FreeLoopbackPort(t)
}

// A client asks its server for a remote user's profile, whole or one
// field: the user's server answers over federation; a user it does not
// know is 404 M_NOT_FOUND, a server that does not answer 502. Answers
// are cached briefly.
func TestFederationRemoteProfile(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		servers := testharness.StartFederation(t, backend, 2, nil)
		a, b := servers[0], servers[1]
		alice := a.RegisterUser(t, "alice")
		bob := b.RegisterUser(t, "bob")
		expect(t, b.Do(t, "PUT", pdProfile(bob.UserID, "/displayname"), bob.Token, map[string]any{"displayname": "Bob of B"}), 200, "")
		expect(t, b.Do(t, "PUT", pdProfile(bob.UserID, "/avatar_url"), bob.Token, map[string]any{"avatar_url": "mxc://b/face"}), 200, "")

		r := a.Do(t, "GET", pdProfile(bob.UserID, ""), alice.Token, nil)
		if r.Status != 200 || r.Str("displayname") != "Bob of B" || r.Str("avatar_url") != "mxc://b/face" {
			t.Fatalf("remote profile: %s", r)
		}
		if r := a.Do(t, "GET", pdProfile(bob.UserID, "/displayname"), "", nil); r.Status != 200 || r.Str("displayname") != "Bob of B" || r.JSON["avatar_url"] != nil {
			t.Fatalf("remote displayname: %s", r)
		}
		if r := a.Do(t, "GET", pdProfile(bob.UserID, "/avatar_url"), "", nil); r.Status != 200 || r.Str("avatar_url") != "mxc://b/face" {
			t.Fatalf("remote avatar_url: %s", r)
		}
		// Cached: a change on B shows on A only after the cache's minute.
		expect(t, b.Do(t, "PUT", pdProfile(bob.UserID, "/displayname"), bob.Token, map[string]any{"displayname": "Robert"}), 200, "")
		if r := a.Do(t, "GET", pdProfile(bob.UserID, "/displayname"), "", nil); r.Str("displayname") != "Bob of B" {
			t.Fatalf("remote displayname right after a change: %s, want the cached one", r)
		}

		expect(t, a.Do(t, "GET", pdProfile("@nobody:"+b.Config.ServerName, ""), alice.Token, nil), 404, "M_NOT_FOUND")
		expect(t, a.Do(t, "GET", pdProfile("@nobody:"+b.Config.ServerName, "/displayname"), "", nil), 404, "M_NOT_FOUND")
		expect(t, a.Do(t, "GET", pdProfile("@someone:"+downServerName(t), ""), alice.Token, nil), 502, "M_UNKNOWN")
	})
}

// A client lists another server's published room directory through its
// own server (GET and POST with a filter); that server answers other
// servers' signed requests as its clients' /publicRooms does. Our own
// name lists ours; a server that does not answer is 502; the remote
// server's own errors reach the client.
func TestFederationRemotePublicRooms(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		servers := testharness.StartFederation(t, backend, 2, nil)
		a, b := servers[0], servers[1]
		alice := a.RegisterUser(t, "alice")
		bob := b.RegisterUser(t, "bob")
		lounge := createRoom(t, b, bob.Token, map[string]any{"preset": "public_chat", "visibility": "public", "name": "Lounge", "topic": "sofas"})
		kitchen := createRoom(t, b, bob.Token, map[string]any{"preset": "public_chat", "visibility": "public", "name": "Kitchen"})
		createRoom(t, b, bob.Token, map[string]any{"preset": "public_chat", "name": "Unlisted"})
		mine := createRoom(t, a, alice.Token, map[string]any{"preset": "public_chat", "visibility": "public", "name": "Home"})
		bName := url.QueryEscape(b.Config.ServerName)

		r := a.Do(t, "GET", cs+"/publicRooms?server="+bName, "", nil)
		if ids := pdChunkIDs(r); r.Status != 200 || len(ids) != 2 || !slices.Contains(ids, lounge) || !slices.Contains(ids, kitchen) {
			t.Fatalf("B's directory through A: %s", r)
		}
		if n, _ := r.JSON["total_room_count_estimate"].(float64); n != 2 {
			t.Fatalf("B's directory estimate: %s", r)
		}
		first := a.Do(t, "GET", cs+"/publicRooms?limit=1&server="+bName, "", nil)
		next := first.Str("next_batch")
		second := a.Do(t, "GET", cs+"/publicRooms?limit=1&since="+url.QueryEscape(next)+"&server="+bName, "", nil)
		if p1, p2 := pdChunkIDs(first), pdChunkIDs(second); len(p1) != 1 || len(p2) != 1 || p1[0] == p2[0] || next == "" {
			t.Fatalf("paging B's directory: %s then %s", first, second)
		}
		r = a.Do(t, "POST", cs+"/publicRooms?server="+bName, alice.Token, map[string]any{"filter": map[string]any{"generic_search_term": "sofa"}})
		if ids := pdChunkIDs(r); len(ids) != 1 || ids[0] != lounge {
			t.Fatalf("B's directory searched through A: %s", r)
		}
		r = a.Do(t, "GET", cs+"/publicRooms?server="+url.QueryEscape(a.Config.ServerName), "", nil)
		if ids := pdChunkIDs(r); len(ids) != 1 || ids[0] != mine {
			t.Fatalf("our own name lists ours: %s", r)
		}
		expect(t, a.Do(t, "GET", cs+"/publicRooms?since=garbage&server="+bName, "", nil), 400, "M_INVALID_PARAM")
		expect(t, a.Do(t, "GET", cs+"/publicRooms?server="+url.QueryEscape(downServerName(t)), "", nil), 502, "M_UNKNOWN")

		// B's federation API directly, signed by A.
		aKey := a.SigningKey(t)
		signed := func(method, path string, body any) *testharness.Response {
			return b.SignedRequest(t, aKey, a.Config.ServerName, b.Config.ServerName, method, path, body)
		}
		const fed = "/_matrix/federation/v1/publicRooms"
		if r := signed("GET", fed+"?limit=1&include_all_networks=false", nil); r.Status != 200 || len(pdChunkIDs(r)) != 1 || r.Str("next_batch") == "" {
			t.Fatalf("signed GET publicRooms: %s", r)
		}
		if r := signed("POST", fed, map[string]any{"filter": map[string]any{"generic_search_term": "kitchen"}}); len(pdChunkIDs(r)) != 1 || pdChunkIDs(r)[0] != kitchen {
			t.Fatalf("signed POST publicRooms: %s", r)
		}
		if r := signed("POST", fed, map[string]any{"third_party_instance_id": "irc"}); r.Status != 200 || len(pdChunkIDs(r)) != 0 {
			t.Fatalf("a third-party network's rooms: %s", r)
		}
		expect(t, signed("GET", fed+"?limit=x", nil), 400, "M_INVALID_PARAM")
		expect(t, signed("GET", fed+"?include_all_networks=maybe", nil), 400, "M_INVALID_PARAM")
		expect(t, signed("POST", fed, map[string]any{"limit": -1}), 400, "M_INVALID_PARAM")
		expect(t, signed("POST", fed, map[string]any{"filter": 3}), 400, "M_BAD_JSON")
		expect(t, b.Do(t, "GET", fed, "", nil), 401, "M_UNAUTHORIZED")
	})
}

// A space on one server with a child on another: a client's /hierarchy
// lists the remote child and the child's own children that the other
// server says we may see, asked through the child's via; that server
// answers a signed /hierarchy with the room, its visible children and
// the inaccessible ones, and refuses rooms the asking server may not see.
func TestFederationRemoteHierarchy(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		servers := testharness.StartFederation(t, backend, 2, nil)
		a, b := servers[0], servers[1]
		alice := a.RegisterUser(t, "alice")
		bob := b.RegisterUser(t, "bob")
		bName := b.Config.ServerName
		space := createRoom(t, b, bob.Token, map[string]any{"preset": "public_chat", "name": "B space",
			"creation_content": map[string]any{"type": "m.space"}})
		open := createRoom(t, b, bob.Token, map[string]any{"preset": "public_chat", "name": "Open"})
		secret := createRoom(t, b, bob.Token, map[string]any{"preset": "private_chat", "name": "Secret"})
		inner := createRoom(t, b, bob.Token, map[string]any{"preset": "public_chat", "name": "Inner",
			"creation_content": map[string]any{"type": "m.space"}})
		deep := createRoom(t, b, bob.Token, map[string]any{"preset": "public_chat", "name": "Deep"})
		for i, kid := range []string{open, secret, inner} {
			content := map[string]any{"via": []string{bName}, "suggested": i == 0, "order": string(rune('a' + i))}
			expect(t, putState(t, b, bob.Token, space, "m.space.child", kid, content), 200, "")
		}
		expect(t, putState(t, b, bob.Token, inner, "m.space.child", deep, map[string]any{"via": []string{bName}}), 200, "")
		top := createRoom(t, a, alice.Token, map[string]any{"preset": "public_chat", "name": "A space",
			"creation_content": map[string]any{"type": "m.space"}})
		expect(t, putState(t, a, alice.Token, top, "m.space.child", space, map[string]any{"via": []string{bName}}), 200, "")

		h := a.Do(t, "GET", relRoomPath(top, "/hierarchy"), alice.Token, nil)
		expect(t, h, 200, "")
		rooms, _ := h.JSON["rooms"].([]any)
		var ids []string
		for _, r := range rooms {
			room, _ := r.(map[string]any)
			id, _ := room["room_id"].(string)
			ids = append(ids, id)
			if id == space {
				if room["name"] != "B space" || room["room_type"] != "m.space" {
					t.Errorf("remote space's summary: %v", room)
				}
				if cs, _ := room["children_state"].([]any); len(cs) != 3 {
					t.Errorf("remote space's children_state: %v", room["children_state"])
				}
			}
		}
		if want := []string{top, space, open, inner, deep}; !slices.Equal(ids, want) {
			t.Fatalf("hierarchy through a remote space: %v, want %v (the secret room left out): %s", ids, want, h)
		}
		// A remote space as the root: asked of the server its ID names.
		h = a.Do(t, "GET", relRoomPath(space, "/hierarchy"), alice.Token, nil)
		if rooms, _ := h.JSON["rooms"].([]any); h.Status != 200 || len(rooms) != 4 || jsonPath(rooms[0], "room_id") != space {
			t.Fatalf("hierarchy of a remote space: %s", h)
		}
		expect(t, a.Do(t, "GET", relRoomPath(secret, "/hierarchy"), alice.Token, nil), 403, "M_FORBIDDEN")
		// max_depth stops the walk at the remote space's children.
		h = a.Do(t, "GET", relRoomPath(top, "/hierarchy?max_depth=2"), alice.Token, nil)
		if rooms, _ := h.JSON["rooms"].([]any); len(rooms) != 4 {
			t.Fatalf("hierarchy to depth 2: %s", h)
		}

		aKey := a.SigningKey(t)
		signed := func(path string) *testharness.Response {
			return b.SignedRequest(t, aKey, a.Config.ServerName, bName, "GET", path, nil)
		}
		fed := "/_matrix/federation/v1/hierarchy/" + testharness.PathEscape(space)
		r := signed(fed)
		expect(t, r, 200, "")
		if jsonPath(r.JSON, "room", "room_id") != space || jsonPath(r.JSON, "room", "num_joined_members") != float64(1) {
			t.Fatalf("signed hierarchy's room: %s", r)
		}
		children, _ := r.JSON["children"].([]any)
		inaccessible, _ := r.JSON["inaccessible_children"].([]any)
		if len(children) != 2 || jsonPath(children[0], "room_id") != open || jsonPath(children[1], "room_id") != inner ||
			jsonPath(children[1], "children_state") != nil || len(inaccessible) != 1 || inaccessible[0] != secret {
			t.Fatalf("signed hierarchy's children: %s", r)
		}
		if cs, _ := jsonPath(r.JSON, "room", "children_state").([]any); len(cs) != 3 || jsonPath(cs[0], "origin_server_ts") == nil {
			t.Fatalf("signed hierarchy's children_state: %s", r)
		}
		r = signed(fed + "?suggested_only=true")
		if cs, _ := jsonPath(r.JSON, "room", "children_state").([]any); len(cs) != 1 || jsonPath(cs[0], "state_key") != open {
			t.Fatalf("suggested_only hierarchy: %s", r)
		}
		if inacc, _ := r.JSON["inaccessible_children"].([]any); len(inacc) != 0 {
			t.Fatalf("suggested_only hierarchy names an unsuggested child: %s", r)
		}
		expect(t, signed("/_matrix/federation/v1/hierarchy/"+testharness.PathEscape(secret)), 404, "M_NOT_FOUND")
		expect(t, signed("/_matrix/federation/v1/hierarchy/"+testharness.PathEscape("!unknown:"+bName)), 404, "M_NOT_FOUND")
		expect(t, signed(fed+"?suggested_only=maybe"), 400, "M_INVALID_PARAM")
		expect(t, b.Do(t, "GET", fed, "", nil), 401, "M_UNAUTHORIZED")
	})
}

// A server that blocks another neither asks it for profiles, directories
// or hierarchies (403 M_FORBIDDEN to the client, the child left out of a
// hierarchy) nor answers its signed requests.
func TestFederationRemoteLookupsRefused(t *testing.T) {
	var bName string
	servers := testharness.StartFederation(t, "sqlite", 2, func(i int, cfg *config.Config) {
		if i == 0 {
			bName = cfg.ServerName
			return
		}
		cfg.Federation.BlockedServers = []string{bName}
	})
	b, a := servers[0], servers[1]
	alice := a.RegisterUser(t, "alice")
	bob := b.RegisterUser(t, "bob")
	remoteRoom := createRoom(t, b, bob.Token, map[string]any{"preset": "public_chat", "visibility": "public"})
	expect(t, a.Do(t, "GET", pdProfile(bob.UserID, ""), alice.Token, nil), 403, "M_FORBIDDEN")
	expect(t, a.Do(t, "GET", cs+"/publicRooms?server="+url.QueryEscape(bName), "", nil), 403, "M_FORBIDDEN")
	expect(t, a.Do(t, "POST", cs+"/publicRooms?server="+url.QueryEscape(bName), alice.Token, map[string]any{}), 403, "M_FORBIDDEN")
	top := createRoom(t, a, alice.Token, map[string]any{"preset": "public_chat", "creation_content": map[string]any{"type": "m.space"}})
	expect(t, putState(t, a, alice.Token, top, "m.space.child", remoteRoom, map[string]any{"via": []string{bName}}), 200, "")
	h := a.Do(t, "GET", relRoomPath(top, "/hierarchy"), alice.Token, nil)
	if rooms, _ := h.JSON["rooms"].([]any); h.Status != 200 || len(rooms) != 1 {
		t.Fatalf("hierarchy with a blocked server's child: %s", h)
	}
	bKey := b.SigningKey(t)
	for _, path := range []string{"/_matrix/federation/v1/publicRooms", "/_matrix/federation/v1/hierarchy/" + testharness.PathEscape(top)} {
		expect(t, a.SignedRequest(t, bKey, bName, a.Config.ServerName, "GET", path, nil), 403, "M_FORBIDDEN")
	}
}
