package integration

import (
	"encoding/json"
	"slices"
	"testing"

	"foyer/internal/testharness"
)

// List filters: is_dm (m.direct), is_encrypted, is_invite, room_types
// and not_room_types (null: rooms without a type), spaces (a joined
// space's children) and tags / not_tags.
func TestSlidingSyncListFilters(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		hs := testharness.StartBackend(t, backend)
		alice := hs.RegisterUser(t, "alice")
		bob := hs.RegisterUser(t, "bob")
		plain := createRoom(t, hs, alice.Token, nil)
		encrypted := createRoom(t, hs, alice.Token, map[string]any{"initial_state": []any{
			map[string]any{"type": "m.room.encryption", "state_key": "", "content": map[string]any{"algorithm": "m.megolm.v1.aes-sha2"}}}})
		dm := createRoom(t, hs, alice.Token, map[string]any{"is_direct": true, "invite": []string{bob.UserID}})
		space := createRoom(t, hs, alice.Token, map[string]any{"creation_content": map[string]any{"type": "m.space"}})
		expect(t, putState(t, hs, alice.Token, space, "m.space.child", plain, map[string]any{"via": []string{"localhost"}}), 200, "")
		expect(t, putState(t, hs, alice.Token, space, "m.space.child", encrypted, map[string]any{}), 200, "") // no via: not a child
		invite := createRoom(t, hs, bob.Token, map[string]any{"invite": []string{alice.UserID}})
		dmInvite := createRoom(t, hs, bob.Token, map[string]any{"invite": []string{alice.UserID}, "is_direct": true})
		userPath := cs + "/user/" + testharness.PathEscape(alice.UserID)
		expect(t, hs.Do(t, "PUT", userPath+"/account_data/m.direct", alice.Token, map[string]any{bob.UserID: []string{dm}}), 200, "")
		expect(t, hs.Do(t, "PUT", userPath+"/rooms/"+testharness.PathEscape(encrypted)+"/tags/m.favourite", alice.Token, map[string]any{}), 200, "")
		expect(t, hs.Do(t, "PUT", userPath+"/rooms/"+testharness.PathEscape(plain)+"/tags/u.work", alice.Token, map[string]any{}), 200, "")

		cases := []struct {
			name    string
			filters map[string]any
			want    []string
		}{
			{"none", map[string]any{}, []string{plain, encrypted, dm, space, invite, dmInvite}},
			{"is_dm", map[string]any{"is_dm": true}, []string{dm, dmInvite}},
			{"not dm", map[string]any{"is_dm": false}, []string{plain, encrypted, space, invite}},
			{"is_encrypted", map[string]any{"is_encrypted": true}, []string{encrypted}},
			{"is_invite", map[string]any{"is_invite": true}, []string{invite, dmInvite}},
			{"no invites", map[string]any{"is_invite": false}, []string{plain, encrypted, dm, space}},
			{"spaces only", map[string]any{"room_types": []any{"m.space"}}, []string{space}},
			{"no spaces", map[string]any{"not_room_types": []any{"m.space"}, "is_invite": false}, []string{plain, encrypted, dm}},
			{"untyped", map[string]any{"room_types": []any{nil}, "is_invite": false}, []string{plain, encrypted, dm}},
			{"in space", map[string]any{"spaces": []string{space}}, []string{plain}},
			{"tagged", map[string]any{"tags": []string{"m.favourite", "u.work"}}, []string{plain, encrypted}},
			{"not favourite", map[string]any{"not_tags": []string{"m.favourite"}, "tags": []string{"m.favourite", "u.work"}}, []string{plain}},
		}
		for _, c := range cases {
			resp := slidingSync(t, hs, alice.Token, "", 0, map[string]any{"conn_id": c.name, "lists": map[string]any{
				"l": map[string]any{"ranges": [][]int{{0, 20}}, "timeline_limit": 0, "required_state": [][]string{}, "filters": c.filters}}})
			got := resp.listRooms("l")
			slices.Sort(got)
			want := slices.Clone(c.want)
			slices.Sort(want)
			if !slices.Equal(got, want) || resp.Lists["l"].Count != len(want) {
				t.Errorf("%s: got %v (count %d), want %v", c.name, got, resp.Lists["l"].Count, want)
			}
			if c.name == "is_dm" && (resp.Rooms[dm].IsDM == nil || resp.Rooms[dmInvite].IsDM == nil) {
				t.Errorf("is_dm not set on the DM or the DM invite: %+v", resp.Rooms)
			}
		}
	})
}

// A change of m.direct sends the rooms whose DM status changed, with
// is_dm true, or false once a room is no longer a DM.
func TestSlidingSyncDMStatusChanges(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		hs := testharness.StartBackend(t, backend)
		alice := hs.RegisterUser(t, "alice")
		bob := hs.RegisterUser(t, "bob")
		room := createRoom(t, hs, alice.Token, map[string]any{"invite": []string{bob.UserID}})
		body := map[string]any{"lists": map[string]any{"l": ssList(5, 1)}}
		first := slidingSync(t, hs, alice.Token, "", 0, body)
		if _, sent := first.Rooms[room]; !sent {
			t.Fatal("room not sent")
		}
		direct := cs + "/user/" + testharness.PathEscape(alice.UserID) + "/account_data/m.direct"
		isDM := func(pos string) (*bool, string) {
			t.Helper()
			r := slidingSyncRaw(t, hs, alice.Token, pos, 0, body)
			var raw struct {
				Pos   string `json:"pos"`
				Rooms map[string]struct {
					IsDM *bool `json:"is_dm"`
				} `json:"rooms"`
			}
			if err := json.Unmarshal(r.Raw, &raw); err != nil || r.Status != 200 {
				t.Fatalf("%s %v", r, err)
			}
			return raw.Rooms[room].IsDM, raw.Pos
		}
		expect(t, hs.Do(t, "PUT", direct, alice.Token, map[string]any{bob.UserID: []string{room}}), 200, "")
		dm, pos := isDM(first.Pos)
		if dm == nil || !*dm {
			t.Fatalf("is_dm after m.direct lists the room: %v", dm)
		}
		expect(t, hs.Do(t, "PUT", direct, alice.Token, map[string]any{}), 200, "")
		dm, _ = isDM(pos)
		if dm == nil || *dm {
			t.Fatalf("is_dm after m.direct drops the room: %v", dm)
		}
	})
}
