package rooms

import (
	"errors"
	"slices"
	"testing"

	"foyer/internal/federationclient"
	"foyer/internal/refusal"
	"foyer/internal/rooms/matrixevents"
)

// The servers asked to join a remote room come in the documented order,
// without this server, repeats or names that are not server names.
func TestJoinServersOrder(t *testing.T) {
	s := &Service{serverName: "here.test"}
	member := func(userID string) StoredEvent {
		ev, err := matrixevents.BuildEvent(matrixevents.ProtoEvent{RoomVersion: "10", RoomID: "!r:room.test", Sender: userID,
			Type: matrixevents.TypeMember, StateKey: &userID, Content: map[string]any{"membership": "join"}, Origin: "x", Depth: 2}, testSigningKey(t))
		if err != nil {
			t.Fatal(err)
		}
		return StoredEvent{Event: ev}
	}
	known := map[matrixevents.StateTuple]StoredEvent{
		{Type: matrixevents.TypeMember, StateKey: "@a:member.test"}: member("@a:member.test"),
		{Type: matrixevents.TypeMember, StateKey: "@b:here.test"}:   member("@b:here.test"),
	}
	got := s.joinServers("!r:room.test", JoinHints{Via: []string{"via.test", "here.test", "not a name", "via.test"}, Invite: []string{"inviter.test", "via.test"}, Alias: []string{"alias.test", "room.test"}}, known)
	want := []string{"via.test", "inviter.test", "room.test", "alias.test", "member.test"}
	if !slices.Equal(got, want) {
		t.Errorf("joinServers = %v, want %v", got, want)
	}
	if got := s.joinServers("!r:here.test", JoinHints{}, nil); len(got) != 0 {
		t.Errorf("a room of this server with nothing else known: %v", got)
	}
}

// A resident server's 4xx is the room's answer, relayed with its status
// and code, except those after which the next server is asked.
func TestRelayRemote(t *testing.T) {
	for _, c := range []struct {
		status  int
		code    string
		relayed bool
	}{
		{403, "M_FORBIDDEN", true},
		{400, "M_INCOMPATIBLE_ROOM_VERSION", true},
		{404, "M_NOT_FOUND", false},
		{400, "M_UNABLE_TO_AUTHORISE_JOIN", false},
		{401, "M_UNAUTHORIZED", false},
		{429, "M_LIMIT_EXCEEDED", false},
		{502, "M_UNKNOWN", false},
		{400, "", false},
	} {
		err := relayRemote(&federationclient.Error{Destination: "x.test", Status: c.status, Code: c.code, Message: "no"})
		var re *refusal.Error
		if got := errors.As(err, &re); got != c.relayed {
			t.Errorf("%d %s: relayed %v, want %v", c.status, c.code, got, c.relayed)
			continue
		}
		if c.relayed && (re.Kind != refusal.Remote || re.Status != c.status || re.Code != c.code) {
			t.Errorf("%d %s relayed as %+v", c.status, c.code, re)
		}
	}
	// The room version an incompatible-version answer names reaches the
	// client with it.
	err := relayRemote(&federationclient.Error{Destination: "x.test", Status: 400, Code: "M_INCOMPATIBLE_ROOM_VERSION", RoomVersion: "odd-version"})
	if re, ok := err.(*refusal.Error); !ok || re.RoomVersion != "odd-version" {
		t.Errorf("the remote's room_version is lost: %+v", err)
	}
}

func testSigningKey(t *testing.T) *matrixevents.SigningKey {
	t.Helper()
	key, err := matrixevents.NewSigningKey()
	if err != nil {
		t.Fatal(err)
	}
	return key
}
