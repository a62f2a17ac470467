package rooms

import (
	"encoding/json"
	"fmt"

	"foyer/internal/rooms/matrixevents"
)

// membershipFromTemplate builds and signs userID's membership event from
// a make_leave or make_knock template of another server: the template
// must be that membership of userID, sent by them, in roomID, of a room
// version this server supports. The content is the template's with the
// membership and the reason (if any) set here.
func (s *Service) membershipFromTemplate(template json.RawMessage, roomVersion, roomID, userID, membership, reason string) (matrixevents.Event, error) {
	if !matrixevents.IsSupported(roomVersion) {
		return matrixevents.Event{}, fmt.Errorf("room version %q is not supported here", roomVersion)
	}
	var t struct {
		Type       string         `json:"type"`
		RoomID     string         `json:"room_id"`
		Sender     string         `json:"sender"`
		StateKey   *string        `json:"state_key"`
		Content    map[string]any `json:"content"`
		PrevEvents []string       `json:"prev_events"`
		AuthEvents []string       `json:"auth_events"`
		Depth      int64          `json:"depth"`
	}
	if err := json.Unmarshal(template, &t); err != nil {
		return matrixevents.Event{}, fmt.Errorf("the template is not an event: %w", err)
	}
	if t.Type != matrixevents.TypeMember || t.RoomID != roomID || t.Sender != userID || t.StateKey == nil || *t.StateKey != userID {
		return matrixevents.Event{}, fmt.Errorf("the template is not the %s of %s in %s", membership, userID, roomID)
	}
	if t.Content == nil {
		t.Content = map[string]any{}
	}
	t.Content["membership"] = membership
	if reason != "" {
		t.Content["reason"] = reason
	}
	return matrixevents.BuildEvent(matrixevents.ProtoEvent{
		RoomVersion: roomVersion, RoomID: roomID, Sender: userID, Type: t.Type, StateKey: t.StateKey,
		Content: t.Content, PrevEventIDs: t.PrevEvents, AuthEventIDs: t.AuthEvents, Depth: t.Depth,
		Origin: s.serverName, Timestamp: s.now(),
	}, s.key)
}

// localOutOfBandLeave is a leave that follows the remote membership m,
// built and signed here alone, for a rejection no server of the room
// could be told of: the user's own record that the invite or knock is
// dropped, never sent (Synapse does the same).
func (s *Service) localOutOfBandLeave(m RemoteMembership, reason string) (matrixevents.Event, error) {
	prev, err := matrixevents.ParseTrusted(m.RoomVersion, m.Event)
	if err != nil {
		return matrixevents.Event{}, err
	}
	content := map[string]any{"membership": "leave"}
	if reason != "" {
		content["reason"] = reason
	}
	user := m.UserID
	return matrixevents.BuildEvent(matrixevents.ProtoEvent{
		RoomVersion: m.RoomVersion, RoomID: m.RoomID, Sender: user, Type: matrixevents.TypeMember, StateKey: &user,
		Content: content, PrevEventIDs: []string{prev.EventID()}, AuthEventIDs: []string{prev.EventID()},
		Depth: prev.Depth() + 1, Origin: s.serverName, Timestamp: s.now(),
	}, s.key)
}
