package integration

import (
	"encoding/json"
	"slices"
	"testing"

	"foyer/internal/testharness"
)

// An invite from another server to a room this server is not in is
// listed with the state that came with it, and list filters read that
// state (here: the room is a space).
func TestSlidingSyncRemoteInvite(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		hs := startNamed(t, backend, "local.test", nil)
		rs := txnRemote(t, backend, hs)
		bob := hs.RegisterUser(t, "bob")
		ri := newRemoteRoomInvite(t, rs, rs.key, "10", "@rita:remote.test", bob.UserID, nil)
		space := map[string]any{"type": "m.room.create", "state_key": "", "sender": "@rita:remote.test",
			"content": map[string]any{"creator": "@rita:remote.test", "room_version": "10", "type": "m.space"}}
		state := []any{space, map[string]any{"type": "m.room.name", "state_key": "", "sender": "@rita:remote.test", "content": map[string]any{"name": "Lake"}}}
		if r := sendInvite(t, rs, ri, "10", state); r.Status != 200 {
			t.Fatalf("invite: %s", r)
		}
		list := func(filters map[string]any) ssResp {
			return slidingSync(t, hs, bob.Token, "", 0, map[string]any{"conn_id": mustJSONString(filters), "lists": map[string]any{
				"l": map[string]any{"ranges": [][]int{{0, 9}}, "timeline_limit": 1, "required_state": [][]string{}, "filters": filters}}})
		}
		all := list(map[string]any{})
		r, ok := all.Rooms[ri.roomID]
		if !ok || !slices.Contains(stateKeys(r.InviteState), "m.room.name|") || !slices.Contains(stateKeys(r.InviteState), "m.room.member|"+bob.UserID) {
			t.Fatalf("remote invite: %+v", all.Rooms)
		}
		if got := list(map[string]any{"not_room_types": []any{"m.space"}}).listRooms("l"); slices.Contains(got, ri.roomID) {
			t.Fatalf("a space invite passed not_room_types: %v", got)
		}
		if got := list(map[string]any{"room_types": []any{"m.space"}}).listRooms("l"); !slices.Equal(got, []string{ri.roomID}) {
			t.Fatalf("room_types m.space: %v", got)
		}
	})
}

func mustJSONString(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
