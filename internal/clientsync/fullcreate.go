package clientsync

import (
	"encoding/json"

	"foyer/internal/rooms/matrixevents"
)

// In room versions whose room ID is the hash of the create event (v12,
// MSC4291), an invitee or knocker gets that create event whole in
// invite_state/knock_state rather than stripped, as Synapse gives it
// (MSC4311): with it a client can check that the room ID is its hash and
// learn who created the room, which the ID no longer says. Other events,
// and create events of older versions, stay stripped.

// fullCreateEvent is ev as a full event when it is the create event of
// such a room, else nil.
func fullCreateEvent(ev matrixevents.Event) json.RawMessage {
	if ev.Type() != matrixevents.TypeCreate || ev.StateKey() == nil || *ev.StateKey() != "" {
		return nil
	}
	if f, ok := matrixevents.Features(ev.Version()); !ok || !f.RoomIDFromCreateEvent {
		return nil
	}
	return ev.JSON()
}

// remoteFullCreateEvent is the create event another server gave with an
// invite or knock (raw), as a full event, when it is a PDU of the room of
// own (the user's membership event) whose hash is the room's ID; nil
// otherwise, and the event is then given stripped. What another server
// sends is passed on only once it is known to be the room's.
func remoteFullCreateEvent(own matrixevents.Event, raw json.RawMessage) json.RawMessage {
	if f, ok := matrixevents.Features(own.Version()); !ok || !f.RoomIDFromCreateEvent {
		return nil
	}
	ev, err := matrixevents.ParseUntrusted(own.Version(), raw)
	if err != nil || ev.RoomID() != own.RoomID() {
		return nil
	}
	return fullCreateEvent(ev)
}
