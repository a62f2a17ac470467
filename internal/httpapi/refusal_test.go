package httpapi

import (
	"testing"

	"foyer/internal/refusal"
)

// Another server's refusal reaches the client with its status and code,
// and with the room version an incompatible-version answer names.
func TestRemoteRefusalKeepsRoomVersion(t *testing.T) {
	e := fromRefusal(&refusal.Error{Kind: refusal.Remote, Msg: "no", Status: 400, Code: "M_INCOMPATIBLE_ROOM_VERSION", RoomVersion: "odd"})
	if e.Status != 400 || e.Code != "M_INCOMPATIBLE_ROOM_VERSION" || e.Extra["room_version"] != "odd" {
		t.Fatalf("relayed as %+v", e)
	}
	if e := fromRefusal(&refusal.Error{Kind: refusal.Remote, Msg: "no", Status: 403, Code: "M_FORBIDDEN"}); e.Extra != nil {
		t.Fatalf("a refusal without a room version got extras: %+v", e)
	}
}
